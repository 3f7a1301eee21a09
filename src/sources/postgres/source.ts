/**
 * The `postgres` source: counts rows in an exported snapshot, then streams a
 * custom-format pg_dump taken in that same snapshot, and the cluster's roles
 * from pg_dumpall --globals-only, into the snapshot.
 */
import type pg from 'pg';
import { BackupError, errorMessage } from '../../errors/index.ts';
import type { NodeMeta } from '../../snapshot/index.ts';
import type {
  PostgresManifest,
  PostgresSourceConfig,
  Source,
  SourceBackupContext,
} from '../types.ts';
import { connectPostgres, parsePostgresUrl, type PgTarget } from './connection.ts';
import { streamCommandToFile } from './dump.ts';
import {
  beginExportedSnapshot,
  readInventory,
  readServerVersion,
  type ServerVersion,
} from './inventory.ts';
import {
  commandLine,
  parseVersionOutput,
  pgCommand,
  pgConnectedCommand,
  runCommand,
  serverMajor,
  type PgToolOptions,
  type PgVersion,
} from './tools.ts';

/** Name of the roles file in the source's folder of the snapshot. */
export const GLOBALS_FILE = 'globals.sql';

/** Replaceable parts of the source, for tests. */
export interface PostgresSourceDeps {
  /** Environment of pg_dump, pg_dumpall and docker; process.env when unset. */
  env?: NodeJS.ProcessEnv;
}

/** Creates the `postgres` source for one database. */
export function createPostgresSource(
  config: PostgresSourceConfig,
  deps: PostgresSourceDeps = {},
): Source {
  return {
    type: 'postgres',
    name: config.name,
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
  const tools: PgToolOptions = {
    ...(config.bin_dir === undefined ? {} : { binDir: config.bin_dir }),
    ...(config.container === undefined ? {} : { container: config.container }),
    ...(deps.env === undefined ? {} : { env: deps.env }),
  };
  const logger = ctx.logger.child({ source: config.name, database: target.database });
  ctx.onEvent({ type: 'source-start', source: config.name });

  const client = await connectPostgres(config.url);
  try {
    const server = await readServerVersion(client);
    const pgDumpVersion = await checkPgDumpVersion(tools, server, config.name, ctx.signal);
    logger.info({ server: server.text, pgDump: pgDumpVersion.text }, 'postgres versions checked');

    const exportedSnapshot = await beginExportedSnapshot(client);
    const inventory = await readInventory(client);
    const meta: NodeMeta = { mode: 0o600, mtime: readAt };
    const dump = await dumpDatabase(target, tools, exportedSnapshot, meta, ctx);
    await client.query('COMMIT');
    const tables = Object.keys(inventory.rowCounts).length;
    logger.info({ bytes: dump.bytes, tables }, 'dump stored');

    const globals = config.globals ? await dumpGlobals(target, tools, meta, ctx) : null;
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
    await endQuietly(client);
  }
}

/** Fails with ERR_PG_DUMP_TOO_OLD when pg_dump's major version is older than the server's. */
async function checkPgDumpVersion(
  tools: PgToolOptions,
  server: ServerVersion,
  sourceName: string,
  signal: AbortSignal,
): Promise<PgVersion> {
  const cmd = pgCommand('pg_dump', ['--version'], tools);
  let output;
  try {
    output = await runCommand(cmd, signal);
  } catch (err) {
    const message = `cannot run ${commandLine(cmd).join(' ')}: ${errorMessage(err)}; ` +
      'install the PostgreSQL client programs or set bin_dir';
    throw new BackupError('ERR_PG_DUMP_FAILED', message, { cause: err });
  }
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
): Promise<PostgresManifest['dump']> {
  // Uncompressed (-Z0) so that unchanged tables deduplicate; the repository
  // compresses every blob. Large objects are in a whole-database dump by default.
  const args = ['--format=custom', '--compress=0', `--snapshot=${exportedSnapshot}`];
  const cmd = pgConnectedCommand('pg_dump', args, target, tools);
  const path = `${target.database}.dump`;
  const output = await runToFile(cmd, path, meta, ctx, 'ERR_PG_DUMP_FAILED');

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
): Promise<PostgresManifest['globals']> {
  const cmd = pgConnectedCommand('pg_dumpall', ['--globals-only'], target, tools);
  const output = await runToFile(cmd, GLOBALS_FILE, meta, ctx, 'ERR_PG_DUMP_FAILED');
  if (output.exitCode !== 0) {
    throw new BackupError('ERR_PG_DUMP_FAILED', `pg_dumpall --globals-only exited with status ` +
      `${output.exitCode}: ${output.stderr || 'no error output'}; it needs a superuser, ` +
      'or set globals: false');
  }
  return { path: GLOBALS_FILE, bytes: output.saved.size, sha256: output.saved.sha256 };
}

async function runToFile(
  cmd: ReturnType<typeof pgConnectedCommand>,
  path: string,
  meta: NodeMeta,
  ctx: SourceBackupContext,
  code: 'ERR_PG_DUMP_FAILED',
) {
  try {
    return await streamCommandToFile(cmd, ctx.writer, [path], meta, ctx.signal);
  } catch (err) {
    if (err instanceof BackupError) throw err;
    throw new BackupError(code, `cannot run ${commandLine(cmd).join(' ')}: ${errorMessage(err)}`,
      { cause: err });
  }
}

async function endQuietly(client: pg.Client): Promise<void> {
  try {
    await client.end();
  } catch {
    // The connection is already gone; the transaction ended with it.
  }
}
