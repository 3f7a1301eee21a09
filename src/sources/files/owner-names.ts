/**
 * User and group names of numeric ids, read once per backup from the local
 * account files so that each node can carry them next to uid and gid.
 */
import { readFile } from 'node:fs/promises';

/** Names of the local users and groups, by numeric id. */
export interface OwnerNames {
  user(uid: number): string | undefined;
  group(gid: number): string | undefined;
}

/** Paths of the account files; tests point these at their own copies. */
export interface OwnerFiles {
  passwdPath: string;
  groupPath: string;
}

/** Account files of the machine the backup runs on. */
export const systemOwnerFiles: OwnerFiles = { passwdPath: '/etc/passwd', groupPath: '/etc/group' };

/**
 * Reads the user and group tables. A missing or unreadable file gives no names
 * rather than an error, because names are a convenience next to the ids.
 */
export async function loadOwnerNames(files: OwnerFiles = systemOwnerFiles): Promise<OwnerNames> {
  const users = await readIdTable(files.passwdPath);
  const groups = await readIdTable(files.groupPath);
  return { user: (uid) => users.get(uid), group: (gid) => groups.get(gid) };
}

// Both files are small colon-separated tables whose first field is the name and
// third field the numeric id (passwd(5), group(5)).
async function readIdTable(path: string): Promise<Map<number, string>> {
  const table = new Map<number, string>();
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return table;
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    const name = fields[0];
    const id = Number(fields[2]);
    if (name && Number.isInteger(id) && !table.has(id)) table.set(id, name);
  }
  return table;
}
