/**
 * A Backend that keeps the repository in a OneDrive or SharePoint folder
 * through Microsoft Graph, with restic's layout below the repository folder.
 */
import { BackupError, isBackupError } from '../../errors/index.ts';
import { silentLogger, type Logger } from '../../log/index.ts';
import { isTemporaryName } from '../local.ts';
import type {
  Backend,
  ByteRange,
  FileHandle,
  FileInfo,
  FileType,
  LeftoverFile,
  ExpectedFile,
} from '../types.ts';
import { BandwidthLimiter } from './bandwidth.ts';
import { systemClock } from './clock.ts';
import { downloadStream, loadBytes } from './download.ts';
import { Gate } from './gate.ts';
import { finalGraphError } from './graph-errors.ts';
import { GraphHttp } from './http.ts';
import { listChildren } from './listing.ts';
import { DEFAULT_GRAPH_FOLDER, drivePath, fileNames, itemUrl, splitFolder } from './paths.ts';
import { RetryPolicy } from './retry.ts';
import {
  compareWithRemote,
  getDriveStatus,
  type DriveStatus,
  type RemoteComparison,
} from './status.ts';
import { bufferSource, HashingSource } from './source.ts';
import type { DriveItem, GraphBackendOptions, GraphDrive, UploadSource } from './types.ts';
import { checkFragmentBytes, uploadFile, type UploadContext } from './upload.ts';
import { verifyItem } from './verify.ts';

/** Default Graph endpoint (global cloud). */
export const DEFAULT_GRAPH_BASE_URL = 'https://graph.microsoft.com/v1.0';

const MINUTE = 60_000;
const FOLDERS: readonly FileType[] = ['data', 'index', 'keys', 'locks', 'snapshots'];

/** Stores a repository in a drive folder through Microsoft Graph. */
export class GraphBackend implements Backend {
  readonly location: string;
  readonly http: GraphHttp;
  readonly gate: Gate;
  readonly driveBase: string;
  readonly folderNames: readonly string[];
  private readonly logger: Logger;
  private readonly uploads: UploadContext;
  /** Bytes the service acknowledged during this backend's lifetime, for quota messages. */
  private bytesStored = 0;

  constructor(options: GraphBackendOptions) {
    const clock = options.clock ?? systemClock;
    const baseUrl = (options.baseUrl ?? DEFAULT_GRAPH_BASE_URL).replace(/\/+$/, '');
    const drive = options.drive ?? 'me';
    const fragmentBytes = options.fragmentBytes ?? 32 * 320 * 1024;
    checkFragmentBytes(fragmentBytes);
    this.logger = (options.logger ?? silentLogger).child({ backend: 'graph' });
    this.driveBase = drivePath(drive);
    this.folderNames = splitFolder(options.folder ?? DEFAULT_GRAPH_FOLDER);
    this.location = `graph:${drive}/${this.folderNames.join('/')}`;
    this.gate = new Gate(options.concurrency ?? 4, clock);
    const policy = new RetryPolicy(
      {
        maxTotalWaitMillis: options.maxRetryWaitMillis ?? 30 * MINUTE,
        baseBackoffMillis: options.baseBackoffMillis ?? 1000,
        maxBackoffMillis: options.maxBackoffMillis ?? MINUTE,
        random: options.random ?? Math.random,
        signal: options.signal,
      },
      clock,
      this.gate,
      finalGraphError,
    );
    this.http = new GraphHttp({
      baseUrl,
      getAccessToken: options.getAccessToken,
      gate: this.gate,
      policy,
      clock,
      logger: this.logger,
      requestTimeoutMillis: options.requestTimeoutMillis ?? 5 * MINUTE,
    });
    this.uploads = {
      http: this.http,
      policy,
      bandwidth: new BandwidthLimiter(options.uploadBytesPerSecond ?? 0, clock),
      logger: this.logger,
      simpleUploadMaxBytes: options.simpleUploadMaxBytes ?? 4 * 1024 * 1024,
      fragmentBytes,
      onBytesStored: (bytes) => {
        this.bytesStored += bytes;
      },
    };
  }

  async create(): Promise<void> {
    for (let depth = 1; depth <= this.folderNames.length; depth++) {
      await this.createFolder(this.folderNames.slice(0, depth));
    }
    for (const folder of FOLDERS) await this.createFolder([...this.folderNames, folder]);
  }

  async save(handle: FileHandle, data: Uint8Array): Promise<void> {
    await this.saveFrom(handle, bufferSource(data));
  }

