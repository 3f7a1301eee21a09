/**
 * Builds config files for the demo and the end-to-end tests from the test
 * servers, so each writes only what it changes.
 */
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import type { TestPostgres } from './postgres.ts';
import type { S3Server } from './s3.ts';

/** Returns a `postgres` source entry for database `db` of a test cluster. */
export function postgresSourceConfig(
  pg: TestPostgres,
  db = 'geo',
  name = db,
): Record<string, unknown> {
  return { type: 'postgres', name, url: pg.url(db), bin_dir: pg.binDir };
}

/** Returns an `s3` source entry for the emulator, with the secret key read from `secretFile`. */
export function s3SourceConfig(
  s3: S3Server,
  secretFile: string,
  buckets: string[],
  name = 'minio',
): Record<string, unknown> {
  return {
    type: 's3',
    name,
    endpoint: s3.endpoint,
    access_key_id: s3.accessKeyId,
    secret_access_key_file: secretFile,
    buckets,
  };
}

/** Returns a `files` source entry. */
export function filesSourceConfig(
  name: string,
  path: string,
  exclude: string[] = [],
): Record<string, unknown> {
  return { type: 'files', name, path, exclude };
}

/**
 * Writes `config` as YAML to `path`. It sets `repository.kdf_target_ms` to 0
 * unless `config` sets it, so `init` writes key files at the minimum scrypt
 * cost. Every later command then derives the key in about 0.1 s, not 0.5 s.
 */
export async function writeConfigFile(
  path: string,
  config: Record<string, unknown>,
): Promise<void> {
  const repository = { kdf_target_ms: 0, ...(config.repository as object | undefined) };
  await writeFile(path, stringify({ ...config, repository }));
}
