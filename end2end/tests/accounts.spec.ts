import { test, expect, hydrated, admin, setupAdmin, signIn } from '../support/fixtures';
import { configureProvider, providerForEachTest, providerLogin, signInWithProvider } from '../support/oidc';
import { startServer } from '../support/server';
import { adminApi } from '../support/api';
import { ACCOUNTS } from '../provider/provider.mjs';
import type { Browser, Locator, Page } from '@playwright/test';

/// A page in a browser context of its own (its own cookies, its own provider session).
async function freshPage(browser: Browser, baseURL: string) {
  const context = await browser.newContext({ baseURL });
  return { context, page: await context.newPage() };
}

/// Clicks `button` and answers the confirmation it asks for (accepts or dismisses it);
/// resolves to the question, prefixed with the kind of dialog.
async function clickAndAnswer(page: Page, button: Locator, accept: boolean): Promise<string> {
  // The dialog blocks the click until it is answered, so it is answered as it opens.
  const asked = page.waitForEvent('dialog').then(async (dialog) => {
    const question = `${dialog.type()}: ${dialog.message()}`;
    await (accept ? dialog.accept() : dialog.dismiss());
    return question;
  });
  await button.click();
  return asked;
}

/// Deleting `row` asks `question` first: dismissed, the row stays; confirmed, it goes and the
/// page says `done`.
async function deleteAfterAsking(page: Page, row: Locator, question: string, done: string) {
  expect(await clickAndAnswer(page, row.getByRole('button', { name: 'Delete' }), false)).toBe(`confirm: ${question}`);
  await expect(row).toBeVisible();
  expect(await clickAndAnswer(page, row.getByRole('button', { name: 'Delete' }), true)).toBe(`confirm: ${question}`);
  await expect(page.getByRole('status')).toHaveText(done);
  await expect(row).toHaveCount(0);
}

