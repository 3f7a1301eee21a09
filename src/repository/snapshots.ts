/** Snapshot files: sealed, compressed JSON in `snapshots/`, named by the SHA-256 of the file. */
import { createHash } from 'node:crypto';
import type { Backend } from '../backend/index.ts';
import { openUnpacked, sealUnpacked, type MasterKey } from '../crypto/index.ts';
import { BackupError, errorMessage, isBackupError } from '../errors/index.ts';
import { isId } from './ids.ts';
import type { Id, SnapshotEntry, SnapshotJson } from './types.ts';

/** Stores a snapshot; returns its id. */
export async function writeSnapshot(
  backend: Backend,
  key: MasterKey,
  snapshot: SnapshotJson,
): Promise<Id> {
  const sealed = sealUnpacked(key, Buffer.from(JSON.stringify(snapshot)));
  const id = createHash('sha256').update(sealed).digest('hex');
  await backend.save({ type: 'snapshots', name: id }, sealed);
  return id;
}

/** Loads one snapshot; ERR_SNAPSHOT_NOT_FOUND when the file is missing. */
export async function readSnapshot(
  backend: Backend,
  key: MasterKey,
  id: Id,
): Promise<SnapshotJson> {
  if (!isId(id) || !(await backend.stat({ type: 'snapshots', name: id }))) {
    throw new BackupError(
      'ERR_SNAPSHOT_NOT_FOUND',
      `snapshot ${id} not found in ${backend.location}; list snapshots with \`bgapp-backup snapshots\``,
    );
  }
  const sealed = await backend.load({ type: 'snapshots', name: id });
  try {
    return JSON.parse(openUnpacked(key, sealed).toString('utf8')) as SnapshotJson;
  } catch (err) {
    throw new BackupError(
      'ERR_REPO_CORRUPT',
      `snapshot file snapshots/${id} cannot be read: ${errorMessage(err)}`,
      { cause: err },
    );
  }
}

/**
 * Loads every snapshot whose file name is an id, oldest first. A snapshot
 * file that cannot be decrypted or parsed fails the call, unless
 * `onUnreadable` is given: then the error goes there and the file is left out.
 */
export async function readAllSnapshots(
  backend: Backend,
  key: MasterKey,
  onUnreadable?: (id: Id, err: BackupError) => void,
): Promise<SnapshotEntry[]> {
  const entries: SnapshotEntry[] = [];
  for (const { name } of await backend.list('snapshots')) {
    if (!isId(name)) continue;
    try {
      entries.push({ id: name, snapshot: await readSnapshot(backend, key, name) });
    } catch (err) {
      if (onUnreadable === undefined || !isBackupError(err, 'ERR_REPO_CORRUPT')) throw err;
      onUnreadable(name, err);
    }
  }
  return entries.sort((a, b) => Date.parse(a.snapshot.time) - Date.parse(b.snapshot.time));
}

/**
 * Picks a snapshot by `latest`, a full id or a unique id prefix, among those
 * carrying `tag` when given.
 */
export function pickSnapshot(
  entries: readonly SnapshotEntry[],
  ref: string,
  tag?: string,
): SnapshotEntry {
  const candidates = tag ? entries.filter((e) => e.snapshot.tags?.includes(tag)) : entries;
  const withTag = tag ? ` with tag "${tag}"` : '';
  if (ref === 'latest') {
    const latest = candidates.at(-1);
    if (!latest) throw notFound(`no snapshot${withTag} exists`);
    return latest;
  }
  const matches = candidates.filter((e) => e.id.startsWith(ref.toLowerCase()));
  const [first, second] = matches;
  if (!first || ref.length === 0) throw notFound(`snapshot "${ref}"${withTag} not found`);
  if (second) {
    const ids = matches.map((m) => m.id.slice(0, 8)).join(', ');
    throw new BackupError(
      'ERR_SNAPSHOT_AMBIGUOUS',
      `snapshot prefix "${ref}" matches ${matches.length} snapshots (${ids}); give more characters of the id`,
    );
  }
  return first;
}

function notFound(problem: string): BackupError {
  return new BackupError(
    'ERR_SNAPSHOT_NOT_FOUND',
    `${problem}; list snapshots with \`bgapp-backup snapshots\``,
  );
}
