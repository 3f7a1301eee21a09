/** Public API of the Microsoft Graph backend. */
export { GraphBackend, DEFAULT_GRAPH_BASE_URL } from './backend.ts';
export { DEFAULT_GRAPH_FOLDER } from './paths.ts';
export { FRAGMENT_UNIT_BYTES, MAX_FRAGMENT_BYTES } from './upload.ts';
export { getDriveStatus, compareWithRemote } from './status.ts';
export type { DriveStatus, RemoteComparison } from './status.ts';
export { systemClock, FakeClock } from './clock.ts';
export type { Clock } from './clock.ts';
export { bufferSource } from './source.ts';
export { QuickXorHash, quickXorHash } from './quickxor.ts';
export type {
  AccessTokenProvider,
  DriveSelector,
  GraphBackendOptions,
  GraphQuota,
  UploadSource,
} from './types.ts';
