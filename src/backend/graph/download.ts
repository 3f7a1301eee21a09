/**
 * Downloads file content. A range read sends `Range` on the content request
 * (RFC 9110, section 14.2), which Graph passes on to the download URL it
 * redirects to, so only the requested bytes cross the network.
 */
import { BackupError, errorMessage } from '../../errors/index.ts';
import type { ByteRange } from '../types.ts';
import type { GraphHttp } from './http.ts';
import { RetryBudget } from './retry.ts';

/** Reads a whole file or a range of it into memory, retrying broken transfers. */
export async function loadBytes(
  http: GraphHttp,
  contentUrl: string,
  what: string,
  range?: ByteRange,
): Promise<Buffer> {
  const budget = new RetryBudget();
  for (;;) {
    const response = await openContent(http, contentUrl, what, range, budget);
    try {
      const body = Buffer.from(await response.arrayBuffer());
      return checkLength(body, what, range, response.status);
    } catch (err) {
      if (err instanceof BackupError) throw err;
      const failure = { kind: 'network' as const, error: err };
      await http.options.policy.waitToRetry(failure, budget, `read ${what}`);
      http.options.logger.warn({ what, err: errorMessage(err) }, 'download broke; retrying');
    }
  }
}

/** Streams a file or a range of it; a broken transfer ends the stream with an error. */
export async function downloadStream(
  http: GraphHttp,
  contentUrl: string,
  what: string,
  range?: ByteRange,
): Promise<AsyncIterable<Uint8Array>> {
  const response = await openContent(http, contentUrl, what, range, new RetryBudget());
  if (range && response.status !== 206) {
    await response.body?.cancel();
    throw rangeIgnored(what);
  }
  const body = response.body;
  if (body === null) return (async function* () {})();
  return body as AsyncIterable<Uint8Array>;
}

async function openContent(
  http: GraphHttp,
  contentUrl: string,
  what: string,
  range: ByteRange | undefined,
  budget: RetryBudget,
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (range) {
    if (range.length <= 0) throw new BackupError('ERR_BACKEND_IO', `empty range of ${what}`);
    headers.range = `bytes=${range.offset}-${range.offset + range.length - 1}`;
  }
  const response = await http.request(
    { method: 'GET', url: contentUrl, what: `read ${what}`, headers, accept: [404, 416] },
    budget,
  );
  if (response.status === 404) {
    await response.body?.cancel();
    throw new BackupError('ERR_BACKEND_IO', `failed to read ${what}: the file does not exist`);
  }
  if (response.status === 416) {
    await response.body?.cancel();
    throw pastEnd(what, range);
  }
  return response;
}

function checkLength(
  body: Buffer,
  what: string,
  range: ByteRange | undefined,
  status: number,
): Buffer {
  if (!range) return body;
  if (status !== 206) throw rangeIgnored(what);
  if (body.length !== range.length) throw pastEnd(what, range);
  return body;
}

function pastEnd(what: string, range: ByteRange | undefined): BackupError {
  const end = range ? range.offset + range.length : 0;
  return new BackupError(
    'ERR_BACKEND_IO',
    `failed to read ${what}: the file ends before byte ${end}`,
  );
}

function rangeIgnored(what: string): BackupError {
  return new BackupError(
    'ERR_BACKEND_IO',
    `failed to read ${what}: the service ignored the requested byte range; run the command again`,
  );
}
