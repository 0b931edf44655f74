/**
 * A report page opened from disk in headless Chromium, with what it did recorded: every request, every
 * console error or uncaught exception, and every dialog (dismissed), so a test can assert none happened.
 */
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface OpenedReport {
  browser: Browser;
  page: Page;
  requests: string[];
  consoleErrors: string[];
  dialogs: string[];
}

/** Chromium on a fresh temporary profile (removed when it closes), the page loaded at 1280x900. */
export async function openReport(file: string): Promise<OpenedReport> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (the test script installs it in CI)`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const o: OpenedReport = { browser, page, requests: [], consoleErrors: [], dialogs: [] };
  page.on('request', (r) => o.requests.push(r.url()));
  page.on('console', (m) => {
    if (m.type() === 'error') o.consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => o.consoleErrors.push(String(e)));
  page.on('dialog', async (d) => {
    o.dialogs.push(d.message());
    await d.dismiss();
  });
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  return o;
}
