/** The restore of a `files` source's folder. */
export { restoreFiles, type FilesRestoreOptions } from './restore-files.ts';
export { unsafeNameReason } from './plan.ts';
export type { OneBlobFile } from '../../snapshot/index.ts';
export type { WorkerFileWriter } from './write-nodes.ts';
