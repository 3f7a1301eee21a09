/**
 * Handlers of the pre-authenticated transfer URLs: the upload URL of an
 * upload session (PUT a fragment, GET its status, DELETE to cancel) and the
 * download URL that `GET .../content` redirects to, which honours `Range`.
 */
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { quickXorHashOfStream } from '../../../src/backend/graph/quickxor.ts';
import { sendJson } from './api-handlers.ts';
import { itemJson, type EmulatorContext } from './context.ts';
import { defaultCodeFor, GraphHttpError, invalidRequest } from './graph-error.ts';
import type { FaultAction } from './faults.ts';
import {
  addReceived,
  checkFragmentSize,
  missingRanges,
  overlaps,
  parseContentRange,
  receivedBytes,
  type FragmentRange,
  type UploadSession,
} from './upload-sessions.ts';

/** Handles a request to an upload URL. */
export async function handleUpload(
  context: EmulatorContext,
  req: IncomingMessage,
  res: ServerResponse,
  sessionId: string,
  fault: FaultAction | undefined,
): Promise<void> {
  const session = context.sessions.get(sessionId);
  if (fault?.kind === 'expire-session') {
    await context.sessions.close(session);
    throw new GraphHttpError(404, 'itemNotFound', 'the upload session has expired; create a new one');
  }
  if (req.method === 'GET') {
    const status = {
      expirationDateTime: new Date(session.expiresAt).toISOString(),
      nextExpectedRanges: missingRanges(session, false),
    };
    return sendJson(res, 200, status);
  }
  if (req.method === 'DELETE') {
    await context.sessions.close(session);
    res.statusCode = 204;
    res.end();
    return;
  }
  if (req.method !== 'PUT') {
    throw new GraphHttpError(405, 'invalidRequest', `${req.method} is not supported on an upload URL`);
  }
  await putFragment(context, req, res, session, fault);
}

async function putFragment(
  context: EmulatorContext,
  req: IncomingMessage,
  res: ServerResponse,
  session: UploadSession,
  fault: FaultAction | undefined,
): Promise<void> {
  const range = checkFragment(context, req, session);
  const storeLimit = fault?.kind === 'reset' || fault?.kind === 'status' ? fault.storeBytes : undefined;
  const length = range.last - range.first + 1;
  const span = { start: range.first, end: range.first + length };

  session.pending.push(span);
  let written = 0;
  try {
    const resetAt = fault?.kind === 'reset' ? (storeLimit ?? Math.floor(length / 2)) : undefined;
    written = await writeFragment(req, session, range, resetAt ?? storeLimit, resetAt !== undefined);
  } finally {
    session.pending = session.pending.filter((other) => other !== span);
    addReceived(session, { start: range.first, end: range.first + written });
    context.sessions.touch(session);
  }

  if (fault?.kind === 'reset') {
    req.socket.destroy();
    return;
  }
  if (fault?.kind === 'status') {
    throw statusFault(fault);
  }
  if (written !== length) {
    throw invalidRequest(`the fragment body has ${written} bytes but Content-Range names ${length}`);
  }
  if (receivedBytes(session) === session.size) {
    return completeSession(context, res, session);
  }
  sendJson(res, 202, {
    expirationDateTime: new Date(session.expiresAt).toISOString(),
    nextExpectedRanges: missingRanges(session, true),
  });
}

// Validates the fragment against the session before any byte is stored.
function checkFragment(context: EmulatorContext, req: IncomingMessage, session: UploadSession): FragmentRange {
  const range = parseContentRange(req.headers['content-range']);
  const length = range.last - range.first + 1;
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) !== length) {
    throw invalidRequest(`Content-Length ${declared} does not match Content-Range ${req.headers['content-range']}`);
  }
  if (session.size !== undefined && range.total !== session.size) {
    throw invalidRequest(`the Content-Range total ${range.total} differs from the file size ${session.size}`);
  }
  session.size = range.total;
  checkFragmentSize(range);
  if (overlaps(session, { start: range.first, end: range.last + 1 })) {
    throw new GraphHttpError(416, 'invalidRange', `the fragment ${range.first}-${range.last} overlaps bytes already received`, {
      innerCode: 'fragmentOverlap',
    });
  }
  if (receivedBytes(session) + length > context.drive.quota().remaining) {
    throw new GraphHttpError(507, 'quotaLimitReached', 'the upload exceeds the remaining quota of the drive');
  }
  return range;
}

