import { test, expect, hydrated, admin, signIn } from '../support/fixtures';
import { startTestProvider, type TestProvider } from '../support/provider';
import { configureProvider, providerForEachTest, providerLogin, signInWithProvider } from '../support/oidc';
import { adminApi } from '../support/api';
import type { Page } from '@playwright/test';

// The admin's journeys on /settings/oidc against the real test provider (end2end/provider):
// the client secret, Test Connection's failures and warnings, a new issuer with linked users,
// and the OIDC-only switch with its refusals.

/// The admin signs in and opens the OIDC Settings page.
async function openSettings(page: Page) {
  await signIn(page, admin.username, admin.password);
  await page.goto('/settings/oidc');
  await expect(page.getByRole('heading', { name: 'OIDC Settings', exact: true })).toBeVisible();
  await hydrated(page);
}

/// One row of Test Connection's result list, by the check's name.
function checkRow(page: Page, name: string) {
  return page.getByTestId('test-results').getByRole('listitem').filter({ hasText: name });
}

/// The URL of a provider's own login page (its interaction path).
function atProvider(provider: TestProvider) {
  return new RegExp(`^${provider.issuer.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}interaction/`);
}

const idp = providerForEachTest();

test('the client secret is never shown back, and Clear removes it', async ({ page, server }) => {
  await openSettings(page);
  const form = page.getByTestId('provider-form');
  const secret = form.getByLabel('Client Secret');
  await expect(secret).toHaveAttribute('placeholder', 'Leave empty for a public client (PKCE)');
  await form.getByLabel('Provider Name').fill('Authentik');
  await form.getByLabel('Client ID').fill(idp.confidentialClientId);
  await secret.fill(idp.confidentialSecret);
  await form.getByLabel('Issuer URI').fill(idp.issuer);
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByText('OIDC provider settings saved.')).toBeVisible();
  // Saved: the field is emptied and only says that a secret is stored.
  await expect(secret).toHaveValue('');
  await expect(page.getByTestId('secret-stored')).toContainText('••• stored');

  await page.reload();
  await hydrated(page);
  await expect(form.getByLabel('Client ID')).toHaveValue(idp.confidentialClientId);
  await expect(secret).toHaveValue('');
  await expect(secret).toHaveAttribute('placeholder', '••• stored');
  await expect(page.getByTestId('secret-stored')).toContainText('••• stored');
  expect(await page.content()).not.toContain(idp.confidentialSecret);
  const api = await adminApi(server.url);
  const stored = await api.get('/api/v1/settings/oidc');
  expect(stored.clientSecretSet).toBe(true);
  expect(stored).not.toHaveProperty('clientSecret');
  expect(JSON.stringify(stored)).not.toContain(idp.confidentialSecret);

  // Clear, then Save: the secret is gone.
  await page.getByTestId('secret-stored').getByRole('button', { name: 'Clear' }).click();
  await expect(page.getByText('The stored secret will be removed when you save.')).toBeVisible();
  await expect(page.getByTestId('secret-stored')).toHaveCount(0);
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByText('OIDC provider settings saved.')).toBeVisible();
  await expect(page.getByText('The stored secret will be removed when you save.')).toHaveCount(0);

  await page.reload();
  await hydrated(page);
  await expect(form.getByLabel('Provider Name')).toHaveValue('Authentik');
  await expect(secret).toHaveAttribute('placeholder', 'Leave empty for a public client (PKCE)');
  await expect(page.getByTestId('secret-stored')).toHaveCount(0);
  expect((await api.get('/api/v1/settings/oidc')).clientSecretSet).toBe(false);
});

