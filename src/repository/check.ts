/**
 * Repository check: structure (packs, index, snapshots and their trees) and,
 * with readData, every blob's content. Problems are collected, not thrown.
 */
import type { Backend, FileType } from '../backend/index.ts';
import { masterKeyToBytes, open, type MasterKey } from '../crypto/index.ts';
import { errorMessage } from '../errors/index.ts';
import type { ProgressListener } from '../log/index.ts';
import { isId } from './ids.ts';
import { loadMasterIndex, type MasterIndex } from './master-index.ts';
import { PackFormatError, decodeHeader, headerStart, type PackedBlob } from './pack.ts';
import { PackVerifyPool, type SegmentBlob } from './pack-verify-pool.ts';
import { readAllSnapshots } from './snapshots.ts';
import type { BlobType, CheckProblem, CheckReport, Id } from './types.ts';

/** Repository access that check uses. */
export interface CheckContext {
  backend: Backend;
  key: MasterKey;
  loadBlob(type: BlobType, id: Id): Promise<Buffer>;
}

/**
 * Bytes of a pack sent to a verifier worker at once with readData, used when
 * the backend sets no `rangedReadBytes`. A network backend then loads each
 * pack whole in one request. A segment contains whole blobs only, so a larger
 * blob is sent alone.
 */
const SEGMENT_BYTES = Number.POSITIVE_INFINITY;

/** Segments of one pack sent to its worker and not yet verified, so reading overlaps hashing. */
const SEGMENTS_IN_FLIGHT = 2;

/** Packs verified at once for each verifier worker, so a worker is busy while a pack is read. */
const PACKS_PER_WORKER = 2;

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
      // The file is named beside the message, so the message does not repeat it.
      message: 'temporary file left by an interrupted run; a backup removes it once it is a day old',
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

  const pool = readData ? new PackVerifyPool(masterKeyToBytes(ctx.key)) : undefined;
  // Each job returns its pack's problem and warning, which are added in job
  // order, so the report reads the same however the reads interleave.
  const jobs: (() => Promise<PackOutcome>)[] = [];
  for (const { packId, blobs } of index.packs()) {
    const size = stored.get(packId);
    stored.delete(packId);
    jobs.push(async () => ({ error: await checkPack(ctx, pool, packId, size, blobs) }));
  }
  for (const [packId, size] of stored) {
    jobs.push(async () => {
      const error = await checkPack(ctx, pool, packId, size, undefined);
      if (error) return { error };
      const file = packPath(packId);
      const message = `pack ${file} is not in any index (left by an interrupted run); it is unused and takes space`;
      return { warning: { file, message } };
    });
  }
  let outcomes: PackOutcome[];
  try {
    outcomes = await runBounded(jobs, pool ? pool.size * PACKS_PER_WORKER : 1);
    // A crashed worker would otherwise show up as damage in every pack after it.
    if (pool?.failed) throw pool.failed;
  } finally {
    await pool?.close();
  }
  for (const { error, warning } of outcomes) {
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

/**
 * Checks one pack's size and header against the index, and, when a verifier
 * pool is given (readData), the pack's SHA-256 and every blob.
 */
async function checkPack(
  ctx: CheckContext,
  pool: PackVerifyPool | undefined,
  packId: Id,
  size: number | undefined,
  indexed: PackedBlob[] | undefined,
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
    if (pool) return await checkPackData(ctx, pool, packId, header, fail);
  } catch (err) {
    // The check names the pack itself, and is the command the error's hint recommends.
    return fail(err instanceof PackFormatError ? err.detail : errorMessage(err));
  }
  return undefined;
}

/** A pack's decoded header, and its sealed bytes and last 4 bytes as read. */
interface PackHeader {
  start: number;
  blobs: PackedBlob[];
  sealed: Buffer;
  tail: Buffer;
}

async function readPackHeader(ctx: CheckContext, packId: Id, size: number): Promise<PackHeader> {
  const tail = await ctx.backend.load(
    { type: 'data', name: packId },
    { offset: size - 4, length: 4 },
  );
  const start = headerStart(tail, size, packId);
  const sealed = await ctx.backend.load(
    { type: 'data', name: packId },
    { offset: start, length: size - 4 - start },
  );
  return { start, blobs: decodeHeader(open(ctx.key, sealed), packId), sealed, tail };
}

/**
 * Reads a pack in segments and has one worker hash the whole file and open
 * every blob, so at most SEGMENTS_IN_FLIGHT segments of it are in memory.
 * The header's bytes were read already and are hashed last.
 */
async function checkPackData(
  ctx: CheckContext,
  pool: PackVerifyPool,
  packId: Id,
  header: PackHeader,
  fail: (detail: string) => CheckProblem,
): Promise<CheckProblem | undefined> {
  const stream = pool.openPack();
  const verified: Promise<string | undefined>[] = [];
  let sha256: string;
  try {
    for (const segment of planSegments(header.blobs, ctx.backend.rangedReadBytes ?? SEGMENT_BYTES)) {
      await verified[verified.length - SEGMENTS_IN_FLIGHT];
      const range = { offset: segment.offset, length: segment.length };
      const data = await ctx.backend.load({ type: 'data', name: packId }, range);
      const problem = pool.segment(stream, data, segment.blobs);
      // Awaited below. This handler keeps an earlier rejection from being unhandled.
      problem.catch(() => {});
      verified.push(problem);
    }
    verified.push(pool.segment(stream, Buffer.concat([header.sealed, header.tail]), []));
  } finally {
    sha256 = await pool.digest(stream);
  }
  if (sha256 !== packId) {
    return fail('contents do not match its name (the file was changed or damaged)');
  }
  // The first problem in pack order is reported.
  const problem = (await Promise.all(verified)).find((detail) => detail !== undefined);
  return problem === undefined ? undefined : fail(problem);
}

/** A byte range of a pack and the blobs that lie wholly inside it. */
interface Segment {
  offset: number;
  length: number;
  blobs: SegmentBlob[];
}

/**
 * Splits a pack's blob area into segments of up to `segmentBytes`. The blobs
 * lie back to back from offset 0, as decodeHeader computes their offsets.
 */
function planSegments(blobs: readonly PackedBlob[], segmentBytes: number): Segment[] {
  const segments: Segment[] = [];
  let current: Segment | undefined;
  for (const blob of blobs) {
    if (!current || current.length + blob.length > segmentBytes) {
      if (current) segments.push(current);
      current = { offset: blob.offset, length: 0, blobs: [] };
    }
    const { type, id, length, uncompressedLength } = blob;
    const entry: SegmentBlob = { type, id, start: current.length, length };
    if (uncompressedLength !== undefined) entry.uncompressedLength = uncompressedLength;
    current.blobs.push(entry);
    current.length += length;
  }
  if (current) segments.push(current);
  return segments;
}

/** Tells whether every blob in `indexed` appears in `header` with the same offset and fields. */
function sameBlobs(indexed: readonly PackedBlob[], header: readonly PackedBlob[]): boolean {
  // Offsets are unique within a pack, so they key the header's blobs without building strings.
  const byOffset = new Map<number, PackedBlob>();
  for (const blob of header) byOffset.set(blob.offset, blob);
  return indexed.every((blob) => {
    const match = byOffset.get(blob.offset);
    return (
      match !== undefined &&
      match.type === blob.type &&
      match.id === blob.id &&
      match.length === blob.length &&
      match.uncompressedLength === blob.uncompressedLength
    );
  });
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
    entries = await readAllSnapshots(ctx.backend, ctx.key, (id, err) => {
      report.errors.push({ file: `snapshots/${id}`, message: err.message });
    });
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
