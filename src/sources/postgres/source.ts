/**
 * The `postgres` source: exports a snapshot, then at the same time counts
 * rows in it, streams a custom-format pg_dump taken in that same snapshot,
 * and streams the cluster's roles from pg_dumpall --globals-only.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { BackupError, errorMessage, isBackupError } from '../../errors/index.ts';
import type { NodeMeta } from '../../snapshot/index.ts';
import type {
  PostgresManifest,
  PostgresSourceConfig,
  Source,
  SourceBackupContext,
} from '../types.ts';
import { cancelBackend, connectPostgres, parsePostgresUrl, type PgTarget } from './connection.ts';
import { streamCommandToFile } from './dump.ts';
import { watchLockWaits } from './lock-watch.ts';
import {
  beginExportedSnapshot,
  readInventory,
  readServerVersion,
  type DatabaseInventory,
  type ServerVersion,
} from './inventory.ts';
import {
  commandLine,
  DUMP_OUTPUT_BUFFER_BYTES,
  parseVersionOutput,
  pgCommand,
  pgConnectedCommand,
  runCommand,
  serverMajor,
  withOutputBuffer,
  type CommandResult,
  type PgCommand,
  type PgProgram,
  type PgToolOptions,
  type PgVersion,
} from './tools.ts';

/** Name of the roles file in the source's folder of the snapshot. */
export const GLOBALS_FILE = 'globals.sql';

/** Replaceable parts of the source, for tests. */
export interface PostgresSourceDeps {
  /** Environment of pg_dump, pg_dumpall and docker; process.env when unset. */
  env?: NodeJS.ProcessEnv;
  /** Timing of the lock watch; see `watchLockWaits`. */
  lockWatch?: { everyMillis: number; reportAfterMillis: number };
}

/** Creates the `postgres` source for one database. */
export function createPostgresSource(
  config: PostgresSourceConfig,
  deps: PostgresSourceDeps = {},
): Source {
  return {
    type: 'postgres',
    name: config.name,
    // pg_dump reads the catalogs while the key is derived, then waits in its pipe.
    startsEarly: true,
    backup: (ctx) => backupPostgres(config, deps, ctx),
  };
}

async function backupPostgres(
  config: PostgresSourceConfig,
  deps: PostgresSourceDeps,
  ctx: SourceBackupContext,
): Promise<PostgresManifest> {
  const readAt = new Date();
  const target = parsePostgresUrl(config.url, deps.env);
  // Names this backup's sessions on the server, for the lock watch and for a
  // database administrator reading pg_stat_activity.
  const applicationName = `bgapp-backup ${randomBytes(3).toString('hex')}`;
  const tools: PgToolOptions = {
    applicationName,
    ...(config.bin_dir === undefined ? {} : { binDir: config.bin_dir }),
    ...(config.container === undefined ? {} : { container: config.container }),
    ...(deps.env === undefined ? {} : { env: deps.env }),
  };
  const logger = ctx.logger.child({ source: config.name, database: target.database });
  ctx.onEvent({ type: 'source-start', source: config.name });

  const versionOutput = runPgDumpVersion(tools, ctx.signal);
  // A failed connection throws before this promise is awaited, so its rejection is handled here.
  versionOutput.catch(() => {});
  const client = await connectPostgres(config.url, { applicationName });
  const stopWatch = watchLockWaits({
    url: config.url,
    applicationName,
    logger,
    ...deps.lockWatch,
  });
  try {
    const server = await readServerVersion(client);
    const pgDumpVersion = checkPgDumpVersion(await versionOutput, server, config.name);
    logger.info({ server: server.text, pgDump: pgDumpVersion.text }, 'postgres versions checked');

    const exportedSnapshot = await beginExportedSnapshot(client);
    const backendPid = await readBackendPid(client);
    const meta: NodeMeta = { mode: 0o600, mtime: readAt };
    const { inventory, dump, globals } = await readConcurrently(ctx, (signal) => ({
      inventory: cancelOnAbort(readInventory(client), signal, () =>
        cancelBackend(config.url, backendPid).catch((err: unknown) => {
          logger.warn({ err, backendPid }, 'failed to cancel the row counts');
        }),
      ),
      dump: dumpDatabase(target, tools, exportedSnapshot, meta, ctx, signal),
      globals: config.globals ? dumpGlobals(target, tools, meta, ctx, signal) : null,
    }));
    await client.query('COMMIT');
    const tables = Object.keys(inventory.rowCounts).length;
    logger.info({ bytes: dump.bytes, tables }, 'dump stored');

    ctx.onEvent({ type: 'source-done', source: config.name });
    return {
      type: 'postgres',
      name: config.name,
      readAt: readAt.toISOString(),
      finishedAt: new Date().toISOString(),
      database: target.database,
      serverVersion: server.text,
      serverVersionNum: server.num,
      pgDumpVersion: pgDumpVersion.text,
      exportedSnapshot,
      ...inventory,
      dump,
      globals,
    };
  } finally {
    await stopWatch();
    await endQuietly(client);
  }
}

