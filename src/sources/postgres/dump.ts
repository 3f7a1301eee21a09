/**
 * Streams the output of pg_dump or pg_dumpall straight into the snapshot.
 * The bytes are never held whole in memory nor written to a temporary file,
 * and the program's exit status is checked apart from the stream.
 */
import type { Readable } from 'node:stream';
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

/** Runs `cmd` and stores its stdout as the file at `path` of `writer`. */
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

  try {
    const [saved, exitCode] = await Promise.all([
      writer.addFile(path, meta, keepHeader(stdout, probe, headerBytes)),
      exited,
    ]);
    return { saved, exitCode, stderr: stderr(), header: probe.header };
  } catch (err) {
    child.kill('SIGTERM');
    throw err;
  }
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
