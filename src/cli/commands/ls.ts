/** `ls SNAPSHOT [PATH]`: lists the nodes of a snapshot below a path. */
import { RepositorySnapshotReader } from '../../archiver/index.ts';
import { BackupError } from '../../errors/index.ts';
import { openRepository } from '../context.ts';
import type { CommandContext } from '../context.ts';
import { EXIT_OK } from '../exit-codes.ts';
import { printListing } from '../output.ts';

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
  printListing(ctx.options, { snapshot_id: entry.id, nodes }, () =>
    nodes.map(
      (n) =>
        `${n.type.padEnd(7)} ${n.mode.padStart(5)} ${String(n.size).padStart(12)}  ${printable(n.path)}` +
        (n.target === undefined ? '' : ` -> ${printable(n.target)}`),
    ),
  );
  return EXIT_OK;
}

/**
 * Writes control characters in a name as escapes (`\n`, `\t`, `\u001b`), and
 * a backslash as two, so that a name with a newline stays on one line and no
 * name sends terminal escape sequences. `--json` prints names as they are.
 */
function printable(text: string): string {
  return text.replace(/[\\\u0000-\u001f\u007f]/g, (c) => {
    if (c === '\\') return '\\\\';
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}