/** The three reads of a backup that run at the same time. */
interface ConcurrentReads {
  inventory: Promise<DatabaseInventory>;
  dump: Promise<PostgresManifest['dump']>;
  globals: Promise<PostgresManifest['globals']> | null;
}

/**
 * Runs the row counts, pg_dump and pg_dumpall at the same time, because each
 * waits on a different process. The counts still see exactly the dump's rows:
 * they run in the transaction whose snapshot pg_dump imports. When one read
 * fails, the signal stops the programs still running, and that first error
 * is thrown once every read has settled.
 */
async function readConcurrently(
  ctx: SourceBackupContext,
  start: (signal: AbortSignal) => ConcurrentReads,
): Promise<{
  inventory: DatabaseInventory;
  dump: PostgresManifest['dump'];
  globals: PostgresManifest['globals'];
}> {
  const controller = new AbortController();
  const signal = AbortSignal.any([ctx.signal, controller.signal]);
  const reads = start(signal);
  // The first failure is the cause, and the reads it stops then fail with an AbortError.
  let firstFailure: { reason: unknown } | undefined;
  const all = [reads.inventory, reads.dump, reads.globals];
  for (const read of all) {
    read?.catch((reason: unknown) => {
      firstFailure ??= { reason };
      controller.abort();
    });
  }
  await Promise.allSettled(all);
  if (firstFailure) throw firstFailure.reason;
  return {
    inventory: await reads.inventory,
    dump: await reads.dump,
    globals: reads.globals === null ? null : await reads.globals,
  };
}

/**
 * Runs `pg_dump --version`, failing with ERR_PG_DUMP_FAILED when it cannot be
 * started, or ERR_ABORTED when `signal` stops it.
 */
async function runPgDumpVersion(
  tools: PgToolOptions,
  signal: AbortSignal,
): Promise<{ cmd: PgCommand; output: CommandResult }> {
  const cmd = pgCommand('pg_dump', ['--version'], tools);
  try {
    return { cmd, output: await runCommand(cmd, signal) };
  } catch (err) {
    if (signal.aborted) throw stoppedError('pg_dump', signal, err);
    const message = `cannot run ${commandLine(cmd).join(' ')}: ${errorMessage(err)}; ` +
      'install the PostgreSQL client programs or set bin_dir';
    throw new BackupError('ERR_PG_DUMP_FAILED', message, { cause: err });
  }
}

/** Fails with ERR_PG_DUMP_TOO_OLD when pg_dump's major version is older than the server's. */
function checkPgDumpVersion(
  { cmd, output }: { cmd: PgCommand; output: CommandResult },
  server: ServerVersion,
  sourceName: string,
): PgVersion {
  const version = parseVersionOutput(output.stdout);
  if (output.code !== 0 || version === undefined) {
    throw new BackupError('ERR_PG_DUMP_FAILED', `${commandLine(cmd).join(' ')} failed with ` +
      `status ${output.code}: ${output.stderr || output.stdout || 'no output'}`);
  }
  const major = serverMajor(server.num);
  if (version.major < major) {
    throw new BackupError('ERR_PG_DUMP_TOO_OLD', `pg_dump ${version.text} is older than the ` +
      `PostgreSQL ${server.text} server of source "${sourceName}"; install pg_dump ${major} or ` +
      'newer and set bin_dir to its folder, or set container: to run the server\'s own pg_dump');
  }
  return version;
}

