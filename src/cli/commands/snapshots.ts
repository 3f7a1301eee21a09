/** `snapshots`: lists the snapshots in the repository, oldest first. */
import { openRepository } from '../context.ts';
import type { CommandContext } from '../context.ts';
import { EXIT_OK } from '../exit-codes.ts';
import { formatLocalTime, plural, printListing } from '../output.ts';

/** Lists snapshots with their time, host, tags and paths. */
export async function runSnapshots(ctx: CommandContext): Promise<number> {
  const { repo } = await openRepository(ctx, { configRequired: false });
  const entries = await repo.listSnapshots();
  const json = entries.map(({ id, snapshot }) => ({
    id,
    short_id: id.slice(0, 8),
    time: snapshot.time,
    hostname: snapshot.hostname,
    tags: snapshot.tags ?? [],
    paths: snapshot.paths,
    program_version: snapshot.program_version,
  }));
  printListing(ctx.options, json, () => [
    ...json.map(
      (s) =>
        `${s.short_id}  ${formatLocalTime(s.time)}  ${s.hostname ?? ''}  ${s.tags.join(',')}`,
    ),
    plural(json.length, 'snapshot'),
  ]);
  return EXIT_OK;
}
