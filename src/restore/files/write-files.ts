/**
 * Writing of a restore's files, several at once. Each file is written and
 * hashed by `writeFile`. A file that a damaged or missing pack spoils is
 * listed and not written, and the others are still restored.
 */
import type { FilesManifest } from '../../sources/types.ts';
import { unreadableDifference } from '../checks.ts';
import type { RestoreContext } from '../types.ts';
import type { PlannedNode } from './plan.ts';
import { writeFile, type WriteOptions } from './write-nodes.ts';

/**
 * Slots shared by the files written at once. A file of one blob takes one
 * slot. A longer file takes LARGE_FILE_SLOTS, because the snapshot reader
 * loads up to 8 of its blobs ahead, so at most about MAX_SLOTS blobs are in
 * memory at once.
 */
const MAX_SLOTS = 16;
const LARGE_FILE_SLOTS = 8;

/** Outcome of writing a restore's files. */
export interface WrittenFiles {
  /** Hex SHA-256 of each written file, by relative path, in plan order. */
  sha256: Map<string, string>;
  /** One message for each file that could not be read from the repository, in plan order. */
  unreadable: string[];
}

type FileOutcome = { sha256: string } | { unreadable: string } | undefined;

/**
 * Writes every file node of `files` below its path from `at`, up to
 * MAX_SLOTS slots at once. Raises the first failure other than an unreadable
 * blob once the files already started have settled, so no write continues
 * after it returns.
 */
export async function writeFiles(
  ctx: RestoreContext<FilesManifest>,
  files: readonly PlannedNode[],
  at: (path: readonly string[]) => string,
  options: WriteOptions,
  throwIfAborted: () => void,
): Promise<WrittenFiles> {
  const outcomes: FileOutcome[] = new Array(files.length);
  const running = new Set<Promise<void>>();
  let usedSlots = 0;
  let failure: { error: unknown } | undefined;

  for (let i = 0; i < files.length && failure === undefined; i++) {
    const { path, node } = files[i]!;
    const slots = (node.content?.length ?? 0) > 1 ? LARGE_FILE_SLOTS : 1;
    while (usedSlots + slots > MAX_SLOTS && running.size > 0) await Promise.race(running);
    if (failure !== undefined) break;
    throwIfAborted();
    usedSlots += slots;
    const task = writeOne(ctx, path, at(path), node, options)
      .then((outcome) => {
        outcomes[i] = outcome;
      })
      .catch((error: unknown) => {
        failure ??= { error };
      })
      .finally(() => {
        usedSlots -= slots;
        running.delete(task);
      });
    running.add(task);
  }
  await Promise.all(running);
  if (failure !== undefined) throw failure.error;
  return collect(files, outcomes);
}

async function writeOne(
  ctx: RestoreContext<FilesManifest>,
  path: readonly string[],
  absolutePath: string,
  node: PlannedNode['node'],
  options: WriteOptions,
): Promise<FileOutcome> {
  const relative = path.join('/');
  let sha256: string;
  try {
    // The manifest's SHA-256, compared after the restore, covers each blob of the file.
    const hashChecked = Object.hasOwn(ctx.manifest.sha256, relative);
    sha256 = await writeFile(absolutePath, node, ctx.reader, options, hashChecked);
  } catch (err) {
    // A damaged or missing pack spoils the files that use it, not the
    // others: they are still restored, and each spoiled one is listed.
    // writeFile has removed what it wrote and kept an entry it would replace.
    return { unreadable: unreadableDifference(relative, err) };
  }
  ctx.onEvent({ type: 'item', source: ctx.manifest.name, item: relative, bytes: node.size ?? 0 });
  return { sha256 };
}

function collect(files: readonly PlannedNode[], outcomes: readonly FileOutcome[]): WrittenFiles {
  const written: WrittenFiles = { sha256: new Map(), unreadable: [] };
  outcomes.forEach((outcome, i) => {
    if (outcome === undefined) return;
    if ('sha256' in outcome) written.sha256.set(files[i]!.path.join('/'), outcome.sha256);
    else written.unreadable.push(outcome.unreadable);
  });
  return written;
}
