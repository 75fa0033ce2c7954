import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MARKETING_STREAMS, streamsOptedOut } from '../../common/streams.js';
import { approvedContent, UNSUBSCRIBE_PLACEHOLDER, unsubscribeVariables, withUnsubscribeFooter } from '../../consent/unsubscribe-links.js';
import { signUnsubscribeToken, verifyUnsubscribeToken } from '../../consent/unsubscribe-token.js';

const SECRET = 'a-test-secret-of-at-least-32-characters';
const subject = { userId: '42', stream: 'newsletter' as const, campaignId: '7' };

test('a token verifies under its key only, and any change to it is refused', () => {
  const token = signUnsubscribeToken(subject, SECRET);
  assert.deepEqual(verifyUnsubscribeToken(token, SECRET), subject);
  assert.equal(verifyUnsubscribeToken(token, `${SECRET}x`), undefined, 'another key');
  for (let i = 0; i < token.length; i++) {
    const flipped = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
    if (flipped !== token) assert.equal(verifyUnsubscribeToken(flipped, SECRET), undefined, `character ${i} changed`);
  }
  const forged = `${Buffer.from('u1.43.newsletter.7').toString('base64url')}.${token.split('.')[1]}`;
  assert.equal(verifyUnsubscribeToken(forged, SECRET), undefined, 'another user under the same tag');
  for (const bad of ['', '.', 'a.b.c', 'x'.repeat(500), `${token}.`]) assert.equal(verifyUnsubscribeToken(bad, SECRET), undefined, bad);
  assert.notEqual(signUnsubscribeToken({ ...subject, stream: 'outreach' }, SECRET), token, 'the stream is signed');
  assert.ok(!Buffer.from(token.split('.')[0] ?? '', 'base64url').toString().includes('@'), 'no address in it');
});

test('the List-Unsubscribe value is the https link, then the mailto when one is run', () => {
  const base = { publicUrl: 'https://campaigns.example/', secret: SECRET, onStatements: false };
  const token = signUnsubscribeToken(subject, SECRET);
  assert.deepEqual(unsubscribeVariables(base, subject), {
    unsubscribe_url: `https://campaigns.example/u/${token}`,
    list_unsubscribe: `<https://campaigns.example/u/${token}>`,
  });
  const withMailto = unsubscribeVariables({ ...base, mailto: 'leave@example.com' }, subject);
  assert.equal(withMailto['list_unsubscribe'], `<https://campaigns.example/u/${token}>, <mailto:leave@example.com?subject=unsubscribe%20${token}>`);
});

test('the footer goes into html (before </body>) and text, escaped, unless the content places the link', () => {
  const footed = withUnsubscribeFooter({ html: '<html><body><p>Hi</p></body></html>', text: 'Hi\n' }, 'Distro <Nation> & Co, 1 Road');
  assert.match(footed?.html ?? '', /<p>Hi<\/p><p [^>]*>.*%recipient\.unsubscribe_url%.*Distro &lt;Nation&gt; &amp; Co, 1 Road<\/p><\/body><\/html>$/);
  assert.equal(footed?.text, `Hi\n\n--\nUnsubscribe or choose what you get: ${UNSUBSCRIBE_PLACEHOLDER}\nDistro <Nation> & Co, 1 Road\n`);
  const placed = { text: `Leave: ${UNSUBSCRIBE_PLACEHOLDER}` };
  assert.equal(withUnsubscribeFooter(placed, undefined), placed);
  assert.equal(withUnsubscribeFooter({ text: 'Hi' }, undefined), undefined, 'no postal address, no footer');
});

test('approval: marketing always carries links, statements by setting; without settings a marketing campaign is refused', () => {
  const settings = { publicUrl: 'https://x.example', secret: SECRET, postalAddress: 'A street', onStatements: false };
  assert.deepEqual(approvedContent('financial', { text: 'Hi' }, settings), { content: { text: 'Hi' } });
  assert.equal((approvedContent('financial', { text: 'Hi' }, { ...settings, onStatements: true }) as { content: { unsubscribe?: boolean } }).content.unsubscribe, true);
  assert.equal((approvedContent('outreach', { text: 'Hi' }, settings) as { content: { unsubscribe?: boolean } }).content.unsubscribe, true);
  assert.match((approvedContent('newsletter', { text: 'Hi' }, undefined) as { problem: string }).problem, /PUBLIC_URL and UNSUBSCRIBE_SECRET/);
  assert.deepEqual(approvedContent('financial', { text: 'Hi' }, undefined), { content: { text: 'Hi' } });
});

test('the stream rules: an unsubscribe stops its stream, all stops everything, a complaint stops all of marketing too', () => {
  assert.deepEqual(streamsOptedOut('unsubscribed', 'newsletter'), ['newsletter']);
  assert.deepEqual(streamsOptedOut('unsubscribed', 'financial'), ['financial']);
  assert.deepEqual(streamsOptedOut('unsubscribed', undefined), [...MARKETING_STREAMS]);
  assert.deepEqual(streamsOptedOut('complained', 'outreach').sort(), ['newsletter', 'outreach']);
  assert.deepEqual(streamsOptedOut('complained', 'financial').sort(), ['financial', 'newsletter', 'outreach']);
  assert.deepEqual(streamsOptedOut('unsubscribed-all', 'newsletter').sort(), ['financial', 'newsletter', 'outreach']);
  assert.ok(!MARKETING_STREAMS.includes('financial'));
});
