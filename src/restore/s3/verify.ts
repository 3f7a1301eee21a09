/**
 * Checks a restored bucket against the manifest: keys and sizes from a
 * listing, then SHA-256, content type and user metadata of each object by
 * reading it back as a stream. Objects the manifest stores no SHA-256 for
 * are checked against the one the snapshot's tree gives (see `treeSha256`
 * in ../checks.ts).
 */
import { createHash } from 'node:crypto';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import type { S3ObjectManifest } from '../../sources/index.ts';
import { forEachConcurrent, listBucket, s3Error } from '../../sources/s3/index.ts';

/** The restored bucket to check and the number of objects read back at once. */
export interface VerifyTarget {
  client: S3Client;
  endpoint: string;
  bucket: string;
  concurrency: number;
  signal: AbortSignal;
}

/**
 * Returns each way the bucket differs from `entries`; empty when it matches.
 * An entry without `sha256` is compared with its SHA-256 in `treeHashes`, by
 * key, and is a difference when that map lacks it too. An object in
 * `sentHashes`, whose ETag showed that the server stored the bytes sent, is
 * compared with the SHA-256 of those bytes instead of being read back.
 */
export async function verifyBucket(
  target: VerifyTarget,
  entries: readonly S3ObjectManifest[],
  treeHashes: ReadonlyMap<string, string> = new Map(),
  sentHashes: ReadonlyMap<string, string> = new Map(),
): Promise<string[]> {
  const { client, endpoint, bucket, signal } = target;
  const differences: string[] = [];
  const listedSizes = new Map<string, number>();
  for await (const object of listBucket(client, endpoint, bucket, { signal })) {
    listedSizes.set(object.key, object.size);
  }

  const expectedKeys = new Set(entries.map((entry) => entry.key));
  for (const key of listedSizes.keys()) {
    if (!expectedKeys.has(key)) differences.push(`${bucket}: key ${JSON.stringify(key)} is not in the snapshot`);
  }

  const present: S3ObjectManifest[] = [];
  for (const entry of entries) {
    const size = listedSizes.get(entry.key);
    if (size === undefined) {
      differences.push(`${bucket}: key ${JSON.stringify(entry.key)} is missing`);
    } else if (size !== entry.size) {
      differences.push(`${bucket}: key ${JSON.stringify(entry.key)} has ${size} bytes, expected ${entry.size}`);
    } else {
      present.push(entry);
    }
  }

  const readBack: S3ObjectManifest[] = [];
  for (const entry of present) {
    const sent = sentHashes.get(entry.key);
    if (sent === undefined) readBack.push(entry);
    else differences.push(...compareSha256(bucket, entry, sent, treeHashes.get(entry.key)));
  }
  await forEachConcurrent(readBack, target.concurrency, async (entry) => {
    differences.push(...(await compareObject(target, entry, treeHashes.get(entry.key))));
  });
  return differences;
}

async function compareObject(
  target: VerifyTarget,
  entry: S3ObjectManifest,
  treeHash: string | undefined,
): Promise<string[]> {
  const { client, endpoint, bucket, signal } = target;
  const name = `${bucket}: key ${JSON.stringify(entry.key)}`;
  const response = await client
    .send(new GetObjectCommand({ Bucket: bucket, Key: entry.key }), { abortSignal: signal })
    .catch((err: unknown) => {
      throw s3Error(`reading back object ${JSON.stringify(entry.key)} of bucket ${bucket}`, endpoint, err);
    });

  const sha256 = await hashStream(response.Body instanceof Readable ? response.Body : Readable.from([]));
  const differences = compareSha256(bucket, entry, sha256, treeHash);
  if (entry.contentType !== undefined && response.ContentType !== entry.contentType) {
    differences.push(`${name} has content type ${response.ContentType}, expected ${entry.contentType}`);
  }
  const metadata = JSON.stringify(sortedRecord(response.Metadata ?? {}));
  const expected = JSON.stringify(sortedRecord(entry.metadata));
  if (metadata !== expected) differences.push(`${name} has metadata ${metadata}, expected ${expected}`);
  return differences;
}

/** Lists the difference between an object's SHA-256 and the manifest's or the tree's, if any. */
function compareSha256(
  bucket: string,
  entry: S3ObjectManifest,
  sha256: string,
  treeHash: string | undefined,
): string[] {
  const name = `${bucket}: key ${JSON.stringify(entry.key)}`;
  const expected = entry.sha256 ?? treeHash;
  if (expected === undefined) {
    return [`manifest lacks the SHA-256 of ${name}, and its snapshot file is not one blob`];
  }
  if (sha256 === expected) return [];
  const reference = entry.sha256 === undefined ? 'its only blob is' : 'expected';
  return [`${name} has SHA-256 ${sha256}, ${reference} ${expected}`];
}

async function hashStream(body: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of body) hash.update(chunk);
  return hash.digest('hex');
}

function sortedRecord(record: Record<string, string>): [string, string][] {
  return Object.entries(record).sort(([a], [b]) => {
    if (a === b) return 0;
    return a < b ? -1 : 1;
  });
}
