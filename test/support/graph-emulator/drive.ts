/**
 * The emulated drive: a tree of folders and files whose contents are files in
 * a temporary folder, plus the drive's quota. Names are matched without
 * regard to case, as OneDrive does.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { quickXorHash } from '../../../src/backend/graph/quickxor.ts';
import { GraphHttpError, itemNotFound } from './graph-error.ts';
import { assertValidName } from './names.ts';

/** Kind of drive, as in `drive.driveType`. */
export type DriveType = 'personal' | 'business' | 'documentLibrary';

/** What to do when an item of the same name exists (`@microsoft.graph.conflictBehavior`). */
export type ConflictBehavior = 'fail' | 'replace' | 'rename';

/** One folder or file of the drive. */
export interface DriveItemRecord {
  id: string;
  name: string;
  /** Undefined only for the root folder. */
  parentId: string | undefined;
  kind: 'folder' | 'file';
  /** Content length of a file; 0 for a folder. */
  size: number;
  /** File holding a file's content. */
  blobPath: string | undefined;
  quickXorHash: string | undefined;
  createdDateTime: Date;
  lastModifiedDateTime: Date;
  /** Increases on every change; part of the eTag. */
  version: number;
  /** Child ids by lower-case name (folders only). */
  children: Map<string, string>;
}

/** Content of a file that is about to become an item. */
export interface StagedContent {
  blobPath: string;
  size: number;
  quickXorHash: string;
}

/** Quota figures of `drive.quota`, in bytes. */
export interface DriveQuota {
  total: number;
  used: number;
  remaining: number;
  deleted: number;
  state: 'normal' | 'nearing' | 'critical' | 'exceeded';
}

/** Creates an id in the style of OneDrive for Business item ids. */
export function newItemId(): string {
  return `01${randomBytes(16).toString('hex').toUpperCase()}`;
}

/** Folder and file tree of one drive, with its quota. */
export class DriveStore {
  readonly id: string;
  readonly driveType: DriveType;
  readonly directory: string;
  readonly rootId: string;
  #items = new Map<string, DriveItemRecord>();
  #quotaTotal: number;
  #storedBytes = 0;
  #deletedBytes = 0;

  constructor(options: { id: string; driveType: DriveType; directory: string; quotaTotal: number }) {
    this.id = options.id;
    this.driveType = options.driveType;
    this.directory = options.directory;
    this.#quotaTotal = options.quotaTotal;
    const root = this.#newRecord('root', undefined, 'folder');
    this.rootId = root.id;
  }

  /** Returns the item with `id`, or throws 404 itemNotFound. */
  item(id: string): DriveItemRecord {
    const found = this.#items.get(id);
    if (found === undefined) {
      throw itemNotFound(id);
    }
    return found;
  }

  /** Returns the item at `segments` below `baseId`, or undefined when a step is missing. */
  find(baseId: string, segments: readonly string[]): DriveItemRecord | undefined {
    let current = this.item(baseId);
    for (const segment of segments) {
      const childId = current.children.get(segment.toLowerCase());
      if (childId === undefined) {
        return undefined;
      }
      current = this.item(childId);
    }
    return current;
  }

  /** Returns the item at `segments` below `baseId`, or throws 404 itemNotFound. */
  resolve(baseId: string, segments: readonly string[]): DriveItemRecord {
    const found = this.find(baseId, segments);
    if (found === undefined) {
      throw itemNotFound(`/${segments.join('/')}`);
    }
    return found;
  }

  /** Returns the folder at `segments` below `baseId`, creating missing folders on the way. */
  ensureFolder(baseId: string, segments: readonly string[]): DriveItemRecord {
    let current = this.item(baseId);
    for (const segment of segments) {
      const childId = current.children.get(segment.toLowerCase());
      current = childId === undefined ? this.createFolder(current.id, segment, 'fail') : this.item(childId);
      if (current.kind !== 'folder') {
        throw new GraphHttpError(409, 'nameAlreadyExists', `"${segment}" is a file, not a folder`);
      }
    }
    return current;
  }

