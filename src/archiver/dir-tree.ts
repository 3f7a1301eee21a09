/**
 * The in-memory folder tree of a snapshot being written. It contains names,
 * metadata and blob ids only, never file contents. `saveTrees` writes it as
 * tree blobs, bottom-up, when the snapshot is finished.
 */
import { BackupError } from '../errors/index.ts';
import type { NodeMeta } from '../snapshot/index.ts';
import type { EncodableNode } from './tree.ts';

/** A folder; `meta` is undefined until addDir names it (it was made as a parent). */
export interface DirEntry {
  kind: 'dir';
  meta: NodeMeta | undefined;
  children: Map<string, Entry>;
}

/** A file; `content` is undefined while its bytes are still being read. */
export interface FileEntry {
  kind: 'file';
  meta: NodeMeta;
  size: number;
  content: string[] | undefined;
}

/** A symbolic link. */
export interface SymlinkEntry {
  kind: 'symlink';
  meta: NodeMeta;
  target: string;
}

export type Entry = DirEntry | FileEntry | SymlinkEntry;

/** Throws ERR_SNAPSHOT_PATH_INVALID unless `path` is a list of valid tree node names. */
export function checkPath(path: readonly string[]): void {
  if (path.length === 0) throw pathError(path, 'is empty; name a node below the root');
  for (const name of path) {
    const bad =
      name === '' ||
      name === '.' ||
      name === '..' ||
      name.includes('/') ||
      name.includes('\0') ||
      !name.isWellFormed();
    if (bad) {
      throw pathError(path, `has the invalid name ${JSON.stringify(name)}`);
    }
  }
}

/** Returns ERR_SNAPSHOT_PATH_INVALID for `path` with `problem` as the message's end. */
export function pathError(path: readonly string[], problem: string): BackupError {
  return new BackupError('ERR_SNAPSHOT_PATH_INVALID', `snapshot path /${path.join('/')} ${problem}`);
}

/** Returns a new folder entry with no metadata and no children. */
export function newDir(meta?: NodeMeta): DirEntry {
  return { kind: 'dir', meta, children: new Map() };
}

/**
 * Returns the folder that contains `path`'s last name, creating missing parent
 * folders. Throws when a parent is a file or a symlink.
 */
export function parentDir(root: DirEntry, path: readonly string[]): DirEntry {
  let dir = root;
  for (let i = 0; i < path.length - 1; i++) {
    const name = path[i]!;
    const child = dir.children.get(name);
    if (child === undefined) {
      const created = newDir();
      dir.children.set(name, created);
      dir = created;
    } else if (child.kind === 'dir') {
      dir = child;
    } else {
      throw pathError(path, `is below /${path.slice(0, i + 1).join('/')}, which is a ${child.kind}`);
    }
  }
  return dir;
}

/** Stores `entry` at `path`; throws when the path was added before. */
export function insertEntry(root: DirEntry, path: readonly string[], entry: Entry): void {
  checkPath(path);
  const dir = parentDir(root, path);
  const name = path[path.length - 1]!;
  const existing = dir.children.get(name);
  if (existing === undefined) {
    dir.children.set(name, entry);
    return;
  }
  // A folder made as a parent takes the metadata of a later addDir.
  if (existing.kind === 'dir' && existing.meta === undefined && entry.kind === 'dir') {
    existing.meta = entry.meta;
    return;
  }
  throw pathError(path, 'was added twice; add each file, folder and symlink once');
}

/** Removes `entry` from `path` if it is still there, as when reading a file failed. */
export function removeEntry(root: DirEntry, path: readonly string[], entry: Entry): void {
  let dir: DirEntry | undefined = root;
  for (const name of path.slice(0, -1)) {
    const child: Entry | undefined = dir.children.get(name);
    dir = child?.kind === 'dir' ? child : undefined;
    if (dir === undefined) return;
  }
  const name = path[path.length - 1]!;
  if (dir.children.get(name) === entry) dir.children.delete(name);
}

/** Saves a tree blob and returns its id. */
export type TreeSink = (nodes: EncodableNode[]) => Promise<string>;

/**
 * Saves the tree of `dir` and all trees below it, children first, and
 * returns the id of `dir`'s tree. Folders without metadata get `defaultMeta`.
 */
export async function saveTrees(dir: DirEntry, defaultMeta: NodeMeta, sink: TreeSink): Promise<string> {
  const nodes: EncodableNode[] = [];
  for (const [name, entry] of dir.children) {
    nodes.push(await toEncodable(name, entry, defaultMeta, sink));
  }
  return sink(nodes);
}

async function toEncodable(
  name: string,
  entry: Entry,
  defaultMeta: NodeMeta,
  sink: TreeSink,
): Promise<EncodableNode> {
  switch (entry.kind) {
    case 'dir': {
      const subtree = await saveTrees(entry, defaultMeta, sink);
      return { type: 'dir', name, meta: entry.meta ?? defaultMeta, subtree };
    }
    case 'file':
      if (entry.content === undefined) {
        throw new Error(`file ${name} is still being read; await every addFile before finish`);
      }
      return { type: 'file', name, meta: entry.meta, size: entry.size, content: entry.content };
    case 'symlink':
      return { type: 'symlink', name, meta: entry.meta, linkTarget: entry.target };
  }
}
