/**
 * The device code flow for a person (the `login` command): the identity
 * platform returns a code that the person enters on another device, and the
 * resulting refresh token goes to the token cache file.
 */
import { signInError, delegatedScopes, publicClient } from './msal-apps.ts';
import type { DeviceCodePrompt, GraphSignInSettings, SignedInAccount } from './types.ts';

/**
 * Signs a person in with the device code flow. `onPrompt` receives the code
 * and URL to show; the promise resolves once the person has signed in, and
 * the cache file then holds the account's tokens.
 */
export async function signInWithDeviceCode(
  settings: GraphSignInSettings,
  onPrompt: (prompt: DeviceCodePrompt) => void,
  options: { signal?: AbortSignal } = {},
): Promise<SignedInAccount> {
  const app = publicClient(settings);
  const request = {
    scopes: delegatedScopes(settings),
    deviceCodeCallback: (response: {
      userCode: string;
      verificationUri: string;
      message: string;
      expiresIn: number;
    }) =>
      onPrompt({
        userCode: response.userCode,
        verificationUri: response.verificationUri,
        message: response.message,
        expiresInSeconds: response.expiresIn,
      }),
    cancel: false,
  };
  options.signal?.addEventListener('abort', () => {
    // msal-node polls until `cancel` turns true (DeviceCodeRequest.cancel).
    request.cancel = true;
  });
  try {
    const result = await app.acquireTokenByDeviceCode(request);
    if (!result?.account) throw new Error('the identity platform returned no account');
    return {
      username: result.account.username,
      homeAccountId: result.account.homeAccountId,
      tenantId: result.account.tenantId,
    };
  } catch (err) {
    throw signInError(err, 'sign in with a device code');
  }
}
