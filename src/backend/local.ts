/**
 * A backend for a local folder, such as a OneDrive folder kept in sync by the
 * OneDrive client. Layout as restic's local backend: `config`, `keys/<id>`,
 * `data/<first two hex digits>/<id>`, and so on.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, type FileHandle as NodeFileHandle, readdir, rename, rm, stat, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupError, errorMessage } from '../errors/index.ts';
import type { Backend, ByteRange, FileHandle, FileInfo, FileType, LeftoverFile } from './types.ts';

/**
 * Temporary files start with `~$` and end with `.tmp` because the OneDrive
 * sync client uploads neither names starting with `~$` nor `.tmp` files, so a
 * half-written file never syncs.
 */
const TEMP_PREFIX = '~$';
const TEMP_SUFFIX = '.tmp';

/** Tells whether a file name is one of our temporary names. */
export function isTemporaryName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX) || name.endsWith(TEMP_SUFFIX);
}

const FOLDERS: Record<Exclude<FileType, 'config'>, string> = {
  data: 'data',
  index: 'index',
  keys: 'keys',
  locks: 'locks',
  snapshots: 'snapshots',
};

/** Stores a repository in a folder of the local file system. */
export class LocalBackend implements Backend {
  readonly location: string;
  /** Ranged reads of a local file cost one system call, so 1 MiB parts keep memory low. */
  readonly rangedReadBytes = 1024 * 1024;
  private readonly packs = new OpenPacks();

  constructor(root: string) {
    this.location = root;
  }

  async create(): Promise<void> {
    await this.wrap('create the repository folder', this.location, async () => {
      await mkdir(this.location, { recursive: true });
      for (const folder of Object.values(FOLDERS)) {
        await mkdir(join(this.location, folder), { recursive: true });
      }
      for (let i = 0; i < 256; i++) {
        await mkdir(join(this.location, 'data', i.toString(16).padStart(2, '0')), {
          recursive: true,
        });
      }
    });
  }

  async save(handle: FileHandle, data: Uint8Array): Promise<void> {
    const path = this.pathOf(handle);
    const folder = this.folderOf(handle);
    const temp = join(
      folder,
      `${TEMP_PREFIX}${handle.name}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`,
    );
    await this.wrap('write', path, async () => {
      await this.ensureFolder(handle, folder);
      const file = await open(temp, 'wx', 0o600);
      try {
        await file.writeFile(data);
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temp, path);
      await syncFolder(folder);
    }).catch(async (err: unknown) => {
      await unlink(temp).catch(() => undefined);
      throw err;
    });
  }

  async load(handle: FileHandle, range?: ByteRange): Promise<Buffer> {
    const path = this.pathOf(handle);
    if (handle.type === 'data' && range) {
      return this.wrap('read', path, () => this.packs.use(path, (file) => readRange(file, range, path)));
    }
    return this.wrap('read', path, async () => {
      const file = await open(path, 'r');
      try {
        if (!range) return await file.readFile();
        return await readRange(file, range, path);
      } finally {
        await file.close();
      }
    });
  }

  async stat(handle: FileHandle): Promise<FileInfo | undefined> {
    const path = this.pathOf(handle);
    return this.wrap('stat', path, async () => {
      try {
        const info = await stat(path);
        return { name: handle.name, size: info.size };
      } catch (err) {
        if (isCode(err, 'ENOENT')) return undefined;
        throw err;
      }
    });
  }

  async list(type: FileType): Promise<FileInfo[]> {
    if (type === 'config') {
      const info = await this.stat({ type, name: 'config' });
      return info ? [info] : [];
    }
    const folder = join(this.location, FOLDERS[type]);
    const folders = type === 'data' ? await this.subfolders(folder) : [folder];
    const out: FileInfo[] = [];
    for (const dir of folders) {
      for (const entry of await this.filesIn(dir)) {
        if (!isTemporaryName(entry.name)) out.push({ name: entry.name, size: entry.size });
      }
    }
    return out;
  }

