/**
 * Watches a database backup's sessions for lock waits. pg_dump and the row
 * counts wait, with no timeout, for a table that another session holds in an
 * exclusive lock (a migration, VACUUM FULL), and nothing else shows that the
 * backup is stuck. The watch finds the backup's sessions by their
 * application_name and logs one warning per table they wait for.
 */
import type pg from 'pg';
import type { Logger } from '../../log/index.ts';
import { connectPostgres } from './connection.ts';

/** How often the watch looks for lock waits by default. */
export const LOCK_WATCH_MILLIS = 10_000;

/** A table, or another lockable object, that one of the backup's sessions waits for. */
interface LockWait {
  pid: number;
  /** The table as schema.name, or the lock type for other objects. */
  waits_for: string;
  /** Server processes holding the lock. */
  blockers: number[];
}

// Sessions of the backup that wait for a lock, with what they wait for and
// who holds it. pg_blocking_pids exists since PostgreSQL 9.6.
const LOCK_WAITS_SQL = `
  SELECT a.pid, coalesce(l.relation::regclass::text, l.locktype) AS waits_for,
         pg_blocking_pids(a.pid) AS blockers
  FROM pg_stat_activity a
  JOIN pg_locks l ON l.pid = a.pid AND NOT l.granted
  WHERE a.application_name = $1`;

/** Options of `watchLockWaits`. */
export interface LockWatchOptions {
  url: string;
  /** application_name of the backup's sessions (pg_dump's and the row counts'). */
  applicationName: string;
  logger: Logger;
  everyMillis?: number;
}

/**
 * Starts looking for lock waits of the sessions named `applicationName`
 * every `everyMillis`, over a connection of its own opened at the first look.
 * Returns the function that stops the watch and closes that connection.
 */
export function watchLockWaits(options: LockWatchOptions): () => Promise<void> {
  const { url, applicationName, logger } = options;
  const reported = new Set<string>();
  let monitor: pg.Client | undefined;
  let stopped = false;
  let look: Promise<void> = Promise.resolve();

  const lookOnce = async (): Promise<void> => {
    if (stopped) return;
    try {
      monitor ??= await connectPostgres(url, { applicationName: `${applicationName} watch` });
      const { rows } = await monitor.query<LockWait>(LOCK_WAITS_SQL, [applicationName]);
      for (const wait of rows) {
        if (reported.has(wait.waits_for)) continue;
        reported.add(wait.waits_for);
        const holders = wait.blockers.length > 0 ? wait.blockers.join(', ') : 'unknown';
        logger.warn(
          { waitsFor: wait.waits_for, pid: wait.pid, blockers: wait.blockers },
          `the database backup waits for a lock on ${wait.waits_for}, held by server process ` +
            `${holders}; it goes on once the lock is released`,
        );
      }
    } catch (err) {
      logger.debug({ err }, 'failed to look for lock waits');
    }
  };

  const timer = setInterval(() => {
    look = look.then(lookOnce);
  }, options.everyMillis ?? LOCK_WATCH_MILLIS);
  timer.unref();

  return async () => {
    stopped = true;
    clearInterval(timer);
    await look;
    await monitor?.end().catch(() => {});
  };
}
