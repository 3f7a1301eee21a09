/**
 * A token cache file for msal-node: the serialized cache is read before and
 * written after each cache access (msal-node's ICachePlugin), with mode 0600
 * because it holds refresh tokens.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ICachePlugin, TokenCacheContext } from '@azure/msal-node';
import { BackupError, errorMessage } from '../errors/index.ts';

/** Mode of the token cache file: read and write for its owner only. */
export const TOKEN_CACHE_MODE = 0o600;

/** Returns a cache plugin that keeps msal-node's cache in `path`. */
export function tokenCacheFile(path: string): ICachePlugin {
  return {
    beforeCacheAccess: async (context: TokenCacheContext) => {
      const text = await readCache(path);
      if (text !== undefined) context.tokenCache.deserialize(text);
    },
    afterCacheAccess: async (context: TokenCacheContext) => {
      if (context.cacheHasChanged) await writeCache(path, context.tokenCache.serialize());
    },
  };
}

async function readCache(path: string): Promise<string | undefined> {
  try {
    const info = await stat(path);
    // A cache file that others can read leaks refresh tokens, so tighten it before use.
    if ((info.mode & 0o077) !== 0) await chmod(path, TOKEN_CACHE_MODE);
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw cacheError('read', path, err);
  }
}

/** Writes the cache under a temporary name created with mode 0600, then renames it. */
async function writeCache(path: string, text: string): Promise<void> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const file = await open(temp, 'wx', TOKEN_CACHE_MODE);
    try {
      await file.writeFile(text);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw cacheError('write', path, err);
  }
}

function cacheError(action: string, path: string, err: unknown): BackupError {
  return new BackupError(
    'ERR_AUTH_FAILED',
    `failed to ${action} the token cache file ${path}: ${errorMessage(err)}; check the ` +
      'folder and its permissions',
    { cause: err },
  );
}
