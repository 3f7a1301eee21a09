/**
 * Throwaway PostgreSQL 15 clusters for tests. initdb and the server refuse
 * to run as root, so both run as the `postgres` user in a temporary folder
 * owned by it. The cluster trusts every local connection and skips fsync.
 */
import { execFile } from 'node:child_process';
import { chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Folder of the PostgreSQL 15 server and client programs on Debian. */
export const PG_BIN_DIR = '/usr/lib/postgresql/15/bin';

/** A running test cluster and the helpers to use and stop it. */
export interface TestPostgres {
  host: string;
  port: number;
  binDir: string;
  /** Folder of the server's Unix socket. */
  socketDir: string;
  /** Returns a connection URL for `dbName` as the superuser `postgres`. */
  url(dbName: string): string;
  /** Runs SQL with psql and returns its unaligned, tuples-only output. */
  psql(sql: string, db?: string): Promise<string>;
  /** Runs an SQL file with psql, stopping at the first error. */
  psqlFile(path: string, db?: string): Promise<void>;
  /** Stops the server by its PID and removes its folder. */
  stop(): Promise<void>;
}

/** Starts a PostgreSQL 15 cluster on 127.0.0.1 on a free port. */
export async function startPostgres(): Promise<TestPostgres> {
  const root = await mkdtemp(join(tmpdir(), 'bgapp-pg-'));
  const { uid, gid } = await postgresUser();
  const dataDir = join(root, 'data');
  const socketDir = join(root, 'sock');
  await mkdir(socketDir);
  await chown(root, uid, gid);
  await chown(socketDir, uid, gid);

  const port = await freePort();
  await asPostgres('initdb', ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8',
    '--locale=C.UTF-8', '--no-sync']);
  const serverOptions = [`-p ${port}`, `-k ${socketDir}`, `-c listen_addresses=127.0.0.1`,
    '-c fsync=off', '-c full_page_writes=off', '-c synchronous_commit=off'].join(' ');
  await asPostgres('pg_ctl', ['-D', dataDir, '-w', '-l', join(root, 'server.log'),
    '-o', serverOptions, 'start']);
  const pid = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);

  const host = '127.0.0.1';
  return {
    host,
    port,
    binDir: PG_BIN_DIR,
    socketDir,
    url: (dbName) => `postgres://postgres@${host}:${port}/${encodeURIComponent(dbName)}`,
    psql: (sql, db = 'postgres') => psql(host, port, ['-c', sql], db),
    psqlFile: async (path, db = 'postgres') => {
      await psql(host, port, ['-f', path], db);
    },
    stop: () => stopServer(pid, root),
  };
}

async function psql(host: string, port: number, input: string[], db: string): Promise<string> {
  const args = ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', host, '-p', String(port),
    '-U', 'postgres', '-d', db, ...input];
  const { stdout } = await run(join(PG_BIN_DIR, 'psql'), args, { maxBuffer: 64 << 20 });
  return stdout.trim();
}

async function asPostgres(program: string, args: string[]): Promise<void> {
  await run('runuser', ['-u', 'postgres', '--', join(PG_BIN_DIR, program), ...args]);
}

async function stopServer(pid: number, root: string): Promise<void> {
  // SIGINT requests a fast shutdown, so the postmaster ends open sessions and stops.
  if (isAlive(pid)) process.kill(pid, 'SIGINT');
  for (let i = 0; i < 200 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  await rm(root, { recursive: true, force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const { stdout: uid } = await run('id', ['-u', 'postgres']);
  const { stdout: gid } = await run('id', ['-g', 'postgres']);
  return { uid: Number(uid), gid: Number(gid) };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port assigned');
  return address.port;
}

/** Folder of the PostgreSQL test fixtures. */
export const PG_FIXTURES = new URL('../fixtures/postgres/', import.meta.url).pathname;

/**
 * Creates the roles of the geo fixture in the cluster and the database `db`
 * with its PostGIS contents (test/fixtures/postgres/geo.sql).
 */
export async function seedGeoDatabase(cluster: TestPostgres, db: string): Promise<void> {
  await cluster.psqlFile(join(PG_FIXTURES, 'roles.sql'));
  await cluster.psql(`CREATE DATABASE ${db}`);
  await cluster.psqlFile(join(PG_FIXTURES, 'geo.sql'), db);
}
