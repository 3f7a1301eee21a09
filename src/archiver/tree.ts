/**
 * Tree blobs as restic 0.14 writes and reads them. A tree is a JSON object
 * `{"nodes":[...]}` followed by a newline, with nodes sorted by the bytes of
 * their UTF-8 names (restic design document, "Trees and Data"). Field names
 * and order follow restic's Node type. Node names are stored Go-quoted
 * (strconv.Quote without the quotes), and modes are Go os.FileMode values.
 */
import { BackupError, errorMessage } from '../errors/index.ts';
import type { NodeMeta, TreeNode } from '../snapshot/index.ts';
import {
  formatGoTime,
  GO_MODE,
  goJsonString,
  goQuote,
  goToPosixMode,
  goUnquote,
  parseGoTime,
  posixToGoMode,
} from './go-format.ts';

/** Input of the node encoder, with `meta` in POSIX terms. */
export type EncodableNode =
  | { type: 'file'; name: string; meta: NodeMeta; size: number; content: readonly string[] }
  | { type: 'dir'; name: string; meta: NodeMeta; subtree: string }
  | { type: 'symlink'; name: string; meta: NodeMeta; linkTarget: string };

const TYPE_BITS: Record<EncodableNode['type'], number> = {
  file: 0,
  dir: GO_MODE.dir,
  symlink: GO_MODE.symlink,
};

/** Compares two names by the bytes of their UTF-8 forms, as Go compares strings. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Appends `"key":value` to `fields` when `value` is defined (Go's omitempty). */
function optional(fields: string[], key: string, value: string | number | bigint | undefined) {
  if (value === undefined || value === '' || value === 0 || value === 0n) return;
  const encoded = typeof value === 'string' ? goJsonString(value) : String(value);
  fields.push(`"${key}":${encoded}`);
}

/** Encodes one node as restic's JSON, fields in the order of restic's Node type. */
export function encodeNode(node: EncodableNode): string {
  const { meta } = node;
  const fields = [
    `"name":${goJsonString(goQuote(node.name))}`,
    `"type":"${node.type}"`,
    `"mode":${TYPE_BITS[node.type] + posixToGoMode(meta.mode)}`,
    `"mtime":"${formatGoTime(meta.mtime)}"`,
    `"atime":"${formatGoTime(meta.atime ?? meta.mtime)}"`,
    `"ctime":"${formatGoTime(meta.ctime ?? meta.mtime)}"`,
    `"uid":${meta.uid ?? 0}`,
    `"gid":${meta.gid ?? 0}`,
  ];
  optional(fields, 'user', meta.user);
  optional(fields, 'group', meta.group);
  optional(fields, 'inode', meta.inode);
  optional(fields, 'device_id', meta.deviceId);
  if (node.type === 'file') optional(fields, 'size', node.size);
  optional(fields, 'links', meta.links);
  if (node.type === 'symlink') optional(fields, 'linktarget', node.linkTarget);
  const content = node.type === 'file' ? `[${node.content.map((id) => `"${id}"`).join(',')}]` : 'null';
  fields.push(`"content":${content}`);
  if (node.type === 'dir') fields.push(`"subtree":"${node.subtree}"`);
  return `{${fields.join(',')}}`;
}

/** Encodes a tree blob: the nodes sorted by name, as JSON plus a newline. */
export function encodeTree(nodes: readonly EncodableNode[]): Buffer {
  const sorted = [...nodes].sort((a, b) => compareNames(a.name, b.name));
  return Buffer.from(`{"nodes":[${sorted.map(encodeNode).join(',')}]}\n`, 'utf8');
}

const NODE_TYPES = new Set<TreeNode['type']>([
  'file',
  'dir',
  'symlink',
  'dev',
  'chardev',
  'fifo',
  'socket',
]);

/** restic's Node JSON as JSON.parse returns it; big integers may lose precision. */
interface NodeJson {
  name?: unknown;
  type?: unknown;
  mode?: unknown;
  mtime?: unknown;
  atime?: unknown;
  ctime?: unknown;
  uid?: unknown;
  gid?: unknown;
  user?: unknown;
  group?: unknown;
  inode?: unknown;
  size?: unknown;
  linktarget?: unknown;
  linktarget_raw?: unknown;
  content?: unknown;
  subtree?: unknown;
}

/**
 * Decodes a tree blob into TreeNodes with POSIX modes, in stored order.
 * Throws ERR_REPO_CORRUPT naming the tree when the JSON is not a tree.
 */
export function decodeTree(treeId: string, blob: Uint8Array): TreeNode[] {
  try {
    const parsed = JSON.parse(Buffer.from(blob.buffer, blob.byteOffset, blob.length).toString('utf8'));
    const nodes: unknown = parsed?.nodes;
    if (nodes === null) return [];
    if (!Array.isArray(nodes)) throw new Error('"nodes" is not a list');
    return nodes.map((node: NodeJson) => decodeNode(node));
  } catch (err) {
    throw new BackupError(
      'ERR_REPO_CORRUPT',
      `tree ${treeId} is invalid: ${errorMessage(err)}; run \`restic check\` on the repository`,
      { cause: err },
    );
  }
}

function decodeNode(json: NodeJson): TreeNode {
  if (typeof json.name !== 'string') throw new Error('a node has no name');
  const type = json.type as TreeNode['type'];
  if (!NODE_TYPES.has(type)) throw new Error(`node ${json.name} has unknown type ${String(json.type)}`);
  const node: TreeNode = {
    name: goUnquote(json.name),
    type,
    mode: goToPosixMode(typeof json.mode === 'number' ? json.mode : 0),
    mtime: parseGoTime(String(json.mtime ?? '0001-01-01T00:00:00Z')),
  };
  if (typeof json.atime === 'string') node.atime = parseGoTime(json.atime);
  if (typeof json.ctime === 'string') node.ctime = parseGoTime(json.ctime);
  if (typeof json.uid === 'number') node.uid = json.uid;
  if (typeof json.gid === 'number') node.gid = json.gid;
  if (typeof json.user === 'string') node.user = json.user;
  if (typeof json.group === 'string') node.group = json.group;
  if (typeof json.inode === 'number') node.inode = json.inode;
  if (type === 'file') node.size = typeof json.size === 'number' ? json.size : 0;
  const target = decodeLinkTarget(json);
  if (target !== undefined) node.linkTarget = target;
  if (Array.isArray(json.content)) node.content = json.content.map(String);
  if (type === 'file' && node.content === undefined) node.content = [];
  if (typeof json.subtree === 'string') node.subtree = json.subtree;
  if (type === 'dir' && node.subtree === undefined) {
    throw new Error(`folder node ${node.name} has no subtree`);
  }
  return node;
}

/** Returns the link target; later restic versions store non-UTF-8 ones base64-encoded. */
function decodeLinkTarget(json: NodeJson): string | undefined {
  if (typeof json.linktarget_raw === 'string') {
    return Buffer.from(json.linktarget_raw, 'base64').toString('utf8');
  }
  return typeof json.linktarget === 'string' ? json.linktarget : undefined;
}
