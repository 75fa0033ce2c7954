import type { MailgunServer } from './mailgun-server.js';

/**
 * Makes the local Mailgun stand-in behave like an audience, for `npm start`: every message it
 * accepts is delivered a moment later, and a fixed share of recipients open, click, and (rarely)
 * unsubscribe or bounce. The events reach the API through the stand-in's signed webhooks, so
 * a newcomer sees the analytics and suppression list fill in. Deterministic by acceptance order.
 */
export function simulateAudience(mailgun: MailgunServer, { everyMs = 2000 } = {}): { stop(): void } {
  let seen = 0;
  const timer = setInterval(() => {
    const total = mailgun.acceptedCount;
    if (total === seen) return;
    const fresh = mailgun.accepted().slice(seen, total);
    fresh.forEach((message, k) => {
      const i = seen + k;
      const about = { recipient: message.recipient, messageId: message.messageId };
      if (i % 97 === 13) {
        mailgun.recordEngagement({ ...about, event: 'failed', severity: 'permanent', reason: 'bounce' });
        return;
      }
      mailgun.recordEngagement({ ...about, event: 'delivered' });
      if (i % 5 < 2) mailgun.recordEngagement({ ...about, event: 'opened' });
      if (i % 10 === 0) mailgun.recordEngagement({ ...about, event: 'clicked', url: 'https://distronation.com/' });
      if (i % 150 === 7) mailgun.recordEngagement({ ...about, event: 'unsubscribed' });
    });
    seen = total;
  }, everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
