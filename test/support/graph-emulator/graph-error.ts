/**
 * Graph's error responses: an HTTP status and the JSON body
 * `{ error: { code, message, innerError } }` (Microsoft Graph, "Microsoft
 * Graph error responses and resource types").
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';

/** An error the emulator returns to the client as a Graph error response. */
export class GraphHttpError extends Error {
  readonly status: number;
  readonly code: string;
  /** A more specific code, sent as `innerError.code` (for example `fragmentOverlap`). */
  readonly innerCode: string | undefined;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    code: string,
    message: string,
    options: { innerCode?: string; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'GraphHttpError';
    this.status = status;
    this.code = code;
    this.innerCode = options.innerCode;
    this.headers = options.headers ?? {};
  }
}

/** Builds the 404 `itemNotFound` error for a path or item id. */
export function itemNotFound(what: string): GraphHttpError {
  return new GraphHttpError(404, 'itemNotFound', `the item ${what} does not exist`);
}

/** Builds a 400 `invalidRequest` error. */
export function invalidRequest(message: string, innerCode?: string): GraphHttpError {
  return new GraphHttpError(400, 'invalidRequest', message, innerCode ? { innerCode } : {});
}

/** Returns the usual top-level code for a status, for a fault that names none. */
export function defaultCodeFor(status: number): string {
  const codes: Record<number, string> = {
    400: 'invalidRequest',
    401: 'unauthenticated',
    403: 'accessDenied',
    404: 'itemNotFound',
    409: 'nameAlreadyExists',
    416: 'invalidRange',
    429: 'activityLimitReached',
    500: 'generalException',
    503: 'serviceNotAvailable',
    504: 'gatewayTimeout',
    507: 'quotaLimitReached',
  };
  return codes[status] ?? 'generalException';
}

/** Sends `err` as a Graph error response, unless the response has started already. */
export function sendGraphError(res: ServerResponse, err: GraphHttpError): void {
  if (res.headersSent || res.destroyed) {
    return;
  }
  const innerError: Record<string, string> = {
    date: new Date().toISOString().replace(/\.\d+Z$/, ''),
    'request-id': randomUUID(),
    'client-request-id': randomUUID(),
  };
  if (err.innerCode !== undefined) {
    innerError.code = err.innerCode;
  }
  const body = JSON.stringify({ error: { code: err.code, message: err.message, innerError } });
  // setHeader keeps the spelling it is given, so a fault can send `retry-after` in lower case.
  for (const [name, value] of Object.entries(err.headers)) {
    res.setHeader(name, value);
  }
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.statusCode = err.status;
  res.end(body);
}
