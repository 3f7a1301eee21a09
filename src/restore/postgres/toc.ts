/**
 * Reads and filters the table of contents of a custom-format archive, as
 * `pg_restore --list` prints it. The filtered list keeps the archive's
 * order and only comments entries out, because a dump read from a pipe can
 * only be restored in the order it was written.
 */
import { BackupError } from '../../errors/index.ts';

/** One line of `pg_restore --list`. */
export interface TocEntry {
  line: string;
  /** Object type, such as "TABLE DATA" or "INDEX". */
  desc: string;
  /** Schema, or "-" for objects outside schemas. */
  schema: string;
  /** The entry's tag, such as a table name or "TABLE parcels" for ACL and COMMENT entries. */
  tag: string;
}

// Object types of more than one word, longest first so that prefixes match last.
const MULTI_WORD_TYPES = [
  'PUBLICATION TABLES IN SCHEMA', 'SEQUENCE OWNED BY', 'MATERIALIZED VIEW DATA',
  'FOREIGN DATA WRAPPER', 'TEXT SEARCH CONFIGURATION', 'TEXT SEARCH DICTIONARY',
  'TEXT SEARCH PARSER', 'TEXT SEARCH TEMPLATE', 'PUBLICATION TABLE', 'PROCEDURAL LANGUAGE',
  'MATERIALIZED VIEW', 'CHECK CONSTRAINT', 'OPERATOR FAMILY', 'OPERATOR CLASS',
  'FOREIGN TABLE', 'EVENT TRIGGER', 'ACCESS METHOD', 'FK CONSTRAINT', 'SEQUENCE SET',
  'ROW SECURITY', 'USER MAPPING', 'INDEX ATTACH', 'TABLE ATTACH', 'LARGE OBJECT',
  'DEFAULT ACL', 'SHELL TYPE', 'TABLE DATA',
];

/** Parses the output of `pg_restore --list`; comment lines are skipped. */
export function parseToc(listing: string): TocEntry[] {
  const entries: TocEntry[] = [];
  for (const line of listing.split('\n')) {
    const match = /^\d+; \d+ \d+ (.*)$/.exec(line);
    if (!match?.[1]) continue;
    const rest = match[1];
    const desc = MULTI_WORD_TYPES.find((type) => rest.startsWith(`${type} `)) ??
      rest.split(' ')[0] ?? '';
    const afterDesc = rest.slice(desc.length + 1);
    const schemaEnd = afterDesc.indexOf(' ');
    const schema = afterDesc.slice(0, schemaEnd);
    // The last word is the owner, empty for objects such as extensions.
    const tagAndOwner = afterDesc.slice(schemaEnd + 1);
    const tag = tagAndOwner.slice(0, tagAndOwner.lastIndexOf(' '));
    entries.push({ line, desc, schema, tag });
  }
  return entries;
}

/** A table asked for by `--table`, as "schema.table" or "table" in any schema. */
export interface TableSelector {
  schema?: string;
  table: string;
}

/** Parses the `tables` option. */
export function parseTableSelectors(tables: readonly string[]): TableSelector[] {
  return tables.map((text) => {
    const dot = text.indexOf('.');
    if (dot < 0) return { table: text };
    return { schema: text.slice(0, dot), table: text.slice(dot + 1) };
  });
}

/** Rules for which archive entries the restore list keeps. */
export interface TocFilter {
  /** Extensions and schemas already in the target, whose entries are skipped. */
  existingExtensions: ReadonlySet<string>;
  existingSchemas: ReadonlySet<string>;
  /** When set, only these tables, "schema.table", and what belongs to them. */
  tables?: ReadonlySet<string>;
  /** Owning table, "schema.table", of index and sequence entries, by entryKey. */
  owners?: ReadonlyMap<string, string>;
}

/** Key of an entry in the owners map. */
export function entryKey(desc: string, schema: string, name: string): string {
  return `${desc}\u0000${schema}\u0000${name}`;
}

/** Returns the `pg_restore -L` list with unwanted entries commented out. */
export function filterToc(entries: readonly TocEntry[], filter: TocFilter): string {
  const tableSchemas = new Set(entries.filter((e) => e.desc === 'TABLE').map((e) => e.schema));
  const lines = entries.map((entry) =>
    keepEntry(entry, filter, tableSchemas) ? entry.line : `;${entry.line}`,
  );
  return `${lines.join('\n')}\n`;
}

function keepEntry(entry: TocEntry, filter: TocFilter, tableSchemas: ReadonlySet<string>): boolean {
  if (entry.desc === 'EXTENSION') return !filter.existingExtensions.has(entry.tag);
  if (entry.desc === 'COMMENT' && entry.tag.startsWith('EXTENSION ')) {
    return !filter.existingExtensions.has(entry.tag.slice('EXTENSION '.length));
  }
  if (entry.desc === 'SCHEMA') {
    if (filter.existingSchemas.has(entry.tag)) return false;
    // With --table, a schema without tables in the dump may be where an extension goes.
    if (filter.tables === undefined || !tableSchemas.has(entry.tag)) return true;
    return schemaOfTables(filter.tables).has(entry.tag);
  }
  if (filter.tables === undefined) return true;
  return belongsToTables(entry, filter.tables, filter.owners ?? new Map());
}

