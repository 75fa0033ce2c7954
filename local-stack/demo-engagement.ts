import type { AcceptedMessage, MailgunServer } from './mailgun-server.js';

/**
 * Makes the local Mailgun stand-in behave like an audience, for `npm start`: every message it
 * accepts is delivered a moment later, and fixed shares of recipients open, click, bounce,
 * complain, or press their mail client's unsubscribe button (an RFC 8058 one-click POST to the
 * message's List-Unsubscribe link, as Gmail sends it). Mailgun's events reach the API through
 * the stand-in's signed webhooks, the one-click POSTs go to the link itself, so a newcomer sees
 * analytics, opt-outs and suppressions fill in. Deterministic by acceptance order.
 */

export interface AudienceOptions {
  everyMs?: number;
  /** The percentage of recipients whose message bounces, permanently (default 1). */
  bouncePercent?: number;
  /** The percentage of delivered recipients who press the one-click unsubscribe button, where the message has one (default 0.67). */
  oneClickPercent?: number;
  /** The percentage of delivered recipients who report the message as spam (default 0.25, below Gmail's 0.3 % line). */
  complaintPercent?: number;
  /** Hears of the first message that has an unsubscribe link: its preferences page, to open in a browser. */
  onPreferencesLink?: (recipient: string, url: string) => void;
  /** Hears of a one-click POST that failed. */
  onError?: (error: unknown) => void;
}

/** The https link of a List-Unsubscribe header (`<https://…>, <mailto:…>`). */
export function oneClickUrl(message: AcceptedMessage): string | undefined {
  const header = message.headers['List-Unsubscribe'];
  if (!header || message.headers['List-Unsubscribe-Post'] !== 'List-Unsubscribe=One-Click') return undefined;
  return /<(https?:\/\/[^>]+)>/.exec(header)?.[1];
}

/**
 * Whether the `i`th message is one of a `percent` share, spread evenly: exactly that share of any
 * long run, the same messages every time. `phase` keeps the kinds from falling on the same ones.
 */
export function among(i: number, percent: number, phase: number): boolean {
  const perMillion = Math.round(percent * 10_000);
  const n = i + phase;
  return Math.floor(((n + 1) * perMillion) / 1_000_000) > Math.floor((n * perMillion) / 1_000_000);
}

export function simulateAudience(mailgun: MailgunServer, options: AudienceOptions = {}): { stop(): Promise<void> } {
  const { everyMs = 2000, bouncePercent = 1, oneClickPercent = 0.67, complaintPercent = 0.25, onPreferencesLink, onError = () => {} } = options;
  let seen = 0;
  let announced = false;
  const presses = new Set<Promise<void>>();

  function press(url: string): void {
    const pressed = fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    })
      .then((response) => {
        if (!response.ok) throw new Error(`one-click unsubscribe answered ${response.status}`);
      })
      .catch(onError)
      .finally(() => presses.delete(pressed));
    presses.add(pressed);
  }

  function play(message: AcceptedMessage, i: number): void {
    const about = { recipient: message.recipient, messageId: message.messageId };
    if (among(i, bouncePercent, 13)) {
      mailgun.recordEngagement({ ...about, event: 'failed', severity: 'permanent', reason: 'bounce' });
      return;
    }
    mailgun.recordEngagement({ ...about, event: 'delivered' });
    if (i % 5 < 2) mailgun.recordEngagement({ ...about, event: 'opened' });
    if (i % 10 === 0) mailgun.recordEngagement({ ...about, event: 'clicked', url: 'https://distronation.com/' });
    const link = oneClickUrl(message);
    if (link && !announced) {
      announced = true;
      onPreferencesLink?.(message.recipient, link);
    }
    if (among(i, oneClickPercent, 7)) {
      if (link) press(link);
      else mailgun.recordEngagement({ ...about, event: 'unsubscribed' });
    }
    if (among(i, complaintPercent, 211)) mailgun.recordEngagement({ ...about, event: 'complained' });
  }

  const timer = setInterval(() => {
    const total = mailgun.acceptedCount;
    if (total === seen) return;
    mailgun.accepted().slice(seen, total).forEach((message, k) => play(message, seen + k));
    seen = total;
  }, everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await Promise.allSettled([...presses]);
    },
  };
}
