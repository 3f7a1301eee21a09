/**
 * What every command needs: the parsed global options, the config, the
 * repository location and password, and the opened repository.
 */
import { isAbsolute, join } from 'node:path';
import { LocalBackend } from '../backend/index.ts';
import { loadConfig, loadOptionalConfig, resolvePassword } from '../config/index.ts';
import type { Config } from '../config/index.ts';
import { BackupError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import { findOneDriveFolder } from '../onedrive/index.ts';
import { Repository } from '../repository/index.ts';
import type { OutputOptions, ProgressLine } from './output.ts';

/** Options every command accepts. */
export interface GlobalOptions extends OutputOptions {
  config?: string;
  repo?: string;
}

/** Shared state of one command-line run. */
export interface CommandContext {
  options: GlobalOptions;
  logger: Logger;
  progress: ProgressLine;
  signal: AbortSignal;
  /** Number of warnings reported; a non-zero count makes the exit code 3. */
  warnings: number;
}

/** Loads the config file; with `required` false, a missing default file is fine. */
export async function loadCommandConfig(
  ctx: CommandContext,
  required: boolean,
): Promise<Config | undefined> {
  const options = { configFile: ctx.options.config };
  return required ? loadConfig(options) : loadOptionalConfig(options);
}

/**
 * Returns the repository folder: --repo, else BGAPP_BACKUP_REPOSITORY, else the
 * config's repository.path (relative paths are below the OneDrive folder).
 */
export async function resolveRepositoryPath(
  ctx: CommandContext,
  config: Config | undefined,
): Promise<string> {
  const explicit = ctx.options.repo ?? process.env.BGAPP_BACKUP_REPOSITORY;
  if (explicit) return explicit;
  if (!config) {
    throw new BackupError(
      'ERR_CONFIG_NOT_FOUND',
      'no repository given; pass --config FILE (or --repo DIR), set BGAPP_BACKUP_CONFIG, ' +
        'or create bgapp-backup.yaml in the working folder',
    );
  }
  if (isAbsolute(config.repository.path)) return config.repository.path;
  const folder = await findOneDriveFolder({ configured: config.onedrive.folder });
  if (folder.candidates.length > 1) {
    ctx.logger.info({ folder: folder.path, candidates: folder.candidates }, 'several OneDrive folders found, using the first');
  }
  return join(folder.path, config.repository.path);
}

/** The repository, the config it came from and where it is. */
export interface OpenedRepository {
  repo: Repository;
  config: Config | undefined;
  location: string;
}

/** Loads the config and password and opens the repository. */
export async function openRepository(
  ctx: CommandContext,
  options: { configRequired: boolean },
): Promise<OpenedRepository> {
  const config = await loadCommandConfig(ctx, options.configRequired);
  const location = await resolveRepositoryPath(ctx, config);
  const password = await resolvePassword({ config });
  const repo = await Repository.open(new LocalBackend(location), password.reveal(), {
    logger: ctx.logger,
    onEvent: ctx.progress.listener,
    hostname: config?.backup.hostname,
  });
  return { repo, config, location };
}
