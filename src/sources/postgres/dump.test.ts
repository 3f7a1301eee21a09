import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BackupError, isBackupError } from '../../errors/index.ts';
import type { SavedFile, SnapshotWriter } from '../../snapshot/index.ts';
import { streamCommandToFile } from './dump.ts';

/** Returns a writer whose addFile starts reading only once `start` resolves. */
function lateWriter(start: Promise<unknown>, received: Buffer[]): SnapshotWriter {
  return {
    addDir: () => {},
    addSymlink: () => {},
    async addFile(_path, _meta, content): Promise<SavedFile> {
      await start;
      for await (const chunk of content as AsyncIterable<Uint8Array>) received.push(Buffer.from(chunk));
      const size = received.reduce((sum, chunk) => sum + chunk.length, 0);
      return { size, sha256: '' };
    },
  };
}

describe('streamCommandToFile', () => {
  it('keeps the output of a program that ends before reading starts', async () => {
    const received: Buffer[] = [];
    const cmd = { file: '/bin/sh', args: ['-c', 'printf PGDMP; printf " short dump"'], env: process.env };
    // The writer waits until the shell has exited, as it waits for the repository.
    const childGone = new Promise((resolve) => setTimeout(resolve, 300));
    const writer = lateWriter(childGone, received);
    const meta = { mode: 0o600, mtime: new Date(0) };
    const result = await streamCommandToFile(cmd, writer, ['geo.dump'], meta, new AbortController().signal);
    assert.equal(result.exitCode, 0);
    assert.equal(Buffer.concat(received).toString(), 'PGDMP short dump');
    assert.equal(result.header.toString(), 'PGDMP');
  });

  it('rejects with the abort reason when stopped', async () => {
    const received: Buffer[] = [];
    const cmd = { file: '/bin/sh', args: ['-c', 'printf PGDMP; exec sleep 30'], env: process.env };
    const controller = new AbortController();
    const writer = lateWriter(Promise.resolve(), received);
    const meta = { mode: 0o600, mtime: new Date(0) };
    const started = Date.now();
    setTimeout(() => controller.abort(new BackupError('ERR_ABORTED', 'interrupted by SIGINT')), 200);
    const run = streamCommandToFile(cmd, writer, ['geo.dump'], meta, controller.signal);

    await assert.rejects(run, (err) => {
      assert.ok(isBackupError(err, 'ERR_ABORTED'), String(err));
      assert.equal(err.message, 'interrupted by SIGINT');
      return true;
    });
    assert.ok(Date.now() - started < 10_000, 'the program was not stopped');
  });
});