  /** Lists a folder's children sorted by name. */
  children(folderId: string): DriveItemRecord[] {
    const folder = this.item(folderId);
    const list = [...folder.children.values()].map((id) => this.item(id));
    return list.sort(byName);
  }

  /** Creates a folder under `parentId`, applying `conflict` when the name is taken. */
  createFolder(parentId: string, name: string, conflict: ConflictBehavior): DriveItemRecord {
    assertValidName(name);
    const parent = this.#folder(parentId);
    const finalName = this.#settleConflict(parent, name, conflict);
    return this.#newRecord(finalName, parent.id, 'folder');
  }

  /**
   * Makes staged content the file `name` under `parentId`. Returns the item and
   * whether it is new (201) or replaced an existing file (200).
   */
  async commitFile(
    parentId: string,
    name: string,
    content: StagedContent,
    conflict: ConflictBehavior,
  ): Promise<{ item: DriveItemRecord; created: boolean }> {
    assertValidName(name);
    const parent = this.#folder(parentId);
    const existingId = parent.children.get(name.toLowerCase());
    const existing = existingId === undefined ? undefined : this.item(existingId);
    if (existing !== undefined && existing.kind === 'file' && conflict === 'replace') {
      await this.#replaceContent(existing, content);
      return { item: existing, created: false };
    }
    const finalName = this.#settleConflict(parent, name, conflict);
    const item = this.#newRecord(finalName, parent.id, 'file');
    await this.#replaceContent(item, content);
    return { item, created: true };
  }

  /** Deletes an item and everything below it. Deleted bytes count as `quota.deleted`. */
  async delete(id: string): Promise<void> {
    const item = this.item(id);
    if (item.parentId === undefined) {
      throw new GraphHttpError(403, 'accessDenied', 'the root folder cannot be deleted');
    }
    for (const child of this.children(id)) {
      await this.delete(child.id);
    }
    this.item(item.parentId).children.delete(item.name.toLowerCase());
    this.#items.delete(id);
    if (item.blobPath !== undefined) {
      this.#storedBytes -= item.size;
      this.#deletedBytes += item.size;
      await rm(item.blobPath, { force: true });
    }
  }

  /** Opens a stream of a file's content, optionally of bytes `start` to `end` inclusive. */
  openContent(item: DriveItemRecord, start?: number, end?: number): Readable {
    if (item.blobPath === undefined) {
      throw new GraphHttpError(400, 'invalidRequest', `the item ${item.id} is a folder and has no content`);
    }
    return createReadStream(item.blobPath, { start, end });
  }

  /** Returns the path of an item from the root, like `/a/b` (`/` for the root). */
  pathOf(item: DriveItemRecord): string {
    const names: string[] = [];
    let current: DriveItemRecord | undefined = item;
    while (current !== undefined && current.parentId !== undefined) {
      names.unshift(current.name);
      current = this.#items.get(current.parentId);
    }
    return `/${names.join('/')}`;
  }

  /** Returns the size of an item: a file's length, or the total of a folder's files. */
  sizeOf(item: DriveItemRecord): number {
    if (item.kind === 'file') {
      return item.size;
    }
    return this.children(item.id).reduce((total, child) => total + this.sizeOf(child), 0);
  }

  /** Returns the quota figures, where `used` includes the deleted bytes still counted against it. */
  quota(): DriveQuota {
    const total = this.#quotaTotal;
    const used = this.#storedBytes + this.#deletedBytes;
    const remaining = Math.max(0, total - used);
    return { total, used, remaining, deleted: this.#deletedBytes, state: quotaState(used, total) };
  }

  /** Sets the quota's total bytes. */
  setQuotaTotal(total: number): void {
    this.#quotaTotal = total;
  }

  /** Forgets deleted bytes, as emptying the recycle bin does. */
  emptyRecycleBin(): void {
    this.#deletedBytes = 0;
  }

  /** Returns a fresh path in the drive's folder for staging content. */
  newBlobPath(): string {
    return join(this.directory, `blob-${randomBytes(12).toString('hex')}`);
  }

  /** Stages a small buffer as content, for seeding a drive in tests. */
  async stageBuffer(data: Uint8Array): Promise<StagedContent> {
    const blobPath = this.newBlobPath();
    await writeFile(blobPath, data);
    return { blobPath, size: data.length, quickXorHash: quickXorHash(data) };
  }

  /** Lists every item below and including `id`, depth first. */
  walk(id: string = this.rootId): DriveItemRecord[] {
    const item = this.item(id);
    return [item, ...this.children(id).flatMap((child) => this.walk(child.id))];
  }

  #folder(id: string): DriveItemRecord {
    const folder = this.item(id);
    if (folder.kind !== 'folder') {
      throw new GraphHttpError(400, 'invalidRequest', `the item ${this.pathOf(folder)} is not a folder`);
    }
    return folder;
  }

