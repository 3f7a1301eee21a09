/**
 * The target database of a restore: whether it exists, whether it is empty,
 * and dropping and creating it. A database that holds only what extensions
 * install (PostGIS with its schemas and built-in spatial_ref_sys rows)
 * counts as empty.
 */
import type pg from 'pg';
import { connectPostgres, quoteIdent } from '../../sources/postgres/index.ts';

/** State of the target database before the restore. */
export interface TargetState {
  exists: boolean;
  /** Objects and rows found that no extension installed, at most 10. */
  contents: string[];
}

/** Finds whether `database` exists and lists user objects in it. */
export async function inspectTarget(
  admin: pg.Client,
  targetUrl: string,
  database: string,
): Promise<TargetState> {
  const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
  if (found.rowCount === 0) return { exists: false, contents: [] };
  const client = await connectPostgres(targetUrl);
  try {
    const objects = await listUserObjects(client);
    const rows = await listExtensionConfigRows(client);
    return { exists: true, contents: [...objects, ...rows].slice(0, 10) };
  } finally {
    await client.end();
  }
}

// Extension members are recorded in pg_depend with deptype 'e'.
const NOT_EXTENSION_MEMBER = (catalog: string, alias: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '${catalog}'::regclass
     AND d.objid = ${alias}.oid AND d.deptype = 'e')`;
const USER_NAMESPACE = `n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'`;

async function listUserObjects(client: pg.Client): Promise<string[]> {
  // Indexes and TOAST tables follow their table, so only other relation kinds count.
  // Composite types count as types, because the extension owns the type, not the relation.
  // A schema counts when no extension created it and no extension keeps objects in it.
  const result = await client.query<{ item: string }>(
    `SELECT 'relation ' || n.nspname || '.' || c.relname AS item
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${USER_NAMESPACE} AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
        AND ${NOT_EXTENSION_MEMBER('pg_class', 'c')}
     UNION ALL
     SELECT 'function ' || p.oid::regprocedure::text
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE ${USER_NAMESPACE} AND ${NOT_EXTENSION_MEMBER('pg_proc', 'p')}
     UNION ALL
     SELECT 'type ' || t.oid::regtype::text
       FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE ${USER_NAMESPACE} AND t.typtype IN ('b', 'c', 'd', 'e', 'r')
        AND (t.typrelid = 0 OR EXISTS (SELECT 1 FROM pg_class c
                                        WHERE c.oid = t.typrelid AND c.relkind = 'c'))
        AND t.typcategory <> 'A' AND ${NOT_EXTENSION_MEMBER('pg_type', 't')}
     UNION ALL
     SELECT 'schema ' || n.nspname
       FROM pg_namespace n
      WHERE ${USER_NAMESPACE} AND n.nspname <> 'public'
        AND ${NOT_EXTENSION_MEMBER('pg_namespace', 'n')}
        AND NOT EXISTS (SELECT 1 FROM pg_extension e WHERE e.extnamespace = n.oid)
        AND NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_depend d
                          ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
                         WHERE c.relnamespace = n.oid AND d.deptype = 'e')
     UNION ALL
     SELECT 'large object ' || oid FROM pg_largeobject_metadata
     LIMIT 10`,
  );
  return result.rows.map((row) => row.item);
}

/**
 * Lists extension configuration tables holding user rows. Each extension
 * records which rows of its tables are user data (pg_extension.extcondition),
 * which for spatial_ref_sys leaves out the SRIDs PostGIS installs.
 */
async function listExtensionConfigRows(client: pg.Client): Promise<string[]> {
  const tables = await client.query<{ name: string; condition: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name, coalesce(cfg.condition, '') AS condition
       FROM pg_extension e,
            unnest(e.extconfig, e.extcondition) AS cfg(relid, condition)
       JOIN pg_class c ON c.oid = cfg.relid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p')`,
  );
  const found: string[] = [];
  for (const { name, condition } of tables.rows) {
    const result = await client.query<{ count: string }>(
      `SELECT count(*) AS count FROM ${name} ${condition}`,
    );
    const count = Number(result.rows[0]?.count ?? 0);
    if (count > 0) found.push(`${count} user rows in ${name}`);
  }
  return found;
}

/** Drops `database`, ending the other sessions connected to it. */
export async function dropDatabase(admin: pg.Client, database: string): Promise<void> {
  await admin.query(`DROP DATABASE ${quoteIdent(database)} WITH (FORCE)`);
}

/** Creates `database` from template0, owned by `owner` when that role exists. */
export async function createDatabase(
  admin: pg.Client,
  database: string,
  owner: string | undefined,
): Promise<string | undefined> {
  let ownerClause = '';
  if (owner) {
    const found = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [owner]);
    if (found.rowCount !== 0) ownerClause = ` OWNER ${quoteIdent(owner)}`;
  }
  await admin.query(`CREATE DATABASE ${quoteIdent(database)} TEMPLATE template0${ownerClause}`);
  return ownerClause ? owner : undefined;
}

/** Lists the names of the extensions and schemas that exist in the target. */
export async function readExisting(
  client: pg.Client,
): Promise<{ extensions: Set<string>; schemas: Set<string> }> {
  const extensions = await client.query<{ name: string }>(
    'SELECT extname AS name FROM pg_extension',
  );
  const schemas = await client.query<{ name: string }>(
    'SELECT nspname AS name FROM pg_namespace',
  );
  return {
    extensions: new Set(extensions.rows.map((row) => row.name)),
    schemas: new Set(schemas.rows.map((row) => row.name)),
  };
}
