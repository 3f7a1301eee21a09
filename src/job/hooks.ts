/**
 * Runs the operator's `before` and `after` shell commands around a backup,
 * for example to pause writers so that the database and the buckets agree.
 */
import { spawn } from 'node:child_process';
import { BackupError } from '../errors/index.ts';

/** Outcome of one hook, with the tail of its output for the error message. */
export interface HookResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

const OUTPUT_TAIL_BYTES = 4096;

/** Variables of this tool that a hook does not get: the repository's passwords. */
const HIDDEN_FROM_HOOKS = ['BGAPP_BACKUP_PASSWORD', 'BGAPP_BACKUP_NEW_PASSWORD'];

/**
 * Runs `command` with /bin/sh and resolves with its exit status and the last
 * few KiB of its combined output. `env` is added to the environment, less the
 * repository's passwords. The command gets a process group of its own, and
 * when `signal` aborts, the whole group gets SIGTERM, so the programs the
 * shell started stop too, and the promise rejects at once.
 */
export function runHook(
  command: string,
  env: Record<string, string>,
  signal?: AbortSignal,
): Promise<HookResult> {
  return new Promise((resolve, reject) => {
    const hookEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    for (const name of HIDDEN_FROM_HOOKS) delete hookEnv[name];
    const child = spawn('/bin/sh', ['-c', command], {
      env: hookEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_BYTES);
    };
    const stop = (): void => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          // The group has already ended.
        }
      }
      reject(new BackupError('ERR_HOOK_FAILED', 'hook stopped because the run was interrupted'));
    };
    if (signal?.aborted) stop();
    signal?.addEventListener('abort', stop, { once: true });
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (err) =>
      reject(
        new BackupError('ERR_HOOK_FAILED', `failed to start hook: ${err.message}`, { cause: err }),
      ),
    );
    child.on('close', (exitCode, sig) => {
      signal?.removeEventListener('abort', stop);
      resolve({ exitCode, signal: sig, output: output.trim() });
    });
  });
}

/** Runs a hook and throws ERR_HOOK_FAILED when it exits non-zero. */
export async function runHookOrThrow(
  phase: 'before' | 'after',
  command: string,
  env: Record<string, string>,
  signal?: AbortSignal,
): Promise<void> {
  const result = await runHook(command, env, signal);
  if (result.exitCode === 0) return;
  const status = result.signal ? `signal ${result.signal}` : `exit code ${result.exitCode}`;
  const tail = result.output ? `: ${result.output.split('\n').slice(-5).join(' | ')}` : '';
  throw new BackupError('ERR_HOOK_FAILED', `${phase} command failed with ${status}${tail}`);
}
