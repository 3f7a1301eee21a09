/**
 * The two tools under test, driven the same way. Each reads the repository
 * password from the same file, runs on the same two cores, and runs as a shell
 * command whose whole process tree is measured.
 */
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The tool a run measures. */
export type Tool = 'ours' | 'restic';

/** Root of the project, where bin/bgapp-backup is. */
export const PROJECT_ROOT = new URL('..', import.meta.url).pathname;
const OURS = join(PROJECT_ROOT, 'bin', 'bgapp-backup');

/** One tool's run on one dataset: its own folder, repository and environment. */
export interface ToolRun {
  tool: Tool;
  run: number;
  dir: string;
  repo: string;
  /** Environment for every command of this run (password file, config, cache folder). */
  env: Record<string, string>;
}

/** Creates the folder and, for bgapp-backup, the config file of one tool run. */
export async function newToolRun(tool: Tool, run: number, base: string, passwordFile: string,
  sourceYaml: (run: ToolRun) => string[]): Promise<ToolRun> {
  const dir = join(base, `${tool}-${run}`);
  const repo = join(dir, 'repo');
  await mkdir(join(dir, 'onedrive'), { recursive: true });
  if (tool === 'restic') {
    const env = { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD_FILE: passwordFile, RESTIC_CACHE_DIR: join(dir, 'cache') };
    return { tool, run, dir, repo, env };
  }
  const config = join(dir, 'bgapp-backup.yaml');
  const result = { tool, run, dir, repo, env: { BGAPP_BACKUP_CONFIG: config, BGAPP_BACKUP_PASSWORD_FILE: passwordFile } };
  // repository.kdf_target_ms stays at its default (500 ms, as restic calibrates
  // its key files), so both tools spend the same time opening the repository.
  const yaml = ['onedrive:', `  folder: ${join(dir, 'onedrive')}`, 'repository:', `  path: ${repo}`,
    'backup:', '  hostname: bench', 'sources:', ...sourceYaml(result).map((line) => `  ${line}`), ''];
  await writeFile(config, yaml.join('\n'));
  return result;
}

/** Returns the shell command that runs bgapp-backup with `args`. */
export function ours(args: string): string {
  return `${OURS} --quiet ${args}`;
}

/** Returns the command that creates a repository with the run's tool. */
export function initCommand(run: ToolRun): string {
  return run.tool === 'ours' ? ours('init') : 'restic --quiet init --repository-version 2';
}

/** Returns the command that reads and verifies every byte of the repository with the run's tool. */
export function checkCommand(run: ToolRun): string {
  return run.tool === 'ours' ? ours('check --read-data') : 'restic --quiet check --read-data';
}

/** Total size of the files in a repository, leaving out locks. */
export async function repositoryBytes(repo: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(repo, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || entry.parentPath.endsWith('locks')) continue;
    total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}