  async remove(handle: FileHandle): Promise<void> {
    const path = this.pathOf(handle);
    await this.packs.forget(path);
    await this.wrap('delete', path, () => rm(path, { force: true }));
  }

  async freeSpace(): Promise<number | undefined> {
    const fs = await statfs(this.location).catch(() => undefined);
    return fs === undefined ? undefined : fs.bavail * fs.bsize;
  }

  async listLeftovers(): Promise<LeftoverFile[]> {
    const out: LeftoverFile[] = [];
    const folders = [this.location];
    for (const folder of Object.values(FOLDERS)) folders.push(join(this.location, folder));
    folders.push(...(await this.subfolders(join(this.location, FOLDERS.data))));
    for (const dir of folders) {
      for (const entry of await this.filesIn(dir)) {
        if (!isTemporaryName(entry.name)) continue;
        const path = join(dir, entry.name).slice(this.location.length + 1);
        out.push({ path, size: entry.size, modified: entry.modified });
      }
    }
    return out;
  }

  async removeLeftovers(olderThanMillis: number): Promise<number> {
    const cutoff = Date.now() - olderThanMillis;
    let removed = 0;
    for (const leftover of await this.listLeftovers()) {
      if (leftover.modified.getTime() > cutoff) continue;
      const path = join(this.location, leftover.path);
      await this.wrap('delete', path, () => rm(path, { force: true }));
      removed++;
    }
    return removed;
  }

  private folderOf(handle: FileHandle): string {
    if (handle.type === 'config') return this.location;
    const folder = join(this.location, FOLDERS[handle.type]);
    return handle.type === 'data' ? join(folder, handle.name.slice(0, 2)) : folder;
  }

  private pathOf(handle: FileHandle): string {
    if (handle.type === 'config') return join(this.location, 'config');
    if (handle.name.length < 2 || handle.name.includes('/') || handle.name.startsWith('.')) {
      throw new BackupError('ERR_BACKEND_IO', `invalid ${handle.type} file name "${handle.name}"`);
    }
    return join(this.folderOf(handle), handle.name);
  }

  /** Creates a missing data subfolder; any other missing folder is an error. */
  private async ensureFolder(handle: FileHandle, folder: string): Promise<void> {
    if (handle.type !== 'data') return;
    try {
      await mkdir(folder);
    } catch (err) {
      if (!isCode(err, 'EEXIST')) throw err;
    }
  }

  private async subfolders(folder: string): Promise<string[]> {
    const entries = await this.readFolder(folder);
    return entries.filter((e) => e.isDirectory()).map((e) => join(folder, e.name));
  }

  private async filesIn(folder: string): Promise<{ name: string; size: number; modified: Date }[]> {
    const out = [];
    for (const entry of await this.readFolder(folder)) {
      if (!entry.isFile()) continue;
      const path = join(folder, entry.name);
      const info = await stat(path).catch((err: unknown) => {
        if (isCode(err, 'ENOENT')) return undefined;
        throw wrapIo('stat', path, err);
      });
      if (info) out.push({ name: entry.name, size: info.size, modified: info.mtime });
    }
    return out;
  }

  /** Lists a folder; only a data subfolder may be missing (it is created on first save). */
  private async readFolder(folder: string) {
    try {
      return await readdir(folder, { withFileTypes: true });
    } catch (err) {
      const dataFolder = join(this.location, FOLDERS.data);
      if (isCode(err, 'ENOENT') && folder.startsWith(dataFolder + '/')) return [];
      throw wrapIo('list', folder, err);
    }
  }

  private async wrap<T>(action: string, path: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw err instanceof BackupError ? err : wrapIo(action, path, err);
    }
  }
}

