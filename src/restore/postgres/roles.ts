/**
 * Applies the roles of a pg_dumpall --globals-only file to the target
 * cluster. Only roles that do not exist yet are created, with their
 * attributes, settings and memberships; existing roles, and so their
 * passwords, are never altered.
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type pg from 'pg';
import { BackupError } from '../../errors/index.ts';

/** Changes made by applying globals.sql. */
export interface RolesResult {
  created: string[];
  memberships: number;
  /** Statements skipped because the cluster does not need them or cannot take them. */
  skipped: string[];
}

const IDENT = String.raw`("(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*)`;
const CREATE_ROLE = new RegExp(`^CREATE ROLE ${IDENT};$`);
const ALTER_ROLE = new RegExp(`^ALTER ROLE ${IDENT} `);
const COMMENT_ROLE = new RegExp(`^COMMENT ON ROLE ${IDENT} IS `);
const GRANT_ROLE = new RegExp(
  `^GRANT ${IDENT} TO ${IDENT}( WITH ADMIN OPTION)?(?: GRANTED BY ${IDENT})?;$`,
);
const TABLESPACE = new RegExp(`^CREATE TABLESPACE ${IDENT}`);

/** Creates the missing roles of a globals.sql stream; statements are never logged. */
export async function applyGlobals(admin: pg.Client, globals: Readable): Promise<RolesResult> {
  const existing = await readRoleNames(admin);
  const created = new Set<string>();
  const result: RolesResult = { created: [], memberships: 0, skipped: [] };

  for await (const line of createInterface({ input: globals, crlfDelay: Infinity })) {
    const createMatch = CREATE_ROLE.exec(line);
    if (createMatch?.[1]) {
      const role = unquote(createMatch[1]);
      if (existing.has(role)) continue;
      await admin.query(line);
      created.add(role);
      result.created.push(role);
      continue;
    }
    const alterMatch = ALTER_ROLE.exec(line) ?? COMMENT_ROLE.exec(line);
    if (alterMatch?.[1]) {
      if (created.has(unquote(alterMatch[1]))) await admin.query(line);
      continue;
    }
    const grantMatch = GRANT_ROLE.exec(line);
    if (grantMatch?.[1] && grantMatch[2]) {
      const touchesNewRole =
        created.has(unquote(grantMatch[1])) || created.has(unquote(grantMatch[2]));
      if (!touchesNewRole) continue;
      // The grantor may not exist here, so the membership is granted by the restoring role.
      await admin.query(`GRANT ${grantMatch[1]} TO ${grantMatch[2]}${grantMatch[3] ?? ''}`);
      result.memberships++;
      continue;
    }
    const tablespace = TABLESPACE.exec(line);
    if (tablespace?.[1]) result.skipped.push(`tablespace ${unquote(tablespace[1])}`);
  }
  return result;
}

/** Fails with ERR_PG_ROLE_MISSING when any of `roles` does not exist in the target cluster. */
export async function requireRoles(admin: pg.Client, roles: readonly string[]): Promise<void> {
  const existing = await readRoleNames(admin);
  const missing = roles.filter((role) => !existing.has(role));
  if (missing.length === 0) return;
  throw new BackupError('ERR_PG_ROLE_MISSING', `the dump needs roles that do not exist in the ` +
    `target cluster: ${missing.join(', ')}; restore with roles applied from globals.sql ` +
    '(--roles), create them first, or restore without owners and grants (--no-owner)');
}

async function readRoleNames(admin: pg.Client): Promise<Set<string>> {
  const result = await admin.query<{ rolname: string }>('SELECT rolname FROM pg_roles');
  return new Set(result.rows.map((row) => row.rolname));
}

function unquote(ident: string): string {
  return ident.startsWith('"') ? ident.slice(1, -1).replaceAll('""', '"') : ident;
}
