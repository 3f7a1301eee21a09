/** Types of a loaded and validated config. */
import type { FilesSourceConfig, PostgresSourceConfig, S3SourceConfig } from '../sources/index.ts';

/** Environment variables, as in `process.env`. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Folder of BGAPP_Backups that receives a `files` source's plain copies. */
export type PlainCopyFolder = 'configs' | 'logs';

/** A `files` source with the folder its plain copies go to. */
export interface FilesSourceSettings extends FilesSourceConfig {
  plain_copy_folder: PlainCopyFolder;
}

/**
 * A validated source. The `secret_access_key` of an s3 source is a non-enumerable
 * property, so it is left out of JSON and logs.
 */
export type ConfiguredSource = PostgresSourceConfig | S3SourceConfig | FilesSourceSettings;

/** Settings of the Microsoft Graph backend; file paths are absolute. */
export interface GraphSettings {
  /** `me`, `user:<name@tenant>`, a drive id, or `site:<site id>`. */
  drive: string;
  base_url: string;
  /** Sign-in authority, `https://login.microsoftonline.com/<tenant>`. */
  authority?: string;
  client_id?: string;
  client_secret_file?: string;
  client_certificate_file?: string;
  /** A file holding an access token issued elsewhere. */
  access_token_file?: string;
  /** Where `login` keeps its token cache (mode 0600). */
  token_cache_file: string;
  /** 0 means no limit. */
  upload_bytes_per_second: number;
  fragment_bytes?: number;
  concurrency: number;
}

/** A validated config with defaults filled, `~` expanded and secrets read. */
export interface Config {
  /** Absolute path of the file the config was read from. */
  file: string;
  onedrive: {
    /** `folder`: the folder the OneDrive client syncs; `graph`: Microsoft Graph directly. */
    mode: 'folder' | 'graph';
    /** Absolute OneDrive folder; found automatically when unset. */
    folder?: string;
    /** Microsoft Graph settings, for `mode: graph`, `login` and `status`. */
    graph?: GraphSettings;
  };
  repository: {
    /** Absolute, or relative to the OneDrive folder. */
    path: string;
    /** Absolute path of the repository password file. */
    password_file?: string;
    /** Time a new key file's scrypt derivation aims for, in milliseconds; 0 gives the minimum. */
    kdf_target_ms: number;
  };
  backup: {
    hostname: string;
    /** Shell command run before the backup. */
    before?: string;
    /** Shell command run after the backup, also when it failed. */
    after?: string;
  };
  plain_copies: { enabled: boolean; keep: number };
  sources: ConfiguredSource[];
}