  /**
   * Uploads a file read piece by piece from `source`, then checks the stored
   * item's size and hash; a mismatch is uploaded once more, a second is an error.
   */
  async saveFrom(handle: FileHandle, source: UploadSource): Promise<void> {
    const names = this.pathOf(handle);
    const what = names.slice(this.folderNames.length).join('/');
    try {
      for (let attempt = 1; ; attempt++) {
        const problem = await this.uploadAndVerify(names, what, source);
        if (problem === undefined) return;
        this.logger.warn(
          { file: what, problem, attempt },
          'uploaded file differs from what was sent',
        );
        if (attempt === 2) {
          await this.deleteItem(names, what);
          throw new BackupError(
            'ERR_GRAPH_VERIFY',
            `uploaded ${what} twice and OneDrive reported a different file both times ` +
              `(${problem}); the bad copy was deleted; run the backup again`,
          );
        }
      }
    } catch (err) {
      if (isBackupError(err, 'ERR_GRAPH_QUOTA')) throw await this.quotaError(what, err);
      throw err;
    }
  }

  async load(handle: FileHandle, range?: ByteRange): Promise<Buffer> {
    const names = this.pathOf(handle);
    return loadBytes(this.http, this.contentUrl(names), this.describe(names), range);
  }

  /** Streams a file's bytes, or `range` of them, without holding the file in memory. */
  async loadStream(handle: FileHandle, range?: ByteRange): Promise<AsyncIterable<Uint8Array>> {
    const names = this.pathOf(handle);
    return downloadStream(this.http, this.contentUrl(names), this.describe(names), range);
  }

