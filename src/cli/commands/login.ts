/**
 * `login`: signs a person in to Microsoft Graph with the device code flow and
 * stores the token cache (mode 0600) for later unattended runs.
 */
import { signInWithDeviceCode } from '../../auth/index.ts';
import { requireGraphSettings, signInSettings } from '../backend.ts';
import { loadCommandConfig } from '../context.ts';
import type { CommandContext } from '../context.ts';
import { EXIT_OK } from '../exit-codes.ts';
import { printResult } from '../output.ts';

/** Runs the device code sign-in, showing the code to enter on stderr. */
export async function runLogin(ctx: CommandContext): Promise<number> {
  const config = await loadCommandConfig(ctx, true);
  const graph = requireGraphSettings(config, 'login');
  const account = await signInWithDeviceCode(
    signInSettings(graph),
    (prompt) => {
      ctx.progress.printAbove(
        `to sign in, open ${prompt.verificationUri} and enter the code ${prompt.userCode} ` +
          `(valid for ${Math.round(prompt.expiresInSeconds / 60)} minutes)`,
      );
    },
    { signal: ctx.signal },
  );
  printResult(ctx.options, { username: account.username, tenant: account.tenantId }, () => [
    `signed in as ${account.username}; the sign-in is kept in ${graph.token_cache_file}`,
  ]);
  return EXIT_OK;
}
