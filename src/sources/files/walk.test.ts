import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createPathFilter } from './path-filter.ts';
import { walkFolder } from './walk.ts';

describe('walkFolder', () => {
  let root: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'bgapp-walk-'));
    await mkdir(join(root, 'many'));
    for (let i = 0; i < 300; i++) await writeFile(join(root, 'many', `f${String(i).padStart(3, '0')}`), `${i}`);
  });

  after(() => rm(root, { recursive: true, force: true }));

  it('yields files in name order with their sizes', async () => {
    const files = [];
    for await (const entry of walkFolder(root, createPathFilter([], []), () => {})) {
      if (entry.kind === 'file') files.push(entry);
    }
    assert.equal(files.length, 300);
    assert.equal(files[299]!.path.join('/'), 'many/f299');
    assert.equal(files[299]!.stats.size, 3n);
  });
});
