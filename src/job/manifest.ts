/**
 * manifest.json: written into every snapshot at its root, so that a restore
 * can be verified against what was read, and so that someone with only
 * restic can see what the snapshot holds.
 */
import { Readable } from 'node:stream';
import { BackupError, errorMessage } from '../errors/index.ts';
import type { SnapshotReader, SnapshotWriter } from '../snapshot/index.ts';
import type { SourceManifest } from '../sources/index.ts';

/** Name of the manifest file at the root of every snapshot. */
export const MANIFEST_NAME = 'manifest.json';

/** Version of the manifest layout, bumped when a field changes meaning. */
export const MANIFEST_FORMAT = 'bgapp-backup-manifest/1';

/** The contents of manifest.json. */
export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  tool: { name: 'bgapp-backup'; version: string; node: string };
  hostname: string;
  startedAt: string;
  finishedAt: string;
  /** Problems that did not stop the run; the snapshot is tagged `partial` when any. */
  warnings: { source: string; item: string; kind: string; message: string }[];
  sources: SourceManifest[];
}

/** Stores `manifest` as /manifest.json of the snapshot being written. */
export async function writeManifest(writer: SnapshotWriter, manifest: Manifest): Promise<void> {
  const bytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8');
  const now = new Date();
  await writer.addFile([MANIFEST_NAME], { mode: 0o644, mtime: now }, Readable.from([bytes]));
}

/**
 * Reads /manifest.json of a snapshot. Raises ERR_SNAPSHOT_NOT_FOUND when it
 * is missing and ERR_REPO_CORRUPT when it is invalid.
 */
export async function readManifest(reader: SnapshotReader, snapshotId: string): Promise<Manifest> {
  const node = await reader.lookup([MANIFEST_NAME]);
  if (!node || node.type !== 'file') {
    throw new BackupError(
      'ERR_SNAPSHOT_NOT_FOUND',
      `snapshot ${snapshotId.slice(0, 8)} holds no ${MANIFEST_NAME}; it was not written by bgapp-backup, ` +
        'so restore it whole with --target-dir and no --source, or with `restic restore`',
    );
  }
  const parts: Buffer[] = [];
  for await (const chunk of reader.openFile(node)) parts.push(Buffer.from(chunk as Uint8Array));
  try {
    const parsed = JSON.parse(Buffer.concat(parts).toString('utf8')) as Manifest;
    if (parsed.format !== MANIFEST_FORMAT)
      throw new Error(`unknown format ${String(parsed.format)}`);
    return parsed;
  } catch (err) {
    throw new BackupError(
      'ERR_REPO_CORRUPT',
      `invalid ${MANIFEST_NAME} in snapshot ${snapshotId.slice(0, 8)}: ${errorMessage(err)}`,
      { cause: err },
    );
  }
}
