import type { Page } from '@playwright/test';
import { test, setupAdmin } from './fixtures';
import { startTestProvider, type TestProvider } from './provider';
import { adminApi } from './api';

/// For each test of the file (or of the describe block it is called in): sets up the admin and
/// starts the test provider for the test's server before the test, and stops the provider after
/// it. Answers the provider of the test that runs (the same object, filled in anew each time).
export function providerForEachTest(): TestProvider {
  const idp = {} as TestProvider;
  test.beforeEach(async ({ server }) => {
    Object.assign(idp, await startTestProvider(server.url));
    await setupAdmin(server);
  });
  test.afterEach(async () => {
    await idp.stop();
  });
  return idp;
}

/// Turns sign-in with the provider `idp` on, named "Authentik", with its public client, plus the
/// `extra` settings (which may also override those). Answers the admin's API client.
export async function configureProvider(
  baseUrl: string,
  idp: Pick<TestProvider, 'issuer' | 'publicClientId'>,
  extra: Record<string, unknown> = {},
) {
  const api = await adminApi(baseUrl);
  await api.put('/api/v1/settings/oidc', {
    providerName: 'Authentik',
    clientId: idp.publicClientId,
    issuerUri: idp.issuer,
    oidcEnabled: true,
    ...extra,
  });
  return api;
}

/// Signs in at the provider's own login page.
export async function providerLogin(page: Page, username: string, password: string) {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/// On the login page, presses "Sign in with Authentik" and signs in at the provider as
/// `username`. Where the app then takes the browser (the dashboard, an error) is the test's to
/// check.
export async function signInWithProvider(page: Page, username: string, password: string) {
  await page.goto('/login');
  await page.getByRole('link', { name: 'Sign in with Authentik' }).click();
  await providerLogin(page, username, password);
}