// Writes the body at its offset and returns how many bytes were stored.
// With `limit`, bytes past it are dropped (or, with `resetAtLimit`, the
// connection is closed there), so a fault can store part of a fragment. A
// broken connection ends the loop with an error after the bytes that
// arrived are stored, and the caller records them.
async function writeFragment(
  req: IncomingMessage,
  session: UploadSession,
  range: FragmentRange,
  limit: number | undefined,
  resetAtLimit: boolean,
): Promise<number> {
  const length = range.last - range.first + 1;
  const keep = Math.min(limit ?? length, length);
  let written = 0;
  let seen = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    seen += chunk.length;
    if (seen > length) {
      throw invalidRequest(`the fragment body is longer than the ${length} bytes of its Content-Range`);
    }
    const piece = chunk.subarray(0, Math.max(0, keep - written));
    if (piece.length > 0) {
      await session.staging.write(piece, 0, piece.length, range.first + written);
      written += piece.length;
    }
    if (resetAtLimit && written >= keep) {
      req.socket.destroy();
      break;
    }
  }
  return written;
}

async function completeSession(context: EmulatorContext, res: ServerResponse, session: UploadSession): Promise<void> {
  await context.sessions.close(session, true);
  try {
    const hash = await quickXorHashOfStream(createReadStream(session.stagingPath));
    const content = { blobPath: session.stagingPath, size: session.size ?? 0, quickXorHash: hash };
    const result = await context.drive.commitFile(session.parentId, session.name, content, session.conflict);
    sendJson(res, result.created ? 201 : 200, itemJson(context, result.item));
  } catch (err) {
    await rm(session.stagingPath, { force: true });
    throw err;
  }
}

/** Builds the error response of a status fault, with its Retry-After header if any. */
export function statusFault(fault: Extract<FaultAction, { kind: 'status' }>): GraphHttpError {
  const headers: Record<string, string> = {};
  if (fault.retryAfter !== undefined) {
    const value =
      fault.retryAfter instanceof Date ? fault.retryAfter.toUTCString() : String(fault.retryAfter);
    headers[fault.retryAfterHeader ?? 'Retry-After'] = value;
  }
  const code = fault.code ?? defaultCodeFor(fault.status);
  return new GraphHttpError(fault.status, code, `injected fault: ${fault.status} ${code}`, { headers });
}

/** Serves a request to a download URL, honouring a single `Range: bytes=` range. */
export async function handleDownload(
  context: EmulatorContext,
  req: IncomingMessage,
  res: ServerResponse,
  itemId: string,
  fault: FaultAction | undefined,
): Promise<void> {
  if (req.method !== 'GET') {
    throw new GraphHttpError(405, 'invalidRequest', `${req.method} is not supported on a download URL`);
  }
  const item = context.drive.item(itemId);
  const size = item.size;
  const range = parseRange(req.headers.range, size);
  const [start, end] = range ?? [0, size - 1];
  const length = end - start + 1;
  res.statusCode = range === undefined ? 200 : 206;
  res.setHeader('Content-Type', 'application/octet-stream');
  res.setHeader('Content-Length', length);
  res.setHeader('Accept-Ranges', 'bytes');
  if (range !== undefined) {
    res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
  }
  if (length === 0) {
    res.end();
    return;
  }
  if (fault?.kind === 'reset') {
    const sent = Math.min(fault.storeBytes ?? Math.floor(length / 2), length);
    if (sent > 0) {
      await pipeline(context.drive.openContent(item, start, start + sent - 1), res, { end: false });
    }
    res.destroy();
    return;
  }
  await pipeline(context.drive.openContent(item, start, end), res);
}

// Returns [first, last] of a `bytes=` range, or undefined without a header.
// RFC 9110 section 14.1.2: `a-b`, `a-` and the suffix form `-n`.
function parseRange(header: string | undefined, size: number): [number, number] | undefined {
  if (header === undefined) {
    return undefined;
  }
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  const unsatisfiable = new GraphHttpError(416, 'invalidRange', `the range "${header}" is not satisfiable for ${size} bytes`, {
    headers: { 'Content-Range': `bytes */${size}` },
  });
  if (match === null || (match[1] === '' && match[2] === '')) {
    throw unsatisfiable;
  }
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) {
      throw unsatisfiable;
    }
    return [Math.max(0, size - suffix), size - 1];
  }
  const first = Number(match[1]);
  const last = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (first >= size || last < first) {
    throw unsatisfiable;
  }
  return [first, last];
}
