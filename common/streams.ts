import { CAMPAIGN_TYPES, type CampaignType } from './campaign.js';

/**
 * Sending streams: each campaign type is one, and consent is kept per person and stream.
 * Statements (financial) are what Distro Nation owes its artists; every other stream is
 * marketing, and a complaint about any message stops all of marketing.
 * Pure: no Node modules, so the workflow bundle can import it.
 */

export type Stream = CampaignType;
export const STREAMS: readonly Stream[] = CAMPAIGN_TYPES;

/** Streams whose messages are not owed to the recipient: an opt-out of one of them never touches a statement. */
export const MARKETING_STREAMS: readonly Stream[] = STREAMS.filter((stream) => stream !== 'financial');

export function isMarketing(stream: Stream): boolean {
  return MARKETING_STREAMS.includes(stream);
}

/** What a person or a mail provider told us about one message of a stream. */
export type ConsentSignal = 'unsubscribed' | 'unsubscribed-all' | 'complained';

/**
 * The streams a signal about a message of `stream` opts the person out of (README, "Streams and consent"):
 * an unsubscribe, that stream alone; "all", every stream; a complaint, that stream and all of marketing.
 * With no known stream (an event naming no campaign of ours), an unsubscribe or complaint stops marketing.
 */
export function streamsOptedOut(signal: ConsentSignal, stream: Stream | undefined): Stream[] {
  if (signal === 'unsubscribed-all') return [...STREAMS];
  const origin = stream === undefined ? [] : [stream];
  if (signal === 'unsubscribed' && stream !== undefined) return origin;
  return [...new Set([...origin, ...MARKETING_STREAMS])];
}

/** How one stream's messages go out: its Mailgun domain, the sender of campaigns that name none, its dedicated IP pool. */
export interface SendingStream {
  domain: string;
  from: string;
  ipPool?: string;
}

export type SendingStreams = Readonly<Record<Stream, SendingStream>>;
