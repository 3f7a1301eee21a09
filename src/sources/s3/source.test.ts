import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isBackupError } from '../../errors/index.ts';
import { silentLogger, type ProgressEvent, type Warning } from '../../log/index.ts';
import { scopeWriter } from '../../snapshot/index.ts';
import { MemorySnapshot } from '../../../test/support/memory-snapshot.ts';
import { s3SourceConfig, startS3Server, type S3Server } from '../../../test/support/s3.ts';
import type { S3Manifest, S3ObjectManifest, S3SourceConfig, SourceBackupContext } from '../types.ts';
import { createS3Client } from './client.ts';
import { pathToKey } from './key-path.ts';
import { createS3Source } from './source.ts';

const longKey = Array.from({ length: 5 }, (_, i) => String(i).repeat(199)).join('/');

const objects: { key: string; body: Buffer; contentType?: string; metadata?: Record<string, string> }[] = [
  { key: 'a', body: Buffer.from('object a'), contentType: 'text/plain' },
  { key: 'a/b', body: Buffer.from('object a/b'), metadata: { owner: 'gis', layer: 'roads' } },
  { key: 'caf\u00e9', body: Buffer.from('nfc') },
  { key: 'cafe\u0301', body: Buffer.from('nfd') },
  { key: longKey, body: Buffer.from('long') },
  { key: 'empty', body: Buffer.alloc(0), contentType: 'application/x-empty' },
  { key: 'dir/', body: Buffer.from('folder marker') },
  { key: '%41', body: Buffer.from('percent') },
];

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

describe('S3 source on the emulator', () => {
  let server: S3Server;
  let client: S3Client;
  let config: S3SourceConfig;

  before(async () => {
    server = await startS3Server();
    client = createS3Client({
      endpoint: server.endpoint,
      region: server.region,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      forcePathStyle: true,
    });
    await client.send(new CreateBucketCommand({ Bucket: 'maps' }));
    await client.send(new CreateBucketCommand({ Bucket: 'void' }));
    for (const object of objects) {
      await client.send(
        new PutObjectCommand({
          Bucket: 'maps',
          Key: object.key,
          Body: object.body,
          ContentType: object.contentType,
          Metadata: object.metadata,
        }),
      );
    }
    config = s3SourceConfig(server, ['maps', 'void'], 3);
  });

  after(() => server.stop());

  function context(snapshot: MemorySnapshot) {
    const warnings: Warning[] = [];
    const events: ProgressEvent[] = [];
    const ctx: SourceBackupContext = {
      writer: scopeWriter(snapshot, ['s3', 'minio']),
      logger: silentLogger,
      signal: new AbortController().signal,
      onEvent: (event) => events.push(event),
      warn: (warning) => warnings.push(warning),
    };
    return { ctx, warnings, events };
  }

  it('stores every object at its mapped path', async () => {
    const snapshot = new MemorySnapshot();
    const { ctx, warnings } = context(snapshot);
    const manifest = (await createS3Source(config).backup(ctx)) as S3Manifest;
    const bucket = manifest.buckets.find((b) => b.name === 'maps');
    assert.ok(bucket);
    assert.equal(bucket.objects, objects.length);
    assert.equal(bucket.bytes, objects.reduce((sum, o) => sum + o.body.length, 0));
    assert.deepEqual(warnings, []);

    for (const object of objects) {
      const entry: S3ObjectManifest | undefined = bucket.entries.find((e) => e.key === object.key);
      assert.ok(entry, `no entry for ${JSON.stringify(object.key)}`);
      assert.equal(entry.size, object.body.length);
      assert.equal(entry.sha256, sha256(object.body));
      assert.equal(pathToKey(entry.path.split('/')), object.key);
      const node = await snapshot.lookup(['s3', 'minio', 'maps', ...entry.path.split('/')]);
      assert.ok(node?.type === 'file', `no file for ${JSON.stringify(object.key)}`);
      const chunks: Buffer[] = [];
      for await (const chunk of snapshot.openFile(node)) chunks.push(chunk as Buffer);
      assert.ok(Buffer.concat(chunks).equals(object.body));
    }
  });

  it('records content type, metadata and ETag', async () => {
    const { ctx } = context(new MemorySnapshot());
    const manifest = (await createS3Source(config).backup(ctx)) as S3Manifest;
    const entries = manifest.buckets[0]?.entries ?? [];
    const a = entries.find((e) => e.key === 'a');
    const ab = entries.find((e) => e.key === 'a/b');
    assert.equal(a?.contentType, 'text/plain');
    assert.equal(a?.path, 'a%object');
    assert.deepEqual(ab?.metadata, { owner: 'gis', layer: 'roads' });
    assert.equal(ab?.path, 'a/b');
    assert.match(a?.etag ?? '', /^"[0-9a-f]{32}"$/);
    assert.ok(!Number.isNaN(Date.parse(a?.lastModified ?? '')));
  });

  it('keeps an empty bucket as an empty folder', async () => {
    const snapshot = new MemorySnapshot();
    const { ctx, events } = context(snapshot);
    const manifest = (await createS3Source(config).backup(ctx)) as S3Manifest;
    const empty = manifest.buckets.find((b) => b.name === 'void');
    assert.deepEqual(empty, { name: 'void', objects: 0, bytes: 0, entries: [] });
    assert.equal((await snapshot.lookup(['s3', 'minio', 'void']))?.type, 'dir');
    assert.equal(events.filter((e) => e.type === 'item').length, objects.length);
    assert.deepEqual(events.at(-1), { type: 'source-done', source: 'minio' });
  });

  it('rejects a missing bucket naming it and the endpoint', async () => {
    const { ctx } = context(new MemorySnapshot());
    const source = createS3Source({ ...config, buckets: ['maps', 'nosuchbucket'] });
    await assert.rejects(source.backup(ctx), (err) => {
      assert.ok(isBackupError(err, 'ERR_S3_BUCKET_NOT_FOUND'));
      assert.ok(err.message.includes('nosuchbucket'));
      assert.ok(err.message.includes(server.endpoint));
      return true;
    });
  });

  it('fails with ERR_S3_FAILED when the endpoint is down', async () => {
    const { ctx } = context(new MemorySnapshot());
    const source = createS3Source({ ...config, endpoint: 'http://127.0.0.1:9' });
    await assert.rejects(source.backup(ctx), (err) => isBackupError(err, 'ERR_S3_FAILED'));
  });
});
