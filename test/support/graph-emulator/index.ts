/**
 * A Microsoft Graph drive emulator for tests: an HTTP server on 127.0.0.1
 * that serves the drive calls a storage backend needs, with a fault plan a
 * test sets while it runs.
 */
export { startGraphEmulator } from './server.ts';
export type { GraphEmulator, GraphEmulatorOptions, RequestLogEntry } from './server.ts';
export { EmulatedDrive } from './emulated-drive.ts';
export type { DriveEntry } from './emulated-drive.ts';
export { FaultPlan } from './faults.ts';
export type {
  ActiveFaultRule,
  FaultAction,
  FaultMatch,
  FaultRule,
  ItemFault,
  ItemFaultKind,
  RequestTarget,
} from './faults.ts';
export type { Permission, SignIn } from './context.ts';
export type { ConflictBehavior, DriveQuota, DriveType } from './drive.ts';
export { nameProblem } from './names.ts';
export { FRAGMENT_UNIT_BYTES, MAX_FRAGMENT_BYTES } from './upload-sessions.ts';
