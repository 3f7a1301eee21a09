/**
 * Repository check: structure (packs, index, snapshots and their trees) and,
 * with readData, every blob's content. Problems are collected, not thrown.
 */
import { createHash } from 'node:crypto';
import type { Backend, FileType } from '../backend/index.ts';
import { open, openBlob, type MasterKey } from '../crypto/index.ts';
import { errorMessage } from '../errors/index.ts';
import type { ProgressListener } from '../log/index.ts';
import { isId } from './ids.ts';
import { loadMasterIndex, type MasterIndex } from './master-index.ts';
import { decodeHeader, headerStart, type PackedBlob } from './pack.ts';
import { readAllSnapshots } from './snapshots.ts';
import type { BlobOpener, BlobType, CheckProblem, CheckReport, Id } from './types.ts';

/** Repository access that check uses. */
export interface CheckContext {
  backend: Backend;
  key: MasterKey;
  loadBlob(type: BlobType, id: Id): Promise<Buffer>;
  /**
   * Opens and verifies one blob elsewhere, such as on a worker pool (see
   * `Repository.setBlobOpener`). Without it, blobs are opened on this thread.
   */
  openBlob?: BlobOpener;
}

/** Packs read and verified at once with readData, so reads overlap with verification. */
const PACKS_IN_FLIGHT = 3;

/** Returns a pack's path relative to the repository root. */
export function packPath(id: string): string {
  return `data/${id.slice(0, 2)}/${id}`;
}

/** Runs every check and returns the problems found. */
export async function checkRepository(
  ctx: CheckContext,
  readData: boolean,
  onEvent: ProgressListener,
): Promise<CheckReport> {
  const report: CheckReport = { errors: [], warnings: [] };
  onEvent({ type: 'phase', phase: 'check file names' });
  await checkNames(ctx.backend, report);

  onEvent({ type: 'phase', phase: 'load index' });
  let index: MasterIndex;
  try {
    index = await loadMasterIndex(ctx.backend, ctx.key);
  } catch (err) {
    report.errors.push({ file: 'index', message: errorMessage(err) });
    return report;
  }

  onEvent({ type: 'phase', phase: 'check packs' });
  await checkPacks(ctx, index, readData, report);

  onEvent({ type: 'phase', phase: 'check snapshots' });
  await checkSnapshots(ctx, index, report);
  return report;
}

const CONFLICT_HINT =
  'its name is not an id, so it looks like a copy made by a sync client when two machines ' +
  'wrote the repository at once; restic ignores it. Check that only one machine runs backups ' +
  'into this folder, then delete the copy';

async function checkNames(backend: Backend, report: CheckReport): Promise<void> {
  const types: FileType[] = ['data', 'index', 'keys', 'locks', 'snapshots'];
  for (const type of types) {
    for (const { name } of await backend.list(type)) {
      if (isId(name)) continue;
      const file = type === 'data' ? `data/${name.slice(0, 2)}/${name}` : `${type}/${name}`;
      report.warnings.push({ file, message: `unexpected file ${file}: ${CONFLICT_HINT}` });
    }
  }
  for (const leftover of await backend.listLeftovers()) {
    report.warnings.push({
      file: leftover.path,
      message: `leftover temporary file ${leftover.path} from an interrupted run; it is removed by the next backup`,
    });
  }
}

async function checkPacks(
  ctx: CheckContext,
  index: MasterIndex,
  readData: boolean,
  report: CheckReport,
): Promise<void> {
  const stored = new Map<string, number>();
  for (const { name, size } of await ctx.backend.list('data'))
    if (isId(name)) stored.set(name, size);

  // Each job returns its pack's problem and warning, which are added in job
  // order, so the report reads the same however the reads interleave.
  const jobs: (() => Promise<PackOutcome>)[] = [];
  for (const { packId, blobs } of index.packs()) {
    const size = stored.get(packId);
    stored.delete(packId);
    jobs.push(async () => ({ error: await checkPack(ctx, packId, size, blobs, readData) }));
  }
  for (const [packId, size] of stored) {
    jobs.push(async () => {
      const error = await checkPack(ctx, packId, size, undefined, readData);
      if (error) return { error };
      const file = packPath(packId);
      const message = `pack ${file} is not in any index (left by an interrupted run); it is unused and takes space`;
      return { warning: { file, message } };
    });
  }
  for (const { error, warning } of await runBounded(jobs, readData ? PACKS_IN_FLIGHT : 1)) {
    if (error) report.errors.push(error);
    if (warning) report.warnings.push(warning);
  }
}

interface PackOutcome {
  error?: CheckProblem;
  warning?: CheckProblem;
}

/** Runs `jobs` with at most `limit` running at once and returns their results in job order. */
async function runBounded<T>(jobs: readonly (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, lane));
  return results;
}

