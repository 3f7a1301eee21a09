import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteBudget } from './byte-budget.ts';

describe('ByteBudget', () => {
  it('makes acquire wait until enough bytes are released', async () => {
    const budget = new ByteBudget(100);
    await budget.acquire(60);
    let granted = false;
    const waiting = budget.acquire(50).then(() => (granted = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(granted, false);
    budget.release(60);
    await waiting;
    assert.equal(budget.inUse, 50);
  });

  it('grants a request above the limit when nothing is taken', async () => {
    const budget = new ByteBudget(10);
    await budget.acquire(25);
    assert.equal(budget.inUse, 25);
  });

  it('wakes waiters in arrival order', async () => {
    const budget = new ByteBudget(10);
    await budget.acquire(10);
    const order: number[] = [];
    const first = budget.acquire(8).then(() => order.push(1));
    const second = budget.acquire(1).then(() => order.push(2));
    budget.release(10);
    await Promise.all([first, second]);
    assert.deepEqual(order, [1, 2]);
  });

  it('rejects a limit that is not positive', () => {
    assert.throws(() => new ByteBudget(0), RangeError);
  });
});
