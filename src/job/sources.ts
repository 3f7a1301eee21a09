/** Builds the configured sources, optionally only the named ones. */
import type { ConfiguredSource } from '../config/index.ts';
import { BackupError } from '../errors/index.ts';
import type { Source } from '../sources/index.ts';

/** Returns the sources to back up; ERR_USAGE names an unknown source. */
export async function createSources(
  configured: readonly ConfiguredSource[],
  only: readonly string[],
): Promise<Source[]> {
  const names = new Set(configured.map((s) => s.name));
  const unknown = only.filter((name) => !names.has(name));
  if (unknown.length > 0) {
    throw new BackupError(
      'ERR_USAGE',
      `unknown source ${unknown.join(', ')}; the config has: ${[...names].join(', ') || 'none'}`,
    );
  }
  const chosen = only.length === 0 ? configured : configured.filter((s) => only.includes(s.name));
  if (chosen.length === 0) {
    throw new BackupError('ERR_USAGE', 'the config has no sources; add them under `sources:`');
  }
  return Promise.all(chosen.map(createSource));
}

// Each source type loads its client library only when configured, so a
// files-only backup does not load the AWS SDK or the PostgreSQL driver.
async function createSource(config: ConfiguredSource): Promise<Source> {
  switch (config.type) {
    case 'postgres':
      return (await import('../sources/postgres/index.ts')).createPostgresSource(config);
    case 's3':
      return (await import('../sources/s3/index.ts')).createS3Source(config);
    case 'files':
      return (await import('../sources/files/index.ts')).createFilesSource(config);
  }
}
