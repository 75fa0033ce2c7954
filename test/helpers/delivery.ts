import type { MailgunServer } from '../../local-stack/mailgun-server.js';
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
  emailType?: string,
): DeliveryReport {
  const counts = new Map<string, number>();
  for (const message of mailgun.accepted()) {
    if (message.variables['campaign_id'] !== campaignId) continue;
    counts.set(message.recipient, (counts.get(message.recipient) ?? 0) + 1);
  }
  const eligible = new Set(profiles.filter((p) => isEligible(p, emailType)).map((p) => p.email));
  return {
    expected: eligible.size,
    delivered: [...counts.values()].reduce((a, b) => a + b, 0),
    duplicates: [...counts].filter(([email, n]) => eligible.has(email) && n > 1).map(([email]) => email),
    missing: [...eligible].filter((email) => !counts.has(email)),
    unexpected: [...counts.keys()].filter((email) => !eligible.has(email)),
  };
}
