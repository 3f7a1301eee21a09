/**
 * Checks that a zod schema does not express well: URLs, unique names and bucket
 * names. Each returns problems in the same form as schema errors.
 */
import { valueProblem, type Problem } from './problems.ts';
import type { ConfigFile, SourceEntry } from './schema.ts';

/** S3 bucket naming rule that MinIO and AWS share, without the IP-address case. */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Returns every semantic problem of a config that passed the schema. */
export function checkConfig(config: ConfigFile): Problem[] {
  const problems: Problem[] = [];
  config.sources.forEach((source, index) => problems.push(...checkSource(source, index)));
  problems.push(...checkUniqueNames(config.sources));
  if (config.plain_copies.enabled) problems.push(...checkUniqueBuckets(config.sources));
  return problems;
}

function checkSource(source: SourceEntry, index: number): Problem[] {
  if (source.type === 'postgres') return checkPostgresUrl(source.url, ['sources', index, 'url']);
  if (source.type === 's3') return checkS3(source, index);
  return [];
}

function checkPostgresUrl(value: string, path: PropertyKey[]): Problem[] {
  const url = parseUrl(value);
  if (!url || !['postgres:', 'postgresql:'].includes(url.protocol) || url.hostname === '') {
    return [valueProblem(path, value)];
  }
  if (url.password !== '') {
    const text =
      'contains a password; remove it from the URL and put it in ~/.pgpass or PGPASSWORD';
    return [{ path, text }];
  }
  if (url.pathname.length <= 1) {
    return [valueProblem(path, value, 'a postgres:// URL that names the database, such as /geo')];
  }
  return [];
}

function checkS3(source: SourceEntry & { type: 's3' }, index: number): Problem[] {
  const problems: Problem[] = [];
  const url = parseUrl(source.endpoint);
  const endpointPath = ['sources', index, 'endpoint'];
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.hostname === '') {
    problems.push(valueProblem(endpointPath, source.endpoint));
  } else if (url.username !== '' || url.password !== '') {
    const text = 'contains credentials; remove them and set access_key_id and secret_access_key_file';
    problems.push({ path: endpointPath, text });
  }

  const seen = new Set<string>();
  source.buckets.forEach((bucket, bucketIndex) => {
    const path = ['sources', index, 'buckets', bucketIndex];
    if (!BUCKET_NAME.test(bucket)) problems.push(valueProblem(path, bucket));
    else if (seen.has(bucket)) problems.push({ path, text: `bucket ${bucket} is listed twice` });
    seen.add(bucket);
  });
  return problems;
}

/**
 * Rejects names that differ only in case too, because OneDrive's folders are
 * case-insensitive on Windows and macOS.
 */
function checkUniqueNames(sources: readonly SourceEntry[]): Problem[] {
  const firstIndex = new Map<string, number>();
  const problems: Problem[] = [];
  sources.forEach((source, index) => {
    const key = source.name.toLowerCase();
    const first = firstIndex.get(key);
    if (first === undefined) {
      firstIndex.set(key, index);
      return;
    }
    problems.push({
      path: ['sources', index, 'name'],
      text: `duplicate source name "${source.name}", also used by sources[${first}]; give each source its own name`,
    });
  });
  return problems;
}

/** Plain copies are named `<bucket>_<time>.tar.gz`, so a bucket name may appear once. */
function checkUniqueBuckets(sources: readonly SourceEntry[]): Problem[] {
  const owner = new Map<string, string>();
  const problems: Problem[] = [];
  sources.forEach((source, index) => {
    if (source.type !== 's3') return;
    source.buckets.forEach((bucket, bucketIndex) => {
      const first = owner.get(bucket);
      if (first !== undefined && first !== source.name) {
        problems.push({
          path: ['sources', index, 'buckets', bucketIndex],
          text:
            `bucket ${bucket} is also backed up by source ${first}, and both plain copies ` +
            'would get the same file name; back it up from one source or set plain_copies.enabled: false',
        });
      }
      owner.set(bucket, first ?? source.name);
    });
  });
  return problems;
}

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}
