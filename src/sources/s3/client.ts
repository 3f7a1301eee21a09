/**
 * S3 client setup and error sorting shared by the s3 source and restore.
 */
import { S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { BackupError, errorMessage, type ErrorCode } from '../../errors/index.ts';

/** Connection settings of an S3 endpoint such as MinIO. */
export interface S3Connection {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Path-style addressing (`endpoint/bucket/key`), which MinIO needs. */
  forcePathStyle: boolean;
}

/** Creates an S3 client that speaks only the plain S3 API MinIO serves. */
export function createS3Client(connection: S3Connection): S3Client {
  return new S3Client({
    endpoint: connection.endpoint,
    region: connection.region,
    credentials: connection.credentials,
    forcePathStyle: connection.forcePathStyle,
    // Since 3.729.0 the SDK adds a CRC32 checksum to every upload by default and
    // sends a streamed body aws-chunked with a trailer. s3rver 5 rejects that
    // payload type and S3-compatible servers differ in support, so checksums are
    // sent only where the API requires one.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Tells whether an S3 call failed because the bucket or key does not exist. */
export function isS3NotFound(err: unknown): boolean {
  if (!(err instanceof S3ServiceException)) return false;
  if (err.$metadata.httpStatusCode === 404) return true;
  return err.name === 'NoSuchKey' || err.name === 'NoSuchBucket' || err.name === 'NotFound';
}

/**
 * Wraps a failed S3 call in a BackupError naming the operation, the endpoint
 * and the error S3 returned. AbortErrors keep their meaning as ERR_ABORTED.
 */
export function s3Error(
  action: string,
  endpoint: string,
  err: unknown,
  code: ErrorCode = 'ERR_S3_FAILED',
): BackupError {
  if (err instanceof BackupError) return err;
  if (err instanceof Error && err.name === 'AbortError') {
    return new BackupError('ERR_ABORTED', `${action} was aborted`, { cause: err });
  }
  const status = err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
  const detail = status === undefined ? errorMessage(err) : `${errorMessage(err)} (HTTP ${status})`;
  return new BackupError(
    code,
    `${action} failed at ${endpoint}: ${detail}; check the endpoint, the credentials and the bucket policy`,
    { cause: err },
  );
}
