/**
 * Upload sessions (Microsoft Graph, "driveItem: createUploadSession"): each
 * stages the bytes it receives in a temporary file and tracks which byte
 * ranges have arrived, so `nextExpectedRanges` lists the gaps.
 */
import { randomBytes } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import type { ConflictBehavior } from './drive.ts';
import { GraphHttpError, invalidRequest } from './graph-error.ts';

/** Fragment size unit: every fragment but the last is a multiple of it (320 KiB). */
export const FRAGMENT_UNIT_BYTES = 320 * 1024;

/** Fragments must be smaller than this (60 MiB). */
export const MAX_FRAGMENT_BYTES = 60 * 1024 * 1024;

/** A half-open byte range [start, end). */
export interface HalfOpenRange {
  start: number;
  end: number;
}

/** A parsed `Content-Range: bytes first-last/total` header. */
export interface FragmentRange {
  first: number;
  last: number;
  total: number;
}

/** One open upload session. */
export interface UploadSession {
  id: string;
  /** Folder the file goes into, and its name. */
  parentId: string;
  name: string;
  conflict: ConflictBehavior;
  /** File size, fixed by `item.fileSize` or by the first fragment's Content-Range total. */
  size: number | undefined;
  stagingPath: string;
  staging: FileHandle;
  /** Ranges stored so far, sorted and merged. */
  received: HalfOpenRange[];
  /** Ranges whose fragments are still arriving. */
  pending: HalfOpenRange[];
  expiresAt: number;
}

/** Parses a Content-Range header of an upload fragment, or throws 400. */
export function parseContentRange(header: string | undefined): FragmentRange {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header?.trim() ?? '');
  if (match === null) {
    throw invalidRequest(`the Content-Range header "${header ?? ''}" is missing or not "bytes first-last/total"`);
  }
  const [first, last, total] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (first > last || last >= total) {
    throw invalidRequest(`the Content-Range "${header}" is not inside the file`);
  }
  return { first, last, total };
}

/**
 * Checks the documented fragment rules: under 60 MiB, and a multiple of
 * 320 KiB unless it is the file's last fragment.
 * NOTE: a fragment that ends on a 320 KiB boundary of the file is accepted
 * too, whatever its length. Clients realign that way after the service has
 * kept part of a failed fragment, and Graph's documentation does not say
 * whether the service accepts it.
 */
export function checkFragmentSize(range: FragmentRange): void {
  const length = range.last - range.first + 1;
  if (length >= MAX_FRAGMENT_BYTES) {
    throw invalidRequest(`the fragment of ${length} bytes is not smaller than 60 MiB`);
  }
  const isLast = range.last === range.total - 1;
  const endsOnBoundary = (range.last + 1) % FRAGMENT_UNIT_BYTES === 0;
  if (!isLast && length % FRAGMENT_UNIT_BYTES !== 0 && !endsOnBoundary) {
    throw invalidRequest(`the fragment of ${length} bytes is not a multiple of 320 KiB (327680 bytes)`);
  }
}

/**
 * Returns the missing ranges of a session as `start-end` strings. With
 * `openEnded` the last gap is written `start-` as in Graph's example reply to
 * a fragment; a status request gets `start-end`. Graph's documentation shows
 * both forms, so a client must parse both.
 */
export function missingRanges(session: UploadSession, openEnded: boolean): string[] {
  const size = session.size;
  if (size === undefined) {
    return ['0-'];
  }
  const gaps: string[] = [];
  let cursor = 0;
  for (const range of session.received) {
    if (range.start > cursor) {
      gaps.push(`${cursor}-${range.start - 1}`);
    }
    cursor = range.end;
  }
  if (cursor < size) {
    gaps.push(openEnded ? `${cursor}-` : `${cursor}-${size - 1}`);
  }
  return gaps;
}

/** Tells whether `range` overlaps stored or arriving bytes of the session. */
export function overlaps(session: UploadSession, range: HalfOpenRange): boolean {
  return [...session.received, ...session.pending].some(
    (other) => range.start < other.end && other.start < range.end,
  );
}

/** Records that bytes [start, end) are stored, merging neighbouring ranges. */
export function addReceived(session: UploadSession, range: HalfOpenRange): void {
  if (range.end <= range.start) {
    return;
  }
  const all = [...session.received, range].sort((a, b) => a.start - b.start);
  const merged: HalfOpenRange[] = [];
  for (const next of all) {
    const previous = merged.at(-1);
    if (previous !== undefined && next.start <= previous.end) {
      previous.end = Math.max(previous.end, next.end);
    } else {
      merged.push({ ...next });
    }
  }
  session.received = merged;
}

/** Returns the number of bytes a session has stored. */
export function receivedBytes(session: UploadSession): number {
  return session.received.reduce((total, range) => total + range.end - range.start, 0);
}

/** Open upload sessions by id, each with its staging file. */
export class UploadSessionStore {
  readonly #directory: string;
  readonly #lifetimeMillis: number;
  readonly #now: () => number;
  #sessions = new Map<string, UploadSession>();

  constructor(directory: string, lifetimeMillis: number, now: () => number) {
    this.#directory = directory;
    this.#lifetimeMillis = lifetimeMillis;
    this.#now = now;
  }

  /** Opens a session with an empty staging file. */
  async create(fields: Pick<UploadSession, 'parentId' | 'name' | 'conflict' | 'size'>): Promise<UploadSession> {
    const id = randomBytes(18).toString('base64url');
    const stagingPath = `${this.#directory}/session-${id}`;
    const staging = await open(stagingPath, 'w+');
    const session: UploadSession = {
      ...fields,
      id,
      stagingPath,
      staging,
      received: [],
      pending: [],
      expiresAt: this.#now() + this.#lifetimeMillis,
    };
    this.#sessions.set(id, session);
    return session;
  }

  /** Returns a live session, or throws 404 when it is unknown, ended or expired. */
  get(id: string): UploadSession {
    const session = this.#sessions.get(id);
    if (session === undefined || session.expiresAt <= this.#now()) {
      if (session !== undefined) {
        void this.close(session);
      }
      throw new GraphHttpError(404, 'itemNotFound', 'the upload session does not exist or has expired; create a new one');
    }
    return session;
  }

  /** Extends a session's expiry, as every fragment does. */
  touch(session: UploadSession): void {
    session.expiresAt = this.#now() + this.#lifetimeMillis;
  }

  /** Makes a session expire now. */
  expire(session: UploadSession): void {
    session.expiresAt = this.#now();
  }

  /** Makes every session expire now. */
  expireAll(): void {
    for (const session of this.#sessions.values()) {
      this.expire(session);
    }
  }

  /** Ends a session and removes its staging file, unless `keepStaging` (its content moved on). */
  async close(session: UploadSession, keepStaging = false): Promise<void> {
    if (!this.#sessions.delete(session.id)) {
      return;
    }
    await session.staging.close().catch(() => undefined);
    if (!keepStaging) {
      await rm(session.stagingPath, { force: true });
    }
  }

  /** Returns the number of sessions neither ended nor expired. */
  openCount(): number {
    const now = this.#now();
    return [...this.#sessions.values()].filter((session) => session.expiresAt > now).length;
  }

  /** Ends every session. */
  async closeAll(): Promise<void> {
    for (const session of [...this.#sessions.values()]) {
      await this.close(session);
    }
  }
}
