/**
 * An in-memory SnapshotWriter and SnapshotReader for tests of sources and
 * restorers that do not need the repository engine.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type {
  NodeMeta,
  SavedFile,
  SnapshotReader,
  SnapshotWriter,
  TreeNode,
} from '../../src/snapshot/index.ts';

interface MemoryNode {
  node: TreeNode;
  data?: Buffer;
  children?: Map<string, MemoryNode>;
}

/** Stores a snapshot's nodes in memory; both ends of the contract. */
export class MemorySnapshot implements SnapshotWriter, SnapshotReader {
  private readonly root: MemoryNode = {
    node: { name: '', type: 'dir', mode: 0o755, mtime: new Date(0) },
    children: new Map(),
  };

  addDir(path: readonly string[], meta: NodeMeta): void {
    const existing = this.find(path);
    const node = this.toNode(path, 'dir', meta);
    if (existing?.children) {
      existing.node = node;
      return;
    }
    this.put(path, { node, children: new Map() });
  }

  addSymlink(path: readonly string[], meta: NodeMeta, target: string): void {
    this.put(path, { node: { ...this.toNode(path, 'symlink', meta), linkTarget: target } });
  }

  async addFile(
    path: readonly string[],
    meta: NodeMeta,
    content: Readable | AsyncIterable<Uint8Array>,
  ): Promise<SavedFile> {
    const parts: Buffer[] = [];
    for await (const chunk of content) parts.push(Buffer.from(chunk));
    const data = Buffer.concat(parts);
    const node = { ...this.toNode(path, 'file', meta), size: data.length };
    this.put(path, { node, data });
    return { size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
  }

  async lookup(path: readonly string[]): Promise<TreeNode | undefined> {
    return this.find(path)?.node;
  }

  async list(path: readonly string[]): Promise<TreeNode[]> {
    const dir = this.find(path);
    if (!dir?.children) throw new Error(`not a folder: ${path.join('/')}`);
    return [...dir.children.values()].map((c) => c.node).sort(byName);
  }

  async *walk(path: readonly string[]): AsyncIterable<{ path: string[]; node: TreeNode }> {
    for (const node of await this.list(path)) {
      const childPath = [...path, node.name];
      yield { path: childPath, node };
      if (node.type === 'dir') yield* this.walk(childPath);
    }
  }

  openFile(node: TreeNode): Readable {
    const found = this.files.get(node);
    if (!found) throw new Error(`no contents for ${node.name}`);
    return Readable.from([found]);
  }

  private readonly files = new WeakMap<TreeNode, Buffer>();

  private toNode(path: readonly string[], type: TreeNode['type'], meta: NodeMeta): TreeNode {
    const name = path.at(-1);
    if (name === undefined) throw new Error('empty path');
    return { name, type, mode: meta.mode, mtime: meta.mtime, uid: meta.uid, gid: meta.gid };
  }

  private find(path: readonly string[]): MemoryNode | undefined {
    let current: MemoryNode | undefined = this.root;
    for (const name of path) current = current?.children?.get(name);
    return current;
  }

  private put(path: readonly string[], entry: MemoryNode): void {
    let dir = this.root;
    for (const name of path.slice(0, -1)) {
      let next = dir.children?.get(name);
      if (!next) {
        next = {
          node: { name, type: 'dir', mode: 0o755, mtime: new Date(0) },
          children: new Map(),
        };
        dir.children?.set(name, next);
      }
      dir = next;
    }
    if (entry.data) this.files.set(entry.node, entry.data);
    dir.children?.set(entry.node.name, entry);
  }
}

function byName(a: TreeNode, b: TreeNode): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
