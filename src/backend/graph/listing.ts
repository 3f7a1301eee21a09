/** Lists a folder's children through Graph, following `@odata.nextLink` pages. */
import { BackupError } from '../../errors/index.ts';
import type { GraphHttp } from './http.ts';
import type { DriveItem, DriveItemPage } from './types.ts';

/** Largest page Graph is asked for; the service may return fewer. */
const PAGE_SIZE = 1000;

/**
 * Returns every child of the folder at `folderUrl`, or undefined when the
 * folder does not exist.
 */
export async function listChildren(
  http: GraphHttp,
  folderUrl: string,
  what: string,
): Promise<DriveItem[] | undefined> {
  const select = 'id,name,size,file,folder,lastModifiedDateTime';
  let url: string | undefined = `${folderUrl}/children?$select=${select}&$top=${PAGE_SIZE}`;
  const items: DriveItem[] = [];
  const seen = new Set<string>();
  while (url !== undefined) {
    const response = await http.request({ method: 'GET', url, what, accept: [404] });
    if (response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    const page = (await response.json()) as DriveItemPage;
    items.push(...page.value);
    url = page['@odata.nextLink'];
    if (url !== undefined && seen.has(url)) {
      throw new BackupError(
        'ERR_BACKEND_IO',
        `failed to ${what}: Graph sent the same next-page link twice; run the command again`,
      );
    }
    if (url !== undefined) seen.add(url);
  }
  return items;
}
