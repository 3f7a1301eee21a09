/**
 * The benchmark harness: generates the datasets, measures bgapp-backup and
 * restic on each and writes the report. Run it through bench/run.sh.
 *
 * Usage: bench/run.sh [--scale small|full] [--runs N] [--datasets a,b] [--out FILE]
 *                     [--timeout-minutes N] [--no-profile] [--keep]
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startPostgres } from '../test/support/postgres.ts';
import { startS3Server } from '../test/support/s3.ts';
import type { IndexMemory } from './index-memory.ts';
import { summarizeProfiles, type PhaseProfile } from './profile.ts';
import { renderReport } from './report.ts';
import { PROFILED_PHASES, phaseFolder, profileOurs, runSubject, type SubjectResult } from './runner.ts';
import { createSubjects, SCALES, type Subject } from './subjects.ts';
import { PROJECT_ROOT } from './tools.ts';

const ALL: Subject['name'][] = ['dump', 'random', 'files', 'database', 'bucket'];

/** Options of one harness run. */
export interface HarnessOptions {
  scale: 'small' | 'full';
  rounds: number;
  datasets: Subject['name'][];
  out: string;
  timeoutMillis: number;
  profile: boolean;
  keep: boolean;
  command: string;
  log: (message: string) => void;
}

/** Parses the command line of bench/run.sh. */
export function parseHarnessArgs(argv: string[]): HarnessOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      scale: { type: 'string', default: 'small' },
      runs: { type: 'string', default: '3' },
      datasets: { type: 'string', default: ALL.join(',') },
      out: { type: 'string' },
      'timeout-minutes': { type: 'string' },
      'no-profile': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
    },
  });
  if (values.scale !== 'small' && values.scale !== 'full') throw new Error(`invalid --scale ${values.scale}; use small or full`);
  const datasets = values.datasets.split(',').filter(Boolean) as Subject['name'][];
  const unknown = datasets.filter((d) => !ALL.includes(d));
  if (unknown.length > 0) throw new Error(`unknown dataset ${unknown.join(', ')}; choose from ${ALL.join(', ')}`);
  const rounds = Number(values.runs);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`invalid --runs ${values.runs}; use a whole number from 1`);
  const timeoutMinutes = Number(values['timeout-minutes'] ?? (values.scale === 'full' ? 30 : 5));
  return {
    scale: values.scale,
    rounds,
    datasets,
    out: values.out ?? (values.scale === 'full' ? join(PROJECT_ROOT, 'BENCHMARKS.md') : join(tmpdir(), 'bgapp-benchmarks-small.md')),
    timeoutMillis: timeoutMinutes * 60_000,
    profile: !values['no-profile'],
    keep: values.keep,
    command: `bench/run.sh ${argv.join(' ')}`.trim(),
    log: (message) => process.stderr.write(`bench: ${message}\n`),
  };
}

function versionOf(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8' }).trim().split('\n')[0] ?? '';
}

async function describeMachine(): Promise<string[]> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8');
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? 'unknown';
  return [
    `${cpus().length} cores (nproc), CPU model "${model}" (/proc/cpuinfo), ${(totalmem() / 2 ** 30).toFixed(1)} GiB of memory`,
    `Node.js ${process.version}; ${versionOf('restic', ['version'])}; ${versionOf('/usr/lib/postgresql/15/bin/pg_dump', ['--version'])}`,
    'Both tools see the same 2 cores (no pinning; restic with the default GOMAXPROCS), and both read the repository password from the same file (`--password-file` semantics through RESTIC_PASSWORD_FILE and BGAPP_BACKUP_PASSWORD_FILE).',
    'The OS page cache is not cleared between runs: /proc/sys/vm/drop_caches is not writable in this sandbox, so both tools read warm data. Other work shares this machine, so times are noisy.',
    'Peak memory is the highest sum of the resident set sizes (statm) of the measured command and all its descendants, sampled every 50 ms from /proc; each command runs under `bash -c`, whose few MiB count for both tools.',
  ];
}

function measureIndex(blobs: number): IndexMemory {
  const script = join(PROJECT_ROOT, 'bench', 'index-memory.ts');
  const out = execFileSync(process.execPath, ['--expose-gc', script, String(blobs)], { encoding: 'utf8' });
  return JSON.parse(out) as IndexMemory;
}

/** Runs the whole benchmark and writes the report to `opts.out`; returns the report's text. */
export async function runHarness(opts: HarnessOptions): Promise<string> {
  const started = Date.now();
  const workDir = await mkdtemp(join(tmpdir(), 'bgapp-bench-'));
  opts.log(`working in ${workDir}`);
  const pg = await startPostgres();
  const s3 = await startS3Server();
  try {
    const passwordFile = join(workDir, 'password');
    await writeFile(passwordFile, 'benchmark password, not a secret\n', { mode: 0o600 });
    const dataDir = join(workDir, 'data');
    await mkdir(dataDir);
    const ctx = { dataDir, sizes: SCALES[opts.scale], pg, s3, timeoutMillis: opts.timeoutMillis };
    const subjects = await createSubjects(ctx, opts.datasets, opts.log);
    const runner = { workDir, passwordFile, rounds: opts.rounds, timeoutMillis: opts.timeoutMillis, onStep: opts.log };
    const results: SubjectResult[] = [];
    const profiles = new Map<string, PhaseProfile[]>();
    const failures: { title: string; message: string }[] = [];
    const machine = await describeMachine();
    const write = async (index?: IndexMemory) => {
      const header = {
        command: opts.command,
        machine,
        rounds: opts.rounds,
        scale: opts.scale,
        startedAt: new Date(started).toISOString(),
        minutes: (Date.now() - started) / 60_000,
      };
      const report = renderReport(header, results, index, profiles, failures);
      await writeFile(opts.out, report);
      return report;
    };
    for (const subject of subjects) {
      try {
        results.push(await runSubject(subject, runner));
      } catch (err) {
        // One broken dataset must not lose the others' results, so its failure goes into the report.
        const message = err instanceof Error ? err.message : String(err);
        opts.log(`${subject.name} failed: ${message}`);
        failures.push({ title: subject.title, message });
        await write();
        continue;
      }
      if (opts.profile) {
        opts.log(`${subject.name}: profiling bgapp-backup's first backup, restore and check`);
        const profileDir = join(workDir, 'profiles', subject.name);
        await profileOurs(subject, runner, profileDir);
        const phases: PhaseProfile[] = [];
        for (const phase of PROFILED_PHASES) {
          const top = phase === 'first backup' ? 6 : 4;
          phases.push({ phase, threads: await summarizeProfiles(join(profileDir, phaseFolder(phase)), top) });
        }
        profiles.set(subject.name, phases);
      }
      // The report is rewritten after each dataset, so a run stopped early keeps what it measured.
      await write();
    }
    opts.log('measuring index memory per blob');
    const report = await write(measureIndex(opts.scale === 'full' ? 200_000 : 5_000));
    opts.log(`report written to ${opts.out}`);
    return report;
  } finally {
    await s3.stop();
    await pg.stop();
    if (!opts.keep) await rm(workDir, { recursive: true, force: true });
  }
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  await runHarness(parseHarnessArgs(process.argv.slice(2)));
}
