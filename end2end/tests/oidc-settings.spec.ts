import { test, expect, hydrated, admin, setupAdmin } from '../support/fixtures';
import { startTestProvider } from '../support/provider';

test('an admin configures the provider, tests it, saves and turns OIDC on', async ({ page, context, server }) => {
  const idp = await startTestProvider(server.url);
  try {
    await setupAdmin(server);
    await page.goto('/login');
    await hydrated(page);
    await page.getByLabel('Username').fill(admin.username);
    await page.getByLabel('Password').fill(admin.password);
    await page.getByRole('button', { name: 'Sign In' }).click();
    await expect(page.getByTestId('greeting')).toBeVisible();

    await page.getByRole('link', { name: 'OIDC Settings' }).click();
    await expect(page.getByRole('heading', { name: 'OIDC Settings', exact: true })).toBeVisible();
    await hydrated(page);
    await expect(page.getByText('Configure settings below to enable.')).toBeVisible();
    await expect(page.getByTestId('oidc-enabled')).toBeDisabled();

    const form = page.getByTestId('provider-form');
    // A bad issuer gets its message next to the field and nothing is saved.
    await form.getByLabel('Issuer URI').fill('not a url');
    await form.getByRole('button', { name: 'Save' }).click();
    await expect(form.getByText(/Issuer URI must be an absolute URL/)).toBeVisible();

    await form.getByLabel('Provider Name').fill('Authentik');
    await form.getByLabel('Client ID').fill(idp.confidentialClientId);
    await form.getByLabel('Client Secret').fill(idp.confidentialSecret);
    // Without its trailing slash first: the test says which value to use and fills it in.
    await form.getByLabel('Issuer URI').fill(idp.issuer.replace(/\/$/, ''));
    await form.getByRole('button', { name: 'Test Connection' }).click();
    await expect(page.getByTestId('test-summary')).toHaveText('Some checks failed');
    await expect(page.getByText(`Use exactly: ${idp.issuer}`)).toBeVisible();
    await page.getByRole('button', { name: 'Use this issuer' }).click();
    await expect(form.getByLabel('Issuer URI')).toHaveValue(idp.issuer);
    await form.getByRole('button', { name: 'Test Connection' }).click();
    await expect(page.getByTestId('test-summary')).toHaveText('All checks passed');
    await expect(page.getByTestId('test-results').locator('li.check-pass')).toHaveCount(13);

    await form.getByRole('button', { name: 'Save' }).click();
    await expect(page.getByText('OIDC provider settings saved.')).toBeVisible();

    await page.reload();
    await hydrated(page);
    await expect(form.getByLabel('Provider Name')).toHaveValue('Authentik');
    await expect(form.getByLabel('Issuer URI')).toHaveValue(idp.issuer);
    await expect(form.getByLabel('Client Secret')).toHaveValue('');
    await expect(page.getByTestId('secret-stored')).toContainText('••• stored');
    expect(await page.content()).not.toContain(idp.confidentialSecret);

    // The reference panel: copy the redirect URI.
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    await page.getByRole('button', { name: 'Copy Redirect URI' }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(`${server.url}/oauth2-callback`);

    await page.getByTestId('oidc-enabled').check({ force: true });
    await expect(page.getByText('OIDC login enabled.')).toBeVisible();
    const pub = await (await fetch(`${server.url}/api/v1/public-settings`)).json();
    expect(pub).toMatchObject({ oidcEnabled: true, oidcProviderName: 'Authentik' });

    // A group mapping; an empty claim is refused next to its field.
    await page.getByRole('button', { name: 'Add Mapping' }).click();
    const dialog = page.getByTestId('mapping-dialog');
    await dialog.getByRole('button', { name: 'Save Mapping' }).click();
    await expect(dialog.getByText('Group claim value is required.')).toBeVisible();
    await dialog.getByLabel('Group Claim Value').fill('grimmory-users');
    await dialog.getByLabel('Download Books', { exact: true }).check();
    await dialog.getByRole('button', { name: 'Save Mapping' }).click();
    await expect(page.locator('tr[data-group="grimmory-users"]')).toContainText('Download Books');
    await page.reload();
    await expect(page.locator('tr[data-group="grimmory-users"]')).toBeVisible();
  } finally {
    await idp.stop();
  }
});
