/** `unlock`: removes stale locks, never one held by a live process. */
import { openRepository } from '../context.ts';
import type { CommandContext } from '../context.ts';
import { EXIT_OK } from '../exit-codes.ts';
import { plural, printResult } from '../output.ts';

/** Removes locks older than 30 minutes or left by a dead process on this host. */
export async function runUnlock(ctx: CommandContext): Promise<number> {
  const { repo } = await openRepository(ctx, { configRequired: false });
  const removed = await repo.removeStaleLocks();
  printResult(ctx.options, { removed }, () => [
    removed.length === 0 ? 'no stale locks' : `removed ${plural(removed.length, 'stale lock')}`,
  ]);
  return EXIT_OK;
}
