/**
 * Runs the PostgreSQL client programs, either from the local install or
 * inside the database's container through `docker exec`. Passwords reach
 * the programs only through the PGPASSWORD variable, never the arguments.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { PgTarget } from './connection.ts';

/** A PostgreSQL client program. */
export type PgProgram = 'pg_dump' | 'pg_dumpall' | 'pg_restore';

/** Location of the client programs: a local folder or a container. */
export interface PgToolOptions {
  /** Folder of the local programs; PATH when unset. */
  binDir?: string;
  /** Container to run the programs in with `docker exec`. */
  container?: string;
  /** Environment of the child processes; process.env when unset. */
  env?: NodeJS.ProcessEnv;
  /** The programs' application_name (PGAPPNAME), under which the server lists their sessions. */
  applicationName?: string;
}

/** A command ready to spawn; `args` carry no secret. */
export interface PgCommand {
  file: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

/**
 * Builds the command that runs `program` with `args`, without connection
 * options. `stdin` keeps the container's stdin open (`docker exec -i`).
 */
export function pgCommand(
  program: PgProgram,
  args: string[],
  tools: PgToolOptions,
  stdin = false,
): PgCommand {
  const env = { ...(tools.env ?? process.env) };
  if (tools.container !== undefined) {
    const exec = stdin ? ['exec', '-i'] : ['exec'];
    return { file: 'docker', args: [...exec, tools.container, program, ...args], env };
  }
  const file = tools.binDir === undefined ? program : join(tools.binDir, program);
  return { file, args, env };
}

/**
 * Builds the command that runs `program` connected to `target`. Locally it
 * connects with the URL. In a container it connects through the container's
 * own Unix socket as the URL's user, because the URL's host and port are how
 * this machine reaches the server and may mean nothing inside the container.
 */
export function pgConnectedCommand(
  program: PgProgram,
  args: string[],
  target: PgTarget,
  tools: PgToolOptions,
): PgCommand {
  const env = { ...(tools.env ?? process.env) };
  if (target.password !== undefined) env.PGPASSWORD = target.password;
  if (tools.applicationName !== undefined) env.PGAPPNAME = tools.applicationName;
  const databaseOption = program === 'pg_dumpall' ? '--database' : '--dbname';
  if (tools.container === undefined) {
    const connection = [`--dbname=${target.url}`, '--no-password'];
    if (program === 'pg_dumpall') connection.push(`--database=${target.database}`);
    const file = tools.binDir === undefined ? program : join(tools.binDir, program);
    return { file, args: [...args, ...connection], env };
  }
  // `-e NAME` without a value copies the variable from docker's own environment.
  const passEnv = ['PGPASSWORD', 'PGAPPNAME'].flatMap((name) => (env[name] === undefined ? [] : ['-e', name]));
  const connection = [`--username=${target.user}`, `${databaseOption}=${target.database}`,
    '--no-password'];
  return {
    file: 'docker',
    args: ['exec', '-i', ...passEnv, tools.container, program, ...args, ...connection],
    env,
  };
}

/**
 * Size of pg_dump's stdout buffer under stdbuf. glibc sizes the buffer from
 * st_blksize, which is 4 KiB for a pipe and for the socket pair that Node.js
 * creates. pg_dump then writes 4 KiB at a time (198,000 writes for a 0.8 GB
 * dump, counted with strace), and a reader that keeps up wakes for each
 * write. With 256 KiB writes, reading that dump took about 0.4 instead of
 * 1.2 CPU seconds, and pg_dump itself about 0.95 instead of 1.3 (2-core VM,
 * Node.js 24, ad hoc script).
 */
export const DUMP_OUTPUT_BUFFER_BYTES = 256 * 1024;

/**
 * Wraps a local command in `stdbuf -o` so that its stdout is written in
 * blocks of `bytes`, when stdbuf (GNU coreutils) is on the command's PATH.
 * The bytes written are the same. Commands run with docker exec, and
 * commands on systems without stdbuf, are returned unchanged.
 */
export async function withOutputBuffer(cmd: PgCommand, bytes: number): Promise<PgCommand> {
  if (cmd.file === 'docker') return cmd;
  const stdbuf = await findExecutable('stdbuf', cmd.env.PATH ?? '');
  if (stdbuf === undefined) return cmd;
  return { file: stdbuf, args: [`-o${bytes}`, cmd.file, ...cmd.args], env: cmd.env };
}

/** Returns the first executable file called `name` in the folders of `path`. */
async function findExecutable(name: string, path: string): Promise<string | undefined> {
  for (const folder of path.split(delimiter)) {
    if (folder === '') continue;
    const file = join(folder, name);
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {
      // Missing or not executable here, so the next folder is tried.
    }
  }
  return undefined;
}

/** Returns the command line as text for the manifest and messages. */
export function commandLine(cmd: PgCommand): string[] {
  return [cmd.file, ...cmd.args];
}

/** Starts `cmd` with the given stdin and piped stdout and stderr. */
export function spawnCommand(
  cmd: PgCommand,
  stdin: 'ignore' | 'pipe',
  signal?: AbortSignal,
): ChildProcess {
  return spawn(cmd.file, cmd.args, {
    env: cmd.env,
    stdio: [stdin, 'pipe', 'pipe'],
    ...(signal ? { signal } : {}),
  });
}

/** Resolves with the exit status once the child has exited and closed its pipes. */
export function waitForExit(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/** Keeps the last `maxBytes` of a child's stderr, for quoting in errors. */
export function collectText(stream: Readable | null, maxBytes = 64 * 1024): () => string {
  let text = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    text += chunk;
    if (text.length > maxBytes) text = text.slice(-maxBytes);
  });
  return () => text.trim();
}

/** Output of a command whose output is small, such as `--version`. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command with small output and returns its status and text. */
export async function runCommand(cmd: PgCommand, signal?: AbortSignal): Promise<CommandResult> {
  const child = spawnCommand(cmd, 'ignore', signal);
  const stdout = collectText(child.stdout, 1024 * 1024);
  const stderr = collectText(child.stderr);
  const code = await waitForExit(child);
  return { code, stdout: stdout(), stderr: stderr() };
}

/** A PostgreSQL version as printed by the programs' `--version`. */
export interface PgVersion {
  /** Such as "15.18". */
  text: string;
  major: number;
}

/** Parses `pg_dump (PostgreSQL) 15.18 (Debian ...)`; undefined when it does not match. */
export function parseVersionOutput(output: string): PgVersion | undefined {
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(output);
  if (!match?.[1]) return undefined;
  const major = Number(match[1]);
  const text = [match[1], match[2], match[3]].filter((part) => part !== undefined).join('.');
  return { text, major };
}

/**
 * Returns the major version of a `server_version_num`, such as 15 for 150018.
 * Servers before 10 have two-part majors (9.6) and come out as 9.
 */
export function serverMajor(versionNum: number): number {
  return Math.floor(versionNum / 10000);
}
