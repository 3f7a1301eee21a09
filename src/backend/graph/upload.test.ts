import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { isBackupError } from '../../errors/index.ts';
import {
  startGraphEmulator,
  type GraphEmulator,
} from '../../../test/support/graph-emulator/index.ts';
import { GraphBackend } from './backend.ts';
import { FakeClock } from './clock.ts';
import type { GraphBackendOptions, UploadSource } from './types.ts';
import { FRAGMENT_UNIT_BYTES } from './upload.ts';

const MiB = 1024 * 1024;
const FOLDER = 'BGAPP_Backups/repository';

function idOf(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function dataPath(name: string): string {
  return `/${FOLDER}/data/${name.slice(0, 2)}/${name}`;
}

/** Parses `bytes a-b/size` into [a, b + 1). */
function parseRange(header: string): [number, number] {
  const match = /^bytes (\d+)-(\d+)\//.exec(header);
  assert.ok(match, `bad Content-Range ${header}`);
  return [Number(match[1]), Number(match[2]) + 1];
}

describe('GraphBackend uploads', () => {
  let emulator: GraphEmulator;

  before(async () => {
    emulator = await startGraphEmulator({ simpleUploadMaxBytes: 4 * MiB });
  });

  after(async () => {
    await emulator.stop();
  });

  beforeEach(() => {
    emulator.faults.clear();
    emulator.requests.length = 0;
  });

  function backend(options: Partial<GraphBackendOptions> = {}): GraphBackend {
    return new GraphBackend({
      getAccessToken: async () => emulator.token,
      baseUrl: emulator.baseUrl,
      simpleUploadMaxBytes: 4 * MiB,
      fragmentBytes: 10 * MiB,
      clock: new FakeClock(),
      ...options,
    });
  }

  it('resumes from nextExpectedRanges after a 503 mid-fragment', async () => {
    const graph = backend();
    await graph.create();
    const data = randomBytes(25 * MiB);
    const name = idOf(data);
    emulator.faults.add({
      match: { target: 'upload', method: 'PUT' },
      nth: 2,
      action: { kind: 'status', status: 503, storeBytes: 4_000_000 },
    });
    await graph.save({ type: 'data', name }, data);

    const puts = emulator.requests.filter((r) => r.target === 'upload' && r.method === 'PUT');
    const acknowledged: [number, number][] = [];
    for (const put of puts) {
      const [start, end] = parseRange(put.contentRange!);
      for (const [a, b] of acknowledged)
        assert.ok(end <= a || start >= b, `range ${start}-${end} sent twice`);
      if (put.status === 202 || put.status === 200 || put.status === 201)
        acknowledged.push([start, end]);
    }
    const statusQuery = emulator.requests.findIndex(
      (r) => r.target === 'upload' && r.method === 'GET',
    );
    assert.ok(statusQuery > 0, 'no session status request');
    const afterQuery = emulator.requests.slice(statusQuery).filter((r) => r.method === 'PUT');
    const [resumeStart, resumeEnd] = parseRange(afterQuery[0]!.contentRange!);
    assert.equal(resumeStart, 10 * MiB + 4_000_000);
    assert.equal(resumeEnd % FRAGMENT_UNIT_BYTES, 0);
    for (const put of afterQuery.slice(1, -1)) {
      const [start, end] = parseRange(put.contentRange!);
      assert.equal((end - start) % FRAGMENT_UNIT_BYTES, 0);
    }
    assert.deepEqual(await emulator.drive.read(dataPath(name)), data);
    assert.equal(emulator.openUploadSessions(), 0);
  });

  it('resumes after a connection reset mid-fragment', async () => {
    const graph = backend();
    await graph.create();
    const data = randomBytes(25 * MiB);
    emulator.faults.add({
      match: { target: 'upload', method: 'PUT' },
      nth: 2,
      action: { kind: 'reset', storeBytes: 3_000_000 },
    });
    await graph.save({ type: 'data', name: idOf(data) }, data);
    assert.deepEqual(await emulator.drive.read(dataPath(idOf(data))), data);
    assert.ok(emulator.requests.some((r) => r.status === 'reset'));
  });

  it('waits for Retry-After in any case and backs off without it', async () => {
    const clock = new FakeClock();
    const graph = backend({ clock });
    await graph.create();
    const data = randomBytes(1000);
    const match = { method: 'PUT', target: 'api' as const, path: '/content' };
    emulator.faults.add({
      match,
      nth: 1,
      action: { kind: 'status', status: 429, retryAfter: 3, retryAfterHeader: 'retry-after' },
    });
    emulator.faults.add({ match, nth: 2, action: { kind: 'status', status: 429 } });
    emulator.faults.add({ match, nth: 3, action: { kind: 'status', status: 503, retryAfter: 2 } });
    await graph.save({ type: 'snapshots', name: idOf(data) }, data);

    assert.equal(clock.sleeps[0], 3000);
    assert.ok(clock.sleeps[1]! > 0);
    assert.ok(clock.sleeps[1]! <= 60_000);
    assert.equal(clock.sleeps[2], 2000);
    const puts = emulator.requests.filter((r) => r.method === 'PUT');
    assert.equal(puts.filter((r) => r.status === 200 || r.status === 201).length, 1);
  });

  it('stops with ERR_GRAPH_THROTTLED when the tenant stays blocked', async () => {
    const graph = backend({ maxRetryWaitMillis: 10 * 60_000, concurrency: 4 });
    await graph.create();
    // Fragments are throttled; the DELETE that cancels a session still goes through.
    emulator.faults.add({
      match: { target: 'upload', method: 'PUT' },
      nth: 1,
      times: Infinity,
      action: { kind: 'status', status: 429 },
    });
    const files = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(5 * MiB)];
    const results = await Promise.allSettled(
      files.map((data) => graph.save({ type: 'data', name: idOf(data) }, data)),
    );
    for (const result of results) {
      assert.equal(result.status, 'rejected');
      assert.ok(isBackupError(result.reason, 'ERR_GRAPH_THROTTLED'), String(result.reason));
      assert.match((result.reason as Error).message, /throttled by OneDrive/);
    }
    assert.ok(graph.gate.maxInFlightWhileThrottled <= 1);
    assert.equal(emulator.openUploadSessions(), 0);
  });

  it('starts a new session when the session expired', async () => {
    const graph = backend();
    await graph.create();
    const data = randomBytes(12 * MiB);
    emulator.faults.add({
      match: { target: 'upload', method: 'PUT' },
      nth: 2,
      action: { kind: 'expire-session' },
    });
    await graph.save({ type: 'data', name: idOf(data) }, data);
    const sessions = emulator.requests.filter((r) => r.path.includes('createUploadSession'));
    assert.equal(sessions.length, 2);
    assert.deepEqual(await emulator.drive.read(dataPath(idOf(data))), data);
  });

  it('reports figures when the quota runs out', async () => {
    const graph = backend();
    await graph.create();
    const total = emulator.drive.quota().total;
    emulator.drive.setQuotaRemaining(8 * MiB);
    try {
      const data = randomBytes(12 * MiB);
      await assert.rejects(graph.save({ type: 'data', name: idOf(data) }, data), (err) => {
        assert.ok(isBackupError(err, 'ERR_GRAPH_QUOTA'), String(err));
        assert.match(err.message, /wrote \d+ bytes/);
        assert.match(err.message, /\d+ bytes were left/);
        return true;
      });
      assert.equal(emulator.openUploadSessions(), 0);
    } finally {
      emulator.drive.setQuotaTotal(total);
    }
  });

  it('uploads again when the hash is wrong once', async () => {
    const graph = backend();
    await graph.create();
    const data = randomBytes(5 * MiB);
    emulator.faults.corruptItem({ path: dataPath(idOf(data)), kind: 'wrong-hash', times: 1 });
    await graph.save({ type: 'data', name: idOf(data) }, data);
    const sessions = emulator.requests.filter((r) => r.path.includes('createUploadSession'));
    assert.equal(sessions.length, 2);
  });

  it('rejects with ERR_GRAPH_VERIFY when the hash is wrong twice', async () => {
    const graph = backend();
    await graph.create();
    const data = randomBytes(1000);
    const name = idOf(data);
    emulator.faults.corruptItem({ path: dataPath(name), kind: 'wrong-hash', times: 2 });
    await assert.rejects(graph.save({ type: 'data', name }, data), (err) =>
      isBackupError(err, 'ERR_GRAPH_VERIFY'),
    );
    assert.equal(emulator.drive.stat(dataPath(name)), undefined);
    const puts = emulator.requests.filter(
      (r) => r.method === 'PUT' && r.path.includes(':/content'),
    );
    assert.equal(puts.length, 2);
  });

  it('reads the file back when the item has no hash', async () => {
    const graph = backend();
    await graph.create();
    const data = randomBytes(6 * MiB);
    emulator.faults.corruptItem({ path: dataPath(idOf(data)), kind: 'no-hash', times: 1 });
    await graph.save({ type: 'data', name: idOf(data) }, data);
    const downloads = emulator.requests.filter((r) => r.target === 'download');
    assert.equal(downloads.length, 1);
    assert.equal(emulator.requests.filter((r) => r.path.includes('createUploadSession')).length, 1);
  });

  it('rejects a 403 with ERR_GRAPH_FORBIDDEN', async () => {
    const graph = backend();
    await graph.create();
    emulator.setPermission('read');
    try {
      const data = randomBytes(100);
      await assert.rejects(graph.save({ type: 'keys', name: idOf(data) }, data), (err) =>
        isBackupError(err, 'ERR_GRAPH_FORBIDDEN'),
      );
    } finally {
      emulator.setPermission('read-write');
    }
  });

  it('rejects a revoked token with ERR_AUTH_EXPIRED', async () => {
    const token = emulator.token;
    const graph = backend({ getAccessToken: async () => token });
    await graph.create();
    emulator.setToken('another-token');
    try {
      await assert.rejects(
        graph.list('keys'),
        (err) => isBackupError(err, 'ERR_AUTH_EXPIRED') && /bgapp-backup login/.test(err.message),
      );
    } finally {
      emulator.setToken(token);
    }
  });
});

