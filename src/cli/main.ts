/**
 * Entry point of the `bgapp-backup` command line: parses the global options,
 * runs one command, maps errors to exit codes, and turns SIGINT and SIGTERM
 * into a clean stop that releases the repository lock.
 */
import { constants } from 'node:os';
import { parseArgs } from 'node:util';
import { BackupError, errorMessage, isBackupError } from '../errors/index.ts';
import { TOOL_VERSION } from '../job/version.ts';
import type { CommandContext, GlobalOptions } from './context.ts';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, EXIT_WARNINGS, exitCodeFor } from './exit-codes.ts';
import { ProgressLine, createCliLogger } from './output.ts';

const USAGE = `usage: bgapp-backup [--config FILE] [--repo DIR] [--json] [--quiet] [--verbose] COMMAND

commands:
  init                        create the repository
  backup [--source NAME]...   back up the configured sources into one snapshot
  restore SNAPSHOT [options]  restore a snapshot (id, unique prefix or "latest")
      --source NAME           the source to restore (default: all that have a target)
      --target-url URL        postgres: database to restore into
      --table SCHEMA.TABLE    postgres: restore only this table (repeatable)
      --roles                 postgres: create the dump's missing roles first
      --no-owner              postgres: restore without owners and grants
      --jobs N                postgres: parallel pg_restore (writes a temporary dump file)
      --bucket NAME           s3: restore only this bucket
      --target-bucket NAME    s3: bucket to restore into
      --target-endpoint URL   s3: another S3 service than the configured one
      --target-dir DIR        files: folder to restore into
      --force                 replace a target that is not empty
  snapshots                   list snapshots
  ls SNAPSHOT [PATH]          list the files of a snapshot
  check [--read-data]         verify the repository (--read-data reads every byte)
  unlock                      remove stale locks
  status                      OneDrive space, repository size, last snapshot, sync state
  login                       sign in to Microsoft Graph (device code flow)
  key list|add|remove ID|passwd   manage passwords (new one from BGAPP_BACKUP_NEW_PASSWORD)

--version prints the version.
--quiet prints nothing on stdout unless --json is given, except the listings of
snapshots, ls, key list and status; errors and a backup's warnings still go
to stderr.
The repository password comes from BGAPP_BACKUP_PASSWORD, BGAPP_BACKUP_PASSWORD_FILE
or the config's repository.password_file. Exit codes: 0 success, 1 failure,
2 invalid command line or config, 3 finished with warnings (for status: files not
in the cloud yet).`;

/** Time a stopped command gets to release its lock before the process exits anyway. */
const STOP_GRACE_MILLIS = 8000;

const COMMAND_OPTIONS = {
  config: { type: 'string' },
  repo: { type: 'string' },
  json: { type: 'boolean', default: false },
  quiet: { type: 'boolean', short: 'q', default: false },
  verbose: { type: 'boolean', short: 'v', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  version: { type: 'boolean', default: false },
  source: { type: 'string', multiple: true },
  'target-url': { type: 'string' },
  table: { type: 'string', multiple: true },
  roles: { type: 'boolean', default: false },
  'no-owner': { type: 'boolean', default: false },
  jobs: { type: 'string' },
  bucket: { type: 'string' },
  'target-bucket': { type: 'string' },
  'target-endpoint': { type: 'string' },
  'target-dir': { type: 'string' },
  force: { type: 'boolean', default: false },
  'read-data': { type: 'boolean', default: false },
} as const;

/** Parsed command line. */
export type ParsedArgs = ReturnType<typeof parseCommandLine>;

function parseCommandLine(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: COMMAND_OPTIONS,
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new BackupError('ERR_USAGE', `${errorMessage(err)}; run bgapp-backup --help`, {
      cause: err,
    });
  }
}

/**
 * Ends the process at once, as `signal` ends a process that does not catch
 * it, so that shells see the signal. process.exit() would first wait for
 * the work on Node.js's thread pool to finish, such as a key derivation of
 * several seconds.
 */
function exitBySignal(signal: NodeJS.Signals): void {
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
  process.exit(128 + (constants.signals[signal] ?? 0));
}

