/** Helpers for the archiver's tests: temporary folders, the restic binary and file trees on disk. */
import { spawnSync } from 'node:child_process';
import { createReadStream, mkdtempSync } from 'node:fs';
import { lstat, readdir, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeMeta, SnapshotWriter } from '../snapshot/index.ts';

/** Password of the test repositories; a test value, not a secret. */
export const TEST_PASSWORD = 'archiver test password';

const folders: string[] = [];

/** Creates a temporary folder that `removeTempFolders` deletes. */
export function tempFolder(prefix = 'bgapp-archiver-'): string {
  const folder = mkdtempSync(join(tmpdir(), prefix));
  folders.push(folder);
  return folder;
}

/** Deletes every folder made by `tempFolder`. */
export async function removeTempFolders(): Promise<void> {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
}

/** Runs `restic -r repo args` and returns its output; throws with the output when it fails. */
export function resticOk(repo: string, args: string[], cwd?: string): string {
  const result = spawnSync('restic', ['-r', repo, '--no-cache', ...args], {
    encoding: 'utf8',
    cwd,
    env: { ...process.env, RESTIC_PASSWORD: TEST_PASSWORD },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) {
    throw new Error(`restic ${args.join(' ')} exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

/** Returns a node's metadata from lstat, as a files source would. */
export async function metaOf(path: string): Promise<NodeMeta> {
  const stat = await lstat(path, { bigint: true });
  return {
    mode: Number(stat.mode & 0o7777n),
    mtime: new Date(Number(stat.mtimeMs)),
    atime: new Date(Number(stat.atimeMs)),
    ctime: new Date(Number(stat.ctimeMs)),
    uid: Number(stat.uid),
    gid: Number(stat.gid),
    inode: stat.ino,
    deviceId: stat.dev,
    links: Number(stat.nlink),
  };
}

/** Adds every node below the folder `root` to `writer`, files concurrently. */
export async function addFolder(writer: SnapshotWriter, root: string, prefix: string[] = []) {
  const saving: Promise<unknown>[] = [];
  const visit = async (folder: string, path: string[]): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const full = join(folder, entry.name);
      const childPath = [...path, entry.name];
      const meta = await metaOf(full);
      if (entry.isDirectory()) {
        writer.addDir(childPath, meta);
        await visit(full, childPath);
      } else if (entry.isSymbolicLink()) {
        writer.addSymlink(childPath, meta, await readlink(full));
      } else {
        saving.push(writer.addFile(childPath, meta, createReadStream(full)));
      }
    }
  };
  await visit(root, prefix);
  await Promise.all(saving);
}
