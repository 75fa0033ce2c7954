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
  const figures = { delivered, bounced, complained };
  const complaints = percentOf(complained, delivered);
  if (complained / delivered > limits.complaintPercent / 100) {
    return {
      kind: 'complaints',
      percent: complaints,
      limitPercent: limits.complaintPercent,
      ...figures,
      reason: `spam complaints are ${complaints} % of delivered messages (${count(complained)} of ${count(delivered)}), above the brake's ${limits.complaintPercent} %: the send paused itself; resume it to carry on, or cancel it`,
    };
  }
  const outcomes = delivered + bounced;
  const bounces = percentOf(bounced, outcomes);
  if (bounced / outcomes > limits.bouncePercent / 100) {
    return {
      kind: 'bounces',
      percent: bounces,
      limitPercent: limits.bouncePercent,
      ...figures,
      reason: `permanent bounces are ${bounces} % of messages with an outcome (${count(bounced)} of ${count(outcomes)}), above the brake's ${limits.bouncePercent} %: the send paused itself; resume it to carry on, or cancel it`,
    };
  }
  return undefined;
}
