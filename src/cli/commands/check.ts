/** `check`: verifies the repository's structure and, with --read-data, every byte. */
import { openRepository } from '../context.ts';
import type { CommandContext } from '../context.ts';
import { EXIT_FAILURE, EXIT_OK, EXIT_WARNINGS } from '../exit-codes.ts';
import { plural, printResult } from '../output.ts';

/** Runs the check; exit 1 on errors, 3 on warnings only (such as unreferenced packs). */
export async function runCheck(ctx: CommandContext, readData: boolean): Promise<number> {
  const { repo } = await openRepository(ctx, { configRequired: false });
  // Exclusive, as restic's check: a running backup's new packs and temporary
  // files would otherwise be reported as left by an interrupted run.
  const lock = await repo.lock({ exclusive: true });
  // With --read-data, the check verifies packs on worker threads of its own.
  try {
    const report = await repo.check({ readData, onEvent: ctx.progress.listener });
    ctx.progress.done();
    const errorLines = report.errors.map((p) => `error: ${problemLine(p)}`);
    const damaged = `${plural(report.errors.length, 'error')} found; the repository is damaged`;
    printResult(
      ctx.options,
      report,
      () => [
        ...errorLines,
        ...report.warnings.map((p) => `warning: ${problemLine(p)}`),
        report.errors.length === 0
          ? `no errors were found${readData ? ' (all data read)' : ''}`
          : damaged,
      ],
      () => (report.errors.length === 0 ? [] : [...errorLines, damaged]),
    );
    if (report.errors.length > 0) return EXIT_FAILURE;
    return report.warnings.length > 0 ? EXIT_WARNINGS : EXIT_OK;
  } finally {
    await lock.release();
  }
}

/** Returns a problem's message, led by its file unless the message names it already. */
function problemLine(problem: { file: string; message: string }): string {
  return problem.message.includes(problem.file) ? problem.message : `${problem.file}: ${problem.message}`;
}
