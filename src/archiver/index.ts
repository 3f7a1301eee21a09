/** Public API of the archiver: snapshots written into and read from a Repository. */
export { RepositorySnapshotWriter } from './writer.ts';
export type { FinishOptions, FinishResult, SnapshotWriterOptions } from './writer.ts';
export { RepositorySnapshotReader } from './reader.ts';
export type { SnapshotReaderOptions } from './reader.ts';
export type { ArchiverRepository, ArchiveStats } from './blob-saver.ts';
export { BlobWorkerPool } from './worker-pool.ts';
export type { HashedChunk, SealedChunk, WorkerPoolOptions } from './worker-pool.ts';
export { compareNames, decodeTree, encodeNode, encodeTree } from './tree.ts';
export type { EncodableNode } from './tree.ts';
