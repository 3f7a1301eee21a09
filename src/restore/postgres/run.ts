/**
 * The three pg_restore runs of a restore: listing the archive's table of
 * contents, printing the SQL of index and sequence entries to find their
 * tables, and the restore itself with a `--use-list` file.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BackupError } from '../../errors/index.ts';
import {
  commandLine,
  pgCommand,
  pgConnectedCommand,
  type PgCommand,
  type PgTarget,
  type PgToolOptions,
} from '../../sources/postgres/index.ts';
import { classifyRestoreErrors, runWithInput } from './pg-restore.ts';
import { OwnerScanner, parseToc, type TocEntry } from './toc.ts';

/** The dump, opened anew for each pg_restore run. */
export interface ArchiveInput {
  open(): Readable;
}

/** Lists the archive's table of contents. */
export async function listArchive(
  input: ArchiveInput,
  tools: PgToolOptions,
  signal: AbortSignal,
): Promise<TocEntry[]> {
  const cmd = pgCommand('pg_restore', ['--list'], tools, true);
  const result = await runWithInput(cmd, input.open(), signal);
  if (result.exitCode !== 0) throw restoreFailed(cmd, result.exitCode, result.stderr);
  return parseToc(result.stdout);
}

/** Maps INDEX and SEQUENCE entries to their tables from the SQL pg_restore prints for them. */
export async function scanOwners(
  input: ArchiveInput,
  toc: readonly TocEntry[],
  tools: PgToolOptions,
  signal: AbortSignal,
): Promise<Map<string, string>> {
  const scannedTypes = new Set(['INDEX', 'SEQUENCE', 'SEQUENCE OWNED BY']);
  const list = toc.map((entry) => (scannedTypes.has(entry.desc) ? entry.line : `;${entry.line}`));
  const scanner = new OwnerScanner();
  await withListFile(`${list.join('\n')}\n`, tools, signal, async (listPath) => {
    const cmd = pgCommand('pg_restore', [`--use-list=${listPath}`, '--file=-'], tools, true);
    const result = await runWithInput(cmd, input.open(), signal, (line) => scanner.add(line));
    if (result.exitCode !== 0) throw restoreFailed(cmd, result.exitCode, result.stderr);
  });
  return scanner.owners;
}

/** Settings of the restoring pg_restore run. */
export interface RestoreSettings {
  jobs: number;
  noOwner: boolean;
}

/**
 * Restores the entries of `list` into `target`. Returns the tolerated
 * errors and fails with ERR_PG_RESTORE_FAILED on any other error.
 */
export async function restoreArchive(
  archive: ArchiveInput | string,
  list: string,
  target: PgTarget,
  tools: PgToolOptions,
  settings: RestoreSettings,
  signal: AbortSignal,
): Promise<string[]> {
  return withListFile(list, tools, signal, async (listPath) => {
    const args = [`--use-list=${listPath}`];
    if (settings.noOwner) args.push('--no-owner', '--no-privileges');
    if (typeof archive === 'string') args.push(`--jobs=${settings.jobs}`, archive);
    const cmd = pgConnectedCommand('pg_restore', args, target, tools);
    const input = typeof archive === 'string' ? undefined : archive.open();
    const result = await runWithInput(cmd, input, signal);

    const errors = classifyRestoreErrors(result.stderr);
    if (errors.fatal.length > 0 || (result.exitCode !== 0 && errors.tolerated.length === 0)) {
      const quoted = errors.fatal.length > 0 ? errors.fatal.slice(0, 5).join('\n') : result.stderr;
      throw restoreFailed(cmd, result.exitCode, quoted);
    }
    return errors.tolerated;
  });
}

/**
 * Writes a `--use-list` file where pg_restore can read it, calls `use` with
 * its path and deletes it. In a container the file is written through
 * `docker exec -i CONTAINER sh`, because the container cannot see this
 * machine's files.
 */
async function withListFile<T>(
  list: string,
  tools: PgToolOptions,
  signal: AbortSignal,
  use: (path: string) => Promise<T>,
): Promise<T> {
  if (tools.container === undefined) {
    const folder = await mkdtemp(join(tmpdir(), 'bgapp-restore-list-'));
    try {
      const path = join(folder, 'restore.list');
      await writeFile(path, list, { mode: 0o600 });
      return await use(path);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  }
  const path = `/tmp/bgapp-restore-${randomUUID()}.list`;
  await runInContainer(tools, ['sh', '-c', 'cat > "$0"', path], list, signal);
  try {
    return await use(path);
  } finally {
    await runInContainer(tools, ['rm', '-f', path], undefined, signal);
  }
}

async function runInContainer(
  tools: PgToolOptions,
  args: string[],
  stdin: string | undefined,
  signal: AbortSignal,
): Promise<void> {
  const container = tools.container ?? '';
  const cmd: PgCommand = {
    file: 'docker',
    args: ['exec', ...(stdin === undefined ? [] : ['-i']), container, ...args],
    env: { ...(tools.env ?? process.env) },
  };
  const input = stdin === undefined ? undefined : Readable.from([Buffer.from(stdin)]);
  const result = await runWithInput(cmd, input, signal);
  if (result.exitCode !== 0) throw restoreFailed(cmd, result.exitCode, result.stderr);
}

function restoreFailed(cmd: PgCommand, exitCode: number, stderr: string): BackupError {
  return new BackupError('ERR_PG_RESTORE_FAILED', `${commandLine(cmd).slice(0, 5).join(' ')} ` +
    `failed with status ${exitCode}: ${stderr || 'no error output'}`);
}

