/**
 * Encodings that restic's Go code applies to tree nodes, so that our trees
 * read back in restic exactly as its own do: Go's strconv.Quote and Unquote
 * for node names, encoding/json's string escaping, RFC 3339 times with
 * nanoseconds, and os.FileMode bits.
 */

/** os.FileMode type and special bits (Go's os package, fs.FileMode). */
export const GO_MODE = {
  dir: 0x80000000,
  symlink: 1 << 27,
  device: 1 << 26,
  namedPipe: 1 << 25,
  socket: 1 << 24,
  setuid: 1 << 23,
  setgid: 1 << 22,
  charDevice: 1 << 21,
  sticky: 1 << 20,
} as const;

/** Go's unicode.IsPrint: categories L, M, N, P and S, plus the ASCII space. */
const GO_PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

const SHORT_ESCAPES: Record<number, string> = {
  0x07: '\\a',
  0x08: '\\b',
  0x0c: '\\f',
  0x0a: '\\n',
  0x0d: '\\r',
  0x09: '\\t',
  0x0b: '\\v',
};

/**
 * Quotes `text` as Go's strconv.Quote does, without the surrounding quotes.
 * restic stores node names in this form inside the JSON string.
 */
export function goQuote(text: string): string {
  let out = '';
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (char === '"' || char === '\\') out += '\\' + char;
    else if (GO_PRINTABLE.test(char)) out += char;
    else if (SHORT_ESCAPES[code] !== undefined) out += SHORT_ESCAPES[code];
    else if (code < 0x20 || code === 0x7f) out += '\\x' + hex(code, 2);
    else if (code < 0x10000) out += '\\u' + hex(code, 4);
    else out += '\\U' + hex(code, 8);
  }
  return out;
}

function hex(value: number, digits: number): string {
  return value.toString(16).padStart(digits, '0');
}

const UNQUOTE_SIMPLE: Record<string, number> = {
  a: 0x07,
  b: 0x08,
  f: 0x0c,
  n: 0x0a,
  r: 0x0d,
  t: 0x09,
  v: 0x0b,
  '\\': 0x5c,
  '"': 0x22,
};

/**
 * Reverses goQuote, as Go's strconv.Unquote does for a double-quoted string.
 * Byte escapes (\x, octal) may form UTF-8 sequences; invalid UTF-8 becomes
 * U+FFFD. Throws a SyntaxError on an invalid escape.
 */
export function goUnquote(quoted: string): string {
  if (!quoted.includes('\\')) return quoted;
  const bytes: number[] = [];
  const encoder = new TextEncoder();
  let i = 0;
  while (i < quoted.length) {
    const char = quoted[i]!;
    if (char !== '\\') {
      const codePoint = quoted.codePointAt(i)!;
      const literal = String.fromCodePoint(codePoint);
      bytes.push(...encoder.encode(literal));
      i += literal.length;
      continue;
    }
    i = unquoteEscape(quoted, i + 1, bytes, encoder);
  }
  return new TextDecoder().decode(Uint8Array.from(bytes));
}

/** Decodes the escape whose letter is at `i`, appends its bytes and returns the next index. */
function unquoteEscape(text: string, i: number, bytes: number[], encoder: InstanceType<typeof TextEncoder>): number {
  const letter = text[i];
  if (letter === undefined) throw new SyntaxError(`name ${JSON.stringify(text)} ends in a backslash`);
  const simple = UNQUOTE_SIMPLE[letter];
  if (simple !== undefined) {
    bytes.push(simple);
    return i + 1;
  }
  const widths: Record<string, number> = { x: 2, u: 4, U: 8 };
  const width = widths[letter];
  if (width !== undefined) {
    const digits = text.slice(i + 1, i + 1 + width);
    if (!/^[0-9a-fA-F]+$/.test(digits) || digits.length !== width) {
      throw new SyntaxError(`invalid \\${letter} escape in name ${JSON.stringify(text)}`);
    }
    const value = parseInt(digits, 16);
    if (letter === 'x') bytes.push(value);
    else bytes.push(...encoder.encode(String.fromCodePoint(value)));
    return i + 1 + width;
  }
  const octal = text.slice(i, i + 3);
  if (/^[0-7]{3}$/.test(octal) && parseInt(octal, 8) < 256) {
    bytes.push(parseInt(octal, 8));
    return i + 3;
  }
  throw new SyntaxError(`invalid escape \\${letter} in name ${JSON.stringify(text)}`);
}

