import { Context } from '@temporalio/activity';
import { toEventRecord, UnusableEventError } from '../analytics/mailgun-events.js';
import type { MailgunEventRecord } from '../common/engagement.js';
import { markReconciled, reconcileStart, recordEvents } from '../db/events.js';
import type { ActivityDeps } from './deps.js';
import { requireCampaign } from './campaigns.js';
import { campaignSending } from './sending.js';

/** The events reconciliation reads; accepted ones change no counter. */
const HEARTBEAT_EVERY_MS = 2_000;

const EVENTS = ['delivered', 'opened', 'clicked', 'unsubscribed', 'complained', 'failed'] as const;

/**
 * Mailgun's store is eventually consistent: an event may show up there well after it happened.
 * Each reconciliation reads this far back past where the previous one ended.
 */
export const RECONCILE_OVERLAP_MS = 60 * 60_000;

export interface ReconcileResult {
  /** Events of the campaign Mailgun listed. */
  seen: number;
  /** Of those, events no webhook had brought: recorded now. */
  recorded: number;
}

/** Where a scan got to, kept in heartbeats so a retried attempt carries on from there. */
interface Progress {
  since: string;
  until: string;
  next?: string;
  seen: number;
  recorded: number;
}

export function createReconcileActivities({ pool, mailgun, mail }: ActivityDeps) {
  return {
    /**
     * Pages through Mailgun's logs (or events API, as MAILGUN_OUTCOME_LOOKUP says) for the
     * campaign's events since the send began, and records those the webhooks missed: the same
     * dedupe by event id as webhooks, so nothing counts twice.
     */
    async reconcileEvents({ campaignId }: { campaignId: string }): Promise<ReconcileResult> {
      const context = Context.current();
      const resumed = context.info.heartbeatDetails as Progress | undefined;
      let progress: Progress;
      if (resumed) {
        progress = resumed;
      } else {
        const since = await reconcileStart(pool, campaignId);
        if (!since) return { seen: 0, recorded: 0 };
        progress = { since: since.toISOString(), until: new Date().toISOString(), seen: 0, recorded: 0 };
      }
      const gateway = mailgun.on(campaignSending(await requireCampaign(pool, campaignId), mail.streams).domain);
      // Beats with where the scan is, between pages and while one is slow to come.
      const beat = setInterval(() => context.heartbeat(progress), HEARTBEAT_EVERY_MS);
      try {
        do {
          const page = await gateway.eventsPage({
            since: new Date(progress.since),
            until: new Date(progress.until),
            events: EVENTS,
            ...(progress.next === undefined ? {} : { next: progress.next }),
          });
          const mine = campaignEvents(page.items, campaignId);
          const outcomes = await recordEvents(pool, mine.map((record) => ({ record, token: null })), 'reconciliation');
          progress = {
            since: progress.since,
            until: progress.until,
            seen: progress.seen + mine.length,
            recorded: progress.recorded + outcomes.filter((o) => o === 'recorded').length,
            ...(page.next === undefined ? {} : { next: page.next }),
          };
          context.heartbeat(progress);
        } while (progress.next !== undefined);
      } finally {
        clearInterval(beat);
      }
      await markReconciled(pool, campaignId, new Date(Date.parse(progress.until) - RECONCILE_OVERLAP_MS));
      return { seen: progress.seen, recorded: progress.recorded };
    },
  };
}

/** This campaign's usable events of a page, each once. */
function campaignEvents(items: readonly unknown[], campaignId: string): MailgunEventRecord[] {
  const byId = new Map<string, MailgunEventRecord>();
  for (const item of items) {
    try {
      const record = toEventRecord(item);
      if (record.campaignId === campaignId) byId.set(record.eventId, record);
    } catch (error) {
      if (!(error instanceof UnusableEventError)) throw error;
    }
  }
  return [...byId.values()];
}
