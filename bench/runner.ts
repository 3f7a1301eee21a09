/**
 * Runs the rounds of one dataset: in each round both tools, in alternating
 * order, do a first backup, an unchanged backup, a backup after a day's
 * change, a restore and `check --read-data`, each into a fresh repository.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { measure, type Measurement } from './measure.ts';
import type { Subject } from './subjects.ts';
import { checkCommand, initCommand, newToolRun, ours, repositoryBytes, type Tool, type ToolRun } from './tools.ts';

/** The phases measured in each tool run. */
export const PHASES = ['first', 'unchanged', 'changed', 'restore', 'check'] as const;
/** One measured phase. */
export type Phase = (typeof PHASES)[number];

/** Measurements of one tool run. */
export interface ToolSample {
  phases: Record<Phase, Measurement>;
  /** Repository size after the first backup. */
  repoBytes: number;
  /** Bytes the backup after the change added to the repository. */
  changedBytes: number;
}

/** Every sample of one dataset. */
export interface SubjectResult {
  subject: Subject;
  samples: Record<Tool, ToolSample[]>;
  floors: Measurement[];
}

/** Settings shared by every run. */
export interface RunnerOptions {
  workDir: string;
  passwordFile: string;
  rounds: number;
  timeoutMillis: number;
  onStep: (message: string) => void;
}

/** Runs every round of one dataset. */
export async function runSubject(subject: Subject, opts: RunnerOptions): Promise<SubjectResult> {
  const result: SubjectResult = { subject, samples: { ours: [], restic: [] }, floors: [] };
  for (let round = 0; round < opts.rounds; round++) {
    const floor = subject.floor?.(round);
    if (floor) {
      opts.onStep(`${subject.name} round ${round + 1}: ${floor.label}`);
      result.floors.push(await measure(floor.script, { timeoutMillis: opts.timeoutMillis }));
    }
    const order: Tool[] = round % 2 === 0 ? ['ours', 'restic'] : ['restic', 'ours'];
    for (const tool of order) {
      opts.onStep(`${subject.name} round ${round + 1}: ${tool}`);
      result.samples[tool].push(await runTool(subject, tool, round, opts));
    }
  }
  return result;
}

/** Runs one tool's phases on a fresh repository, then undoes the change and removes its folder. */
export async function runTool(subject: Subject, tool: Tool, round: number, opts: RunnerOptions,
  extraEnv: Record<string, string> = {}): Promise<ToolSample> {
  const base = join(opts.workDir, subject.name);
  const run = await newToolRun(tool, round, base, opts.passwordFile, (r) => subject.oursSource(r));
  Object.assign(run.env, extraEnv);
  try {
    await subject.prepare(run);
    const step = (script: string) => measure(script, { env: run.env, timeoutMillis: opts.timeoutMillis });
    const backup = tool === 'ours' ? ours('backup') : subject.resticBackup(run);
    await step(initCommand(run));
    const first = await step(backup);
    const repoBytes = await repositoryBytes(run.repo);
    const unchanged = await step(backup);
    const beforeChange = await repositoryBytes(run.repo);
    await subject.change(run, 1);
    const changed = await step(backup);
    const changedBytes = (await repositoryBytes(run.repo)) - beforeChange;
    const target = join(run.dir, 'restored');
    const restore = await step(subject.restore(run, target));
    await rm(target, { recursive: true, force: true });
    const check = await step(checkCommand(run));
    return { phases: { first, unchanged, changed, restore, check }, repoBytes, changedBytes };
  } finally {
    await subject.change(run, 0);
    await subject.cleanup(run);
    await rm(run.dir, { recursive: true, force: true });
  }
}

/** Phases that `profileOurs` profiles, each into a folder of `profileDir` named by `phaseFolder`. */
export const PROFILED_PHASES = ['first backup', 'restore', 'check --read-data'] as const;

/** Returns the folder name of a profiled phase: its words joined by dashes, without spaces for NODE_OPTIONS. */
export function phaseFolder(phase: string): string {
  return phase.replace(/[^a-z]+/g, '-').replace(/^-|-$/g, '');
}

/**
 * Runs bgapp-backup's first backup of a dataset, a restore and
 * `check --read-data` under `node --cpu-prof`, writing each phase's profiles
 * into a folder of `profileDir` (see `phaseFolder`).
 */
export async function profileOurs(subject: Subject, opts: RunnerOptions, profileDir: string): Promise<void> {
  const base = join(opts.workDir, subject.name);
  const run = await newToolRun('ours', 99, base, opts.passwordFile, (r) => subject.oursSource(r));
  const profiled = (phase: (typeof PROFILED_PHASES)[number], script: string) =>
    measure(script, {
      env: { ...run.env, NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${join(profileDir, phaseFolder(phase))}` },
      timeoutMillis: opts.timeoutMillis,
    });
  try {
    await subject.prepare(run);
    await measure(initCommand(run), { env: run.env, timeoutMillis: opts.timeoutMillis });
    await profiled('first backup', ours('backup'));
    const target = join(run.dir, 'restored');
    await profiled('restore', subject.restore(run, target));
    await rm(target, { recursive: true, force: true });
    await profiled('check --read-data', checkCommand(run));
  } finally {
    await subject.cleanup(run);
    await rm(run.dir, { recursive: true, force: true });
  }
}
