import { test, expect, hydrated, admin, signIn } from '../support/fixtures';
import { configureProvider, providerForEachTest, signInWithProvider } from '../support/oidc';
import { adminApi } from '../support/api';
import { seriousViolations } from '../support/a11y';
import type { Page } from '@playwright/test';

// Apps and devices (spec section 11), on a phone-sized screen: a user signed in through the
// provider connects an e-reader on /device and revokes it on /profile; creates an app
// password, uses it with Basic, and revokes it.
test.use({ viewport: { width: 390, height: 844 } });

const idp = providerForEachTest();

test.beforeEach(async ({ server }) => {
  await configureProvider(server.url, idp, { autoProvisioning: true });
});

/// Alice signs in with the provider, as on the login page.
async function aliceSignsIn(page: Page) {
  await signInWithProvider(page, 'alice', 'alice-password');
  await expect(page.getByTestId('greeting')).toHaveText('Welcome, Alice Liddell');
}

async function expectNoSeriousViolations(page: Page) {
  expect(await seriousViolations(page)).toEqual([]);
}

async function expectNoSidewaysScroll(page: Page) {
  const widths = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, screen: window.innerWidth }));
  expect(widths.page).toBeLessThanOrEqual(widths.screen);
}

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

interface Poll { status: number; body: Record<string, unknown> }

