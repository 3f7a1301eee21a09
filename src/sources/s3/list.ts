/**
 * Listing of a bucket with ListObjectsV2 and continuation tokens, guarded
 * against servers that never end a listing.
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { BackupError } from '../../errors/index.ts';
import { s3Error } from './client.ts';

/** One object as listed by ListObjectsV2. */
export interface ListedObject {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
}

/** Bounds of one listing; the defaults fit buckets of up to a billion objects. */
export interface ListOptions {
  /** Keys requested per page (MaxKeys); S3 returns at most 1000. */
  pageSize?: number;
  /** Pages requested before the listing fails with ERR_S3_LISTING. */
  maxRequests?: number;
  /** Empty pages in a row that still say IsTruncated before the listing fails. */
  maxEmptyPages?: number;
  signal?: AbortSignal;
  /** Called after each page with the number of keys listed so far. */
  onPage?: (listed: number) => void;
}

/** Default page bound: a million pages of 1000 keys. */
export const DEFAULT_MAX_LIST_REQUESTS = 1_000_000;
/** Default bound on empty pages in a row. */
export const DEFAULT_MAX_EMPTY_PAGES = 100;

/**
 * Yields every object of `bucket`, following continuation tokens until
 * IsTruncated is false. Empty pages and pages of exactly MaxKeys are normal;
 * a token seen before, a truncated page without a token, or more pages than
 * the bounds allow fail with ERR_S3_LISTING.
 */
export async function* listBucket(
  client: S3Client,
  endpoint: string,
  bucket: string,
  options: ListOptions = {},
): AsyncGenerator<ListedObject> {
  const maxRequests = options.maxRequests ?? DEFAULT_MAX_LIST_REQUESTS;
  const maxEmptyPages = options.maxEmptyPages ?? DEFAULT_MAX_EMPTY_PAGES;
  const seenTokens = new Set<string>();
  let token: string | undefined;
  let listed = 0;
  let emptyPages = 0;

  for (let request = 1; ; request++) {
    if (request > maxRequests) {
      throw listingError(bucket, endpoint, `it did not end after ${maxRequests} requests`);
    }
    const page = await client
      .send(
        new ListObjectsV2Command({
          Bucket: bucket,
          ContinuationToken: token,
          MaxKeys: options.pageSize,
        }),
        { abortSignal: options.signal },
      )
      .catch((err: unknown) => {
        throw s3Error(`listing bucket ${bucket}`, endpoint, err);
      });

    const contents = page.Contents ?? [];
    for (const object of contents) yield toListed(bucket, object);
    listed += contents.length;
    options.onPage?.(listed);
    if (page.IsTruncated !== true) return;

    emptyPages = contents.length === 0 ? emptyPages + 1 : 0;
    if (emptyPages > maxEmptyPages) {
      throw listingError(bucket, endpoint, `it returned ${emptyPages} empty pages in a row`);
    }
    token = nextToken(bucket, endpoint, page.NextContinuationToken, seenTokens);
  }
}

function nextToken(
  bucket: string,
  endpoint: string,
  token: string | undefined,
  seen: Set<string>,
): string {
  if (token === undefined || token === '') {
    throw listingError(bucket, endpoint, 'a truncated page had no continuation token');
  }
  if (seen.has(token)) {
    throw listingError(bucket, endpoint, 'the server repeated a continuation token');
  }
  seen.add(token);
  return token;
}

function toListed(
  bucket: string,
  object: { Key?: string; Size?: number; ETag?: string; LastModified?: Date },
): ListedObject {
  if (object.Key === undefined) {
    throw new BackupError('ERR_S3_LISTING', `listing bucket ${bucket} returned an object without a key`);
  }
  return {
    key: object.Key,
    size: object.Size ?? 0,
    etag: object.ETag ?? '',
    lastModified: object.LastModified ?? new Date(0),
  };
}

function listingError(bucket: string, endpoint: string, reason: string): BackupError {
  return new BackupError(
    'ERR_S3_LISTING',
    `listing bucket ${bucket} at ${endpoint} failed because ${reason}; ` +
      'check the S3 server, or back up the bucket with another server version',
  );
}
