import AxeBuilder from '@axe-core/playwright';
import { readFileSync } from 'node:fs';
import type { Page } from '@playwright/test';

/// Serious and critical accessibility violations on the page as it stands, one line each.
export async function seriousViolations(page: Page): Promise<string[]> {
  const { violations } = await new AxeBuilder({ page }).analyze();
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}) at ${n.target.join(' ')}: ${n.failureSummary}`));
}

/// Every path of the page table (app/src/page.rs), read from the source, so a page added there
/// is scanned without anyone remembering to list it here.
export const pageTable: string[] = [
  ...readFileSync(new URL('../../app/src/page.rs', import.meta.url), 'utf8').matchAll(
    /^\s+\w+ "(\/[^"]*)" (?:Public|SignedIn|Admin),$/gm,
  ),
].map((m) => m[1]);
