import { test, expect, hydrated, setupAdmin } from '../support/fixtures';
import { configureProvider, providerForEachTest, providerLogin, signInWithProvider } from '../support/oidc';
import { adminApi } from '../support/api';

const idp = providerForEachTest();

test("the seed's Test It: a user signs in with Authentik and sees their libraries", async ({ browser, page: adminPage, server }) => {
  // The admin configures the provider on the settings page and turns OIDC on.
  await adminPage.goto('/login');
  await hydrated(adminPage);
  await adminPage.getByLabel('Username').fill('admin');
  await adminPage.getByLabel('Password').fill('correct horse battery');
  await adminPage.getByRole('button', { name: 'Sign In' }).click();
  await expect(adminPage.getByTestId('greeting')).toBeVisible();
  await adminPage.goto('/settings/oidc');
  await hydrated(adminPage);
  const form = adminPage.getByTestId('provider-form');
  await form.getByLabel('Provider Name').fill('Authentik');
  await form.getByLabel('Client ID').fill(idp.publicClientId);
  await form.getByLabel('Issuer URI').fill(idp.issuer);
  await form.getByRole('button', { name: 'Test Connection' }).click();
  await expect(adminPage.getByTestId('test-summary')).toHaveText('All checks passed');
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(adminPage.getByText('OIDC provider settings saved.')).toBeVisible();
  await adminPage.getByRole('switch', { name: 'OIDC Login' }).check();
  await expect(adminPage.getByText('OIDC login enabled.')).toBeVisible();
  await adminPage.getByRole('switch', { name: 'Automatic User Provisioning' }).check();
  await expect(adminPage.getByText('User provisioning saved.')).toBeVisible();
  // Libraries and the group mapping through the API, to keep the test short.
  const api = await adminApi(server.url);
  await api.put('/api/v1/settings/oidc', { groupSyncMode: 'ON_LOGIN' });
  const fantasy = await api.post('/api/v1/admin/libraries', { name: 'Fantasy' });
  await api.post('/api/v1/admin/libraries', { name: 'Science' });
  await api.post('/api/v1/admin/oidc-group-mappings', { groupClaim: 'grimmory-users', libraryIds: [fantasy.id], permissions: ['permissionDownload'] });

  const context = await browser.newContext({ baseURL: server.url });
  const page = await context.newPage();
  await page.goto('/login');
  await page.getByRole('link', { name: 'Sign in with Authentik' }).click();
  await expect(page).toHaveURL(/\/application\/o\/grimmory\/interaction\//);
  await providerLogin(page, 'alice', 'alice-password');
  await expect(page.getByTestId('greeting')).toHaveText('Welcome, Alice Liddell');
  await expect(page.getByTestId('username')).toHaveText('alice');
  await expect(page.getByTestId('email')).toHaveText('alice@example.org');
  await expect(page.getByTestId('libraries').locator('li')).toHaveText(['Fantasy']);
  const me = await (await page.request.get('/api/v1/auth/me')).json();
  expect(me.oidcLink.issuer).toBe(idp.issuer);
  expect(me.permissions.permissionDownload).toBe(true);
  expect(me.isAdmin).toBe(false);
  // No token ever reached the browser.
  const cookies = await context.cookies();
  const ours = cookies.filter((c) => !c.name.startsWith('grimmory_idp')).map((c) => c.name).sort();
  expect(ours).toEqual(['grimmory_browser', 'grimmory_session']);
  expect(cookies.some((c) => c.value.startsWith('eyJ'))).toBe(false);

  // Already signed in at the provider: the Launch URL (the application tile) signs in at once.
  await context.clearCookies({ name: 'grimmory_session' });
  await page.goto('/api/v1/auth/oidc/authorize');
  await expect(page.getByTestId('greeting')).toHaveText('Welcome, Alice Liddell');
  await context.close();
});

test('without provisioning, an unknown user is told so', async ({ page, server }) => {
  await configureProvider(server.url, idp);
  await signInWithProvider(page, 'carol', 'carol-password');
  await expect(page).toHaveURL(/\/login\?oidcError=not_provisioned$/);
  await expect(page.getByRole('alert')).toHaveText('Your account has not been set up yet. Contact your administrator to get access.');
});

test('an admin-made account without a password is claimed and keeps its libraries', async ({ page, server }) => {
  const api = await configureProvider(server.url, idp);
  const lib = await api.post('/api/v1/admin/libraries', { name: 'Poetry' });
  await api.post('/api/v1/admin/users', { username: 'dave', libraryIds: [lib.id] });
  await signInWithProvider(page, 'dave', 'dave-password');
  await expect(page.getByTestId('greeting')).toHaveText('Welcome, Dave Bowman');
  await expect(page.getByTestId('libraries').locator('li')).toHaveText(['Poetry']);
});

test('a deep link survives the round trip', async ({ page, server }) => {
  const api = await configureProvider(server.url, idp, { groupSyncMode: 'ON_LOGIN' });
  await api.post('/api/v1/admin/oidc-group-mappings', { groupClaim: 'grimmory-admins', isAdmin: true });
  await api.post('/api/v1/admin/users', { username: 'bob' });
  await page.goto('/admin/users');
  await expect(page).toHaveURL(/\/login\?returnTo=%2Fadmin%2Fusers$/);
  await page.getByRole('link', { name: 'Sign in with Authentik' }).click();
  await providerLogin(page, 'bob', 'bob-password');
  await expect(page).toHaveURL(/\/admin\/users$/);
  await expect(page.getByRole('heading', { name: 'Users' })).toBeVisible();
});

test("signing out goes through the provider's end-session page and back", async ({ page, server }) => {
  await configureProvider(server.url, idp, { autoProvisioning: true });
  await signInWithProvider(page, 'alice', 'alice-password');
  await expect(page.getByTestId('greeting')).toBeVisible();
  await hydrated(page);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login\?signedOut=1(&state=.*)?$/);
  await expect(page.getByText('You have been signed out.')).toBeVisible();
  // The login page does not bounce back to the provider, and the provider session is gone:
  // signing in again asks for the password.
  await page.getByRole('link', { name: 'Sign in with Authentik' }).click();
  await expect(page.getByLabel('Password')).toBeVisible();
});

