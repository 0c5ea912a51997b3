import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../support/browser.ts';
import { PROJECT_ROOT, startTestServer, type TestServer } from '../support/cloudstorage.ts';
import { callApi, signupViaApi } from '../support/dashboard.ts';

const SCREENSHOTS = join(PROJECT_ROOT, '.tmp', 'screenshots');

/** The landing page in headless Chromium (Debian chromium + playwright-core): no JavaScript needed, strict CSP honoured. */
describe('share landing page in a real browser', () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off' });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('opens the link, refuses a wrong password, downloads the exact bytes with the right one', async () => {
    const owner = await signupViaApi(server);
    const bytes = randomBytes(200_000);
    const upload = await fetch(`${server.apiEndpoint}/api/v1/files?key=reports/annual%20report.pdf`, {
      method: 'POST',
      headers: { 'x-api-key': `${owner.firstKey.accessKey}:${owner.firstKey.secretKey}`, 'content-type': 'application/pdf' },
      body: bytes,
    });
    expect(upload.status).toBe(201);
    const { json } = await callApi(server, '/api/shares', {
      cookie: owner.cookie,
      body: { bucket: 'default', objectKey: 'reports/annual report.pdf', expiresIn: '7d', maxDownloads: 10, password: 'right one' },
    });
    expect(json.url).toBe(`${server.apiEndpoint}/s/${json.code}`);

    // JavaScript off: the page must work without it.
    const context = await browser.newContext({ acceptDownloads: true, javaScriptEnabled: false });
    const page = await context.newPage();
    const problems: string[] = [];
    // Chromium logs a refused stylesheet (or anything else the CSP blocks) as a console error.
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) problems.push(message.text());
    });
    try {
      const landing = await page.goto(json.url);
      expect(landing?.status()).toBe(200);
      expect(await page.locator('h1').textContent()).toBe('annual report.pdf');
      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: join(SCREENSHOTS, 'share-page.png'), fullPage: true });

      await page.fill('input[name=password]', 'wrong one');
      const refused = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]).then(([response]) => response);
      expect(refused?.status()).toBe(401);
      expect(await page.locator('[role=alert]').textContent()).toBe('Wrong password.');
      expect(page.url()).not.toContain('wrong');

      await page.fill('input[name=password]', 'right one');
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('button[type=submit]')]);
      expect(download.suggestedFilename()).toBe('annual report.pdf');
      const saved = join(SCREENSHOTS, '..', `share-download-${json.code}.bin`);
      await download.saveAs(saved);
      expect(readFileSync(saved).equals(bytes)).toBe(true);
      // The stylesheet is allowed by its hash: Chromium reported no CSP violation.
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
