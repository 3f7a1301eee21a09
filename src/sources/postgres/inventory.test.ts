import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../../../test/support/postgres.ts';
import { countRows, listUserTables } from './inventory.ts';

describe('countRows', () => {
  let cluster: TestPostgres;
  let client: pg.Client;

  before(async () => {
    cluster = await startPostgres();
    await cluster.psql('CREATE DATABASE counts');
    // 130 tables are more than one query counts. Table tN has N rows.
    const statements = Array.from({ length: 130 }, (_, n) =>
      `CREATE TABLE t${n} (id int); INSERT INTO t${n} SELECT generate_series(1, ${n});`);
    statements.push('CREATE SCHEMA "odd ""schema""";');
    statements.push('CREATE TABLE "odd ""schema"""."Mixed Case" (id int);');
    statements.push('INSERT INTO "odd ""schema"""."Mixed Case" VALUES (1), (2), (3);');
    await cluster.psql(statements.join('\n'), 'counts');
    client = new pg.Client({ connectionString: cluster.url('counts') });
    await client.connect();
  });

  after(async () => {
    await client?.end();
    await cluster?.stop();
  });

  it('counts every table across batches', async () => {
    const tables = await listUserTables(client);
    assert.equal(tables.length, 131);

    const counts = await countRows(client, tables);

    assert.equal(Object.keys(counts).length, 131);
    for (let n = 0; n < 130; n++) assert.equal(counts[`public.t${n}`], n, `public.t${n}`);
    assert.equal(counts['odd "schema".Mixed Case'], 3);
  });

  it('returns nothing for no tables', async () => {
    assert.deepEqual(await countRows(client, []), {});
  });
});
