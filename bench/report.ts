/**
 * Turns the measured samples into BENCHMARKS.md: medians per tool, the ratio
 * that each target of the performance issue is stated in, and whether it is met.
 */
import { median, type Measurement } from './measure.ts';
import type { PhaseProfile } from './profile.ts';
import { PHASES, type Phase, type SubjectResult, type ToolSample } from './runner.ts';
import type { IndexMemory } from './index-memory.ts';

/** Everything the report shows besides the per-dataset results. */
export interface ReportHeader {
  command: string;
  machine: string[];
  rounds: number;
  scale: string;
  startedAt: string;
  minutes: number;
}

const MB = 1e6;
const MIB = 1024 * 1024;
/** Peak memory bound that the issue sets for bgapp-backup. */
const MEMORY_LIMIT_BYTES = 300 * MIB;

const wall = (samples: ToolSample[], phase: Phase) => median(samples.map((s) => s.phases[phase].wallSeconds));
const peak = (samples: ToolSample[], phase: Phase) => median(samples.map((s) => s.phases[phase].peakRssBytes));
const allPhasesPeak = (samples: ToolSample[]) =>
  median(samples.map((s) => Math.max(...PHASES.map((p) => s.phases[p].peakRssBytes))));

function fixed(value: number, digits = 2): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

function verdict(ratio: number, limit: number, atLeast: boolean): string {
  if (!Number.isFinite(ratio)) return 'n/a';
  const met = atLeast ? ratio >= limit : ratio <= limit;
  if (met) return 'met';
  const missBy = atLeast ? limit / ratio : ratio / limit;
  return `**missed** (${fixed(missBy)}x off)`;
}

type Row = [metric: string, ours: string, restic: string, ratio: string, target: string, result: string];

function throughputRow(metric: string, result: SubjectResult, phase: Phase): Row {
  const bytes = result.subject.inputBytes;
  const ours = bytes / MB / wall(result.samples.ours, phase);
  const restic = bytes / MB / wall(result.samples.restic, phase);
  return [`${metric} (MB/s of input)`, fixed(ours, 1), fixed(restic, 1), fixed(ours / restic), '>= 1.5', verdict(ours / restic, 1.5, true)];
}

function timeRow(metric: string, result: SubjectResult, phase: Phase, limit: number): Row {
  const ours = wall(result.samples.ours, phase);
  const restic = wall(result.samples.restic, phase);
  return [`${metric} (s)`, fixed(ours), fixed(restic), fixed(ours / restic), `<= ${limit}`, verdict(ours / restic, limit, false)];
}

function memoryRow(metric: string, ours: number, restic: number, withTarget: boolean): Row {
  const ratio = ours / restic;
  return [`${metric} (MiB)`, fixed(ours / MIB, 0), fixed(restic / MIB, 0), fixed(ratio),
    withTarget ? '<= 1.0' : '', withTarget ? verdict(ratio, 1, false) : ''];
}

function datasetRows(result: SubjectResult): Row[] {
  const { ours, restic } = result.samples;
  const addedOurs = median(ours.map((s) => s.changedBytes));
  const addedRestic = median(restic.map((s) => s.changedBytes));
  const repoOurs = median(ours.map((s) => s.repoBytes));
  const repoRestic = median(restic.map((s) => s.repoBytes));
  return [
    throughputRow('first backup', result, 'first'),
    timeRow('unchanged backup', result, 'unchanged', 0.5),
    timeRow('backup after the change', result, 'changed', 0.7),
    ['bytes added by the change (MB)', fixed(addedOurs / MB, 3), fixed(addedRestic / MB, 3), fixed(addedOurs / addedRestic),
      '<= 1.0', verdict(addedOurs / addedRestic, 1, false)],
    ['repository after the first backup (MB)', fixed(repoOurs / MB, 1), fixed(repoRestic / MB, 1), fixed(repoOurs / repoRestic), '', ''],
    throughputRow('restore', result, 'restore'),
    throughputRow('check --read-data', result, 'check'),
    memoryRow('peak memory, any phase', allPhasesPeak(ours), allPhasesPeak(restic), true),
    ...PHASES.map((p) => memoryRow(`peak memory, ${p}`, peak(ours, p), peak(restic, p), false)),
    ['our peak memory under 300 MiB', fixed(allPhasesPeak(ours) / MIB, 0), '', '', '< 300 MiB',
      allPhasesPeak(ours) < MEMORY_LIMIT_BYTES ? 'met' : '**missed**'],
  ];
}

