/**
 * The emulator's HTTP server on 127.0.0.1: it logs each request, applies the
 * fault plan, checks the bearer token on API calls and routes each request
 * to the API, upload or download handlers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { handleDriveRequest } from './api-handlers.ts';
import type { EmulatorContext, Permission, SignIn } from './context.ts';
import { DriveStore, type DriveType } from './drive.ts';
import { EmulatedDrive } from './emulated-drive.ts';
import { FaultPlan, type FaultAction, type RequestTarget } from './faults.ts';
import { GraphHttpError, sendGraphError } from './graph-error.ts';
import { parseDriveRoute } from './routes.ts';
import { handleDownload, handleUpload, statusFault } from './transfer-handlers.ts';
import { UploadSessionStore } from './upload-sessions.ts';

/** Settings of an emulator; every field has a default. */
export interface GraphEmulatorOptions {
  /** Bearer token the API accepts; defaults to `emulator-token`. */
  token?: string;
  driveId?: string;
  /** Defaults to `business`. */
  driveType?: DriveType;
  /** User whose drive `/users/{upn}/drive` reaches. */
  userPrincipalName?: string;
  /** Site whose library `/sites/{id}/drive` reaches. */
  siteId?: string;
  /** Quota total in bytes; defaults to 1 TiB. */
  quotaTotalBytes?: number;
  /**
   * Largest simple upload (`PUT .../content`) in bytes. Defaults to 250 MiB,
   * reading Graph's "files up to 250 MB" as binary megabytes; older OneDrive
   * documentation gave 4 MB.
   */
  simpleUploadMaxBytes?: number;
  /** Children per page when the request has no `$top`; defaults to 200. */
  pageSize?: number;
  /** Upload session lifetime, extended by each fragment; defaults to one hour. */
  uploadSessionLifetimeMillis?: number;
  /** Defaults to `read-write`. */
  permission?: Permission;
  /** Defaults to `delegated`, so `/me` works. */
  signIn?: SignIn;
  /** Clock for session expiry, in milliseconds since the epoch; defaults to Date.now. */
  now?: () => number;
}

/** One request as the emulator saw it. */
export interface RequestLogEntry {
  method: string;
  /** Decoded path with the query, like `/v1.0/me/drive/root:/a b:/content`. */
  path: string;
  target: RequestTarget;
  contentRange: string | undefined;
  range: string | undefined;
  /** Whether the request carried an Authorization header. */
  authorization: boolean;
  /** HTTP status sent, or `reset` when the connection closed without a response. */
  status: number | 'reset';
}

/** A running emulator. */
export interface GraphEmulator {
  /** Graph base URL, `http://127.0.0.1:<port>/v1.0`. */
  baseUrl: string;
  /** `http://127.0.0.1:<port>`, where upload and download URLs point. */
  origin: string;
  token: string;
  driveId: string;
  userPrincipalName: string;
  siteId: string;
  drive: EmulatedDrive;
  faults: FaultPlan;
  /** Every request so far, in arrival order. */
  requests: RequestLogEntry[];
  /** Returns the number of upload sessions neither completed, cancelled nor expired. */
  openUploadSessions(): number;
  /** Makes every open upload session expire now. */
  expireUploadSessions(): void;
  /** Changes what the caller may do from the next request on. */
  setPermission(permission: Permission): void;
  /** Changes the accepted token, so the old one gets 401 as a revoked sign-in would. */
  setToken(token: string): void;
  /** Closes the server and removes the drive's folder. */
  stop(): Promise<void>;
}

