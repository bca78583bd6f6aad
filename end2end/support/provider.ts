import { startProvider } from '../provider/provider.mjs';

export interface TestProvider {
  issuer: string;
  publicClientId: string;
  confidentialClientId: string;
  confidentialSecret: string;
  stop: () => Promise<void>;
}

/// Starts the real OpenID Provider (end2end/provider) for a Grimmory server at `appUrl`.
export async function startTestProvider(appUrl: string): Promise<TestProvider> {
  const idp = await startProvider({
    redirectUris: [`${appUrl}/oauth2-callback`],
    postLogoutRedirectUris: [`${appUrl}/login?signedOut=1`],
    backchannelLogoutUri: `${appUrl}/api/v1/auth/oidc/backchannel-logout`,
  });
  return {
    issuer: idp.issuer,
    publicClientId: idp.clients.public.clientId,
    confidentialClientId: idp.clients.confidential.clientId,
    confidentialSecret: idp.clients.confidential.clientSecret,
    stop: () => idp.stop(),
  };
}
