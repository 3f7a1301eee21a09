/**
 * The main job: one snapshot of the whole stack. Runs the `before` command,
 * reads every source into one snapshot, writes manifest.json, records the
 * snapshot, and runs the `after` command whatever happened.
 */
import { hostname as osHostname } from 'node:os';
import { BackupError, errorMessage, isBackupError } from '../errors/index.ts';
import type { Logger, ProgressListener, Warning } from '../log/index.ts';
import { scopeReader, scopeWriter } from '../snapshot/index.ts';
import type { SnapshotReader, SnapshotWriter } from '../snapshot/index.ts';
import type { Source, SourceManifest } from '../sources/index.ts';
import { runHookOrThrow } from './hooks.ts';
import { MANIFEST_FORMAT, readManifest, writeManifest } from './manifest.ts';
import type { Manifest } from './manifest.ts';
import { TOOL_VERSION } from './version.ts';

/** A snapshot being written: the writer plus the calls that end it. */
export interface SnapshotSession extends SnapshotWriter {
  /** Writes the trees and the snapshot file; returns the snapshot id. */
  finish(meta: { tags: string[]; paths: string[]; hostname: string; parent?: string }): Promise<{
    snapshotId: string;
    storedBytes: number;
  }>;
  /** Drops the snapshot; packs already written stay for a later backup to reuse. */
  abort(): Promise<void>;
}

/** The repository's side of a run: where the sources write, and what they compare with. */
export interface OpenedRun {
  session: SnapshotSession;
  /** The newest earlier snapshot, for metadata fast paths; optional. */
  parent?: SnapshotReader;
  /** Id of `parent`, recorded as the new snapshot's parent. */
  parentId?: string;
}

/** Options of `runBackup`. */
export interface BackupJobOptions {
  sources: Source[];
  /**
   * Opens the repository, locks it, opens a snapshot session and finds the
   * parent. Called once, after the before command. A source whose
   * `startsEarly` is set begins reading while this runs, because opening
   * includes the key derivation (about half a second).
   */
  open(): Promise<OpenedRun>;
  hostname?: string;
  before?: string;
  after?: string;
  logger: Logger;
  onEvent: ProgressListener;
  signal: AbortSignal;
}

/** Outcome of a backup that wrote a snapshot. */
export interface BackupJobResult {
  snapshotId: string;
  storedBytes: number;
  warnings: Warning[];
  manifest: Manifest;
}

/** Tag given to every snapshot that contains source `name`. */
export function sourceTag(source: { type: string; name: string }): string {
  return `${source.type}:${source.name}`;
}

/** Tag of a snapshot whose run reported warnings (such as unreadable files). */
export const PARTIAL_TAG = 'partial';

/**
 * Runs one backup of every source. Throws when any source fails, and then no
 * snapshot is written. The after command runs in every case; when it fails
 * the error says whether a snapshot was kept.
 */
export async function runBackup(options: BackupJobOptions): Promise<BackupJobResult> {
  const hookEnv = { BGAPP_BACKUP_PHASE: 'before' };
  let result: BackupJobResult | undefined;
  let failure: unknown;
  try {
    if (options.before) {
      options.onEvent({ type: 'phase', phase: 'before command' });
      await runHookOrThrow('before', options.before, hookEnv, options.signal);
    }
    result = await backUpSources(options);
  } catch (err) {
    failure = withSnapshotNote(err);
  }

  if (options.after) {
    const env = {
      BGAPP_BACKUP_PHASE: 'after',
      BGAPP_BACKUP_STATUS: failure ? 'failed' : 'succeeded',
      BGAPP_BACKUP_SNAPSHOT: result?.snapshotId ?? '',
      // A snapshot with warnings also counts as succeeded, so the count marks a partial run.
      BGAPP_BACKUP_WARNINGS: result ? String(result.warnings.length) : '',
    };
    try {
      options.onEvent({ type: 'phase', phase: 'after command' });
      await runHookOrThrow('after', options.after, env);
    } catch (err) {
      const kept = result
        ? `snapshot ${result.snapshotId.slice(0, 8)} was kept`
        : 'no snapshot was kept';
      const previous = failure ? `; the backup had already failed: ${errorMessage(failure)}` : '';
      throw new BackupError('ERR_HOOK_FAILED', `${errorMessage(err)} (${kept})${previous}`, {
        cause: failure ?? err,
      });
    }
  }
  if (failure !== undefined) throw failure;
  if (!result) throw new Error('backup finished without a result');
  return result;
}

/**
 * Wraps a writer so that every chunk of file contents read is reported as a
 * `bytes` event, which lets a progress display move during one long dump.
 */
function countingWriter(
  writer: SnapshotWriter,
  source: string,
  onEvent: ProgressListener,
): SnapshotWriter {
  let bytesRead = 0;
  async function* count(content: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
    for await (const chunk of content) {
      bytesRead += chunk.length;
      onEvent({ type: 'bytes', source, bytesRead, bytesStored: 0 });
      yield chunk;
    }
  }
  return {
    addDir: (path, meta) => writer.addDir(path, meta),
    addSymlink: (path, meta, target) => writer.addSymlink(path, meta, target),
    addFile: (path, meta, content) => writer.addFile(path, meta, count(content)),
    addExistingFile: (path, meta, file) => writer.addExistingFile?.(path, meta, file) ?? false,
    addLocalFile: writer.addLocalFile
      ? async (path, file, meta) => {
          const result = await writer.addLocalFile!(path, file, meta);
          if (result?.kind === 'saved') {
            bytesRead += result.file.size;
            onEvent({ type: 'bytes', source, bytesRead, bytesStored: 0 });
          }
          return result;
        }
      : undefined,
  };
}