async function dumpDatabase(
  target: PgTarget,
  tools: PgToolOptions,
  exportedSnapshot: string,
  meta: NodeMeta,
  ctx: SourceBackupContext,
  signal: AbortSignal,
): Promise<PostgresManifest['dump']> {
  // Uncompressed (-Z0) so that unchanged tables deduplicate; the repository
  // compresses every blob. Large objects are in a whole-database dump by default.
  const args = ['--format=custom', '--compress=0', `--snapshot=${exportedSnapshot}`];
  const cmd = pgConnectedCommand('pg_dump', args, target, tools);
  const path = `${target.database}.dump`;
  const buffered = await withOutputBuffer(cmd, DUMP_OUTPUT_BUFFER_BYTES);
  const output = await runToFile('pg_dump', buffered, path, meta, ctx, signal);

  if (output.exitCode !== 0) {
    throw new BackupError('ERR_PG_DUMP_FAILED', `pg_dump of database "${target.database}" ` +
      `exited with status ${output.exitCode}: ${output.stderr || 'no error output'}`);
  }
  if (output.saved.size === 0 || output.header.toString('latin1') !== 'PGDMP') {
    throw new BackupError('ERR_PG_DUMP_FAILED', `pg_dump of database "${target.database}" ` +
      `wrote ${output.saved.size} bytes without the PGDMP header of a custom-format archive: ` +
      `${output.stderr || 'no error output'}`);
  }
  ctx.onEvent({ type: 'item', source: target.database, item: path, bytes: output.saved.size });
  return { path, bytes: output.saved.size, sha256: output.saved.sha256, command: commandLine(cmd) };
}

async function dumpGlobals(
  target: PgTarget,
  tools: PgToolOptions,
  meta: NodeMeta,
  ctx: SourceBackupContext,
  signal: AbortSignal,
): Promise<PostgresManifest['globals']> {
  const cmd = pgConnectedCommand('pg_dumpall', ['--globals-only'], target, tools);
  const output = await runToFile('pg_dumpall', cmd, GLOBALS_FILE, meta, ctx, signal);
  if (output.exitCode !== 0) {
    throw new BackupError('ERR_PG_DUMP_FAILED', `pg_dumpall --globals-only exited with status ` +
      `${output.exitCode}: ${output.stderr || 'no error output'}; it needs a superuser, ` +
      'or set globals: false');
  }
  return { path: GLOBALS_FILE, bytes: output.saved.size, sha256: output.saved.sha256 };
}

async function runToFile(
  program: PgProgram,
  cmd: PgCommand,
  path: string,
  meta: NodeMeta,
  ctx: SourceBackupContext,
  signal: AbortSignal,
) {
  try {
    return await streamCommandToFile(cmd, ctx.writer, [path], meta, signal);
  } catch (err) {
    if (signal.aborted && isBackupError(err, 'ERR_ABORTED')) {
      throw stoppedError(program, signal, err);
    }
    if (err instanceof BackupError) throw err;
    const message = `cannot run ${commandLine(cmd).join(' ')}: ${errorMessage(err)}`;
    throw new BackupError('ERR_PG_DUMP_FAILED', message, { cause: err });
  }
}

/**
 * Returns ERR_ABORTED for `program` stopped because `signal` aborted. The
 * command line's abort reason names the signal, such as "the run was
 * interrupted by SIGINT".
 */
function stoppedError(program: string, signal: AbortSignal, cause: unknown): BackupError {
  const reason = errorMessage(signal.reason);
  return new BackupError('ERR_ABORTED', `${program} was stopped because ${reason}`, { cause });
}

async function readBackendPid(client: pg.Client): Promise<number> {
  const result = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return result.rows[0]!.pid;
}

/**
 * Returns `work`, calling `cancel` when `signal` aborts first. The row counts
 * need it: a count that waits on a table lock (a migration's, for example)
 * notices no abort, and kept an interrupted run alive until it was killed.
 */
async function cancelOnAbort<T>(work: Promise<T>, signal: AbortSignal, cancel: () => Promise<void>): Promise<T> {
  const onAbort = (): void => {
    void cancel();
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await work;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

async function endQuietly(client: pg.Client): Promise<void> {
  try {
    await client.end();
  } catch {
    // The connection is already gone; the transaction ended with it.
  }
}
