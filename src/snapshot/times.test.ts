import assert from 'node:assert/strict';
import { mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { utimesSeconds } from './times.ts';

const folder = await mkdtemp(join(tmpdir(), 'bgapp-times-'));
after(() => rm(folder, { recursive: true, force: true }));

describe('utimesSeconds', () => {
  it('gives files the exact millisecond', async () => {
    const path = join(folder, 'file');
    await writeFile(path, '');
    const handle = await open(path, 'r+');
    try {
      // Milliseconds of 2026 whose seconds as a double fall just below the millisecond.
      for (let i = 0; i < 200; i++) {
        const millis = Date.UTC(2026, 11, 4, 12, 0, 0) + i * 37 + 100;
        await handle.utimes(utimesSeconds(millis), utimesSeconds(millis));
        const { mtimeNs } = await stat(path, { bigint: true });
        assert.equal(mtimeNs / 1_000_000n, BigInt(millis), `millisecond ${millis}`);
      }
    } finally {
      await handle.close();
    }
  });
});
