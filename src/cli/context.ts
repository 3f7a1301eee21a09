/**
 * State every command needs: the parsed global options, the config, the
 * repository location and password, and the opened repository.
 */
import type { Backend } from '../backend/index.ts';
import {
  loadConfig,
  loadOptionalConfig,
  resolvePassword,
  resolveRepositoryPath,
} from '../config/index.ts';
import type { Config, RepositoryLocation, Secret } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import type { OneDriveFolder } from '../onedrive/index.ts';
import { Repository } from '../repository/index.ts';
import { createBackend } from './backend.ts';
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
 * Returns the repository folder (see resolveRepositoryPath) and logs which
 * OneDrive folder was chosen when several were found.
 */
export async function locateRepository(
  ctx: CommandContext,
  config: Config | undefined,
): Promise<RepositoryLocation> {
  const location = await resolveRepositoryPath({ repo: ctx.options.repo, config });
  const candidates = location.oneDrive?.candidates ?? [];
  if (candidates.length > 1) {
    ctx.logger.info(
      { folder: location.oneDrive?.path, candidates },
      'several OneDrive folders found, using the first',
    );
  }
  return location;
}

/** Returns the repository's backend: the OneDrive folder, --repo, or Graph. */
export async function openBackend(
  ctx: CommandContext,
  config: Config | undefined,
): Promise<{ backend: Backend; location: string; oneDrive?: OneDriveFolder }> {
  let oneDrive: OneDriveFolder | undefined;
  const localPath = async (): Promise<string> => {
    const located = await locateRepository(ctx, config);
    oneDrive = located.oneDrive;
    return located.path;
  };
  const opened = await createBackend(config, localPath, {
    repoGiven: Boolean(ctx.options.repo ?? process.env.BGAPP_BACKUP_REPOSITORY),
    logger: ctx.logger,
    signal: ctx.signal,
  });
  return { ...opened, oneDrive };
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
  const password = await resolvePassword({ config });
  const { backend, location } = await openBackend(ctx, config);
  const repo = await openWithPassword(ctx, backend, config, password);
  return { repo, config, location };
}

/** Opens the repository of a config already loaded, with its password already read. */
export async function openRepositoryWith(
  ctx: CommandContext,
  config: Config,
  password: Secret,
): Promise<Repository> {
  const { backend } = await openBackend(ctx, config);
  return openWithPassword(ctx, backend, config, password);
}

function openWithPassword(
  ctx: CommandContext,
  backend: Backend,
  config: Config | undefined,
  password: Secret,
): Promise<Repository> {
  return Repository.open(backend, password.reveal(), {
    logger: ctx.logger,
    onEvent: ctx.progress.listener,
    hostname: config?.backup.hostname,
  });
}
