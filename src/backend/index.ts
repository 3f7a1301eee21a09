/** Public API of the storage backends. */
export { FILE_TYPES } from './types.ts';
export type { Backend, ByteRange, FileHandle, FileInfo, FileType, LeftoverFile, ExpectedFile } from './types.ts';
export { LocalBackend, isTemporaryName } from './local.ts';
