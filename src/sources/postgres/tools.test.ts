import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pgCommand, runCommand, withOutputBuffer, type PgCommand } from './tools.ts';

describe('withOutputBuffer', () => {
  let folder: string;

  before(async () => {
    folder = await mkdtemp(join(tmpdir(), 'bgapp-stdbuf-'));
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('wraps a local command in stdbuf', async () => {
    const fake = join(folder, 'stdbuf');
    await writeFile(fake, '#!/bin/sh\nexec "$@"\n');
    await chmod(fake, 0o755);
    const cmd = pgCommand('pg_dump', ['--format=custom'], { env: { PATH: `${folder}:/usr/bin` } });

    const wrapped = await withOutputBuffer(cmd, 4096);

    assert.equal(wrapped.file, fake);
    assert.deepEqual(wrapped.args, ['-o4096', 'pg_dump', '--format=custom']);
    assert.equal(wrapped.env, cmd.env);
  });

  it('keeps the command when stdbuf is not on PATH', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'bgapp-no-stdbuf-'));
    try {
      const cmd = pgCommand('pg_dump', ['--format=custom'], { env: { PATH: empty } });
      assert.equal(await withOutputBuffer(cmd, 4096), cmd);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('keeps a docker exec command', async () => {
    const cmd = pgCommand('pg_dump', ['--format=custom'], { container: 'db' });
    assert.equal(await withOutputBuffer(cmd, 4096), cmd);
  });

  it('passes the output through unchanged', async () => {
    const seq: PgCommand = { file: 'seq', args: ['1', '200000'], env: { ...process.env } };
    const wrapped = await withOutputBuffer(seq, 256 * 1024);
    assert.equal(wrapped.file.endsWith('stdbuf'), true, 'stdbuf (GNU coreutils) is installed');

    const plain = await runCommand(seq);
    const buffered = await runCommand(wrapped);

    assert.equal(buffered.code, 0);
    assert.equal(buffered.stdout.length, plain.stdout.length);
    assert.equal(buffered.stdout, plain.stdout);
  });
});
