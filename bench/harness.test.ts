/**
 * Runs the benchmark harness at small scale against the real tools (bgapp-backup,
 * restic, PostgreSQL, the S3 emulator) to prove that it runs and reports every
 * dataset. Nothing here is timed: CI must not fail on a slow machine.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { writeDumpFile, writeRandomFile } from './generate.ts';
import { parseHarnessArgs, runHarness } from './main.ts';
import { measure, median } from './measure.ts';
import { summarizeProfiles } from './profile.ts';

async function sha256(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

describe('measure', () => {
  it('counts the memory of descendant processes', async () => {
    const child = `node -e "const b = Buffer.alloc(200 * 1024 * 1024, 1); setTimeout(() => b.length, 600)"`;
    const result = await measure(`${child}\ntrue`, { timeoutMillis: 30_000 });
    assert.ok(result.peakRssBytes >= 200 * 1024 * 1024, `peak ${result.peakRssBytes} bytes`);
    assert.ok(result.wallSeconds >= 0.6, `wall ${result.wallSeconds} s`);
  });

  it('rejects a command that exits non-zero', async () => {
    await assert.rejects(measure('echo broken >&2; exit 3', { timeoutMillis: 10_000 }), /exited with 3.*\n.*broken/s);
  });

  it('rejects a command that runs past its timeout', async () => {
    await assert.rejects(measure('sleep 30', { timeoutMillis: 300 }), /timed out/);
  });

  it('takes the middle value as the median', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 2, 3]), 2.5);
  });
});

describe('summarizeProfiles', () => {
  it('ranks functions and counts idle samples out of busy', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bgapp-bench-profile-'));
    try {
      const frame = (functionName: string) => ({ functionName, url: '', lineNumber: 0 });
      // 1 ms per sample: 6 idle, 3 in hash, 1 in read.
      const profile = {
        nodes: [{ id: 1, callFrame: frame('(idle)') }, { id: 2, callFrame: frame('hash') }, { id: 3, callFrame: frame('read') }],
        samples: [1, 1, 1, 1, 1, 1, 2, 2, 2, 3],
        timeDeltas: Array(10).fill(1000),
      };
      await writeFile(join(dir, 'CPU.1.cpuprofile'), JSON.stringify(profile));
      const [thread] = await summarizeProfiles(dir, 5);
      assert.deepEqual(thread?.map((e) => [e.fn, e.selfMillis, e.share]), [['hash', 3, 0.3], ['read', 1, 0.1]]);
      assert.equal(thread?.[0]?.thread, 'thread 1 (10 ms sampled, 40% busy)');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('generate', () => {
  it('writes the same bytes for the same variant', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bgapp-bench-gen-'));
    try {
      await writeDumpFile(join(dir, 'a'), 1 << 20, 0);
      await writeDumpFile(join(dir, 'b'), 1 << 20, 0);
      await writeDumpFile(join(dir, 'c'), 1 << 20, 1);
      assert.equal(await sha256(join(dir, 'a')), await sha256(join(dir, 'b')));
      assert.notEqual(await sha256(join(dir, 'a')), await sha256(join(dir, 'c')));
      const base = await writeRandomFile(join(dir, 'r0'), 8 << 20, 0);
      const changed = await writeRandomFile(join(dir, 'r1'), 8 << 20, 1);
      assert.equal(changed - base, 1 << 20, 'variant 1 inserts one block');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('harness', () => {
  it('reports every dataset at small scale', { timeout: 15 * 60_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bgapp-bench-test-'));
    try {
      const out = join(dir, 'report.md');
      const opts = parseHarnessArgs(['--scale', 'small', '--runs', '1', '--out', out, '--datasets', 'dump,random,files,bucket,database']);
      const report = await runHarness({ ...opts, log: () => {} });
      assert.equal(await readFile(out, 'utf8'), report);
      const headings = report.split('\n').filter((line) => line.startsWith('## '));
      for (const title of ['pg_dump-like stream', 'incompressible data', 'tree of', 'bucket of', 'PostGIS database']) {
        assert.ok(headings.some((h) => h.startsWith(`## ${title}`)), `no heading for ${title} in ${headings.join(', ')}`);
      }
      assert.ok(!/n\/a|NaN|Infinity/.test(report), 'a value is missing from the report');
      assert.equal(report.match(/^\| first backup \(MB\/s of input\) \| [\d.]+ \| [\d.]+ \| [\d.]+ \|/gm)?.length, 5);
      assert.match(report, /^\| pg_dump -Fc -Z0 > \/dev\/null \(s\) \| [\d.]+ \|/m);
      assert.match(report, /^\| plain download .* \(s\) \| [\d.]+ \|/m);
      assert.match(report, /grows the heap by \d+ bytes per blob/);
      assert.match(report, /Self time of bgapp-backup's first backup/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects an unknown dataset', () => {
    assert.throws(() => parseHarnessArgs(['--datasets', 'dump,tapes']), /unknown dataset tapes/);
  });
});
