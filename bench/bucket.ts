/**
 * The bucket dataset on the S3 emulator, and the download and upload that a
 * restic user runs around `restic backup` and `restic restore`, since restic
 * cannot read S3.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, stat, utimes } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createS3Client, forEachConcurrent } from '../src/sources/s3/index.ts';
import { changedIndexes, smallContents, type Variant } from './generate.ts';

/** Objects read or written at once, the same as the s3 source's default. */
export const S3_CONCURRENCY = 8;

/** Returns a client for the emulator at `endpoint` with its built-in key pair. */
export function benchS3Client(endpoint: string, accessKeyId: string, secretAccessKey: string): S3Client {
  return createS3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
  });
}

/** Key of object `index`: tiles for even numbers, uploads for odd, in folders of 200. */
export function objectKey(index: number): string {
  const folder = String(Math.floor(index / 200)).padStart(3, '0');
  return index % 2 === 0 ? `tiles/${folder}/${index}.pbf` : `uploads/${folder}/${index}.bin`;
}

/** Creates `bucket` with `count` objects; returns their total size. */
export async function seedBucket(client: S3Client, bucket: string, count: number): Promise<number> {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  let bytes = 0;
  const indexes = Array.from({ length: count }, (_, i) => i);
  await forEachConcurrent(indexes, 16, async (i) => {
    const body = smallContents('object', i, 0);
    bytes += body.length;
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: objectKey(i), Body: body }));
  });
  return bytes;
}

/** Applies (variant 1) or reverts (variant 0) a day's change: 1% of objects rewritten, 1% added. */
export async function changeBucket(client: S3Client, bucket: string, count: number, variant: Variant): Promise<void> {
  const { rewritten, added } = changedIndexes(count);
  for (const i of rewritten) {
    const body = smallContents('object', i, variant);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: objectKey(i), Body: body }));
  }
  for (const i of added) {
    const Key = objectKey(i);
    if (variant === 0) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key }));
    else await client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: smallContents('object', i, 0) }));
  }
}

async function listAll(client: S3Client, bucket: string): Promise<{ key: string; size: number; modified: Date }[]> {
  const objects: { key: string; size: number; modified: Date }[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      objects.push({ key: o.Key!, size: o.Size ?? 0, modified: o.LastModified ?? new Date(0) });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return objects;
}

/**
 * Mirrors `bucket` into `folder` like `aws s3 sync`: downloads objects whose
 * size or time differs from the local file, and deletes local files that are
 * no longer objects. Returns the number of objects downloaded.
 */
export async function downloadBucket(client: S3Client, bucket: string, folder: string): Promise<number> {
  const objects = await listAll(client, bucket);
  const keys = new Set(objects.map((o) => o.key));
  let downloaded = 0;
  await forEachConcurrent(objects, S3_CONCURRENCY, async (o) => {
    const path = join(folder, o.key);
    const local = await stat(path).catch(() => undefined);
    if (local && local.size === o.size && local.mtimeMs === o.modified.getTime()) return;
    await mkdir(dirname(path), { recursive: true });
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: o.key }));
    await pipeline(got.Body as Readable, createWriteStream(path));
    await utimes(path, o.modified, o.modified);
    downloaded++;
  });
  for (const path of await listFiles(folder)) {
    if (!keys.has(relative(folder, path))) await rm(path);
  }
  return downloaded;
}

/** Uploads every file below `folder` into `bucket` (created first), keyed by relative path. */
export async function uploadFolder(client: S3Client, folder: string, bucket: string): Promise<number> {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const files = await listFiles(folder);
  await forEachConcurrent(files, S3_CONCURRENCY, async (path) => {
    const { size } = await stat(path);
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: relative(folder, path), Body: createReadStream(path), ContentLength: size }),
    );
  });
  return files.length;
}

/** Deletes every object of `bucket` and the bucket itself. */
export async function removeBucket(client: S3Client, bucket: string): Promise<void> {
  const objects = await listAll(client, bucket);
  await forEachConcurrent(objects, S3_CONCURRENCY, async (o) => {
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.key }));
  });
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}

async function listFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}