/** Starts a Graph drive emulator on 127.0.0.1 at a free port. */
export async function startGraphEmulator(options: GraphEmulatorOptions = {}): Promise<GraphEmulator> {
  const directory = await mkdtemp(join(tmpdir(), 'bgapp-graph-'));
  const now = options.now ?? Date.now;
  const context: EmulatorContext = {
    drive: new DriveStore({
      id: options.driveId ?? 'b!emulatorDrive0001',
      driveType: options.driveType ?? 'business',
      directory,
      quotaTotal: options.quotaTotalBytes ?? 1024 ** 4,
    }),
    sessions: new UploadSessionStore(directory, options.uploadSessionLifetimeMillis ?? 3_600_000, now),
    faults: new FaultPlan(),
    origin: '',
    baseUrl: '',
    token: options.token ?? 'emulator-token',
    permission: options.permission ?? 'read-write',
    signIn: options.signIn ?? 'delegated',
    userPrincipalName: options.userPrincipalName ?? 'backup@contoso.example',
    siteId: options.siteId ?? 'contoso.example,site-0001,web-0001',
    simpleUploadMaxBytes: options.simpleUploadMaxBytes ?? 250 * 1024 * 1024,
    pageSize: options.pageSize ?? 200,
  };
  const requests: RequestLogEntry[] = [];
  const server = createServer((req, res) => {
    void dispatch(context, requests, req, res);
  });
  await listen(server);
  const port = (server.address() as AddressInfo).port;
  context.origin = `http://127.0.0.1:${port}`;
  context.baseUrl = `${context.origin}/v1.0`;
  return {
    baseUrl: context.baseUrl,
    origin: context.origin,
    get token() {
      return context.token;
    },
    driveId: context.drive.id,
    userPrincipalName: context.userPrincipalName,
    siteId: context.siteId,
    drive: new EmulatedDrive(context.drive),
    faults: context.faults,
    requests,
    openUploadSessions: () => context.sessions.openCount(),
    expireUploadSessions: () => context.sessions.expireAll(),
    setPermission: (permission) => {
      context.permission = permission;
    },
    setToken: (token) => {
      context.token = token;
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await context.sessions.closeAll();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

function listen(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
}

async function dispatch(
  context: EmulatorContext,
  requests: RequestLogEntry[],
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', context.origin);
  const target = targetOf(url.pathname);
  const entry = logEntry(req, url, target);
  requests.push(entry);
  res.once('finish', () => {
    entry.status = res.statusCode;
  });
  res.once('close', () => {
    if (!res.writableFinished) {
      entry.status = 'reset';
    }
  });
  try {
    const fault = context.faults.take({ method: entry.method, target, path: safeDecode(url.pathname) });
    await route(context, req, res, url, target, fault);
  } catch (err) {
    const graphError =
      err instanceof GraphHttpError ? err : new GraphHttpError(500, 'generalException', `emulator failure: ${String(err)}`);
    await drain(req);
    sendGraphError(res, graphError);
  }
}

async function route(
  context: EmulatorContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  target: RequestTarget,
  fault: FaultAction | undefined,
): Promise<void> {
  const storesPart = target === 'upload' && fault?.kind === 'status' && fault.storeBytes !== undefined;
  if (fault?.kind === 'status' && !storesPart) {
    throw statusFault(fault);
  }
  if (fault?.kind === 'reset' && target === 'api') {
    req.socket.destroy();
    return;
  }
  const [, , id] = url.pathname.split('/');
  if (target === 'upload') {
    return handleUpload(context, req, res, id ?? '', fault);
  }
  if (target === 'download') {
    return handleDownload(context, req, res, id ?? '', fault);
  }
  checkToken(context, req);
  const drivePath = url.pathname.slice('/v1.0'.length);
  const parsed = url.pathname.startsWith('/v1.0/') ? parseDriveRoute(drivePath) : undefined;
  if (parsed === undefined) {
    throw new GraphHttpError(400, 'invalidRequest', `the emulator does not serve ${url.pathname}`);
  }
  await handleDriveRequest(context, req, res, parsed, url);
}

// Graph rejects a missing or wrong token with 401 InvalidAuthenticationToken.
function checkToken(context: EmulatorContext, req: IncomingMessage): void {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer (.+)$/i.exec(header);
  if (match?.[1] !== context.token) {
    const message = header === '' ? 'Access token is empty.' : 'Access token validation failure.';
    throw new GraphHttpError(401, 'InvalidAuthenticationToken', message, {
      headers: { 'WWW-Authenticate': 'Bearer realm="emulator"' },
    });
  }
}

function targetOf(pathname: string): RequestTarget {
  if (pathname.startsWith('/upload/')) {
    return 'upload';
  }
  return pathname.startsWith('/download/') ? 'download' : 'api';
}

function logEntry(req: IncomingMessage, url: URL, target: RequestTarget): RequestLogEntry {
  return {
    method: req.method ?? 'GET',
    path: safeDecode(url.pathname) + url.search,
    target,
    contentRange: req.headers['content-range'],
    range: req.headers.range,
    authorization: req.headers.authorization !== undefined,
    status: 'reset',
  };
}

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

// Reads and drops the rest of a request body, so an error response does not
// race the client's upload; a closed connection ends it early.
async function drain(req: IncomingMessage): Promise<void> {
  if (req.readableEnded || req.destroyed) {
    return;
  }
  try {
    for await (const _chunk of req) {
      // Dropped.
    }
  } catch {
    // The connection closed; there is nothing left to read.
  }
}
