/**
 * The send brake: while a campaign sends, the webhooks' counters decide whether its list is hurting
 * the sending domain. Once enough messages are delivered to judge, a permanent-bounce rate or a
 * spam-complaint rate above its limit stops the send (README, "The brake"). Pure: the workflow
 * bundle imports it.
 */

export interface BrakeLimits {
  /** Nothing is judged before this many messages are delivered. */
  minDelivered: number;
  /** Permanent bounces, in percent of the messages with an outcome (delivered or bounced). */
  bouncePercent: number;
  /** Spam complaints, in percent of delivered messages (Gmail's line is 0.3 %). */
  complaintPercent: number;
}

export const DEFAULT_BRAKE_LIMITS: BrakeLimits = { minDelivered: 1000, bouncePercent: 5, complaintPercent: 0.3 };

/** What the counters say so far. */
export interface SendHealth {
  delivered: number;
  bounced: number;
  complained: number;
}

/** Why a send stopped itself, in figures and in words. */
export interface BrakeTrip {
  kind: 'bounces' | 'complaints';
  /** The rate that tripped it, in percent, to two places. */
  percent: number;
  limitPercent: number;
  delivered: number;
  bounced: number;
  complained: number;
  reason: string;
}

const percentOf = (n: number, of: number): number => (of > 0 ? Math.round((n / of) * 10_000) / 100 : 0);
const count = (n: number): string => n.toLocaleString('en-US');

/**
 * The trip, if the counters call for one: complaints first (they cost a domain most), then bounces.
 * Bounces are measured against outcomes, not sends: during a send many messages have none yet.
 */
export function brakeTrip(health: SendHealth, limits: BrakeLimits): BrakeTrip | undefined {
  const { delivered, bounced, complained } = health;
  if (delivered < limits.minDelivered) return undefined;
  return (
    rateTrip(health, 'complaints', complained, delivered, limits.complaintPercent, 'spam complaints are', 'of delivered messages') ??
    rateTrip(health, 'bounces', bounced, delivered + bounced, limits.bouncePercent, 'permanent bounces are', 'of messages with an outcome')
  );
}

/** A trip of `kind` when `n` of `of` is above `limitPercent`, with its figures and its reason in words. */
function rateTrip(health: SendHealth, kind: BrakeTrip['kind'], n: number, of: number, limitPercent: number, what: string, measure: string): BrakeTrip | undefined {
  if (n / of <= limitPercent / 100) return undefined;
  const percent = percentOf(n, of);
  return {
    kind,
    percent,
    limitPercent,
    delivered: health.delivered,
    bounced: health.bounced,
    complained: health.complained,
    reason: `${what} ${percent} % ${measure} (${count(n)} of ${count(of)}), above the brake's ${limitPercent} %: the send paused itself; resume it to carry on, or cancel it`,
  };
}