test.describe('with the test provider', () => {
  const idp = providerForEachTest();

  test('a local user links their OIDC identity on /profile, signs in with it, and unlinks it', async ({ browser, page, server }) => {
    const api = await configureProvider(server.url, idp);
    await api.post('/api/v1/admin/users', { username: 'rita', name: 'Rita Reader', password: 'rita password' });
    const alice = ACCOUNTS.alice;

    // Signed in with the password, the user links the provider's identity from the profile.
    await signIn(page, 'rita', 'rita password');
    await page.getByRole('link', { name: 'Profile' }).click();
    await expect(page.getByRole('heading', { name: 'Profile' })).toBeVisible();
    await expect(page.getByTestId('oidc-link')).toHaveText('Not linked to an OIDC identity.');
    await page.getByRole('button', { name: 'Link OIDC account' }).click();
    // Linking always asks the provider for a fresh sign-in.
    await expect(page).toHaveURL(/\/application\/o\/grimmory\/interaction\//);
    await providerLogin(page, 'alice', 'alice-password');
    await expect(page).toHaveURL(/\/profile$/);
    await expect(page.getByTestId('oidc-link')).toHaveText(`Linked to ${idp.issuer} as ${alice.sub}`);
    await expect(page.getByRole('button', { name: 'Link OIDC account' })).toHaveCount(0);

    // Signed out (through the provider's end-session page), the provider brings them back as rita.
    await hydrated(page);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page.getByText('You have been signed out.')).toBeVisible();
    await page.getByRole('link', { name: 'Sign in with Authentik' }).click();
    await providerLogin(page, 'alice', 'alice-password');
    await expect(page.getByTestId('greeting')).toBeVisible();
    await expect(page.getByTestId('username')).toHaveText('rita');

    // Unlinking asks first; dismissed, the link stays.
    await page.getByRole('link', { name: 'Profile' }).click();
    await hydrated(page);
    const question = 'Unlink your OIDC identity? You will sign in with your password only.';
    expect(await clickAndAnswer(page, page.getByRole('button', { name: 'Unlink' }), false)).toBe(`confirm: ${question}`);
    await expect(page.getByTestId('oidc-link')).toHaveText(`Linked to ${idp.issuer} as ${alice.sub}`);
    // Confirmed, the link is gone, and so is this session, which came from the provider:
    // the user signs in again with their password and the profile says "Not linked".
    expect(await clickAndAnswer(page, page.getByRole('button', { name: 'Unlink' }), true)).toBe(`confirm: ${question}`);
    await expect(page).toHaveURL(/\/login\?returnTo=%2Fprofile$/);
    await hydrated(page);
    await page.getByLabel('Username').fill('rita');
    await page.getByLabel('Password').fill('rita password');
    await page.getByRole('button', { name: 'Sign In' }).click();
    await expect(page).toHaveURL(/\/profile$/);
    await expect(page.getByTestId('oidc-link')).toHaveText('Not linked to an OIDC identity.');
    await expect(page.getByRole('button', { name: 'Link OIDC account' })).toBeVisible();

    // The provider's identity no longer reaches rita (and provisioning is off).
    const other = await freshPage(browser, server.url);
    await signInWithProvider(other.page, 'alice', 'alice-password');
    await expect(other.page).toHaveURL(/\/login\?oidcError=not_provisioned$/);
    await expect(other.page.getByRole('alert')).toHaveText('Your account has not been set up yet. Contact your administrator to get access.');
    await other.context.close();
  });

  test("an admin unlinks a user's identity and deletes a user on /admin/users", async ({ browser, page, server }) => {
    const api = await configureProvider(server.url, idp);
    await api.post('/api/v1/admin/users', { username: 'dave' });
    await api.post('/api/v1/admin/users', { username: 'rita', name: 'Rita Reader', password: 'rita password' });
    const dave = ACCOUNTS.dave;

    // dave claims his account through the provider; rita signs in with her password.
    const davesTab = await freshPage(browser, server.url);
    await signInWithProvider(davesTab.page, 'dave', 'dave-password');
    await expect(davesTab.page.getByTestId('username')).toHaveText('dave');
    const ritasTab = await freshPage(browser, server.url);
    await signIn(ritasTab.page, 'rita', 'rita password');

    await signIn(page, admin.username, admin.password);
    await page.getByRole('link', { name: 'Users' }).click();
    await expect(page.getByRole('heading', { name: 'Users' })).toBeVisible();
    await hydrated(page);
    const daveRow = page.locator('tr[data-username="dave"]');
    await expect(daveRow.locator('td[data-label="Sign-in"]')).toHaveText('OIDC');
    await expect(daveRow.locator('td[data-label="Linked Identity"]')).toHaveText(`${idp.issuer} · ${dave.sub}`);
    // The admin cannot delete themselves.
    await expect(page.locator('tr[data-username="admin"]').getByRole('button', { name: 'Delete' })).toHaveCount(0);

    // Unlink, confirmed: dave is a LOCAL user without a linked identity, and his provider
    // session here has ended.
    expect(await clickAndAnswer(page, daveRow.getByRole('button', { name: 'Unlink' }), true)).toBe('confirm: Unlink the OIDC identity of dave?');
    await expect(daveRow.locator('td[data-label="Sign-in"]')).toHaveText('LOCAL');
    await expect(daveRow.locator('td[data-label="Linked Identity"]')).toHaveText('');
    await expect(daveRow.getByRole('button', { name: 'Unlink' })).toHaveCount(0);
    await davesTab.page.goto('/');
    await expect(davesTab.page).toHaveURL(/\/login/);
    await davesTab.context.close();

    // Delete: dismissing the question keeps rita; confirming deletes her.
    await deleteAfterAsking(page, page.locator('tr[data-username="rita"]'), 'Delete the user rita? This cannot be undone.', 'Deleted rita.');
    await page.reload();
    await expect(page.locator('tbody tr')).toHaveCount(2);
    await expect(page.locator('tr[data-username="rita"]')).toHaveCount(0);
    await expect(page.locator('tr[data-username="dave"]')).toBeVisible();

    // rita's open session has ended, and her password no longer signs her in.
    await ritasTab.page.goto('/');
    await expect(ritasTab.page).toHaveURL(/\/login/);
    await hydrated(ritasTab.page);
    await ritasTab.page.getByLabel('Username').fill('rita');
    await ritasTab.page.getByLabel('Password').fill('rita password');
    await ritasTab.page.getByRole('button', { name: 'Sign In' }).click();
    await expect(ritasTab.page.getByRole('alert')).toHaveText('Invalid username or password');
    await ritasTab.context.close();
  });
});

test('an admin renames and deletes libraries; the dashboards follow', async ({ browser, page, server }) => {
  await setupAdmin(server);
  const api = await adminApi(server.url);
  const fantasy = await api.post('/api/v1/admin/libraries', { name: 'Fantasy' });
  const history = await api.post('/api/v1/admin/libraries', { name: 'History' });
  await api.post('/api/v1/admin/users', { username: 'rita', password: 'rita password', libraryIds: [fantasy.id, history.id] });

  await signIn(page, admin.username, admin.password);
  await expect(page.getByTestId('libraries').locator('li')).toHaveText(['Fantasy', 'History']);
  await page.getByRole('link', { name: 'Manage Libraries' }).click();
  await expect(page.getByRole('heading', { name: 'Libraries' })).toBeVisible();
  await hydrated(page);

  const fantasyRow = page.locator('li[data-library="Fantasy"]');
  await fantasyRow.getByRole('textbox', { name: 'Library name' }).fill('High Fantasy');
  await fantasyRow.getByRole('button', { name: 'Rename' }).click();
  await expect(page.getByRole('status')).toHaveText('Renamed to High Fantasy.');

  // Deleting asks first: dismissed, the library stays; confirmed, it goes.
  await deleteAfterAsking(page, page.locator('li[data-library="History"]'), 'Delete the library History? Users lose access to it.', 'Deleted History.');

  // After a reload the list shows what the server kept.
  await page.reload();
  const names = page.getByTestId('libraries').getByRole('textbox', { name: 'Library name' });
  await expect(names).toHaveCount(1);
  await expect(names).toHaveValue('High Fantasy');

  // The admin's dashboard and the user's show the new name, and no History.
  await page.getByRole('link', { name: 'Libraries', exact: true }).click();
  await expect(page.getByTestId('libraries').locator('li')).toHaveText(['High Fantasy']);
  const rita = await freshPage(browser, server.url);
  await signIn(rita.page, 'rita', 'rita password');
  await expect(rita.page.getByTestId('libraries').locator('li')).toHaveText(['High Fantasy']);
  await rita.context.close();
});

