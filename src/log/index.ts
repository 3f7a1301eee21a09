/**
 * Logging and progress contracts of the library. The library never prints:
 * it writes structured records to an injected pino-style logger and reports
 * progress as events, so the command line, the service and the tests each
 * choose how to show them.
 */

/** The subset of pino's logger that the library calls. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** A logger that drops every record. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

/** A problem that did not stop the run, such as an unreadable file. */
export interface Warning {
  /** Name of the configured source, or "repository". */
  source: string;
  /** Path or key the warning is about. */
  item: string;
  kind: 'unreadable' | 'changed' | 'vanished' | 'skipped' | 'other';
  message: string;
}

/** Progress reported during long work. */
export type ProgressEvent =
  | { type: 'source-start'; source: string }
  | { type: 'source-done'; source: string }
  | { type: 'item'; source: string; item: string; bytes: number }
  | { type: 'bytes'; source: string; bytesRead: number; bytesStored: number }
  | { type: 'warning'; warning: Warning }
  | { type: 'phase'; phase: string };

/** Receives progress events; it must return quickly and never throw. */
export type ProgressListener = (event: ProgressEvent) => void;
