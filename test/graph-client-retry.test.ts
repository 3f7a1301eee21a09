/**
 * Why the Graph backend does not use @microsoft/microsoft-graph-client: its
 * retry middleware does not retry the requests a backup makes most, uploads
 * sent as application/octet-stream, on 429 or 503. This test measures that
 * on the Graph emulator; when it starts failing, a newer client retries
 * uploads and the choice in the README's design section deserves a new look.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@microsoft/microsoft-graph-client';
import { startGraphEmulator } from './support/graph-emulator/index.ts';
import type { GraphEmulator } from './support/graph-emulator/index.ts';

describe('microsoft-graph-client retry middleware', () => {
  let emulator: GraphEmulator;
  let client: Client;

  before(async () => {
    emulator = await startGraphEmulator();
    client = Client.init({
      authProvider: (done) => done(null, emulator.token),
      baseUrl: emulator.origin,
      defaultVersion: 'v1.0',
    });
  });

  after(async () => {
    await emulator?.stop();
  });

  for (const status of [429, 503]) {
    it(`sends an octet-stream upload once on ${status}`, async () => {
      emulator.faults.clear();
      emulator.faults.add({
        match: { method: 'PUT' },
        nth: 1,
        action: { kind: 'status', status, retryAfter: 1 },
      });
      const before = emulator.requests.length;
      const upload = client
        .api(`/me/drive/root:/probe-${status}.bin:/content`)
        .header('Content-Type', 'application/octet-stream')
        .put(Buffer.alloc(1000, 1));
      await assert.rejects(upload, (err: { statusCode?: number }) => err.statusCode === status);
      assert.equal(emulator.requests.length - before, 1);
    });
  }
});
