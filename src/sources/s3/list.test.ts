import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { isBackupError } from '../../errors/index.ts';
import type { ProgressEvent, Warning } from '../../log/index.ts';
import { silentLogger } from '../../log/index.ts';
import { scopeWriter } from '../../snapshot/index.ts';
import { MemorySnapshot } from '../../../test/support/memory-snapshot.ts';
import type { S3Manifest, S3SourceConfig, SourceBackupContext } from '../types.ts';
import { createS3Client } from './client.ts';
import { createS3Source } from './source.ts';

/** A page the scripted server returns for one ListObjectsV2 request. */
interface Page {
  keys: string[];
  truncated: boolean;
  next?: string;
}

/** A bucket of the scripted server: its pages by continuation token. */
interface ScriptedBucket {
  page(token: string | undefined): Page;
  /** Keys whose GetObject returns 404, as if deleted after listing. */
  deletedKeys?: Set<string>;
  requests: number;
}

const numbered = (count: number, prefix: string) =>
  Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);

const buckets: Record<string, ScriptedBucket> = {
  paged: {
    requests: 0,
    page: (token) =>
      token === undefined
        ? { keys: numbered(1000, 'k'), truncated: true, next: 'after-first' }
        : token === 'after-first'
          ? { keys: [], truncated: true, next: 'after-empty' }
          : { keys: ['z/last.txt'], truncated: false },
  },
  exact: { requests: 0, page: () => ({ keys: numbered(1000, 'e'), truncated: false }) },
  repeating: {
    requests: 0,
    page: (token) => ({ keys: token === undefined ? ['r'] : [], truncated: true, next: 'same' }),
  },
  doubled: {
    requests: 0,
    page: (token) => ({ keys: ['d'], truncated: token === undefined, next: 'second' }),
  },
  endless: {
    requests: 0,
    page(token) {
      return { keys: [], truncated: true, next: `t${Number(token?.slice(1) ?? 0) + 1}` };
    },
  },
  growing: {
    requests: 0,
    page(token) {
      const n = Number(token?.slice(1) ?? 0) + 1;
      return { keys: [`g${n}`], truncated: true, next: `t${n}` };
    },
  },
  tokenless: { requests: 0, page: () => ({ keys: ['x'], truncated: true }) },
  vanishing: {
    requests: 0,
    deletedKeys: new Set(['deleted']),
    page: () => ({ keys: ['deleted', 'kept'], truncated: false }),
  },
};