test('Test Connection: a wrong secret fails Client Credentials; an unlisted scope passes with a warning', async ({ page }) => {
  await openSettings(page);
  const form = page.getByTestId('provider-form');
  await form.getByLabel('Provider Name').fill('Authentik');
  await form.getByLabel('Client ID').fill(idp.confidentialClientId);
  await form.getByLabel('Client Secret').fill('not-the-secret');
  await form.getByLabel('Issuer URI').fill(idp.issuer);
  await form.getByRole('button', { name: 'Test Connection' }).click();
  await expect(page.getByTestId('test-summary')).toHaveText('Some checks failed');
  const credentials = checkRow(page, 'Client Credentials');
  await expect(credentials).toHaveClass('check-fail');
  await expect(credentials).toContainText('FAIL');
  await expect(credentials).toContainText('The provider rejected the client ID or secret.');
  // Only that check fails: discovery and the rest are fine.
  await expect(page.getByTestId('test-results').locator('li.check-fail')).toHaveCount(1);

  // The right secret: everything passes.
  await form.getByLabel('Client Secret').fill(idp.confidentialSecret);
  await form.getByRole('button', { name: 'Test Connection' }).click();
  await expect(page.getByTestId('test-summary')).toHaveText('All checks passed');
  await expect(credentials).toContainText('The provider accepted the client ID (and secret).');

  // A scope the provider does not list is a warning, not a failure.
  await form.getByLabel('Scopes').fill('openid profile email groups offline_access shelves');
  await form.getByRole('button', { name: 'Test Connection' }).click();
  await expect(page.getByTestId('test-summary')).toHaveText('Passed with warnings');
  const warnings = page.getByTestId('test-results').locator('li.check-warn');
  await expect(warnings).toHaveCount(1);
  await expect(warnings).toContainText('Scopes');
  await expect(warnings).toContainText('WARN');
  await expect(warnings).toContainText('The provider does not list the scope "shelves".');
  await expect(page.getByTestId('test-results').locator('li.check-fail')).toHaveCount(0);

  // Testing never saves.
  await page.reload();
  await hydrated(page);
  await expect(form.getByLabel('Client ID')).toHaveValue('');
});

test('a new issuer: the admin moves the existing links and a linked user signs in at the new provider', async ({ browser, page, server }) => {
  const next = await startTestProvider(server.url);
  try {
    // Alice's account, made by the admin, is linked to the old issuer by her first sign-in.
    const api = await configureProvider(server.url, idp);
    const poetry = await api.post('/api/v1/admin/libraries', { name: 'Poetry' });
    const alice = await api.post('/api/v1/admin/users', { username: 'alice', libraryIds: [poetry.id] });
    const first = await browser.newContext({ baseURL: server.url });
    const firstPage = await first.newPage();
    await signInWithProvider(firstPage, 'alice', 'alice-password');
    await expect(firstPage.getByTestId('greeting')).toHaveText('Welcome, Alice Liddell');
    await first.close();
    expect((await api.get(`/api/v1/admin/users/${alice.id}`)).oidcLink.issuer).toBe(idp.issuer);

    // The admin puts in the new issuer: the page warns and offers to move the links.
    await openSettings(page);
    const form = page.getByTestId('provider-form');
    const warning = page.getByTestId('orphan-warning');
    await expect(warning).toHaveCount(0);
    await form.getByLabel('Issuer URI').fill(next.issuer);
    await expect(warning).toHaveText('1 user(s) are linked to the current issuer. Changing it orphans their links.');
    await form.getByLabel('Move existing links to the new issuer').check();
    await form.getByRole('button', { name: 'Save' }).click();
    await expect(page.getByText('OIDC provider settings saved.')).toBeVisible();
    await expect(warning).toHaveCount(0);
    await page.reload();
    await hydrated(page);
    await expect(form.getByLabel('Issuer URI')).toHaveValue(next.issuer);
    expect((await api.get(`/api/v1/admin/users/${alice.id}`)).oidcLink.issuer).toBe(next.issuer);
    const moved = await api.get('/api/v1/admin/audit?event=OIDC_LINKS_MOVED');
    expect(moved[0].details).toMatchObject({ from: idp.issuer, to: next.issuer });

    // Alice signs in at the new provider and lands on her own account (no auto-provisioning).
    const second = await browser.newContext({ baseURL: server.url });
    const secondPage = await second.newPage();
    await secondPage.goto('/login');
    await secondPage.getByRole('link', { name: 'Sign in with Authentik' }).click();
    await expect(secondPage).toHaveURL(atProvider(next));
    await providerLogin(secondPage, 'alice', 'alice-password');
    await expect(secondPage.getByTestId('greeting')).toHaveText('Welcome, Alice Liddell');
    await expect(secondPage.getByTestId('libraries').locator('li')).toHaveText(['Poetry']);
    const me = await (await secondPage.request.get('/api/v1/auth/me')).json();
    expect(me.id).toBe(alice.id);
    expect(me.oidcLink.issuer).toBe(next.issuer);
    await second.close();
  } finally {
    await next.stop();
  }
});

