export * from './atomic-file.ts';
export * from './folder.ts';
export * from './plain-copies.ts';
export { writeFolderArchive } from './tar-folder.ts';
