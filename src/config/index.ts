export * from './load.ts';
export * from './password.ts';
export * from './repository-path.ts';
export { Secret, REDACTED } from './secret.ts';
export { DEFAULT_REPOSITORY_PATH, expandHome, s3SecretEnvName } from './resolve.ts';
export { SOURCE_NAME_PATTERN } from './schema.ts';
export type * from './types.ts';
