import { test, expect, admin, hydrated, signIn } from '../support/fixtures';
import { configureProvider, providerForEachTest, providerLogin, signInWithProvider } from '../support/oidc';
import { startProvider } from '../provider/provider.mjs';
import type { Browser, Page } from '@playwright/test';

// When signing in with the provider goes wrong (SPEC sections 4, 5.1 and 6), each case produced
// for real with the test provider: the user sees SPEC's text on /login?oidcError=…, and the
// admin finds the machine reason in the audit log (and on the same login page).

/// The provider's login page (the browser went there from the app).
async function expectProviderLoginPage(page: Page) {
  await expect(page).toHaveURL(/\/application\/o\/grimmory\/interaction\//);
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
}

const idp = providerForEachTest();

/// The admin, in a browser of their own, opens the address the user ended on and sees the
/// machine reason there, then finds the failure in the audit log filtered to failed OIDC
/// sign-ins.
async function adminSeesReason(browser: Browser, baseURL: string, userLandedOn: string, reason: string) {
  const context = await browser.newContext({ baseURL });
  const page = await context.newPage();
  await signIn(page, admin.username, admin.password);
  await page.goto(userLandedOn);
  await expect(page.getByTestId('machine-reason')).toHaveText(`Reason (shown to admins): ${reason}`);

  await page.goto('/admin/audit');
  await page.getByLabel('Event').selectOption('OIDC_LOGIN_FAILED');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/\/admin\/audit\?event=OIDC_LOGIN_FAILED/);
  const newest = page.getByTestId('audit-table').locator('tbody tr').first();
  await expect(newest.locator('td[data-label="Event"]')).toHaveText('OIDC_LOGIN_FAILED');
  await expect(newest.locator('td[data-label="Details"]')).toContainText(`"reason":"${reason}"`);
  await context.close();
}

test.describe('OIDC-only mode stops after three automatic trips to the provider', () => {
  test('a provider the browser cannot reach: after three trips the stop page, and the local form for admins', async ({ page, server }) => {
    await configureProvider(server.url, idp, { autoProvisioning: true, oidcForceOnlyMode: true });
    // The first trip: the app sends the user straight on to the provider's login page.
    await page.goto('/');
    await expectProviderLoginPage(page);
    // The provider goes down (its address no longer answers the browser). The app still knows
    // where it was, so it keeps sending the user there; the user opens the app again each time.
    await idp.stop();
    for (let trip = 2; trip <= 3; trip++) {
      const errorPage = page.waitForEvent('framenavigated', (frame) => frame.url().startsWith('chrome-error:'));
      await expect(page.goto('/'), `trip ${trip}`).rejects.toThrow(/ERR_CONNECTION_REFUSED/);
      await errorPage;
      // The browser's own error page: the provider refused to connect.
      await expect(page.getByRole('heading', { name: 'This site can’t be reached' })).toBeVisible();
    }
    // The fourth time the app stops bouncing and says so, with the way to the local form.
    await page.goto('/');
    await expect(page).toHaveURL(/\/login\?returnTo=%2F$/);
    await expect(page.getByRole('heading', { name: 'Welcome Back' })).toBeVisible();
    await expect(page.getByRole('alert')).toHaveText('Unable to reach the identity provider. Please contact your administrator.');
    await expect(page.getByLabel('Password')).toBeHidden();
    // Opening the app again does not bounce either.
    await page.reload();
    await expect(page).toHaveURL(/\/login\?returnTo=%2F$/);
    await expect(page.getByRole('alert')).toHaveText('Unable to reach the identity provider. Please contact your administrator.');

    await page.getByRole('link', { name: 'Sign in with a local account (admins)' }).click();
    await expect(page).toHaveURL(/\/login\?local=true$/);
    await hydrated(page);
    await page.getByLabel('Username').fill(admin.username);
    await page.getByLabel('Password').fill(admin.password);
    await page.getByRole('button', { name: 'Sign In' }).click();
    await expect(page.getByTestId('greeting')).toHaveText(`Welcome, ${admin.name}`);
  });

  test('a successful sign-in resets the count of trips', async ({ page, server }) => {
    await configureProvider(server.url, idp, { autoProvisioning: true, oidcForceOnlyMode: true });
    // Two trips the user abandons at the provider, the third one signs in.
    for (let trip = 1; trip <= 3; trip++) {
      await page.goto('/');
      await expectProviderLoginPage(page);
    }
    await providerLogin(page, 'alice', 'alice-password');
    await expect(page.getByTestId('greeting')).toHaveText('Welcome, Alice Liddell');
    // Signing out (through the provider's end-session page) shows the login page, no bounce.
    await hydrated(page);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page).toHaveURL(/\/login\?signedOut=1/);
    await expect(page.getByText('You have been signed out.')).toBeVisible();
    // The count started again: opening the app goes to the provider three more times.
    for (let trip = 1; trip <= 3; trip++) {
      await page.goto('/');
      await expectProviderLoginPage(page);
    }
    await page.goto('/');
    await expect(page.getByRole('alert')).toHaveText('Unable to reach the identity provider. Please contact your administrator.');
  });
});

