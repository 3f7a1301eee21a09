/**
 * A folder tree for tests of the `files` source and restore. It contains the
 * cases that are easy to get wrong: links of every kind, an empty folder, a
 * setgid folder, a private file, and two names that differ only in Unicode
 * normalization.
 */
import { chmod, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Name of "café.txt" with a precomposed "é" (NFC). */
export const nfcName = 'caf\u00e9.txt';
/** Name of "café.txt" with "e" and a combining accent (NFD). */
export const nfdName = 'cafe\u0301.txt';

/** Fixed mtime of every fixture entry; half a second is exact in the float seconds of utimes. */
export const fixtureMtime = new Date('2023-04-05T06:07:08.500Z');

/** Regular files of the fixture and their contents, by relative path. */
export const fixtureFiles: Record<string, string> = {
  'app.conf': 'listen 8080\n',
  'secret.key': 'not a real key\n',
  'shared/readme.txt': 'shared folder\n',
  'shared/nested/deep/data.json': '{"a":1}\n',
  [nfcName]: 'precomposed\n',
  [nfdName]: 'decomposed\n',
  'scratch.tmp': 'temporary\n',
  'shared/.hidden.tmp': 'hidden temporary\n',
  'cache/blob.bin': 'cached\n',
};

/** Symbolic links of the fixture and their targets, by relative path. */
export const fixtureLinks: Record<string, string> = {
  'absolute-link': '/etc/hostname',
  'relative-link': 'shared/nested',
  'dangling-link': 'missing/target',
};

/**
 * Creates a new temporary folder with mode 0755, so that the unprivileged test
 * user can traverse it, and returns its path.
 */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `bgapp-${prefix}-`));
  await chmod(dir, 0o755);
  return dir;
}

/** Removes a folder made by makeTempDir. */
export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Fills `root` with the fixture tree and returns it. */
export async function buildFixture(root: string): Promise<string> {
  await mkdir(join(root, 'shared/nested/deep'), { recursive: true });
  await mkdir(join(root, 'empty'));
  await mkdir(join(root, 'cache'));
  for (const [relative, text] of Object.entries(fixtureFiles)) {
    await writeFile(join(root, relative), text);
  }
  for (const [relative, target] of Object.entries(fixtureLinks)) {
    await symlink(target, join(root, relative));
  }
  await chmod(join(root, 'secret.key'), 0o600);
  await chmod(join(root, 'shared'), 0o2775);
  await chmod(join(root, 'empty'), 0o750);

  // Folders last, because writing into a folder changes its mtime.
  const entries = [...Object.keys(fixtureFiles), 'empty', 'shared/nested/deep', 'shared/nested', 'shared', 'cache', '.'];
  for (const relative of entries) await utimes(join(root, relative), fixtureMtime, fixtureMtime);
  return root;
}
