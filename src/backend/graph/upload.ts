/**
 * Uploads one file the way Graph documents it: a single PUT up to the simple
 * upload limit, otherwise an upload session sent in fragments (Graph v1.0
 * reference, "Upload large files with an upload session"). Every fragment
 * but the last is a multiple of 320 KiB and all are below 60 MiB.
 */
import { BackupError } from '../../errors/index.ts';
import type { Logger } from '../../log/index.ts';
import type { BandwidthLimiter } from './bandwidth.ts';
import { AttemptFailed, type GraphHttp } from './http.ts';
import { RetryBudget, type RetryPolicy } from './retry.ts';
import type { HashingSource } from './source.ts';
import type { DriveItem, UploadSessionInfo } from './types.ts';

/** Graph requires fragments in multiples of 320 KiB. */
export const FRAGMENT_UNIT_BYTES = 320 * 1024;
/** Graph rejects fragments of 60 MiB or more. */
export const MAX_FRAGMENT_BYTES = 60 * 1024 * 1024;
/** Upload sessions started for one file before the upload fails. */
const MAX_SESSIONS = 3;

/** What an upload needs from the backend. */
export interface UploadContext {
  http: GraphHttp;
  policy: RetryPolicy;
  bandwidth: BandwidthLimiter;
  logger: Logger;
  simpleUploadMaxBytes: number;
  fragmentBytes: number;
  /** Called with the size of every fragment or simple upload the service acknowledged. */
  onBytesStored: (bytes: number) => void;
}

/** Where one file goes: its URL builder and its name for messages. */
export interface UploadTarget {
  /** Returns the item URL with `suffix` (`content`, `createUploadSession`). */
  url: (suffix: string) => string;
  what: string;
}

/** Checks a fragment size: a positive multiple of 320 KiB below 60 MiB. */
export function checkFragmentBytes(bytes: number): void {
  if (
    !Number.isInteger(bytes) ||
    bytes <= 0 ||
    bytes % FRAGMENT_UNIT_BYTES !== 0 ||
    bytes >= MAX_FRAGMENT_BYTES
  ) {
    throw new BackupError(
      'ERR_CONFIG_INVALID',
      `invalid Graph fragment size ${bytes}; use a multiple of 327680 bytes (320 KiB) below ` +
        '62914560 (60 MiB), such as 10485760',
    );
  }
}

/** Uploads `source` to `target`, by simple PUT or by upload session; returns the item. */
export async function uploadFile(
  ctx: UploadContext,
  target: UploadTarget,
  source: HashingSource,
): Promise<DriveItem> {
  if (source.size <= ctx.simpleUploadMaxBytes) return simpleUpload(ctx, target, source);
  return new SessionUpload(ctx, target, source).run();
}

async function simpleUpload(
  ctx: UploadContext,
  target: UploadTarget,
  source: HashingSource,
): Promise<DriveItem> {
  const data = await source.read(0, source.size);
  const item = await ctx.http.json<DriveItem>({
    method: 'PUT',
    url: target.url('content?@microsoft.graph.conflictBehavior=replace'),
    what: `upload ${target.what}`,
    headers: { 'content-type': 'application/octet-stream' },
    body: () => ctx.bandwidth.body(data),
  });
  ctx.onBytesStored(data.length);
  return item;
}

/** Parses the start of the first `nextExpectedRanges` entry ("start-end" or "start-"). */
export function firstExpectedStart(info: UploadSessionInfo): number | undefined {
  const first = info.nextExpectedRanges?.[0];
  if (first === undefined) return undefined;
  const start = Number(first.split('-')[0]);
  return Number.isSafeInteger(start) && start >= 0 ? start : undefined;
}

/** Returns the end (exclusive) of the fragment starting at `offset`. */
export function fragmentEnd(offset: number, size: number, fragmentBytes: number): number {
  const misalignment = offset % FRAGMENT_UNIT_BYTES;
  // After a resume from an unaligned offset, one short fragment reaches the
  // next 320 KiB boundary, so every later fragment is aligned again.
  const length = misalignment === 0 ? fragmentBytes : FRAGMENT_UNIT_BYTES - misalignment;
  return Math.min(size, offset + length);
}

/** The state of one file's upload through one or more sessions. */
class SessionUpload {
  private readonly ctx: UploadContext;
  private readonly target: UploadTarget;
  private readonly source: HashingSource;
  private readonly budget = new RetryBudget();
  private uploadUrl: string | undefined;
  private sessions = 0;

  constructor(ctx: UploadContext, target: UploadTarget, source: HashingSource) {
    this.ctx = ctx;
    this.target = target;
    this.source = source;
  }

