/**
 * Handlers of the Graph API calls on a drive: the drive resource with its
 * quota, item metadata, children listing with paging, folder creation,
 * deletion, the download redirect, simple upload and createUploadSession.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { QuickXorHash } from '../../../src/backend/graph/quickxor.ts';
import { downloadUrl, driveJson, itemJson, type EmulatorContext } from './context.ts';
import type { ConflictBehavior, DriveItemRecord, StagedContent } from './drive.ts';
import { GraphHttpError, invalidRequest, itemNotFound } from './graph-error.ts';
import type { DriveRoute, DriveSelector } from './routes.ts';

const MAX_JSON_BODY_BYTES = 64 * 1024;
const MAX_PAGE_SIZE = 1000;

/** Handles one drive API request whose route is parsed already. */
export async function handleDriveRequest(
  context: EmulatorContext,
  req: IncomingMessage,
  res: ServerResponse,
  route: DriveRoute,
  url: URL,
): Promise<void> {
  checkDrive(context, route.drive);
  checkPermission(context, req.method ?? 'GET');
  const method = req.method ?? 'GET';
  if (route.item === undefined) {
    requireMethod(method, ['GET']);
    return sendJson(res, 200, driveJson(context));
  }
  const { itemId, segments, action } = route.item;
  const baseId = itemId ?? context.drive.rootId;
  const key = `${method} ${action}`;
  switch (key) {
    case 'GET item':
      return sendJson(res, 200, itemJson(context, context.drive.resolve(baseId, segments)));
    case 'DELETE item':
      await context.drive.delete(context.drive.resolve(baseId, segments).id);
      return sendEmpty(res, 204);
    case 'GET children':
      return listChildren(context, res, context.drive.resolve(baseId, segments), url);
    case 'POST children':
      return createFolder(context, req, res, context.drive.resolve(baseId, segments));
    case 'GET content':
      return redirectToContent(context, res, context.drive.resolve(baseId, segments));
    case 'PUT content':
      return simpleUpload(context, req, res, baseId, segments, url);
    case 'POST createUploadSession':
      return createUploadSession(context, req, res, baseId, segments);
    default:
      throw new GraphHttpError(405, 'invalidRequest', `${method} is not supported on ${action}`);
  }
}

function checkDrive(context: EmulatorContext, selector: DriveSelector): void {
  if (selector.kind === 'me' && context.signIn === 'application') {
    throw new GraphHttpError(400, 'BadRequest', '/me request is only valid with delegated authentication flow.');
  }
  const unknown =
    (selector.kind === 'drive' && selector.id !== context.drive.id) ||
    (selector.kind === 'user' && selector.userPrincipalName.toLowerCase() !== context.userPrincipalName.toLowerCase()) ||
    (selector.kind === 'site' && selector.siteId !== context.siteId);
  if (unknown) {
    throw itemNotFound(`drive ${JSON.stringify(selector)}`);
  }
}

function checkPermission(context: EmulatorContext, method: string): void {
  const denied = context.permission === 'none' || (context.permission === 'read' && method !== 'GET');
  if (denied) {
    throw new GraphHttpError(403, 'accessDenied', 'the caller does not have permission to perform the action');
  }
}

function requireMethod(method: string, allowed: string[]): void {
  if (!allowed.includes(method)) {
    throw new GraphHttpError(405, 'invalidRequest', `${method} is not supported here`);
  }
}

// Children are listed by name; `$skiptoken` is the offset of the next page.
function listChildren(context: EmulatorContext, res: ServerResponse, folder: DriveItemRecord, url: URL): void {
  if (folder.kind !== 'folder') {
    throw invalidRequest(`the item ${context.drive.pathOf(folder)} is not a folder`);
  }
  const top = Number(url.searchParams.get('$top') ?? context.pageSize);
  if (!Number.isInteger(top) || top < 1 || top > MAX_PAGE_SIZE) {
    throw invalidRequest(`$top must be an integer from 1 to ${MAX_PAGE_SIZE}`);
  }
  const offset = Number(url.searchParams.get('$skiptoken') ?? '0');
  const all = context.drive.children(folder.id);
  const page = all.slice(offset, offset + top);
  const body: Record<string, unknown> = { value: page.map((item) => itemJson(context, item)) };
  if (offset + top < all.length) {
    body['@odata.nextLink'] = `${context.origin}${url.pathname}?$top=${top}&$skiptoken=${offset + top}`;
  }
  sendJson(res, 200, body);
}

async function createFolder(
  context: EmulatorContext,
  req: IncomingMessage,
  res: ServerResponse,
  parent: DriveItemRecord,
): Promise<void> {
  const body = await readJson(req);
  if (typeof body.name !== 'string' || typeof body.folder !== 'object') {
    throw invalidRequest('a new folder needs "name" and "folder": {}');
  }
  const conflict = conflictBehavior(body['@microsoft.graph.conflictBehavior'], 'fail');
  const folder = context.drive.createFolder(parent.id, body.name, conflict);
  sendJson(res, 201, itemJson(context, folder));
}

function redirectToContent(context: EmulatorContext, res: ServerResponse, item: DriveItemRecord): void {
  if (item.kind !== 'file') {
    throw invalidRequest(`the item ${context.drive.pathOf(item)} is a folder and has no content`);
  }
  res.statusCode = 302;
  res.setHeader('Location', downloadUrl(context, item));
  res.end();
}

