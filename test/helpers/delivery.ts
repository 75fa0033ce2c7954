import type { AcceptedMessage, MailgunServer } from '../../local-stack/mailgun-server.js';
import type { Stream } from '../../common/streams.js';
import { isEligible, type SeedProfile } from '../../local-stack/seed.js';

export interface DeliveryReport {
  expected: number;
  delivered: number;
  /** Eligible recipients who got more than one message. */
  duplicates: string[];
  /** Eligible recipients who got none. */
  missing: string[];
  /** Recipients who got a message but are not in the audience. */
  unexpected: string[];
}

/** Compares what the Mailgun stand-in accepted for one campaign with who should have received it. */
export function deliveryReport(
  mailgun: MailgunServer,
  campaignId: string,
  profiles: SeedProfile[],
  stream: Stream = 'newsletter',
): DeliveryReport {
  const counts = new Map<string, number>();
  for (const message of mailgun.accepted()) {
    if (message.variables['campaign_id'] !== campaignId) continue;
    counts.set(message.recipient, (counts.get(message.recipient) ?? 0) + 1);
  }
  const eligible = new Set(profiles.filter((p) => isEligible(p, stream)).map((p) => p.email));
  return {
    expected: eligible.size,
    delivered: [...counts.values()].reduce((a, b) => a + b, 0),
    duplicates: [...counts].filter(([email, n]) => eligible.has(email) && n > 1).map(([email]) => email),
    missing: [...eligible].filter((email) => !counts.has(email)),
    unexpected: [...counts.keys()].filter((email) => !eligible.has(email)),
  };
}

/** What the Mailgun stand-in accepted for these campaigns. */
export function acceptedFor(mailgun: MailgunServer, ...campaignIds: string[]): AcceptedMessage[] {
  return mailgun.accepted().filter((m) => campaignIds.includes(m.variables['campaign_id'] ?? ''));
}

/**
 * The paced rate of these messages, per second: the least-squares slope of messages accepted before each batch
 * against the time the batch was accepted. Each batch goes out in its own slot of the rate budget, so this is
 * the rate the budget allowed, and one batch that happened to be slow (the first, say) barely moves it.
 */
export function acceptedRate(messages: readonly AcceptedMessage[]): number {
  const batches = new Map<string, { at: number; size: number }>();
  for (const message of messages) {
    const batch = batches.get(message.messageId) ?? { at: message.acceptedAt, size: 0 };
    batch.size++;
    batches.set(message.messageId, batch);
  }
  const points: Array<{ seconds: number; before: number }> = [];
  let before = 0;
  for (const batch of [...batches.values()].sort((a, b) => a.at - b.at)) {
    points.push({ seconds: batch.at / 1000, before });
    before += batch.size;
  }
  const mean = (pick: (p: { seconds: number; before: number }) => number) => points.reduce((sum, p) => sum + pick(p), 0) / points.length;
  const [meanT, meanN] = [mean((p) => p.seconds), mean((p) => p.before)];
  const covariance = points.reduce((sum, p) => sum + (p.seconds - meanT) * (p.before - meanN), 0);
  const variance = points.reduce((sum, p) => sum + (p.seconds - meanT) ** 2, 0);
  if (points.length < 3 || variance === 0) throw new Error('need at least three batches accepted at different times');
  return covariance / variance;
}