test.describe('the sign-in error pages', () => {
  test('provider_unreachable: the provider is down when the user presses the button', async ({ page, server, browser }) => {
    await configureProvider(server.url, idp, { autoProvisioning: true });
    await idp.stop();
    await page.goto('/login');
    await page.getByRole('link', { name: 'Sign in with Authentik' }).click();
    await expect(page).toHaveURL(/\/login\?oidcError=provider_unreachable$/);
    await expect(page.getByRole('alert')).toHaveText('Could not reach the OIDC provider. Please try again later.');
    // The user is not shown the admins' reason.
    await expect(page.getByTestId('machine-reason')).toHaveCount(0);
    await adminSeesReason(browser, server.url, page.url(), 'provider_unreachable');
  });

  test('provider_unreachable: the provider goes down while the user comes back from it', async ({ page, server, browser }) => {
    // A provider of this test's own, to stop it the moment it has sent the browser back with a
    // code: the app cannot redeem the code any more.
    const own = await startProvider({ redirectUris: [`${server.url}/oauth2-callback`] });
    try {
      own.provider.on('authorization.success', (ctx: { res: NodeJS.EventEmitter }) => {
        ctx.res.once('finish', () => void own.stop());
      });
      await configureProvider(server.url, { issuer: own.issuer, publicClientId: own.clients.public.clientId }, { autoProvisioning: true });
      await page.goto('/login');
      await page.getByRole('link', { name: 'Sign in with Authentik' }).click();
      await expectProviderLoginPage(page);
      await providerLogin(page, 'alice', 'alice-password');
      await expect(page).toHaveURL(/\/login\?oidcError=provider_unreachable$/);
      await expect(page.getByRole('alert')).toHaveText('Could not reach the OIDC provider. Please try again later.');
      await adminSeesReason(browser, server.url, page.url(), 'provider_unreachable');
    } finally {
      await own.stop();
    }
  });

  test('link_refused: a local account with a password already has the username', async ({ page, server, browser }) => {
    // Carol has a local account; linking existing local accounts is off (the default).
    const api = await configureProvider(server.url, idp, { autoProvisioning: true });
    await api.post('/api/v1/admin/users', { username: 'carol', password: 'carol local password' });
    await signInWithProvider(page, 'carol', 'carol-password');
    await expect(page).toHaveURL(/\/login\?oidcError=link_refused$/);
    await expect(page.getByRole('alert')).toHaveText('An account with this username already exists and cannot be linked. Contact your administrator.');
    await expect(page.getByTestId('machine-reason')).toHaveCount(0);
    await adminSeesReason(browser, server.url, page.url(), 'link_refused');
  });

  test('link_refused: the admin links an identity that is already linked to another account', async ({ browser, page, server }) => {
    await configureProvider(server.url, idp, { autoProvisioning: true });
    // Alice signs in once: her identity is now linked to her own (new) account.
    const alice = await browser.newContext({ baseURL: server.url });
    const alicePage = await alice.newPage();
    await signInWithProvider(alicePage, 'alice', 'alice-password');
    await expect(alicePage.getByTestId('greeting')).toHaveText('Welcome, Alice Liddell');
    await alice.close();

    // The admin, on their profile, links "their" identity and signs in at the provider as alice.
    await signIn(page, admin.username, admin.password);
    await page.goto('/profile');
    await expect(page.getByTestId('oidc-link')).toHaveText('Not linked to an OIDC identity.');
    await page.getByRole('button', { name: 'Link OIDC account' }).click();
    await expectProviderLoginPage(page);
    await providerLogin(page, 'alice', 'alice-password');
    await expect(page).toHaveURL(/\/login\?oidcError=link_refused$/);
    await expect(page.getByRole('alert')).toHaveText('An account with this username already exists and cannot be linked. Contact your administrator.');
    // Signed in as the admin, the login page also shows the machine reason.
    await expect(page.getByTestId('machine-reason')).toHaveText('Reason (shown to admins): link_refused');
    // Nothing was linked, and the admin is still signed in as themselves.
    await page.goto('/profile');
    await expect(page.getByTestId('oidc-link')).toHaveText('Not linked to an OIDC identity.');
    await expect(page.getByRole('main')).toContainText(admin.name);
  });

  test('state_mismatch: a sign-in started in another browser is finished in this one', async ({ browser, page, server }) => {
    await configureProvider(server.url, idp, { autoProvisioning: true });
    // This browser has a sign-in of its own under way.
    await page.goto('/login');
    await page.getByRole('link', { name: 'Sign in with Authentik' }).click();
    await expectProviderLoginPage(page);
    // Another browser starts a sign-in: its trip to the provider, with its state, is a link
    // that anyone can be sent.
    const other = await browser.newContext({ baseURL: server.url });
    const otherPage = await other.newPage();
    await otherPage.goto('/login');
    const toProvider = otherPage.waitForRequest(/\/application\/o\/grimmory\/auth\?.*state=/);
    await otherPage.getByRole('link', { name: 'Sign in with Authentik' }).click();
    const link = (await toProvider).url();
    await expectProviderLoginPage(otherPage);
    await other.close();

    // Opened here, the provider signs the user in and sends them back with the other
    // browser's state, which this browser does not own.
    await page.goto(link);
    await expectProviderLoginPage(page);
    await providerLogin(page, 'alice', 'alice-password');
    await expect(page).toHaveURL(/\/login\?oidcError=state_mismatch$/);
    await expect(page.getByRole('alert')).toHaveText('OIDC authentication failed: security state mismatch. Please try again.');
    const landedOn = page.url();
    // Nobody is signed in here: the app still asks to sign in.
    await page.goto('/');
    await expect(page).toHaveURL(/\/login\?returnTo=%2F$/);
    await expect(page.getByRole('heading', { name: 'Welcome Back' })).toBeVisible();
    await adminSeesReason(browser, server.url, landedOn, 'state_mismatch');
  });
});

