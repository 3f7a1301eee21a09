/**
 * Chooses how the Graph backend obtains access tokens from the sign-in
 * settings: an access token file, the client credentials flow (secret or
 * certificate), or the cached device code sign-in, refreshed silently.
 */
import { readFile } from 'node:fs/promises';
import type { AccountInfo } from '@azure/msal-node';
import { BackupError, errorMessage } from '../errors/index.ts';
import {
  applicationScopes,
  confidentialClient,
  delegatedScopes,
  publicClient,
  signInError,
} from './msal-apps.ts';
import type { GraphSignInSettings, SignInKind } from './types.ts';

/** Returns an access token; `forceRefresh` skips cached tokens after a 401. */
export type TokenGetter = (options?: { forceRefresh?: boolean }) => Promise<string>;

/** A token source and the kind of sign-in behind it. */
export interface AccessTokenSource {
  kind: SignInKind;
  getAccessToken: TokenGetter;
}

/** Returns the kind of sign-in the settings select, checking that they do not conflict. */
export function signInKind(settings: GraphSignInSettings): SignInKind {
  const given = [
    settings.accessTokenFile && 'access_token_file',
    settings.clientSecretFile && 'client_secret_file',
    settings.clientCertificateFile && 'client_certificate_file',
  ].filter((key): key is string => Boolean(key));
  if (given.length > 1) {
    throw new BackupError(
      'ERR_AUTH_FAILED',
      `the Graph sign-in settings ${given.join(' and ')} exclude each other; keep one`,
    );
  }
  if (settings.accessTokenFile) return 'token-file';
  if (settings.clientSecretFile || settings.clientCertificateFile) return 'application';
  return 'delegated';
}

/**
 * Rejects `drive: me` for app-only sign-in, because an app signed in with
 * client credentials is no user and Graph has no `/me` for it.
 */
export function checkDriveForSignIn(drive: string, kind: SignInKind): void {
  if (drive !== 'me' || kind !== 'application') return;
  throw new BackupError(
    'ERR_CONFIG_INVALID',
    'drive "me" needs a signed-in person, but the client credentials flow signs in as the app; ' +
      'set onedrive.graph.drive to user:<name@tenant>, a drive id or site:<site id>',
  );
}

/** Builds the token source the settings select. */
export async function createAccessTokenSource(
  settings: GraphSignInSettings,
): Promise<AccessTokenSource> {
  const kind = signInKind(settings);
  if (kind === 'token-file') return { kind, getAccessToken: tokenFileGetter(settings.accessTokenFile!) };
  if (kind === 'application') return { kind, getAccessToken: await applicationGetter(settings) };
  return { kind, getAccessToken: delegatedGetter(settings) };
}

/** Reads the token file on every call, so a token renewed by another program is picked up. */
function tokenFileGetter(path: string): TokenGetter {
  return async () => {
    let token: string;
    try {
      token = (await readFile(path, 'utf8')).trim();
    } catch (err) {
      throw new BackupError(
        'ERR_AUTH_FAILED',
        `failed to read the access token file ${path}: ${errorMessage(err)}; fix the path`,
        { cause: err },
      );
    }
    if (token === '') {
      throw new BackupError('ERR_AUTH_EXPIRED', `the access token file ${path} is empty; renew it`);
    }
    return token;
  };
}

async function applicationGetter(settings: GraphSignInSettings): Promise<TokenGetter> {
  const app = await confidentialClient(settings);
  const scopes = applicationScopes(settings);
  return async (options) => {
    try {
      const result = await app.acquireTokenByClientCredential({
        scopes,
        skipCache: options?.forceRefresh ?? false,
      });
      if (!result?.accessToken) throw new Error('the identity platform returned no access token');
      return result.accessToken;
    } catch (err) {
      throw signInError(err, 'sign in as the app with client credentials');
    }
  };
}

function delegatedGetter(settings: GraphSignInSettings): TokenGetter {
  const app = publicClient(settings);
  const scopes = delegatedScopes(settings);
  return async (options) => {
    const account = await cachedAccount(await app.getTokenCache().getAllAccounts(), settings);
    try {
      const result = await app.acquireTokenSilent({
        account,
        scopes,
        forceRefresh: options?.forceRefresh ?? false,
      });
      return result.accessToken;
    } catch (err) {
      throw signInError(err, 'refresh the Graph sign-in');
    }
  };
}

async function cachedAccount(
  accounts: AccountInfo[],
  settings: GraphSignInSettings,
): Promise<AccountInfo> {
  const account = accounts[0];
  if (account) return account;
  throw new BackupError(
    'ERR_AUTH_EXPIRED',
    `no Graph sign-in is stored in ${settings.tokenCacheFile}; run \`bgapp-backup login\``,
  );
}