test('OIDC-only mode is refused until OIDC login is on; then the login page goes straight to the provider', async ({ browser, page, server }) => {
  // The provider is saved, OIDC login is still off.
  const api = await configureProvider(server.url, idp, { oidcEnabled: false, autoProvisioning: true });
  await openSettings(page);
  const oidcOnly = page.getByRole('switch', { name: 'OIDC-Only Mode' });
  const oidcLogin = page.getByRole('switch', { name: 'OIDC Login' });
  await expect(oidcLogin).not.toBeChecked();
  await expect(oidcOnly).not.toBeChecked();
  await oidcOnly.click();
  await expect(page.getByText('Cannot enable OIDC-only mode: OIDC must be enabled first')).toBeVisible();
  await expect(oidcOnly).not.toBeChecked();
  await page.reload();
  await hydrated(page);
  await expect(oidcOnly).not.toBeChecked();
  expect((await api.get('/api/v1/settings/oidc')).oidcForceOnlyMode).toBe(false);

  // OIDC login on, then OIDC-only mode.
  await oidcLogin.check();
  await expect(page.getByText('OIDC login enabled.')).toBeVisible();
  await oidcOnly.check();
  await expect(page.getByText('OIDC-only mode enabled.')).toBeVisible();
  await page.reload();
  await hydrated(page);
  await expect(oidcOnly).toBeChecked();
  const pub = await (await fetch(`${server.url}/api/v1/public-settings`)).json();
  expect(pub).toMatchObject({ oidcForceOnlyMode: true, localLoginAvailable: false });

  // Someone signed out goes from the login page straight to the provider, and back signed in.
  const context = await browser.newContext({ baseURL: server.url });
  const visitor = await context.newPage();
  await visitor.goto('/login');
  await expect(visitor).toHaveURL(atProvider(idp));
  await providerLogin(visitor, 'alice', 'alice-password');
  await expect(visitor.getByTestId('greeting')).toHaveText('Welcome, Alice Liddell');
  await context.close();
});

test('OIDC-only mode is refused while no admin could sign in locally', async ({ page, server }) => {
  // Bob becomes an admin through his provider group; the setup admin then loses the password.
  const api = await configureProvider(server.url, idp, { groupSyncMode: 'ON_LOGIN' });
  await api.post('/api/v1/admin/oidc-group-mappings', { groupClaim: 'grimmory-admins', isAdmin: true });
  await api.post('/api/v1/admin/users', { username: 'bob' });
  const me = await api.get('/api/v1/auth/me');
  await signInWithProvider(page, 'bob', 'bob-password');
  await expect(page.getByTestId('greeting')).toHaveText('Welcome, Bob Builder');
  const users = await api.get('/api/v1/admin/users');
  expect(users.find((u: { username: string }) => u.username === 'bob')).toMatchObject({ isAdmin: true, hasPassword: false });
  await api.put(`/api/v1/admin/users/${me.id}`, { password: null });

  await page.goto('/settings/oidc');
  await hydrated(page);
  const oidcOnly = page.getByRole('switch', { name: 'OIDC-Only Mode' });
  await expect(page.getByRole('switch', { name: 'OIDC Login' })).toBeChecked();
  await oidcOnly.click();
  await expect(page.getByText('Cannot enable OIDC-only mode: no admin could sign in locally')).toBeVisible();
  await expect(oidcOnly).not.toBeChecked();
  await page.reload();
  await hydrated(page);
  await expect(oidcOnly).not.toBeChecked();
  const pub = await (await fetch(`${server.url}/api/v1/public-settings`)).json();
  expect(pub).toMatchObject({ oidcForceOnlyMode: false, localLoginAvailable: true });
});