/// One poll of the token endpoint, as the device makes it.
async function poll(baseUrl: string, deviceCode: string): Promise<Poll> {
  const res = await fetch(`${baseUrl}/api/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: DEVICE_GRANT, device_code: deviceCode }),
  });
  return { status: res.status, body: await res.json() };
}

test('a device connected on /device, listed on /profile, revoked there', async ({ page, server }) => {
  test.setTimeout(120_000);
  await aliceSignsIn(page);

  // The e-reader asks for a code and polls once: not allowed yet.
  const started = await (await fetch(`${server.url}/api/v1/auth/device/code`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_name: 'KOReader' }),
  })).json();
  expect(started.verification_uri).toBe(`${server.url}/device`);
  let interval = started.interval as number;
  const first = await poll(server.url, started.device_code);
  expect(first.body.error).toBe('authorization_pending');

  // The person types the code (in lower case, without the dash) on /device.
  await page.goto('/device');
  await hydrated(page);
  await expectNoSeriousViolations(page);
  await page.getByLabel('Code shown on your device').fill(started.user_code.replace('-', '').toLowerCase());
  await page.getByLabel('Code shown on your device').press('Enter');
  const question = page.getByRole('heading', { name: 'Allow KOReader to access your library as alice?' });
  await expect(question).toBeVisible();
  await hydrated(page);
  await expectNoSeriousViolations(page);
  await expectNoSidewaysScroll(page);
  // Linked to the provider: the first Allow goes there and back (signed in there: no prompt).
  await page.getByRole('button', { name: 'Allow' }).click();
  await expect(page).toHaveURL(new RegExp(`/device\\?code=${started.user_code}$`));
  await expect(question).toBeVisible();
  await hydrated(page);
  await page.getByRole('button', { name: 'Allow' }).click();
  await expect(page.getByTestId('device-outcome')).toHaveText('KOReader is connected.');

  // The device keeps polling at its interval, as RFC 8628 asks, and gets its tokens.
  let tokens: Poll | undefined;
  for (let attempt = 0; attempt < 5 && !tokens; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, interval * 1000));
    const answer = await poll(server.url, started.device_code);
    if (answer.status === 200) tokens = answer;
    else if (answer.body.error === 'slow_down') interval += 5;
    else expect(answer.body.error).toBe('authorization_pending');
  }
  expect(tokens?.body.token_type).toBe('Bearer');
  const bearer = { authorization: `Bearer ${tokens!.body.access_token}` };
  const libraries = await fetch(`${server.url}/api/v1/libraries`, { headers: bearer });
  expect(libraries.status).toBe(200);
  expect(Array.isArray(await libraries.json())).toBe(true);

  // /profile lists it; revoking it ends the token at once.
  await page.goto('/profile');
  await hydrated(page);
  const row = page.locator('tr[data-grant="KOReader"]');
  await expect(row.getByRole('cell', { name: 'Device', exact: true })).toBeVisible();
  await expect(row.getByRole('cell', { name: 'Full access' })).toBeVisible();
  await expect(row).toContainText('127.0.0.1');
  await expectNoSeriousViolations(page);
  await expectNoSidewaysScroll(page);
  page.once('dialog', (dialog) => dialog.accept());
  await row.getByRole('button', { name: 'Revoke KOReader' }).click();
  await expect(page.getByText('Revoked KOReader.')).toBeVisible();
  await expect(row).toHaveCount(0);
  expect((await fetch(`${server.url}/api/v1/libraries`, { headers: bearer })).status).toBe(401);
});

test('an app password: created, shown once, used with Basic, revoked', async ({ page, server }) => {
  await aliceSignsIn(page);
  await page.goto('/profile');
  await hydrated(page);
  const form = page.getByTestId('app-password-form');
  await form.getByLabel('Name').fill('Panels');
  await form.getByLabel('Scope').selectOption('read');
  await form.getByRole('button', { name: 'Create app password' }).click();
  // Linked to the provider: confirmed there (no prompt), back to the form filled in.
  await expect(page).toHaveURL(/\/profile\?appPassword=Panels&scope=read$/);
  await hydrated(page);
  await expect(page.getByText('Confirmed with your provider. Create the app password to finish.')).toBeVisible();
  await expect(form.getByLabel('Name')).toHaveValue('Panels');
  await expect(form.getByLabel('Scope')).toHaveValue('read');
  await form.getByRole('button', { name: 'Create app password' }).click();

  const shown = page.getByTestId('new-app-password');
  await expect(shown).toContainText("You won't see it again.");
  await expect(shown.getByRole('button', { name: 'Copy' })).toBeVisible();
  const secret = (await shown.getByTestId('app-password').textContent())!.trim();
  expect(secret).toMatch(/^[a-z0-9]{5}(-[a-z0-9]{5}){4}$/);
  await expectNoSeriousViolations(page);
  await expectNoSidewaysScroll(page);

  const basic = { authorization: `Basic ${Buffer.from(`alice:${secret}`).toString('base64')}` };
  expect((await fetch(`${server.url}/api/v1/libraries`, { headers: basic })).status).toBe(200);
  // Read only: no changes with it.
  const change = await fetch(`${server.url}/api/v1/auth/logout`, { method: 'POST', headers: basic });
  expect(change.status).toBe(403);

  // Shown once: not after a reload.
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('new-app-password')).toHaveCount(0);
  expect(await page.content()).not.toContain(secret);
  const row = page.locator('tr[data-grant="Panels"]');
  await expect(row.getByRole('cell', { name: 'App password' })).toBeVisible();
  await expect(row.getByRole('cell', { name: 'Read only' })).toBeVisible();
  page.once('dialog', (dialog) => dialog.accept());
  await row.getByRole('button', { name: 'Revoke Panels' }).click();
  await expect(row).toHaveCount(0);
  expect((await fetch(`${server.url}/api/v1/libraries`, { headers: basic })).status).toBe(401);
});

test('Mobile Redirect URIs: a chip input saved with the provider form', async ({ page, server }) => {
  await signIn(page, admin.username, admin.password);
  await page.goto('/settings/oidc');
  await hydrated(page);
  const form = page.getByTestId('provider-form');
  await expect(form.getByText('The default redirect URI is grimmory://oauth2-callback. To allow any URI, just use *')).toBeVisible();
  const input = form.getByLabel('Mobile Redirect URIs', { exact: true });
  const chips = form.getByRole('list', { name: 'Mobile Redirect URIs added' }).getByRole('listitem');
  // Enter or a comma adds; Backspace in the empty input removes the last.
  await input.fill('grimmory://oauth2-callback');
  await input.press('Enter');
  await input.fill('books.example.app:/cb');
  await input.press(',');
  await input.fill('oops://typo');
  await input.press('Enter');
  await expect(chips).toHaveText([/grimmory:\/\/oauth2-callback/, /books\.example\.app:\/cb/, /oops:\/\/typo/]);
  await expect(input).toHaveValue('');
  await input.press('Backspace');
  await expect(chips).toHaveCount(2);
  await expectNoSidewaysScroll(page);
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByText('OIDC provider settings saved.')).toBeVisible();
  const api = await adminApi(server.url);
  expect((await api.get('/api/v1/settings/oidc')).mobileRedirectUris).toEqual(['grimmory://oauth2-callback', 'books.example.app:/cb']);

  // The server's own text for a refused entry; a chip's button removes it.
  await input.fill('https://books.example.com/cb');
  await input.press('Enter');
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(form.getByText('Redirect URI must use a custom mobile scheme')).toBeVisible();
  await form.getByRole('button', { name: 'Remove https://books.example.com/cb' }).click();
  await expect(chips).toHaveCount(2);
});

test("an admin sees a user's apps on the user's panel and signs them out everywhere", async ({ page, server }) => {
  const api = await adminApi(server.url);
  await api.post('/api/v1/admin/users', { username: 'reader', name: 'Rita Reader', password: 'reader password 1' });
  // The reader makes an app password through the API, as a script would.
  const login = await fetch(`${server.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'reader', password: 'reader password 1' }),
  });
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0];
  const created = await (await fetch(`${server.url}/api/v1/auth/app-passwords`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie },
    body: JSON.stringify({ name: 'Kobo OPDS', scope: 'full', password: 'reader password 1' }),
  })).json();
  const basic = { authorization: `Basic ${Buffer.from(`reader:${created.password}`).toString('base64')}` };
  expect((await fetch(`${server.url}/api/v1/libraries`, { headers: basic })).status).toBe(200);

  await signIn(page, admin.username, admin.password);
  await page.goto('/admin/users');
  await hydrated(page);
  await page.locator('tr[data-username="reader"]').getByRole('button', { name: 'Edit' }).click();
  const panel = page.getByTestId('user-grants');
  await expect(panel.locator('tr[data-grant="Kobo OPDS"]').getByRole('cell', { name: 'App password' })).toBeVisible();
  await expectNoSeriousViolations(page);
  await expectNoSidewaysScroll(page);
  page.once('dialog', (dialog) => dialog.accept());
  await panel.getByRole('button', { name: 'Sign out everywhere' }).click();
  await expect(panel.getByText('reader was signed out everywhere.')).toBeVisible();
  await expect(panel.getByTestId('no-grants')).toBeVisible();
  expect((await fetch(`${server.url}/api/v1/libraries`, { headers: basic })).status).toBe(401);
  expect((await fetch(`${server.url}/api/v1/auth/me`, { headers: { cookie } })).status).toBe(401);
});
