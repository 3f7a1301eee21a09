/**
 * Finds the repository password. It is never taken from the command line, where
 * other users could read it in the process list.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BackupError, errorMessage } from '../errors/index.ts';
import { Secret, secretFromText } from './secret.ts';
import type { Config, Env } from './types.ts';

/** Inputs of password resolution; each defaults to the running process's value. */
export interface PasswordOptions {
  env?: Env;
  /** The loaded config, whose repository.password_file is the last resort. */
  config?: Config;
  /** Folder that a relative BGAPP_BACKUP_PASSWORD_FILE is resolved against. */
  cwd?: string;
}

const WHERE_TO_SET =
  'set BGAPP_BACKUP_PASSWORD, BGAPP_BACKUP_PASSWORD_FILE, or repository.password_file in the config';

/**
 * Returns the repository password from, in order, BGAPP_BACKUP_PASSWORD, the file
 * named by BGAPP_BACKUP_PASSWORD_FILE, then the config's repository.password_file.
 * An empty variable counts as unset. Raises ERR_PASSWORD_MISSING when none is set
 * or the chosen file is empty or unreadable.
 */
export async function resolvePassword(options: PasswordOptions = {}): Promise<Secret> {
  const env = options.env ?? process.env;
  const direct = env.BGAPP_BACKUP_PASSWORD;
  if (direct) return new Secret(direct, 'BGAPP_BACKUP_PASSWORD');

  const fromEnvFile = env.BGAPP_BACKUP_PASSWORD_FILE;
  if (fromEnvFile) {
    const path = resolve(options.cwd ?? process.cwd(), fromEnvFile);
    return readPasswordFile(path, 'BGAPP_BACKUP_PASSWORD_FILE');
  }

  const fromConfig = options.config?.repository.password_file;
  if (fromConfig) return readPasswordFile(fromConfig, 'repository.password_file');

  throw new BackupError('ERR_PASSWORD_MISSING', `no repository password; ${WHERE_TO_SET}`);
}

async function readPasswordFile(path: string, origin: string): Promise<Secret> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new BackupError(
      'ERR_PASSWORD_MISSING',
      `cannot read password file ${path} (from ${origin}): ${errorMessage(err)}; ` +
        'create it or fix the path',
      { cause: err },
    );
  }
  const password = secretFromText(text);
  if (password === '') {
    throw new BackupError(
      'ERR_PASSWORD_MISSING',
      `password file ${path} (from ${origin}) is empty; write the password into it`,
    );
  }
  return new Secret(password, origin);
}
