/**
 * `key list|add|remove ID|passwd`: manages the repository's keys. New
 * passwords come from BGAPP_BACKUP_NEW_PASSWORD or the file named by
 * BGAPP_BACKUP_NEW_PASSWORD_FILE, never from the command line.
 */
import { readFile } from 'node:fs/promises';
import { BackupError, errorMessage } from '../../errors/index.ts';
import { openRepository } from '../context.ts';
import type { CommandContext } from '../context.ts';
import { EXIT_OK } from '../exit-codes.ts';
import { formatLocalTime, printListing, printResult } from '../output.ts';

/** Runs one `key` subcommand. */
export async function runKey(ctx: CommandContext, args: string[]): Promise<number> {
  const [action, id] = args;
  const { repo, config } = await openRepository(ctx, { configRequired: false });
  // New key files take the config's repository.kdf_target_ms, else the library's default.
  const kdfTargetMillis = config?.repository.kdf_target_ms;
  switch (action) {
    case 'list': {
      const keys = await repo.listKeys();
      printListing(ctx.options, keys, () =>
        keys.map(
          (k) =>
            `${k.current ? '*' : ' '} ${k.id.slice(0, 8)}  ${k.username}@${k.hostname}  ${formatLocalTime(k.created)}`,
        ),
      );
      return EXIT_OK;
    }
    case 'add': {
      const newId = await repo.addKey(await readNewPassword(), kdfTargetMillis);
      printResult(ctx.options, { id: newId }, () => [`added key ${newId.slice(0, 8)}`]);
      return EXIT_OK;
    }
    case 'remove': {
      if (!id)
        throw new BackupError('ERR_USAGE', 'key remove needs the id of the key (see `key list`)');
      const match = (await repo.listKeys()).filter((k) => k.id.startsWith(id));
      if (match.length === 0 || !match[0]) {
        throw new BackupError(
          'ERR_USAGE',
          `no key id starts with ${id}; list the keys with \`key list\``,
        );
      }
      if (match.length > 1) {
        throw new BackupError(
          'ERR_USAGE',
          `key id ${id} matches ${match.length} keys; give a longer prefix`,
        );
      }
      await repo.removeKey(match[0].id);
      printResult(ctx.options, { removed: match[0].id }, () => [
        `removed key ${match[0]?.id.slice(0, 8)}`,
      ]);
      return EXIT_OK;
    }
    case 'passwd': {
      const newId = await repo.changePassword(await readNewPassword(), kdfTargetMillis);
      printResult(ctx.options, { id: newId }, () => [
        `changed the password; new key ${newId.slice(0, 8)}`,
        'update BGAPP_BACKUP_PASSWORD or the password file before the next backup',
      ]);
      return EXIT_OK;
    }
    default:
      throw new BackupError(
        'ERR_USAGE',
        `unknown key action ${String(action)}; use list, add, remove ID or passwd`,
      );
  }
}

async function readNewPassword(): Promise<string> {
  const direct = process.env.BGAPP_BACKUP_NEW_PASSWORD;
  if (direct) return direct;
  const file = process.env.BGAPP_BACKUP_NEW_PASSWORD_FILE;
  if (file) {
    let text: string;
    try {
      text = (await readFile(file, 'utf8')).trim();
    } catch (err) {
      throw new BackupError(
        'ERR_PASSWORD_MISSING',
        `cannot read ${file} (BGAPP_BACKUP_NEW_PASSWORD_FILE): ${errorMessage(err)}`,
        { cause: err },
      );
    }
    if (text) return text;
    throw new BackupError(
      'ERR_PASSWORD_MISSING',
      `${file} (BGAPP_BACKUP_NEW_PASSWORD_FILE) is empty; write the new password into it`,
    );
  }
  throw new BackupError(
    'ERR_PASSWORD_MISSING',
    'no new password; set BGAPP_BACKUP_NEW_PASSWORD or BGAPP_BACKUP_NEW_PASSWORD_FILE',
  );
}