function belongsToTables(
  entry: TocEntry,
  tables: ReadonlySet<string>,
  owners: ReadonlyMap<string, string>,
): boolean {
  const qualified = (name: string) => tables.has(`${entry.schema}.${name}`);
  switch (entry.desc) {
    case 'TABLE':
    case 'TABLE DATA':
      return qualified(entry.tag);
    // These tags start with the table's name: "parcels parcels_pkey".
    case 'CONSTRAINT':
    case 'CHECK CONSTRAINT':
    case 'DEFAULT':
    case 'TRIGGER':
    case 'POLICY':
    case 'RULE':
      return qualified(entry.tag.split(' ')[0] ?? '');
    case 'ROW SECURITY':
      return qualified(entry.tag);
    case 'ACL':
    case 'COMMENT':
      return entry.tag.startsWith('TABLE ') && qualified(entry.tag.slice('TABLE '.length)) ||
        entry.tag.startsWith('COLUMN ') && qualified(entry.tag.slice(7).split('.')[0] ?? '');
    case 'INDEX':
    case 'SEQUENCE':
    case 'SEQUENCE OWNED BY':
    case 'SEQUENCE SET': {
      const desc = entry.desc === 'INDEX' ? 'INDEX' : 'SEQUENCE';
      const owner = owners.get(entryKey(desc, entry.schema, entry.tag));
      return owner !== undefined && tables.has(owner);
    }
    default:
      return false;
  }
}

function schemaOfTables(tables: ReadonlySet<string>): Set<string> {
  return new Set([...tables].map((name) => name.slice(0, name.indexOf('.'))));
}

/** Resolves the selectors against the archive's tables, as "schema.table". */
export function resolveTables(
  entries: readonly TocEntry[],
  selectors: readonly TableSelector[],
): Set<string> {
  const tables = entries.filter((entry) => entry.desc === 'TABLE');
  const resolved = new Set<string>();
  for (const selector of selectors) {
    const matches = tables.filter((entry) => entry.tag === selector.table &&
      (selector.schema === undefined || entry.schema === selector.schema));
    if (matches.length === 0) {
      const name = selector.schema ? `${selector.schema}.${selector.table}` : selector.table;
      throw new BackupError('ERR_USAGE', `table "${name}" is not in the dump; ` +
        'list its tables with pg_restore --list');
    }
    for (const match of matches) resolved.add(`${match.schema}.${match.tag}`);
  }
  return resolved;
}

const IDENT = String.raw`("(?:[^"]|"")*"|[^\s."(]+)`;
const CREATE_INDEX = new RegExp(
  `^CREATE (?:UNIQUE )?INDEX ${IDENT} ON (?:ONLY )?${IDENT}\\.${IDENT} `,
);
const OWNED_BY = new RegExp(`^ALTER SEQUENCE ${IDENT}\\.${IDENT} OWNED BY ${IDENT}\\.${IDENT}\\.`);
const IDENTITY = new RegExp(
  `^ALTER TABLE (?:ONLY )?${IDENT}\\.${IDENT} ALTER COLUMN .* ADD GENERATED `,
);
const IDENTITY_SEQUENCE = new RegExp(`^\\s+SEQUENCE NAME ${IDENT}\\.${IDENT}$`);

/**
 * Finds the owning tables of indexes and sequences in the SQL that
 * pg_restore prints for INDEX and SEQUENCE entries, because their list
 * lines name only the index or sequence. Call `add` with each SQL line.
 */
export class OwnerScanner {
  readonly owners = new Map<string, string>();
  private identityTable: string | undefined;

  add(line: string): void {
    const index = CREATE_INDEX.exec(line);
    if (index?.[1] && index[2] && index[3]) {
      this.set('INDEX', index[2], index[1], `${unquote(index[2])}.${unquote(index[3])}`);
      return;
    }
    const owned = OWNED_BY.exec(line);
    if (owned?.[1] && owned[2] && owned[3] && owned[4]) {
      this.set('SEQUENCE', owned[1], owned[2], `${unquote(owned[3])}.${unquote(owned[4])}`);
      return;
    }
    const identity = IDENTITY.exec(line);
    if (identity?.[1] && identity[2]) {
      this.identityTable = `${unquote(identity[1])}.${unquote(identity[2])}`;
      return;
    }
    const sequence = IDENTITY_SEQUENCE.exec(line);
    if (sequence?.[1] && sequence[2] && this.identityTable) {
      this.set('SEQUENCE', sequence[1], sequence[2], this.identityTable);
      this.identityTable = undefined;
    }
  }

  private set(desc: string, schema: string, name: string, table: string): void {
    this.owners.set(entryKey(desc, unquote(schema), unquote(name)), table);
  }
}

function unquote(ident: string): string {
  return ident.startsWith('"') ? ident.slice(1, -1).replaceAll('""', '"') : ident;
}
