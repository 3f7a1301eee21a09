/**
 * Compares a restored database with the manifest written at backup time:
 * row counts, large objects, the PostGIS version and the extensions.
 */
import type pg from 'pg';
import { countRows, readLargeObjects } from '../../sources/postgres/index.ts';
import type { PostgresManifest } from '../../sources/types.ts';

/** Returns each way the database differs from the manifest; empty when it matches. */
export async function verifyDatabase(
  client: pg.Client,
  manifest: PostgresManifest,
  tables: ReadonlySet<string> | undefined,
): Promise<string[]> {
  const differences: string[] = [];
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    differences.push(...(await compareRowCounts(client, manifest.rowCounts, tables)));
    if (tables === undefined) {
      const largeObjects = await readLargeObjects(client);
      differences.push(...compareLargeObjects(largeObjects, manifest.largeObjects));
    }
    differences.push(...(await compareExtensions(client, manifest)));
  } finally {
    await client.query('COMMIT');
  }
  return differences;
}

async function compareRowCounts(
  client: pg.Client,
  expected: Record<string, number>,
  tables: ReadonlySet<string> | undefined,
): Promise<string[]> {
  const differences: string[] = [];
  const names = Object.keys(expected).filter((name) => tables === undefined || tables.has(name));
  const present = await existingTables(client);
  const toCount = names.filter((name) => present.has(name)).map(splitName);
  const actual = await countRows(client, toCount);
  for (const name of names) {
    if (!present.has(name)) differences.push(`table ${name} is missing`);
    else if (actual[name] !== expected[name]) {
      differences.push(`table ${name} has ${actual[name]} rows, expected ${expected[name]}`);
    }
  }
  return differences;
}

function compareLargeObjects(
  actual: { count: number; bytes: number },
  expected: { count: number; bytes: number },
): string[] {
  if (actual.count === expected.count && actual.bytes === expected.bytes) return [];
  return [`large objects: ${actual.count} with ${actual.bytes} bytes, expected ` +
    `${expected.count} with ${expected.bytes} bytes`];
}

async function compareExtensions(client: pg.Client, manifest: PostgresManifest): Promise<string[]> {
  const result = await client.query<{ extname: string; extversion: string }>(
    'SELECT extname, extversion FROM pg_extension',
  );
  const actual = new Map(result.rows.map((row) => [row.extname, row.extversion]));
  const differences: string[] = [];
  for (const [name, version] of Object.entries(manifest.extensions)) {
    const found = actual.get(name);
    if (found === undefined) differences.push(`extension ${name} ${version} is missing`);
    else if (found !== version) {
      differences.push(`extension ${name} is ${found}, expected ${version}`);
    }
  }
  const postgis = actual.get('postgis') ?? null;
  if (manifest.postgisVersion !== null && postgis !== manifest.postgisVersion) {
    differences.push(`PostGIS is ${postgis ?? 'missing'}, expected ${manifest.postgisVersion}`);
  }
  return differences;
}

async function existingTables(client: pg.Client): Promise<Set<string>> {
  const result = await client.query<{ name: string }>(
    `SELECT n.nspname || '.' || c.relname AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p')`,
  );
  return new Set(result.rows.map((row) => row.name));
}

function splitName(name: string): { schema: string; table: string } {
  const dot = name.indexOf('.');
  return { schema: name.slice(0, dot), table: name.slice(dot + 1) };
}