const GO_JSON_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
  '\b': '\\u0008',
  '\f': '\\u000c',
};

/** Encodes a JSON string literal the way Go 1.19's encoding/json does. */
export function goJsonString(text: string): string {
  return JSON.stringify(text).replace(/[<>&\u2028\u2029]|\\[bf]/g, (match) => {
    if (match === '\\b') return GO_JSON_ESCAPES['\b']!;
    if (match === '\\f') return GO_JSON_ESCAPES['\f']!;
    return GO_JSON_ESCAPES[match]!;
  });
}

/** The latest time Go's restic writes (restic.FixTime clamps years to 0..9999). */
const MAX_TIME_MILLIS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const MIN_TIME_MILLIS = new Date('0000-01-01T00:00:00Z').getTime();

/** Formats a Date as Go's time.RFC3339Nano in UTC, trailing zeros of the fraction trimmed. */
export function formatGoTime(date: Date): string {
  const millis = date.getTime();
  if (Number.isNaN(millis)) throw new RangeError('invalid date in a tree node');
  const inRange = millis >= MIN_TIME_MILLIS && millis <= MAX_TIME_MILLIS;
  const clamped = inRange ? date : new Date(Math.min(MAX_TIME_MILLIS, Math.max(MIN_TIME_MILLIS, millis)));
  // Years 0 to 9999 give "YYYY-MM-DDTHH:MM:SS.mmmZ", 24 characters.
  const iso = clamped.toISOString();
  const seconds = iso.slice(0, 19);
  const fraction = iso.slice(20, 23);
  if (fraction === '000') return `${seconds}Z`;
  if (fraction.endsWith('00')) return `${seconds}.${fraction[0]}Z`;
  if (fraction.endsWith('0')) return `${seconds}.${fraction.slice(0, 2)}Z`;
  return `${seconds}.${fraction}Z`;
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|([+-])(\d{2}):(\d{2}))$/;

/**
 * Parses an RFC 3339 time with up to nanoseconds, as Go writes it. The Date
 * keeps milliseconds, so sub-millisecond digits are dropped.
 */
export function parseGoTime(text: string): Date {
  const match = RFC3339.exec(text);
  if (!match) throw new SyntaxError(`invalid time ${JSON.stringify(text)} in a tree node`);
  const [, year, month, day, hour, minute, second, fraction, , sign, offH, offM] = match;
  const fields = [Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second)] as const;
  let base: number;
  if (Number(year) >= 100) {
    base = Date.UTC(Number(year), ...fields);
  } else {
    // Date.UTC reads years 0 to 99 as 1900 to 1999.
    const date = new Date(0);
    date.setUTCFullYear(Number(year), fields[0], fields[1]);
    date.setUTCHours(fields[2], fields[3], fields[4]);
    base = date.getTime();
  }
  const millis = Number((fraction ?? '').padEnd(3, '0').slice(0, 3));
  let offsetMinutes = 0;
  if (sign) offsetMinutes = (Number(offH) * 60 + Number(offM)) * (sign === '-' ? -1 : 1);
  return new Date(base + millis - offsetMinutes * 60_000);
}

/** Converts POSIX permission and special bits (st_mode & 0o7777) to os.FileMode bits. */
export function posixToGoMode(mode: number): number {
  let goMode = mode & 0o777;
  if (mode & 0o4000) goMode += GO_MODE.setuid;
  if (mode & 0o2000) goMode += GO_MODE.setgid;
  if (mode & 0o1000) goMode += GO_MODE.sticky;
  return goMode;
}

/** Converts os.FileMode bits to POSIX permission and special bits, dropping the type bits. */
export function goToPosixMode(goMode: number): number {
  let mode = goMode & 0o777;
  if (goMode & GO_MODE.setuid) mode |= 0o4000;
  if (goMode & GO_MODE.setgid) mode |= 0o2000;
  if (goMode & GO_MODE.sticky) mode |= 0o1000;
  return mode;
}
