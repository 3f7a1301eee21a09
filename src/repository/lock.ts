/**
 * Repository locks as restic keeps them: sealed JSON files in `locks/`.
 * A lock is stale when it is older than 30 minutes, or when it was made on
 * this host by a process that no longer runs. Live holders refresh their lock
 * every 5 minutes by writing a new file and deleting the old one.
 */
import { createHash } from 'node:crypto';
import { userInfo } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Backend } from '../backend/index.ts';
import { openUnpacked, sealUnpacked, type MasterKey } from '../crypto/index.ts';
import { BackupError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import { isId } from './ids.ts';
import type { Id, LockHandle, LockJson } from './types.ts';

/** A lock older than this is stale (restic uses the same 30 minutes). */
export const STALE_LOCK_MILLIS = 30 * 60 * 1000;
/** How often a held lock is refreshed. */
export const LOCK_REFRESH_MILLIS = 5 * 60 * 1000;
const RETRY_MILLIS = 500;

/** Settings shared by the lock functions. */
export interface LockContext {
  backend: Backend;
  key: MasterKey;
  hostname: string;
  logger: Logger;
}

interface FoundLock {
  id: Id;
  lock: LockJson;
}

/** Tells whether a lock is stale, as seen from `hostname` at `now`. */
export function isStaleLock(lock: LockJson, hostname: string, now = Date.now()): boolean {
  const time = Date.parse(lock.time);
  if (Number.isNaN(time) || now - time > STALE_LOCK_MILLIS) return true;
  return lock.hostname === hostname && !isProcessAlive(lock.pid);
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes a lock, retrying while a conflicting live lock exists for up to `waitMillis`. */
export async function acquireLock(
  ctx: LockContext,
  exclusive: boolean,
  waitMillis: number,
): Promise<LockHandle> {
  const deadline = Date.now() + waitMillis;
  for (;;) {
    let conflict = await findConflict(ctx, exclusive);
    if (!conflict) {
      const id = await writeLock(ctx, exclusive);
      // Another process may have written its lock between our listing and our write.
      conflict = await findConflict(ctx, exclusive, id);
      if (!conflict) return startRefresh(ctx, id, exclusive);
      await ctx.backend.remove({ type: 'locks', name: id });
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw lockedError(ctx.backend, conflict);
    await sleep(Math.min(remaining, RETRY_MILLIS));
  }
}

/** Deletes every stale lock and returns their ids; live locks stay. */
export async function removeStaleLocks(ctx: LockContext): Promise<Id[]> {
  const removed: Id[] = [];
  for (const found of await readLocks(ctx)) {
    if (!isStaleLock(found.lock, ctx.hostname)) continue;
    await ctx.backend.remove({ type: 'locks', name: found.id });
    ctx.logger.info({ lockId: found.id, holder: found.lock.hostname }, 'removed stale lock');
    removed.push(found.id);
  }
  return removed;
}

async function findConflict(
  ctx: LockContext,
  exclusive: boolean,
  ownId?: Id,
): Promise<FoundLock | undefined> {
  for (const found of await readLocks(ctx)) {
    if (found.id === ownId || isStaleLock(found.lock, ctx.hostname)) continue;
    if (exclusive || found.lock.exclusive) return found;
  }
  return undefined;
}

async function readLocks(ctx: LockContext): Promise<FoundLock[]> {
  const out: FoundLock[] = [];
  for (const { name } of await ctx.backend.list('locks')) {
    if (!isId(name)) continue;
    try {
      const sealed = await ctx.backend.load({ type: 'locks', name });
      out.push({ id: name, lock: JSON.parse(openUnpacked(ctx.key, sealed).toString('utf8')) });
    } catch (err) {
      // A lock deleted while we listed, or written with another master key, holds nothing here.
      ctx.logger.debug({ lockId: name, err }, 'ignoring unreadable lock file');
    }
  }
  return out;
}

async function writeLock(ctx: LockContext, exclusive: boolean): Promise<Id> {
  const lock: LockJson = {
    time: new Date().toISOString(),
    exclusive,
    hostname: ctx.hostname,
    username: userInfo().username,
    pid: process.pid,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
  };
  const sealed = sealUnpacked(ctx.key, Buffer.from(JSON.stringify(lock)));
  const id = createHash('sha256').update(sealed).digest('hex');
  await ctx.backend.save({ type: 'locks', name: id }, sealed);
  return id;
}

function startRefresh(ctx: LockContext, firstId: Id, exclusive: boolean): LockHandle {
  let id = firstId;
  let refreshing: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    refreshing = refreshing.then(async () => {
      const old = id;
      try {
        id = await writeLock(ctx, exclusive);
        await ctx.backend.remove({ type: 'locks', name: old });
      } catch (err) {
        ctx.logger.warn({ lockId: old, err }, 'failed to refresh the repository lock');
      }
    });
  }, LOCK_REFRESH_MILLIS);
  timer.unref();
  return {
    get id() {
      return id;
    },
    exclusive,
    async release() {
      clearInterval(timer);
      await refreshing;
      await ctx.backend.remove({ type: 'locks', name: id });
    },
  };
}

function lockedError(backend: Backend, found: FoundLock): BackupError {
  const { lock } = found;
  const kind = lock.exclusive ? 'an exclusive' : 'a';
  return new BackupError(
    'ERR_REPO_LOCKED',
    `repository ${backend.location} is locked: ${kind} lock ${found.id.slice(0, 8)} is held by ` +
      `${lock.username}@${lock.hostname} pid ${lock.pid} since ${lock.time}; wait for it to finish, ` +
      'or if that process is gone run `bgapp-backup unlock` to remove stale locks',
  );
}