test('two tabs sign in at once: both end signed in as the same user, neither shows an error', async ({ context, server }) => {
  const api = await configureProvider(server.url, idp, { autoProvisioning: true });
  const first = await context.newPage();
  const second = await context.newPage();
  // Both tabs press the button before either finishes at the provider.
  for (const tab of [first, second]) {
    await tab.goto('/login');
    await tab.getByRole('link', { name: 'Sign in with Authentik' }).click();
    await expectProviderLoginPage(tab);
  }
  await providerLogin(first, 'alice', 'alice-password');
  await expect(first.getByTestId('greeting')).toHaveText('Welcome, Alice Liddell');
  await providerLogin(second, 'alice', 'alice-password');
  await expect(second.getByTestId('greeting')).toHaveText('Welcome, Alice Liddell');
  for (const tab of [first, second]) {
    await expect(tab).toHaveURL(new URL('/', server.url).href);
    await expect(tab.getByRole('alert')).toHaveCount(0);
  }
  // One browser, one session: both tabs go on as alice, and there is one alice.
  for (const tab of [first, second]) {
    const me = await tab.request.get('/api/v1/auth/me');
    expect(me.status()).toBe(200);
    expect((await me.json()).username).toBe('alice');
  }
  const users = await api.get('/api/v1/admin/users');
  expect(users.filter((u: { username: string }) => u.username === 'alice')).toHaveLength(1);
});

test('signing in again in another tab leaves an open page where it was, with what was typed on it', async ({ context, server }) => {
  await configureProvider(server.url, idp, { autoProvisioning: true });
  const first = await context.newPage();
  await signInWithProvider(first, 'alice', 'alice-password');
  await expect(first.getByTestId('greeting')).toHaveText('Welcome, Alice Liddell');
  const isSessionStream = (r: { url: () => string }) => new URL(r.url()).pathname === '/api/v1/auth/events';
  const watching = first.waitForResponse(isSessionStream);
  await first.goto('/profile');
  await hydrated(first);
  await watching;
  const name = first.getByTestId('app-password-form').getByLabel('Name');
  await name.fill('Kobo in the kitchen');

  // The second tab signs in again (the provider remembers alice): the browser's session is
  // replaced, so the first tab's stream says its session ended and the tab watches afresh.
  const watchingAgain = first.waitForResponse(isSessionStream);
  const second = await context.newPage();
  await second.goto('/api/v1/auth/oidc/authorize');
  await expect(second.getByTestId('greeting')).toHaveText('Welcome, Alice Liddell');
  await watchingAgain;
  // Still alice in this browser: the first tab stayed on its page, nothing typed was lost.
  await expect(first).toHaveURL(new URL('/profile', server.url).href);
  await expect(name).toHaveValue('Kobo in the kitchen');
});
