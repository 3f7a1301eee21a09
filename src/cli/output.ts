/**
 * Output of the command line: one readable line per log record on stderr,
 * a progress line on a terminal, and results on stdout (JSON with --json).
 */
import { Writable } from 'node:stream';
import { pino, type LoggerOptions } from 'pino';
import type { Logger, ProgressEvent, ProgressListener } from '../log/index.ts';
import { parseGoTime } from '../archiver/go-format.ts';

/** Output settings from the global options. */
export interface OutputOptions {
  json: boolean;
  quiet: boolean;
  verbose: boolean;
}

const LEVEL_NAMES: Record<number, string> = { 20: 'debug', 30: 'info', 40: 'warning', 50: 'error' };
const HIDDEN_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'v']);

/** Formats one pino JSON record as `level: message key=value ...`. */
export function formatLogLine(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const level = LEVEL_NAMES[Number(record.level)] ?? 'log';
  const fields = Object.entries(record)
    .filter(([key]) => !HIDDEN_FIELDS.has(key))
    .map(([key, value]) => `${key}=${formatField(value)}`);
  return [`${level}: ${String(record.msg ?? '')}`, ...fields].join(' ');
}

/** pino's number for the error level. */
const ERROR_LEVEL = 50;

/**
 * Tells whether --quiet keeps a log call: errors, and the warnings that a
 * snapshot records (their object carries a `kind`), because those explain
 * exit code 3.
 */
function shownWhenQuiet(args: unknown[], level: number): boolean {
  const fields = args[0];
  return level >= ERROR_LEVEL || (typeof fields === 'object' && fields !== null && 'kind' in fields);
}

function formatField(value: unknown): string {
  if (value && typeof value === 'object' && 'message' in value) {
    return JSON.stringify((value as { message: unknown }).message);
  }
  return typeof value === 'string' && !/\s/.test(value) ? value : JSON.stringify(value);
}

/** Creates the logger the commands hand to the library: readable lines on stderr. */
export function createCliLogger(options: OutputOptions, progress: ProgressLine): Logger {
  const level = options.verbose ? 'debug' : 'warn';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line) progress.printAbove(formatLogLine(line));
      }
      callback();
    },
  });
  // --quiet drops calls before pino serializes them.
  const hooks: LoggerOptions['hooks'] = {
    logMethod(args, method, callLevel) {
      if (!options.quiet || shownWhenQuiet(args, callLevel)) method.apply(this, args);
    },
  };
  return pino(
    { level, hooks, redact: ['password', '*.password', 'secret_access_key', '*.secret_access_key'] },
    destination,
  ) as unknown as Logger;
}

/**
 * A single status line at the bottom of a terminal, redrawn at most a few
 * times a second. On anything but a terminal it draws nothing.
 */
export class ProgressLine {
  private readonly enabled: boolean;
  private text = '';
  private lastDraw = 0;
  private bytesRead = 0;
  /** Bytes read by the sources before the current one; `bytes` events count per source. */
  private sourceBytesBase = 0;
  private items = 0;
  private source = '';
  private readonly startedAt = Date.now();

  private readonly stream: NodeJS.WriteStream;

  constructor(options: OutputOptions, stream: NodeJS.WriteStream = process.stderr) {
    this.stream = stream;
    this.enabled = Boolean(stream.isTTY) && !options.quiet;
  }

  /** The listener to pass to the library. */
  readonly listener: ProgressListener = (event: ProgressEvent) => this.onEvent(event);

  /** Prints a line above the status line. */
  printAbove(line: string): void {
    this.clear();
    this.stream.write(`${line}\n`);
    this.draw(true);
  }

  /** Removes the status line, before the command prints its result. */
  done(): void {
    this.clear();
    this.text = '';
  }

  private onEvent(event: ProgressEvent): void {
    if (event.type === 'source-start') this.source = event.source;
    if (event.type === 'item') this.items += 1;
    if (event.type === 'source-start') this.sourceBytesBase = this.bytesRead;
    if (event.type === 'bytes') this.bytesRead = this.sourceBytesBase + event.bytesRead;
    if (event.type === 'phase') this.source = event.phase;
    const seconds = Math.max((Date.now() - this.startedAt) / 1000, 0.001);
    const rate = this.bytesRead / seconds / 1e6;
    this.text = `[${formatDuration(seconds)}] ${this.source} ${this.items} items, ${formatBytes(
      this.bytesRead,
    )} read, ${rate.toFixed(1)} MB/s`;
    this.draw(false);
  }

  private clear(): void {
    if (this.enabled && this.text) this.stream.write('\r\x1b[K');
  }

  private draw(force: boolean): void {
    if (!this.enabled || !this.text) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 200) return;
    this.lastDraw = now;
    const width = this.stream.columns || 80;
    this.stream.write(`\r\x1b[K${this.text.slice(0, width - 1)}`);
  }
}

/** Formats a byte count with binary units, e.g. `1.50 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(2)} ${units[unit]}`;
}

function formatDuration(seconds: number): string {
  const s = Math.floor(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * Formats an RFC 3339 time of the repository (a snapshot's or a key's) in
 * this machine's time zone, to the second, as restic's listings print it:
 * `2026-12-05 02:35:17`. Times written in other zones, by restic on another
 * machine for example, then read alike. Text that is not such a time is
 * returned as it is.
 */
export function formatLocalTime(time: string): string {
  let date: Date;
  try {
    date = parseGoTime(time);
  } catch {
    return time;
  }
  const two = (value: number) => String(value).padStart(2, '0');
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ` +
    `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

/** Formats a count with its noun, e.g. `1 snapshot`, `3 snapshots`. */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/**
 * Prints a command's result on stdout: JSON with --json, else the text
 * lines. With --quiet and without --json nothing goes to stdout, and only
 * `failures`, the lines that explain a failed result, go to stderr.
 */
export function printResult(
  options: OutputOptions,
  json: unknown,
  text: () => string[],
  failures: () => string[] = () => [],
): void {
  if (options.json) {
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    return;
  }
  if (options.quiet) {
    for (const line of failures()) process.stderr.write(`${line}\n`);
    return;
  }
  for (const line of text()) process.stdout.write(`${line}\n`);
}

/**
 * Prints what a listing command was run to show (snapshots, files, keys,
 * status): JSON with --json, else the text lines, with or without --quiet,
 * as restic's listings do.
 */
export function printListing(options: OutputOptions, json: unknown, text: () => string[]): void {
  printResult({ ...options, quiet: false }, json, text);
}
