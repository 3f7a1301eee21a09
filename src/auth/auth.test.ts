import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { INetworkModule, NetworkResponse } from '@azure/msal-node';
import { isBackupError } from '../errors/index.ts';
import {
  checkDriveForSignIn,
  createAccessTokenSource,
  signInWithDeviceCode,
  type GraphSignInSettings,
} from './index.ts';

const TENANT = '11111111-2222-3333-4444-555555555555';
const CLIENT_ID = '99999999-8888-7777-6666-555555555555';
const AUTHORITY = `https://login.microsoftonline.com/${TENANT}`;

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Replies to msal-node's requests as the identity platform would, without any network. */
class StubIdentityPlatform implements INetworkModule {
  readonly posts: URLSearchParams[] = [];
  revoked = false;
  private issued = 0;

  async sendGetRequestAsync<T>(url: string): Promise<NetworkResponse<T>> {
    if (url.includes('discovery/instance')) {
      return this.reply({
        tenant_discovery_endpoint: `${AUTHORITY}/v2.0/.well-known/openid-configuration`,
        'api-version': '1.1',
        metadata: [
          {
            preferred_network: 'login.microsoftonline.com',
            preferred_cache: 'login.windows.net',
            aliases: ['login.microsoftonline.com', 'login.windows.net'],
          },
        ],
      });
    }
    return this.reply({
      token_endpoint: `${AUTHORITY}/oauth2/v2.0/token`,
      authorization_endpoint: `${AUTHORITY}/oauth2/v2.0/authorize`,
      end_session_endpoint: `${AUTHORITY}/oauth2/v2.0/logout`,
      issuer: `https://login.microsoftonline.com/${TENANT}/v2.0`,
    });
  }

  async sendPostRequestAsync<T>(url: string, options?: { body?: string }): Promise<NetworkResponse<T>> {
    const form = new URLSearchParams(options?.body ?? '');
    this.posts.push(form);
    if (url.endsWith('/devicecode')) {
      return this.reply({
        user_code: 'ABCD-EFGH',
        device_code: 'device-code-1',
        verification_uri: 'https://microsoft.com/devicelogin',
        expires_in: 900,
        interval: 1,
        message: 'To sign in, open https://microsoft.com/devicelogin and enter ABCD-EFGH.',
      });
    }
    const grant = form.get('grant_type');
    if (grant === 'client_credentials') {
      return this.reply({ token_type: 'Bearer', expires_in: 3600, access_token: this.token('app') });
    }
    if (grant === 'refresh_token' && this.revoked) {
      return this.reply(
        { error: 'invalid_grant', error_description: 'AADSTS50173: the grant was revoked', error_codes: [50173] },
        400,
      );
    }
    return this.reply(this.userTokens());
  }

  private token(kind: string): string {
    this.issued++;
    return `${kind}-token-${this.issued}`;
  }

  private userTokens(): object {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      aud: CLIENT_ID,
      iss: `https://login.microsoftonline.com/${TENANT}/v2.0`,
      iat: now,
      nbf: now,
      exp: now + 3600,
      oid: 'user-object-id',
      sub: 'subject',
      tid: TENANT,
      preferred_username: 'ops@bgapp.example',
      name: 'Ops',
    };
    return {
      token_type: 'Bearer',
      scope: 'https://graph.microsoft.com/Files.ReadWrite.All',
      expires_in: 3600,
      ext_expires_in: 3600,
      access_token: this.token('user'),
      refresh_token: `refresh-${this.issued}`,
      id_token: `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(claims)}.`,
      client_info: base64url({ uid: 'user-object-id', utid: TENANT }),
    };
  }

  private reply<T>(body: object, status = 200): NetworkResponse<T> {
    return { headers: {}, body: body as T, status };
  }
}