test('an admin filters the audit log by event and by user, and clears the filter', async ({ page, server }) => {
  await setupAdmin(server);
  const api = await adminApi(server.url);
  await api.post('/api/v1/admin/libraries', { name: 'Fantasy' });
  await api.post('/api/v1/admin/libraries', { name: 'History' });
  await api.post('/api/v1/admin/users', { username: 'rita', password: 'rita password' });
  const login = await fetch(`${server.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'rita', password: 'rita password' }),
  });
  expect(login.status).toBe(200);

  await signIn(page, admin.username, admin.password);
  await page.getByRole('link', { name: 'Audit Log' }).click();
  await expect(page.getByRole('heading', { name: 'Audit Log' })).toBeVisible();
  const table = page.getByTestId('audit-table');
  const events = table.locator('tbody td[data-label="Event"]');
  await expect(table).toContainText('SETUP_COMPLETED');
  const everything = await events.allTextContents();
  expect(everything).toEqual(expect.arrayContaining(['SETUP_COMPLETED', 'LIBRARY_CREATED', 'USER_CREATED', 'LOGIN_SUCCESS']));

  // By event: only the two library creations.
  await page.getByLabel(/^Event/).selectOption('LIBRARY_CREATED');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/[?&]event=LIBRARY_CREATED/);
  await expect(events).toHaveText(['LIBRARY_CREATED', 'LIBRARY_CREATED']);
  await expect(page.getByLabel(/^Event/)).toHaveValue('LIBRARY_CREATED');

  // By user: what rita did or what was done to her, newest first.
  await page.getByLabel(/^Event/).selectOption({ label: 'All events' });
  await page.getByLabel(/^User/).selectOption({ label: 'rita' });
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(events).toHaveText(['LOGIN_SUCCESS', 'USER_CREATED']);
  await expect(table.locator('tbody tr').nth(0).locator('td[data-label="Actor"]')).toHaveText('rita');
  await expect(table.locator('tbody tr').nth(1).locator('td[data-label="Actor"]')).toHaveText('admin');
  await expect(table.locator('tbody tr').nth(1).locator('td[data-label="Target"]')).toHaveText('rita');

  // Both at once.
  await page.getByLabel(/^Event/).selectOption('USER_CREATED');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(events).toHaveText(['USER_CREATED']);

  // Cleared: every entry again.
  await page.getByLabel(/^Event/).selectOption({ label: 'All events' });
  await page.getByLabel(/^User/).selectOption({ label: 'All users' });
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(events).toHaveText(everything);
});

test('setup from off this machine asks for the setup token from the server log', async ({ browser }) => {
  // A reverse proxy on this host (trusted) forwards a browser from elsewhere.
  const server = await startServer({ GRIMMORY_TRUSTED_PROXIES: '127.0.0.1' });
  try {
    // On this machine no token is asked for.
    const local = await freshPage(browser, server.url);
    await local.page.goto('/setup');
    await expect(local.page.getByRole('heading', { name: 'Set Up Admin User' })).toBeVisible();
    await expect(local.page.getByLabel('Username')).toBeVisible();
    await expect(local.page.getByLabel('Setup Token')).toHaveCount(0);
    await local.context.close();

    const context = await browser.newContext({ baseURL: server.url, extraHTTPHeaders: { 'X-Forwarded-For': '203.0.113.7' } });
    const page = await context.newPage();
    await page.goto('/setup');
    await expect(page.getByRole('heading', { name: 'Set Up Admin User' })).toBeVisible();
    await expect(page.getByLabel('Setup Token')).toBeVisible();
    await expect(page.getByText('Printed in the server log when Grimmory started.')).toBeVisible();
    await hydrated(page);
    await page.getByLabel('Username').fill(admin.username);
    await page.getByLabel('Email').fill(admin.email);
    await page.getByLabel('Display Name').fill(admin.name);
    await page.getByLabel('Password').fill(admin.password);

    // A wrong token is refused.
    await page.getByLabel('Setup Token').fill('0123456789abcdef0123456789abcdef');
    await page.getByRole('button', { name: 'Create Admin' }).click();
    await expect(page.getByRole('alert')).toHaveText('Enter the setup token printed in the server log at start.');
    await expect(page).toHaveURL(/\/setup$/);

    // The token from the log works.
    const token = server.log().match(/setup token: ([0-9a-f]{32})/)?.[1];
    expect(token, 'the setup token in the server log').toBeTruthy();
    await page.getByLabel('Setup Token').fill(token!);
    await page.getByRole('button', { name: 'Create Admin' }).click();
    await expect(page.getByTestId('greeting')).toHaveText(`Welcome, ${admin.name}`);
    await context.close();
  } finally {
    await server.stop();
  }
});
