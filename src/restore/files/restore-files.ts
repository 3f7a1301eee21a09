/**
 * Restore of a `files` source's folder from a snapshot into a target folder,
 * checked against the SHA-256 sums in the manifest.
 */
import { realpath } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BackupError } from '../../errors/index.ts';
import type { FilesManifest } from '../../sources/types.ts';
import { treeSha256 } from '../checks.ts';
import type { RestoreContext, RestoreReport } from '../types.ts';
import { planRestore, unsafeNameReason, type PlannedNode } from './plan.ts';
import { prepareTarget } from './target.ts';
import { writeFiles } from './write-files.ts';
import { finishFolder, makeFolder, writeSymlink, type WorkerFileWriter, type WriteOptions } from './write-nodes.ts';

/** Options of a `files` restore. */
export interface FilesRestoreOptions {
  /** Folder that receives the source folder's contents; created when missing. */
  targetDir: string;
  /** Writes files off the main thread, such as the RepositorySnapshotReader that `ctx.reader` scopes. */
  workerWriter?: WorkerFileWriter;
}

/**
 * Restores the snapshot folder of a `files` source into `targetDir`: folders,
 * files, symbolic links, modes including setuid, setgid and sticky, mtimes,
 * and uid and gid when running as root. The target folder itself gets the
 * source folder's mode and times.
 *
 * A target that is not empty is rejected with ERR_RESTORE_TARGET_NOT_EMPTY
 * unless `ctx.force` is set. Then entries with the same names are replaced and
 * entries that the snapshot does not contain are left in place. Every name is
 * checked before anything is written, and unsafe ones raise
 * ERR_RESTORE_UNSAFE_PATH. Devices, FIFOs and sockets are not restored.
 *
 * NOTE: hard links come back as separate files, because the snapshot trees
 * read here carry no link count or inode to group them by.
 */
export async function restoreFiles(
  ctx: RestoreContext<FilesManifest>,
  options: FilesRestoreOptions,
): Promise<RestoreReport> {
  const requested = resolve(options.targetDir);
  // A target that is a symbolic link to a folder is restored into that folder;
  // every write below checks that it stays inside the resolved path.
  const targetDir = await realpath(requested).catch(() => requested);
  const plan = await planRestore(ctx.reader);
  await prepareTarget(targetDir, ctx.force);

  const setOwner = process.getuid?.() === 0;
  const writeOptions: WriteOptions = { force: ctx.force, setOwner, workerWriter: options.workerWriter };
  const notes: string[] = [];
  if (targetDir !== requested) notes.push(`${requested} is a symbolic link; restored into ${targetDir}`);
  if (!setOwner) notes.push('file owners were not restored because the restore did not run as root');
  if (ctx.force) notes.push('entries already in the target with the same names were replaced, and others were left in place');

  ctx.logger.info({ source: ctx.manifest.name, targetDir, nodes: plan.length }, 'restoring files');
  const unreadable: string[] = [];
  const restored = await writePlan(ctx, plan, targetDir, writeOptions, notes, unreadable);
  const root = await ctx.reader.lookup([]);
  if (root?.type === 'dir') await finishFolder(targetDir, root, writeOptions);

  const differences = [...unreadable, ...compareWithManifest(ctx.manifest, restored, oneBlobHashes(plan))];
  return {
    source: ctx.manifest.name,
    type: 'files',
    target: targetDir,
    verified: differences.length === 0,
    differences,
    notes,
  };
}

// Folders come first so every file has a real parent, symbolic links after the
// files so no write goes through one, and folder metadata last, deepest first,
// because writing into a folder changes its mtime.
async function writePlan(
  ctx: RestoreContext<FilesManifest>,
  plan: readonly PlannedNode[],
  targetDir: string,
  options: WriteOptions,
  notes: string[],
  unreadable: string[],
): Promise<Map<string, string>> {
  const at = (path: readonly string[]) => join(targetDir, ...path);
  const folders = plan.filter(({ node }) => node.type === 'dir');
  for (const { path } of folders) {
    throwIfAborted(ctx.signal, targetDir);
    await makeFolder(at(path), options);
  }

  const files = plan.filter((entry) => entry.node.type === 'file');
  const written = await writeFiles(ctx, files, at, options, () => throwIfAborted(ctx.signal, targetDir));
  unreadable.push(...written.unreadable);
  for (const { path, node } of plan.filter((entry) => entry.node.type === 'symlink')) {
    await writeSymlink(at(path), node, options);
  }
  const special = plan.filter(({ node }) => !['dir', 'file', 'symlink'].includes(node.type));
  if (special.length > 0) {
    const names = special.map(({ path }) => path.join('/')).join(', ');
    notes.push(`${special.length} devices, FIFOs or sockets were not restored: ${names}`);
  }

  for (const { path, node } of folders.toReversed()) await finishFolder(at(path), node, options);
  return written.sha256;
}

/** Returns the SHA-256 of every file of one blob or none by path: that blob's id, or the empty hash. */
function oneBlobHashes(plan: readonly PlannedNode[]): Map<string, string> {
  const hashes = new Map<string, string>();
  for (const { path, node } of plan) {
    const sha256 = node.type === 'file' ? treeSha256(node) : undefined;
    if (sha256 !== undefined) hashes.set(path.join('/'), sha256);
  }
  return hashes;
}

/**
 * Lists each way the restored files differ from the manifest's SHA-256 sums.
 * Files a manifest leaves out because they are one blob (`sha256Omits`) are
 * compared with their blob's id, which the snapshot's tree holds.
 */
function compareWithManifest(
  manifest: FilesManifest,
  restored: ReadonlyMap<string, string>,
  oneBlob: ReadonlyMap<string, string>,
): string[] {
  const differences: string[] = [];
  for (const [relative, expected] of Object.entries(manifest.sha256)) {
    const unsafe = relative.split('/').map(unsafeNameReason).find((reason) => reason !== undefined);
    const actual = restored.get(relative);
    if (unsafe !== undefined) differences.push(`manifest path ${JSON.stringify(relative)} is unsafe because ${unsafe}`);
    else if (actual === undefined) differences.push(`${relative} is in the manifest but was not restored`);
    else if (actual !== expected) differences.push(`${relative} has SHA-256 ${actual} but the manifest has ${expected}`);
  }
  for (const [relative, actual] of restored) {
    if (Object.hasOwn(manifest.sha256, relative)) continue;
    const expected = manifest.sha256Omits === 'one-blob' ? oneBlob.get(relative) : undefined;
    if (expected === undefined) differences.push(`${relative} was restored but is not in the manifest`);
    else if (actual !== expected) differences.push(`${relative} has SHA-256 ${actual} but its only blob is ${expected}`);
  }
  if (restored.size !== manifest.files) {
    differences.push(`${restored.size} files were restored but the manifest counts ${manifest.files}`);
  }
  return differences;
}

function throwIfAborted(signal: AbortSignal, targetDir: string): void {
  if (signal.aborted) {
    throw new BackupError('ERR_ABORTED', `restore into ${targetDir} aborted: the folder contains a partial restore`, { cause: signal.reason });
  }
}