/** Adds "no snapshot was kept" to a failure, so the user knows nothing was recorded. */
function withSnapshotNote(err: unknown): unknown {
  if (!isBackupError(err)) return err;
  return new BackupError(err.code, `${err.message} (no snapshot was kept)`, { cause: err });
}

/**
 * Reads the parent snapshot's manifest. Without it the sources read every
 * item again, which is slower but correct, so a failure is only logged.
 */
async function loadParentManifest(run: OpenedRun, logger: Logger): Promise<Manifest | undefined> {
  if (!run.parent || run.parentId === undefined) return undefined;
  try {
    return await readManifest(run.parent, run.parentId);
  } catch (err) {
    logger.warn(
      { err, parent: run.parentId },
      "cannot read the parent snapshot's manifest, so every item is read again",
    );
    return undefined;
  }
}

/** An opened run with its parent's manifest. */
interface ReadyRun extends OpenedRun {
  parentManifest?: Manifest;
}

/**
 * Returns a writer for a source that starts before the repository is open.
 * Its files wait for the session, so a program's output waits in its pipe
 * meanwhile, and its folders and links are added once the session is there.
 */
function waitingWriter(ready: Promise<ReadyRun>): SnapshotWriter {
  let session: SnapshotSession | undefined;
  const pending: ((target: SnapshotSession) => void)[] = [];
  void ready.then(
    (run) => {
      session = run.session;
      for (const add of pending.splice(0)) add(run.session);
    },
    () => {},
  );
  const later = (add: (target: SnapshotSession) => void): void => {
    if (session) add(session);
    else pending.push(add);
  };
  return {
    addDir: (path, meta) => later((session) => session.addDir(path, meta)),
    addSymlink: (path, meta, target) => later((session) => session.addSymlink(path, meta, target)),
    addFile: async (path, meta, content) => (await ready).session.addFile(path, meta, content),
  };
}

async function backUpSources(options: BackupJobOptions): Promise<BackupJobResult> {
  const startedAt = new Date().toISOString();
  const hostname = options.hostname ?? osHostname();
  const warnings: Warning[] = [];
  const ready: Promise<ReadyRun> = options.open().then(async (run) => ({
    ...run,
    parentManifest: await loadParentManifest(run, options.logger),
  }));
  // Awaited below, or in the catch block when a source fails first.
  ready.catch(() => {});
  let run: ReadyRun | undefined;
  const manifests: SourceManifest[] = [];
  try {
    for (const source of options.sources) {
      if (run === undefined && source.startsEarly !== true) run = await ready;
      const parentSection = run?.parentManifest?.sources.find(
        (s) => s.type === source.type && s.name === source.name,
      );
      const writer = run?.session ?? waitingWriter(ready);
      manifests.push(
        await backUpSource(source, writer, run?.parent, warnings, options, parentSection),
      );
    }
    run ??= await ready;
    const { session } = run;
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      tool: { name: 'bgapp-backup', version: TOOL_VERSION, node: process.version },
      hostname,
      startedAt,
      finishedAt: new Date().toISOString(),
      warnings: warnings.map((w) => ({ ...w })),
      sources: manifests,
    };
    await writeManifest(session, manifest);
    options.onEvent({ type: 'phase', phase: 'writing snapshot' });
    const tags = options.sources.map(sourceTag);
    if (warnings.length > 0) tags.push(PARTIAL_TAG);
    const paths = options.sources.map((s) => `/${s.type}/${s.name}`);
    const { parentId: parent } = run;
    const { snapshotId, storedBytes } = await session.finish({ tags, paths, hostname, parent });
    options.logger.info({ snapshotId, storedBytes, warnings: warnings.length }, 'snapshot saved');
    return { snapshotId, storedBytes, warnings, manifest };
  } catch (err) {
    // A source that started early fails too when the repository cannot be
    // opened, and then the repository's error, thrown here, is the one to report.
    const opened = await ready;
    await opened.session.abort().catch((abortErr: unknown) => {
      options.logger.warn({ err: abortErr }, 'failed to clean up the aborted snapshot');
    });
    throw err;
  }
}

async function backUpSource(
  source: Source,
  writer: SnapshotWriter,
  parent: SnapshotReader | undefined,
  warnings: Warning[],
  options: BackupJobOptions,
  parentManifest: SourceManifest | undefined,
): Promise<SourceManifest> {
  const prefix = [source.type, source.name];
  const logger = options.logger.child({ source: source.name });
  options.onEvent({ type: 'source-start', source: source.name });
  try {
    const manifest = await source.backup({
      writer: countingWriter(scopeWriter(writer, prefix), source.name, options.onEvent),
      parent: parent ? scopeReader(parent, prefix) : undefined,
      parentManifest,
      logger,
      signal: options.signal,
      onEvent: options.onEvent,
      warn(warning) {
        warnings.push(warning);
        logger.warn({ item: warning.item, kind: warning.kind }, warning.message);
        options.onEvent({ type: 'warning', warning });
      },
    });
    options.onEvent({ type: 'source-done', source: source.name });
    return manifest;
  } catch (err) {
    if (isBackupError(err)) {
      throw new BackupError(err.code, `source ${source.name}: ${err.message}`, { cause: err });
    }
    throw new BackupError('ERR_SOURCE_FAILED', `source ${source.name}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}
