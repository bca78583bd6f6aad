import { test, expect, hydrated, admin, setupAdmin, signIn } from '../support/fixtures';
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
    await expect(page.getByRole('switch', { name: 'OIDC Login' })).toBeDisabled();

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

    await page.getByRole('switch', { name: 'OIDC Login' }).check();
    await expect(page.getByText('OIDC login enabled.')).toBeVisible();
    const pub = await (await fetch(`${server.url}/api/v1/public-settings`)).json();
    expect(pub).toMatchObject({ oidcEnabled: true, oidcProviderName: 'Authentik' });

    // A group mapping; an empty claim is refused next to its field.
    await page.getByRole('button', { name: 'Add Mapping' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add Mapping' });
    await expect(dialog.getByLabel('Group Claim Value')).toBeFocused();
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

test('the switches and the mapping form work from the keyboard and by their labels', async ({ page, server }) => {
  await setupAdmin(server);
  await signIn(page, admin.username, admin.password);
  await page.goto('/settings/oidc');
  await hydrated(page);

  const provisioning = page.getByRole('switch', { name: 'Automatic User Provisioning' });
  await provisioning.focus();
  await page.keyboard.press('Space');
  await expect(page.getByText('User provisioning saved.')).toBeVisible();
  // The words of a switch's label turn it too.
  await page.locator('label.toggle > span', { hasText: /^Link Existing Local Accounts$/ }).click();
  await expect(page.getByText('Account linking saved.')).toBeVisible();
  await page.reload();
  await hydrated(page);
  await expect(provisioning).toBeChecked();
  await expect(page.getByRole('switch', { name: 'Link Existing Local Accounts' })).toBeChecked();

  // The mapping form takes the focus when it opens, and Escape closes it and gives it back.
  const add = page.getByRole('button', { name: 'Add Mapping' });
  await add.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'Add Mapping' });
  await expect(dialog.getByLabel('Group Claim Value')).toBeFocused();
  await page.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);
  await expect(add).toBeFocused();
});
