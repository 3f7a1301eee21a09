/** Public API of the crypto module: master keys, sealing, compression and scrypt. */
export {
  MASTER_KEY_BYTES,
  generateMasterKey,
  masterKeyFromBytes,
  masterKeyToBytes,
  masterKeyFromJson,
  masterKeyToJson,
  type MasterKey,
  type MasterKeyJson,
} from './master-key.ts';
export { SEAL_OVERHEAD, open, ownedArrayBuffer, releaseBuffer, seal, verifyMac } from './seal.ts';
export {
  compress,
  decompress,
  openBlob,
  openUnpacked,
  sealBlob,
  sealUnpacked,
  type SealedBlob,
} from './compress.ts';
export {
  DEFAULT_KDF_TARGET_MILLIS,
  MAX_KDF_TARGET_MILLIS,
  MIN_KDF_COST,
  calibrateKdf,
  deriveKey,
  kdfCostFor,
  newKdfParams,
  type KdfCost,
  type KdfParams,
  type KdfTiming,
} from './kdf.ts';
