import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BackupError } from '../errors/index.ts';
import { failureMessage } from './main.ts';

describe('failureMessage', () => {
  it('keeps the message of a run not interrupted', () => {
    const err = new BackupError('ERR_PG_DUMP_FAILED', 'pg_dump exited with status 1');
    assert.equal(failureMessage(err, undefined), 'pg_dump exited with status 1');
  });

  it('keeps a message that names the signal', () => {
    const message = 'pg_dump was stopped because the run was interrupted by SIGINT';
    const err = new BackupError('ERR_ABORTED', message);
    assert.equal(failureMessage(err, 'SIGINT'), message);
  });

  it('names the signal when the message does not', () => {
    const err = new DOMException('The operation was aborted', 'AbortError');
    assert.equal(
      failureMessage(err, 'SIGTERM'),
      'the run was interrupted by SIGTERM: The operation was aborted',
    );
  });
});
