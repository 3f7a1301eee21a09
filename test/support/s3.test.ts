import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { startS3Server } from './s3.ts';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startS3Server', () => {
  it('serves S3 on 127.0.0.1 until stopped', async () => {
    const server = await startS3Server();
    assert.match(server.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(isAlive(server.pid));
    const client = new S3Client({
      endpoint: server.endpoint,
      region: server.region,
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    });
    const listed = await client.send(new ListBucketsCommand({}));
    assert.deepEqual(listed.Buckets ?? [], []);

    await server.stop();
    assert.equal(isAlive(server.pid), false);
    assert.equal(existsSync(server.directory), false);
  });

  it('runs each server in its own folder', async () => {
    const [first, second] = await Promise.all([startS3Server(), startS3Server()]);
    try {
      assert.notEqual(first.directory, second.directory);
      assert.notEqual(first.endpoint, second.endpoint);
    } finally {
      await Promise.all([first.stop(), second.stop()]);
    }
  });
});
