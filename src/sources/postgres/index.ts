export { createPostgresSource, GLOBALS_FILE, type PostgresSourceDeps } from './source.ts';
export {
  connectPostgres,
  describeTarget,
  parsePostgresUrl,
  quoteIdent,
  withDatabase,
  type PgTarget,
} from './connection.ts';
export {
  collectText,
  commandLine,
  parseVersionOutput,
  pgCommand,
  pgConnectedCommand,
  runCommand,
  serverMajor,
  spawnCommand,
  waitForExit,
  type CommandResult,
  type PgCommand,
  type PgProgram,
  type PgToolOptions,
  type PgVersion,
} from './tools.ts';
export { countRows, listUserTables, readLargeObjects, type TableName } from './inventory.ts';
