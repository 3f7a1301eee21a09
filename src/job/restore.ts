/**
 * Restores the sources of one snapshot into their targets, each verified
 * against the snapshot's manifest.json.
 */
import { createHash } from 'node:crypto';
import { BackupError } from '../errors/index.ts';
import type { Logger, ProgressListener } from '../log/index.ts';
import { restoreFiles, type WorkerFileWriter } from '../restore/files/index.ts';
import type { RestoreReport } from '../restore/index.ts';
import { restorePostgres } from '../restore/postgres/index.ts';
import type { PostgresRestoreOptions } from '../restore/postgres/index.ts';
import { restoreS3 } from '../restore/s3/index.ts';
import type { S3RestoreOptions } from '../restore/s3/index.ts';
import { scopeReader } from '../snapshot/index.ts';
import type { SnapshotReader } from '../snapshot/index.ts';
import type { FilesManifest, SourceManifest } from '../sources/index.ts';

/** Target of one source of the snapshot. */
export type RestoreTarget =
  | { type: 'postgres'; options: PostgresRestoreOptions }
  | { type: 's3'; options: S3RestoreOptions }
  | { type: 'files'; options: { targetDir: string } };

/** One source to restore and its target. */
export interface RestoreTask {
  manifest: SourceManifest;
  target: RestoreTarget;
}

/** Options of `runRestore`. */
export interface RestoreJobOptions {
  reader: SnapshotReader;
  tasks: RestoreTask[];
  force: boolean;
  logger: Logger;
  onEvent: ProgressListener;
  signal: AbortSignal;
}

/** Restores each task in turn and returns one report per source. */
export async function runRestore(options: RestoreJobOptions): Promise<RestoreReport[]> {
  const reports: RestoreReport[] = [];
  for (const task of options.tasks) {
    const { manifest } = task;
    options.onEvent({ type: 'source-start', source: manifest.name });
    const base = {
      reader: scopeReader(options.reader, [manifest.type, manifest.name]),
      force: options.force,
      logger: options.logger.child({ source: manifest.name }),
      signal: options.signal,
      onEvent: options.onEvent,
    };
    reports.push(await restoreOne(base, task, workerWriterOf(options.reader)));
    options.onEvent({ type: 'source-done', source: manifest.name });
  }
  return reports;
}

type BaseContext = Omit<Parameters<typeof restoreFiles>[0], 'manifest'>;

/**
 * Returns `reader` when it can write files itself, as
 * RepositorySnapshotReader does on its worker threads. Scoped readers do not
 * pass that method on, so the job hands it to the files restore directly.
 */
function workerWriterOf(reader: SnapshotReader): WorkerFileWriter | undefined {
  const candidate = reader as SnapshotReader & Partial<WorkerFileWriter>;
  return typeof candidate.writeOneBlobFile === 'function' ? (candidate as WorkerFileWriter) : undefined;
}

function restoreOne(
  base: BaseContext,
  task: RestoreTask,
  workerWriter: WorkerFileWriter | undefined,
): Promise<RestoreReport> {
  const { manifest, target } = task;
  if (manifest.type === 'postgres' && target.type === 'postgres') {
    return restorePostgres({ ...base, manifest }, target.options);
  }
  if (manifest.type === 's3' && target.type === 's3') {
    return restoreS3({ ...base, manifest }, target.options);
  }
  if (manifest.type === 'files' && target.type === 'files') {
    return restoreFiles({ ...base, manifest }, { ...target.options, workerWriter });
  }
  throw new BackupError(
    'ERR_USAGE',
    `source ${manifest.name} is of type ${manifest.type}, but the target given is for ${target.type}`,
  );
}

/**
 * Restores a whole snapshot that has no manifest.json, such as one made by
 * `restic backup`, into `targetDir`. The files on disk are checked against
 * SHA-256 sums computed from the snapshot's own contents.
 */
export async function restoreWholeSnapshot(
  options: Omit<RestoreJobOptions, 'tasks'> & { targetDir: string },
): Promise<RestoreReport> {
  const { reader } = options;
  const sha256: Record<string, string> = {};
  let bytes = 0;
  options.onEvent({ type: 'phase', phase: 'hashing the snapshot' });
  for await (const { path, node } of reader.walk([])) {
    if (node.type !== 'file') continue;
    const hash = createHash('sha256');
    for await (const chunk of reader.openFile(node)) hash.update(chunk as Uint8Array);
    sha256[path.join('/')] = hash.digest('hex');
    bytes += node.size ?? 0;
  }
  const now = new Date().toISOString();
  const manifest: FilesManifest = {
    type: 'files',
    name: 'snapshot',
    path: '/',
    readAt: now,
    finishedAt: now,
    files: Object.keys(sha256).length,
    bytes,
    sha256,
  };
  const report = await restoreFiles(
    {
      reader,
      manifest,
      force: options.force,
      logger: options.logger,
      signal: options.signal,
      onEvent: options.onEvent,
    },
    { targetDir: options.targetDir, workerWriter: workerWriterOf(reader) },
  );
  report.notes.push(
    'the snapshot has no manifest.json; files were checked against the snapshot itself',
  );
  return report;
}
