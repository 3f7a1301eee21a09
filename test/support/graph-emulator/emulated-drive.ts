/**
 * Path-based access to the emulated drive for tests: seed files, read what
 * a client uploaded, delete items behind its back, and set the quota.
 */
import type { Readable } from 'node:stream';
import type { DriveItemRecord, DriveQuota, DriveStore } from './drive.ts';

/** A file or folder, as the path helpers return it. */
export interface DriveEntry {
  /** Path from the root, like `/a/b.bin`. */
  path: string;
  id: string;
  kind: 'folder' | 'file';
  size: number;
  /** The hash the emulator computed from the stored bytes (before any item fault). */
  quickXorHash: string | undefined;
}

/** Test access to the drive, by path from the root. */
export class EmulatedDrive {
  /** The underlying store, for checks the path helpers do not cover. */
  readonly store: DriveStore;

  constructor(store: DriveStore) {
    this.store = store;
  }

  /** Returns the item at `path`, or undefined when it does not exist. */
  stat(path: string): DriveEntry | undefined {
    const item = this.store.find(this.store.rootId, splitPath(path));
    return item === undefined ? undefined : this.#entry(item);
  }

  /** Lists every file of the drive, depth first. */
  files(): DriveEntry[] {
    return this.store
      .walk()
      .filter((item) => item.kind === 'file')
      .map((item) => this.#entry(item));
  }

  /** Opens a stream of a file's content; throws when `path` is missing. */
  openRead(path: string): Readable {
    return this.store.openContent(this.store.resolve(this.store.rootId, splitPath(path)));
  }

  /** Reads a whole file. Meant for small files; use openRead() for large ones. */
  async read(path: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.openRead(path)) {
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  /** Creates or replaces a file, creating missing folders. */
  async write(path: string, data: Uint8Array): Promise<DriveEntry> {
    const segments = splitPath(path);
    const name = segments.pop();
    if (name === undefined) {
      throw new Error('write() needs a file path, not the root');
    }
    const parent = this.store.ensureFolder(this.store.rootId, segments);
    const content = await this.store.stageBuffer(data);
    const { item } = await this.store.commitFile(parent.id, name, content, 'replace');
    return this.#entry(item);
  }

  /** Creates a folder and any missing parents. */
  mkdir(path: string): DriveEntry {
    return this.#entry(this.store.ensureFolder(this.store.rootId, splitPath(path)));
  }

  /** Deletes a file or folder; throws when `path` is missing. */
  async delete(path: string): Promise<void> {
    await this.store.delete(this.store.resolve(this.store.rootId, splitPath(path)).id);
  }

  /** Returns the quota as `GET /me/drive` reports it. */
  quota(): DriveQuota {
    return this.store.quota();
  }

  /** Sets the quota's total bytes. */
  setQuotaTotal(total: number): void {
    this.store.setQuotaTotal(total);
  }

  /** Sets the quota so that exactly `remaining` bytes are left, for a quota that runs out. */
  setQuotaRemaining(remaining: number): void {
    this.store.setQuotaTotal(this.store.quota().used + remaining);
  }

  /** Forgets deleted bytes, as emptying the recycle bin does. */
  emptyRecycleBin(): void {
    this.store.emptyRecycleBin();
  }

  #entry(item: DriveItemRecord): DriveEntry {
    return {
      path: this.store.pathOf(item),
      id: item.id,
      kind: item.kind,
      size: this.store.sizeOf(item),
      quickXorHash: item.quickXorHash,
    };
  }
}

function splitPath(path: string): string[] {
  return path.split('/').filter((segment) => segment !== '');
}
