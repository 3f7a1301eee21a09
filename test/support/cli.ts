/**
 * Runs the bgapp-backup command line as a child process, as a user would,
 * for end-to-end tests.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Absolute path of bin/bgapp-backup. */
export const CLI_PATH = fileURLToPath(new URL('../../bin/bgapp-backup', import.meta.url));

/** Outcome of one command-line run. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `bgapp-backup ARGS` with `env` added to the environment. */
export function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(CLI_PATH, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs the command line and throws, with its output, unless it exits 0. */
export async function runCliOk(args: string[], env: Record<string, string>): Promise<CliResult> {
  const result = await runCli(args, env);
  if (result.code !== 0) {
    throw new Error(
      `bgapp-backup ${args.join(' ')} exited with ${result.code}\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result;
}
