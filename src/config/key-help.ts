/**
 * Rules and example lines for each config key. Error messages are built from these,
 * so a user reads the rule and a line to copy.
 */
import { DEFAULT_KDF_TARGET_MILLIS, MAX_KDF_TARGET_MILLIS } from '../crypto/index.ts';

/** Expected value of a key and a line that would be valid there. */
export interface KeyHelp {
  expected: string;
  /** A valid line for this key, built from the bad value where that helps. */
  example(input: unknown): string;
}

function fixed(expected: string, line: string): KeyHelp {
  return { expected, example: () => line };
}

function listOf(key: string, expected: string, fallback: string): KeyHelp {
  return {
    expected,
    example: (input) => (typeof input === 'string' ? `${key}: [${input}]` : `${key}: ${fallback}`),
  };
}

const BOOLEAN = 'true or false';

/** Help by key pattern: indices of lists are written `[]`, as in `sources[].name`. */
export const KEY_HELP: Record<string, KeyHelp> = {
  onedrive: fixed('a mapping', 'onedrive: { folder: ~/OneDrive }'),
  'onedrive.folder': fixed('a folder path', 'folder: ~/OneDrive'),
  repository: fixed('a mapping', 'repository: { path: BGAPP_Backups/repository }'),
  'repository.path': fixed('a folder path', 'path: BGAPP_Backups/repository'),
  'repository.password_file': fixed('a file path', 'password_file: /etc/bgapp-backup/password'),
  'repository.kdf_target_ms': fixed(
    `a whole number of milliseconds from 0 to ${MAX_KDF_TARGET_MILLIS}`,
    `kdf_target_ms: ${DEFAULT_KDF_TARGET_MILLIS}`,
  ),
  backup: fixed('a mapping', 'backup: { hostname: bgapp-server }'),
  'backup.hostname': fixed('a host name', 'hostname: bgapp-server'),
  'backup.before': fixed('a shell command', 'before: systemctl stop bgapp-worker'),
  'backup.after': fixed('a shell command', 'after: systemctl start bgapp-worker'),
  plain_copies: fixed('a mapping', 'plain_copies: { enabled: true, keep: 3 }'),
  'plain_copies.enabled': fixed(BOOLEAN, 'enabled: true'),
  'plain_copies.keep': fixed('a whole number from 1 to 1000', 'keep: 3'),
  sources: fixed(
    'a list of at least one source',
    'sources: [{ type: files, name: configs, path: /opt/bgapp/configs }]',
  ),
  'sources[]': fixed('a source mapping', '- { type: files, name: configs, path: /opt/bgapp/configs }'),
  'sources[].type': fixed('one of postgres, s3, files', 'type: postgres'),
  'sources[].name': {
    expected:
      'a name of at most 64 letters, digits, ".", "_" and "-" that starts with a letter or digit',
    example: (input) => `name: ${suggestName(input)}`,
  },
  'sources[].url': fixed(
    'a postgres:// URL that names the database',
    'url: postgres://postgres@127.0.0.1:5432/geo',
  ),
  'sources[].container': fixed('a container name', 'container: infra-postgis-1'),
  'sources[].bin_dir': fixed('a folder path', 'bin_dir: /usr/lib/postgresql/15/bin'),
  'sources[].globals': fixed(BOOLEAN, 'globals: true'),
  'sources[].endpoint': fixed('an http:// or https:// URL', 'endpoint: http://127.0.0.1:9000'),
  'sources[].region': fixed('a region name', 'region: us-east-1'),
  'sources[].access_key_id': fixed('an access key id', 'access_key_id: bgapp'),
  'sources[].secret_access_key_file': fixed(
    'a file path',
    'secret_access_key_file: /etc/bgapp-backup/minio-secret',
  ),
  'sources[].buckets': listOf(
    'buckets',
    'a list of bucket names',
    '[bgapp-data, bgapp-backups]',
  ),
  'sources[].buckets[]': fixed(
    'a bucket name of 3 to 63 lower-case letters, digits, "." and "-"',
    '- bgapp-data',
  ),
  'sources[].force_path_style': fixed(BOOLEAN, 'force_path_style: true'),
  'sources[].concurrency': fixed('a whole number from 1 to 256', 'concurrency: 8'),
  'sources[].path': fixed('an absolute folder path', 'path: /opt/bgapp/configs'),
  'sources[].include': listOf('include', 'a list of glob patterns', '["*.yaml"]'),
  'sources[].include[]': fixed('a glob pattern', '- "*.yaml"'),
  'sources[].exclude': listOf('exclude', 'a list of glob patterns', '["*.tmp"]'),
  'sources[].exclude[]': fixed('a glob pattern', '- "*.tmp"'),
  'sources[].plain_copy_folder': fixed('configs or logs', 'plain_copy_folder: logs'),
};

/** Hints for keys that people write but that must not be in the file. */
export const FORBIDDEN_KEY_HINTS: Record<string, string> = {
  secret_access_key:
    'secrets are not written in the config: put the key in a file and set ' +
    'secret_access_key_file, or set BGAPP_S3_SECRET_ACCESS_KEY_<NAME>',
  password:
    'passwords are not written in the config: set repository.password_file, ' +
    'BGAPP_BACKUP_PASSWORD_FILE or BGAPP_BACKUP_PASSWORD',
};

/** Turns a bad source name into a valid one, for the example line. */
function suggestName(input: unknown): string {
  if (typeof input !== 'string') return 'geo';
  const cleaned = input
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[._-]+/, '')
    .slice(0, 64);
  return cleaned === '' ? 'geo' : cleaned;
}
