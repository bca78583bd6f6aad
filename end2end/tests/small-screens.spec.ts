import { test, expect, hydrated, admin, setupAdmin, signIn } from '../support/fixtures';
import { adminApi } from '../support/api';
import type { Locator, Page } from '@playwright/test';

// A phone held upright.
const phone = { width: 390, height: 844 };
test.use({ viewport: phone });

/// Nothing on the page reaches past the right edge of the screen.
async function expectNoSidewaysScroll(page: Page) {
  const widths = await page.evaluate(() => ({
    page: document.documentElement.scrollWidth,
    screen: window.innerWidth,
  }));
  expect(widths.page, 'page width against screen width').toBeLessThanOrEqual(widths.screen);
}

/// Visible, and wholly between the left and right edges of the screen.
async function expectOnScreen(element: Locator) {
  await expect(element).toBeVisible();
  const box = (await element.boundingBox())!;
  expect(box.x).toBeGreaterThanOrEqual(0);
  expect(box.x + box.width).toBeLessThanOrEqual(phone.width);
}

test('the users page shows every column and action on a phone', async ({ page, server }) => {
  await setupAdmin(server);
  const api = await adminApi(server.url);
  await api.post('/api/v1/admin/users', {
    username: 'reader',
    name: 'Rita Reader',
    email: 'rita.reader.with.a.long.address@example.org',
    password: 'reader password',
  });
  await signIn(page, admin.username, admin.password);
  await page.goto('/admin/users');
  await hydrated(page);
  await expectNoSidewaysScroll(page);

  for (const [username, isAdmin] of [
    [admin.username, 'Yes'],
    ['reader', 'No'],
  ]) {
    const row = page.locator(`tr[data-username="${username}"]`);
    await expectOnScreen(row.getByText('LOCAL', { exact: true }));
    await expectOnScreen(row.getByRole('cell', { name: isAdmin, exact: true }));
    await expectOnScreen(row.getByRole('button', { name: 'Edit' }));
  }
  await expectOnScreen(page.locator('tr[data-username="reader"]').getByRole('button', { name: 'Delete' }));

  // The action works from there.
  await page.locator('tr[data-username="reader"]').getByRole('button', { name: 'Edit' }).click();
  await expect(page.getByTestId('user-form').getByLabel('Display Name')).toHaveValue('Rita Reader');
  await expectNoSidewaysScroll(page);
});

/// Where each menu entry leads, and the heading that page opens with.
const menu = [
  { link: 'Libraries', path: '/', heading: `Welcome, ${admin.name}` },
  { link: 'Profile', path: '/profile', heading: 'Profile' },
  { link: 'Users', path: '/admin/users', heading: 'Users' },
  { link: 'Manage Libraries', path: '/admin/libraries', heading: 'Libraries' },
  { link: 'Audit Log', path: '/admin/audit', heading: 'Audit Log' },
  { link: 'OIDC Settings', path: '/settings/oidc', heading: 'OIDC Settings' },
];

// `<summary>` has no ARIA role that getByRole knows, so the menu button is found by its text.
const menuButton = (page: Page) => page.getByText('Menu', { exact: true });

test('the menu reaches every page, by pointer with JavaScript', async ({ page, server }) => {
  await setupAdmin(server);
  await signIn(page, admin.username, admin.password);
  for (const entry of menu) {
    await hydrated(page);
    const link = page.getByRole('link', { name: entry.link, exact: true });
    await expect(link, 'links wait behind the menu button').toBeHidden();
    await menuButton(page).click();
    await expectOnScreen(link);
    await link.click();
    await expect(page).toHaveURL(new URL(entry.path, server.url).href);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText(entry.heading);
    await expectNoSidewaysScroll(page);
  }
});

test('the menu reaches every page, by keyboard without JavaScript', async ({ browser, server }) => {
  await setupAdmin(server);
  const context = await browser.newContext({ baseURL: server.url, viewport: phone, javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto('/login');
  await page.getByLabel('Username').fill(admin.username);
  await page.getByLabel('Password').fill(admin.password);
  await page.getByRole('button', { name: 'Sign In' }).click();
  await expect(page.getByTestId('greeting')).toBeVisible();

  for (const entry of menu) {
    const link = page.getByRole('link', { name: entry.link, exact: true });
    await expect(link, 'links wait behind the menu button').toBeHidden();
    await menuButton(page).press('Enter');
    await expectOnScreen(link);
    await link.press('Enter');
    await expect(page).toHaveURL(new URL(entry.path, server.url).href);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText(entry.heading);
    await expectNoSidewaysScroll(page);
  }
  await context.close();
});
