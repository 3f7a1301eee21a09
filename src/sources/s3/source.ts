/**
 * The `s3` source: backs up whole buckets of an S3 server such as MinIO into
 * the snapshot below `/s3/<name>/<bucket>/`, one file per object, and records
 * each object's S3 metadata in the manifest.
 */
import { GetObjectCommand, HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { BackupError } from '../../errors/index.ts';
import type { NodeMeta, SavedFile } from '../../snapshot/index.ts';
import type {
  S3Manifest,
  S3ObjectManifest,
  S3SourceConfig,
  Source,
  SourceBackupContext,
} from '../types.ts';
import { createS3Client, isS3NotFound, s3Error } from './client.ts';
import { planKeyPaths } from './key-path.ts';
import { listBucket, type ListedObject, type ListOptions } from './list.ts';
import { withBoundedHeapGrowth } from './heap.ts';
import { forEachConcurrent } from './pool.ts';

/** Replaceable parts of the s3 source, for tests. */
export interface S3SourceDeps {
  /** Client to use instead of one built from the config. */
  client?: S3Client;
  /** Bounds of each bucket's listing. */
  listing?: Omit<ListOptions, 'signal' | 'onPage'>;
}

type BucketManifest = S3Manifest['buckets'][number];

const FILE_MODE = 0o644;
const DIR_MODE = 0o755;

/** Creates the `s3` source for the buckets named in `config`. */
export function createS3Source(config: S3SourceConfig, deps: S3SourceDeps = {}): Source {
  return {
    type: 's3',
    name: config.name,
    backup: (ctx) => withBoundedHeapGrowth(() => backupS3(config, deps, ctx)),
  };
}

async function backupS3(
  config: S3SourceConfig,
  deps: S3SourceDeps,
  ctx: SourceBackupContext,
): Promise<S3Manifest> {
  const readAt = new Date().toISOString();
  const client = deps.client ?? clientFor(config);
  ctx.onEvent({ type: 'source-start', source: config.name });

  const buckets: BucketManifest[] = [];
  for (const bucket of config.buckets) {
    buckets.push(await backupBucket(client, config, deps, ctx, bucket));
  }

  ctx.onEvent({ type: 'source-done', source: config.name });
  const finishedAt = new Date().toISOString();
  const { endpoint } = config;
  return { type: 's3', name: config.name, readAt, finishedAt, endpoint, buckets, sha256Omits: 'one-blob' };
}

function clientFor(config: S3SourceConfig): S3Client {
  return createS3Client({
    endpoint: config.endpoint,
    region: config.region,
    credentials: {
      accessKeyId: config.access_key_id,
      secretAccessKey: config.secret_access_key,
    },
    forcePathStyle: config.force_path_style,
  });
}

async function backupBucket(
  client: S3Client,
  config: S3SourceConfig,
  deps: S3SourceDeps,
  ctx: SourceBackupContext,
  bucket: string,
): Promise<BucketManifest> {
  const log = ctx.logger.child({ bucket });
  await checkBucket(client, config.endpoint, bucket, ctx.signal);

  ctx.onEvent({ type: 'phase', phase: `listing bucket ${bucket}` });
  const listed = await listAll(client, config.endpoint, bucket, deps, ctx.signal);
  const paths = planKeyPaths(listed.map((object) => object.key));
  log.info({ objects: listed.length }, 'listed bucket');

  ctx.writer.addDir([bucket], { mode: DIR_MODE, mtime: new Date() });
  ctx.onEvent({ type: 'phase', phase: `reading bucket ${bucket}` });
  const entries: S3ObjectManifest[] = [];
  const previous = parentEntries(ctx, bucket);
  let unchanged = 0;
  await forEachConcurrent(listed, config.concurrency, async (object) => {
    const path = paths.get(object.key) ?? [];
    let entry = await addUnchanged(ctx, bucket, object, path, previous.get(object.key));
    if (entry !== undefined) unchanged++;
    else entry = await backupObject(client, config, ctx, bucket, object, path);
    if (entry !== undefined) entries.push(entry);
  });
  if (previous.size > 0) log.info({ unchanged }, 'objects not read again because the parent snapshot has them');

  entries.sort(compareKeys);
  const bytes = entries.reduce((sum, entry) => sum + entry.size, 0);
  log.info({ objects: entries.length, bytes }, 'backed up bucket');
  return { name: bucket, objects: entries.length, bytes, entries };
}

/** Returns the parent manifest's entries of `bucket` by key; empty without a parent. */
function parentEntries(ctx: SourceBackupContext, bucket: string): Map<string, S3ObjectManifest> {
  const manifest = ctx.parentManifest;
  if (!ctx.parent || manifest?.type !== 's3') return new Map();
  const entries = manifest.buckets.find((b) => b.name === bucket)?.entries ?? [];
  return new Map(entries.map((entry) => [entry.key, entry]));
}

/**
 * Adds an object without reading it when the parent snapshot has it with
 * the same ETag and size, and returns its manifest entry; undefined when the
 * object must be read. An S3 object cannot change without a new ETag. The
 * entry keeps the parent's `sha256` when it has one, as entries from
 * manifests older than `sha256Omits` do.
 */
async function addUnchanged(
  ctx: SourceBackupContext,
  bucket: string,
  object: ListedObject,
  path: string[],
  before: S3ObjectManifest | undefined,
): Promise<S3ObjectManifest | undefined> {
  const { parent, writer } = ctx;
  if (!parent || !before || !writer.addExistingFile) return undefined;
  if (before.etag !== object.etag || before.size !== object.size) return undefined;
  const node = await parent.lookup([bucket, ...before.path.split('/')]);
  if (node?.type !== 'file' || node.size !== object.size) return undefined;
  const content = node.content ?? [];
  // Only an object of one blob or none may lack its SHA-256 in the manifest.
  if (content.length > 1 && before.sha256 === undefined) return undefined;
  const meta: NodeMeta = { mode: FILE_MODE, mtime: object.lastModified };
  const file = { size: object.size, content };
  if (!writer.addExistingFile([bucket, ...path], meta, file)) return undefined;
  return { ...before, path: path.join('/'), lastModified: object.lastModified.toISOString() };
}

function compareKeys(a: S3ObjectManifest, b: S3ObjectManifest): number {
  if (a.key === b.key) return 0;
  return a.key < b.key ? -1 : 1;
}

async function checkBucket(
  client: S3Client,
  endpoint: string,
  bucket: string,
  signal: AbortSignal,
): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal });
  } catch (err) {
    if (!isS3NotFound(err)) throw s3Error(`checking bucket ${bucket}`, endpoint, err);
    throw new BackupError(
      'ERR_S3_BUCKET_NOT_FOUND',
      `bucket ${bucket} not found at ${endpoint}; create it or remove it from the source's buckets`,
      { cause: err },
    );
  }
}

