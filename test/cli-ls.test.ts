import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI_PATH, runCli, runCliOk } from './support/cli.ts';
import { filesSourceConfig, writeConfigFile } from './support/stack-config.ts';

describe('ls output', () => {
  let base: string;
  let env: Record<string, string>;

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'bgapp-cli-pipe-'));
    const source = join(base, 'source');
    await mkdir(source);
    // Enough names that `ls` prints far more than a pipe buffer (64 KiB).
    for (let i = 0; i < 1500; i++)
      await writeFile(join(source, `file-with-a-long-name-${i}.txt`), `${i}`);
    await writeFile(join(source, 'two\nlines\\.txt'), 'x');
    await writeFile(join(base, 'password'), 'cli pipe test password\n');
    const config = join(base, 'bgapp-backup.yaml');
    await writeConfigFile(config, {
      onedrive: { folder: join(base, 'OneDrive') },
      repository: { path: 'repository', password_file: join(base, 'password') },
      sources: [filesSourceConfig('many', source)],
    });
    env = { BGAPP_BACKUP_CONFIG: config };
    await mkdir(join(base, 'OneDrive'));
    await runCliOk(['init'], env);
    await runCliOk(['backup'], env);
  });

  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('escapes control characters and backslashes in names', async () => {
    const { stdout } = await runCliOk(['ls', 'latest'], env);
    assert.ok(stdout.includes('/files/many/two\\nlines\\\\.txt\n'), 'one line, escaped');
    const json = JSON.parse((await runCliOk(['--json', 'ls', 'latest'], env)).stdout) as {
      nodes: { path: string }[];
    };
    assert.ok(
      json.nodes.some((node) => node.path === '/files/many/two\nlines\\.txt'),
      'JSON keeps the name',
    );
  });

  it('restore rejects an option no source uses', async () => {
    const target = join(base, 'restored');
    const result = await runCli(
      ['restore', 'latest', '--target-dir', target, '--target-url', 'postgres://127.0.0.1/geo'],
      env,
    );
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--target-url applies to postgres sources, and this restore has none: it restores many \(files\)/);
  });

  it('ends ls quietly when the reader stops early', () => {
    const result = spawnSync(
      'bash',
      ['-c', `"${CLI_PATH}" ls latest | head -n 1; exit "\${PIPESTATUS[0]}"`],
      {
        env: { ...process.env, ...env },
        encoding: 'utf8',
      },
    );
    assert.equal(result.stdout.split('\n').length, 2, 'head printed one line');
    assert.doesNotMatch(result.stderr, /EPIPE|Error/);
    assert.equal(result.status, 0);
  });
});
