/**
 * Connection settings of a PostgreSQL database: parsing the URL, hiding its
 * password, and opening a `pg` client with errors that name the server.
 */
import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parseIntoClientConfig } from 'pg-connection-string';
import pgpass from 'pgpass';
import { BackupError, errorMessage, isBackupError } from '../../errors/index.ts';

/** A parsed connection URL; `url` never contains the password. */
export interface PgTarget {
  /** The URL with its password removed, safe to log and record. */
  url: string;
  /** Password from the URL, when it has one. */
  password?: string;
  host: string;
  port: number;
  database: string;
  user: string;
}

/** Parses a `postgres://` or `postgresql://` URL, with libpq's PG* variables as defaults. */
export function parsePostgresUrl(url: string, env: NodeJS.ProcessEnv = process.env): PgTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw new BackupError('ERR_CONFIG_INVALID', 'invalid postgres url; expected ' +
      'postgres://USER@HOST:PORT/DATABASE', { cause: err });
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new BackupError(
      'ERR_CONFIG_INVALID',
      `invalid postgres url scheme "${parsed.protocol}"; ` +
        'expected postgres://USER@HOST:PORT/DATABASE',
    );
  }
  const password = parsed.password ? decodeURIComponent(parsed.password) : undefined;
  parsed.password = '';
  const user = decodeURIComponent(parsed.username) || env.PGUSER || 'postgres';
  const database = decodeURIComponent(parsed.pathname.slice(1)) || env.PGDATABASE || user;
  return {
    url: parsed.toString(),
    ...(password === undefined ? {} : { password }),
    host: parsed.hostname || env.PGHOST || 'localhost',
    port: Number(parsed.port || env.PGPORT || 5432),
    database,
    user,
  };
}

/** Returns the URL of another database on the same server, keeping the password. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

/** Describes a target as `host:port/database` for messages. */
export function describeTarget(target: PgTarget): string {
  return `${target.host}:${target.port}/${target.database}`;
}

/**
 * Opens a client on `url`. The password comes from the URL, PGPASSWORD or
 * the password file (PGPASSFILE, else ~/.pgpass), as libpq and so pg_dump
 * look for it. When the server requests a password and none is set, the
 * ERR_PG_CONNECT message names where to put one.
 */
export async function connectPostgres(
  url: string,
  options: { applicationName?: string } = {},
): Promise<pg.Client> {
  const target = parsePostgresUrl(url);
  let passwordOrigin: string | undefined;
  const client = new pg.Client({
    ...parseIntoClientConfig(url),
    ...(options.applicationName === undefined ? {} : { application_name: options.applicationName }),
    // node-postgres calls this only when the server requests a password. Its
    // own fallback to ~/.pgpass prints a deprecation warning in pg 8.23, which
    // names a password function as the replacement.
    password: async () => {
      const found = await findPassword(target);
      passwordOrigin = found.origin;
      return found.password;
    },
    connectionTimeoutMillis: 15_000,
  });
  // An error after connecting (the server going away) would otherwise crash the process.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    if (isBackupError(err)) throw err;
    throw new BackupError('ERR_PG_CONNECT', `cannot connect to PostgreSQL at ` +
      `${target.host}:${target.port}, database "${target.database}", user "${target.user}": ` +
      `${errorMessage(err)}; ${connectHint(err, passwordOrigin)}`,
      { cause: err });
  }
  return client;
}

/**
 * Cancels the statement that the server process `pid` runs, as
 * pg_cancel_backend does, over a connection of its own. A role may cancel
 * its own sessions without further rights.
 */
export async function cancelBackend(url: string, pid: number): Promise<void> {
  const client = await connectPostgres(url);
  try {
    await client.query('SELECT pg_cancel_backend($1)', [pid]);
  } finally {
    await client.end().catch(() => {});
  }
}

/** A password and where it was found, such as PGPASSWORD. */
interface FoundPassword {
  password: string;
  origin: string;
}

/**
 * Returns the password for `target` from its URL, PGPASSWORD or the password
 * file, and fails with ERR_PG_CONNECT when none of them has one.
 */
async function findPassword(target: PgTarget): Promise<FoundPassword> {
  if (target.password !== undefined) return { password: target.password, origin: 'the url' };
  const fromEnv = process.env.PGPASSWORD;
  if (fromEnv) return { password: fromEnv, origin: 'PGPASSWORD' };
  await checkPasswordFile(target, process.env.PGPASSFILE || join(homedir(), '.pgpass'));
  const fromFile = await new Promise<string | undefined>((resolve) => pgpass(target, resolve));
  const file = process.env.PGPASSFILE || '~/.pgpass';
  if (fromFile !== undefined) return { password: fromFile, origin: file };
  throw new BackupError('ERR_PG_CONNECT', `PostgreSQL at ${target.host}:${target.port} ` +
    `requested a password for user "${target.user}", but none is set; add the line ` +
    `${target.host}:${target.port}:${target.database}:${target.user}:PASSWORD to ${file} ` +
    '(mode 0600), or set PGPASSWORD');
}

/**
 * Fails with ERR_PG_CONNECT when the password file exists but libpq, and so
 * pg_dump, would ignore it: a file that is not a plain file, or one that
 * group or others may access. The pgpass package ignores it too, with a
 * warning of its own on stderr, and the error message would then claim
 * that no password is set.
 */
async function checkPasswordFile(target: PgTarget, path: string): Promise<void> {
  if (process.platform === 'win32') return;
  const stats = await stat(path).catch(() => undefined);
  if (stats === undefined) return;
  const start = `PostgreSQL at ${target.host}:${target.port} requested a password for user ` +
    `"${target.user}", but the password file ${path}`;
  if (!stats.isFile()) {
    throw new BackupError('ERR_PG_CONNECT', `${start} is not a plain file, so it is ignored, ` +
      'as pg_dump ignores it; point PGPASSFILE at a plain file');
  }
  const mode = stats.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new BackupError('ERR_PG_CONNECT', `${start} is open to group or others ` +
      `(mode 0${mode.toString(8)}), so it is ignored, as pg_dump ignores it; run chmod 600 ${path}`);
  }
}

/** Returns the next step for a failed connection, by its SQLSTATE when it has one. */
function connectHint(err: unknown, passwordOrigin: string | undefined): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  // 28P01 is invalid_password in PostgreSQL 15's errcodes.txt.
  if (code === '28P01' && passwordOrigin !== undefined) {
    return `check the password in ${passwordOrigin}`;
  }
  return 'check that the server is running and the url is right';
}

/** Quotes an SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
