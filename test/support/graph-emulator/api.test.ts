import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startGraphEmulator, type GraphEmulator } from './index.ts';

describe('GraphEmulator API', () => {
  let emulator: GraphEmulator;

  before(async () => {
    emulator = await startGraphEmulator({ simpleUploadMaxBytes: 1000, pageSize: 3 });
  });
  after(async () => {
    await emulator.stop();
  });

  function call(method: string, path: string, init: RequestInit = {}): Promise<Response> {
    const headers = { Authorization: `Bearer ${emulator.token}`, ...(init.headers as Record<string, string>) };
    return fetch(`${emulator.baseUrl}${path}`, { ...init, method, headers, redirect: 'manual' });
  }

  it('reports the quota on GET /me/drive', async () => {
    await emulator.drive.write('/quota/seed.bin', Buffer.alloc(100));
    const res = await call('GET', '/me/drive');
    const body = (await res.json()) as { id: string; quota: Record<string, unknown> };
    assert.equal(res.status, 200);
    assert.equal(body.id, emulator.driveId);
    assert.equal(body.quota.used, 100);
    assert.equal(body.quota.remaining, 1024 ** 4 - 100);
    assert.equal(body.quota.state, 'normal');
  });

  it('rejects a wrong bearer token with 401', async () => {
    const res = await fetch(`${emulator.baseUrl}/me/drive`, { headers: { Authorization: 'Bearer wrong' } });
    const body = (await res.json()) as { error: { code: string; innerError: unknown } };
    assert.equal(res.status, 401);
    assert.equal(body.error.code, 'InvalidAuthenticationToken');
    assert.ok(body.error.innerError);
  });

  it('rejects writes with 403 when the permission is read', async () => {
    emulator.setPermission('read');
    try {
      const res = await call('PUT', '/me/drive/root:/denied.txt:/content', { body: 'x' });
      const body = (await res.json()) as { error: { code: string } };
      assert.equal(res.status, 403);
      assert.equal(body.error.code, 'accessDenied');
    } finally {
      emulator.setPermission('read-write');
    }
  });

  it('reaches the same drive by user, drive id and site', async () => {
    await emulator.drive.write('/shared/one.txt', Buffer.from('1'));
    const prefixes = [
      `/users/${encodeURIComponent(emulator.userPrincipalName)}/drive`,
      `/drives/${emulator.driveId}`,
      `/sites/${emulator.siteId}/drive`,
    ];
    for (const prefix of prefixes) {
      const res = await call('GET', `${prefix}/root:/shared/one.txt`);
      assert.equal(res.status, 200, prefix);
    }
    const unknown = await call('GET', '/drives/b!nothere/root');
    assert.equal(unknown.status, 404);
  });

  it('returns 404 itemNotFound for a missing path', async () => {
    const res = await call('GET', '/me/drive/root:/no/such/file:');
    const body = (await res.json()) as { error: { code: string } };
    assert.equal(res.status, 404);
    assert.equal(body.error.code, 'itemNotFound');
  });

  it('stores a simple upload with its quickXorHash', async () => {
    const res = await call('PUT', '/me/drive/root:/up/hello.txt:/content', { body: 'hello world' });
    const item = (await res.json()) as { size: number; file: { hashes: Record<string, string> } };
    assert.equal(res.status, 201);
    assert.equal(item.size, 11);
    assert.deepEqual(item.file.hashes, { quickXorHash: 'aCgDG9jwBhDc4Q1yawMZAAAAAAA=' });
    const again = await call('PUT', '/me/drive/root:/up/hello.txt:/content', { body: 'hello again' });
    assert.equal(again.status, 200);
  });

  it('rejects a simple upload over the limit with 413', async () => {
    const res = await call('PUT', '/me/drive/root:/up/big.bin:/content', { body: Buffer.alloc(1001) });
    assert.equal(res.status, 413);
    assert.equal(emulator.drive.stat('/up/big.bin'), undefined);
  });

  it('returns 409 when conflictBehavior is fail and the name exists', async () => {
    await emulator.drive.write('/conflict/a.txt', Buffer.from('a'));
    const put = await call('PUT', '/me/drive/root:/conflict/a.txt:/content?@microsoft.graph.conflictBehavior=fail', {
      body: 'b',
    });
    assert.equal(put.status, 409);
    const folder = await call('POST', '/me/drive/root:/conflict:/children', {
      body: JSON.stringify({ name: 'a.txt', folder: {}, '@microsoft.graph.conflictBehavior': 'rename' }),
      headers: { 'Content-Type': 'application/json' },
    });
    const created = (await folder.json()) as { name: string };
    assert.equal(folder.status, 201);
    assert.equal(created.name, 'a 1.txt');
  });

  it('rejects names OneDrive rejects with 400', async () => {
    for (const name of ['a:b', 'trailing.', 'CON', '.lock', 'desktop.ini', 'x_vti_y', 'q?']) {
      const res = await call('PUT', `/me/drive/root:/names/${encodeURIComponent(name)}:/content`, { body: 'x' });
      const body = (await res.json()) as { error: { code: string } };
      assert.equal(res.status, 400, name);
      assert.equal(body.error.code, 'invalidRequest', name);
    }
  });

  it('pages children with $top and @odata.nextLink', async () => {
    for (const name of ['a', 'b', 'c', 'd', 'e']) {
      await emulator.drive.write(`/paged/${name}`, Buffer.from(name));
    }
    const names: string[] = [];
    let next: string | undefined = `${emulator.baseUrl}/me/drive/root:/paged:/children?$top=2`;
    let pages = 0;
    while (next !== undefined) {
      const res = await fetch(next, { headers: { Authorization: `Bearer ${emulator.token}` } });
      const body = (await res.json()) as { value: Array<{ name: string }>; '@odata.nextLink'?: string };
      names.push(...body.value.map((item) => item.name));
      next = body['@odata.nextLink'];
      pages += 1;
    }
    assert.deepEqual(names, ['a', 'b', 'c', 'd', 'e']);
    assert.equal(pages, 3);
  });

  it('redirects content to a download URL that honours Range', async () => {
    await emulator.drive.write('/dl/file.bin', Buffer.from('0123456789'));
    const res = await call('GET', '/me/drive/root:/dl/file.bin:/content');
    const location = res.headers.get('location');
    assert.equal(res.status, 302);
    assert.ok(location);
    const ranged = await fetch(location, { headers: { Range: 'bytes=2-5' } });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.headers.get('content-range'), 'bytes 2-5/10');
    assert.equal(await ranged.text(), '2345');
    const suffix = await fetch(location, { headers: { Range: 'bytes=-3' } });
    assert.equal(await suffix.text(), '789');
    const beyond = await fetch(location, { headers: { Range: 'bytes=10-' } });
    assert.equal(beyond.status, 416);
  });

  it('deletes an item and counts its bytes as deleted', async () => {
    await emulator.drive.write('/del/gone.bin', Buffer.alloc(50));
    const before = emulator.drive.quota().deleted;
    const res = await call('DELETE', '/me/drive/root:/del/gone.bin:');
    assert.equal(res.status, 204);
    assert.equal(emulator.drive.stat('/del/gone.bin'), undefined);
    assert.equal(emulator.drive.quota().deleted, before + 50);
    const again = await call('GET', '/me/drive/root:/del/gone.bin:');
    assert.equal(again.status, 404);
  });

  it('rejects /me for an application sign-in', async () => {
    const appOnly = await startGraphEmulator({ signIn: 'application' });
    try {
      const headers = { Authorization: `Bearer ${appOnly.token}` };
      const me = await fetch(`${appOnly.baseUrl}/me/drive`, { headers });
      const byId = await fetch(`${appOnly.baseUrl}/drives/${appOnly.driveId}`, { headers });
      assert.equal(me.status, 400);
      assert.equal(byId.status, 200);
    } finally {
      await appOnly.stop();
    }
  });
});
