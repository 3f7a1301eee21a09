/**
 * Measures the memory the in-memory blob index takes per blob: it writes a
 * repository with N small data blobs, then opens it again (which loads the
 * index from the index files) and reports the heap growth over N.
 *
 * Usage: node --expose-gc bench/index-memory.ts N   (prints one JSON line)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalBackend } from '../src/backend/index.ts';
import { Repository } from '../src/repository/index.ts';

/** Result of one index memory measurement. */
export interface IndexMemory {
  blobs: number;
  heapBytesPerBlob: number;
  rssBytesPerBlob: number;
}

const PASSWORD = 'index memory benchmark';
const BATCH = 1000;

function settledMemory(): { heap: number; rss: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  gc();
  gc();
  const usage = process.memoryUsage();
  return { heap: usage.heapUsed + usage.external + usage.arrayBuffers, rss: usage.rss };
}

/** Writes `blobs` distinct small blobs into a new repository, then measures loading its index. */
export async function measureIndexMemory(blobs: number): Promise<IndexMemory> {
  const dir = await mkdtemp(join(tmpdir(), 'bgapp-bench-index-'));
  try {
    const writer = await Repository.init(new LocalBackend(dir), PASSWORD);
    for (let first = 0; first < blobs; first += BATCH) {
      const saves: Promise<unknown>[] = [];
      for (let i = first; i < Math.min(blobs, first + BATCH); i++) {
        saves.push(writer.saveBlob('data', Buffer.from(`index memory blob ${i}`)));
      }
      await Promise.all(saves);
    }
    await writer.flush();
    const before = settledMemory();
    const reader = await Repository.open(new LocalBackend(dir), PASSWORD);
    const after = settledMemory();
    if (!reader.hasBlob('data', (await writer.saveBlob('data', Buffer.from('index memory blob 0'))).id)) {
      throw new Error('the reopened index lacks a saved blob');
    }
    return {
      blobs,
      heapBytesPerBlob: (after.heap - before.heap) / blobs,
      rssBytesPerBlob: (after.rss - before.rss) / blobs,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  const blobs = Number(process.argv[2] ?? '100000');
  process.stdout.write(`${JSON.stringify(await measureIndexMemory(blobs))}\n`);
}
