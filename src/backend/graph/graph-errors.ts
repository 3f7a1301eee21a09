/**
 * Maps Graph's error replies to BackupError codes. Graph's error body is
 * `{"error": {"code", "message", "innererror": {"code"}}}` (Graph v1.0
 * reference, "Microsoft Graph error responses and resource types").
 */
import { BackupError } from '../../errors/index.ts';
import { describeFailure, type Failure } from './retry.ts';

/** The parts of a Graph error body that messages use. */
export interface GraphErrorBody {
  code?: string;
  message?: string;
  innerCode?: string;
}

/** Parses a Graph error body; returns an empty object for anything else. */
export function parseGraphError(text: string): GraphErrorBody {
  try {
    const parsed = JSON.parse(text) as {
      error?: { code?: unknown; message?: unknown; innererror?: { code?: unknown } };
    };
    const error = parsed.error;
    if (!error) return {};
    return {
      code: typeof error.code === 'string' ? error.code : undefined,
      message: typeof error.message === 'string' ? error.message : undefined,
      innerCode: typeof error.innererror?.code === 'string' ? error.innererror.code : undefined,
    };
  } catch {
    return {};
  }
}

/** Formats an error body for a message: `code (inner code): message`. */
export function formatGraphError(body: GraphErrorBody): string {
  const codes = [body.code, body.innerCode].filter(Boolean).join('/');
  return [codes, body.message].filter(Boolean).join(': ');
}

/** Tells whether an error reply says the drive is out of space. */
export function isQuotaFailure(failure: Failure): boolean {
  if (failure.kind !== 'status') return false;
  return failure.status === 507 || /quotaLimitReached|insufficientStorage/i.test(failure.detail);
}

/** Tells whether a 400 reply is about a name or path that OneDrive rejects. */
function isNameFailure(failure: Failure): boolean {
  if (failure.kind !== 'status' || failure.status !== 400) return false;
  return /name|path|character/i.test(failure.detail);
}

/** Turns a failure that is not retried into a BackupError with the matching code. */
export function finalGraphError(failure: Failure, what: string): BackupError {
  const detail = describeFailure(failure);
  if (failure.kind === 'network') {
    return new BackupError('ERR_BACKEND_IO', `failed to ${what}: ${detail}`, {
      cause: failure.error,
    });
  }
  if (failure.status === 401) {
    return new BackupError(
      'ERR_AUTH_EXPIRED',
      `Microsoft Graph rejected the sign-in while trying to ${what} (${detail}); the sign-in ` +
        'expired or was revoked: run `bgapp-backup login`, or renew the access token file',
    );
  }
  if (failure.status === 403) {
    return new BackupError(
      'ERR_GRAPH_FORBIDDEN',
      `permission denied to ${what} (${detail}); grant the account or app Files.ReadWrite ` +
        '(a person) or Files.ReadWrite.All or Sites.ReadWrite.All (an app)',
    );
  }
  if (isQuotaFailure(failure)) {
    return new BackupError('ERR_GRAPH_QUOTA', `OneDrive is full: failed to ${what} (${detail})`);
  }
  if (isNameFailure(failure)) {
    return new BackupError(
      'ERR_GRAPH_NAME_INVALID',
      `OneDrive rejected the name or path while trying to ${what} (${detail}); choose a ` +
        'repository folder without the characters " * : < > ? \\ |',
    );
  }
  if (failure.status === 404) {
    return new BackupError(
      'ERR_GRAPH_NOT_FOUND',
      `not found while trying to ${what} (${detail}); check the drive setting and the ` +
        'repository path, or run `init`',
    );
  }
  return new BackupError('ERR_BACKEND_IO', `failed to ${what}: ${detail}`);
}