// PUT content streams the body into a staging file while hashing it, and
// checks the simple-upload limit and the quota as bytes arrive.
async function simpleUpload(
  context: EmulatorContext,
  req: IncomingMessage,
  res: ServerResponse,
  baseId: string,
  segments: string[],
  url: URL,
): Promise<void> {
  const conflict = conflictBehavior(url.searchParams.get('@microsoft.graph.conflictBehavior'), 'replace');
  const declared = Number(req.headers['content-length'] ?? NaN);
  const limit = Math.min(context.simpleUploadMaxBytes, context.drive.quota().remaining);
  if (declared > limit) {
    throw uploadTooLarge(context, declared);
  }
  const target = uploadTarget(context, baseId, segments);
  if (conflict === 'fail' && context.drive.find(target.parentId, [target.name]) !== undefined) {
    throw new GraphHttpError(409, 'nameAlreadyExists', `an item named "${target.name}" already exists`);
  }
  const content = await stageBody(context, req, limit);
  const result = await context.drive
    .commitFile(target.parentId, target.name, content, conflict)
    .catch(async (err: unknown) => {
      await rm(content.blobPath, { force: true });
      throw err;
    });
  sendJson(res, result.created ? 201 : 200, itemJson(context, result.item));
}

function uploadTooLarge(context: EmulatorContext, size: number): GraphHttpError {
  if (size > context.drive.quota().remaining) {
    return new GraphHttpError(507, 'quotaLimitReached', `the upload of ${size} bytes exceeds the drive's remaining quota`);
  }
  return new GraphHttpError(
    413,
    'requestTooLarge',
    `a simple upload is limited to ${context.simpleUploadMaxBytes} bytes; use an upload session`,
  );
}

async function stageBody(context: EmulatorContext, req: IncomingMessage, limit: number): Promise<StagedContent> {
  const blobPath = context.drive.newBlobPath();
  const out = createWriteStream(blobPath);
  const hash = new QuickXorHash();
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      hash.update(chunk);
      if (hash.length > limit) {
        throw uploadTooLarge(context, hash.length);
      }
      if (!out.write(chunk)) {
        await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      }
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  } catch (err) {
    out.destroy();
    await rm(blobPath, { force: true });
    throw err;
  }
  return { blobPath, size: hash.length, quickXorHash: hash.digestBase64() };
}

/**
 * Returns the folder and name a path-addressed upload writes to, creating
 * missing parent folders as OneDrive does. For `/items/{id}/content` with no
 * path, the item itself is the target and must be a file.
 */
export function uploadTarget(
  context: EmulatorContext,
  baseId: string,
  segments: string[],
): { parentId: string; name: string } {
  const { drive } = context;
  const name = segments.at(-1);
  if (name === undefined) {
    const item = drive.item(baseId);
    if (item.kind !== 'file' || item.parentId === undefined) {
      throw invalidRequest(`the item ${drive.pathOf(item)} is a folder; name a file to upload to`);
    }
    return { parentId: item.parentId, name: item.name };
  }
  const parent = drive.ensureFolder(baseId, segments.slice(0, -1));
  return { parentId: parent.id, name };
}

async function createUploadSession(
  context: EmulatorContext,
  req: IncomingMessage,
  res: ServerResponse,
  baseId: string,
  segments: string[],
): Promise<void> {
  const body = await readJson(req);
  const item = (body.item ?? {}) as Record<string, unknown>;
  const conflict = conflictBehavior(item['@microsoft.graph.conflictBehavior'], 'replace');
  const size = typeof item.fileSize === 'number' ? item.fileSize : undefined;
  if (size !== undefined && size > context.drive.quota().remaining) {
    throw uploadTooLarge(context, size);
  }
  const target = uploadTarget(context, baseId, segments);
  if (conflict === 'fail' && context.drive.find(target.parentId, [target.name]) !== undefined) {
    throw new GraphHttpError(409, 'nameAlreadyExists', `an item named "${target.name}" already exists`);
  }
  const session = await context.sessions.create({ ...target, conflict, size });
  sendJson(res, 200, {
    uploadUrl: `${context.origin}/upload/${session.id}`,
    expirationDateTime: new Date(session.expiresAt).toISOString(),
    nextExpectedRanges: ['0-'],
  });
}

function conflictBehavior(value: unknown, fallback: ConflictBehavior): ConflictBehavior {
  if (value === undefined || value === null) {
    return fallback;
  }
  if (value === 'fail' || value === 'replace' || value === 'rename') {
    return value;
  }
  throw invalidRequest(`@microsoft.graph.conflictBehavior "${String(value)}" is not fail, replace or rename`);
}

/** Reads a small JSON request body; an empty body is `{}`. */
export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > MAX_JSON_BODY_BYTES) {
      throw invalidRequest(`the JSON body is larger than ${MAX_JSON_BODY_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') {
    return {};
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // Falls through to the error below.
  }
  throw invalidRequest('the request body is not a JSON object');
}

/** Sends a JSON response. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

function sendEmpty(res: ServerResponse, status: number): void {
  res.statusCode = status;
  res.end();
}
