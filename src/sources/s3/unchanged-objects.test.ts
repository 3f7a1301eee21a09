import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { RepositorySnapshotReader, RepositorySnapshotWriter } from '../../archiver/index.ts';
import { removeTempFolders, tempFolder, TEST_PASSWORD } from '../../archiver/test-support.ts';
import { LocalBackend } from '../../backend/index.ts';
import { silentLogger } from '../../log/index.ts';
import { Repository } from '../../repository/index.ts';
import { scopeReader, scopeWriter } from '../../snapshot/index.ts';
import { s3SourceConfig, startS3Server, type S3Server } from '../../../test/support/s3.ts';
import type { S3Manifest, S3SourceConfig, SourceBackupContext } from '../types.ts';
import { createS3Client } from './client.ts';
import { createS3Source } from './source.ts';
import { recordingWriter } from '../../../test/support/recording-writer.ts';

const finishOptions = {
  tags: ['s3:minio'],
  paths: ['/s3/minio'],
  hostname: 'test-host',
  username: 'tester',
  programVersion: 'bgapp-backup test',
};

/** Above the chunker's 8 MiB maximum chunk size, so always several blobs. */
const BIG_SIZE = 9 * 1024 * 1024;

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

describe('S3 source against a parent snapshot', () => {
  let server: S3Server;
  let client: S3Client;
  let config: S3SourceConfig;
  let repo: Repository;

  const put = (key: string, body: string | Buffer, metadata?: Record<string, string>) =>
    client.send(new PutObjectCommand({ Bucket: 'maps', Key: key, Body: body, Metadata: metadata }));

  async function contentOf(snapshotId: string, key: string): Promise<readonly string[] | undefined> {
    const reader = await RepositorySnapshotReader.open(repo, snapshotId);
    const node = await reader.lookup(['s3', 'minio', 'maps', ...key.split('/')]);
    return node?.content;
  }

  async function backUp(parent?: { id: string; manifest: S3Manifest }) {
    const writer = new RepositorySnapshotWriter(repo);
    const read: string[] = [];
    const reused: string[] = [];
    const ctx: SourceBackupContext = {
      writer: recordingWriter(scopeWriter(writer, ['s3', 'minio']), read, reused),
      logger: silentLogger,
      signal: new AbortController().signal,
      onEvent: () => {},
      warn: (warning) => assert.fail(`unexpected warning: ${warning.message}`),
    };
    if (parent) {
      const reader = await RepositorySnapshotReader.open(repo, parent.id);
      ctx.parent = scopeReader(reader, ['s3', 'minio']);
      ctx.parentManifest = parent.manifest;
    }
    const manifest = (await createS3Source(config).backup(ctx)) as S3Manifest;
    const { snapshotId } = await writer.finish({ ...finishOptions, parent: parent?.id });
    return { id: snapshotId, manifest, read: read.sort(), reused: reused.sort() };
  }

  before(async () => {
    server = await startS3Server();
    client = createS3Client({
      endpoint: server.endpoint,
      region: server.region,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      forcePathStyle: true,
    });
    await client.send(new CreateBucketCommand({ Bucket: 'maps' }));
    await put('tiles/1.png', 'tile one', { layer: 'roads' });
    await put('tiles/2.png', 'tile two');
    config = s3SourceConfig(server, ['maps'], 2);
    repo = await Repository.init(new LocalBackend(join(tempFolder(), 'repo')), TEST_PASSWORD, { kdfTargetMillis: 0 });
  });

  after(async () => {
    await server.stop();
    await removeTempFolders();
  });

  it('gets only new and changed objects', async () => {
    const first = await backUp();
    assert.deepEqual(first.read, ['maps/tiles/1.png', 'maps/tiles/2.png']);
    await put('tiles/2.png', 'tile two, redrawn');
    await put('tiles/3.png', 'tile three');

    const second = await backUp({ id: first.id, manifest: first.manifest });
    assert.deepEqual(second.read, ['maps/tiles/2.png', 'maps/tiles/3.png']);
    assert.deepEqual(second.reused, ['maps/tiles/1.png']);
    const entries = second.manifest.buckets[0]!.entries;
    const one = entries.find((e) => e.key === 'tiles/1.png');
    assert.equal(second.manifest.sha256Omits, 'one-blob');
    assert.equal(one?.sha256, undefined);
    assert.deepEqual(one?.metadata, { layer: 'roads' });
    assert.deepEqual(await contentOf(second.id, 'tiles/1.png'), [sha256('tile one')]);
    assert.equal(entries.find((e) => e.key === 'tiles/2.png')?.sha256, undefined);
    assert.deepEqual(await contentOf(second.id, 'tiles/2.png'), [sha256('tile two, redrawn')]);
    assert.equal(second.manifest.buckets[0]!.objects, 3);
  });

  it('keeps SHA-256 copied from an old parent', async () => {
    const first = await backUp();
    // A manifest written before sha256Omits: every entry has its SHA-256.
    const bodies: Record<string, string> = {
      'tiles/1.png': 'tile one',
      'tiles/2.png': 'tile two, redrawn',
      'tiles/3.png': 'tile three',
    };
    const bucket = first.manifest.buckets[0]!;
    const entries = bucket.entries.map((e) => ({ ...e, sha256: sha256(bodies[e.key]!) }));
    const { sha256Omits, ...rest } = first.manifest;
    assert.equal(sha256Omits, 'one-blob');
    const old: S3Manifest = { ...rest, buckets: [{ ...bucket, entries }] };

    const second = await backUp({ id: first.id, manifest: old });
    assert.deepEqual(second.read, []);
    assert.equal(second.manifest.sha256Omits, 'one-blob');
    for (const entry of second.manifest.buckets[0]!.entries) {
      assert.equal(entry.sha256, sha256(bodies[entry.key]!), `SHA-256 of ${entry.key}`);
    }
  });

  it('keeps SHA-256 only for a several-blob object', async () => {
    const big = randomBytes(BIG_SIZE);
    await put('big.bin', big);
    try {
      const first = await backUp();
      assert.ok(((await contentOf(first.id, 'big.bin')) ?? []).length > 1, 'big.bin is one blob');
      const entries = first.manifest.buckets[0]!.entries;
      assert.equal(entries.find((e) => e.key === 'big.bin')?.sha256, sha256(big));
      assert.equal(entries.find((e) => e.key === 'tiles/3.png')?.sha256, undefined);

      const second = await backUp({ id: first.id, manifest: first.manifest });
      assert.deepEqual(second.read, []);
      assert.equal(second.manifest.buckets[0]!.entries.find((e) => e.key === 'big.bin')?.sha256, sha256(big));
    } finally {
      await client.send(new DeleteObjectCommand({ Bucket: 'maps', Key: 'big.bin' }));
    }
  });

  it('reads again a several-blob object lacking SHA-256', async () => {
    const big = randomBytes(BIG_SIZE);
    await put('big.bin', big);
    try {
      const first = await backUp();
      const bucket = first.manifest.buckets[0]!;
      const entries = bucket.entries.map(({ sha256: _omitted, ...e }) => e);
      const lacking: S3Manifest = { ...first.manifest, buckets: [{ ...bucket, entries }] };

      const second = await backUp({ id: first.id, manifest: lacking });
      assert.deepEqual(second.read, ['maps/big.bin']);
      assert.equal(second.manifest.buckets[0]!.entries.find((e) => e.key === 'big.bin')?.sha256, sha256(big));
    } finally {
      await client.send(new DeleteObjectCommand({ Bucket: 'maps', Key: 'big.bin' }));
    }
  });
});
