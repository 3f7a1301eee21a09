import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { RepositorySnapshotReader, RepositorySnapshotWriter } from '../../archiver/index.ts';
import { removeTempFolders, tempFolder, TEST_PASSWORD } from '../../archiver/test-support.ts';
import { LocalBackend } from '../../backend/index.ts';
import { silentLogger } from '../../log/index.ts';
import { Repository } from '../../repository/index.ts';
import { scopeReader, scopeWriter, type SnapshotReader } from '../../snapshot/index.ts';
import type { S3Manifest, S3ObjectManifest } from '../../sources/index.ts';
import { createS3Client, createS3Source } from '../../sources/s3/index.ts';
import { s3SourceConfig, startS3Server, type S3Server } from '../../../test/support/s3.ts';
import type { RestoreContext } from '../types.ts';
import { restoreS3, type S3RestoreOptions } from './restore.ts';
import { treeSha256 } from '../checks.ts';
import { verifyBucket } from './verify.ts';

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const bodies = new Map<string, Buffer>([
  ['small.txt', Buffer.from('a small object, stored as one blob')],
  ['empty', Buffer.alloc(0)],
  // Above the chunker's 8 MiB maximum chunk size, so always several blobs.
  ['big.bin', randomBytes(9 * 1024 * 1024)],
]);

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Returns `manifest` with `change` applied to each entry of its only bucket. */
function withEntries(manifest: S3Manifest, change: (entry: S3ObjectManifest) => S3ObjectManifest): S3Manifest {
  const bucket = manifest.buckets[0]!;
  return { ...manifest, buckets: [{ ...bucket, entries: bucket.entries.map(change) }] };
}

function withoutSha256({ sha256: _omitted, ...entry }: S3ObjectManifest): S3ObjectManifest {
  return entry;
}

describe('treeSha256', () => {
  it('gives the only blob id', () => {
    assert.equal(treeSha256({ size: 5, content: ['ab'.repeat(32)] }), 'ab'.repeat(32));
  });

  it('gives the empty hash for no blobs', () => {
    assert.equal(treeSha256({ size: 0, content: [] }), EMPTY_SHA256);
    assert.equal(treeSha256({ size: 0 }), EMPTY_SHA256);
  });

  it('gives nothing for several blobs', () => {
    assert.equal(treeSha256({ size: 9, content: ['ab'.repeat(32), 'cd'.repeat(32)] }), undefined);
  });

  it('gives nothing for a sized file without blobs', () => {
    assert.equal(treeSha256({ size: 9, content: [] }), undefined);
  });
});

