/**
 * Restore of an `s3` source: writes each backed-up bucket's objects back to
 * an S3 server with their content types and user metadata, then verifies the
 * bucket against the manifest and, for objects it stores no SHA-256 for, the
 * snapshot's tree.
 */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { BackupError } from '../../errors/index.ts';
import type { TreeNode } from '../../snapshot/index.ts';
import type { S3Manifest, S3ObjectManifest } from '../../sources/index.ts';
import {
  createS3Client,
  forEachConcurrent,
  isS3NotFound,
  listBucket,
  pathToKey,
  s3Error,
  withBoundedHeapGrowth,
} from '../../sources/s3/index.ts';
import { treeSha256, unreadableDifference } from '../checks.ts';
import type { RestoreContext, RestoreReport } from '../types.ts';
import { DEFAULT_UPLOAD_LIMITS, uploadObject, type UploadLimits } from './upload.ts';
import { verifyBucket } from './verify.ts';

/** Target endpoint, credentials and bucket choice of an `s3` restore. */
export interface S3RestoreOptions {
  endpoint: string;
  /** Region to sign requests for; MinIO accepts the default, us-east-1. */
  region?: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Restore only this bucket of the snapshot. */
  bucket?: string;
  /** Write the bucket into this bucket instead; needs exactly one bucket to restore. */
  targetBucket?: string;
  forcePathStyle: boolean;
  /** Objects uploaded or read back at once; 4 when unset. */
  concurrency?: number;
  /** Sizes that choose a multipart upload; DEFAULT_UPLOAD_LIMITS when unset. */
  uploadLimits?: UploadLimits;
  /** Client to use instead of one built from these options, for tests. */
  client?: S3Client;
}

type BucketManifest = S3Manifest['buckets'][number];

interface BucketRun {
  client: S3Client;
  ctx: RestoreContext<S3Manifest>;
  options: S3RestoreOptions;
  source: BucketManifest;
  target: string;
  /**
   * SHA-256 by key, from the snapshot's tree, of each uploaded object whose
   * manifest entry has no `sha256`.
   */
  treeHashes: Map<string, string>;
  /**
   * SHA-256 by key of the bytes sent for each object whose ETag shows that
   * the server stored exactly those bytes; see `verifyBucket`.
   */
  sentHashes: Map<string, string>;
}

/**
 * Restores the buckets of an `s3` snapshot. A missing target bucket is
 * created. A target that contains objects is rejected with
 * ERR_RESTORE_TARGET_NOT_EMPTY unless `ctx.force` is set. With force, keys of
 * the snapshot are overwritten and keys not in the snapshot are deleted.
 */
export async function restoreS3(
  ctx: RestoreContext<S3Manifest>,
  options: S3RestoreOptions,
): Promise<RestoreReport> {
  const selected = selectBuckets(ctx.manifest, options);
  const client = options.client ?? clientFor(options);
  const report: RestoreReport = {
    source: ctx.manifest.name,
    type: 's3',
    target: '',
    verified: false,
    differences: [],
    notes: [],
  };
  ctx.onEvent({ type: 'source-start', source: ctx.manifest.name });

  const targets: string[] = [];
  for (const source of selected) {
    const target = options.targetBucket ?? source.name;
    targets.push(target);
    const run = { client, ctx, options, source, target, treeHashes: new Map(), sentHashes: new Map() };
    await withBoundedHeapGrowth(() => restoreBucket(run, report));
  }

  report.target = targets.map((bucket) => `${options.endpoint}/${bucket}`).join(', ');
  report.verified = report.differences.length === 0;
  ctx.onEvent({ type: 'source-done', source: ctx.manifest.name });
  return report;
}

function selectBuckets(manifest: S3Manifest, options: S3RestoreOptions): BucketManifest[] {
  const selected =
    options.bucket === undefined
      ? manifest.buckets
      : manifest.buckets.filter((bucket) => bucket.name === options.bucket);
  if (selected.length === 0 && options.bucket !== undefined) {
    const names = manifest.buckets.map((bucket) => bucket.name).join(', ');
    throw new BackupError(
      'ERR_USAGE',
      `bucket ${options.bucket} is not in source ${manifest.name} of this snapshot; choose one of: ${names}`,
    );
  }
  if (options.targetBucket !== undefined && selected.length !== 1) {
    throw new BackupError(
      'ERR_USAGE',
      `a target bucket needs exactly one bucket to restore, but source ${manifest.name} has ` +
        `${selected.length}; also name the bucket to restore`,
    );
  }
  return selected;
}