/** Creates a deterministic source that generates its bytes, so 1 GiB never sits in memory. */
function generatedSource(size: number): UploadSource {
  return {
    size,
    read: async (offset, length) => {
      const out = Buffer.alloc(length);
      for (let i = 0; i < length; i += 4096) out.writeUInt32LE((offset + i) >>> 0, i);
      return out;
    },
  };
}

describe('GraphBackend request count', () => {
  it('uploads 1 GiB within 10% of the minimum number of requests', async () => {
    const emulator = await startGraphEmulator();
    try {
      const graph = new GraphBackend({
        getAccessToken: async () => emulator.token,
        baseUrl: emulator.baseUrl,
        simpleUploadMaxBytes: 4 * MiB,
        fragmentBytes: 10 * MiB,
      });
      await graph.create();
      const before = emulator.requests.length;
      const size = 1024 * MiB;
      await graph.saveFrom({ type: 'config', name: 'config' }, generatedSource(size));
      const sent = emulator.requests.length - before;
      const minimum = Math.ceil(size / (10 * MiB)) + 1;
      assert.ok(sent <= minimum * 1.1, `${sent} requests, minimum ${minimum}`);
      assert.equal(emulator.drive.stat(`/${FOLDER}/config`)?.size, size);
    } finally {
      await emulator.stop();
    }
  });
});
