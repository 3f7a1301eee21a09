/**
 * Restores a `postgres` source from a snapshot into a database: checks that
 * the target is empty, applies roles, runs pg_restore with a filtered table
 * of contents, and verifies the result against the manifest.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { BackupError } from '../../errors/index.ts';
import type { TreeNode } from '../../snapshot/index.ts';
import {
  connectPostgres,
  parsePostgresUrl,
  withDatabase,
  type PgTarget,
  type PgToolOptions,
} from '../../sources/postgres/index.ts';
import type { PostgresManifest } from '../../sources/types.ts';
import type { RestoreContext, RestoreReport } from '../types.ts';
import { applyGlobals, requireRoles } from './roles.ts';
import { createDatabase, dropDatabase, inspectTarget, readExisting } from './target.ts';
import { listArchive, restoreArchive, scanOwners, type ArchiveInput } from './run.ts';
import { filterToc, parseTableSelectors, resolveTables, type TocFilter } from './toc.ts';
import { verifyDatabase } from './verify.ts';

/** Settings of a PostgreSQL restore. */
export interface PostgresRestoreOptions {
  /** Database to restore into; created when it does not exist. */
  targetUrl: string;
  /** Restore only these tables, "schema.table" or "table" in any schema. */
  tables?: string[];
  /** Create the roles of globals.sql that the target cluster lacks, before restoring. */
  roles: boolean;
  /** Restore without owners and grants (pg_restore --no-owner --no-privileges). */
  noOwner?: boolean;
  /** Parallel pg_restore jobs; above 1 the dump is first copied to a temporary file. */
  jobs?: number;
  /** Folder of the local pg_restore; PATH when unset. */
  binDir?: string;
  /** Container to run pg_restore in with `docker exec`. */
  container?: string;
  /** Environment of pg_restore and docker; process.env when unset. */
  env?: NodeJS.ProcessEnv;
}

/** Restores the snapshot's dump into `options.targetUrl` and verifies it. */
export async function restorePostgres(
  ctx: RestoreContext<PostgresManifest>,
  options: PostgresRestoreOptions,
): Promise<RestoreReport> {
  const target = parsePostgresUrl(options.targetUrl, options.env);
  const tools = toolOptions(options);
  const jobs = checkJobs(options);
  const dumpNode = await findFile(ctx, ctx.manifest.dump.path);
  const notes: string[] = [];
  const input: ArchiveInput = { open: () => ctx.reader.openFile(dumpNode) };
  ctx.onEvent({ type: 'source-start', source: ctx.manifest.name });

  await prepareTarget(ctx, options, target, notes);
  const toc = await listArchive(input, tools, ctx.signal);

  const client = await connectPostgres(options.targetUrl);
  try {
    const existing = await readExisting(client);
    const filter: TocFilter = {
      existingExtensions: existing.extensions,
      existingSchemas: existing.schemas,
    };
    if (options.tables !== undefined) {
      filter.tables = resolveTables(toc, parseTableSelectors(options.tables));
      filter.owners = await scanOwners(input, toc, tools, ctx.signal);
      notes.push('foreign keys are not restored with --table, because they may name other tables');
    }
    const list = filterToc(toc, filter);

    const tolerated = await withLocalDump(input, jobs, ctx.signal, notes, (archive) =>
      restoreArchive(archive, list, target, tools, { jobs, noOwner: options.noOwner === true },
        ctx.signal));
    if (tolerated.length > 0) {
      notes.push(`pg_restore reported ${tolerated.length} tolerated errors about objects the ` +
        `target already had:`, ...tolerated.map(firstLine));
    }

    const differences = await verifyDatabase(client, ctx.manifest, filter.tables);
    ctx.onEvent({ type: 'source-done', source: ctx.manifest.name });
    const logFields = { database: target.database, differences: differences.length };
    ctx.logger.info(logFields, 'restore verified');
    return {
      source: ctx.manifest.name,
      type: 'postgres',
      target: target.url,
      verified: differences.length === 0,
      differences,
      notes,
    };
  } finally {
    await client.end();
  }
}

/**
 * Rejects a target that is not empty unless forced, applies roles, checks
 * that the roles the dump needs exist, then drops and creates the database
 * as needed. Nothing is changed before the emptiness check passes.
 */
