/**
 * Exit codes of the command line, as documented in the README. They follow
 * restic's: 0 success, 1 failure, 3 finished with warnings.
 */
import type { ErrorCode } from '../errors/index.ts';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
/** The command line or the config file is invalid. */
export const EXIT_USAGE = 2;
/** The run finished, but some source data could not be read (see the warnings). */
export const EXIT_WARNINGS = 3;

const USAGE_CODES: ReadonlySet<ErrorCode> = new Set([
  'ERR_USAGE',
  'ERR_CONFIG_INVALID',
  'ERR_CONFIG_NOT_FOUND',
]);

/** Returns the exit code for a failure with the given error code. */
export function exitCodeFor(code: ErrorCode | undefined): number {
  return code !== undefined && USAGE_CODES.has(code) ? EXIT_USAGE : EXIT_FAILURE;
}
