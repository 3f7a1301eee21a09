/**
 * Uploads one object from the snapshot to S3: a single PutObject up to a
 * threshold and a multipart upload above it.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';

/** One object to write, with the content type and user metadata to set. */
export interface UploadRequest {
  bucket: string;
  key: string;
  /** Length from the manifest; PutObject needs it before the first byte. */
  size: number;
  contentType?: string;
  metadata: Record<string, string>;
  body: Readable;
}

/** Sizes that choose between PutObject and a multipart upload. */
export interface UploadLimits {
  /** Objects larger than this many bytes go up in parts. */
  multipartThreshold: number;
  /** Bytes per part; S3 needs at least 5 MiB for every part but the last. */
  partSize: number;
}

/** Default limits: multipart above 64 MiB, in parts of 16 MiB. */
export const DEFAULT_UPLOAD_LIMITS: UploadLimits = {
  multipartThreshold: 64 * 1024 * 1024,
  partSize: 16 * 1024 * 1024,
};

/**
 * Writes `request.body` to S3 as the object `request.key` and returns the
 * ETag of the server's response, quotes included, when it has one.
 */
export async function uploadObject(
  client: S3Client,
  request: UploadRequest,
  limits: UploadLimits,
  signal: AbortSignal,
): Promise<string | undefined> {
  if (request.size <= limits.multipartThreshold) {
    const command = new PutObjectCommand({
      Bucket: request.bucket,
      Key: request.key,
      Body: request.body,
      ContentLength: request.size,
      ContentType: request.contentType,
      Metadata: request.metadata,
    });
    const response = await client.send(command, { abortSignal: signal });
    return response.ETag;
  }
  return uploadMultipart(client, request, limits.partSize, signal);
}

async function uploadMultipart(
  client: S3Client,
  request: UploadRequest,
  partSize: number,
  signal: AbortSignal,
): Promise<string | undefined> {
  const { bucket, key } = request;
  const created = await client.send(
    new CreateMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      ContentType: request.contentType,
      Metadata: request.metadata,
    }),
    { abortSignal: signal },
  );
  const uploadId = created.UploadId;
  if (uploadId === undefined) throw new Error(`no upload id for multipart upload of ${key}`);

  try {
    const parts: CompletedPart[] = [];
    for await (const part of readParts(request.body, partSize)) {
      const partNumber = parts.length + 1;
      const command = new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        PartNumber: partNumber,
        Body: part,
        ContentLength: part.length,
      });
      const uploaded = await client.send(command, { abortSignal: signal });
      parts.push({ PartNumber: partNumber, ETag: uploaded.ETag });
    }
    const completed = await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
      }),
      { abortSignal: signal },
    );
    return completed.ETag;
  } catch (err) {
    // Leave no half-written upload behind; the original error matters more
    // than a failure to abort, so the latter is ignored.
    await client
      .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }))
      .catch(() => undefined);
    throw err;
  }
}

/**
 * Cuts a stream into buffers of exactly `partSize` bytes, the last one
 * shorter. Only one part is held in memory at a time.
 */
export async function* readParts(
  body: AsyncIterable<Uint8Array>,
  partSize: number,
): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const chunk of body) {
    let rest = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (pendingBytes + rest.length >= partSize) {
      const take = partSize - pendingBytes;
      pending.push(rest.subarray(0, take));
      yield Buffer.concat(pending);
      rest = rest.subarray(take);
      pending = [];
      pendingBytes = 0;
    }
    if (rest.length > 0) {
      pending.push(rest);
      pendingBytes += rest.length;
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending);
}
