/**
 * Chooses the storage backend from the config: the folder the OneDrive client
 * syncs (the default), or OneDrive through Microsoft Graph.
 */
import type { GraphSignInSettings } from '../auth/index.ts';
import { LocalBackend } from '../backend/index.ts';
import type { Backend } from '../backend/index.ts';
import type { GraphBackend } from '../backend/graph/index.ts';
import { DEFAULT_REPOSITORY_PATH } from '../config/index.ts';
import type { Config, GraphSettings } from '../config/index.ts';
import { BackupError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';

/** Authority of the device code sign-in when the config names none: any Microsoft account. */
export const DEFAULT_AUTHORITY = 'https://login.microsoftonline.com/common';

/** Maps the config's `onedrive.graph` section to the sign-in settings. */
export function signInSettings(graph: GraphSettings): GraphSignInSettings {
  return {
    authority: graph.authority ?? DEFAULT_AUTHORITY,
    clientId: graph.client_id,
    clientSecretFile: graph.client_secret_file,
    clientCertificateFile: graph.client_certificate_file,
    accessTokenFile: graph.access_token_file,
    tokenCacheFile: graph.token_cache_file,
    graphBaseUrl: graph.base_url,
  };
}

/** Returns the config's Graph settings, or ERR_CONFIG_INVALID naming the section to add. */
export function requireGraphSettings(config: Config | undefined, purpose: string): GraphSettings {
  const graph = config?.onedrive.graph;
  if (!graph) {
    throw new BackupError(
      'ERR_CONFIG_INVALID',
      `${purpose} needs Microsoft Graph settings; add onedrive.graph (client_id, authority, drive) to the config`,
    );
  }
  return graph;
}

/** Builds a Graph backend for the repository folder `folder` from the drive's root. */
export async function createGraphBackend(
  graph: GraphSettings,
  folder: string,
  logger: Logger,
  signal?: AbortSignal,
): Promise<GraphBackend> {
  // Loaded here, so that folder mode never loads MSAL and the Graph backend.
  const { checkDriveForSignIn, createAccessTokenSource } = await import('../auth/index.ts');
  const { GraphBackend } = await import('../backend/graph/index.ts');
  const source = await createAccessTokenSource(signInSettings(graph));
  checkDriveForSignIn(graph.drive, source.kind);
  const backend = new GraphBackend({
    getAccessToken: source.getAccessToken,
    drive: graph.drive,
    folder,
    baseUrl: graph.base_url,
    fragmentBytes: graph.fragment_bytes,
    concurrency: graph.concurrency,
    uploadBytesPerSecond: graph.upload_bytes_per_second,
    logger,
    signal,
  });
  // Without this, a drive that does not exist looks like a missing repository
  // and the message would tell the user to run init.
  await backend.readDrive();
  return backend;
}

/** Returns the repository folder of Graph mode: repository.path from the drive's root. */
export function graphRepositoryFolder(config: Config): string {
  const folder = config.repository.path.replace(/^\/+|\/+$/g, '');
  return folder === '' ? DEFAULT_REPOSITORY_PATH : folder;
}

/**
 * Returns the backend of the repository: Graph when the config sets
 * `onedrive.mode: graph` and no --repo folder was given, else the folder.
 */
export async function createBackend(
  config: Config | undefined,
  localPath: () => Promise<string>,
  options: { repoGiven: boolean; logger: Logger; signal?: AbortSignal },
): Promise<{ backend: Backend; location: string }> {
  if (config?.onedrive.mode === 'graph' && !options.repoGiven) {
    const graph = requireGraphSettings(config, 'onedrive.mode graph');
    const folder = graphRepositoryFolder(config);
    const backend = await createGraphBackend(graph, folder, options.logger, options.signal);
    return { backend, location: backend.location };
  }
  const path = await localPath();
  return { backend: new LocalBackend(path), location: path };
}
