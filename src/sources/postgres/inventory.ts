/**
 * Reads what a restore is verified against: row counts, large objects,
 * extensions and roles, all inside one exported snapshot that pg_dump then
 * imports, so the counts describe exactly the rows in the dump.
 */
import type pg from 'pg';
import { quoteIdent } from './connection.ts';

/** Facts about a database, read in the dump's snapshot. */
export interface DatabaseInventory {
  databaseOwner: string;
  postgisVersion: string | null;
  extensions: Record<string, string>;
  rowCounts: Record<string, number>;
  largeObjects: { count: number; bytes: number };
  roles: string[];
}

/** Server version as SHOW server_version and server_version_num return it. */
export interface ServerVersion {
  text: string;
  num: number;
}

/** Reads the server's version. */
export async function readServerVersion(client: pg.Client): Promise<ServerVersion> {
  const result = await client.query<{ text: string; num: string }>(
    `SELECT current_setting('server_version') AS text,
            current_setting('server_version_num') AS num`,
  );
  const row = result.rows[0];
  if (!row) throw new Error('server returned no version');
  return { text: row.text, num: Number(row.num) };
}

/**
 * Starts a REPEATABLE READ, READ ONLY transaction and exports its snapshot.
 * The transaction must stay open until pg_dump has imported the snapshot.
 */
export async function beginExportedSnapshot(client: pg.Client): Promise<string> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  const result = await client.query<{ name: string }>('SELECT pg_export_snapshot() AS name');
  const name = result.rows[0]?.name;
  if (!name) throw new Error('pg_export_snapshot returned no name');
  return name;
}

/**
 * Reads the inventory inside the transaction that beginExportedSnapshot
 * opened. It may run while pg_dump reads in the same snapshot.
 */
export async function readInventory(client: pg.Client): Promise<DatabaseInventory> {
  // The counts run while pg_dump reads the same tables, so parallel workers
  // would only take CPU from the dump.
  await client.query('SET LOCAL max_parallel_workers_per_gather = 0');
  const extensions = await readExtensions(client);
  return {
    databaseOwner: await readDatabaseOwner(client),
    postgisVersion: extensions.postgis ?? null,
    extensions,
    rowCounts: await countRows(client, await listUserTables(client)),
    largeObjects: await readLargeObjects(client),
    roles: await readRoles(client),
  };
}

async function readDatabaseOwner(client: pg.Client): Promise<string> {
  const result = await client.query<{ owner: string }>(
    `SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = current_database()`,
  );
  return result.rows[0]?.owner ?? '';
}

async function readExtensions(client: pg.Client): Promise<Record<string, string>> {
  const result = await client.query<{ extname: string; extversion: string }>(
    'SELECT extname, extversion FROM pg_extension ORDER BY extname',
  );
  return Object.fromEntries(result.rows.map((row) => [row.extname, row.extversion]));
}

/** A table as schema and name. */
export interface TableName {
  schema: string;
  table: string;
}

/**
 * Lists ordinary and partitioned tables outside the system schemas that no
 * extension owns. Tables an extension owns, such as spatial_ref_sys, are
 * left out because the extension creates them with its own rows.
 */
export async function listUserTables(client: pg.Client): Promise<TableName[]> {
  const result = await client.query<TableName>(
    `SELECT n.nspname AS schema, c.relname AS table
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p')
        AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d
                         WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                           AND d.deptype = 'e')
      ORDER BY 1, 2`,
  );
  return result.rows;
}

/** Maximum number of tables counted by one query, each adding about 100 bytes of SQL. */
const COUNT_BATCH_TABLES = 100;

/**
 * Counts each table's rows exactly with count(*), keyed "schema.table". One
 * query counts up to COUNT_BATCH_TABLES tables, to save a round trip for each.
 */
export async function countRows(
  client: pg.Client,
  tables: readonly TableName[],
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let start = 0; start < tables.length; start += COUNT_BATCH_TABLES) {
    const batch = tables.slice(start, start + COUNT_BATCH_TABLES);
    const selects = batch.map(({ schema, table }, i) =>
      `SELECT ${i} AS i, count(*) AS count FROM ${quoteIdent(schema)}.${quoteIdent(table)}`);
    const result = await client.query<{ i: number; count: string }>(selects.join(' UNION ALL '));
    for (const row of result.rows) {
      const name = batch[row.i];
      if (name) counts[`${name.schema}.${name.table}`] = Number(row.count);
    }
  }
  return counts;
}

/**
 * Counts large objects and sums their sizes. Each size is the end offset of
 * the object opened for reading (INV_READ is 0x40000), which works for any
 * role that may read the objects, unlike reading pg_largeobject.
 */
export async function readLargeObjects(
  client: pg.Client,
): Promise<{ count: number; bytes: number }> {
  // NOTE: every object stays open until the transaction ends, so databases with
  // millions of large objects hold as many descriptors in the server session.
  const result = await client.query<{ count: string; bytes: string }>(
    `SELECT count(*) AS count,
            coalesce(sum(lo_lseek64(lo_open(oid, 262144), 0, 2)), 0) AS bytes
       FROM pg_largeobject_metadata`,
  );
  const row = result.rows[0];
  return { count: Number(row?.count ?? 0), bytes: Number(row?.bytes ?? 0) };
}

/**
 * Lists the roles that own objects of the database or hold grants on them.
 * pg_shdepend has both kinds except for the bootstrap superuser, which is
 * pinned, so the owners of schemas and relations are added directly.
 */
async function readRoles(client: pg.Client): Promise<string[]> {
  const result = await client.query<{ rolname: string }>(
    `WITH db AS (SELECT oid, datdba FROM pg_database WHERE datname = current_database())
     SELECT DISTINCT r.rolname FROM (
         SELECT refobjid AS oid FROM pg_shdepend
          WHERE dbid = (SELECT oid FROM db) AND refclassid = 'pg_authid'::regclass
         UNION SELECT datdba FROM db
         UNION SELECT nspowner FROM pg_namespace
          WHERE nspname NOT IN ('pg_catalog', 'information_schema')
            AND nspname NOT LIKE 'pg\\_%'
         UNION SELECT c.relowner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
            AND n.nspname NOT LIKE 'pg\\_%'
         UNION SELECT lomowner FROM pg_largeobject_metadata
       ) owners
       JOIN pg_roles r ON r.oid = owners.oid
      WHERE r.rolname NOT LIKE 'pg\\_%'
      ORDER BY 1`,
  );
  return result.rows.map((row) => row.rolname);
}
