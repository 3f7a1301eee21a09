/** `init`: creates a new repository where the config or --repo points. */
import { resolvePassword } from '../../config/index.ts';
import { createLayout } from '../../onedrive/index.ts';
import { Repository } from '../../repository/index.ts';
import { loadCommandConfig, openBackend } from '../context.ts';
import type { CommandContext } from '../context.ts';
import { printResult } from '../output.ts';
import { EXIT_OK } from '../exit-codes.ts';

/** Creates the repository and, below a OneDrive folder, BGAPP's planned folders. */
export async function runInit(ctx: CommandContext): Promise<number> {
  const config = await loadCommandConfig(ctx, false);
  const password = await resolvePassword({ config });
  const { backend, location, oneDrive } = await openBackend(ctx, config);
  if (oneDrive) await createLayout(oneDrive.path);
  // Without a config file (only --repo), the key file gets the library's default target.
  const repo = await Repository.init(backend, password.reveal(), {
    logger: ctx.logger,
    kdfTargetMillis: config?.repository.kdf_target_ms,
  });
  printResult(ctx.options, { id: repo.id, location }, () => [
    `created repository ${repo.id.slice(0, 10)} at ${location}`,
    'keep the password safe: without it the backups cannot be read, by anyone',
  ]);
  return EXIT_OK;
}
