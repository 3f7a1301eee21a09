/**
 * `restore SNAPSHOT`: restores one source or every source that has a target
 * on the command line, and checks each against the snapshot's manifest.
 */
import { join } from 'node:path';
import { RepositorySnapshotReader } from '../../archiver/index.ts';
import type { Config, ConfiguredSource } from '../../config/index.ts';
import { BackupError } from '../../errors/index.ts';
import { MANIFEST_NAME, readManifest } from '../../job/manifest.ts';
import { restoreWholeSnapshot, runRestore } from '../../job/restore.ts';
import type { RestoreTarget, RestoreTask } from '../../job/restore.ts';
import type { Repository, SnapshotEntry } from '../../repository/index.ts';
import type { RestoreReport } from '../../restore/index.ts';
import type { SourceManifest } from '../../sources/index.ts';
import { openRepository } from '../context.ts';
import type { CommandContext } from '../context.ts';
import { EXIT_FAILURE, EXIT_OK } from '../exit-codes.ts';
import type { ParsedArgs } from '../main.ts';
import { printResult } from '../output.ts';

type RestoreFlags = ParsedArgs['values'];

/** Runs the restore; exit 1 when a restored source differs from the manifest. */
export async function runRestoreCommand(
  ctx: CommandContext,
  ref: string | undefined,
  parsed: ParsedArgs,
): Promise<number> {
  if (!ref)
    throw new BackupError(
      'ERR_USAGE',
      'restore needs a snapshot: an id, a unique prefix or latest',
    );
  const flags = parsed.values;
  const { repo, config } = await openRepository(ctx, { configRequired: false });
  const lock = await repo.lock({ exclusive: false });
  try {
    const entry = await findRestoreSnapshot(repo, ref, flags.source ?? []);
    const reader = await RepositorySnapshotReader.open(repo, entry.id);
    const common = {
      reader,
      force: flags.force,
      logger: ctx.logger,
      onEvent: ctx.progress.listener,
      signal: ctx.signal,
    };
    const hasManifest = (await reader.lookup([MANIFEST_NAME]))?.type === 'file';
    let reports: RestoreReport[];
    if (!hasManifest && flags['target-dir'] && !flags.source) {
      reports = [await restoreWholeSnapshot({ ...common, targetDir: flags['target-dir'] })];
    } else {
      const manifest = await readManifest(reader, entry.id);
      reports = await runRestore({ ...common, tasks: planTasks(manifest.sources, flags, config) });
    }
    ctx.progress.done();
    const outcome = (r: RestoreReport) => {
      const verdict = r.verified ? 'verified against the manifest' : 'DIFFERS from the manifest';
      return `${r.source} restored into ${r.target}: ${verdict}`;
    };
    const differences = (r: RestoreReport) =>
      r.differences.map((d) => `difference: ${r.source}: ${d}`);
    printResult(
      ctx.options,
      { snapshot_id: entry.id, reports },
      () =>
        reports.flatMap((r) => [
          ...r.notes.map((note) => `note: ${r.source}: ${note}`),
          ...differences(r),
          outcome(r),
        ]),
      () => reports.filter((r) => !r.verified).flatMap((r) => [...differences(r), outcome(r)]),
    );
    return reports.every((r) => r.verified) ? EXIT_OK : EXIT_FAILURE;
  } finally {
    await lock
      .release()
      .catch((err: unknown) => ctx.logger.warn({ err }, 'failed to remove the lock'));
  }
}

/**
 * Resolves the snapshot; `latest` with --source means the newest snapshot
 * that contains that source.
 */
async function findRestoreSnapshot(
  repo: Repository,
  ref: string,
  sources: string[],
): Promise<SnapshotEntry> {
  if (ref !== 'latest' || sources.length === 0) return repo.findSnapshot(ref);
  const holdsAll = (tags: string[]): boolean =>
    sources.every((name) => tags.some((tag) => tag.slice(tag.indexOf(':') + 1) === name));
  // listSnapshots returns the oldest first.
  const candidates = (await repo.listSnapshots()).filter((e) => holdsAll(e.snapshot.tags ?? []));
  const newest = candidates.at(-1);
  if (!newest) {
    throw new BackupError(
      'ERR_SNAPSHOT_NOT_FOUND',
      `no snapshot contains source ${sources.join(', ')}; list them with \`snapshots\``,
    );
  }
  return newest;
}