async function prepareTarget(
  ctx: RestoreContext<PostgresManifest>,
  options: PostgresRestoreOptions,
  target: PgTarget,
  notes: string[],
): Promise<void> {
  const admin = await connectPostgres(withDatabase(options.targetUrl, 'postgres'));
  try {
    const state = await inspectTarget(admin, options.targetUrl, target.database);
    const replace = state.exists && state.contents.length > 0;
    if (replace && !ctx.force) {
      const message = `target database "${target.database}" is not empty ` +
        `(${state.contents.join(', ')}); restore into a new or empty database, ` +
        'or use --force to drop and recreate it';
      throw new BackupError('ERR_RESTORE_TARGET_NOT_EMPTY', message);
    }
    if (options.roles) await applyRoles(ctx, admin, notes);
    if (options.noOwner !== true) await requireRoles(admin, ctx.manifest.roles);

    if (replace) {
      await dropDatabase(admin, target.database);
      notes.push(`dropped and recreated database "${target.database}" (--force)`);
    }
    if (!state.exists || replace) {
      const owner = await createDatabase(admin, target.database, ctx.manifest.databaseOwner);
      notes.push(`created database "${target.database}" from template0` +
        (owner ? ` owned by ${owner}` : ` owned by ${target.user}`));
    }
  } finally {
    await admin.end();
  }
}

async function applyRoles(
  ctx: RestoreContext<PostgresManifest>,
  admin: pg.Client,
  notes: string[],
): Promise<void> {
  if (ctx.manifest.globals === null) {
    notes.push('the snapshot has no globals.sql, so no roles were created');
    return;
  }
  const node = await findFile(ctx, ctx.manifest.globals.path);
  const result = await applyGlobals(admin, ctx.reader.openFile(node));
  if (result.created.length > 0) notes.push(`created roles: ${result.created.join(', ')}`);
  if (result.skipped.length > 0) notes.push(`not restored: ${result.skipped.join(', ')}`);
}

/**
 * Runs `restore` on the dump: streamed by default, or from a temporary copy
 * when jobs > 1, because parallel pg_restore needs a seekable file.
 */
async function withLocalDump<T>(
  input: ArchiveInput,
  jobs: number,
  signal: AbortSignal,
  notes: string[],
  restore: (archive: ArchiveInput | string) => Promise<T>,
): Promise<T> {
  if (jobs <= 1) return restore(input);
  const folder = await mkdtemp(join(tmpdir(), 'bgapp-restore-'));
  try {
    const file = join(folder, `${randomUUID()}.dump`);
    await pipeline(input.open(), createWriteStream(file, { mode: 0o600 }), { signal });
    notes.push(`the dump was copied to a temporary file for ${jobs} parallel jobs ` +
      'and deleted after');
    return await restore(file);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

async function findFile(ctx: RestoreContext<PostgresManifest>, name: string): Promise<TreeNode> {
  const node = await ctx.reader.lookup([name]);
  if (node?.type !== 'file') {
    throw new BackupError('ERR_SNAPSHOT_NOT_FOUND', `file ${name} of source ` +
      `"${ctx.manifest.name}" is missing from the snapshot; check the snapshot with restic check`);
  }
  return node;
}

function toolOptions(options: PostgresRestoreOptions): PgToolOptions {
  return {
    ...(options.binDir === undefined ? {} : { binDir: options.binDir }),
    ...(options.container === undefined ? {} : { container: options.container }),
    ...(options.env === undefined ? {} : { env: options.env }),
  };
}

function checkJobs(options: PostgresRestoreOptions): number {
  const jobs = options.jobs ?? 1;
  if (!Number.isInteger(jobs) || jobs < 1) {
    const message = `invalid jobs value ${jobs}; expected a whole number of 1 or more`;
    throw new BackupError('ERR_USAGE', message);
  }
  if (jobs > 1 && options.container !== undefined) {
    throw new BackupError('ERR_USAGE', 'parallel jobs need the dump as a file, which a container ' +
      'cannot read from this machine; use jobs 1 with container');
  }
  return jobs;
}

function firstLine(text: string): string {
  return text.split('\n')[0]?.replace(/^pg_restore: error: could not execute query: /, '') ?? text;
}

