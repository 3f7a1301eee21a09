/** Settings of the sign-in to Microsoft Graph and what sign-in returns. */
import type { INetworkModule } from '@azure/msal-node';

/** How the backend obtains tokens. */
export type SignInKind = 'delegated' | 'application' | 'token-file';

/** Sign-in settings, as the config's `onedrive.graph` section gives them. */
export interface GraphSignInSettings {
  /** Authority URL, such as `https://login.microsoftonline.com/<tenant>`. */
  authority: string;
  /** Application (client) id of the app registration. */
  clientId?: string;
  /** File holding a client secret: unattended sign-in as the app. */
  clientSecretFile?: string;
  /** PEM file holding the app's certificate and its private key: unattended sign-in as the app. */
  clientCertificateFile?: string;
  /** File holding an access token issued elsewhere; read again on every refresh. */
  accessTokenFile?: string;
  /** Token cache file of the device code sign-in, written with mode 0600. */
  tokenCacheFile?: string;
  /** Graph endpoint; the token's resource is its origin. Default `https://graph.microsoft.com/v1.0`. */
  graphBaseUrl?: string;
  /** Replaces msal-node's HTTP client; tests use it to answer without reaching Microsoft. */
  networkClient?: INetworkModule;
}

/** What the device code flow asks the person to do: open `verificationUri` and enter `userCode`. */
export interface DeviceCodePrompt {
  userCode: string;
  verificationUri: string;
  /** Instructions as the identity platform words them. */
  message: string;
  expiresInSeconds: number;
}

/** The account a device code sign-in stored. */
export interface SignedInAccount {
  username: string;
  homeAccountId: string;
  tenantId: string;
}
