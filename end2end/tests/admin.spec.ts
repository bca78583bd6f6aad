import { test, expect, hydrated, admin, setupAdmin, signIn } from '../support/fixtures';

test('libraries, users and the 403 page', async ({ page, browser, server }) => {
  await setupAdmin(server);
  await signIn(page, admin.username, admin.password);

  // Two libraries; the new user gets only one.
  await page.getByRole('link', { name: 'Manage Libraries' }).click();
  await expect(page.getByRole('heading', { name: 'Libraries' })).toBeVisible();
  await hydrated(page);
  for (const name of ['Fantasy', 'History']) {
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByRole('button', { name: 'Create Library' }).click();
    await expect(page.getByText(`Created ${name}.`)).toBeVisible();
  }
  await page.getByLabel('Name', { exact: true }).fill('Fantasy');
  await page.getByRole('button', { name: 'Create Library' }).click();
  await expect(page.getByRole('alert')).toHaveText('A library with this name already exists.');

  await page.getByRole('link', { name: 'Users' }).click();
  await hydrated(page);
  await page.getByRole('button', { name: 'Create User' }).click();
  const form = page.getByTestId('user-form');
  await form.getByLabel('Username', { exact: true }).fill('reader');
  await form.getByLabel('Display Name').fill('Rita Reader');
  await form.getByLabel('Email', { exact: true }).fill('rita@example.org');
  await form.getByLabel(/^Password/).fill('short');
  await form.getByLabel('Fantasy').check();
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(form.getByText('Password must be at least 8 characters.')).toBeVisible();
  await form.getByLabel(/^Password/).fill('reader password');
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByText('Saved reader.')).toBeVisible();
  const row = page.locator('tr[data-username="reader"]');
  await expect(row).toContainText('Rita Reader');
  await expect(row).toContainText('LOCAL');

  // The reader sees exactly their library, and no admin pages.
  const readerContext = await browser.newContext({ baseURL: server.url });
  const readerPage = await readerContext.newPage();
  await signIn(readerPage, 'reader', 'reader password');
  await expect(readerPage.getByTestId('libraries').locator('li')).toHaveText(['Fantasy']);
  await expect(readerPage.getByRole('link', { name: 'Users' })).toHaveCount(0);
  const forbidden = await readerPage.goto('/admin/users');
  expect(forbidden?.status()).toBe(403);
  await expect(readerPage.getByTestId('forbidden')).toContainText('Admins only');

  // The admin grants a permission; the reader's own API view reflects it.
  const before = await readerPage.request.get('/api/v1/auth/me');
  expect((await before.json()).permissions.permissionDownload).toBe(false);
  await row.getByRole('button', { name: 'Edit' }).click();
  await expect(page.getByText('Saved reader.')).toHaveCount(0);
  await form.getByLabel('Download Books', { exact: true }).check();
  const saved = page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().includes('/api/v1/admin/users/'));
  await form.getByRole('button', { name: 'Save' }).click();
  expect((await saved).status()).toBe(200);
  await expect(page.getByText('Saved reader.')).toBeVisible();
  const after = await readerPage.request.get('/api/v1/auth/me');
  expect((await after.json()).permissions.permissionDownload).toBe(true);

  // The audit log shows what happened.
  await page.getByRole('link', { name: 'Audit Log' }).click();
  await expect(page.getByTestId('audit-table')).toContainText('USER_UPDATED');
  await expect(page.getByTestId('audit-table')).toContainText('LIBRARY_CREATED');
  await readerContext.close();
});
