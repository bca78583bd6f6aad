import { test, expect, hydrated, admin, signIn } from '../support/fixtures';
import { providerForEachTest, providerLogin } from '../support/oidc';
import { adminApi } from '../support/api';
import { seriousViolations } from '../support/a11y';

const idp = providerForEachTest();

test('Try Sign-in: a test user at the provider, the report, and nothing changed', async ({ page, context, server }) => {
  // Provisioning is on; the provider itself is only in the unsaved form, OIDC is off.
  const api = await adminApi(server.url);
  await api.put('/api/v1/settings/oidc', { autoProvisioning: true });

  await signIn(page, admin.username, admin.password);
  const usersBefore = await api.get('/api/v1/admin/users');
  await page.goto('/settings/oidc');
  await hydrated(page);
  const form = page.getByTestId('provider-form');
  await form.getByLabel('Provider Name').fill('Authentik');
  await form.getByLabel('Client ID').fill(idp.publicClientId);
  await form.getByLabel('Issuer URI').fill(idp.issuer);

  // A new tab opens at the provider, which asks for a fresh sign-in.
  const [tab] = await Promise.all([
    context.waitForEvent('page'),
    form.getByRole('button', { name: 'Try Sign-in' }).click(),
  ]);
  await expect(tab).toHaveURL(/\/application\/o\/grimmory\/interaction\//);
  await providerLogin(tab, 'carol', 'carol-password');

  // The report: the decision, the claims and the mapped values.
  await expect(tab).toHaveURL(/\/settings\/oidc\/try\/[A-Za-z0-9_-]+$/);
  await expect(tab.getByTestId('try-decision')).toHaveText('Would create carol');
  await expect(tab.getByTestId('try-checks')).toContainText('ID Token Signature');
  const claims = tab.getByTestId('try-claims');
  await expect(claims.locator('tr', { hasText: 'preferred_username' })).toContainText('carol');
  await expect(claims.locator('tr', { hasText: 'iss' }).first()).toContainText(idp.issuer);
  const mapped = tab.getByTestId('try-mapped');
  await expect(mapped.locator('tr', { hasText: 'username' })).toContainText('preferred_username');
  await expect(mapped.locator('tr', { hasText: 'email' })).toContainText('carol@example.org');
  await expect(mapped.locator('tr', { hasText: 'display name' })).toContainText('Carol Danvers');
  // Tokens are never shown.
  expect(await tab.content()).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}\./);
  await hydrated(tab);
  expect(await seriousViolations(tab), 'accessibility of the report').toEqual([]);

  // Nothing changed: no new user, and the admin is still signed in as themselves.
  expect(await api.get('/api/v1/admin/users')).toEqual(usersBefore);
  await page.goto('/admin/users');
  await expect(page.getByRole('heading', { name: 'Users' })).toBeVisible();
  await expect(page.getByText('carol')).toHaveCount(0);
  const me = await (await page.request.get('/api/v1/auth/me')).json();
  expect(me.username).toBe('admin');
});
