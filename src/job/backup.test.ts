import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { BackupError } from '../errors/index.ts';
import { silentLogger } from '../log/index.ts';
import type { Source, SourceBackupContext, SourceManifest } from '../sources/index.ts';
import { MemorySnapshot } from '../../test/support/memory-snapshot.ts';
import { runBackup, type OpenedRun, type SnapshotSession } from './backup.ts';

/** Returns a session over a MemorySnapshot that records whether it finished or was aborted. */
function memorySession(snapshot: MemorySnapshot, ends: string[]): SnapshotSession {
  return {
    addDir: (path, meta) => snapshot.addDir(path, meta),
    addSymlink: (path, meta, target) => snapshot.addSymlink(path, meta, target),
    addFile: (path, meta, content) => snapshot.addFile(path, meta, content),
    async finish() {
      ends.push('finish');
      return { snapshotId: 'a'.repeat(64), storedBytes: 0 };
    },
    async abort() {
      ends.push('abort');
    },
  };
}

/** Returns a source that adds a folder and a file, and notes when it starts and ends. */
function recordingSource(startsEarly: boolean, events: string[]): Source {
  return {
    type: 'postgres',
    name: 'geo',
    startsEarly,
    async backup(ctx: SourceBackupContext): Promise<SourceManifest> {
      events.push('source started');
      const mtime = new Date(0);
      ctx.writer.addDir(['extra'], { mode: 0o755, mtime });
      await ctx.writer.addFile(['extra', 'dump'], { mode: 0o600, mtime }, Readable.from([Buffer.from('rows')]));
      events.push('source done');
      return { type: 'files', name: 'geo', path: '/', readAt: '', finishedAt: '', files: 1, bytes: 4, sha256: {} };
    },
  };
}

/** Returns the options of runBackup for one source and the given open(). */
function jobOptions(source: Source, open: () => Promise<OpenedRun>) {
  return {
    sources: [source],
    open,
    hostname: 'test',
    logger: silentLogger,
    onEvent: () => {},
    signal: new AbortController().signal,
  };
}

describe('runBackup', () => {
  it('starts an early source before the repository opens', async () => {
    const events: string[] = [];
    const ends: string[] = [];
    const snapshot = new MemorySnapshot();
    const source = recordingSource(true, events);
    await runBackup(
      jobOptions(source, async () => {
        // The source has run up to its first file before the repository is there.
        await new Promise((resolve) => setTimeout(resolve, 20));
        events.push('repository open');
        return { session: memorySession(snapshot, ends) };
      }),
    );
    assert.deepEqual(events, ['source started', 'repository open', 'source done']);
    assert.deepEqual(ends, ['finish']);
    assert.equal((await snapshot.lookup(['postgres', 'geo', 'extra']))?.type, 'dir');
    assert.equal((await snapshot.lookup(['postgres', 'geo', 'extra', 'dump']))?.size, 4);
  });

  it('starts other sources after the repository opens', async () => {
    const events: string[] = [];
    const source = recordingSource(false, events);
    await runBackup(
      jobOptions(source, async () => {
        events.push('repository open');
        return { session: memorySession(new MemorySnapshot(), []) };
      }),
    );
    assert.deepEqual(events, ['repository open', 'source started', 'source done']);
  });

  it("reports the repository's error over an early source's", async () => {
    const events: string[] = [];
    const source = recordingSource(true, events);
    const wrongPassword = new BackupError('ERR_PASSWORD_WRONG', 'wrong password');
    await assert.rejects(
      runBackup(
        jobOptions(source, async () => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          throw wrongPassword;
        }),
      ),
      (err: unknown) => err instanceof BackupError && err.cause === wrongPassword,
    );
    assert.deepEqual(events, ['source started']);
  });

  it('aborts the session when an early source fails', async () => {
    const ends: string[] = [];
    const failing: Source = {
      type: 'postgres',
      name: 'geo',
      startsEarly: true,
      backup: async () => {
        throw new BackupError('ERR_SOURCE_FAILED', 'connection refused');
      },
    };
    await assert.rejects(
      runBackup(jobOptions(failing, async () => ({ session: memorySession(new MemorySnapshot(), ends) }))),
      /source geo: connection refused/,
    );
    assert.deepEqual(ends, ['abort']);
  });
});
