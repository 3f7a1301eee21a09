/**
 * Finds, reads and validates the config file. Every problem in the file is reported
 * at once, in one ERR_CONFIG_INVALID error, each with its line, key path and fix.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { BackupError, errorMessage } from '../errors/index.ts';
import { checkConfig } from './checks.ts';
import { formatPath, problemsFromIssues, type KeyPath, type Problem } from './problems.ts';
import { resolveConfig } from './resolve.ts';
import { configFileSchema } from './schema.ts';
import type { Config, Env } from './types.ts';

/** Name of the config file looked for in the working folder. */
export const DEFAULT_CONFIG_FILE = 'bgapp-backup.yaml';

/** Location of the config file and the setting that named it. */
export interface ConfigLocation {
  path: string;
  origin: '--config' | 'BGAPP_BACKUP_CONFIG' | 'default';
}

/** Inputs of config loading; each defaults to the running process's value. */
export interface LoadConfigOptions {
  /** Value of the `--config` option. */
  configFile?: string;
  env?: Env;
  cwd?: string;
  /** Folder that `~` expands to. */
  home?: string;
}

/**
 * Returns where the config is: `--config`, else BGAPP_BACKUP_CONFIG, else
 * `./bgapp-backup.yaml`. It does not check that the file exists.
 */
export function locateConfig(options: LoadConfigOptions = {}): ConfigLocation {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  if (options.configFile) return { path: resolve(cwd, options.configFile), origin: '--config' };
  const fromEnv = env.BGAPP_BACKUP_CONFIG;
  if (fromEnv) return { path: resolve(cwd, fromEnv), origin: 'BGAPP_BACKUP_CONFIG' };
  return { path: resolve(cwd, DEFAULT_CONFIG_FILE), origin: 'default' };
}

/** Loads and validates the config; raises ERR_CONFIG_NOT_FOUND when there is none. */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<Config> {
  const location = locateConfig(options);
  const text = await readConfigText(location);
  if (text === undefined) {
    throw new BackupError(
      'ERR_CONFIG_NOT_FOUND',
      `config file ${location.path} not found; pass --config FILE, set BGAPP_BACKUP_CONFIG, ` +
        `or create ${DEFAULT_CONFIG_FILE} in the working folder`,
    );
  }
  return parseConfig(text, location.path, options);
}

/**
 * Loads the config like loadConfig, but returns undefined when no file was named
 * and `./bgapp-backup.yaml` does not exist, for commands that need only the repository.
 */
export async function loadOptionalConfig(options: LoadConfigOptions = {}): Promise<Config | undefined> {
  const location = locateConfig(options);
  if (location.origin !== 'default') return loadConfig(options);
  const text = await readConfigText(location);
  return text === undefined ? undefined : parseConfig(text, location.path, options);
}

/** Parses and validates config text; `file` names it in errors and anchors relative paths. */
export async function parseConfig(
  text: string,
  file: string,
  options: LoadConfigOptions = {},
): Promise<Config> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const line = yamlError.linePos?.[0].line;
    const where = line === undefined ? file : `${file}:${line}`;
    const reason = (yamlError.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    throw invalid(where, `not valid YAML (${reason}); fix the syntax`);
  }

  const raw: unknown = doc.toJS();
  if (raw === null || raw === undefined) {
    throw invalid(file, 'the file is empty; start from the example in docs/configuration.md');
  }
  dropEmptySections(raw);
  const parsed = configFileSchema.safeParse(raw);
  if (!parsed.success) throw problemsError(file, problemsFromIssues(parsed.error.issues, raw), doc, lines);
  const checked = checkConfig(parsed.data);
  if (checked.length > 0) throw problemsError(file, checked, doc, lines);

  const env = options.env ?? process.env;
  const context = { file, env, home: options.home ?? homedir() };
  const { config, problems } = await resolveConfig(parsed.data, context);
  if (problems.length > 0) throw problemsError(file, problems, doc, lines);
  return config;
}

/**
 * Treats a section whose keys are all commented out (`backup:` with nothing below,
 * which YAML reads as null) as if it were left out, so its defaults apply.
 */
function dropEmptySections(raw: unknown): void {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return;
  const sections = raw as Record<string, unknown>;
  for (const key of ['onedrive', 'repository', 'backup', 'plain_copies']) {
    if (sections[key] === null) delete sections[key];
  }
}

async function readConfigText(location: ConfigLocation): Promise<string | undefined> {
  try {
    return await readFile(location.path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    const named = location.origin === 'default' ? 'config file' : `config file (from ${location.origin})`;
    throw new BackupError(
      'ERR_CONFIG_NOT_FOUND',
      `cannot read ${named} ${location.path}: ${errorMessage(err)}; check its permissions`,
      { cause: err },
    );
  }
}

function invalid(where: string, text: string): BackupError {
  return new BackupError('ERR_CONFIG_INVALID', `invalid config ${where}: ${text}`);
}

function problemsError(file: string, problems: Problem[], doc: Document, lines: LineCounter): BackupError {
  const described = problems
    .map((problem) => {
      const line = lineOf(problem.path, doc, lines);
      return { line, text: `${formatPath(problem.path)}: ${problem.text}` };
    })
    .sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  const only = described[0];
  if (described.length === 1 && only) {
    return invalid(only.line === undefined ? file : `${file}:${only.line}`, only.text);
  }
  const listed = described.map((p) => `  ${p.line === undefined ? '' : `line ${p.line}: `}${p.text}`);
  return invalid(file, `${described.length} problems\n${listed.join('\n')}`);
}

/** Finds the line of the key at `path`, or of its nearest parent that exists. */
function lineOf(path: KeyPath, doc: Document, lines: LineCounter): number | undefined {
  for (let length = path.length; length > 0; length--) {
    const parentPath = path.slice(0, length - 1);
    const parent = parentPath.length === 0 ? doc.contents : doc.getIn(parentPath, true);
    const key = path[length - 1];
    const offset = isMap(parent) ? keyOffset(parent.items, key) : itemOffset(parent, key);
    if (offset !== undefined) return lines.linePos(offset).line;
  }
  return undefined;
}

function keyOffset(items: readonly unknown[], key: PropertyKey | undefined): number | undefined {
  for (const item of items) {
    if (isPair(item) && isScalar(item.key) && item.key.value === key) return item.key.range?.[0];
  }
  return undefined;
}

function itemOffset(parent: unknown, key: PropertyKey | undefined): number | undefined {
  if (typeof key !== 'number' || parent === null || typeof parent !== 'object') return undefined;
  const items = (parent as { items?: unknown[] }).items;
  const item = items?.[key] as { range?: [number, number, number] } | undefined;
  return item?.range?.[0];
}