  async run(): Promise<DriveItem> {
    try {
      let offset = await this.startSession();
      for (;;) {
        const step = await this.sendFragment(offset);
        if (step.kind === 'done') return step.item;
        offset = step.offset;
      }
    } catch (err) {
      await this.cancel();
      throw err;
    }
  }

  private async startSession(): Promise<number> {
    if (++this.sessions > MAX_SESSIONS) {
      throw new BackupError(
        'ERR_BACKEND_IO',
        `failed to upload ${this.target.what}: ${MAX_SESSIONS} upload sessions expired in a ` +
          'row; check the network and run the backup again',
      );
    }
    const info = await this.ctx.http.json<UploadSessionInfo>(
      {
        method: 'POST',
        url: this.target.url('createUploadSession'),
        what: `start an upload session for ${this.target.what}`,
        headers: { 'content-type': 'application/json' },
        body: () => JSON.stringify({ item: { '@microsoft.graph.conflictBehavior': 'replace' } }),
      },
      this.budget,
    );
    if (!info.uploadUrl) throw this.protocolError('no uploadUrl in the new upload session');
    this.uploadUrl = info.uploadUrl;
    return firstExpectedStart(info) ?? 0;
  }

  private async sendFragment(
    offset: number,
  ): Promise<{ kind: 'done'; item: DriveItem } | { kind: 'next'; offset: number }> {
    const { size } = this.source;
    const end = fragmentEnd(offset, size, this.ctx.fragmentBytes);
    const data = await this.source.read(offset, end - offset);
    const what = `upload bytes ${offset}-${end - 1} of ${this.target.what}`;
    let response: Response;
    try {
      response = await this.ctx.http.attempt({
        method: 'PUT',
        url: this.uploadUrl!,
        what,
        auth: false,
        accept: [404, 416],
        headers: {
          'content-length': String(data.length),
          'content-range': `bytes ${offset}-${end - 1}/${size}`,
        },
        body: () => this.ctx.bandwidth.body(data),
      });
    } catch (err) {
      if (!(err instanceof AttemptFailed)) throw err;
      await this.ctx.policy.waitToRetry(err.failure, this.budget, what);
      this.ctx.logger.warn({ what, failure: err.message }, 'fragment failed; resuming upload');
      return { kind: 'next', offset: await this.resumeOffset() };
    }
    return this.afterFragment(response, offset, end);
  }

  private async afterFragment(
    response: Response,
    offset: number,
    end: number,
  ): Promise<{ kind: 'done'; item: DriveItem } | { kind: 'next'; offset: number }> {
    if (response.status === 404) {
      await response.body?.cancel();
      this.ctx.logger.warn(
        { what: this.target.what },
        'upload session expired; starting a new one',
      );
      return { kind: 'next', offset: await this.startSession() };
    }
    if (response.status === 416) {
      await response.body?.cancel();
      return { kind: 'next', offset: await this.resumeOffset() };
    }
    const body = (await response.json()) as UploadSessionInfo & DriveItem;
    this.ctx.onBytesStored(end - offset);
    if (response.status === 200 || response.status === 201) return { kind: 'done', item: body };
    const next = firstExpectedStart(body);
    if (next === undefined) throw this.protocolError('no nextExpectedRanges after a fragment');
    return { kind: 'next', offset: next };
  }

  /** Asks the session which bytes it still needs; an expired session is replaced. */
  private async resumeOffset(): Promise<number> {
    const response = await this.ctx.http.request(
      {
        method: 'GET',
        url: this.uploadUrl!,
        what: `read the upload session status of ${this.target.what}`,
        auth: false,
        accept: [404],
      },
      this.budget,
    );
    if (response.status === 404) {
      await response.body?.cancel();
      return this.startSession();
    }
    const info = (await response.json()) as UploadSessionInfo;
    const start = firstExpectedStart(info);
    if (start === undefined)
      throw this.protocolError('no nextExpectedRanges in the session status');
    return start;
  }

  /** Deletes the session so no half-uploaded file stays open; a failure is only logged. */
  private async cancel(): Promise<void> {
    if (this.uploadUrl === undefined) return;
    const url = this.uploadUrl;
    this.uploadUrl = undefined;
    try {
      const response = await this.ctx.http.attempt({
        method: 'DELETE',
        url,
        what: `cancel the upload session of ${this.target.what}`,
        auth: false,
        accept: [404],
      });
      await response.body?.cancel();
    } catch (err) {
      this.ctx.logger.warn(
        { what: this.target.what, err },
        'failed to cancel the upload session; OneDrive deletes it when it expires',
      );
    }
  }

  private protocolError(problem: string): BackupError {
    return new BackupError(
      'ERR_BACKEND_IO',
      `failed to upload ${this.target.what}: ${problem}; the service did not behave as Graph ` +
        'documents, run the backup again',
    );
  }
}
