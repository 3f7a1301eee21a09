import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { runCli } from '../../test/support/cli.ts';
import { filesSourceConfig, writeConfigFile } from '../../test/support/stack-config.ts';
import { createCliLogger, formatLocalTime, printResult, type ProgressLine } from './output.ts';

/** Captures what printResult writes to stdout and stderr. */
function captureOutput(t: TestContext): { stdout: string[]; stderr: string[] } {
  const written = { stdout: [] as string[], stderr: [] as string[] };
  t.mock.method(process.stdout, 'write', (chunk: string) => written.stdout.push(chunk));
  t.mock.method(process.stderr, 'write', (chunk: string) => written.stderr.push(chunk));
  return written;
}

describe('formatLocalTime', () => {
  it('prints times in the local zone', () => {
    const saved = process.env.TZ;
    process.env.TZ = 'Asia/Tokyo';
    try {
      assert.equal(formatLocalTime('2026-12-05T03:28:20.267Z'), '2026-12-05 12:28:20');
      // As restic on a machine in Tokyo writes it, nanoseconds included.
      assert.equal(formatLocalTime('2026-12-05T12:28:36.123456789+09:00'), '2026-12-05 12:28:36');
      assert.equal(formatLocalTime('2026-12-04T22:28:36-05:00'), '2026-12-05 12:28:36');
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });

  it('returns other text unchanged', () => {
    assert.equal(formatLocalTime('yesterday'), 'yesterday');
  });
});

describe('createCliLogger', () => {
  it('keeps only errors and snapshot warnings with --quiet', async () => {
    const lines: string[] = [];
    const progress = { printAbove: (line: string) => void lines.push(line) } as unknown as ProgressLine;
    const logger = createCliLogger({ json: false, quiet: true, verbose: false }, progress).child({ source: 'logs' });
    logger.warn({}, 'removed stale locks');
    logger.warn({ item: 'queue', kind: 'skipped' }, 'queue is a FIFO');
    logger.error({}, 'backup failed');
    // pino writes to its destination stream on a later tick.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(lines.length, 2);
    assert.match(lines[0] ?? '', /^warning: queue is a FIFO source=logs item=queue kind=skipped$/);
    assert.match(lines[1] ?? '', /^error: backup failed source=logs$/);
  });
});

describe('printResult', () => {
  const text = () => ['snapshot 1234abcd saved'];
  const failures = () => ['difference: geo: 3 rows missing'];

  it('prints the text lines by default', (t) => {
    const written = captureOutput(t);
    printResult({ json: false, quiet: false, verbose: false }, { id: 1 }, text, failures);
    assert.deepEqual(written.stdout, ['snapshot 1234abcd saved\n']);
    assert.deepEqual(written.stderr, []);
  });

  it('prints nothing on stdout with --quiet', (t) => {
    const written = captureOutput(t);
    printResult({ json: false, quiet: true, verbose: false }, { id: 1 }, text);
    assert.deepEqual(written.stdout, []);
    assert.deepEqual(written.stderr, []);
  });

  it('prints failures on stderr with --quiet', (t) => {
    const written = captureOutput(t);
    printResult({ json: false, quiet: true, verbose: false }, { id: 1 }, text, failures);
    assert.deepEqual(written.stdout, []);
    assert.deepEqual(written.stderr, ['difference: geo: 3 rows missing\n']);
  });

  it('prints JSON with --quiet and --json', (t) => {
    const written = captureOutput(t);
    printResult({ json: true, quiet: true, verbose: false }, { id: 1 }, text, failures);
    assert.deepEqual(written.stdout, ['{\n  "id": 1\n}\n']);
    assert.deepEqual(written.stderr, []);
  });
});

describe('commands with --quiet', () => {
  let base: string;
  let env: Record<string, string>;

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'bgapp-quiet-'));
    const data = join(base, 'data');
    await mkdir(data);
    await writeFile(join(data, 'app.conf'), 'port = 8080\n');
    const config = join(base, 'bgapp-backup.yaml');
    await writeConfigFile(config, {
      repository: { path: join(base, 'repository') },
      sources: [filesSourceConfig('configs', data)],
    });
    env = { BGAPP_BACKUP_CONFIG: config, BGAPP_BACKUP_PASSWORD: 'quiet test password' };
  });

  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('print nothing when they succeed', async () => {
    // In order, because backup needs the repository and restore a snapshot.
    const commands = [
      ['init'],
      ['backup'],
      ['check'],
      ['unlock'],
      ['restore', 'latest', '--source', 'configs', '--target-dir', join(base, 'restored')],
    ];
    for (const args of commands) {
      const run = await runCli(['--quiet', ...args], env);
      assert.equal(run.code, 0, `${args.join(' ')}: ${run.stderr}`);
      assert.equal(run.stdout, '', `${args.join(' ')} printed on stdout`);
      assert.equal(run.stderr, '', `${args.join(' ')} printed on stderr`);
    }
  });

  it('still print listings', async () => {
    const listings: [string[], RegExp][] = [
      [['snapshots'], /1 snapshot/],
      [['ls', 'latest'], /app\.conf/],
      [['key', 'list'], /[0-9a-f]{8}/],
      [['status'], /repository/i],
    ];
    for (const [args, expected] of listings) {
      const run = await runCli(['--quiet', ...args], env);
      assert.equal(run.code, 0, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stdout, expected, `${args.join(' ')} printed no listing`);
      assert.equal(run.stderr, '', `${args.join(' ')} printed on stderr`);
    }
  });

  it('list a backup\'s warnings on stderr', async () => {
    const data = join(base, 'with-fifo');
    await mkdir(data);
    await writeFile(join(data, 'app.conf'), 'port = 8080\n');
    execFileSync('mkfifo', [join(data, 'queue')]);
    const config = join(base, 'fifo.yaml');
    await writeConfigFile(config, {
      repository: { path: join(base, 'repository') },
      sources: [filesSourceConfig('spool', data)],
    });
    const run = await runCli(['--quiet', 'backup'], { ...env, BGAPP_BACKUP_CONFIG: config });
    assert.equal(run.code, 3, run.stderr);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /^warning: queue is a FIFO, which is not backed up source=spool .*\n$/);

    // A run that then fails keeps the warnings before its error.
    await writeConfigFile(config, {
      repository: { path: join(base, 'repository') },
      sources: [filesSourceConfig('spool', data), filesSourceConfig('gone', join(base, 'missing'))],
    });
    const failed = await runCli(['--quiet', 'backup'], { ...env, BGAPP_BACKUP_CONFIG: config });
    assert.equal(failed.code, 1, failed.stderr);
    assert.equal(failed.stdout, '');
    const lines = failed.stderr.trim().split('\n');
    assert.match(lines[0] ?? '', /^warning: queue is a FIFO/);
    assert.match(lines.at(-1) ?? '', /^error: /);
  });

  it('print JSON when --json is given too', async () => {
    const run = await runCli(['--quiet', '--json', 'backup'], env);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { snapshot_id: unknown };
    assert.match(String(result.snapshot_id), /^[0-9a-f]{64}$/);
  });
});