function planTasks(
  manifests: SourceManifest[],
  flags: RestoreFlags,
  config: Config | undefined,
): RestoreTask[] {
  const asked = flags.source ?? [];
  for (const name of asked) {
    if (!manifests.some((m) => m.name === name)) {
      throw new BackupError(
        'ERR_USAGE',
        `the snapshot has no source ${name}; it has: ${manifests.map((m) => m.name).join(', ')}`,
      );
    }
  }
  const chosen = asked.length > 0 ? manifests.filter((m) => asked.includes(m.name)) : manifests;
  const filesCount = chosen.filter((m) => m.type === 'files').length;
  const tasks: RestoreTask[] = [];
  for (const manifest of chosen) {
    const target = targetFor(manifest, flags, config, filesCount > 1);
    if (target) tasks.push({ manifest, target });
    else if (asked.length > 0) throw new BackupError('ERR_USAGE', missingTargetMessage(manifest));
  }
  if (tasks.length === 0) {
    throw new BackupError(
      'ERR_USAGE',
      'nothing to restore: give a target (--target-url, --target-bucket or --target-endpoint, --target-dir)',
    );
  }
  rejectUnusedOptions(tasks, flags);
  return tasks;
}

/** Source type that each restore option applies to. */
const OPTION_TYPES = {
  'target-url': 'postgres',
  table: 'postgres',
  jobs: 'postgres',
  bucket: 's3',
  'target-bucket': 's3',
  'target-endpoint': 's3',
  'target-dir': 'files',
} as const;

/** Rejects an option given for a source type that no task restores, which would be ignored. */
function rejectUnusedOptions(tasks: readonly RestoreTask[], flags: RestoreFlags): void {
  const types = new Set(tasks.map((t) => t.manifest.type));
  for (const [option, type] of Object.entries(OPTION_TYPES)) {
    if (flags[option as keyof typeof OPTION_TYPES] === undefined || types.has(type)) continue;
    const restored = tasks.map((t) => `${t.manifest.name} (${t.manifest.type})`).join(', ');
    throw new BackupError(
      'ERR_USAGE',
      `--${option} applies to ${type} sources, and this restore has none: it restores ${restored}`,
    );
  }
}

function missingTargetMessage(manifest: SourceManifest): string {
  const option = {
    postgres: '--target-url URL',
    s3: '--target-bucket NAME',
    files: '--target-dir DIR',
  };
  return `source ${manifest.name} (${manifest.type}) needs ${option[manifest.type]}`;
}

function targetFor(
  manifest: SourceManifest,
  flags: RestoreFlags,
  config: Config | undefined,
  severalFolders: boolean,
): RestoreTarget | undefined {
  const configured = config?.sources.find(
    (s) => s.name === manifest.name && s.type === manifest.type,
  );
  switch (manifest.type) {
    case 'postgres':
      return postgresTarget(flags, configured);
    case 's3':
      return s3Target(manifest.name, manifest.endpoint, flags, configured);
    case 'files': {
      const dir = flags['target-dir'];
      if (!dir) return undefined;
      return {
        type: 'files',
        options: { targetDir: severalFolders ? join(dir, manifest.name) : dir },
      };
    }
  }
}

function postgresTarget(
  flags: RestoreFlags,
  configured: ConfiguredSource | undefined,
): RestoreTarget | undefined {
  const targetUrl = flags['target-url'];
  if (!targetUrl) return undefined;
  const jobs = flags.jobs === undefined ? undefined : Number(flags.jobs);
  if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1)) {
    throw new BackupError(
      'ERR_USAGE',
      `--jobs must be a whole number of 1 or more, got ${flags.jobs}`,
    );
  }
  const pg = configured?.type === 'postgres' ? configured : undefined;
  return {
    type: 'postgres',
    options: {
      targetUrl,
      tables: flags.table,
      roles: flags.roles,
      noOwner: flags['no-owner'],
      jobs,
      binDir: pg?.bin_dir,
      container: pg?.container,
    },
  };
}

function s3Target(
  name: string,
  snapshotEndpoint: string,
  flags: RestoreFlags,
  configured: ConfiguredSource | undefined,
): RestoreTarget | undefined {
  if (!flags['target-bucket'] && !flags['target-endpoint'] && !flags.bucket) return undefined;
  if (configured?.type !== 's3') {
    throw new BackupError(
      'ERR_USAGE',
      `restoring source ${name} needs its S3 credentials: keep source ${name} (type s3) in the config`,
    );
  }
  return {
    type: 's3',
    options: {
      endpoint: flags['target-endpoint'] ?? configured.endpoint ?? snapshotEndpoint,
      region: configured.region,
      credentials: {
        accessKeyId: configured.access_key_id,
        secretAccessKey: configured.secret_access_key,
      },
      bucket: flags.bucket,
      targetBucket: flags['target-bucket'],
      forcePathStyle: configured.force_path_style,
      concurrency: configured.concurrency,
    },
  };
}
