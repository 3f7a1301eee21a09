import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, writeFileSync, rmSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { describeSmallChange } from './read-file.ts';

describe('describeSmallChange', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bgapp-small-change-'));
  const path = join(dir, 'a.conf');
  writeFileSync(path, 'four');
  const listed = lstatSync(path, { bigint: true });

  it('returns nothing when the read matches the listing', () => {
    assert.equal(describeSmallChange('a.conf', listed, listed, 4), undefined);
  });

  it('reports growth when the read passes the listed size', () => {
    writeFileSync(path, 'four and more');
    const after = lstatSync(path, { bigint: true });
    assert.match(describeSmallChange('a.conf', listed, after, 5) ?? '', /grew from 4 to 13 bytes.*first 4 bytes/);
  });

  it('reports truncation when the read ends before the listed size', () => {
    assert.match(describeSmallChange('a.conf', listed, listed, 2) ?? '', /truncated during the read, so 2 of its 4 bytes/);
  });

  it('reports a replaced file when the inode differs', () => {
    writeFileSync(join(dir, 'b.conf'), 'four');
    renameSync(join(dir, 'b.conf'), path);
    const replaced = lstatSync(path, { bigint: true });
    assert.match(describeSmallChange('a.conf', listed, replaced, 4) ?? '', /replaced between the folder listing/);
    rmSync(dir, { recursive: true });
  });
});
