import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import type { ApiServer } from '../../api/server.js';
import type { Stream } from '../../common/streams.js';
import { subscriptionsOf } from '../../db/subscriptions.js';
import { userIdsByEmail } from '../../db/users.js';
import { startTestApi } from '../helpers/api.js';
import { acceptedFor } from '../helpers/delivery.js';
import { harnessForFile, type RunningWorker } from '../helpers/harness.js';

/**
 * The preferences page in a real browser (Debian's Chromium, driven by playwright-core), as a
 * person on a phone uses it: open the link from the message they got, unsubscribe from the
 * newsletter, and see what the next newsletter and the next statement do.
 */

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
/** Where the page's screenshot is written (README shows the one in docs/). */
const SCREENSHOTS = process.env['SCREENSHOT_DIR'] ?? '.data/screenshots';
const PHONE = { width: 390, height: 844 };

const file = harnessForFile({ users: 20, seed: { mixed: false }, worker: false });

describe('the preferences page in a browser', () => {
  let api: ApiServer;
  let worker: RunningWorker;
  let browser: Browser;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install chromium (what .ci/run does), or set CHROMIUM_PATH`);
    api = await startTestApi(file.h, { unsubscribePerMinute: 1000 });
    // The links in the messages point at this API.
    worker = await file.h.startWorker({ PUBLIC_URL: api.url });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
  });
  after(async () => {
    await browser?.close();
    await worker?.stop();
    await api?.stop();
  });

  async function send(type: Stream, userIds: string[]) {
    const campaignId = await file.h.campaigns.create({ name: `a ${type}`, type, content: { subject: `a ${type}`, html: '<p>Hello %recipient.name%</p>' }, audience: { userIds } });
    await file.h.campaigns.startSend(campaignId);
    await file.h.campaigns.result(campaignId);
    return acceptedFor(file.h.mailgun, campaignId);
  }

  test('open the link from a newsletter on a phone, unsubscribe from the newsletter: the next newsletter leaves them out, the next statement reaches them', async () => {
    const emails = file.profiles.slice(0, 3).map((p) => p.email);
    const byEmail = await userIdsByEmail(file.h.pool, emails);
    const userIds = emails.map((e) => byEmail.get(e) ?? assert.fail(e));
    const messages = await send('newsletter', userIds);
    const mine = messages.find((m) => m.recipient === emails[0]) ?? assert.fail('the newsletter reached them');
    const link = mine.recipientVariables?.['unsubscribe_url'];
    assert.ok(typeof link === 'string' && link.startsWith(`${api.url}/u/`), String(link));
    assert.ok(mine.html?.includes('%recipient.unsubscribe_url%'), 'the footer carries the link');

    const context = await browser.newContext({ viewport: PHONE, deviceScaleFactor: 2, isMobile: true, hasTouch: true, javaScriptEnabled: false });
    const page = await context.newPage();
    try {
      const response = await page.goto(link);
      assert.equal(response?.status(), 200);
      assert.equal(await page.locator('h1').textContent(), 'Your email preferences');
      const state = (stream: Stream) => page.locator(`li[data-stream="${stream}"] .state`).textContent();
      assert.deepEqual([await state('newsletter'), await state('financial'), await state('outreach')], ['You receive these.', 'You receive these.', 'You receive these.']);
      assert.equal(await page.locator('li').first().getAttribute('data-stream'), 'newsletter', 'the stream the link came from comes first');
      const fits = await page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth');
      assert.ok(fits, 'no sideways scrolling on a phone');
      const body = (await page.locator('body').textContent()) ?? '';
      for (const email of emails) assert.ok(!body.includes(email), 'no address on the page');

      mkdirSync(SCREENSHOTS, { recursive: true });
      const shot = await page.screenshot({ fullPage: true });
      writeFileSync(`${SCREENSHOTS}/preferences.png`, shot);
      assert.equal(shot.subarray(1, 4).toString(), 'PNG');
      assert.equal(shot.readUInt32BE(16), PHONE.width * 2, 'the page at the phone’s width');

      await page.getByRole('button', { name: 'Unsubscribe from newsletter' }).click();
      await page.waitForLoadState();
      assert.match((await page.locator('[role="status"]').textContent()) ?? '', /Done: you are unsubscribed/);
      assert.equal(await state('newsletter'), 'You do not receive these.');
      assert.equal(await state('financial'), 'You receive these.');
      writeFileSync(`${SCREENSHOTS}/preferences-confirmed.png`, await page.screenshot({ fullPage: true }));
    } finally {
      await context.close();
    }

    const consent = Object.fromEntries((await subscriptionsOf(file.h.pool, userIds[0] ?? '')).map((s) => [s.stream, `${s.status}/${s.source}`]));
    assert.deepEqual(consent, { financial: 'subscribed/seed', newsletter: 'unsubscribed/preferences', outreach: 'subscribed/seed' });
    const next = await send('newsletter', userIds);
    assert.deepEqual(next.map((m) => m.recipient).sort(), emails.slice(1).sort(), 'the next newsletter leaves them out');
    const statement = await send('financial', userIds);
    assert.ok(statement.some((m) => m.recipient === emails[0]), 'the next statement reaches them');
  });
});
