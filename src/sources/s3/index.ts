export { createS3Source, type S3SourceDeps } from './source.ts';
export { createS3Client, isS3NotFound, s3Error, type S3Connection } from './client.ts';
export {
  listBucket,
  DEFAULT_MAX_EMPTY_PAGES,
  DEFAULT_MAX_LIST_REQUESTS,
  type ListedObject,
  type ListOptions,
} from './list.ts';
export {
  decodeSegment,
  encodeSegment,
  keyToPath,
  pathToKey,
  planKeyPaths,
  EMPTY_SEGMENT,
  OBJECT_SUFFIX,
} from './key-path.ts';
export { forEachConcurrent } from './pool.ts';
export { withBoundedHeapGrowth } from './heap.ts';
