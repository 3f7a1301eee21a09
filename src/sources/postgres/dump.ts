/**
 * Streams the output of pg_dump or pg_dumpall straight into the snapshot.
 * The bytes are never held whole in memory nor written to a temporary file,
 * and the program's exit status is checked apart from the stream.
 */
import type { Readable } from 'node:stream';
import { BackupError, errorMessage } from '../../errors/index.ts';
import type { NodeMeta, SavedFile, SnapshotWriter } from '../../snapshot/index.ts';
import { collectText, spawnCommand, waitForExit, type PgCommand } from './tools.ts';

/** Result of streaming one program's output into a snapshot file. */
export interface StreamedOutput {
  saved: SavedFile;
  exitCode: number;
  stderr: string;
  /** The first bytes of the output, at most `headerBytes` of them. */
  header: Buffer;
}

/**
 * Runs `cmd` and stores its stdout as the file at `path` of `writer`. When
 * `signal` aborts, the program is stopped and the promise rejects with
 * ERR_ABORTED, whose message is the abort reason's.
 */
export async function streamCommandToFile(
  cmd: PgCommand,
  writer: SnapshotWriter,
  path: readonly string[],
  meta: NodeMeta,
  signal: AbortSignal,
  headerBytes = 5,
): Promise<StreamedOutput> {
  const child = spawnCommand(cmd, 'ignore', signal);
  const stderr = collectText(child.stderr);
  const exited = waitForExit(child);
  const probe = { header: Buffer.alloc(0) };
  const stdout = child.stdout;
  if (!stdout) throw new Error(`${cmd.file} has no stdout`);
  // When a child exits, Node.js drops the output not read yet, unless
  // the pipe has a 'readable' listener. The writer may start reading only once
  // the repository is open, after a short dump has ended.
  stdout.on('readable', () => {});

  let saved: SavedFile;
  let exitCode: number;
  try {
    [saved, exitCode] = await Promise.all([
      writer.addFile(path, meta, keepHeader(stdout, probe, headerBytes)),
      exited,
    ]);
  } catch (err) {
    child.kill('SIGTERM');
    // Node.js rejects an aborted child with its own "The operation was aborted",
    // which does not say why, so the reason (such as the signal) replaces it.
    if (signal.aborted) throw abortedError(signal, err);
    throw err;
  }
  // Ctrl-C on a terminal reaches the program too, which may then exit first.
  if (exitCode !== 0 && signal.aborted) throw abortedError(signal, signal.reason);
  return { saved, exitCode, stderr: stderr(), header: probe.header };
}

/** Returns ERR_ABORTED with the message of `signal`'s abort reason. */
function abortedError(signal: AbortSignal, cause: unknown): BackupError {
  return new BackupError('ERR_ABORTED', errorMessage(signal.reason), { cause });
}

/** Passes the chunks on unchanged and copies the first `size` bytes into `probe`. */
async function* keepHeader(
  stream: Readable,
  probe: { header: Buffer },
  size: number,
): AsyncIterable<Uint8Array> {
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (probe.header.length < size) {
      const needed = chunk.subarray(0, size - probe.header.length);
      probe.header = Buffer.concat([probe.header, needed]);
    }
    yield chunk;
  }
}
