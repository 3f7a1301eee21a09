/** Checks that the restorers of files and of buckets share. */
import { createHash } from 'node:crypto';
import { errorMessage, isBackupError } from '../errors/index.ts';
import type { TreeNode } from '../snapshot/index.ts';

/** SHA-256 of no bytes, which an empty file stored as no blobs has. */
const EMPTY_SHA256 = createHash('sha256').digest('hex');

/**
 * Returns the SHA-256 of a file node as the snapshot's tree gives it. That is
 * the id of its only data blob, because restic's blob id is the SHA-256 of
 * the blob's bytes, or the SHA-256 of no bytes for an empty file of no blobs.
 * Returns undefined for a file of several blobs or of no blobs but some size.
 */
export function treeSha256(node: Pick<TreeNode, 'size' | 'content'>): string | undefined {
  const content = node.content ?? [];
  if (content.length === 1) return content[0];
  if (content.length === 0 && (node.size ?? 0) === 0) return EMPTY_SHA256;
  return undefined;
}

/** Tells whether `err` is a failure to read or open data from the repository. */
export function isRepositoryReadError(err: unknown): boolean {
  return isBackupError(err, 'ERR_REPO_CORRUPT') || isBackupError(err, 'ERR_BACKEND_IO');
}

/**
 * Returns the difference to list for `name`, a file or object whose blobs
 * could not be read from the repository, with the check to run. Raises
 * `err` when it is any other failure.
 */
export function unreadableDifference(name: string, err: unknown): string {
  if (!isRepositoryReadError(err)) throw err;
  // Repository errors name the check to run; other errors get the hint here.
  const message = errorMessage(err);
  const hint = message.includes('check --read-data') ? '' : '; run `bgapp-backup check --read-data`';
  return `${name} could not be read from the repository: ${message}${hint}`;
}
