/**
 * Error catalogue. Every error the library raises for a user to act on is a
 * BackupError with a stable code. Codes are documented in docs/errors.md and
 * never reused once retired.
 */

/** Stable error codes, one per kind of failure. */
export type ErrorCode =
  | 'ERR_CONFIG_INVALID'
  | 'ERR_CONFIG_NOT_FOUND'
  | 'ERR_PASSWORD_MISSING'
  | 'ERR_PASSWORD_WRONG'
  | 'ERR_REPO_NOT_FOUND'
  | 'ERR_REPO_EXISTS'
  | 'ERR_REPO_LOCKED'
  | 'ERR_REPO_CORRUPT'
  | 'ERR_REPO_UNSUPPORTED'
  | 'ERR_BACKEND_IO'
  | 'ERR_SNAPSHOT_NOT_FOUND'
  | 'ERR_SNAPSHOT_AMBIGUOUS'
  | 'ERR_SNAPSHOT_PATH_INVALID'
  | 'ERR_SOURCE_FAILED'
  | 'ERR_PG_CONNECT'
  | 'ERR_PG_DUMP_TOO_OLD'
  | 'ERR_PG_DUMP_FAILED'
  | 'ERR_PG_RESTORE_FAILED'
  | 'ERR_PG_ROLE_MISSING'
  | 'ERR_S3_BUCKET_NOT_FOUND'
  | 'ERR_S3_LISTING'
  | 'ERR_S3_FAILED'
  | 'ERR_FILES_FAILED'
  | 'ERR_RESTORE_TARGET_NOT_EMPTY'
  | 'ERR_RESTORE_UNSAFE_PATH'
  | 'ERR_RESTORE_TARGET_NOT_WRITABLE'
  | 'ERR_RESTORE_VERIFY'
  | 'ERR_HOOK_FAILED'
  | 'ERR_ONEDRIVE_NOT_FOUND'
  | 'ERR_GRAPH_THROTTLED'
  | 'ERR_GRAPH_QUOTA'
  | 'ERR_GRAPH_NAME_INVALID'
  | 'ERR_GRAPH_NOT_FOUND'
  | 'ERR_GRAPH_FORBIDDEN'
  | 'ERR_GRAPH_VERIFY'
  | 'ERR_AUTH_EXPIRED'
  | 'ERR_AUTH_FAILED'
  | 'ERR_USAGE'
  | 'ERR_ABORTED';

/** Base class of every error meant for the user. */
export class BackupError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BackupError';
    this.code = code;
  }
}

/** Tells whether `err` is a BackupError, optionally of the given code. */
export function isBackupError(err: unknown, code?: ErrorCode): err is BackupError {
  return err instanceof BackupError && (code === undefined || err.code === code);
}

/** Returns the message of any thrown value, for wrapping it in context. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
