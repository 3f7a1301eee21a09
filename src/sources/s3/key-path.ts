/**
 * Reversible mapping between S3 object keys and paths in a snapshot, below
 * the bucket's folder. docs/s3-layout.md describes the same rules for people
 * who restore by hand.
 *
 * A key is split on "/". Every segment but the last names a folder, and the
 * last names the object's file. Each segment is escaped so that it is a
 * valid tree node name and so that decoding gives back the exact key:
 *
 * - "%" and the control characters U+0000-U+001F and U+007F become "%XX",
 *   the upper-case hex of their UTF-8 byte.
 * - A segment "." becomes "%2E" and ".." becomes "%2E%2E".
 * - An empty segment (from a leading, trailing or doubled "/") becomes
 *   "%empty".
 * - When a key is both an object and the prefix of other keys (`a` and
 *   `a/b`), the object's file name gets the suffix "%object" so that it
 *   does not collide with the folder of the same name.
 *
 * Escaping only ever writes "%" followed by two upper-case hex digits, so
 * the markers "%empty" and "%object" ("m" and "o" are not hex digits) can
 * never come from escaping. Names are never Unicode-normalised: the NFC and
 * NFD spellings of one name are two keys and two paths.
 */

/** File name marker of an empty key segment. */
export const EMPTY_SEGMENT = '%empty';

/** Suffix of an object's file name when a folder of the same name exists. */
export const OBJECT_SUFFIX = '%object';

const NEEDS_ESCAPE = /[%\u0000-\u001f\u007f]/g;
const ESCAPE_OR_MARKER = /%([0-9A-F]{2})|%/g;

/** Escapes one key segment into a tree node name. */
export function encodeSegment(segment: string): string {
  if (segment === '') return EMPTY_SEGMENT;
  if (segment === '.') return '%2E';
  if (segment === '..') return '%2E%2E';
  return segment.replace(NEEDS_ESCAPE, (ch) => `%${hexByte(ch.charCodeAt(0))}`);
}

/**
 * Decodes a tree node name made by encodeSegment back into the key segment.
 * Throws a RangeError on a name that encodeSegment never produces.
 */
export function decodeSegment(name: string): string {
  if (name === EMPTY_SEGMENT) return '';
  const decoded = name.replace(ESCAPE_OR_MARKER, (match, hex: string | undefined) => {
    if (hex === undefined) throw new RangeError(`invalid escape in snapshot name ${name}`);
    return String.fromCharCode(parseInt(hex, 16));
  });
  if (encodeSegment(decoded) !== name) {
    throw new RangeError(`snapshot name ${name} is not in the escaped form of any key`);
  }
  return decoded;
}

/**
 * Maps an object key to its path below the bucket's folder.
 * `isPrefix` is true when other keys of the bucket start with `key + "/"`,
 * and then the object's file name gets OBJECT_SUFFIX.
 */
export function keyToPath(key: string, isPrefix: boolean): string[] {
  const path = key.split('/').map(encodeSegment);
  if (isPrefix) path[path.length - 1] += OBJECT_SUFFIX;
  return path;
}

/** Maps a path made by keyToPath back to the object key. */
export function pathToKey(path: readonly string[]): string {
  if (path.length === 0) throw new RangeError('an object path needs at least one name');
  const last = path[path.length - 1] ?? '';
  const fileName = last.endsWith(OBJECT_SUFFIX) ? last.slice(0, -OBJECT_SUFFIX.length) : last;
  return [...path.slice(0, -1), fileName].map(decodeSegment).join('/');
}

/**
 * Maps every key of one bucket to its path, adding OBJECT_SUFFIX where a key
 * is also the prefix of another key. Keys must be distinct.
 */
export function planKeyPaths(keys: Iterable<string>): Map<string, string[]> {
  const all = [...keys];
  const prefixes = new Set<string>();
  for (const key of all) {
    for (let i = key.indexOf('/'); i !== -1; i = key.indexOf('/', i + 1)) {
      prefixes.add(key.slice(0, i));
    }
  }
  const plan = new Map<string, string[]>();
  for (const key of all) plan.set(key, keyToPath(key, prefixes.has(key)));
  return plan;
}

function hexByte(code: number): string {
  return code.toString(16).toUpperCase().padStart(2, '0');
}
