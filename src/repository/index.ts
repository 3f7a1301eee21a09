/** Public API of the repository engine (restic repository format version 2). */
export { Repository } from './repository.ts';
export type * from './types.ts';
export { listExpectedFiles } from './expected-files.ts';
