/**
 * A SnapshotWriter wrapper for tests of the parent-snapshot fast path: it
 * records which paths were read and which were taken from the parent.
 */
import type { SnapshotWriter } from '../../src/snapshot/index.ts';

/** Wraps `writer`, appending each read path to `read` and each reused one to `reused`. */
export function recordingWriter(
  writer: SnapshotWriter,
  read: string[],
  reused: string[],
): SnapshotWriter {
  return {
    addDir: (path, meta) => writer.addDir(path, meta),
    addSymlink: (path, meta, target) => writer.addSymlink(path, meta, target),
    addFile: (path, meta, content) => {
      read.push(path.join('/'));
      return writer.addFile(path, meta, content);
    },
    addLocalFile: writer.addLocalFile
      ? async (path, file, meta) => {
          const result = await writer.addLocalFile!(path, file, meta);
          if (result !== undefined) read.push(path.join('/'));
          return result;
        }
      : undefined,
    addExistingFile: (path, meta, file) => {
      const added = writer.addExistingFile?.(path, meta, file) ?? false;
      if (added) reused.push(path.join('/'));
      return added;
    },
  };
}
