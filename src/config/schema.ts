/**
 * The config file's shape as zod schemas. These schemas check the YAML as written;
 * resolve.ts then fills in what depends on the machine: `~`, secrets, the host name.
 * Every object is strict so that a misspelt key fails instead of being ignored.
 */
import * as z from 'zod';
import { DEFAULT_KDF_TARGET_MILLIS, MAX_KDF_TARGET_MILLIS } from '../crypto/index.ts';

// zod compiles a parser for each object schema with `new Function` on first
// use, which took about 55 ms of a 0.5 s command in a CPU profile. A config
// file is parsed once, so the interpreted parser is the faster choice.
z.config({ jitless: true });

/**
 * Pattern of a source name. The name becomes a folder name in the snapshot and in
 * OneDrive, and part of an environment variable name, so it is kept to letters,
 * digits, `.`, `_` and `-`.
 */
export const SOURCE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Folders of BGAPP_Backups that a `files` source's plain copies may go to. */
export const PLAIN_COPY_FOLDERS = ['configs', 'logs'] as const;

const text = z.string().trim().min(1);
const sourceName = z.string().regex(SOURCE_NAME_PATTERN);

/** Default Microsoft Graph endpoint; national clouds use other hosts. */
export const DEFAULT_GRAPH_BASE_URL = 'https://graph.microsoft.com/v1.0';

/** Ways the repository reaches OneDrive. */
export const ONEDRIVE_MODES = ['folder', 'graph'] as const;

const graphSchema = z.strictObject({
  drive: text.default('me'),
  base_url: text.default(DEFAULT_GRAPH_BASE_URL),
  authority: text.optional(),
  client_id: text.optional(),
  client_secret_file: text.optional(),
  client_certificate_file: text.optional(),
  access_token_file: text.optional(),
  token_cache_file: text.optional(),
  upload_bytes_per_second: z.number().int().min(0).default(0),
  fragment_bytes: z.number().int().positive().optional(),
  concurrency: z.number().int().min(1).max(32).default(4),
});

const onedriveSchema = z.strictObject({
  mode: z.enum(ONEDRIVE_MODES).default('folder'),
  folder: text.optional(),
  graph: graphSchema.optional(),
});

const repositorySchema = z.strictObject({
  path: text.optional(),
  password_file: text.optional(),
  kdf_target_ms: z
    .number()
    .int()
    .min(0)
    .max(MAX_KDF_TARGET_MILLIS)
    .default(DEFAULT_KDF_TARGET_MILLIS),
});

const backupSchema = z.strictObject({
  hostname: text.optional(),
  before: text.optional(),
  after: text.optional(),
});

const plainCopiesSchema = z.strictObject({
  enabled: z.boolean().default(false),
  keep: z.number().int().min(1).max(1000).default(3),
});

const postgresSchema = z.strictObject({
  type: z.literal('postgres'),
  name: sourceName,
  url: z.string(),
  container: text.optional(),
  bin_dir: text.optional(),
  globals: z.boolean().default(true),
});

const s3Schema = z.strictObject({
  type: z.literal('s3'),
  name: sourceName,
  endpoint: z.string(),
  region: text.default('us-east-1'),
  access_key_id: text,
  secret_access_key_file: text.optional(),
  buckets: z.array(text).min(1),
  force_path_style: z.boolean().default(true),
  concurrency: z.number().int().min(1).max(256).default(8),
});

const filesSchema = z.strictObject({
  type: z.literal('files'),
  name: sourceName,
  path: text,
  include: z.array(text).default([]),
  exclude: z.array(text).default([]),
  plain_copy_folder: z.enum(PLAIN_COPY_FOLDERS).optional(),
});

const sourceSchema = z.discriminatedUnion('type', [postgresSchema, s3Schema, filesSchema]);

/** Schema of a whole config file. */
export const configFileSchema = z.strictObject({
  onedrive: onedriveSchema.default({ mode: 'folder' }),
  repository: repositorySchema.default({ kdf_target_ms: DEFAULT_KDF_TARGET_MILLIS }),
  backup: backupSchema.default({}),
  plain_copies: plainCopiesSchema.default({ enabled: false, keep: 3 }),
  sources: z.array(sourceSchema).min(1),
});

/** A config file as written, after zod filled in its defaults. */
export type ConfigFile = z.infer<typeof configFileSchema>;

/** A source entry as written, after zod filled in its defaults. */
export type SourceEntry = z.infer<typeof sourceSchema>;

/** Keys allowed in each object of the file, for "did you mean" hints. */
export const KNOWN_KEYS: Record<string, readonly string[]> = {
  '': Object.keys(configFileSchema.shape),
  onedrive: [...Object.keys(onedriveSchema.shape), ...Object.keys(graphSchema.shape)],
  repository: Object.keys(repositorySchema.shape),
  backup: Object.keys(backupSchema.shape),
  plain_copies: Object.keys(plainCopiesSchema.shape),
  postgres: Object.keys(postgresSchema.shape),
  s3: Object.keys(s3Schema.shape),
  files: Object.keys(filesSchema.shape),
};

/** The values a source's `type` may take. */
export const SOURCE_TYPES = ['postgres', 's3', 'files'] as const;
