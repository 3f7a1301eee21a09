/** Builds msal-node applications from the sign-in settings and maps msal errors. */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  AuthError,
  ConfidentialClientApplication,
  InteractionRequiredAuthError,
  PublicClientApplication,
  type Configuration,
} from '@azure/msal-node';
import { BackupError, errorMessage } from '../errors/index.ts';
import { tokenCacheFile } from './cache-file.ts';
import type { GraphSignInSettings } from './types.ts';

/** Default Graph endpoint, whose origin is the token's resource. */
const DEFAULT_GRAPH_BASE_URL = 'https://graph.microsoft.com/v1.0';

/** Returns the Graph resource, such as `https://graph.microsoft.com`, for the settings. */
export function graphResource(settings: GraphSignInSettings): string {
  return new URL(settings.graphBaseUrl ?? DEFAULT_GRAPH_BASE_URL).origin;
}

/** Scopes a person grants: files of every drive they can reach, and a refresh token. */
export function delegatedScopes(settings: GraphSignInSettings): string[] {
  return [`${graphResource(settings)}/Files.ReadWrite.All`, 'offline_access'];
}

/** Scope of the app-only flow: the permissions granted to the app registration. */
export function applicationScopes(settings: GraphSignInSettings): string[] {
  return [`${graphResource(settings)}/.default`];
}

function requireClientId(settings: GraphSignInSettings): string {
  if (settings.clientId) return settings.clientId;
  throw new BackupError(
    'ERR_AUTH_FAILED',
    'no client id for the Graph sign-in; set onedrive.graph.client_id to the app registration id',
  );
}

function baseConfig(settings: GraphSignInSettings): Configuration {
  return {
    auth: { clientId: requireClientId(settings), authority: settings.authority },
    ...(settings.networkClient ? { system: { networkClient: settings.networkClient } } : {}),
  };
}

/** Builds the public client of the device code flow, with its cache file. */
export function publicClient(settings: GraphSignInSettings): PublicClientApplication {
  if (!settings.tokenCacheFile) {
    throw new BackupError(
      'ERR_AUTH_FAILED',
      'no token cache file for the Graph sign-in; set the token cache path',
    );
  }
  return new PublicClientApplication({
    ...baseConfig(settings),
    cache: { cachePlugin: tokenCacheFile(settings.tokenCacheFile) },
  });
}

/** Builds the confidential client of the client credentials flow from a secret or a certificate. */
export async function confidentialClient(
  settings: GraphSignInSettings,
): Promise<ConfidentialClientApplication> {
  const config = baseConfig(settings);
  if (settings.clientSecretFile) {
    const secret = (await readSecret(settings.clientSecretFile, 'client secret')).trim();
    return new ConfidentialClientApplication({ ...config, auth: { ...config.auth, clientSecret: secret } });
  }
  const pem = await readSecret(settings.clientCertificateFile!, 'client certificate');
  return new ConfidentialClientApplication({
    ...config,
    auth: { ...config.auth, clientCertificate: certificateCredential(pem, settings) },
  });
}

/** Splits a PEM file into the thumbprint and private key that msal-node takes. */
function certificateCredential(pem: string, settings: GraphSignInSettings) {
  const key = /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC )?PRIVATE KEY-----/.exec(pem);
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem);
  if (!key || !cert) {
    throw new BackupError(
      'ERR_AUTH_FAILED',
      `the client certificate file ${settings.clientCertificateFile} must hold a PEM ` +
        'certificate and its PEM private key',
    );
  }
  const thumbprintSha256 = new X509Certificate(cert[0]).fingerprint256.replaceAll(':', '');
  return { thumbprintSha256, privateKey: key[0], x5c: cert[0] };
}

async function readSecret(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new BackupError(
      'ERR_AUTH_FAILED',
      `failed to read the ${what} file ${path}: ${errorMessage(err)}; fix the path or its permissions`,
      { cause: err },
    );
  }
}

/** OAuth and msal-node error codes that mean the person must sign in again. */
const EXPIRED_CODES = new Set([
  'invalid_grant',
  'interaction_required',
  'login_required',
  'consent_required',
  'no_tokens_found',
]);

/** Maps an msal-node error to ERR_AUTH_EXPIRED (sign in again) or ERR_AUTH_FAILED. */
export function signInError(err: unknown, action: string): BackupError {
  if (err instanceof BackupError) return err;
  // A revoked or expired refresh token comes back as a ServerError with
  // invalid_grant when the refresh is forced, not as InteractionRequiredAuthError.
  if (err instanceof InteractionRequiredAuthError || (err instanceof AuthError && EXPIRED_CODES.has(err.errorCode))) {
    return new BackupError(
      'ERR_AUTH_EXPIRED',
      `the Graph sign-in expired or was revoked (${err.errorCode}) while trying to ${action}; ` +
        'run `bgapp-backup login`',
      { cause: err },
    );
  }
  const code = err instanceof AuthError ? ` (${err.errorCode})` : '';
  return new BackupError(
    'ERR_AUTH_FAILED',
    `failed to ${action}${code}: ${firstLine(errorMessage(err))}; check the authority, ` +
      'client id and credentials',
    { cause: err },
  );
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