function clientFor(options: S3RestoreOptions): S3Client {
  return createS3Client({
    endpoint: options.endpoint,
    region: options.region ?? 'us-east-1',
    credentials: options.credentials,
    forcePathStyle: options.forcePathStyle,
  });
}

async function restoreBucket(run: BucketRun, report: RestoreReport): Promise<void> {
  const { ctx, options, source, target } = run;
  const log = ctx.logger.child({ bucket: source.name, targetBucket: target });
  const concurrency = options.concurrency ?? 4;
  await prepareTarget(run, report);

  ctx.onEvent({ type: 'phase', phase: `uploading bucket ${target}` });
  await forEachConcurrent(source.entries, concurrency, async (entry) => {
    const difference = await restoreObject(run, entry);
    if (difference !== undefined) report.differences.push(difference);
  });
  log.info({ objects: source.entries.length, bytes: source.bytes }, 'uploaded bucket');

  if (ctx.force) await deleteExtraKeys(run, report);

  ctx.onEvent({ type: 'phase', phase: `verifying bucket ${target}` });
  const verifyTarget = { client: run.client, endpoint: options.endpoint, bucket: target, concurrency, signal: ctx.signal };
  const { treeHashes, sentHashes } = run;
  report.differences.push(...(await verifyBucket(verifyTarget, source.entries, treeHashes, sentHashes)));
  if (source.entries.length > 0) report.notes.push(etagNote(target, sentHashes.size, source.entries.length));
}

/** Says how many objects of `bucket` were checked by their ETag instead of being read back. */
function etagNote(bucket: string, checked: number, objects: number): string {
  const readBack = objects - checked;
  return (
    `${checked} of ${objects} objects of bucket ${bucket} were checked by the MD5 ETag that the server ` +
    'returned for the bytes sent, and their content types and metadata are as sent' +
    (readBack > 0
      ? `; the other ${readBack} were read back, because they were uploaded in parts or the ETag was not that MD5`
      : '')
  );
}

async function prepareTarget(run: BucketRun, report: RestoreReport): Promise<void> {
  const { client, ctx, options, target } = run;
  const action = `preparing bucket ${target}`;
  try {
    await client.send(new HeadBucketCommand({ Bucket: target }), { abortSignal: ctx.signal });
  } catch (err) {
    if (!isS3NotFound(err)) throw s3Error(action, options.endpoint, err);
    await client
      .send(new CreateBucketCommand({ Bucket: target }), { abortSignal: ctx.signal })
      .catch((createErr: unknown) => {
        throw s3Error(`creating bucket ${target}`, options.endpoint, createErr);
      });
    report.notes.push(`created bucket ${target}`);
    return;
  }

  const page = await client
    .send(new ListObjectsV2Command({ Bucket: target, MaxKeys: 1 }), { abortSignal: ctx.signal })
    .catch((err: unknown) => {
      throw s3Error(action, options.endpoint, err);
    });
  if ((page.Contents ?? []).length === 0 || ctx.force) return;
  throw new BackupError(
    'ERR_RESTORE_TARGET_NOT_EMPTY',
    `bucket ${target} at ${options.endpoint} is not empty; restore into an empty or new bucket, ` +
      'or pass --force, which overwrites its keys and deletes keys not in the snapshot',
  );
}

/**
 * Uploads one object from the snapshot. Returns a difference instead of
 * failing when the snapshot lacks the object or its path does not map back to
 * the key.
 */
