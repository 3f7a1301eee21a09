/** Helpers for the repository tests: temporary folders and the real restic binary. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Repository } from './repository.ts';

/** Password of the repositories the tests create; a test value, not a secret. */
export const TEST_PASSWORD = 'correct horse battery staple';

/**
 * Repository options that give new key files the minimum scrypt cost
 * (N=2^15, r=8, p=1, about 0.1 s) in place of the calibrated 0.5 s, to keep
 * tests fast.
 */
export const MIN_KDF_TARGET = { kdfTargetMillis: 0 } as const;

/** Creates a temporary folder and returns its path. */
export function tempFolder(prefix = 'bgapp-repo-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Result of a restic command. */
export interface ResticResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `restic -r repo ...args` with the test password and returns its exit status and output. */
export function restic(repo: string, args: string[], password = TEST_PASSWORD): ResticResult {
  const result = spawnSync('restic', ['-r', repo, '--no-cache', ...args], {
    encoding: 'utf8',
    env: { ...process.env, RESTIC_PASSWORD: password },
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs restic and throws with its output when it fails. */
export function resticOk(repo: string, args: string[], password = TEST_PASSWORD): string {
  const result = restic(repo, args, password);
  if (result.status !== 0) {
    throw new Error(
      `restic ${args.join(' ')} exited ${result.status}:\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result.stdout;
}


/** Builds a restic tree JSON with one regular file whose content is `blobIds`. */
export function fileTree(name: string, size: number, blobIds: string[]): Buffer {
  const time = '2024-05-01T12:00:00Z';
  const node = {
    name,
    type: 'file',
    mode: 0o644,
    mtime: time,
    atime: time,
    ctime: time,
    uid: 0,
    gid: 0,
    user: 'root',
    group: 'root',
    inode: 1,
    device_id: 1,
    size,
    links: 1,
    content: blobIds,
  };
  return Buffer.from(JSON.stringify({ nodes: [node] }) + '\n');
}

/** Stores `files` (name to bytes) as one snapshot with a flat tree, and returns its id. */
export async function writeFlatSnapshot(
  repo: Repository,
  files: Record<string, Buffer>,
): Promise<string> {
  const nodes = [];
  for (const [name, data] of Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const { id } = await repo.saveBlob('data', data);
    nodes.push(JSON.parse(fileTree(name, data.length, [id]).toString()).nodes[0]);
  }
  const tree = await repo.saveBlob('tree', Buffer.from(JSON.stringify({ nodes }) + '\n'));
  await repo.flush();
  return repo.saveSnapshot({
    time: new Date().toISOString(),
    tree: tree.id,
    paths: ['/bgapp'],
    hostname: 'test-host',
    username: 'root',
    uid: 0,
    gid: 0,
    tags: ['test'],
    program_version: 'bgapp-backup test',
    summary: { files: Object.keys(files).length },
  });
}
