/**
 * Checks an uploaded item against what was sent: its size, then its
 * quickXorHash, or, when the service reports no hash, the SHA-256 of the
 * bytes read back (OneDrive sometimes returns items without hashes).
 */
import { createHash } from 'node:crypto';
import type { DriveItem } from './types.ts';

/** What was sent. */
export interface SentDigests {
  size: number;
  quickXorHash: string;
  sha256: string;
}

/** The outcome of a check: `mismatch` names what differed. */
export type VerifyResult =
  { kind: 'verified'; by: 'quickXorHash' | 'read-back' } | { kind: 'mismatch'; problem: string };

/** Checks `item` against `sent`; `readBack` streams the stored bytes when the item has no hash. */
export async function verifyItem(
  item: DriveItem,
  sent: SentDigests,
  readBack: () => Promise<AsyncIterable<Uint8Array>>,
): Promise<VerifyResult> {
  if (item.size !== sent.size) {
    return { kind: 'mismatch', problem: `size ${String(item.size)} instead of ${sent.size}` };
  }
  const reported = item.file?.hashes?.quickXorHash;
  if (reported !== undefined && reported !== '') {
    if (reported === sent.quickXorHash) return { kind: 'verified', by: 'quickXorHash' };
    return {
      kind: 'mismatch',
      problem: `quickXorHash ${reported} instead of ${sent.quickXorHash}`,
    };
  }
  const hash = createHash('sha256');
  let length = 0;
  for await (const chunk of await readBack()) {
    hash.update(chunk);
    length += chunk.length;
  }
  const sha256 = hash.digest('hex');
  if (length === sent.size && sha256 === sent.sha256) return { kind: 'verified', by: 'read-back' };
  return {
    kind: 'mismatch',
    problem: `read back ${length} bytes with SHA-256 ${sha256} instead of ${sent.sha256}`,
  };
}