async function restoreObject(run: BucketRun, entry: S3ObjectManifest): Promise<string | undefined> {
  const { client, ctx, options, source, target } = run;
  const path = entry.path.split('/');
  const name = `${source.name}: key ${JSON.stringify(entry.key)}`;
  if (pathToKey(path) !== entry.key) return `${name} does not match its snapshot path ${entry.path}`;

  const node = await ctx.reader.lookup([source.name, ...path]);
  if (node?.type !== 'file') return `${name} is missing from the snapshot at ${entry.path}`;
  recordTreeHash(run, entry, node);

  const sent = new SentBytes();
  const request = {
    bucket: target,
    key: entry.key,
    size: entry.size,
    contentType: entry.contentType,
    metadata: entry.metadata,
    body: sent.wrap(ctx.reader.openFile(node)),
  };
  // A blob that cannot be read fails the body stream. The upload is then
  // stopped, and the object is listed while the others are still restored.
  let readFailure: unknown;
  const stopUpload = new AbortController();
  request.body.once('error', (err) => {
    readFailure = err;
    stopUpload.abort(err);
  });
  const limits = options.uploadLimits ?? DEFAULT_UPLOAD_LIMITS;
  const signal = AbortSignal.any([ctx.signal, stopUpload.signal]);
  let etag: string | undefined;
  try {
    etag = await uploadObject(client, request, limits, signal);
  } catch (err) {
    request.body.destroy();
    if (readFailure !== undefined) return unreadableDifference(name, readFailure);
    throw s3Error(`uploading object ${JSON.stringify(entry.key)} to bucket ${target}`, options.endpoint, err);
  }
  const sha256 = sent.sha256IfStored(etag, entry.size);
  if (sha256 !== undefined) run.sentHashes.set(entry.key, sha256);
  ctx.onEvent({ type: 'item', source: ctx.manifest.name, item: `${target}/${entry.key}`, bytes: entry.size });
  return undefined;
}

/**
 * Records the SHA-256 the snapshot's tree gives for an entry without one, when
 * the manifest marks such entries as objects of one blob or none.
 */
function recordTreeHash(run: BucketRun, entry: S3ObjectManifest, node: TreeNode): void {
  if (entry.sha256 !== undefined || run.ctx.manifest.sha256Omits !== 'one-blob') return;
  const sha256 = treeSha256(node);
  if (sha256 !== undefined) run.treeHashes.set(entry.key, sha256);
}

/**
 * Counts and hashes the bytes of an upload body as the S3 client reads them,
 * with SHA-256 for the manifest and MD5 for the ETag.
 */
export class SentBytes {
  private readonly md5 = createHash('md5');
  private readonly sha256 = createHash('sha256');
  private bytes = 0;

  /** Returns a stream of `source`'s bytes that hashes each chunk as it passes. */
  wrap(source: Readable): Readable {
    const pass = async function* (this: SentBytes) {
      for await (const chunk of source) {
        this.md5.update(chunk as Uint8Array);
        this.sha256.update(chunk as Uint8Array);
        this.bytes += (chunk as Uint8Array).length;
        yield chunk as Uint8Array;
      }
    };
    return Readable.from(pass.call(this), { objectMode: false });
  }

  /**
   * Returns the SHA-256 of the bytes sent when the server's `etag` is their
   * MD5 and they were `size` bytes, because the server then stored exactly
   * those bytes. Returns undefined otherwise. The ETag of a multipart upload,
   * or of an object under SSE-KMS or SSE-C, is no MD5 of its bytes, so such
   * objects are read back instead.
   */
  sha256IfStored(etag: string | undefined, size: number): string | undefined {
    if (etag === undefined || this.bytes !== size) return undefined;
    if (etag.replaceAll('"', '').toLowerCase() !== this.md5.digest('hex')) return undefined;
    return this.sha256.digest('hex');
  }
}

async function deleteExtraKeys(run: BucketRun, report: RestoreReport): Promise<void> {
  const { client, ctx, options, source, target } = run;
  const keep = new Set(source.entries.map((entry) => entry.key));
  const extra: string[] = [];
  for await (const object of listBucket(client, options.endpoint, target, { signal: ctx.signal })) {
    if (!keep.has(object.key)) extra.push(object.key);
  }
  await forEachConcurrent(extra, options.concurrency ?? 4, async (key) => {
    await client
      .send(new DeleteObjectCommand({ Bucket: target, Key: key }), { abortSignal: ctx.signal })
      .catch((err: unknown) => {
        throw s3Error(`deleting object ${JSON.stringify(key)} from bucket ${target}`, options.endpoint, err);
      });
  });
  if (extra.length > 0) {
    const keys = extra.length === 1 ? 'key' : 'keys';
    report.notes.push(`deleted ${extra.length} ${keys} of bucket ${target} not in the snapshot`);
  }
}
