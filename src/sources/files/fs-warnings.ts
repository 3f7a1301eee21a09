/**
 * Sorting of file-system errors met while walking or reading one entry into the
 * warning kinds of the log contract, so that such an error becomes a warning
 * instead of failing the run. Errors that are not system errors are raised.
 */
import type { Warning } from '../../log/index.ts';

/** Records a warning about one entry, by its path relative to the source folder. */
export type EntryWarn = (item: string, kind: Warning['kind'], message: string) => void;

/** Returns the `code` of a Node.js system error, or undefined for other values. */
export function systemErrorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('syscall' in err)) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Returns the warning kind for a system error on one entry, or undefined when
 * `err` is not a system error and must be raised.
 */
export function warningKindOf(err: unknown): Warning['kind'] | undefined {
  const code = systemErrorCode(err);
  if (code === undefined) return undefined;
  if (code === 'ENOENT' || code === 'ENOTDIR') return 'vanished';
  if (code === 'EACCES' || code === 'EPERM') return 'unreadable';
  return 'other';
}

/** Returns the message of a system error without the repeated path. */
export function describeSystemError(err: unknown): string {
  const code = systemErrorCode(err);
  if (code === 'ENOENT' || code === 'ENOTDIR') return 'it was removed after the folder was listed';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return err instanceof Error ? err.message : String(err);
}