  // Returns the name to create under `parent`: `name` when it is free, a
  // numbered variant for rename, and 409 nameAlreadyExists for fail.
  // Replace deletes the existing item first (only folders reach here).
  #settleConflict(parent: DriveItemRecord, name: string, conflict: ConflictBehavior): string {
    const existingId = parent.children.get(name.toLowerCase());
    if (existingId === undefined) {
      return name;
    }
    if (conflict === 'fail') {
      throw new GraphHttpError(409, 'nameAlreadyExists', `an item named "${name}" already exists in ${this.pathOf(parent)}`);
    }
    if (conflict === 'replace') {
      const existing = this.item(existingId);
      this.#detach(existing);
      return name;
    }
    return this.#freeName(parent, name);
  }

  #freeName(parent: DriveItemRecord, name: string): string {
    const dot = name.lastIndexOf('.');
    const stem = dot > 0 ? name.slice(0, dot) : name;
    const extension = dot > 0 ? name.slice(dot) : '';
    for (let n = 1; ; n++) {
      const candidate = `${stem} ${n}${extension}`;
      if (!parent.children.has(candidate.toLowerCase())) {
        return candidate;
      }
    }
  }

  // Removes a subtree from the tree at once; its content files are left
  // for stop() to remove with the folder, so nothing here needs awaiting.
  #detach(item: DriveItemRecord): void {
    for (const child of this.children(item.id)) {
      this.#detach(child);
    }
    if (item.parentId !== undefined) {
      this.item(item.parentId).children.delete(item.name.toLowerCase());
    }
    this.#items.delete(item.id);
    this.#storedBytes -= item.size;
  }

  async #replaceContent(item: DriveItemRecord, content: StagedContent): Promise<void> {
    const blobPath = item.blobPath ?? this.newBlobPath();
    await rename(content.blobPath, blobPath);
    this.#storedBytes += content.size - item.size;
    item.blobPath = blobPath;
    item.size = content.size;
    item.quickXorHash = content.quickXorHash;
    item.lastModifiedDateTime = new Date();
    item.version += 1;
  }

  #newRecord(name: string, parentId: string | undefined, kind: 'folder' | 'file'): DriveItemRecord {
    const now = new Date();
    const record: DriveItemRecord = {
      id: newItemId(),
      name,
      parentId,
      kind,
      size: 0,
      blobPath: undefined,
      quickXorHash: undefined,
      createdDateTime: now,
      lastModifiedDateTime: now,
      version: 1,
      children: new Map(),
    };
    this.#items.set(record.id, record);
    if (parentId !== undefined) {
      this.item(parentId).children.set(name.toLowerCase(), record.id);
    }
    return record;
  }
}

function byName(a: DriveItemRecord, b: DriveItemRecord): number {
  if (a.name === b.name) {
    return 0;
  }
  return a.name < b.name ? -1 : 1;
}

// Graph's quota.state: "nearing" within 10% of the total, "critical"
// within 1%, "exceeded" at or over it.
function quotaState(used: number, total: number): DriveQuota['state'] {
  if (used >= total) {
    return 'exceeded';
  }
  if (used >= total * 0.99) {
    return 'critical';
  }
  return used >= total * 0.9 ? 'nearing' : 'normal';
}
