import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeSpace, filesystemSpace } from './status.ts';

// Measured with `stat -f /tmp` on a machine where much of the free space
// was not available to the user running the tool.
const RESERVED_HEAVY = { blocks: 66_053_021, bfree: 56_845_398, bavail: 17_390_105, bsize: 4096 };

describe('filesystemSpace', () => {
  it('computes used and percent as df does', () => {
    const space = filesystemSpace(RESERVED_HEAVY);
    const used = (66_053_021 - 56_845_398) * 4096;
    const free = 17_390_105 * 4096;
    assert.equal(space.total, 66_053_021 * 4096);
    assert.equal(space.used, used);
    assert.equal(space.free, free);
    assert.equal(space.percent, Math.round((used / (used + free)) * 10000) / 100);
    assert.equal(space.of, 'filesystem');
  });

  it('adds up with the reserved space', () => {
    const space = filesystemSpace(RESERVED_HEAVY);
    assert.equal(space.reserved, (56_845_398 - 17_390_105) * 4096);
    assert.equal((space.used ?? 0) + (space.free ?? 0) + (space.reserved ?? 0), space.total);
  });

  it('has no percent for an empty file system', () => {
    const space = filesystemSpace({ blocks: 0, bfree: 0, bavail: 0, bsize: 4096 });
    assert.equal(space.percent, null);
    assert.equal(space.reserved, 0);
  });
});

describe('describeSpace', () => {
  it('names reserved space', () => {
    const line = describeSpace(filesystemSpace(RESERVED_HEAVY));
    assert.match(line, /^space \(filesystem\): total 251\.97 GiB, used 35\.12 GiB, free 66\.34 GiB, /);
    assert.match(line, /, 34\.62% used; 150\.51 GiB more is free but reserved or unavailable/);
  });

  it('leaves out reserved space when there is none', () => {
    const line = describeSpace(filesystemSpace({ blocks: 100, bfree: 40, bavail: 40, bsize: 1024 }));
    assert.equal(line, 'space (filesystem): total 100.00 KiB, used 60.00 KiB, free 40.00 KiB, 60% used');
  });

  it('keeps the OneDrive quota state', () => {
    const line = describeSpace({
      total: 1024,
      used: 512,
      free: 512,
      percent: 50,
      state: 'normal',
      of: 'onedrive',
    });
    assert.equal(line, 'space (onedrive): total 1.00 KiB, used 512 B, free 512 B, 50% used, state normal');
  });
});