test('a back-channel logout from the provider sends an open tab to the login page', async ({ context, server }) => {
  await configureProvider(server.url, idp, { autoProvisioning: true });
  const page = await context.newPage();
  await signInWithProvider(page, 'alice', 'alice-password');
  await expect(page.getByTestId('greeting')).toBeVisible();
  await hydrated(page);

  // Signing out at the provider (another tab, same browser) makes it call our back-channel
  // logout endpoint; the open tab learns of it from the server.
  const other = await context.newPage();
  const started = Date.now();
  await other.goto(`${idp.issuer}session/end`);
  await expect(page).toHaveURL(/\/login\?reason=session_revoked$/, { timeout: 15_000 });
  console.log(`revocation reached the open tab after ${Date.now() - started} ms`);
  await expect(page.getByText('Your session has been revoked. Please sign in again.')).toBeVisible();
});

test('OIDC-only mode: straight to the provider and back, no bounce after sign-out, admins via local=true', async ({ browser, server }) => {
  await configureProvider(server.url, idp, { autoProvisioning: true, oidcForceOnlyMode: true });
  const context = await browser.newContext({ baseURL: server.url });
  const page = await context.newPage();
  await page.goto('/login');
  await expect(page).toHaveURL(/\/application\/o\/grimmory\/interaction\//);
  await providerLogin(page, 'alice', 'alice-password');
  await expect(page.getByTestId('greeting')).toHaveText('Welcome, Alice Liddell');
  await hydrated(page);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login\?signedOut=1/);
  await expect(page.getByText('You have been signed out.')).toBeVisible();
  await context.close();

  const adminPage = await browser.newPage({ baseURL: server.url });
  await adminPage.goto('/login?local=true');
  await hydrated(adminPage);
  await adminPage.getByLabel('Username').fill('admin');
  await adminPage.getByLabel('Password').fill('correct horse battery');
  await adminPage.getByRole('button', { name: 'Sign In' }).click();
  await expect(adminPage.getByTestId('greeting')).toHaveText('Welcome, Ada Admin');
  await adminPage.close();
});

test('FORCE_DISABLE_OIDC: the button is gone and local sign-in works for everyone', async ({ browser }) => {
  const { startServer } = await import('../support/server');
  const forced = await startServer({ FORCE_DISABLE_OIDC: 'true' });
  try {
    await setupAdmin(forced);
    const api = await configureProvider(forced.url, idp, { oidcForceOnlyMode: true });
    await api.post('/api/v1/admin/users', { username: 'reader', password: 'reader password' });
    const page = await browser.newPage({ baseURL: forced.url });
    await page.goto('/login');
    await expect(page.getByRole('link', { name: /Sign in with/ })).toHaveCount(0);
    await hydrated(page);
    await page.getByLabel('Username').fill('reader');
    await page.getByLabel('Password').fill('reader password');
    await page.getByRole('button', { name: 'Sign In' }).click();
    await expect(page.getByTestId('greeting')).toBeVisible();
    await page.close();
  } finally {
    await forced.stop();
  }
});
