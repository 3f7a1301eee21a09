/**
 * Reading and checking of the nodes to restore. Snapshot contents are not
 * trusted: every name is checked before anything is written, so that no path
 * can point outside the target folder.
 */
import { BackupError } from '../../errors/index.ts';
import type { SnapshotReader, TreeNode } from '../../snapshot/index.ts';

/** One node to restore, with its names relative to the target folder. */
export interface PlannedNode {
  path: string[];
  node: TreeNode;
}

/**
 * Returns why `name` cannot be one path element on disk, or undefined when it
 * can. Empty names, ".", "..", and names with "/" or NUL are rejected.
 */
export function unsafeNameReason(name: string): string | undefined {
  if (name === '') return 'a name is empty';
  if (name === '.' || name === '..') return `the name "${name}" is not allowed`;
  if (name.includes('/')) return 'a name contains "/"';
  if (name.includes('\0')) return 'a name contains a NUL character';
  return undefined;
}

/**
 * Lists every node below the reader's root, parents before children, and
 * raises ERR_RESTORE_UNSAFE_PATH when a name is unsafe, a path appears twice,
 * or a node's parent is not a folder (such as a file below a symbolic link).
 */
export async function planRestore(reader: SnapshotReader): Promise<PlannedNode[]> {
  const folders = new Set<string>(['']);
  const seen = new Set<string>();
  const planned: PlannedNode[] = [];
  for await (const { path, node } of reader.walk([])) {
    checkNames(path, node);
    // Names are free of "/" once checked, so joined paths are unambiguous keys.
    const key = path.join('/');
    if (seen.has(key)) rejectPath(path, 'it appears twice');
    if (!folders.has(path.slice(0, -1).join('/'))) rejectPath(path, 'its parent is not a folder');
    seen.add(key);
    if (node.type === 'dir') folders.add(key);
    planned.push({ path, node });
  }
  return planned;
}

function checkNames(path: readonly string[], node: TreeNode): void {
  if (path.length === 0) rejectPath(path, 'the path is empty');
  for (const name of path) {
    const reason = unsafeNameReason(name);
    if (reason !== undefined) rejectPath(path, reason);
  }
  if (node.name !== path.at(-1)) rejectPath(path, `the node is named ${JSON.stringify(node.name)}`);
}

function rejectPath(path: readonly string[], reason: string): never {
  throw new BackupError(
    'ERR_RESTORE_UNSAFE_PATH',
    `snapshot path ${JSON.stringify(path)} is unsafe because ${reason}: nothing was restored, so check the snapshot with restic check or restore another snapshot`,
  );
}
