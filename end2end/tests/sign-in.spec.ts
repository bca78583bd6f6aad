import { test, expect, hydrated, admin, setupAdmin } from '../support/fixtures';

test('set up the admin, sign out, sign in again', async ({ page }) => {
  await page.goto('/');
  await expect(page).toHaveURL(/\/setup$/);
  await expect(page.getByRole('heading', { name: 'Set Up Admin User' })).toBeVisible();
  await hydrated(page);

  // A bad password is refused next to its field and nothing is created.
  await page.getByLabel('Username').fill(admin.username);
  await page.getByLabel('Email').fill(admin.email);
  await page.getByLabel('Display Name').fill(admin.name);
  await page.getByLabel('Password').fill('short');
  await page.locator('input[name=password]').evaluate((el: HTMLInputElement) => el.removeAttribute('minlength'));
  await page.getByRole('button', { name: 'Create Admin' }).click();
  await expect(page.getByText('Password must be at least 8 characters.')).toBeVisible();
  await expect(page).toHaveURL(/\/setup$/);

  await page.getByLabel('Password').fill(admin.password);
  await page.getByRole('button', { name: 'Create Admin' }).click();
  await expect(page.getByTestId('greeting')).toHaveText('Welcome, Ada Admin');
  await expect(page.getByTestId('username')).toHaveText('admin');
  await expect(page.getByTestId('email')).toHaveText('admin@example.org');

  await hydrated(page);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login\?signedOut=1$/);
  await expect(page.getByText('You have been signed out.')).toBeVisible();

  await hydrated(page);
  await page.getByLabel('Username').fill(admin.username);
  await page.getByLabel('Password').fill('wrong password');
  await page.getByRole('button', { name: 'Sign In' }).click();
  await expect(page.getByRole('alert')).toHaveText('Invalid username or password');

  await page.getByLabel('Password').fill(admin.password);
  await page.getByRole('button', { name: 'Sign In' }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId('greeting')).toHaveText('Welcome, Ada Admin');

  // The session cookie is out of reach of page scripts.
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'grimmory_session');
  expect(session?.httpOnly).toBe(true);
  expect(session?.sameSite).toBe('Lax');
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('sign in and sign out with plain form posts', async ({ page, server }) => {
    await setupAdmin(server);
    await page.goto('/');
    await expect(page).toHaveURL(/\/login\?returnTo=%2F$/);

    await page.getByLabel('Username').fill(admin.username);
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Sign In' }).click();
    await expect(page.getByRole('alert')).toHaveText('Invalid username or password');
    await expect(page.getByLabel('Username')).toHaveValue(admin.username);

    await page.getByLabel('Password').fill(admin.password);
    await page.getByRole('button', { name: 'Sign In' }).click();
    await expect(page).toHaveURL(/\/$/);
    await expect(page.getByTestId('greeting')).toHaveText('Welcome, Ada Admin');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page).toHaveURL(/\/login\?signedOut=1$/);
    await expect(page.getByText('You have been signed out.')).toBeVisible();
    await page.goto('/');
    await expect(page).toHaveURL(/\/login/);
  });
});
