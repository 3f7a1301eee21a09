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
export const LOCK_WATCH_MILLIS = 5_000;

/** How long a statement waits before the watch reports it, by default. */
export const LOCK_WAIT_REPORT_MILLIS = 10_000;

/** A table, or another lockable object, that one of the backup's sessions waits for. */
interface LockWait {
  pid: number;
  /** The table as schema.name, or the lock type for other objects. */
  waits_for: string;
  /** Server processes that hold a lock on that table and block the session. */
  holders: number[];
  /** Processes ahead of the session that wait for the table too, such as a migration. */
  queued: number[];
  /**
   * Whether a prepared transaction holds the lock (pg_blocking_pids lists it as 0).
   * NOTE: no test covers it, because the test cluster allows no prepared transactions.
   */
  prepared: boolean;
}

// Sessions of the backup whose statement has waited for a lock for $2 seconds.
// pg_blocking_pids (PostgreSQL 9.6 and later) also lists the sessions queued
// ahead for the same table, such as a migration waiting for a reader. So the
// holders are the processes in that list, or in the queued ones' lists, that
// hold a granted lock on the table. A prepared transaction shows as 0.
const LOCK_WAITS_SQL = `
  SELECT w.pid, w.waits_for, 0 = ANY (w.chain) AS prepared,
         array(SELECT DISTINCT h.pid FROM pg_locks h
               WHERE h.granted AND h.relation = w.relation AND h.pid = ANY (w.chain)) AS holders,
         array(SELECT b FROM unnest(w.blockers) AS b
               WHERE b <> 0 AND NOT EXISTS (SELECT 1 FROM pg_locks h
                 WHERE h.granted AND h.relation = w.relation AND h.pid = b)) AS queued
  FROM (
    SELECT a.pid, l.relation, pg_blocking_pids(a.pid) AS blockers,
           pg_blocking_pids(a.pid) || coalesce((SELECT array_agg(x)
             FROM unnest(pg_blocking_pids(a.pid)) AS q, unnest(pg_blocking_pids(q)) AS x), '{}') AS chain,
           coalesce((SELECT n.nspname || '.' || c.relname FROM pg_class c
                     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = l.relation),
                    l.locktype) AS waits_for
    FROM pg_stat_activity a
    JOIN pg_locks l ON l.pid = a.pid AND NOT l.granted
    WHERE a.application_name = $1
      AND a.query_start <= now() - make_interval(secs => $2::float8)
  ) w`;

/** Options of `watchLockWaits`. */
export interface LockWatchOptions {
  url: string;
  /** application_name of the backup's sessions (pg_dump's and the row counts'). */
  applicationName: string;
  logger: Logger;
  everyMillis?: number;
  /** How long a statement waits before it is reported; LOCK_WAIT_REPORT_MILLIS when unset. */
  reportAfterMillis?: number;
}

/** Describes who holds the lock of `wait` and who waits for it first, for the warning. */
function describeHolders(wait: LockWait): string {
  const parts: string[] = [];
  if (wait.holders.length > 0) parts.push(`held by server process ${wait.holders.join(', ')}`);
  if (wait.prepared) parts.push('held by a prepared transaction (see pg_prepared_xacts)');
  if (parts.length === 0) parts.push('held by a process not found');
  if (wait.queued.length > 0) parts.push(`with process ${wait.queued.join(', ')} waiting for it first`);
  return parts.join(', ');
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
      const reportAfter = options.reportAfterMillis ?? LOCK_WAIT_REPORT_MILLIS;
      const { rows } = await monitor.query<LockWait>(LOCK_WAITS_SQL, [applicationName, reportAfter / 1000]);
      for (const wait of rows) {
        if (reported.has(wait.waits_for)) continue;
        reported.add(wait.waits_for);
        const { holders, queued } = wait;
        logger.warn(
          { waitsFor: wait.waits_for, pid: wait.pid, holders, queued, prepared: wait.prepared },
          `the database backup waits for a lock on ${wait.waits_for}, ${describeHolders(wait)}; ` +
            'it goes on once the lock is released',
        );
      }
    } catch (err) {
      logger.debug({ err, applicationName }, 'failed to look for lock waits');
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
