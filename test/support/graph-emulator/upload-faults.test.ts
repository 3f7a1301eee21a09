import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { get } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { quickXorHash } from '../../../src/backend/graph/quickxor.ts';
import { FRAGMENT_UNIT_BYTES, startGraphEmulator, type GraphEmulator } from './index.ts';

const UNIT = FRAGMENT_UNIT_BYTES;

describe('GraphEmulator upload sessions and faults', () => {
  let emulator: GraphEmulator;

  before(async () => {
    emulator = await startGraphEmulator();
  });
  after(async () => {
    await emulator.stop();
  });

  function call(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`${emulator.baseUrl}${path}`, {
      method,
      headers: { Authorization: `Bearer ${emulator.token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  async function openSession(path: string, conflict = 'replace'): Promise<string> {
    const res = await call('POST', `/me/drive/root:${path}:/createUploadSession`, {
      item: { '@microsoft.graph.conflictBehavior': conflict },
    });
    assert.equal(res.status, 200);
    return ((await res.json()) as { uploadUrl: string }).uploadUrl;
  }

  function putFragment(uploadUrl: string, data: Buffer, first: number, total: number): Promise<Response> {
    const last = first + data.length - 1;
    return fetch(uploadUrl, {
      method: 'PUT',
      headers: { 'Content-Range': `bytes ${first}-${last}/${total}` },
      body: data,
    });
  }

  it('assembles fragments into an item with its hash', async () => {
    const data = bytes(2 * UNIT + 1000, 1);
    const url = await openSession('/s/whole.bin');
    const first = await putFragment(url, data.subarray(0, UNIT), 0, data.length);
    assert.equal(first.status, 202);
    assert.deepEqual(((await first.json()) as { nextExpectedRanges: string[] }).nextExpectedRanges, [`${UNIT}-`]);
    await putFragment(url, data.subarray(UNIT, 2 * UNIT), UNIT, data.length);
    const last = await putFragment(url, data.subarray(2 * UNIT), 2 * UNIT, data.length);
    const item = (await last.json()) as { size: number; file: { hashes: { quickXorHash: string } } };
    assert.equal(last.status, 201);
    assert.equal(item.size, data.length);
    assert.equal(item.file.hashes.quickXorHash, quickXorHash(data));
    assert.equal(sha256(await emulator.drive.read('/s/whole.bin')), sha256(data));
    assert.equal(emulator.openUploadSessions(), 0);
  });

  it('rejects a fragment that is not a multiple of 320 KiB', async () => {
    const url = await openSession('/s/odd.bin');
    const res = await putFragment(url, bytes(UNIT + 1, 2), 0, 3 * UNIT);
    assert.equal(res.status, 400);
    await fetch(url, { method: 'DELETE' });
  });

  it('returns 416 for an overlapping fragment and 404 after cancel', async () => {
    const url = await openSession('/s/overlap.bin');
    await putFragment(url, bytes(UNIT, 3), 0, 2 * UNIT);
    const overlap = await putFragment(url, bytes(UNIT, 3), 0, 2 * UNIT);
    const body = (await overlap.json()) as { error: { code: string; innerError: { code: string } } };
    assert.equal(overlap.status, 416);
    assert.equal(body.error.innerError.code, 'fragmentOverlap');
    assert.equal(emulator.openUploadSessions(), 1);
    const cancel = await fetch(url, { method: 'DELETE' });
    assert.equal(cancel.status, 204);
    assert.equal(emulator.openUploadSessions(), 0);
    assert.equal((await fetch(url)).status, 404);
  });

  it('returns 409 at session creation when conflictBehavior is fail', async () => {
    await emulator.drive.write('/s/taken.bin', Buffer.from('x'));
    const res = await call('POST', '/me/drive/root:/s/taken.bin:/createUploadSession', {
      item: { '@microsoft.graph.conflictBehavior': 'fail' },
    });
    assert.equal(res.status, 409);
  });

  it('keeps part of a fragment that failed with 503, misaligning the next range', async () => {
    const data = bytes(3 * UNIT, 4);
    const url = await openSession('/s/partial.bin');
    await putFragment(url, data.subarray(0, UNIT), 0, data.length);
    const rule = emulator.faults.add({
      match: { target: 'upload', method: 'PUT' },
      action: { kind: 'status', status: 503, storeBytes: 100_000 },
    });
    const failed = await putFragment(url, data.subarray(UNIT, 2 * UNIT), UNIT, data.length);
    assert.equal(failed.status, 503);
    assert.equal(rule.fired, 1);
    const retried = await putFragment(url, data.subarray(UNIT, 2 * UNIT), UNIT, data.length);
    assert.equal(retried.status, 416);
    const status = (await (await fetch(url)).json()) as { nextExpectedRanges: string[] };
    const resume = UNIT + 100_000;
    assert.deepEqual(status.nextExpectedRanges, [`${resume}-${data.length - 1}`]);
    const realign = await putFragment(url, data.subarray(resume, 2 * UNIT), resume, data.length);
    assert.equal(realign.status, 202);
    const done = await putFragment(url, data.subarray(2 * UNIT), 2 * UNIT, data.length);
    assert.equal(done.status, 201);
    assert.equal(sha256(await emulator.drive.read('/s/partial.bin')), sha256(data));
  });

  it('resets the connection halfway through a fragment', async () => {
    const data = bytes(2 * UNIT, 5);
    const url = await openSession('/s/reset.bin');
    emulator.faults.add({ match: { target: 'upload' }, action: { kind: 'reset' } });
    await assert.rejects(putFragment(url, data.subarray(0, UNIT), 0, data.length));
    const status = (await (await fetch(url)).json()) as { nextExpectedRanges: string[] };
    const start = Number(status.nextExpectedRanges[0]!.split('-')[0]);
    assert.ok(start > 0, `resume offset ${start} is after the start`);
    assert.ok(start < UNIT, `resume offset ${start} is inside the first fragment`);
    const reset = emulator.requests.filter((entry) => entry.status === 'reset');
    assert.equal(reset.length, 1);
    await fetch(url, { method: 'DELETE' });
  });

  it('answers 404 on the upload URL once the session expires', async () => {
    const url = await openSession('/s/expired.bin');
    emulator.faults.add({ match: { target: 'upload' }, action: { kind: 'expire-session' } });
    const res = await putFragment(url, bytes(UNIT, 6), 0, 2 * UNIT);
    assert.equal(res.status, 404);
    assert.equal(emulator.openUploadSessions(), 0);
    const other = await openSession('/s/expired-all.bin');
    emulator.expireUploadSessions();
    assert.equal((await fetch(other)).status, 404);
  });

  it('sends 429 with Retry-After in each form on the Nth request', async () => {
    const cases: Array<{ header?: string; value?: number | Date; expected: string | null }> = [
      { value: 3, header: 'retry-after', expected: '3' },
      { expected: null },
      { value: new Date('2030-01-01T00:00:00Z'), expected: 'Tue, 01 Jan 2030 00:00:00 GMT' },
    ];
    for (const { header, value, expected } of cases) {
      emulator.faults.clear();
      emulator.faults.add({
        match: { target: 'api', path: '/throttled' },
        nth: 2,
        action: { kind: 'status', status: 429, retryAfter: value, retryAfterHeader: header },
      });
      const first = await call('GET', '/me/drive/root:/throttled:');
      const second = await call('GET', '/me/drive/root:/throttled:');
      const body = (await second.json()) as { error: { code: string } };
      assert.equal(first.status, 404);
      assert.equal(second.status, 429);
      assert.equal(body.error.code, 'activityLimitReached');
      assert.equal(second.headers.get('retry-after'), expected);
    }
    emulator.faults.clear();
  });

  it('sends the Retry-After header name in the case given', async () => {
    emulator.faults.add({
      match: { target: 'api' },
      action: { kind: 'status', status: 503, retryAfter: 2, retryAfterHeader: 'retry-after' },
    });
    const rawHeaders = await new Promise<string[]>((resolve, reject) => {
      get(`${emulator.baseUrl}/me/drive`, (res) => {
        res.resume();
        resolve(res.rawHeaders);
      }).on('error', reject);
    });
    assert.ok(rawHeaders.includes('retry-after'));
    assert.ok(!rawHeaders.includes('Retry-After'));
  });

  it('fails a fragment with 507 when the quota runs out', async () => {
    const url = await openSession('/s/quota.bin');
    emulator.drive.setQuotaRemaining(UNIT + 10);
    try {
      assert.equal((await putFragment(url, bytes(UNIT, 7), 0, 3 * UNIT)).status, 202);
      const res = await putFragment(url, bytes(UNIT, 7), UNIT, 3 * UNIT);
      const body = (await res.json()) as { error: { code: string } };
      assert.equal(res.status, 507);
      assert.equal(body.error.code, 'quotaLimitReached');
    } finally {
      emulator.drive.setQuotaTotal(1024 ** 4);
      await fetch(url, { method: 'DELETE' });
    }
  });

  it('changes item metadata as the item faults say', async () => {
    const data = bytes(1000, 8);
    await emulator.drive.write('/h/item.bin', data);
    const read = async () =>
      (await (await call('GET', '/me/drive/root:/h/item.bin:')).json()) as {
        size: number;
        file: { hashes: { quickXorHash?: string } };
      };
    emulator.faults.corruptItem({ path: '/h/item.bin', kind: 'wrong-hash', times: 1 });
    const wrong = await read();
    assert.notEqual(wrong.file.hashes.quickXorHash, quickXorHash(data));
    assert.equal((await read()).file.hashes.quickXorHash, quickXorHash(data));
    emulator.faults.corruptItem({ path: '/h/item.bin', kind: 'no-hash', times: 1 });
    assert.deepEqual((await read()).file.hashes, {});
    emulator.faults.corruptItem({ path: '/h/item.bin', kind: 'size-plus-one', times: 1 });
    assert.equal((await read()).size, 1001);
    emulator.faults.clear();
  });

  it('logs method, path, Content-Range and status of each request', async () => {
    const url = await openSession('/s/logged.bin');
    await putFragment(url, bytes(10, 9), 0, 10);
    const entry = emulator.requests.at(-1)!;
    assert.equal(entry.method, 'PUT');
    assert.equal(entry.target, 'upload');
    assert.equal(entry.contentRange, 'bytes 0-9/10');
    assert.equal(entry.status, 201);
    assert.equal(entry.authorization, false);
    const create = emulator.requests.at(-2)!;
    assert.equal(create.path, '/v1.0/me/drive/root:/s/logged.bin:/createUploadSession');
  });
});

function bytes(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  for (let block = 0, offset = 0; offset < size; block++, offset += 32) {
    createHash('sha256').update(`${seed}:${block}`).digest().copy(out, offset);
  }
  return out;
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
