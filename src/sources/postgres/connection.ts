/**
 * Connection settings of a PostgreSQL database: parsing the URL, hiding its
 * password, and opening a `pg` client with errors that name the server.
 */
import pg from 'pg';
import { BackupError, errorMessage } from '../../errors/index.ts';

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
 * ~/.pgpass, as node-postgres resolves it.
 */
export async function connectPostgres(url: string): Promise<pg.Client> {
  const target = parsePostgresUrl(url);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 15_000 });
  // An error after connecting (the server going away) would otherwise crash the process.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw new BackupError('ERR_PG_CONNECT', `cannot connect to PostgreSQL at ` +
      `${target.host}:${target.port}, database "${target.database}", user "${target.user}": ` +
      `${errorMessage(err)}; check that the server is running and the url is right`,
      { cause: err });
  }
  return client;
}

/** Quotes an SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
