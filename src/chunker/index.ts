/** Content-defined chunking of byte streams (FastCDC with a fixed gear table). */
export { Chunker, chunkStream, DEFAULT_CHUNKER_OPTIONS } from './chunker.ts';
export type { ChunkerOptions } from './chunker.ts';
export { gearTable64 } from './gear.ts';
