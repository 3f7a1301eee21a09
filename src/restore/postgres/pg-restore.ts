/**
 * Runs pg_restore with the dump streamed from the snapshot into its stdin,
 * and sorts its error output into tolerated and fatal messages.
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  collectText,
  spawnCommand,
  waitForExit,
  type PgCommand,
} from '../../sources/postgres/index.ts';

/** Exit status and error output of a finished program. */
export interface ProgramResult {
  exitCode: number;
  stderr: string;
}

/**
 * Runs `cmd` with `input` on stdin. The program may exit before reading all
 * of it (pg_restore --list stops after the table of contents), so a broken
 * pipe is not an error: the exit status decides.
 */
export async function runWithInput(
  cmd: PgCommand,
  input: Readable | undefined,
  signal: AbortSignal,
  onStdoutLine?: (line: string) => void,
): Promise<ProgramResult & { stdout: string }> {
  const child = spawnCommand(cmd, input ? 'pipe' : 'ignore', signal);
  const stderr = collectText(child.stderr);
  const stdout = onStdoutLine
    ? readLines(child, onStdoutLine)
    : collectText(child.stdout, 16 << 20);
  const exited = waitForExit(child);
  const fed =
    input && child.stdin ? pipeline(input, child.stdin).catch(ignoreBrokenPipe) : undefined;
  const exitCode = await exited;
  if (fed) {
    input?.destroy();
    await fed;
  }
  return { exitCode, stderr: stderr(), stdout: typeof stdout === 'function' ? stdout() : '' };
}

function readLines(child: ChildProcess, onLine: (line: string) => void): undefined {
  if (!child.stdout) return undefined;
  createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', onLine);
  return undefined;
}

function ignoreBrokenPipe(err: unknown): void {
  const code = (err as NodeJS.ErrnoException).code;
  const brokenPipe = ['EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED'];
  if (code === undefined || !brokenPipe.includes(code)) throw err;
}

/** pg_restore's errors, split into tolerated and fatal ones. */
export interface ClassifiedErrors {
  tolerated: string[];
  fatal: string[];
}

// Messages that mean an object the target already had: an extension or a
// schema from the template, or a built-in spatial_ref_sys row.
const TOLERATED = [
  /ERROR:\s+extension "[^"]+" already exists/,
  /ERROR:\s+schema "[^"]+" already exists/,
  /ERROR:\s+duplicate key value violates unique constraint "spatial_ref_sys_pkey"/,
];

/** Splits pg_restore's stderr into one message per error and sorts them. */
export function classifyRestoreErrors(stderr: string): ClassifiedErrors {
  const result: ClassifiedErrors = { tolerated: [], fatal: [] };
  for (const block of errorBlocks(stderr)) {
    if (TOLERATED.some((pattern) => pattern.test(block))) result.tolerated.push(block);
    else result.fatal.push(block);
  }
  return result;
}

function errorBlocks(stderr: string): string[] {
  const blocks: string[] = [];
  let current: string[] | undefined;
  for (const line of stderr.split('\n')) {
    if (line.startsWith('pg_restore: error:')) {
      if (current) blocks.push(current.join('\n'));
      current = [line];
    } else if (line.startsWith('pg_restore:')) {
      if (current) blocks.push(current.join('\n'));
      current = undefined;
    } else if (current) {
      current.push(line);
    }
  }
  if (current) blocks.push(current.join('\n'));
  return blocks;
}
