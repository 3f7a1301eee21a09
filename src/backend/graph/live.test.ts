/**
 * The backend conformance suite against a real OneDrive, through Microsoft
 * Graph. It runs only when credentials are given in the environment, and
 * never in CI:
 *
 * - BGAPP_LIVE_GRAPH_TOKEN_FILE: a file holding a Graph access token with
 *   Files.ReadWrite (for example from `az account get-access-token
 *   --resource-type ms-graph`);
 * - BGAPP_LIVE_GRAPH_DRIVE: `me` (the default), `user:<name@tenant>`, a drive
 *   id or `site:<site id>`;
 * - BGAPP_LIVE_GRAPH_BASE_URL: the Graph endpoint, for national clouds.
 *
 * Each test works in a new folder `bgapp-backup-live-test/<random>` that it
 * deletes afterwards.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { runBackendConformance } from '../conformance.ts';
import { GraphBackend } from './backend.ts';

const tokenFile = process.env.BGAPP_LIVE_GRAPH_TOKEN_FILE;
const skipReason = process.env.CI
  ? 'live OneDrive tests never run in CI'
  : tokenFile
    ? undefined
    : 'set BGAPP_LIVE_GRAPH_TOKEN_FILE to run the conformance suite against a real OneDrive';

if (skipReason === undefined && tokenFile) {
  runBackendConformance('GraphBackend on a real OneDrive', async () => {
    const backend = new GraphBackend({
      getAccessToken: async () => (await readFile(tokenFile, 'utf8')).trim(),
      drive: process.env.BGAPP_LIVE_GRAPH_DRIVE ?? 'me',
      baseUrl: process.env.BGAPP_LIVE_GRAPH_BASE_URL,
      folder: `bgapp-backup-live-test/${randomUUID()}`,
    });
    await backend.create();
    return { backend, dispose: () => backend.removeRepositoryFolder() };
  });
} else {
  describe('GraphBackend on a real OneDrive', () => {
    it('runs the conformance suite when credentials are given', { skip: skipReason }, () => {});
  });
}