describe('Graph sign-in', () => {
  let folder: string;

  before(async () => {
    folder = await mkdtemp(join(tmpdir(), 'bgapp-auth-'));
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  function delegated(stub: StubIdentityPlatform, cache = join(folder, 'cache.json')): GraphSignInSettings {
    return { authority: AUTHORITY, clientId: CLIENT_ID, tokenCacheFile: cache, networkClient: stub };
  }

  it('stores the device code sign-in in a 0600 cache file', async () => {
    const stub = new StubIdentityPlatform();
    const prompts: string[] = [];
    const account = await signInWithDeviceCode(delegated(stub), (prompt) => prompts.push(prompt.userCode));
    assert.deepEqual(prompts, ['ABCD-EFGH']);
    assert.equal(account.username, 'ops@bgapp.example');
    const info = await stat(join(folder, 'cache.json'));
    assert.equal(info.mode & 0o777, 0o600);
  });

  it('refreshes the cached sign-in silently', async () => {
    const stub = new StubIdentityPlatform();
    const source = await createAccessTokenSource(delegated(stub));
    assert.equal(source.kind, 'delegated');
    const token = await source.getAccessToken({ forceRefresh: true });
    assert.match(token, /^user-token-/);
    assert.equal(stub.posts.at(-1)?.get('grant_type'), 'refresh_token');
    assert.equal((await stat(join(folder, 'cache.json'))).mode & 0o777, 0o600);
  });

  it('rejects a revoked sign-in with ERR_AUTH_EXPIRED naming login', async () => {
    const stub = new StubIdentityPlatform();
    stub.revoked = true;
    const source = await createAccessTokenSource(delegated(stub));
    await assert.rejects(source.getAccessToken({ forceRefresh: true }), (err) =>
      isBackupError(err, 'ERR_AUTH_EXPIRED') && /bgapp-backup login/.test(err.message),
    );
  });

  it('rejects a missing sign-in with ERR_AUTH_EXPIRED', async () => {
    const source = await createAccessTokenSource(
      delegated(new StubIdentityPlatform(), join(folder, 'none.json')),
    );
    await assert.rejects(source.getAccessToken(), (err) => isBackupError(err, 'ERR_AUTH_EXPIRED'));
  });

  it('signs in as the app with a client secret file', async () => {
    const stub = new StubIdentityPlatform();
    const secretFile = join(folder, 'secret');
    await writeFile(secretFile, 'not-a-real-secret\n', { mode: 0o600 });
    const source = await createAccessTokenSource({
      authority: AUTHORITY,
      clientId: CLIENT_ID,
      clientSecretFile: secretFile,
      networkClient: stub,
    });
    assert.equal(source.kind, 'application');
    assert.match(await source.getAccessToken(), /^app-token-/);
    assert.equal(stub.posts.at(-1)?.get('client_secret'), 'not-a-real-secret');
    assert.equal(stub.posts.at(-1)?.get('scope')?.includes('https://graph.microsoft.com/.default'), true);
  });

  it('reads an access token file on every call', async () => {
    const tokenFile = join(folder, 'token');
    await writeFile(tokenFile, 'first\n');
    const source = await createAccessTokenSource({ authority: AUTHORITY, accessTokenFile: tokenFile });
    assert.equal(await source.getAccessToken(), 'first');
    await writeFile(tokenFile, 'second\n');
    assert.equal(await source.getAccessToken(), 'second');
  });

  it('rejects drive me with the client credentials flow', () => {
    assert.throws(() => checkDriveForSignIn('me', 'application'), (err) =>
      isBackupError(err, 'ERR_CONFIG_INVALID') && /user:/.test(err.message),
    );
    checkDriveForSignIn('user:ops@bgapp.example', 'application');
    checkDriveForSignIn('me', 'delegated');
  });

  it('rejects a secret file together with a token file', async () => {
    await assert.rejects(
      createAccessTokenSource({ authority: AUTHORITY, clientSecretFile: 'a', accessTokenFile: 'b' }),
      (err) => isBackupError(err, 'ERR_AUTH_FAILED'),
    );
  });
});
