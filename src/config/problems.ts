/**
 * Turns zod issues and semantic checks into config problems: one line each, naming
 * the key path, the bad value and the fix.
 */
import type * as z from 'zod';
import { FORBIDDEN_KEY_HINTS, KEY_HELP } from './key-help.ts';
import { KNOWN_KEYS, SOURCE_TYPES } from './schema.ts';

/** A path into the config file, as zod writes it. */
export type KeyPath = readonly PropertyKey[];

/** One thing wrong with a config file. */
export interface Problem {
  path: KeyPath;
  /** Text after the path, e.g. `expected a list of bucket names, got "x"; write ...`. */
  text: string;
}

/** Formats a key path the way a reader writes it: `sources[1].buckets`. */
export function formatPath(path: KeyPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(top level)' : out;
}

/** Returns the value at `path` of a parsed YAML value, or undefined. */
export function valueAt(root: unknown, path: KeyPath): unknown {
  let current = root;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}

/**
 * Describes a value for a message. Strings are quoted and shortened, and the
 * password of a URL is replaced, so a message never repeats a secret.
 */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value !== 'string') return String(value);
  const redacted = value.replace(/(\/\/[^/:@\s]*:)[^@/\s]*@/, '$1***@');
  const short = redacted.length > 80 ? `${redacted.slice(0, 77)}...` : redacted;
  return JSON.stringify(short);
}

/** Builds the problem for a key whose value is wrong, from the key's help entry. */
export function valueProblem(path: KeyPath, input: unknown, rule?: string): Problem {
  const help = KEY_HELP[helpPattern(path)];
  const expected = rule ?? help?.expected ?? 'a different value';
  const fix = help ? `; write ${help.example(input)}` : '';
  if (input === undefined) return { path, text: `missing, expected ${expected}${fix}` };
  return { path, text: `expected ${expected}, got ${describeValue(input)}${fix}` };
}

/** Converts zod's issues into problems, reading bad values from the raw YAML value. */
export function problemsFromIssues(issues: readonly z.core.$ZodIssue[], raw: unknown): Problem[] {
  const problems: Problem[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) problems.push(unknownKeyProblem(issue.path, key, raw));
      continue;
    }
    const input = valueAt(raw, issue.path);
    if (issue.code === 'invalid_union' && issue.path.at(-1) === 'type') {
      problems.push(sourceTypeProblem(issue.path, input));
      continue;
    }
    problems.push(valueProblem(issue.path, input));
  }
  return problems;
}

/** Returns the closest of `candidates` to `word` when it is near enough to be a typo. */
export function closestMatch(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const allowed = Math.max(1, Math.floor(word.length / 3));
  return bestDistance <= allowed ? best : undefined;
}

function unknownKeyProblem(parent: KeyPath, key: string, raw: unknown): Problem {
  const path = [...parent, key];
  const forbidden = FORBIDDEN_KEY_HINTS[key];
  if (forbidden) return { path, text: `unknown key; ${forbidden}` };

  const context = keyContext(parent, raw);
  const known = KNOWN_KEYS[context] ?? [];
  const match = closestMatch(key, known);
  if (match) return { path, text: `unknown key; did you mean ${match}?` };

  const owner = SOURCE_TYPES.find((type) => type !== context && KNOWN_KEYS[type]?.includes(key));
  if (owner && parent[0] === 'sources') {
    return { path, text: `unknown key for a ${context} source (${key} belongs to ${owner} sources)` };
  }
  return { path, text: `unknown key; the keys allowed here are ${known.join(', ')}` };
}

function sourceTypeProblem(path: KeyPath, input: unknown): Problem {
  const match = typeof input === 'string' ? closestMatch(input, SOURCE_TYPES) : undefined;
  if (!match) return valueProblem(path, input);
  const text = `expected one of ${SOURCE_TYPES.join(', ')}, got ${describeValue(input)}`;
  return { path, text: `${text}; did you mean type: ${match}?` };
}

/** Names the object a key sits in: a section name, a source type, or '' for the top. */
function keyContext(parent: KeyPath, raw: unknown): string {
  if (parent.length === 0) return '';
  if (parent[0] === 'sources' && parent.length === 2) {
    const type = valueAt(raw, [...parent, 'type']);
    return typeof type === 'string' ? type : '';
  }
  return String(parent[0]);
}

function helpPattern(path: KeyPath): string {
  return formatPath(path.map((part) => (typeof part === 'number' ? -1 : part))).replaceAll(
    '[-1]',
    '[]',
  );
}

/** Levenshtein distance, for near-miss key names. */
function editDistance(a: string, b: string): number {
  // Optimal string alignment: a swap of two neighbouring letters, a common
  // typo such as "paht", counts as one edit instead of two.
  let beforePrevious: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      let distance = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        distance = Math.min(distance, (beforePrevious[j - 2] ?? 0) + 1);
      }
      current.push(distance);
    }
    beforePrevious = previous;
    previous = current;
  }
  return previous[b.length] ?? 0;
}
