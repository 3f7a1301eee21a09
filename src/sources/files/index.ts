/** The `files` source, which backs up config and log folders. */
export { createFilesSource, type FilesSourceDeps } from './files-source.ts';
export type { OwnerFiles } from './owner-names.ts';
