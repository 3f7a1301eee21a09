export { restorePostgres, type PostgresRestoreOptions } from './restore.ts';
export { classifyRestoreErrors, type ClassifiedErrors } from './pg-restore.ts';
export { parseToc, filterToc, type TocEntry, type TocFilter } from './toc.ts';
