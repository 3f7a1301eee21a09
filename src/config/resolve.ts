/**
 * Completes a checked config file with what depends on the machine: `~` and
 * relative paths, the host name, and secrets read from files or the environment.
 */
import { readFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { errorMessage } from '../errors/index.ts';
import type { Problem } from './problems.ts';
import type { ConfigFile, SourceEntry } from './schema.ts';
import { defineHiddenProperty, secretFromText } from './secret.ts';
import type { Config, ConfiguredSource, Env, GraphSettings, PlainCopyFolder } from './types.ts';

/** Machine-specific inputs of resolveConfig. */
export interface ResolveContext {
  /** Absolute path of the config file; relative paths in it are resolved against its folder. */
  file: string;
  env: Env;
  home: string;
}

/** Default repository folder, relative to the OneDrive folder. */
export const DEFAULT_REPOSITORY_PATH = 'BGAPP_Backups/repository';

/** Returns the environment variable that may hold the secret key of s3 source `name`. */
export function s3SecretEnvName(name: string): string {
  return `BGAPP_S3_SECRET_ACCESS_KEY_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/**
 * Expands a leading `~` to `home`. A relative result is resolved against `baseDir`
 * when one is given and kept relative otherwise.
 */
export function expandHome(value: string, home: string, baseDir?: string): string {
  let path = value;
  if (path === '~') path = home;
  else if (path.startsWith('~/')) path = join(home, path.slice(2));
  if (baseDir === undefined || isAbsolute(path)) return path;
  return resolve(baseDir, path);
}

/** Builds the final Config and lists problems such as an unreadable secret file. */
export async function resolveConfig(
  file: ConfigFile,
  context: ResolveContext,
): Promise<{ config: Config; problems: Problem[] }> {
  const problems: Problem[] = [];
  const sources: ConfiguredSource[] = [];
  for (const [index, entry] of file.sources.entries()) {
    sources.push(await resolveSource(entry, index, context, problems));
  }
  const config: Config = {
    file: context.file,
    onedrive: {
      mode: file.onedrive.mode,
      folder: optionalPath(file.onedrive.folder, context),
      graph: resolveGraph(file.onedrive.graph, context),
    },
    repository: {
      path: expandHome(file.repository.path ?? DEFAULT_REPOSITORY_PATH, context.home),
      password_file: optionalPath(file.repository.password_file, context),
      kdf_target_ms: file.repository.kdf_target_ms,
    },
    backup: { ...file.backup, hostname: file.backup.hostname ?? osHostname() },
    plain_copies: file.plain_copies,
    sources,
  };
  return { config, problems };
}

/** Default token cache of `login`, below the user's config folder. */
export const DEFAULT_TOKEN_CACHE = '~/.config/bgapp-backup/msal-token-cache.json';

function resolveGraph(
  graph: ConfigFile['onedrive']['graph'],
  context: ResolveContext,
): GraphSettings | undefined {
  if (graph === undefined) return undefined;
  return {
    ...graph,
    client_secret_file: optionalPath(graph.client_secret_file, context),
    client_certificate_file: optionalPath(graph.client_certificate_file, context),
    access_token_file: optionalPath(graph.access_token_file, context),
    token_cache_file: expandHome(
      graph.token_cache_file ?? DEFAULT_TOKEN_CACHE,
      context.home,
      dirname(context.file),
    ),
  };
}

function optionalPath(value: string | undefined, context: ResolveContext): string | undefined {
  return value === undefined ? undefined : expandHome(value, context.home, dirname(context.file));
}

async function resolveSource(
  entry: SourceEntry,
  index: number,
  context: ResolveContext,
  problems: Problem[],
): Promise<ConfiguredSource> {
  if (entry.type === 'postgres') {
    return { ...entry, bin_dir: optionalPath(entry.bin_dir, context) };
  }
  if (entry.type === 'files') {
    const path = expandHome(entry.path, context.home, dirname(context.file));
    return {
      ...entry,
      path,
      plain_copy_folder: entry.plain_copy_folder ?? defaultFolder(entry.name),
    };
  }
  const { secret_access_key_file: secretFile, ...rest } = entry;
  const secret = await readS3Secret(entry.name, secretFile, index, context, problems);
  return defineHiddenProperty({ ...rest }, 'secret_access_key', secret) as ConfiguredSource;
}

/**
 * Sources named like logs (`logs`, `app-logs`, `nginx_log`) keep their plain copies
 * under logs/, and every other `files` source under configs/.
 */
function defaultFolder(name: string): PlainCopyFolder {
  const words = name.toLowerCase().split(/[-_.]/);
  return words.includes('log') || words.includes('logs') ? 'logs' : 'configs';
}

/**
 * Reads an s3 secret key from, in order, BGAPP_S3_SECRET_ACCESS_KEY_<NAME>, the
 * source's secret_access_key_file, then AWS_SECRET_ACCESS_KEY.
 */
async function readS3Secret(
  name: string,
  file: string | undefined,
  index: number,
  context: ResolveContext,
  problems: Problem[],
): Promise<string> {
  const envName = s3SecretEnvName(name);
  const fromEnv = context.env[envName];
  if (fromEnv) return fromEnv;

  if (file !== undefined) {
    const path = expandHome(file, context.home, dirname(context.file));
    const problemPath = ['sources', index, 'secret_access_key_file'];
    try {
      const secret = secretFromText(await readFile(path, 'utf8'));
      if (secret !== '') return secret;
      problems.push({
        path: problemPath,
        text: `file ${path} is empty; write the secret key into it`,
      });
    } catch (err) {
      const text = `cannot read ${path} (${errorMessage(err)}); create it or fix the path`;
      problems.push({ path: problemPath, text });
    }
    return '';
  }

  const fromAws = context.env.AWS_SECRET_ACCESS_KEY;
  if (fromAws) return fromAws;
  problems.push({
    path: ['sources', index],
    text: `no secret key for s3 source ${name}; set secret_access_key_file, ${envName} or AWS_SECRET_ACCESS_KEY`,
  });
  return '';
}
