import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { packageRoot } from '../paths.js';
import { HOSTILE_SCRIPT } from '../testing/dashboard-data.js';
import { type Dashboard, startDashboard } from '../testing/dashboard.js';

/**
 * The dashboard in a real browser: Debian's Chromium driven by
 * playwright-core. CI installs Chromium and sets KSCI_REQUIRE_BROWSER=1, so
 * there a missing browser fails instead of skipping. Screenshots go to
 * test-output/screenshots/.
 */
const CHROMIUM = process.env['KSCI_CHROMIUM'] ?? '/usr/bin/chromium';
const required = process.env['KSCI_REQUIRE_BROWSER'] === '1';
const skip = !existsSync(CHROMIUM) && !required ? `no Chromium at ${CHROMIUM} (apt-get install chromium)` : false;
const SHOTS = join(packageRoot, 'test-output', 'screenshots');

describe('dashboard in Chromium', { skip, timeout: 300_000 }, () => {
  let d: Dashboard;
  let browser: Browser;
  let page: Page;
  const dialogs: string[] = [];

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    d = await startDashboard();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // Root in CI needs --no-sandbox; the rest keeps Chromium off the network (playwright gives it a fresh profile).
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    // A script run from a title or a log would open a dialog.
    page.on('dialog', (dlg) => {
      dialogs.push(dlg.message());
      void dlg.dismiss();
    });
  });
  after(async () => {
    await browser?.close();
    await d?.close();
  });

  const text = async (selector: string) => (await page.locator(selector).first().textContent()) ?? '';
  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

  it('opens the series list and filters it', async () => {
    await page.goto(`${d.url}/series`);
    const rows = page.locator('table.series tbody tr');
    assert.equal(await rows.count(), 50);
    await page.selectOption('select[name=verdict]', 'fail');
    await page.click('form.filters button[type=submit]');
    await page.waitForURL(/verdict=fail/);
    const verdicts = await page.locator('table.series tbody tr td:nth-child(5)').allTextContents();
    assert.ok(verdicts.length > 0);
    for (const v of verdicts) assert.equal(v.trim(), 'fail');
    await shot('series-filtered');
  });

  it('opens a failing run and sees its failure excerpt and reproducer', async () => {
    await page.goto(`${d.url}/runs/${d.data.failingRunId}`);
    assert.match(await text('#verdict'), /fail/);
    assert.ok((await text('table.new-failures pre.excerpt')).trim().length > 0);
    assert.match(await text('pre.reproducer'), /ksci test --kernel/);
    await shot('failing-run');
  });

  it('opens the nightly chart and sees both change points marked', async () => {
    const tree = d.data.changePoints[0]!.tree;
    await page.goto(`${d.url}/nightly?tree=${tree}`);
    await page.waitForSelector('.chart canvas');
    const marks = await page.$$eval('.chart[data-change-points]', (els) =>
      els.reduce((n, el) => n + Number(el.getAttribute('data-change-points')), 0),
    );
    assert.equal(marks, 2);
    assert.equal(await page.locator('li.change-point').count(), 2);
    await shot('nightly');
    // Clicking a night opens its measurements.
    const box = (await page.locator('#nightly-0 .u-over').boundingBox())!;
    await page.mouse.click(box.x + box.width * 0.5, box.y + box.height * 0.5);
    await page.waitForURL(/\/nightly\/[^/?]+\/[^/?]+$/);
    assert.match(await text('h1'), new RegExp(tree));
  });

  it('shows a hostile title as text, running nothing', async () => {
    await page.goto(`${d.url}/series/${d.data.hostileSeriesId}`);
    assert.ok((await text('h1')).includes(HOSTILE_SCRIPT));
    await page.goto(`${d.url}/runs/${d.data.hostileRunId}`);
    assert.deepEqual(dialogs, []);
    await shot('hostile');
  });

  it('logs in and cancels a running run', async () => {
    await page.goto(`${d.url}/runs/${d.data.runningRunId}`);
    assert.equal(await page.locator('form.action button').count(), 0, 'no admin forms before logging in');
    await page.click('header .login a');
    await page.fill('input[name=token]', d.token);
    await page.click('form.login-form button');
    await page.waitForURL(new RegExp(`/runs/${d.data.runningRunId}$`));
    assert.match(await text('header .who'), /maintainer/);
    await page.click('form.action button:has-text("cancel this run")');
    await page.waitForURL(new RegExp(`/runs/${d.data.runningRunId}$`));
    assert.match(await text('#verdict'), /cancelled/);
    assert.deepEqual(d.actions, [{ action: 'cancel', runId: d.data.runningRunId, by: 'maintainer' }]);
    await shot('cancelled');
  });

  it('quarantines a flaky test from the flakes page, logged in, and releases it', async () => {
    const flaky = d.data.flakyTests[0]!;
    await page.goto(`${d.url}/flakes?tree=${flaky.tree}&days=90`);
    const row = page.locator('table.flakes tr', { has: page.locator(`code:text-is("${flaky.test}")`) });
    await row.locator('input[name=reason]').fill('races the timer on TCG');
    await row.locator('button:has-text("quarantine")').click();
    await page.waitForURL(/\/quarantine$/);
    assert.match(await text('table.quarantine'), new RegExp(`${flaky.test}[\\s\\S]*races the timer on TCG`));
    await shot('quarantine');
    await page.click('table.quarantine button:has-text("release")');
    await page.waitForURL(/\/quarantine$/);
    assert.match(await text('main'), /No test is quarantined/);
  });
});
