/**
 * Depth-first walk of a source folder that never follows symbolic links. Each
 * folder's children are listed and lstat-ed before the first one is yielded,
 * in byte order of their UTF-8 names, so the walk is repeatable.
 */
import { lstatSync, type BigIntStats } from 'node:fs';
import { readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { BackupError, errorMessage } from '../../errors/index.ts';
import { describeSystemError, warningKindOf, type EntryWarn } from './fs-warnings.ts';
import type { PathFilter } from './path-filter.ts';

/** One entry kept by the walk; `path` contains names relative to the source folder. */
export type WalkEntry =
  | { kind: 'dir'; path: string[]; absolutePath: string; stats: BigIntStats }
  | { kind: 'file'; path: string[]; absolutePath: string; stats: BigIntStats }
  | { kind: 'symlink'; path: string[]; absolutePath: string; stats: BigIntStats; target: string };

/**
 * lstat calls made between two turns of the event loop. The calls are
 * synchronous, because on 50,000 cached files an unchanged backup took
 * about 0.2 s less CPU time (2.5 instead of 2.7 s) than with promises.
 * NOTE: on a slow disk with a cold cache, each batch blocks the event loop
 * for up to this many inode reads.
 */
const LSTAT_BATCH = 64;

interface Child {
  name: string;
  absolutePath: string;
  stats: BigIntStats;
}

/**
 * Yields the source folder itself (path `[]`), then every entry below it that
 * the filter keeps, parents before children. Entries that cannot be read are
 * passed to `warn` and left out. Sockets, FIFOs and devices are left out with a
 * warning of kind 'skipped'. Folders are kept even when include patterns are
 * set and nothing below them matches, so those backups contain empty folders.
 */
export async function* walkFolder(
  root: string,
  filter: PathFilter,
  warn: EntryWarn,
): AsyncGenerator<WalkEntry> {
  const stats = await statRoot(root);
  yield { kind: 'dir', path: [], absolutePath: root, stats };
  yield* walkChildren(root, [], false, filter, warn);
}

// The root is followed when it is a symbolic link, because the user named it.
async function statRoot(root: string): Promise<BigIntStats> {
  let stats: BigIntStats;
  try {
    stats = await stat(root, { bigint: true });
  } catch (err) {
    throw new BackupError(
      'ERR_FILES_FAILED',
      `source folder ${root} cannot be read (${errorMessage(err)}): check the path in the config`,
      { cause: err },
    );
  }
  if (!stats.isDirectory()) {
    throw new BackupError(
      'ERR_FILES_FAILED',
      `source path ${root} is not a folder: set the path of the files source to a folder`,
    );
  }
  return stats;
}

async function* walkChildren(
  folder: string,
  folderPath: string[],
  underIncluded: boolean,
  filter: PathFilter,
  warn: EntryWarn,
): AsyncGenerator<WalkEntry> {
  for (const child of await listChildren(folder, folderPath, warn)) {
    const path = [...folderPath, child.name];
    const relative = path.join('/');
    if (filter.isExcluded(relative, child.name)) continue;

    const included = underIncluded || filter.isIncluded(relative, child.name);
    const { absolutePath, stats } = child;
    if (stats.isDirectory()) {
      yield { kind: 'dir', path, absolutePath, stats };
      const includesBelow = underIncluded || (filter.hasIncludes && included);
      yield* walkChildren(absolutePath, path, includesBelow, filter, warn);
    } else if (!included) {
      continue;
    } else if (stats.isFile()) {
      yield { kind: 'file', path, absolutePath, stats };
    } else if (stats.isSymbolicLink()) {
      const target = await readTarget(absolutePath, relative, warn);
      if (target !== undefined) yield { kind: 'symlink', path, absolutePath, stats, target };
    } else {
      warn(relative, 'skipped', `${relative} is a ${specialKind(stats)}, which is not backed up`);
    }
  }
}

async function listChildren(folder: string, folderPath: string[], warn: EntryWarn): Promise<Child[]> {
  const relative = folderPath.join('/');
  let names: Buffer[];
  try {
    names = await readdir(folder, { encoding: 'buffer' });
  } catch (err) {
    if (folderPath.length === 0) {
      throw new BackupError(
        'ERR_FILES_FAILED',
        `source folder ${folder} cannot be listed (${errorMessage(err)}): run the backup as a user who can read it`,
        { cause: err },
      );
    }
    reportEntryError(err, relative, 'the folder is kept but its contents are not', warn);
    return [];
  }

  names.sort(Buffer.compare);
  const children: Child[] = [];
  for (const [index, raw] of names.entries()) {
    if (index > 0 && index % LSTAT_BATCH === 0) await nextTurn();
    const child = lstatChild(folder, folderPath, raw, warn);
    if (child) children.push(child);
  }
  return children;
}

function lstatChild(
  folder: string,
  folderPath: string[],
  raw: Buffer,
  warn: EntryWarn,
): Child | undefined {
  const name = raw.toString('utf8');
  const relative = [...folderPath, name].join('/');
  // Snapshot paths are strings, so a name that is not valid UTF-8 would be
  // restored under another name. Such a name is left out instead.
  if (!Buffer.from(name, 'utf8').equals(raw)) {
    warn(relative, 'skipped', `a name in ${folder} is not valid UTF-8 (hex ${raw.toString('hex')}), so it is not backed up`);
    return undefined;
  }
  const absolutePath = join(folder, name);
  try {
    return { name, absolutePath, stats: lstatSync(absolutePath, { bigint: true }) };
  } catch (err) {
    reportEntryError(err, relative, 'it is not backed up', warn);
    return undefined;
  }
}

async function readTarget(absolutePath: string, relative: string, warn: EntryWarn): Promise<string | undefined> {
  try {
    const raw = await readlink(absolutePath, { encoding: 'buffer' });
    const target = raw.toString('utf8');
    if (Buffer.from(target, 'utf8').equals(raw)) return target;
    warn(relative, 'skipped', `the target of symbolic link ${relative} is not valid UTF-8, so the link is not backed up`);
  } catch (err) {
    reportEntryError(err, relative, 'the link is not backed up', warn);
  }
  return undefined;
}

function reportEntryError(err: unknown, relative: string, consequence: string, warn: EntryWarn): void {
  const kind = warningKindOf(err);
  if (kind === undefined) throw err;
  warn(relative, kind, `cannot read ${relative}: ${describeSystemError(err)}, so ${consequence}`);
}

function specialKind(stats: BigIntStats): string {
  if (stats.isSocket()) return 'socket';
  if (stats.isFIFO()) return 'FIFO';
  if (stats.isBlockDevice()) return 'block device';
  return 'character device';
}
