import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CLI_PATH } from './support/cli.ts';

describe('bgapp-backup --version', () => {
  it('prints the package version', () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    const result = spawnSync(CLI_PATH, ['--version'], { encoding: 'utf8' });
    assert.equal(result.status, 0);
    assert.equal(result.stdout, `bgapp-backup ${version}\n`);
    assert.equal(result.stderr, '');
  });
});
