/**
 * Keeps the last N readable copies of each source next to the repository, so a
 * person can open a dump or an archive without restic. Copies are read back from
 * the snapshot just written, so each one is exactly what the repository contains.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupError, errorMessage, isBackupError } from '../errors/index.ts';
import type { Logger, ProgressListener, Warning } from '../log/index.ts';
import type { SnapshotReader } from '../snapshot/index.ts';
import type { PostgresManifest, SourceManifest } from '../sources/index.ts';
import { writeFileAtomic } from './atomic-file.ts';
import { oneDriveLayout } from './folder.ts';
import { writeFolderArchive } from './tar-folder.ts';

/** Folder of BGAPP_Backups that receives a `files` source's plain copies. */
export type FilesCopyFolder = 'configs' | 'logs';

/** Inputs of writePlainCopies. */
export interface PlainCopiesOptions {
  /** Reader of the whole snapshot just written, with sources under `/<type>/<name>/`. */
  reader: SnapshotReader;
  /** The snapshot manifest's sources. */
  manifests: readonly SourceManifest[];
  /** The OneDrive folder; copies go below its BGAPP_Backups folder. */
  oneDriveFolder: string;
  /** Copies kept per series (per source, or per bucket), counting the new one. */
  keep: number;
  /** Time of the snapshot, used in the file names. */
  time: Date;
  /** Folder of each `files` source, by source name; configs/ when a name is missing. */
  filesFolders?: Readonly<Record<string, FilesCopyFolder>>;
  logger: Logger;
  onEvent: ProgressListener;
  signal?: AbortSignal;
}

/** One copy written. */
export interface PlainCopy {
  source: string;
  path: string;
  /** Size on disk (compressed for archives). */
  bytes: number;
}

/** Outcome of writePlainCopies. */
export interface PlainCopiesReport {
  written: PlainCopy[];
  /** Older copies removed. */
  pruned: string[];
  /** Copies that failed; each is also reported as a warning event. */
  failed: Warning[];
}

/** One file to write: where, from what, and the series its name belongs to. */
interface PlannedCopy {
  source: string;
  folder: string;
  /** Series name: `<series>_<time>.<extension>`. */
  series: string;
  extension: 'dump' | 'tar.gz';
  write(target: string, signal?: AbortSignal): Promise<number>;
}

/**
 * Writes a plain copy of each source and prunes older copies to `keep` per series.
 * A postgres source gives `postgres_dumps/<source>_<time>.dump`, the custom-format
 * dump only (globals.sql, which contains role password hashes, is never copied). Each
 * s3 bucket gives `minio_data/<bucket>_<time>.tar.gz`. A `files` source gives
 * `configs/` or `logs/<source>_<time>.tar.gz`. A failed copy is a warning and the
 * others go on; an abort raises ERR_ABORTED.
 */
export async function writePlainCopies(options: PlainCopiesOptions): Promise<PlainCopiesReport> {
  const report: PlainCopiesReport = { written: [], pruned: [], failed: [] };
  options.onEvent({ type: 'phase', phase: 'plain-copies' });
  for (const copy of planCopies(options)) {
    options.signal?.throwIfAborted();
    try {
      await mkdir(copy.folder, { recursive: true });
      const path = join(copy.folder, copyName(copy.series, options.time, copy.extension));
      const bytes = await copy.write(path, options.signal);
      report.written.push({ source: copy.source, path, bytes });
      options.onEvent({ type: 'item', source: copy.source, item: path, bytes });
      report.pruned.push(...(await pruneSeries(copy.folder, copy.series, copy.extension, options.keep)));
    } catch (err) {
      if (isBackupError(err, 'ERR_ABORTED') || options.signal?.aborted) throw err;
      report.failed.push(reportFailure(copy, err, options));
    }
  }
  return report;
}

/** Returns the file name of a copy: `<series>_<YYYYMMDDTHHMMSSZ>.<extension>`, in UTC. */
export function copyName(series: string, time: Date, extension: string): string {
  const stamp = time.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  return `${series}_${stamp}.${extension}`;
}

/**
 * Removes the oldest copies of one series in `folder` beyond `keep`. Only names that
 * copyName produces for this series are considered, so other files are never removed.
 */
export async function pruneSeries(
  folder: string,
  series: string,
  extension: string,
  keep: number,
): Promise<string[]> {
  const pattern = new RegExp(`^${escapeRegExp(series)}_(\\d{8}T\\d{6}Z)\\.${escapeRegExp(extension)}$`);
  const names = (await readdir(folder)).filter((name) => pattern.test(name)).sort().reverse();
  const removed: string[] = [];
  for (const name of names.slice(keep)) {
    await rm(join(folder, name), { force: true });
    removed.push(join(folder, name));
  }
  return removed;
}

function planCopies(options: PlainCopiesOptions): PlannedCopy[] {
  const layout = oneDriveLayout(options.oneDriveFolder);
  const { reader } = options;
  const planned: PlannedCopy[] = [];
  for (const manifest of options.manifests) {
    const base = [manifest.type, manifest.name];
    if (manifest.type === 'postgres') {
      planned.push({
        source: manifest.name,
        folder: layout.postgresDumps,
        series: manifest.name,
        extension: 'dump',
        write: (target, signal) => copyDump(reader, base, manifest, target, signal),
      });
    } else if (manifest.type === 's3') {
      for (const bucket of manifest.buckets) {
        planned.push({
          source: manifest.name,
          folder: layout.minioData,
          series: bucket.name,
          extension: 'tar.gz',
          write: (target, signal) =>
            writeFolderArchive(reader, [...base, bucket.name], bucket.name, target, signal),
        });
      }
    } else {
      const folder = options.filesFolders?.[manifest.name] ?? 'configs';
      planned.push({
        source: manifest.name,
        folder: folder === 'logs' ? layout.logs : layout.configs,
        series: manifest.name,
        extension: 'tar.gz',
        write: (target, signal) => writeFolderArchive(reader, base, manifest.name, target, signal),
      });
    }
  }
  return planned;
}

/**
 * Copies the custom-format dump as it is; it is compressed by pg_dump already. The
 * manifest's dump path is relative to the source's folder in the snapshot.
 */
async function copyDump(
  reader: SnapshotReader,
  base: readonly string[],
  manifest: PostgresManifest,
  target: string,
  signal?: AbortSignal,
): Promise<number> {
  if (manifest.globals && manifest.globals.path === manifest.dump.path) {
    throw new BackupError(
      'ERR_REPO_CORRUPT',
      `manifest of source ${manifest.name} names the globals file as the dump; not copying it`,
    );
  }
  const path = [...base, ...manifest.dump.path.split('/').filter((part) => part !== '')];
  const node = await reader.lookup(path);
  if (node?.type !== 'file') {
    throw new BackupError(
      'ERR_REPO_CORRUPT',
      `snapshot has no dump file /${path.join('/')} although its manifest lists it; run check`,
    );
  }
  return writeFileAtomic(target, reader.openFile(node), { mode: 0o600, signal });
}

function reportFailure(copy: PlannedCopy, err: unknown, options: PlainCopiesOptions): Warning {
  const warning: Warning = {
    source: copy.source,
    item: join(copy.folder, `${copy.series}_*.${copy.extension}`),
    kind: 'other',
    message: `plain copy failed: ${errorMessage(err)}`,
  };
  options.logger.warn({ err, source: copy.source, series: copy.series }, 'plain copy failed');
  options.onEvent({ type: 'warning', warning });
  return warning;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
