import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test as base, expect, hydrated, setupAdmin } from '../support/fixtures';
import { startServer, type RunningServer } from '../support/server';
import { startTestProvider } from '../support/provider';
import { configureProvider, providerLogin } from '../support/oidc';

// The browser journey on PostgreSQL: the server runs on a database of its own on the
// PostgreSQL server the integration tests use (tests/integration/common.rs), created for the
// test and dropped after it.

/// The maintenance database to create and drop test databases from, as the integration tests.
const adminUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/// Runs one statement with psql (on the maintenance database unless `database` is given) and
/// answers its output, one row a line.
function psql(sql: string, database = adminUrl): string {
  try {
    return execFileSync('psql', [database, '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', sql], {
      env: { ...process.env, PGCONNECT_TIMEOUT: '5' },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 15_000,
    }).toString().trim();
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    const why = err.stderr?.toString().trim() || err.message;
    const shown = new URL(database);
    if (shown.password) shown.password = '***';
    throw new Error(`PostgreSQL at ${shown.href} is needed for this test (set TEST_DATABASE_URL); \`${sql}\` failed: ${why}`);
  }
}

/// Named like the integration tests' databases (grimmory_test_<unix seconds>_<hex>), so their
/// sweep removes what a killed run leaves behind.
function databaseName() {
  return `grimmory_test_${Math.floor(Date.now() / 1000)}_${randomBytes(8).toString('hex')}`;
}

const test = base.extend<{ database: string; server: RunningServer }>({
  // A fresh database, dropped after the test.
  database: async ({}, use) => {
    const name = databaseName();
    psql(`CREATE DATABASE "${name}"`);
    try {
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      await use(url.href);
    } finally {
      psql(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    }
  },
  server: async ({ database }, use) => {
    // PostgreSQL has no data folder to keep a generated key in: the key must be given.
    const server = await startServer({
      DATABASE_URL: database,
      GRIMMORY_SECRET_KEY: randomBytes(32).toString('hex'),
    });
    try {
      await use(server);
    } finally {
      await server.stop();
    }
  },
});

test('on PostgreSQL: a user signs in with the provider and signs out through its end-session page', async ({ page, server, database }) => {
  const idp = await startTestProvider(server.url);
  try {
    await setupAdmin(server);
    const api = await configureProvider(server.url, idp, { autoProvisioning: true, groupSyncMode: 'ON_LOGIN' });
    const fantasy = await api.post('/api/v1/admin/libraries', { name: 'Fantasy' });
    await api.post('/api/v1/admin/libraries', { name: 'Science' });
    await api.post('/api/v1/admin/oidc-group-mappings', { groupClaim: 'grimmory-users', libraryIds: [fantasy.id] });

    await page.goto('/login');
    await page.getByRole('link', { name: 'Sign in with Authentik' }).click();
    await expect(page).toHaveURL(/\/application\/o\/grimmory\/interaction\//);
    await providerLogin(page, 'alice', 'alice-password');
    await expect(page.getByTestId('greeting')).toHaveText('Welcome, Alice Liddell');
    await expect(page.getByTestId('username')).toHaveText('alice');
    await expect(page.getByTestId('libraries').locator('li')).toHaveText(['Fantasy']);
    // It is PostgreSQL that holds the new user and her session from the provider.
    const aliceSessions = `SELECT s.auth_method FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.username = 'alice'`;
    expect(psql(aliceSessions, database)).toBe('oidc');

    await hydrated(page);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page).toHaveURL(/\/login\?signedOut=1(&state=.*)?$/);
    await expect(page.getByText('You have been signed out.')).toBeVisible();
    // The session is gone here and at the provider: the app asks to sign in, the provider
    // asks for the password again.
    await page.goto('/');
    await expect(page).toHaveURL(/\/login\?returnTo=%2F$/);
    await page.getByRole('link', { name: 'Sign in with Authentik' }).click();
    await expect(page.getByLabel('Password')).toBeVisible();
    expect(psql(aliceSessions, database)).toBe('');
  } finally {
    await idp.stop();
  }
});
