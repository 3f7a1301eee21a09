/** Public API of the sign-in to Microsoft Graph. */
export { signInWithDeviceCode } from './device-code.ts';
export {
  checkDriveForSignIn,
  createAccessTokenSource,
  signInKind,
} from './token-provider.ts';
export type { AccessTokenSource, TokenGetter } from './token-provider.ts';
export { tokenCacheFile, TOKEN_CACHE_MODE } from './cache-file.ts';
export type { DeviceCodePrompt, GraphSignInSettings, SignedInAccount, SignInKind } from './types.ts';
