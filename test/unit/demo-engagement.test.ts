import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { createMailgunGateway } from '../../activities/mailgun.js';
import { among, simulateAudience } from '../../local-stack/demo-engagement.js';
import { createMailgunServer, type MailgunServer } from '../../local-stack/mailgun-server.js';

/** The demo audience presses one-click unsubscribe the way a mail client does, and complains, at the rates it is given. */

let mailgun: MailgunServer;
let site: ReturnType<typeof createServer>;
let siteUrl: string;
const posts: Array<{ path: string; body: string; type: string | undefined }> = [];

before(async () => {
  mailgun = createMailgunServer();
  await mailgun.start();
  site = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      posts.push({ path: req.url ?? '', body, type: req.headers['content-type'] });
      res.end('Unsubscribed.');
    });
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
});
after(async () => {
  await mailgun.stop();
  await new Promise((resolve) => site.close(resolve));
});

test('shares are exact over a run and spread evenly, the same messages every time', () => {
  const chosen = (percent: number, phase: number, n = 10_000) => Array.from({ length: n }, (_, i) => i).filter((i) => among(i, percent, phase));
  assert.equal(chosen(8, 13).length, 800);
  assert.equal(chosen(0.25, 211).length, 25);
  assert.equal(chosen(100, 0).length, 10_000);
  assert.equal(chosen(0, 0).length, 0);
  const gaps = chosen(8, 13).slice(1).map((i, k) => i - (chosen(8, 13)[k] ?? 0));
  assert.ok(gaps.every((gap) => gap === 12 || gap === 13), 'one in every 12.5');
  assert.deepEqual(chosen(8, 13), chosen(8, 13));
});

test('each chosen recipient POSTs List-Unsubscribe=One-Click to their own link; the first link is announced; complaints are recorded', async () => {
  const gateway = createMailgunGateway({ apiKey: mailgun.apiKey, domain: 'mg.test.example', url: mailgun.url, timeoutMs: 5000, lookup: 'logs' });
  const recipients = Array.from({ length: 6 }, (_, i) => `fan${i}@example.test`);
  await gateway.sendBatch({
    from: 'Distro Nation <news@mg.test.example>',
    subject: 'News',
    text: 'Hi',
    recipients: recipients.map((email, i) => ({ email, variables: { list_unsubscribe: `<${siteUrl}/u/token-${i}>, <mailto:leave@example.test>` } })),
    userVariables: { campaign_id: '1' },
    headers: { 'List-Unsubscribe': '%recipient.list_unsubscribe%', 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
  });
  const announced: Array<[string, string]> = [];
  const audience = simulateAudience(mailgun, { everyMs: 20, oneClickPercent: 50, complaintPercent: 25, onPreferencesLink: (r, url) => announced.push([r, url]) });
  const deadline = Date.now() + 5000;
  while (posts.length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  await audience.stop();

  // Half the recipients (0, 2 and 4) press the button; a quarter (0 and 4) complain.
  assert.deepEqual(posts.map((p) => p.path).sort(), ['/u/token-0', '/u/token-2', '/u/token-4']);
  assert.ok(posts.every((p) => p.body === 'List-Unsubscribe=One-Click' && p.type === 'application/x-www-form-urlencoded'));
  assert.deepEqual(announced, [[recipients[0], `${siteUrl}/u/token-0`]]);
  const complained = mailgun.engagementEvents().filter((e) => e.event === 'complained').map((e) => e.recipient);
  assert.deepEqual(complained, [recipients[0], recipients[4]]);
  assert.equal(mailgun.engagementEvents().filter((e) => e.event === 'unsubscribed').length, 0, 'a message with a one-click link is unsubscribed through it');
});
