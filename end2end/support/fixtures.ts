import { test as base, expect, type BrowserContext, type Page } from '@playwright/test';
import { startServer, type RunningServer } from './server';

/// Every test gets a fresh server with an empty database, so tests never depend on each other.
export const test = base.extend<{ server: RunningServer; cspViolations: string[] }>({
  server: async ({}, use) => {
    const server = await startServer();
    await use(server);
    await server.stop();
  },
  baseURL: async ({ server }, use) => {
    await use(server.url);
  },
  // Every page of every test runs under the server's Content-Security-Policy: anything it
  // blocks (a script without the page's nonce, a style, a fetch elsewhere) fails the test,
  // also in the contexts and pages a test opens itself.
  cspViolations: [
    async ({ browser, context }, use) => {
      const violations: string[] = [];
      const watch = (c: BrowserContext) =>
        c.on('console', (message) => {
          if (message.text().includes('Content Security Policy')) violations.push(message.text());
        });
      watch(context);
      const newContext = browser.newContext.bind(browser);
      browser.newContext = async (options) => {
        const opened = await newContext(options);
        watch(opened);
        return opened;
      };
      try {
        await use(violations);
      } finally {
        browser.newContext = newContext;
      }
      expect(violations, 'Content-Security-Policy violations').toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };

/// Waits until the page has hydrated (an Effect sets the marker), so clicks reach handlers.
export async function hydrated(page: Page) {
  // A busy machine compiles the module slower than expect's 5 s default.
  await expect(page.locator('html[data-hydrated="true"]')).toHaveCount(1, { timeout: 20_000 });
}

/// Signs in through the login form and waits for the dashboard.
export async function signIn(page: Page, username: string, password: string) {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign In' }).click();
  await expect(page.getByTestId('greeting')).toBeVisible();
}

export const admin = { username: 'admin', email: 'admin@example.org', name: 'Ada Admin', password: 'correct horse battery' };

/// Completes setup through the API, as a script would.
export async function setupAdmin(server: RunningServer) {
  const res = await fetch(`${server.url}/api/v1/setup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(admin),
  });
  if (res.status !== 201) throw new Error(`setup answered ${res.status}`);
}