function floorRows(result: SubjectResult): Row[] {
  if (result.floors.length === 0) return [];
  const floor = median(result.floors.map((m: Measurement) => m.wallSeconds));
  const label = result.subject.floor?.(0).label ?? 'floor';
  const rows: Row[] = [[`${label} (s)`, fixed(floor), '', '', '', '']];
  for (const phase of ['first', 'unchanged'] as const) {
    const ours = wall(result.samples.ours, phase) / floor;
    const restic = wall(result.samples.restic, phase) / floor;
    // Only the database has targets against its floor: pg_dump alone.
    let limit: number | undefined;
    if (result.subject.name === 'database') limit = phase === 'first' ? 1.3 : 1.1;
    rows.push([`${phase} backup over the floor`, fixed(ours), fixed(restic), '', limit ? `ours <= ${limit}` : '',
      limit ? verdict(ours, limit, false) : '']);
  }
  return rows;
}

function table(rows: Row[]): string[] {
  return ['| metric | bgapp-backup | restic | ours / restic | target | result |', '| --- | ---: | ---: | ---: | --- | --- |',
    ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

/** Renders the whole report as Markdown. */
export function renderReport(header: ReportHeader, results: SubjectResult[], index: IndexMemory | undefined,
  profiles: Map<string, PhaseProfile[]>, failures: { title: string; message: string }[] = []): string {
  const lines = ['# Benchmarks', '', `Measured ${header.startedAt} with:`, '', '```sh', header.command, '```', '',
    `Scale \`${header.scale}\`, ${header.rounds} ${header.rounds === 1 ? 'round' : 'rounds'} per dataset, ${fixed(header.minutes, 1)} minutes in all.`, '',
    '## Machine', '', ...header.machine.map((m) => `- ${m}`), ''];
  for (const result of results) {
    lines.push(`## ${result.subject.title}`, '', `${result.subject.describe}.`, '', ...table([...datasetRows(result), ...floorRows(result)]), '');
    for (const profile of profiles.get(result.subject.name) ?? []) {
      if (profile.threads.length > 0) lines.push(...profileLines(profile), '');
    }
  }
  for (const failure of failures) {
    lines.push(`## ${failure.title}: failed`, '', 'The run stopped on this error, so this dataset has no results:', '',
      '```', ...failureSummary(failure.message), '```', '');
  }
  if (index) {
    lines.push('## Index memory per blob', '',
      `Opening a repository of ${index.blobs} small data blobs grows the heap by ${fixed(index.heapBytesPerBlob, 0)} bytes per blob ` +
        `(resident memory by ${fixed(index.rssBytesPerBlob, 0)} bytes per blob), measured by \`node --expose-gc bench/index-memory.ts ${index.blobs}\`.`, '');
  }
  return `${lines.join('\n')}\n`;
}

/** Keeps the command and the error's name and message, leaving out stack frames and dumped objects. */
function failureSummary(message: string): string[] {
  const lines = message.split('\n').filter((line) => line.trim() !== '' && !/^\s+at /.test(line));
  return lines.slice(0, 8);
}

function profileLines({ phase, threads }: PhaseProfile): string[] {
  const lines = [`Self time of bgapp-backup's ${phase} under \`node --cpu-prof\`, top functions per thread (busy is the share of samples not idle):`, '',
    '| thread | function | self ms | share |', '| --- | --- | ---: | ---: |'];
  for (const entries of threads) {
    for (const e of entries) lines.push(`| ${e.thread} | \`${e.fn}\` | ${fixed(e.selfMillis, 0)} | ${fixed(e.share * 100, 1)}% |`);
  }
  return lines;
}
