/**
 * Runs `init` and `key add` as a user would and checks that
 * repository.kdf_target_ms is validated and sets the scrypt cost of the key
 * files they write.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { CLI_PATH, runCli, runCliOk } from '../../../test/support/cli.ts';
import { filesSourceConfig, writeConfigFile } from '../../../test/support/stack-config.ts';

const PASSWORD = 'init test password';
const NEW_PASSWORD = 'init test second password';

describe('init and key add with repository.kdf_target_ms', () => {
  let base: string;
  let repo: string;
  let configFile: string;

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'bgapp-init-kdf-'));
    repo = join(base, 'repository');
    configFile = join(base, 'bgapp-backup.yaml');
  });

  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  /** Writes the config with `kdfTarget` as repository.kdf_target_ms. */
  async function writeConfig(kdfTarget: unknown): Promise<Record<string, string>> {
    await writeConfigFile(configFile, {
      repository: { path: repo, kdf_target_ms: kdfTarget },
      sources: [filesSourceConfig('configs', base)],
    });
    return { BGAPP_BACKUP_CONFIG: configFile, BGAPP_BACKUP_PASSWORD: PASSWORD };
  }

  /** Returns the scrypt p of every key file, in no particular order. */
  async function keyLanes(): Promise<number[]> {
    const names = await readdir(join(repo, 'keys'));
    const lanes = [];
    for (const name of names) {
      const json = JSON.parse(await readFile(join(repo, 'keys', name), 'utf8')) as { p: number };
      lanes.push(json.p);
    }
    return lanes.sort((a, b) => a - b);
  }

  it('rejects invalid values with exit code 2', async () => {
    for (const value of [-1, 2.5, 60_001]) {
      const result = await runCli(['init'], await writeConfig(value));
      assert.equal(result.code, 2, `value ${value}: ${result.stderr}`);
      assert.match(
        result.stderr,
        /repository\.kdf_target_ms: expected a whole number of milliseconds from 0 to 60000/,
      );
      await assert.rejects(readdir(repo), { code: 'ENOENT' }, `value ${value} created ${repo}`);
    }
  });

  it('passes the setting to init and key add', async () => {
    // The default of 500 ms gives p > 1, so p=1 shows that the setting of 0 arrived.
    await runCliOk(['init'], await writeConfig(0));
    assert.deepEqual(await keyLanes(), [1]);
    const minimum = { ...(await writeConfig(0)), BGAPP_BACKUP_NEW_PASSWORD: 'second password' };
    await runCliOk(['key', 'add'], minimum);
    assert.deepEqual(await keyLanes(), [1, 1]);

    const calibrated = { ...(await writeConfig(300)), BGAPP_BACKUP_NEW_PASSWORD: NEW_PASSWORD };
    await runCliOk(['key', 'add'], calibrated);
    const lanes = await keyLanes();
    assert.equal(lanes.length, 3);
    assert.ok((lanes[2] ?? 0) > 1, `p of the calibrated key is ${lanes[2]}`);

    const passwordFile = join(base, 'new-password');
    await writeFile(passwordFile, `${NEW_PASSWORD}\n`);
    const restic = spawnSync(
      'restic',
      ['-r', repo, '--no-cache', '--password-file', passwordFile, 'cat', 'config'],
      { encoding: 'utf8' },
    );
    assert.equal(restic.status, 0, restic.stderr);
  });

  it('stops a long derivation at a second Ctrl-C', async () => {
    const config = join(base, 'slow.yaml');
    await writeConfigFile(config, {
      repository: { path: join(base, 'slow-repository'), kdf_target_ms: 30_000 },
      sources: [filesSourceConfig('configs', base)],
    });
    const env = { ...process.env, BGAPP_BACKUP_CONFIG: config, BGAPP_BACKUP_PASSWORD: PASSWORD };
    const child = spawn(CLI_PATH, ['init'], { env, stdio: 'ignore' });
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    // The calibration takes about 0.3 s, then the 30 s derivation runs.
    await delay(1500);
    child.kill('SIGINT');
    await delay(300);
    const stopped = Date.now();
    child.kill('SIGINT');
    const [code, signal] = await exited;
    assert.ok(Date.now() - stopped < 5000, `exited ${Date.now() - stopped} ms after the second SIGINT`);
    assert.ok(signal === 'SIGINT' || code === 130, `code ${code}, signal ${signal}`);
  });

  it('names an empty or missing new password file', async () => {
    const empty = join(base, 'empty-password');
    await writeFile(empty, '\n');
    const env = await writeConfig(0);
    const emptyRun = await runCli(['key', 'add'], { ...env, BGAPP_BACKUP_NEW_PASSWORD_FILE: empty });
    assert.notEqual(emptyRun.code, 0);
    assert.match(emptyRun.stderr, /empty-password \(BGAPP_BACKUP_NEW_PASSWORD_FILE\) is empty/);

    const missing = join(base, 'no-such-file');
    const missingRun = await runCli(['key', 'add'], { ...env, BGAPP_BACKUP_NEW_PASSWORD_FILE: missing });
    assert.notEqual(missingRun.code, 0);
    assert.match(missingRun.stderr, /cannot read .*no-such-file \(BGAPP_BACKUP_NEW_PASSWORD_FILE\): .*ENOENT/);
  });
});
