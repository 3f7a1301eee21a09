/**
 * Checks of the target folder before a restore writes anything into it.
 */
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupError, errorMessage } from '../../errors/index.ts';

/**
 * Creates the target folder when missing, and raises
 * ERR_RESTORE_TARGET_NOT_EMPTY when it contains entries and `force` is false, or
 * ERR_RESTORE_TARGET_NOT_WRITABLE when it is not a folder or a file cannot be
 * created in it.
 */
export async function prepareTarget(targetDir: string, force: boolean): Promise<void> {
  const stats = await stat(targetDir).catch((err: unknown) => {
    if (hasCode(err, 'ENOENT')) return undefined;
    throw notWritable(targetDir, `cannot be examined (${errorMessage(err)})`, err);
  });
  if (stats === undefined) {
    await mkdir(targetDir, { recursive: true, mode: 0o700 }).catch((err: unknown) => {
      throw notWritable(targetDir, `cannot be created (${errorMessage(err)})`, err);
    });
  } else if (!stats.isDirectory()) {
    throw notWritable(targetDir, 'is not a folder');
  }

  const entries = await readdir(targetDir).catch((err: unknown) => {
    throw notWritable(targetDir, `cannot be listed (${errorMessage(err)})`, err);
  });
  if (entries.length > 0 && !force) {
    throw new BackupError(
      'ERR_RESTORE_TARGET_NOT_EMPTY',
      `restore target ${targetDir} is not empty: choose an empty or new folder, or pass --force to overwrite files with the same names`,
    );
  }
  await probeWrite(targetDir);
}

// Running as root makes access(2) report every folder writable, so the check
// creates and removes a file instead.
async function probeWrite(targetDir: string): Promise<void> {
  const probe = join(targetDir, `.bgapp-restore-probe-${randomUUID()}`);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  try {
    const handle = await open(probe, flags, 0o600);
    await handle.close();
    await unlink(probe);
  } catch (err) {
    throw notWritable(targetDir, `is not writable (${errorMessage(err)})`, err);
  }
}

/** Builds the error for a target folder that cannot be written. */
export function notWritable(path: string, problem: string, cause?: unknown): BackupError {
  return new BackupError(
    'ERR_RESTORE_TARGET_NOT_WRITABLE',
    `restore target ${path} ${problem}: choose a folder that the restoring user can write, or run the restore as its owner`,
    { cause },
  );
}

function hasCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
