/**
 * Contract of the restorers: each reads one source's folder of a snapshot
 * and writes it into a target, then checks the result against the manifest.
 */
import type { Logger, ProgressListener } from '../log/index.ts';
import type { SnapshotReader } from '../snapshot/index.ts';

/** What every restorer is handed. */
export interface RestoreContext<M> {
  /** Reader scoped to the source's folder, `/<type>/<name>/`. */
  reader: SnapshotReader;
  /** The source's part of the snapshot's manifest.json. */
  manifest: M;
  /** Replace a target that is not empty. */
  force: boolean;
  logger: Logger;
  signal: AbortSignal;
  onEvent: ProgressListener;
}

/** Outcome of one source's restore. */
export interface RestoreReport {
  source: string;
  type: 'postgres' | 's3' | 'files';
  /** Database URL without password, bucket or folder written to. */
  target: string;
  /** True when the result matched the manifest. */
  verified: boolean;
  /** Each way the result differs from the manifest; empty when verified. */
  differences: string[];
  /** Things the user should know, such as tolerated pg_restore messages. */
  notes: string[];
}
