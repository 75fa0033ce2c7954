/**
 * What Mailgun tells us happened to the messages of a campaign, and the figures made of it.
 * Pure: no Node modules.
 */

/** The `v:` user variables every campaign message carries: which campaign it belongs to, and (on a preview) which preview. */
export const CAMPAIGN_VARIABLE = 'campaign_id';
export const PREVIEW_MARKER_VARIABLE = 'dn_preview';

/** The events we record. Mailgun's `failed` is split by severity: a permanent failure is a bounce. */
export const ENGAGEMENT_EVENTS = [
  'accepted',
  'delivered',
  'opened',
  'clicked',
  'unsubscribed',
  'complained',
  'permanent_fail',
  'temporary_fail',
] as const;
export type EngagementEvent = (typeof ENGAGEMENT_EVENTS)[number];

/** Events after which a user gets no more campaigns, with the suppression reason they record. */
export const SUPPRESSING_EVENTS: Readonly<Partial<Record<EngagementEvent, string>>> = {
  unsubscribed: 'unsubscribed',
  complained: 'complained',
  permanent_fail: 'bounced',
};

/** One Mailgun event, as recorded: attributed to a campaign through its `v:campaign_id`. */
export interface MailgunEventRecord {
  /** Mailgun's event id: the same event seen twice is recorded once. */
  eventId: string;
  event: EngagementEvent;
  /** From the message's `v:campaign_id`; null for mail that is not a campaign's. */
  campaignId: string | null;
  recipient: string;
  messageId: string | null;
  /** ISO time Mailgun gives the event. */
  occurredAt: string;
  /** The link, for a click. */
  url: string | null;
  /** Why, for a failure. */
  reason: string | null;
}

/**
 * A campaign's counters. `opened` and `clicked` count every open and click event;
 * the unique ones count recipients. `failed` is recipients the send itself could not
 * hand to Mailgun; `bounced` is permanent failures Mailgun reported after taking them;
 * `temporaryFailed` counts temporary failures (Mailgun retries those).
 */
export interface EngagementCounters {
  total: number;
  sent: number;
  failed: number;
  delivered: number;
  opened: number;
  uniqueOpened: number;
  clicked: number;
  uniqueClicked: number;
  bounced: number;
  complained: number;
  unsubscribed: number;
  temporaryFailed: number;
}

export interface EngagementRates {
  /** delivered / sent */
  deliveryRate: number;
  /** unique opens / delivered */
  openRate: number;
  /** unique clicks / delivered */
  clickRate: number;
  /** bounced / sent */
  bounceRate: number;
  /** unsubscribed / delivered */
  unsubscribeRate: number;
  /** spam complaints / delivered: what mailbox providers judge a sender by (Gmail's line is 0.3 %) */
  complaintRate: number;
}

export const ZERO_COUNTERS: EngagementCounters = {
  total: 0,
  sent: 0,
  failed: 0,
  delivered: 0,
  opened: 0,
  uniqueOpened: 0,
  clicked: 0,
  uniqueClicked: 0,
  bounced: 0,
  complained: 0,
  unsubscribed: 0,
  temporaryFailed: 0,
};

/** A share rounded to four places; 0 of nothing is 0. */
function rate(n: number, of: number): number {
  return of > 0 ? Math.round((n / of) * 10_000) / 10_000 : 0;
}

export function engagementRates(c: EngagementCounters): EngagementRates {
  return {
    deliveryRate: rate(c.delivered, c.sent),
    openRate: rate(c.uniqueOpened, c.delivered),
    clickRate: rate(c.uniqueClicked, c.delivered),
    bounceRate: rate(c.bounced, c.sent),
    unsubscribeRate: rate(c.unsubscribed, c.delivered),
    complaintRate: rate(c.complained, c.delivered),
  };
}

/** Just the counters of a row that carries more. */
export function pickCounters(row: EngagementCounters): EngagementCounters {
  return Object.fromEntries(Object.keys(ZERO_COUNTERS).map((key) => [key, row[key as keyof EngagementCounters]])) as unknown as EngagementCounters;
}
