/**
 * Test program for check.test.ts: opens the repository at argv[2] and saves
 * random data blobs into small packs until it is killed.
 */
import { randomBytes } from 'node:crypto';
import { LocalBackend } from '../backend/index.ts';
import { Repository } from './repository.ts';
import { TEST_PASSWORD } from './test-helpers.ts';

const path = process.argv[2];
if (!path) throw new Error('usage: crash-writer.ts REPOSITORY');
const repo = await Repository.open(new LocalBackend(path), TEST_PASSWORD, {
  packSizeTarget: 64 * 1024,
});
for (;;) await repo.saveBlob('data', randomBytes(16 * 1024));
