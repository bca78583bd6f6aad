import { test, expect, hydrated, admin, setupAdmin, signIn } from '../support/fixtures';
import { pageTable, seriousViolations } from '../support/a11y';
import { adminApi } from '../support/api';
import type { Page } from '@playwright/test';

/// Relative luminance (WCAG) of a computed `rgb(…)` colour: 0 is black, 1 is white.
function luminance(rgb: string): number {
  const [r, g, b] = rgb.match(/[\d.]+/g)!.slice(0, 3).map((c) => {
    const v = Number(c) / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/// The page's own background and text colours, as the browser computed them.
async function bodyColours(page: Page) {
  return page.locator('body').evaluate((body) => {
    const style = getComputedStyle(body);
    return { background: style.backgroundColor, text: style.color };
  });
}

/// Dark: light text on a dark, opaque background; light: the other way round.
async function expectScheme(page: Page, scheme: 'light' | 'dark') {
  const { background, text } = await page.locator('body').evaluate((body) => {
    const style = getComputedStyle(body);
    return { background: style.backgroundColor, text: style.color };
  });
  expect(background, 'an opaque page background').not.toBe('rgba(0, 0, 0, 0)');
  const [back, ink] = [luminance(background), luminance(text)];
  if (scheme === 'dark') {
    expect(back, `background ${background}`).toBeLessThan(0.05);
    expect(ink, `text ${text}`).toBeGreaterThan(0.6);
  } else {
    expect(back, `background ${background}`).toBeGreaterThan(0.8);
    expect(ink, `text ${text}`).toBeLessThan(0.05);
  }
}

// Every page of the table an admin opens without a parameter; the Try Sign-in report, the one
// with a parameter, is scanned where a dry run makes one (try-sign-in.spec.ts). Then a page
// that does not exist.
const signedOutPages = ['/setup', '/login'];
const adminPages = [...pageTable.filter((p) => !signedOutPages.includes(p) && !p.includes('{')), '/no-such-page'];
const viewports = [
  { name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
];

for (const colorScheme of ['light', 'dark'] as const) {
  test.describe(`${colorScheme} scheme`, () => {
    test.use({ colorScheme });

    test('the login and settings pages follow the scheme', async ({ page, server }) => {
      await setupAdmin(server);
      await page.goto('/login');
      await expectScheme(page, colorScheme);
      await signIn(page, admin.username, admin.password);
      await page.goto('/settings/oidc');
      await expect(page.getByRole('heading', { name: 'OIDC Settings', level: 1 })).toBeVisible();
      await expectScheme(page, colorScheme);
    });

    test('no serious or critical violations, signed out and as the admin', async ({ page, server }) => {
      test.setTimeout(120_000);
      expect(adminPages, 'the page table was read').toEqual(expect.arrayContaining(['/', '/settings/oidc', '/device']));
      const found: string[] = [];
      const scan = async (path: string, viewport: string) => {
        await hydrated(page);
        found.push(...(await seriousViolations(page)).map((v) => `${path} (${viewport}): ${v}`));
      };

      await page.goto('/setup');
      await scan('/setup', 'desktop');

      await setupAdmin(server);
      // Something in every list and table, so rows and badges are scanned too.
      const api = await adminApi(server.url);
      const library = await api.post('/api/v1/admin/libraries', { name: 'Fantasy' });
      await api.post('/api/v1/admin/users', { username: 'reader', name: 'Rita Reader', libraryIds: [library.id] });
      await api.post('/api/v1/admin/oidc-group-mappings', { groupClaim: 'grimmory-users', libraryIds: [library.id] });

      for (const viewport of viewports) {
        await page.setViewportSize(viewport);
        for (const path of ['/login', '/login?oidcError=not_provisioned', '/no-such-page']) {
          await page.goto(path);
          await scan(path, viewport.name);
        }
      }
      await signIn(page, admin.username, admin.password);
      for (const viewport of viewports) {
        await page.setViewportSize(viewport);
        for (const path of adminPages) {
          await page.goto(path);
          await scan(path, viewport.name);
        }
      }
      // The open menu on a phone.
      await page.goto('/profile');
      await hydrated(page);
      await page.getByText('Menu', { exact: true }).click();
      await expect(page.getByRole('link', { name: 'Audit Log' })).toBeVisible();
      await scan('/profile, menu open', 'phone');

      expect(found).toEqual([]);
    });
  });
}