/** Flushes a folder's entries so a rename survives a power loss (POSIX fsync on a directory). */
async function syncFolder(folder: string): Promise<void> {
  const dir = await open(folder, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

function isCode(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === code;
}

function wrapIo(action: string, path: string, err: unknown): BackupError {
  let hint = 'check that the folder exists and is writable';
  if (isCode(err, 'ENOENT')) hint = 'the file or folder does not exist; check the repository path';
  if (isCode(err, 'EACCES') || isCode(err, 'EPERM')) {
    hint = 'permission denied; check the owner and mode of the folder';
  }
  if (isCode(err, 'ENOSPC')) hint = 'the disk is full; free space and retry';
  return new BackupError(
    'ERR_BACKEND_IO',
    `failed to ${action} ${path}: ${errorMessage(err)} (${hint})`,
    {
      cause: err,
    },
  );
}

async function readRange(file: NodeFileHandle, range: ByteRange, path: string): Promise<Buffer> {
  const buffer = Buffer.allocUnsafeSlow(range.length);
  let done = 0;
  while (done < range.length) {
    const { bytesRead } = await file.read(buffer, done, range.length - done, range.offset + done);
    if (bytesRead === 0) {
      // The folder is readable, so the usual hint about its path does not apply.
      throw new BackupError(
        'ERR_BACKEND_IO',
        `failed to read ${path}: the file is shorter than ${range.offset + range.length} bytes, so it was cut short or damaged`,
      );
    }
    done += bytesRead;
  }
  return buffer;
}

/** Pack files kept open at once for ranged reads. */
const OPEN_PACKS = 16;
/** Milliseconds after its last read that an open pack file is closed. */
const PACK_IDLE_MILLIS = 2000;

interface OpenPack {
  file: Promise<NodeFileHandle>;
  users: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Pack files opened for ranged reads and kept open, so that restoring many
 * small blobs from one pack opens it once. At most OPEN_PACKS idle files stay
 * open, and each is closed after PACK_IDLE_MILLIS without reads. The timers do
 * not keep the process alive. A pack's name is the hash of its bytes, so a
 * kept descriptor reads the same bytes as a new one.
 */
class OpenPacks {
  private readonly open = new Map<string, OpenPack>();

  /** Runs `read` with the open file at `path`, opening it when needed. */
  async use<T>(path: string, read: (file: NodeFileHandle) => Promise<T>): Promise<T> {
    let pack = this.open.get(path);
    if (pack === undefined) {
      pack = { file: open(path, 'r'), users: 0, timer: undefined };
      this.open.set(path, pack);
      this.evictIdle();
    } else {
      // Most recently used last, so eviction takes the oldest first.
      this.open.delete(path);
      this.open.set(path, pack);
    }
    pack.users += 1;
    clearTimeout(pack.timer);
    try {
      return await read(await pack.file);
    } catch (err) {
      if (this.open.get(path) === pack) this.open.delete(path);
      throw err;
    } finally {
      pack.users -= 1;
      this.release(path, pack);
    }
  }

  /** Closes the file at `path` if it is open, before it is deleted. */
  async forget(path: string): Promise<void> {
    const pack = this.open.get(path);
    if (pack === undefined) return;
    this.open.delete(path);
    if (pack.users === 0) await closePack(pack);
  }

  private release(path: string, pack: OpenPack): void {
    if (pack.users > 0) return;
    if (this.open.get(path) !== pack) {
      void closePack(pack);
      return;
    }
    pack.timer = setTimeout(() => {
      if (this.open.get(path) === pack && pack.users === 0) {
        this.open.delete(path);
        void closePack(pack);
      }
    }, PACK_IDLE_MILLIS);
    pack.timer.unref();
  }

  private evictIdle(): void {
    for (const [path, pack] of this.open) {
      if (this.open.size <= OPEN_PACKS) return;
      if (pack.users > 0) continue;
      this.open.delete(path);
      void closePack(pack);
    }
  }
}

async function closePack(pack: OpenPack): Promise<void> {
  clearTimeout(pack.timer);
  const file = await pack.file.catch(() => undefined);
  await file?.close().catch(() => undefined);
}
