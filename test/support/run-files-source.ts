/**
 * Command for tests that must run the `files` source or restore as another
 * user. It prints one JSON object on stdout and exits 0, or 1 on an error.
 *
 *   run-files-source.ts backup SOURCE_DIR
 *   run-files-source.ts backup-repo SOURCE_DIR REPO_DIR
 *   run-files-source.ts restore SOURCE_DIR TARGET_DIR
 *
 * `backup` prints `{ manifest, warnings }`. `backup-repo` does the same into a
 * new repository at REPO_DIR through the archiver's writer, whose workers
 * read the small files. `restore` backs SOURCE_DIR up in
 * memory and restores it into TARGET_DIR, then prints `{ report }`. Errors
 * print `{ error: { code, message } }`.
 */
import { RepositorySnapshotWriter } from '../../src/archiver/index.ts';
import { LocalBackend } from '../../src/backend/index.ts';
import { isBackupError, errorMessage } from '../../src/errors/index.ts';
import { silentLogger, type Warning } from '../../src/log/index.ts';
import { restoreFiles } from '../../src/restore/files/index.ts';
import { Repository } from '../../src/repository/index.ts';
import { scopeReader, scopeWriter, type SnapshotWriter } from '../../src/snapshot/index.ts';
import { createFilesSource } from '../../src/sources/files/index.ts';
import type { FilesManifest } from '../../src/sources/types.ts';
import { MemorySnapshot } from './memory-snapshot.ts';

async function backup(sourceDir: string, snapshot: SnapshotWriter) {
  const warnings: Warning[] = [];
  const source = createFilesSource({ type: 'files', name: 'cli', path: sourceDir, include: [], exclude: [] });
  const manifest = (await source.backup({
    writer: scopeWriter(snapshot, ['files', 'cli']),
    logger: silentLogger,
    signal: new AbortController().signal,
    onEvent: () => {},
    warn: (warning) => warnings.push(warning),
  })) as FilesManifest;
  return { manifest, warnings };
}

async function main(args: string[]): Promise<object> {
  const [command, sourceDir, targetDir] = args;
  const snapshot = new MemorySnapshot();
  if (command === 'backup' && sourceDir) return backup(sourceDir, snapshot);
  if (command === 'backup-repo' && sourceDir && targetDir) {
    // The minimum scrypt cost (no 0.5 s calibration) keeps the test quick.
    const repo = await Repository.init(new LocalBackend(targetDir), 'run-files-source test password', {
      kdfTargetMillis: 0,
    });
    const writer = new RepositorySnapshotWriter(repo);
    const result = await backup(sourceDir, writer);
    const finish = { tags: [], paths: ['/files/cli'], hostname: 'test', username: 'test', programVersion: 'test' };
    await writer.finish(finish);
    return result;
  }
  if (command === 'restore' && sourceDir && targetDir) {
    const { manifest } = await backup(sourceDir, snapshot);
    const report = await restoreFiles(
      {
        reader: scopeReader(snapshot, ['files', 'cli']),
        manifest,
        force: false,
        logger: silentLogger,
        signal: new AbortController().signal,
        onEvent: () => {},
      },
      { targetDir },
    );
    return { report };
  }
  throw new Error('usage: run-files-source.ts backup SOURCE_DIR | backup-repo SOURCE_DIR REPO_DIR | restore SOURCE_DIR TARGET_DIR');
}

try {
  process.stdout.write(JSON.stringify(await main(process.argv.slice(2))));
} catch (err) {
  const code = isBackupError(err) ? err.code : 'UNEXPECTED';
  process.stdout.write(JSON.stringify({ error: { code, message: errorMessage(err) } }));
  process.exitCode = 1;
}
