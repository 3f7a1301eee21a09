/**
 * Deterministic data for the benchmark. Every byte comes from AES-256-CTR
 * keystreams keyed by a fixed label and a block number, so the same scale
 * always gives the same files. The "changed" variant differs from the base
 * only in the blocks that a day's change touches.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';

/** Base data, or the data after a typical day's change. */
export type Variant = 0 | 1;

/** Returns `length` pseudo-random bytes that depend only on `label`. */
export function keystream(label: string, length: number): Buffer {
  const key = createHash('sha256').update(`bgapp-bench:${label}`).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

const WORDS = ('parcel river road field forest north south east west lake hill farm urban ' +
  'zone grid tile sensor station rain wind soil crop water bridge school park market ' +
  'harbor rail depot tower valley plain coast island delta canal dam well mine quarry ' +
  'clinic office shop hall church mill barn yard lot block sector ward county region').split(' ');

const DUMP_TABLES = 8;
const ROWS_PER_BLOCK = 1000;
const BINARY_BLOCK_BYTES = 16 * 1024;
/** Estimate of one dump block's size (text rows plus one binary run); a 1 GiB target gives about 0.94 GB. */
const DUMP_BLOCK_BYTES = 100 * 1024;

/** Block layout of a generated stream: which blocks change or are appended in variant 1. */
interface Layout {
  blocksPerPart: number;
  parts: number;
  /** Part and first block whose contents variant 1 rewrites. */
  updated: { part: number; first: number; count: number };
  /** Part at whose end variant 1 appends blocks. */
  appended: { part: number; count: number };
}

function layout(totalBytes: number, blockBytes: number, parts: number): Layout {
  const blocksPerPart = Math.max(1, Math.round(totalBytes / parts / blockBytes));
  const onePercent = Math.max(1, Math.round((blocksPerPart * parts) / 100));
  return {
    blocksPerPart,
    parts,
    updated: { part: 0, first: Math.floor(blocksPerPart / 2), count: Math.min(onePercent, blocksPerPart) },
    appended: { part: Math.floor(parts / 2), count: onePercent },
  };
}

/** Yields the labels of a stream's blocks, in order, for one variant. */
function* blockLabels(plan: Layout, variant: Variant): Generator<{ part: number; label: string; first: boolean; last: boolean }> {
  for (let part = 0; part < plan.parts; part++) {
    const extra = variant === 1 && part === plan.appended.part ? plan.appended.count : 0;
    const count = plan.blocksPerPart + extra;
    for (let block = 0; block < count; block++) {
      const { updated } = plan;
      const isUpdated =
        variant === 1 && part === updated.part && block >= updated.first && block < updated.first + updated.count;
      const isNew = block >= plan.blocksPerPart;
      let suffix = 'base';
      if (isNew) suffix = 'new';
      else if (isUpdated) suffix = 'updated';
      yield { part, label: `${part}:${block}:${suffix}`, first: block === 0, last: block === count - 1 };
    }
  }
}

async function writeStream(path: string, chunks: Iterable<Buffer | string>): Promise<number> {
  const out = createWriteStream(path);
  let bytes = 0;
  for (const chunk of chunks) {
    bytes += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return bytes;
}

function dumpRows(label: string, firstId: number): string {
  const random = keystream(`dump-rows:${label}`, ROWS_PER_BLOCK * 16);
  const lines: string[] = [];
  for (let i = 0; i < ROWS_PER_BLOCK; i++) {
    const r = random.subarray(i * 16, i * 16 + 16);
    const lon = (r.readUInt32LE(0) / 0xffffffff) * 360 - 180;
    const lat = (r.readUInt32LE(4) / 0xffffffff) * 180 - 90;
    const day = 1 + (r[8]! % 28);
    lines.push(
      `${firstId + i}\t${WORDS[r[9]! % WORDS.length]} ${WORDS[r[10]! % WORDS.length]}\t${r[11]! % 40}\t` +
        `${lon.toFixed(6)}\t${lat.toFixed(6)}\t2024-03-${String(day).padStart(2, '0')} 0${r[12]! % 10}:00:00+00\t` +
        `${r.subarray(13, 16).toString('hex')}\n`,
    );
  }
  return lines.join('');
}

/** Coordinates as little-endian doubles near one point, like WKB geometry: partly compressible. */
function binaryRun(label: string): Buffer {
  const random = keystream(`dump-binary:${label}`, BINARY_BLOCK_BYTES / 2);
  const out = Buffer.alloc(BINARY_BLOCK_BYTES);
  for (let i = 0; i < BINARY_BLOCK_BYTES / 8; i++) {
    out.writeDoubleLE(12.5 + random.readUInt32LE((i * 4) % (random.length - 4)) / 1e9, i * 8);
  }
  return out;
}

function* dumpChunks(plan: Layout, variant: Variant): Generator<Buffer | string> {
  yield 'PGDMP-like benchmark stream\n--\n-- PostgreSQL database dump\n--\n';
  for (const block of blockLabels(plan, variant)) {
    const table = `public.bench_${block.part}`;
    if (block.first) yield `\nCOPY ${table} (id, name, category, lon, lat, updated_at, note) FROM stdin;\n`;
    const blockIndex = Number(block.label.split(':')[1]);
    yield dumpRows(block.label, blockIndex * ROWS_PER_BLOCK + 1);
    yield binaryRun(block.label);
    if (block.last) yield '\\.\n';
  }
}

/** Writes the pg_dump-like stream of about `totalBytes`; returns its size. */
export function writeDumpFile(path: string, totalBytes: number, variant: Variant): Promise<number> {
  return writeStream(path, dumpChunks(layout(totalBytes, DUMP_BLOCK_BYTES, DUMP_TABLES), variant));
}

const RANDOM_BLOCK_BYTES = 1024 * 1024;

/** Writes about `totalBytes` of incompressible data; returns its size. */
export function writeRandomFile(path: string, totalBytes: number, variant: Variant): Promise<number> {
  const plan = layout(totalBytes, RANDOM_BLOCK_BYTES, 1);
  function* chunks(): Generator<Buffer> {
    for (const block of blockLabels(plan, variant)) yield keystream(`random:${block.label}`, RANDOM_BLOCK_BYTES);
  }
  return writeStream(path, chunks());
}

/** Size of one small file or object: 256 bytes to about 8 KiB (files) or 32 KiB (objects). */
function smallSize(label: string, max: number): number {
  return 256 + (keystream(`size:${label}`, 4).readUInt32LE(0) % (max - 256));
}

/** Contents of one small file or object: text like a config or log for even numbers, random for odd. */
export function smallContents(kind: 'file' | 'object', index: number, variant: Variant): Buffer {
  const size = smallSize(`${kind}:${index}`, kind === 'file' ? 8192 : 32768);
  const label = `${kind}:${index}:${variant}`;
  if (index % 2 === 1) return keystream(label, size);
  const random = keystream(label, Math.ceil(size / 4) * 4);
  const lines: string[] = [];
  let length = 0;
  for (let i = 0; length < size; i += 4) {
    const line = `${WORDS[random[i % random.length]! % WORDS.length]}_${i} = ${random.readUInt16LE(i % (random.length - 2))}\n`;
    lines.push(line);
    length += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, size);
}

/** Path of small file `index` below the tree's root: 500 files per folder. */
export function smallFilePath(index: number): string {
  return join(`d${String(Math.floor(index / 500)).padStart(3, '0')}`, `f${index}.conf`);
}

/** Writes a tree of `count` small files; returns their total size. */
export async function writeFileTree(root: string, count: number): Promise<number> {
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const path = join(root, smallFilePath(i));
    if (i % 500 === 0) await mkdir(join(path, '..'), { recursive: true });
    const contents = smallContents('file', i, 0);
    await writeFile(path, contents);
    bytes += contents.length;
  }
  return bytes;
}

/** Indexes that a day's change rewrites (1%) and adds (1%, numbered after the last). */
export function changedIndexes(count: number): { rewritten: number[]; added: number[] } {
  const onePercent = Math.max(1, Math.round(count / 100));
  const rewritten = Array.from({ length: onePercent }, (_, i) => (i * 100 + 7) % count);
  const added = Array.from({ length: onePercent }, (_, i) => count + i);
  return { rewritten, added };
}

/** Applies (variant 1) or reverts (variant 0) a day's change to the file tree. */
export async function changeFileTree(root: string, count: number, variant: Variant): Promise<void> {
  const { rewritten, added } = changedIndexes(count);
  for (const i of rewritten) await writeFile(join(root, smallFilePath(i)), smallContents('file', i, variant));
  for (const i of added) {
    const path = join(root, 'new', `f${i}.conf`);
    if (variant === 0) await rm(path, { force: true });
    else {
      await mkdir(join(root, 'new'), { recursive: true });
      await writeFile(path, smallContents('file', i, 0));
    }
  }
}
