import type { Pool } from 'pg';
import type { MailgunEventRecord } from '../common/engagement.js';
import { STREAMS, streamsOptedOut, type ConsentSignal } from '../common/streams.js';
import { sql } from './queries.js';

/** Recording Mailgun events: each once, with the counters, clicks, opt-outs and suppressions they imply. */

export type EventSource = 'webhook' | 'reconciliation';

/**
 * The streams each of Mailgun's opt-out events stops, by the stream of the message it is about ('': a
 * message of no campaign of ours), as jsonb for the statement: the rules are common/streams.ts's alone.
 */
const OPT_OUT_RULES = JSON.stringify(
  Object.fromEntries(
    (['unsubscribed', 'complained'] as const satisfies readonly ConsentSignal[]).map((signal) => [
      signal,
      { ...Object.fromEntries(STREAMS.map((stream) => [stream, streamsOptedOut(signal, stream)])), '': streamsOptedOut(signal, undefined) },
    ]),
  ),
);

export interface EventToRecord {
  record: MailgunEventRecord;
  /** The webhook signature's token: used once only. Null for events read from Mailgun's logs. */
  token: string | null;
}

/** recorded: new, and counted; duplicate: that event was recorded before; replay: the token was used before. */
export type RecordOutcome = 'recorded' | 'duplicate' | 'replay';

/**
 * Records events in one statement (so one transaction): the tokens, the event rows, clicks,
 * first opens and clicks, suppressions and the campaign counters all change together or not
 * at all. Events must have distinct ids and tokens (callers fold repeats first). Returns each
 * event's outcome, in order.
 */
export async function recordEvents(pool: Pool, events: readonly EventToRecord[], source: EventSource): Promise<RecordOutcome[]> {
  if (events.length === 0) return [];
  const column = <T>(pick: (e: EventToRecord) => T): T[] => events.map(pick);
  // Named, so each connection plans this long statement once rather than on every call.
  const result = await pool.query<{ ord: string; outcome: RecordOutcome }>({ name: 'record-events', text: sql.recordEvents, values: [
    column((e) => e.token),
    column((e) => e.record.eventId),
    column((e) => e.record.event),
    column((e) => e.record.campaignId),
    column((e) => e.record.recipient),
    column((e) => e.record.messageId),
    column((e) => e.record.occurredAt),
    column((e) => e.record.url),
    column((e) => e.record.reason),
    source,
    OPT_OUT_RULES,
  ] });
  const outcomes = new Array<RecordOutcome>(events.length);
  for (const row of result.rows) outcomes[Number(row.ord) - 1] = row.outcome;
  return outcomes;
}

/** Forgets webhook tokens seen before `before`: the timestamp check refuses their requests anyway. */
export async function pruneWebhookTokens(pool: Pool, before: Date): Promise<number> {
  const result = await pool.query(sql.pruneWebhookTokens, [before]);
  return result.rowCount ?? 0;
}

/** Where the next reconciliation of a campaign with Mailgun's logs starts; null if it has not sent. */
export async function reconcileStart(pool: Pool, campaignId: string): Promise<Date | null> {
  const { rows } = await pool.query<{ since: Date }>(sql.selectReconcileStart, [campaignId]);
  return rows[0]?.since ?? null;
}

/** The next reconciliation may start at `until` (it never moves back). */
export async function markReconciled(pool: Pool, campaignId: string, until: Date): Promise<void> {
  await pool.query(sql.updateReconciledUntil, [campaignId, until]);
}
