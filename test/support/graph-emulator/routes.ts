/**
 * Parses Graph drive URLs: which drive (`/me/drive`, `/drives/{id}`,
 * `/users/{upn}/drive`, `/sites/{id}/drive`), which item (`/root`,
 * `/items/{id}`, either followed by `:/relative/path:`), and which action
 * (`/children`, `/content`, `/createUploadSession`).
 */
import { invalidRequest } from './graph-error.ts';

/** How the request names its drive. */
export type DriveSelector =
  | { kind: 'me' }
  | { kind: 'drive'; id: string }
  | { kind: 'user'; userPrincipalName: string }
  | { kind: 'site'; siteId: string };

/** What the request is about within the drive. */
export type ItemAction = 'item' | 'children' | 'content' | 'createUploadSession';

/** A parsed drive request. `item` is undefined for the drive resource itself. */
export interface DriveRoute {
  drive: DriveSelector;
  item:
    | {
        /** Undefined for `/root`. */
        itemId: string | undefined;
        /** Decoded path segments after the item, from `:/a/b:`. */
        segments: string[];
        action: ItemAction;
      }
    | undefined;
}

const DRIVE_PREFIXES: Array<[RegExp, (match: RegExpExecArray) => DriveSelector]> = [
  [/^\/me\/drive/, () => ({ kind: 'me' })],
  [/^\/drives\/([^/:]+)/, (m) => ({ kind: 'drive', id: decodeURIComponent(m[1]!) })],
  [/^\/users\/([^/:]+)\/drive/, (m) => ({ kind: 'user', userPrincipalName: decodeURIComponent(m[1]!) })],
  [/^\/sites\/([^/:]+)\/drive/, (m) => ({ kind: 'site', siteId: decodeURIComponent(m[1]!) })],
];

// `/root` or `/items/{id}`, then an optional `:/path` with an optional
// closing colon, then an optional action. The path is matched on the raw
// URL, where a colon inside a name is still percent-encoded.
const ITEM_PATTERN =
  /^\/(?:root|items\/([^/:]+))(?::(\/[^:]*):?)?(\/children|\/content|\/createUploadSession)?\/?$/;

/** Parses the path of an API request (after `/v1.0`), or returns undefined when it is no drive route. */
export function parseDriveRoute(rawPath: string): DriveRoute | undefined {
  for (const [pattern, select] of DRIVE_PREFIXES) {
    const match = pattern.exec(rawPath);
    if (match === null) {
      continue;
    }
    const rest = rawPath.slice(match[0].length);
    if (rest === '' || rest === '/') {
      return { drive: select(match), item: undefined };
    }
    const item = parseItem(rest);
    return item === undefined ? undefined : { drive: select(match), item };
  }
  return undefined;
}

function parseItem(rest: string): DriveRoute['item'] {
  const match = ITEM_PATTERN.exec(rest);
  if (match === null) {
    return undefined;
  }
  const itemId = match[1] === undefined ? undefined : decodeURIComponent(match[1]);
  const segments = (match[2] ?? '')
    .split('/')
    .filter((segment) => segment !== '')
    .map(decodeSegment);
  const action = (match[3]?.slice(1) ?? 'item') as ItemAction;
  return { itemId, segments, action };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw invalidRequest(`the path segment "${segment}" is not valid percent-encoding`);
  }
}
