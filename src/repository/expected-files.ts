/**
 * Lists the files that a repository's index and file lists name, with their
 * sizes, so that another copy (the OneDrive cloud behind a synced folder,
 * or the drive behind Graph) can be compared with it.
 */
import { FILE_TYPES } from '../backend/index.ts';
import type { Backend, ExpectedFile } from '../backend/index.ts';
import { masterKeyFromBytes, SEAL_OVERHEAD } from '../crypto/index.ts';
import { loadMasterIndex } from './master-index.ts';
import { encodeHeader } from './pack.ts';

// The pack header's length field that ends every pack (restic design document, "Pack format").
const HEADER_LENGTH_FIELD_BYTES = 4;

/**
 * Returns every pack the index lists, with the size its blobs and header
 * give it, and every other file of the repository as the backend lists it.
 */
export async function listExpectedFiles(
  backend: Backend,
  keyBytes: Uint8Array,
): Promise<ExpectedFile[]> {
  const index = await loadMasterIndex(backend, masterKeyFromBytes(keyBytes));
  const files: ExpectedFile[] = [];
  for (const { packId, blobs } of index.packs()) {
    const data = blobs.reduce((sum, blob) => sum + blob.length, 0);
    const header = encodeHeader(blobs).length + SEAL_OVERHEAD;
    files.push({
      name: `data/${packId.slice(0, 2)}/${packId}`,
      size: data + header + HEADER_LENGTH_FIELD_BYTES,
      sha256: packId,
    });
  }
  for (const type of FILE_TYPES) {
    if (type === 'data' || type === 'locks') continue;
    for (const { name, size } of await backend.list(type)) {
      const path = type === 'config' ? 'config' : `${type}/${name}`;
      files.push({ name: path, size, sha256: type === 'config' ? undefined : name });
    }
  }
  return files;
}