describe('S3 manifest without one-blob SHA-256', () => {
  let server: S3Server;
  let client: S3Client;
  let repo: Repository;
  let reader: SnapshotReader;
  let manifest: S3Manifest;
  let options: S3RestoreOptions;

  before(async () => {
    server = await startS3Server();
    const credentials = { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey };
    client = createS3Client({ endpoint: server.endpoint, region: server.region, credentials, forcePathStyle: true });
    await client.send(new CreateBucketCommand({ Bucket: 'maps' }));
    for (const [key, body] of bodies) await client.send(new PutObjectCommand({ Bucket: 'maps', Key: key, Body: body }));
    const config = s3SourceConfig(server, ['maps'], 2);

    repo = await Repository.init(new LocalBackend(join(tempFolder(), 'repo')), TEST_PASSWORD, { kdfTargetMillis: 0 });
    const writer = new RepositorySnapshotWriter(repo);
    manifest = (await createS3Source(config).backup({
      writer: scopeWriter(writer, ['s3', 'minio']),
      logger: silentLogger,
      signal: new AbortController().signal,
      onEvent: () => {},
      warn: (warning) => assert.fail(`unexpected warning: ${warning.message}`),
    })) as S3Manifest;
    const finish = { tags: [], paths: ['/s3/minio'], hostname: 'test-host', username: 'tester', programVersion: 'test' };
    const { snapshotId } = await writer.finish(finish);
    reader = scopeReader(await RepositorySnapshotReader.open(repo, snapshotId), ['s3', 'minio']);
    options = { endpoint: server.endpoint, credentials, forcePathStyle: true };
  });

  after(async () => {
    await server.stop();
    await removeTempFolders();
  });

  function context(restored: S3Manifest = manifest): RestoreContext<S3Manifest> {
    return { reader, manifest: restored, force: false, logger: silentLogger, signal: new AbortController().signal, onEvent: () => {} };
  }

  async function contentOf(key: string): Promise<readonly string[]> {
    const node = await reader.lookup(['maps', key]);
    assert.ok(node?.type === 'file', `no file for ${key}`);
    return node.content ?? [];
  }

  it('stores SHA-256 only for several blobs', async () => {
    assert.equal(manifest.sha256Omits, 'one-blob');
    const entries = new Map(manifest.buckets[0]!.entries.map((e) => [e.key, e]));
    assert.equal(entries.size, 3);
    assert.ok((await contentOf('big.bin')).length > 1, 'big.bin is not several blobs');
    assert.equal(entries.get('big.bin')?.sha256, sha256(bodies.get('big.bin')!));
    assert.deepEqual(await contentOf('small.txt'), [sha256(bodies.get('small.txt')!)]);
    assert.equal(entries.get('small.txt')?.sha256, undefined);
    assert.deepEqual(await contentOf('empty'), []);
    assert.equal(entries.get('empty')?.sha256, undefined);
    assert.equal(entries.get('empty')?.size, 0);
  });

  it('restores and verifies every object', async () => {
    const report = await restoreS3(context(), { ...options, targetBucket: 'copy' });
    assert.deepEqual(report.differences, []);
    assert.equal(report.verified, true);
  });

  it('reports a changed one-blob object', async () => {
    await restoreS3(context(), { ...options, targetBucket: 'changed' });
    const small = bodies.get('small.txt')!;
    const tampered = Buffer.from(small.toString().toUpperCase());
    assert.equal(tampered.length, small.length);
    await client.send(new PutObjectCommand({ Bucket: 'changed', Key: 'small.txt', Body: tampered }));

    const treeHashes = new Map([
      ['small.txt', treeSha256({ size: small.length, content: [...(await contentOf('small.txt'))] })!],
      ['empty', EMPTY_SHA256],
    ]);
    const target = { client, endpoint: server.endpoint, bucket: 'changed', concurrency: 2, signal: new AbortController().signal };
    const differences = await verifyBucket(target, manifest.buckets[0]!.entries, treeHashes);
    assert.equal(differences.length, 1, differences.join('\n'));
    assert.match(differences[0]!, new RegExp(`"small.txt" has SHA-256 ${sha256(tampered)}, its only blob is ${sha256(small)}`));
  });

  it('reports a several-blob entry lacking SHA-256', async () => {
    const lacking = withEntries(manifest, withoutSha256);
    const report = await restoreS3(context(lacking), { ...options, targetBucket: 'lacking' });
    assert.equal(report.verified, false);
    assert.equal(report.differences.length, 1, report.differences.join('\n'));
    assert.match(report.differences[0]!, /^manifest lacks the SHA-256 of lacking: key "big.bin", and its snapshot file is not one blob$/);
  });

  it('verifies an old-format manifest', async () => {
    const { sha256Omits: _omitted, ...rest } = withEntries(manifest, (e) => ({ ...e, sha256: sha256(bodies.get(e.key)!) }));
    const report = await restoreS3(context(rest), { ...options, targetBucket: 'old' });
    assert.deepEqual(report.differences, []);
    assert.equal(report.verified, true);
  });

  it('reports a changed object of an old-format manifest', async () => {
    const { sha256Omits: _omitted, ...rest } = withEntries(manifest, (e) => ({ ...e, sha256: sha256(Buffer.from('x')) }));
    const report = await restoreS3(context(rest), { ...options, targetBucket: 'old-wrong' });
    assert.equal(report.verified, false);
    assert.equal(report.differences.length, 3, report.differences.join('\n'));
    assert.ok(report.differences.every((d) => d.includes(`, expected ${sha256(Buffer.from('x'))}`)));
  });

  it('ignores tree hashes without the marker', async () => {
    const { sha256Omits: _omitted, ...unmarked } = manifest;
    const report = await restoreS3(context(unmarked), { ...options, targetBucket: 'unmarked' });
    assert.equal(report.verified, false);
    const lacking = report.differences.filter((d) => d.startsWith('manifest lacks the SHA-256'));
    assert.equal(lacking.length, 2, report.differences.join('\n'));
  });
});
