/**
 * State shared by the emulator's request handlers, and the driveItem and
 * drive JSON they return (Microsoft Graph, "driveItem resource type" and
 * "drive resource type").
 */
import type { DriveItemRecord, DriveStore } from './drive.ts';
import type { FaultPlan } from './faults.ts';
import type { UploadSessionStore } from './upload-sessions.ts';

/** What the signed-in caller may do: `read` gets 403 on writes, `none` on everything. */
export type Permission = 'read-write' | 'read' | 'none';

/** How the caller signed in. Application (client credentials) tokens have no `/me`. */
export type SignIn = 'delegated' | 'application';

/** The emulator's state, as the handlers see it. */
export interface EmulatorContext {
  drive: DriveStore;
  sessions: UploadSessionStore;
  faults: FaultPlan;
  /** `http://127.0.0.1:<port>`. */
  origin: string;
  /** `<origin>/v1.0`, the Graph base URL. */
  baseUrl: string;
  token: string;
  permission: Permission;
  signIn: SignIn;
  userPrincipalName: string;
  siteId: string;
  simpleUploadMaxBytes: number;
  pageSize: number;
}

/** Builds the driveItem JSON of an item, after the fault plan's item faults. */
export function itemJson(context: EmulatorContext, item: DriveItemRecord): Record<string, unknown> {
  const { drive } = context;
  const path = drive.pathOf(item);
  const json: Record<string, unknown> = {
    id: item.id,
    name: item.parentId === undefined ? 'root' : item.name,
    eTag: `"{${item.id}},${item.version}"`,
    cTag: `"c:{${item.id}},${item.version}"`,
    size: drive.sizeOf(item),
    createdDateTime: item.createdDateTime.toISOString(),
    lastModifiedDateTime: item.lastModifiedDateTime.toISOString(),
    parentReference: parentReference(context, item),
  };
  if (item.parentId === undefined) {
    json.root = {};
  }
  if (item.kind === 'folder') {
    json.folder = { childCount: item.children.size };
  } else {
    // Graph documents quickXorHash as the one hash every drive type reports;
    // sha256Hash is marked "isn't supported", so it is left out.
    json.file = { mimeType: 'application/octet-stream', hashes: { quickXorHash: item.quickXorHash } };
    json['@microsoft.graph.downloadUrl'] = downloadUrl(context, item);
  }
  context.faults.applyToItem(path, json);
  return json;
}

/** Builds the drive resource JSON, with its quota. */
export function driveJson(context: EmulatorContext): Record<string, unknown> {
  const { drive } = context;
  return {
    id: drive.id,
    driveType: drive.driveType,
    name: drive.driveType === 'documentLibrary' ? 'Documents' : 'OneDrive',
    owner: { user: { displayName: context.userPrincipalName } },
    quota: drive.quota(),
  };
}

/** Returns the pre-authenticated URL that serves an item's content. */
export function downloadUrl(context: EmulatorContext, item: DriveItemRecord): string {
  return `${context.origin}/download/${item.id}/${item.version}`;
}

function parentReference(context: EmulatorContext, item: DriveItemRecord): Record<string, unknown> {
  const { drive } = context;
  const reference: Record<string, unknown> = { driveId: drive.id, driveType: drive.driveType };
  if (item.parentId !== undefined) {
    const parent = drive.item(item.parentId);
    const parentPath = drive.pathOf(parent);
    reference.id = parent.id;
    reference.path = parentPath === '/' ? '/drive/root:' : `/drive/root:${parentPath}`;
  }
  return reference;
}
