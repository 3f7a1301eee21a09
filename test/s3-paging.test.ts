/**
 * Listing a bucket of more than one page on the S3 emulator: every key is
 * backed up, including the one on the second page.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { silentLogger } from '../src/log/index.ts';
import { scopeWriter } from '../src/snapshot/index.ts';
import { createS3Client, createS3Source } from '../src/sources/s3/index.ts';
import type { S3Manifest } from '../src/sources/index.ts';
import { MemorySnapshot } from './support/memory-snapshot.ts';
import { s3SourceConfig, startS3Server } from './support/s3.ts';
import type { S3Server } from './support/s3.ts';

describe('s3 source on a bucket of two pages', () => {
  let s3: S3Server;
  let client: S3Client;

  before(async () => {
    s3 = await startS3Server();
    client = createS3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    await client.send(new CreateBucketCommand({ Bucket: 'uploads' }));
    const keys = [
      ...Array.from({ length: 1000 }, (_, i) => `a/${String(i).padStart(4, '0')}.bin`),
      'z/last.txt',
    ];
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(
        keys
          .slice(i, i + 50)
          .map((Key) =>
            client.send(new PutObjectCommand({ Bucket: 'uploads', Key, Body: Buffer.from('x') })),
          ),
      );
    }
  });

  after(async () => {
    client?.destroy();
    await s3?.stop();
  });

  it('backs up all 1001 keys', async () => {
    const snapshot = new MemorySnapshot();
    const source = createS3Source(s3SourceConfig(s3, ['uploads'], 8));
    const manifest = (await source.backup({
      writer: scopeWriter(snapshot, ['s3', 'minio']),
      logger: silentLogger,
      signal: new AbortController().signal,
      onEvent: () => {},
      warn: (warning) => assert.fail(warning.message),
    })) as S3Manifest;
    const bucket = manifest.buckets[0];
    assert.equal(bucket?.objects, 1001);
    assert.ok(bucket?.entries.some((e) => e.key === 'z/last.txt'));
    assert.ok(await snapshot.lookup(['s3', 'minio', 'uploads', 'z', 'last.txt']));
  });
});