async function listAll(
  client: S3Client,
  endpoint: string,
  bucket: string,
  deps: S3SourceDeps,
  signal: AbortSignal,
): Promise<ListedObject[]> {
  const objects: ListedObject[] = [];
  const keys = new Set<string>();
  for await (const object of listBucket(client, endpoint, bucket, { ...deps.listing, signal })) {
    if (keys.has(object.key)) {
      throw new BackupError(
        'ERR_S3_LISTING',
        `listing bucket ${bucket} at ${endpoint} returned key ${JSON.stringify(object.key)} twice; ` +
          'check the S3 server',
      );
    }
    keys.add(object.key);
    objects.push(object);
  }
  return objects;
}

/**
 * Streams one object into the snapshot. Returns undefined, after a
 * 'vanished' warning, when the object was deleted after it was listed.
 */
async function backupObject(
  client: S3Client,
  config: S3SourceConfig,
  ctx: SourceBackupContext,
  bucket: string,
  object: ListedObject,
  path: string[],
): Promise<S3ObjectManifest | undefined> {
  const action = `reading object ${JSON.stringify(object.key)} of bucket ${bucket}`;
  let response;
  try {
    const command = new GetObjectCommand({ Bucket: bucket, Key: object.key });
    response = await client.send(command, { abortSignal: ctx.signal });
  } catch (err) {
    if (!isS3NotFound(err)) throw s3Error(action, config.endpoint, err);
    ctx.warn({
      source: config.name,
      item: `${bucket}/${object.key}`,
      kind: 'vanished',
      message: `object ${JSON.stringify(object.key)} of bucket ${bucket} was deleted after listing`,
    });
    return undefined;
  }

  const lastModified = response.LastModified ?? object.lastModified;
  const meta: NodeMeta = { mode: FILE_MODE, mtime: lastModified };
  const body = response.Body instanceof Readable ? response.Body : Readable.from([]);
  const saved = await ctx.writer.addFile([bucket, ...path], meta, body).catch((err: unknown) => {
    throw s3Error(action, config.endpoint, err);
  });

  ctx.onEvent({ type: 'item', source: config.name, item: `${bucket}/${object.key}`, bytes: saved.size });
  return {
    key: object.key,
    path: path.join('/'),
    size: saved.size,
    ...(isOneBlob(saved) ? {} : { sha256: saved.sha256 }),
    etag: response.ETag ?? object.etag,
    lastModified: lastModified.toISOString(),
    contentType: response.ContentType,
    metadata: response.Metadata ?? {},
  };
}

/**
 * Tells whether the writer stored `saved` as one data blob or none, so that
 * the snapshot's tree contains its SHA-256 and the manifest can leave it out.
 * Writers that do not report blobs keep the SHA-256 in the manifest.
 */
function isOneBlob(saved: SavedFile): boolean {
  return saved.blobs !== undefined && saved.blobs <= 1;
}
