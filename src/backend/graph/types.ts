/**
 * Options of the Microsoft Graph backend and the parts of Graph's JSON that it
 * reads (Graph v1.0 reference: driveItem, uploadSession, drive, quota).
 */
import type { Logger } from '../../log/index.ts';
import type { Clock } from './clock.ts';

/**
 * Which drive holds the repository: `me` (the signed-in person's drive),
 * `user:<upn or id>` (a user's drive), `site:<site id>` (a SharePoint site's
 * default document library) or a bare drive id.
 */
export type DriveSelector = string;

/** Returns an access token for Graph; `forceRefresh` asks for a new one after a 401. */
export type AccessTokenProvider = (options?: { forceRefresh?: boolean }) => Promise<string>;

/** Settings of a GraphBackend; every field but the token provider has a default. */
export interface GraphBackendOptions {
  getAccessToken: AccessTokenProvider;
  /** Default `me`. */
  drive?: DriveSelector;
  /** Repository folder from the drive's root. Default `BGAPP_Backups/repository`. */
  folder?: string;
  /** Graph endpoint; national clouds use other hosts. Default `https://graph.microsoft.com/v1.0`. */
  baseUrl?: string;
  /** Files of at most this many bytes go up in one PUT. Default 4 MiB. */
  simpleUploadMaxBytes?: number;
  /** Upload session fragment size: a multiple of 320 KiB below 60 MiB. Default 10 MiB. */
  fragmentBytes?: number;
  /** Uploads and downloads in flight at once. Default 4. */
  concurrency?: number;
  /** Upload bandwidth limit in bytes per second; 0 means none. Default 0. */
  uploadBytesPerSecond?: number;
  /** Longest total wait on retries for one operation before it fails. Default 30 minutes. */
  maxRetryWaitMillis?: number;
  /** First back-off delay when the service gives no Retry-After. Default 1 s. */
  baseBackoffMillis?: number;
  /** Longest single back-off delay. Default 60 s. */
  maxBackoffMillis?: number;
  /** Timeout of one HTTP request. Default 5 minutes. */
  requestTimeoutMillis?: number;
  /**
   * Ends the waits between retries at once, as on SIGTERM. Requests are not
   * aborted, so that a stopped run can still remove its lock.
   */
  signal?: AbortSignal;
  /** Clock for waits; tests pass a fake one. */
  clock?: Clock;
  /** Source of jitter in [0, 1); tests pass a fixed one. */
  random?: () => number;
  logger?: Logger;
}

/** The hashes Graph reports for a file. OneDrive for Business and personal both give quickXorHash. */
export interface GraphHashes {
  quickXorHash?: string;
  sha1Hash?: string;
  sha256Hash?: string;
}

/** The fields of a driveItem that the backend reads. */
export interface DriveItem {
  id: string;
  name: string;
  size?: number;
  lastModifiedDateTime?: string;
  file?: { hashes?: GraphHashes };
  folder?: { childCount?: number };
}

/** A page of a folder's children. */
export interface DriveItemPage {
  value: DriveItem[];
  '@odata.nextLink'?: string;
}

/** An upload session as createUploadSession and a status request return it. */
export interface UploadSessionInfo {
  uploadUrl?: string;
  expirationDateTime?: string;
  nextExpectedRanges?: string[];
}

/** A drive's quota as Graph reports it, in bytes. */
export interface GraphQuota {
  total?: number;
  used?: number;
  remaining?: number;
  deleted?: number;
  state?: string;
}

/** The fields of a drive that the backend reads. */
export interface GraphDrive {
  id: string;
  driveType?: string;
  quota?: GraphQuota;
}

/** Bytes of a file to upload, read in pieces so a large file never sits in memory whole. */
export interface UploadSource {
  readonly size: number;
  /** Returns bytes `offset` to `offset + length - 1`. */
  read(offset: number, length: number): Promise<Uint8Array>;
}