  async stat(handle: FileHandle): Promise<FileInfo | undefined> {
    const names = this.pathOf(handle);
    const response = await this.http.request({
      method: 'GET',
      url: `${itemUrl(this.driveBase, names)}?$select=name,size,file`,
      what: `stat ${this.describe(names)}`,
      accept: [404],
    });
    if (response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    const item = (await response.json()) as DriveItem;
    return { name: handle.name, size: item.size ?? 0 };
  }

  async list(type: FileType): Promise<FileInfo[]> {
    if (type === 'config') {
      const info = await this.stat({ type, name: 'config' });
      return info ? [info] : [];
    }
    const out: FileInfo[] = [];
    for (const item of await this.filesOf(type)) {
      if (!isTemporaryName(item.name)) out.push({ name: item.name, size: item.size ?? 0 });
    }
    return out;
  }

  async remove(handle: FileHandle): Promise<void> {
    const names = this.pathOf(handle);
    await this.deleteItem(names, this.describe(names));
  }

  async freeSpace(): Promise<number | undefined> {
    return (await this.readDrive()).quota?.remaining;
  }

  /** Deletes the repository folder and everything in it, for tests that made a folder of their own. */
  async removeRepositoryFolder(): Promise<void> {
    await this.deleteItem(this.folderNames, this.location);
  }

  /**
   * Lists files with temporary names. Graph uploads never create them,
   * because an upload session's item appears only when it completes, but a
   * sync client or another tool may have.
   */
  async listLeftovers(): Promise<LeftoverFile[]> {
    const out: LeftoverFile[] = [];
    for (const type of FILE_TYPES_WITH_FOLDERS) {
      for (const item of await this.filesOf(type)) {
        if (!isTemporaryName(item.name)) continue;
        const path = `${type}/${type === 'data' ? `${item.name.slice(0, 2)}/` : ''}${item.name}`;
        out.push({
          path,
          size: item.size ?? 0,
          modified: new Date(item.lastModifiedDateTime ?? 0),
        });
      }
    }
    return out;
  }

  async removeLeftovers(olderThanMillis: number): Promise<number> {
    const cutoff = Date.now() - olderThanMillis;
    let removed = 0;
    for (const leftover of await this.listLeftovers()) {
      if (leftover.modified.getTime() > cutoff) continue;
      await this.deleteItem([...this.folderNames, ...leftover.path.split('/')], leftover.path);
      removed++;
    }
    return removed;
  }

  /** Reads the drive's id, type and quota. */
  async readDrive(): Promise<GraphDrive> {
    return this.http.json<GraphDrive>({
      method: 'GET',
      url: `${this.driveBase}?$select=id,driveType,quota`,
      what: 'read the drive and its quota',
    });
  }

  /** Requests sent so far, counting retries. */
  get requestCount(): number {
    return this.http.requestCount;
  }

  /** Returns the URL of the repository folder, or of a folder or file below it. */
  itemUrl(relative: readonly string[] = []): string {
    return itemUrl(this.driveBase, [...this.folderNames, ...relative]);
  }

  private async uploadAndVerify(
    names: string[],
    what: string,
    source: UploadSource,
  ): Promise<string | undefined> {
    const hashing = new HashingSource(source);
    const target = { url: (suffix: string) => itemUrl(this.driveBase, names, suffix), what };
    const item = await this.uploadCreatingParents(names, target, hashing);
    const sent = { size: source.size, ...(await hashing.digests()) };
    const result = await verifyItem(item, sent, () =>
      downloadStream(this.http, this.contentUrl(names), `read back ${what}`),
    );
    if (result.kind === 'mismatch') return result.problem;
    if (result.by === 'read-back') {
      this.logger.info({ file: what }, 'OneDrive reported no hash; verified by reading back');
    }
    return undefined;
  }

  /** Uploads; when the parent folder is missing (a new data subfolder), creates it and tries again. */
  private async uploadCreatingParents(
    names: string[],
    target: { url: (suffix: string) => string; what: string },
    source: HashingSource,
  ): Promise<DriveItem> {
    try {
      return await uploadFile(this.uploads, target, source);
    } catch (err) {
      if (!isBackupError(err, 'ERR_GRAPH_NOT_FOUND')) throw err;
      await this.createFolder(names.slice(0, -1));
      return uploadFile(this.uploads, target, source);
    }
  }

  private async quotaError(what: string, cause: BackupError): Promise<BackupError> {
    const quota = await this.readDrive().then(
      (drive) => drive.quota,
      () => undefined,
    );
    const left =
      quota?.remaining === undefined
        ? 'the space left could not be read'
        : `${quota.remaining} bytes were left of ${quota.total ?? 'an unknown total'}`;
    return new BackupError(
      'ERR_GRAPH_QUOTA',
      `OneDrive is full: failed to upload ${what} after this run wrote ${this.bytesStored} ` +
        `bytes; ${left}; free space in OneDrive or add storage, then run the backup again`,
      { cause },
    );
  }

  private async createFolder(names: readonly string[]): Promise<void> {
    const parent = itemUrl(this.driveBase, names.slice(0, -1), 'children');
    const response = await this.http.request({
      method: 'POST',
      url: parent,
      what: `create the folder ${names.join('/')}`,
      headers: { 'content-type': 'application/json' },
      body: () =>
        JSON.stringify({
          name: names[names.length - 1],
          folder: {},
          '@microsoft.graph.conflictBehavior': 'fail',
        }),
      accept: [409],
    });
    await response.body?.cancel();
  }

  private async deleteItem(names: readonly string[], what: string): Promise<void> {
    const response = await this.http.request({
      method: 'DELETE',
      url: itemUrl(this.driveBase, names),
      what: `delete ${what}`,
      accept: [404],
    });
    await response.body?.cancel();
  }

  /** Lists the driveItems of one file type, temporary names included, with their hashes. */
  async listRemoteFiles(type: FileType): Promise<DriveItem[]> {
    // A folder the sync client has not created yet holds no files, for the comparison.
    if (type !== 'config') return this.filesOf(type, false);
    const response = await this.http.request({
      method: 'GET',
      url: `${this.itemUrl(['config'])}?$select=id,name,size,file`,
      what: 'stat config',
      accept: [404],
    });
    if (response.status !== 404) return [(await response.json()) as DriveItem];
    await response.body?.cancel();
    return [];
  }

  /** Reads the drive's quota and the repository's size (see getDriveStatus). */
  async getDriveStatus(): Promise<DriveStatus> {
    return getDriveStatus(this);
  }

  /** Compares the remote files with those the local index expects (see compareWithRemote). */
  async compareWithRemote(expected: readonly ExpectedFile[]): Promise<RemoteComparison> {
    return compareWithRemote(this, expected);
  }

  /** Returns the files of a type folder; data files come from its two-digit subfolders. */
  private async filesOf(type: Exclude<FileType, 'config'>, mustExist = true): Promise<DriveItem[]> {
    const folder = [...this.folderNames, type];
    const items = await this.children(folder, mustExist);
    if (type !== 'data') return items.filter((item) => item.file !== undefined);
    const out: DriveItem[] = [];
    for (const sub of items.filter((item) => item.folder !== undefined)) {
      out.push(...(await this.children([...folder, sub.name], false)).filter((i) => i.file));
    }
    return out;
  }

  private async children(names: string[], mustExist: boolean): Promise<DriveItem[]> {
    const what = `list ${names.join('/')}`;
    const items = await listChildren(this.http, itemUrl(this.driveBase, names), what);
    if (items !== undefined) return items;
    if (!mustExist) return [];
    throw new BackupError(
      'ERR_GRAPH_NOT_FOUND',
      `the folder ${names.join('/')} does not exist in OneDrive; check the drive and the ` +
        'repository path, or run `init`',
    );
  }

  private pathOf(handle: FileHandle): string[] {
    return [...this.folderNames, ...fileNames(handle)];
  }

  private contentUrl(names: readonly string[]): string {
    return itemUrl(this.driveBase, names, 'content');
  }

  private describe(names: readonly string[]): string {
    return `${this.location}/${names.slice(this.folderNames.length).join('/')}`;
  }
}

const FILE_TYPES_WITH_FOLDERS = FOLDERS as readonly Exclude<FileType, 'config'>[];
