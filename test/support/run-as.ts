/**
 * Runs commands as an unprivileged user through runuser(1). Tests run as root,
 * which ignores file modes, so a test of an unreadable file or an unwritable
 * folder runs the code under test as this user instead.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Login name of the unprivileged test user, created on first use. */
export const testUserName = 'bgapp-test';

/** Numeric ids of the test user. */
export interface TestUser {
  name: string;
  uid: number;
  gid: number;
}

/** Exit status and output of a command run as another user. */
export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Creates the system user `bgapp-test` when it is missing, with no home folder
 * and no login shell, and returns its ids. Needs root.
 */
export async function ensureTestUser(): Promise<TestUser> {
  const existing = await readIds(testUserName);
  if (existing) return existing;
  await execFileAsync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', testUserName]);
  const created = await readIds(testUserName);
  if (!created) throw new Error(`user ${testUserName} is still missing after useradd`);
  return created;
}

/**
 * Runs `command` with `args` as `user` and resolves with its exit status and
 * output, whether it succeeded or not. The working folder is `/`, so the
 * caller's folder need not be readable by that user.
 */
export function runAs(user: string, command: string, args: readonly string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      'runuser',
      ['-u', user, '--', command, ...args],
      { cwd: '/', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number' && err.signal == null) {
          reject(err);
          return;
        }
        let code: number | null = 0;
        if (err) code = typeof err.code === 'number' ? err.code : null;
        resolve({ code, signal: err?.signal ?? null, stdout, stderr });
      },
    );
  });
}

/** Runs a TypeScript or JavaScript file with this process's Node.js as `user`. */
export function runNodeAs(user: string, script: string, args: readonly string[]): Promise<RunResult> {
  return runAs(user, process.execPath, [script, ...args]);
}

async function readIds(name: string): Promise<TestUser | undefined> {
  try {
    const uid = await execFileAsync('id', ['-u', name]);
    const gid = await execFileAsync('id', ['-g', name]);
    return { name, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    return undefined;
  }
}
