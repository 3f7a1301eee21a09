/**
 * Key files (restic design document, "Keys, Encryption and MAC"): plain JSON
 * in `keys/` holding scrypt parameters and the master key sealed under the
 * key derived from a password. The file name is the SHA-256 of its bytes.
 */
import { createHash } from 'node:crypto';
import type { Backend } from '../backend/index.ts';
import {
  calibrateKdf,
  deriveKey,
  masterKeyFromJson,
  masterKeyToJson,
  newKdfParams,
  open,
  seal,
  type MasterKey,
} from '../crypto/index.ts';
import { BackupError, isBackupError } from '../errors/index.ts';
import type { Id, KeyInfo } from './types.ts';

/** The JSON of a key file. */
export interface KeyFileJson {
  created: string;
  username: string;
  hostname: string;
  kdf: string;
  N: number;
  r: number;
  p: number;
  salt: string;
  data: string;
}

/**
 * Seals `master` under `password` and stores it as a new key file; returns its
 * id. Its scrypt cost is calibrated so that deriving the key takes about
 * `kdfTargetMillis` (see calibrateKdf; 0 gives MIN_KDF_COST).
 */
export async function writeKeyFile(
  backend: Backend,
  master: MasterKey,
  password: string,
  who: { username: string; hostname: string },
  kdfTargetMillis?: number,
): Promise<Id> {
  const params = newKdfParams(await calibrateKdf(kdfTargetMillis));
  const userKey = await deriveKey(password, params);
  const sealed = seal(userKey, Buffer.from(JSON.stringify(masterKeyToJson(master))));
  const json: KeyFileJson = {
    created: new Date().toISOString(),
    username: who.username,
    hostname: who.hostname,
    kdf: 'scrypt',
    N: params.N,
    r: params.r,
    p: params.p,
    salt: params.salt.toString('base64'),
    data: sealed.toString('base64'),
  };
  const bytes = Buffer.from(JSON.stringify(json));
  const id = createHash('sha256').update(bytes).digest('hex');
  await backend.save({ type: 'keys', name: id }, bytes);
  return id;
}

/** Reads and parses one key file. */
export async function readKeyFile(backend: Backend, id: Id): Promise<KeyFileJson> {
  const bytes = await backend.load({ type: 'keys', name: id });
  try {
    return JSON.parse(bytes.toString('utf8')) as KeyFileJson;
  } catch (err) {
    throw new BackupError('ERR_REPO_CORRUPT', `key file keys/${id} is not valid JSON`, {
      cause: err,
    });
  }
}

/**
 * Tries `password` on every key file and returns the master key and the id of
 * the key file that opened it; ERR_PASSWORD_WRONG when none does.
 */
export async function openWithPassword(
  backend: Backend,
  password: string,
): Promise<{ master: MasterKey; keyId: Id }> {
  const keys = await backend.list('keys');
  for (const { name } of keys) {
    const file = await readKeyFile(backend, name);
    if (file.kdf !== 'scrypt') continue;
    const params = { N: file.N, r: file.r, p: file.p, salt: Buffer.from(file.salt, 'base64') };
    const userKey = await deriveKey(password, params);
    try {
      const plaintext = open(userKey, Buffer.from(file.data, 'base64'));
      return { master: masterKeyFromJson(JSON.parse(plaintext.toString('utf8'))), keyId: name };
    } catch (err) {
      if (!isBackupError(err, 'ERR_REPO_CORRUPT')) throw err;
    }
  }
  throw new BackupError(
    'ERR_PASSWORD_WRONG',
    `wrong password: none of the ${keys.length} keys of ${backend.location} opens with it; check BGAPP_BACKUP_PASSWORD, BGAPP_BACKUP_PASSWORD_FILE or repository.password_file`,
  );
}

/** Lists every key file's public fields; `currentId` marks the key in use. */
export async function listKeyInfos(backend: Backend, currentId: Id): Promise<KeyInfo[]> {
  const out: KeyInfo[] = [];
  for (const { name } of await backend.list('keys')) {
    const file = await readKeyFile(backend, name);
    out.push({
      id: name,
      created: file.created,
      username: file.username,
      hostname: file.hostname,
      current: name === currentId,
    });
  }
  return out.sort((a, b) => a.created.localeCompare(b.created));
}