/** Checks one pack's size and header against the index, and with readData its blobs. */
async function checkPack(
  ctx: CheckContext,
  packId: Id,
  size: number | undefined,
  indexed: PackedBlob[] | undefined,
  readData: boolean,
): Promise<CheckProblem | undefined> {
  const file = packPath(packId);
  const fail = (detail: string) => ({ file, message: `pack ${file}: ${detail}` });
  if (size === undefined) return fail('missing, but the index lists it');
  try {
    const header = await readPackHeader(ctx, packId, size);
    const headerBytes = size - header.start;
    const expected = header.blobs.reduce((sum, b) => sum + b.length, 0) + headerBytes;
    if (expected !== size) return fail(`size ${size} does not match ${expected} from its header`);
    if (indexed && !sameBlobs(indexed, header.blobs)) {
      return fail('header does not match the index');
    }
    if (readData) return await checkPackData(ctx, packId, header.blobs, fail);
  } catch (err) {
    return fail(errorMessage(err));
  }
  return undefined;
}

async function readPackHeader(ctx: CheckContext, packId: Id, size: number) {
  const tail = await ctx.backend.load(
    { type: 'data', name: packId },
    { offset: size - 4, length: 4 },
  );
  const start = headerStart(tail, size, packId);
  const sealed = await ctx.backend.load(
    { type: 'data', name: packId },
    { offset: start, length: size - 4 - start },
  );
  return { start, blobs: decodeHeader(open(ctx.key, sealed), packId) };
}

async function checkPackData(
  ctx: CheckContext,
  packId: Id,
  blobs: PackedBlob[],
  fail: (detail: string) => CheckProblem,
): Promise<CheckProblem | undefined> {
  const bytes = await ctx.backend.load({ type: 'data', name: packId });
  if (createHash('sha256').update(bytes).digest('hex') !== packId) {
    return fail('contents do not match its name (the file was changed or damaged)');
  }
  // Every blob of the pack is opened at once, so an opener with several
  // workers keeps them all busy. The first problem in pack order is reported.
  const problems = await Promise.all(blobs.map((blob) => checkBlob(ctx, bytes, blob)));
  const problem = problems.find((detail) => detail !== undefined);
  return problem === undefined ? undefined : fail(problem);
}

/** Opens one blob of a loaded pack and returns what is wrong with it, if anything. */
async function checkBlob(ctx: CheckContext, pack: Buffer, blob: PackedBlob): Promise<string | undefined> {
  const sealed = pack.subarray(blob.offset, blob.offset + blob.length);
  const { id, uncompressedLength } = blob;
  if (ctx.openBlob) {
    // The opener checks the SHA-256 against the id itself and raises on a mismatch.
    return ctx.openBlob({ sealed, uncompressedLength, id }).then(
      () => undefined,
      (err: unknown) => `${blob.type} blob ${id}: ${errorMessage(err)}`,
    );
  }
  let plaintext: Buffer;
  try {
    plaintext = openBlob(ctx.key, sealed, uncompressedLength);
  } catch (err) {
    return `${blob.type} blob ${id}: ${errorMessage(err)}`;
  }
  if (createHash('sha256').update(plaintext).digest('hex') !== id) {
    return `${blob.type} blob ${id} does not match its id`;
  }
  return undefined;
}

function sameBlobs(a: PackedBlob[], b: PackedBlob[]): boolean {
  const key = (x: PackedBlob) => `${x.type}${x.id}@${x.offset}+${x.length}/${x.uncompressedLength}`;
  const right = new Set(b.map(key));
  return a.every((x) => right.has(key(x)));
}

interface TreeJson {
  nodes?: { name?: string; type?: string; content?: Id[] | null; subtree?: Id | null }[] | null;
}

async function checkSnapshots(
  ctx: CheckContext,
  index: MasterIndex,
  report: CheckReport,
): Promise<void> {
  const seen = new Set<Id>();
  let entries;
  try {
    entries = await readAllSnapshots(ctx.backend, ctx.key);
  } catch (err) {
    report.errors.push({ file: 'snapshots', message: errorMessage(err) });
    return;
  }
  for (const { id, snapshot } of entries) {
    const file = `snapshots/${id}`;
    const pending: Id[] = [snapshot.tree];
    for (let treeId = pending.pop(); treeId !== undefined; treeId = pending.pop()) {
      if (seen.has(treeId)) continue;
      seen.add(treeId);
      if (!index.has('tree', treeId)) {
        report.errors.push({ file, message: `snapshot ${id}: tree ${treeId} is not in the index` });
        continue;
      }
      let tree: TreeJson;
      try {
        tree = JSON.parse((await ctx.loadBlob('tree', treeId)).toString('utf8')) as TreeJson;
      } catch (err) {
        report.errors.push({
          file,
          message: `snapshot ${id}: tree ${treeId}: ${errorMessage(err)}`,
        });
        continue;
      }
      for (const node of tree.nodes ?? []) {
        for (const blobId of node.content ?? []) {
          if (index.has('data', blobId)) continue;
          report.errors.push({
            file,
            message: `snapshot ${id}: file "${node.name}" in tree ${treeId} needs data blob ${blobId}, which is not in the index`,
          });
        }
        if (node.subtree) pending.push(node.subtree);
        else if (node.type === 'dir') {
          report.errors.push({
            file,
            message: `snapshot ${id}: folder "${node.name}" in tree ${treeId} has no subtree`,
          });
        }
      }
    }
  }
}
