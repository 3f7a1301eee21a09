/** `ls SNAPSHOT [PATH]`: lists the nodes of a snapshot below a path. */
import { RepositorySnapshotReader } from '../../archiver/index.ts';
import { BackupError } from '../../errors/index.ts';
import { openRepository } from '../context.ts';
import type { CommandContext } from '../context.ts';
import { EXIT_OK } from '../exit-codes.ts';
import { printResult } from '../output.ts';

/** Prints every node below PATH (default: the whole snapshot). */
export async function runLs(
  ctx: CommandContext,
  ref: string | undefined,
  path: string | undefined,
): Promise<number> {
  if (!ref)
    throw new BackupError('ERR_USAGE', 'ls needs a snapshot: an id, a unique prefix or latest');
  const { repo } = await openRepository(ctx, { configRequired: false });
  const entry = await repo.findSnapshot(ref);
  const reader = await RepositorySnapshotReader.open(repo, entry.id);
  const start = (path ?? '').split('/').filter((name) => name !== '');
  const nodes: {
    path: string;
    type: string;
    mode: string;
    size: number;
    mtime: string;
    target?: string;
  }[] = [];
  for await (const { path: nodePath, node } of reader.walk(start)) {
    nodes.push({
      path: `/${nodePath.join('/')}`,
      type: node.type,
      mode: `0${node.mode.toString(8)}`,
      size: node.size ?? 0,
      mtime: node.mtime.toISOString(),
      target: node.linkTarget,
    });
  }
  printResult(ctx.options, { snapshot_id: entry.id, nodes }, () =>
    nodes.map(
      (n) =>
        `${n.type.padEnd(7)} ${n.mode.padStart(5)} ${String(n.size).padStart(12)}  ${n.path}` +
        (n.target === undefined ? '' : ` -> ${n.target}`),
    ),
  );
  return EXIT_OK;
}
