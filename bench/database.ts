/**
 * The PostGIS database dataset: a base database built from generate_series
 * (so every run gives the same rows), cloned from it as a template for each
 * tool's run, and a day's change applied to a clone.
 */
import type { TestPostgres } from '../test/support/postgres.ts';

/** Estimate of the bytes per row of the two tables, table and index together; the report states the real size. */
const BYTES_PER_ROW = 330;
const BATCH_ROWS = 250_000;

/** Row counts of the base database for a target size. */
export function databaseRows(targetBytes: number): { parcels: number; readings: number } {
  const rows = Math.max(1000, Math.round(targetBytes / BYTES_PER_ROW));
  return { parcels: Math.round(rows * 0.4), readings: Math.round(rows * 0.6) };
}

const SCHEMA = `
CREATE EXTENSION postgis;
CREATE TABLE parcels (id bigint PRIMARY KEY, name text NOT NULL, category int NOT NULL,
  geom geometry(Polygon, 4326) NOT NULL, props jsonb NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE readings (id bigint PRIMARY KEY, sensor int NOT NULL, location geometry(Point, 4326) NOT NULL,
  value double precision NOT NULL, payload bytea NOT NULL, taken_at timestamptz NOT NULL);
CREATE INDEX parcels_geom ON parcels USING gist (geom);
`;

function parcelRows(first: number, last: number): string {
  // Positions and names derive from hashes of the id, so every load gives the same rows.
  return `SELECT i, 'parcel ' || i || ' ' || substr(md5(i::text), 1, 8), i % 40,
    ST_MakeEnvelope(x, y, x + 0.001, y + 0.001, 4326),
    jsonb_build_object('owner', 'owner ' || (i % 997), 'area', (i % 5000) * 1.5, 'zone', substr(md5(i::text), 9, 6)),
    timestamptz '2024-01-01' + (i % 100000) * interval '1 minute'
  FROM (SELECT i, ((('x' || substr(md5(i::text), 1, 8))::bit(32)::int) % 180)::float8 AS x,
               ((('x' || substr(md5(i::text), 9, 8))::bit(32)::int) % 90)::float8 AS y
        FROM generate_series(${first}, ${last}) AS i) AS s`;
}

function readingRows(first: number, last: number): string {
  return `SELECT i, i % 500, ST_SetSRID(ST_MakePoint((i % 3600) / 10.0 - 180, (i % 1800) / 10.0 - 90), 4326),
    (i % 10007) / 7.0, decode(md5(i::text) || md5((i + 1)::text) || md5((i * 7)::text), 'hex'),
    timestamptz '2024-01-01' + i * interval '1 second'
  FROM generate_series(${first}, ${last}) AS i`;
}

async function insertBatches(pg: TestPostgres, db: string, table: string, first: number, count: number,
  rows: (first: number, last: number) => string): Promise<void> {
  for (let start = first; start < first + count; start += BATCH_ROWS) {
    const last = Math.min(first + count, start + BATCH_ROWS) - 1;
    await pg.psql(`INSERT INTO ${table} ${rows(start, last)}`, db);
  }
}

/** Creates database `db` with the base rows for `targetBytes`; returns its size from pg_database_size. */
export async function createBaseDatabase(pg: TestPostgres, db: string, targetBytes: number): Promise<number> {
  const { parcels, readings } = databaseRows(targetBytes);
  await pg.psql(`CREATE DATABASE ${db}`);
  await pg.psql(SCHEMA, db);
  await insertBatches(pg, db, 'parcels', 1, parcels, parcelRows);
  await insertBatches(pg, db, 'readings', 1, readings, readingRows);
  await pg.psql('VACUUM ANALYZE', db);
  return Number(await pg.psql(`SELECT pg_database_size('${db}')`));
}

/** Creates `clone` as a copy of `template` (which must have no open connections). */
export async function cloneDatabase(pg: TestPostgres, template: string, clone: string): Promise<void> {
  await pg.psql(`CREATE DATABASE ${clone} TEMPLATE ${template}`);
}

/** Drops `db` when it exists, ending its connections. */
export async function dropDatabase(pg: TestPostgres, db: string): Promise<void> {
  await pg.psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
}

/**
 * Applies a day's change: new readings worth 1% of the rows appended, and 1%
 * of the parcels, one id range in the middle, updated.
 */
export async function changeDatabase(pg: TestPostgres, db: string, targetBytes: number): Promise<void> {
  const { parcels, readings } = databaseRows(targetBytes);
  const onePercent = Math.max(1, Math.round((parcels + readings) / 100));
  await insertBatches(pg, db, 'readings', readings + 1, onePercent, readingRows);
  const first = Math.floor(parcels / 2);
  const updated = Math.min(onePercent, parcels - first);
  await pg.psql(
    `UPDATE parcels SET name = name || ' renamed', updated_at = updated_at + interval '1 day'
     WHERE id BETWEEN ${first} AND ${first + updated - 1}`,
    db,
  );
}