/** Runs the command line and returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  // A reader that stops early, as `ls | head` does, closes the pipe. The
  // command still finishes its work, and what it would print is dropped.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  const controller = new AbortController();
  let stoppedBy: NodeJS.Signals | undefined;
  const stop = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) exitBySignal(signal);
    stoppedBy = signal;
    controller.abort(new BackupError('ERR_ABORTED', `the run was interrupted by ${signal}`));
    // Work that does not notice the abort (a child process, a request the
    // service keeps open) must not keep the process alive: a lock left behind
    // is stale, and the next backup removes it.
    setTimeout(() => exitBySignal(signal), STOP_GRACE_MILLIS).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  let ctx: CommandContext | undefined;
  try {
    const parsed = parseCommandLine(argv);
    const [command, ...rest] = parsed.positionals;
    if (parsed.values.version) {
      process.stdout.write(`bgapp-backup ${TOOL_VERSION}\n`);
      return EXIT_OK;
    }
    if (parsed.values.help || !command) {
      process.stdout.write(`${USAGE}\n`);
      return command || parsed.values.help ? EXIT_OK : EXIT_USAGE;
    }
    const options: GlobalOptions = {
      config: parsed.values.config,
      repo: parsed.values.repo,
      json: parsed.values.json,
      quiet: parsed.values.quiet,
      verbose: parsed.values.verbose,
    };
    const progress = new ProgressLine(options);
    ctx = {
      options,
      progress,
      logger: createCliLogger(options, progress),
      signal: controller.signal,
      warnings: 0,
    };
    const code = await runCommand(ctx, command, rest, parsed);
    return code === EXIT_OK && ctx.warnings > 0 ? EXIT_WARNINGS : code;
  } catch (err) {
    ctx?.progress.done();
    const code = isBackupError(err) ? err.code : undefined;
    process.stderr.write(`error: ${failureMessage(err, stoppedBy)}\n`);
    if (ctx?.options.verbose && err instanceof Error && err.stack)
      process.stderr.write(`${err.stack}\n`);
    // As shells report a process ended by a signal: 128 plus its number.
    if (stoppedBy) return 128 + (constants.signals[stoppedBy] ?? 0);
    return code ? exitCodeFor(code) : EXIT_FAILURE;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/**
 * Returns the message printed for a failed command. When a signal stopped
 * it, the message names the signal, because work that was cut short may
 * fail with an error that does not say why, such as Node.js's "The
 * operation was aborted".
 */
export function failureMessage(err: unknown, stoppedBy: NodeJS.Signals | undefined): string {
  const message = errorMessage(err);
  if (stoppedBy === undefined || message.includes(stoppedBy)) return message;
  return `the run was interrupted by ${stoppedBy}: ${message}`;
}

async function runCommand(
  ctx: CommandContext,
  command: string,
  rest: string[],
  parsed: ParsedArgs,
): Promise<number> {
  // Each command loads its own modules, so that a short command such as
  // `snapshots` does not pay for loading the S3, PostgreSQL and Graph clients.
  switch (command) {
    case 'init':
      return (await import('./commands/init.ts')).runInit(ctx);
    case 'backup':
      return (await import('./commands/backup.ts')).runBackupCommand(
        ctx,
        parsed.values.source ?? [],
      );
    case 'restore':
      return (await import('./commands/restore.ts')).runRestoreCommand(ctx, rest[0], parsed);
    case 'snapshots':
      return (await import('./commands/snapshots.ts')).runSnapshots(ctx);
    case 'ls':
      return (await import('./commands/ls.ts')).runLs(ctx, rest[0], rest[1]);
    case 'check':
      return (await import('./commands/check.ts')).runCheck(ctx, parsed.values['read-data']);
    case 'unlock':
      return (await import('./commands/unlock.ts')).runUnlock(ctx);
    case 'key':
      return (await import('./commands/key.ts')).runKey(ctx, rest);
    case 'login':
      return (await import('./commands/login.ts')).runLogin(ctx);
    case 'status':
      return (await import('./commands/status.ts')).runStatus(ctx);
    default:
      throw new BackupError('ERR_USAGE', `unknown command ${command}; run bgapp-backup --help`);
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
