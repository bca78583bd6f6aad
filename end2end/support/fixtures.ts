import { test as base, expect, type Page } from '@playwright/test';
import { startServer, type RunningServer } from './server';

/// Every test gets a fresh server with an empty database, so tests never depend on each other.
export const test = base.extend<{ server: RunningServer }>({
  server: async ({}, use) => {
    const server = await startServer();
    await use(server);
    await server.stop();
  },
  baseURL: async ({ server }, use) => {
    await use(server.url);
  },
  // Every page of every test runs under the server's Content-Security-Policy: anything it
  // blocks (a script without the page's nonce, a style, a fetch elsewhere) fails the test.
  context: async ({ context }, use) => {
    const violations: string[] = [];
    context.on('console', (message) => {
      if (message.text().includes('Content Security Policy')) violations.push(message.text());
    });
    await use(context);
    expect(violations, 'Content-Security-Policy violations').toEqual([]);
  },
});

export { expect };

/// Waits until the page has hydrated (an Effect sets the marker), so clicks reach handlers.
export async function hydrated(page: Page) {
  await expect(page.locator('html[data-hydrated="true"]')).toHaveCount(1);
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