function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function listXml(name: string, page: Page): string {
  const contents = page.keys
    .map(
      (key) =>
        `<Contents><Key>${xmlEscape(key)}</Key><LastModified>2024-01-02T03:04:05.000Z</LastModified>` +
        `<ETag>"etag-${xmlEscape(key)}"</ETag><Size>${key.length}</Size></Contents>`,
    )
    .join('');
  const next = page.next === undefined ? '' : `<NextContinuationToken>${page.next}</NextContinuationToken>`;
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Name>${name}</Name><KeyCount>${page.keys.length}</KeyCount><MaxKeys>1000</MaxKeys>` +
    `<IsTruncated>${page.truncated}</IsTruncated>${next}${contents}</ListBucketResult>`
  );
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://fake');
  const [bucketName = '', ...keyParts] = url.pathname.slice(1).split('/');
  const bucket = buckets[bucketName];
  const key = decodeURIComponent(keyParts.join('/'));
  if (bucket === undefined) {
    res.writeHead(404, { 'content-type': 'application/xml' });
    res.end('<Error><Code>NoSuchBucket</Code><Message>no such bucket</Message></Error>');
  } else if (req.method === 'HEAD') {
    res.writeHead(200).end();
  } else if (key === '' && url.searchParams.get('list-type') === '2') {
    bucket.requests++;
    const token = url.searchParams.get('continuation-token') ?? undefined;
    res.writeHead(200, { 'content-type': 'application/xml' });
    res.end(listXml(bucketName, bucket.page(token)));
  } else if (bucket.deletedKeys?.has(key)) {
    res.writeHead(404, { 'content-type': 'application/xml' });
    res.end('<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>');
  } else {
    res.writeHead(200, {
      'content-type': 'text/plain',
      'content-length': Buffer.byteLength(key),
      etag: `"etag-${key}"`,
      'last-modified': new Date('2024-01-02T03:04:05Z').toUTCString(),
    });
    res.end(key);
  }
}

function backupContext(snapshot: MemorySnapshot) {
  const warnings: Warning[] = [];
  const events: ProgressEvent[] = [];
  const ctx: SourceBackupContext = {
    writer: scopeWriter(snapshot, ['s3', 'fake']),
    logger: silentLogger,
    signal: new AbortController().signal,
    onEvent: (event) => events.push(event),
    warn: (warning) => warnings.push(warning),
  };
  return { ctx, warnings, events };
}

describe('S3 source listing on a scripted server', () => {
  let server: Server;
  let endpoint = '';

  before(async () => {
    server = createServer(handle);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function sourceFor(bucket: string) {
    const config: S3SourceConfig = {
      type: 's3',
      name: 'fake',
      endpoint,
      region: 'us-east-1',
      access_key_id: 'test',
      secret_access_key: 'test',
      buckets: [bucket],
      force_path_style: true,
      concurrency: 8,
    };
    const client = createS3Client({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      forcePathStyle: true,
    });
    return createS3Source(config, { client, listing: { maxRequests: 50, maxEmptyPages: 10 } });
  }

  it('follows tokens across a full page and an empty page', async () => {
    const snapshot = new MemorySnapshot();
    const { ctx } = backupContext(snapshot);
    const manifest = (await sourceFor('paged').backup(ctx)) as S3Manifest;
    const bucket = manifest.buckets[0];
    assert.equal(bucket?.objects, 1001);
    assert.equal(bucket?.entries.at(-1)?.key, 'z/last.txt');
    assert.equal(buckets.paged?.requests, 3);
    const last = await snapshot.lookup(['s3', 'fake', 'paged', 'z', 'last.txt']);
    assert.equal(last?.size, 'z/last.txt'.length);
  });

  it('stops after one page of exactly MaxKeys that is not truncated', async () => {
    const { ctx } = backupContext(new MemorySnapshot());
    const manifest = (await sourceFor('exact').backup(ctx)) as S3Manifest;
    assert.equal(manifest.buckets[0]?.objects, 1000);
    assert.equal(manifest.buckets[0]?.bytes, 1000 * 5);
    assert.equal(buckets.exact?.requests, 1);
  });

  it('rejects a repeated continuation token', async () => {
    const { ctx } = backupContext(new MemorySnapshot());
    await assert.rejects(sourceFor('repeating').backup(ctx), (err) => {
      assert.ok(isBackupError(err, 'ERR_S3_LISTING'));
      assert.match(err.message, /repeating.*repeated a continuation token/);
      return true;
    });
    assert.equal(buckets.repeating?.requests, 2);
  });

  it('rejects a key listed twice', async () => {
    const { ctx } = backupContext(new MemorySnapshot());
    await assert.rejects(sourceFor('doubled').backup(ctx), (err) => {
      assert.ok(isBackupError(err, 'ERR_S3_LISTING'));
      assert.match(err.message, /key "d" twice/);
      return true;
    });
  });

  it('rejects endless empty pages within the bound', async () => {
    const { ctx } = backupContext(new MemorySnapshot());
    await assert.rejects(sourceFor('endless').backup(ctx), (err) => {
      assert.ok(isBackupError(err, 'ERR_S3_LISTING'));
      assert.match(err.message, /11 empty pages in a row/);
      return true;
    });
    assert.equal(buckets.endless?.requests, 11);
  });

  it('rejects a listing longer than the request bound', async () => {
    const { ctx } = backupContext(new MemorySnapshot());
    await assert.rejects(sourceFor('growing').backup(ctx), (err) => {
      assert.ok(isBackupError(err, 'ERR_S3_LISTING'));
      assert.match(err.message, /did not end after 50 requests/);
      return true;
    });
    assert.equal(buckets.growing?.requests, 50);
  });

  it('rejects a truncated page without a token', async () => {
    const { ctx } = backupContext(new MemorySnapshot());
    await assert.rejects(sourceFor('tokenless').backup(ctx), (err) => {
      assert.ok(isBackupError(err, 'ERR_S3_LISTING'));
      assert.match(err.message, /no continuation token/);
      return true;
    });
  });

  it('warns about an object deleted after listing', async () => {
    const snapshot = new MemorySnapshot();
    const { ctx, warnings } = backupContext(snapshot);
    const manifest = (await sourceFor('vanishing').backup(ctx)) as S3Manifest;
    assert.deepEqual(
      manifest.buckets[0]?.entries.map((entry) => entry.key),
      ['kept'],
    );
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.kind, 'vanished');
    assert.equal(warnings[0]?.item, 'vanishing/deleted');
    assert.equal(await snapshot.lookup(['s3', 'fake', 'vanishing', 'deleted']), undefined);
  });
});
