/** Builds the configured sources, optionally only the named ones. */
import type { ConfiguredSource } from '../config/index.ts';
import { BackupError } from '../errors/index.ts';
import { createFilesSource } from '../sources/files/index.ts';
import { createPostgresSource } from '../sources/postgres/index.ts';
import { createS3Source } from '../sources/s3/index.ts';
import type { Source } from '../sources/index.ts';

/** Returns the sources to back up; ERR_USAGE names an unknown source. */
export function createSources(
  configured: readonly ConfiguredSource[],
  only: readonly string[],
): Source[] {
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
  return chosen.map(createSource);
}

function createSource(config: ConfiguredSource): Source {
  switch (config.type) {
    case 'postgres':
      return createPostgresSource(config);
    case 's3':
      return createS3Source(config);
    case 'files':
      return createFilesSource(config);
  }
}
