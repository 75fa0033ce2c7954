import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { batchMarker, type BatchPlan } from '../common/batches.js';
import type { BatchResolution } from '../common/campaign.js';
import type { BatchStatus } from '../common/ledger.js';
import { loadBatchRecipients } from '../db/audience.js';
import * as ledger from '../db/ledger.js';
import type { LedgerRow } from '../db/ledger.js';
import type { ActivityDeps } from './deps.js';
import { withHeartbeat } from './heartbeat.js';
import { BATCH_MARKER_VARIABLE, sortByAddress } from './mail.js';
import type { Marker, MailgunGateway } from './mailgun.js';
import { requireCampaign } from './campaigns.js';
import { campaignSending, type CampaignSending } from './sending.js';

/**
 * Settling parts whose last request ended without a clear answer (connection
 * reset, timeout, 5xx, a worker that died). Mailgun has no idempotency key, and
 * its logs are eventually consistent: a message it accepted may show up there
 * late, so "not found" proves nothing by itself. A part is decided "not
 * accepted" only once the logs demonstrably show a message Mailgun accepted
 * *after* the ambiguous request must have ended: a later part of the same
 * campaign, or else a test-mode probe sent for the purpose. Until then the
 * batch stays parked; after MAILGUN_OUTCOME_MAX_WAIT_MS without proof the part
 * becomes 'unknown' and an operator decides.
 */

export interface ResolveBatchInput {
  campaignId: string;
  batch: BatchPlan;
}

/** The user variable that marks a probe, naming the part it was sent for. */
export const PROBE_MARKER_VARIABLE = 'dn_probe';
const MAX_POLL_MS = 30_000;

/** How a part in doubt was settled: proven accepted, proven not sent (to be sent again), or handed to an operator. */
type Settlement = 'accepted' | 'not-sent' | 'unknown';
type Verdict = { settled: true; as: Settlement } | { settled: false; retryInMs: number };

export function createOutcomeActivities({ pool, mailgun, mail, metrics }: ActivityDeps) {
  /** The first recipient the part's message went to: every message of an accepted part carries its marker. */
  async function lookupRecipient(campaignId: string, row: LedgerRow): Promise<string> {
    const { sendable } = sortByAddress(await loadBatchRecipients(pool, campaignId, row.first_ordinal, row.last_ordinal));
    const first = sendable[0];
    if (!first) throw new Error(`campaign ${campaignId} batch ${row.batch_no} part '${row.part}' has no recipient to look up`);
    return first.email;
  }

  /** The campaign's sending domain, where its messages are looked up, and its sender, who sends the probes. */
  async function sendingOf(campaignId: string): Promise<{ gateway: MailgunGateway; sending: CampaignSending }> {
    const sending = campaignSending(await requireCampaign(pool, campaignId), mail.streams);
    return { gateway: mailgun.on(sending.domain), sending };
  }

  /** Whether Mailgun's logs show a message accepted after `ended`; sends a probe when nothing later exists. */
  async function logsCaughtUp(campaignId: string, row: LedgerRow, ended: Date): Promise<boolean> {
    const { gateway, sending } = await sendingOf(campaignId);
    const later = await ledger.laterAcceptedPart(pool, campaignId, ended);
    if (later) return gateway.isVisible(later.messageId, later.attemptAt);
    if (row.probe_message_id !== null && row.probe_sent_at !== null && row.probe_sent_at > ended) {
      return gateway.isVisible(row.probe_message_id, row.probe_sent_at);
    }
    const marker: Marker = { name: PROBE_MARKER_VARIABLE, value: `${batchMarker(campaignId, row.batch_no, row.part)}:${row.attempts}` };
    try {
      const probeId = await gateway.sendProbe({ from: sending.from, to: mail.probeRecipient, marker });
      await ledger.recordProbe(pool, campaignId, ledger.partOf(row), row.attempts, probeId);
    } catch (error) {
      // A probe that did not go out is sent again on the next try; it is never delivered anyway.
      log.warn('outcome probe not sent', { campaignId, batchNo: row.batch_no, error: String(error) });
    }
    return false;
  }

  async function resolvePart(campaignId: string, row: LedgerRow, now: Date): Promise<Verdict> {
    const attemptAt = (row.last_attempt_at ?? now).getTime();
    // The request may belong to a worker that is slow rather than dead: wait until it must have ended, then the settle floor.
    const ended = new Date(attemptAt + mail.requestTimeoutMs);
    const floor = ended.getTime() + mail.eventsSettleMs;
    if (now.getTime() < floor) return { settled: false, retryInMs: floor - now.getTime() };
    const waited = now.getTime() - attemptAt;
    const verdict = await lookUp(campaignId, row, ended, waited).catch(async (error: unknown): Promise<Verdict> => {
      // Mailgun's logs unreachable or refusing us (say, a key without access to them) must not park a batch forever.
      if (waited < mail.outcomeMaxWaitMs) throw error;
      return giveUp(campaignId, row, `outcome unknown after ${Math.round(waited / 1000)} s; the last look-up failed: ${String(error)}`);
    });
    if (verdict.settled) metrics.proofWait.observe({ outcome: verdict.as }, waited / 1000);
    return verdict;
  }

  async function giveUp(campaignId: string, row: LedgerRow, reason: string): Promise<Verdict> {
    await ledger.markUnknown(pool, campaignId, ledger.partOf(row), row.attempts, `${reason}; an operator must resolve it`);
    await countUnknown(campaignId, row);
    return { settled: true, as: 'unknown' };
  }

  /** The part's recipients, as dn_recipients_total counts them: in doubt, an operator decides now. */
  async function countUnknown(campaignId: string, row: LedgerRow): Promise<void> {
    const { type } = await requireCampaign(pool, campaignId);
    metrics.recipients.inc({ type, outcome: 'unknown' }, row.message_count ?? row.last_ordinal - row.first_ordinal + 1);
  }

  /** Looks the part up in Mailgun's logs and settles it if they prove either outcome. */
  async function lookUp(campaignId: string, row: LedgerRow, ended: Date, waited: number): Promise<Verdict> {
    const part = ledger.partOf(row);
    const recipient = await lookupRecipient(campaignId, row);
    const marker: Marker = { name: BATCH_MARKER_VARIABLE, value: batchMarker(campaignId, row.batch_no, row.part) };
    const since = row.first_attempt_at ?? new Date(ended.getTime() - mail.requestTimeoutMs);
    await ledger.countOutcomeCheck(pool, campaignId, part);
    const { gateway } = await sendingOf(campaignId);
    const found = await gateway.findAccepted(recipient, marker, since);
    if (found !== undefined) {
      await ledger.markAccepted(pool, campaignId, part, found, 'lookup');
      return { settled: true, as: 'accepted' };
    }
    if (await logsCaughtUp(campaignId, row, ended)) {
      // The logs now reach past the attempt, so this answer is final.
      const late = await gateway.findAccepted(recipient, marker, since);
      if (late !== undefined) {
        await ledger.markAccepted(pool, campaignId, part, late, 'lookup');
        return { settled: true, as: 'accepted' };
      }
      await ledger.markNotSent(pool, campaignId, part, "proven not accepted: Mailgun's logs caught up past the attempt without it", 0, row.attempts);
      return { settled: true, as: 'not-sent' };
    }
    if (waited >= mail.outcomeMaxWaitMs) {
      return giveUp(campaignId, row, `outcome unknown after ${Math.round(waited / 1000)} s: Mailgun's logs never showed a later message`);
    }
    const backoff = 1000 * 1.5 ** Context.current().info.attempt;
    return { settled: false, retryInMs: Math.round(Math.max(1000, Math.min(MAX_POLL_MS, backoff, mail.outcomeMaxWaitMs - waited))) };
  }

  return {
    /**
     * Settles every part of a parked batch whose outcome is unknown: accepted,
     * proven not accepted (back to pending, to be sent), or unknown after the
     * maximum wait. Until then it fails with MailgunOutcomeNotYetProven and a
     * retry delay, so Temporal polls it without growing the workflow history.
     */
    async resolveBatchOutcome({ campaignId, batch }: ResolveBatchInput): Promise<BatchStatus> {
      await ledger.markParked(pool, campaignId, batch.batchNo);
      const { rows, now } = await ledger.batchParts(pool, campaignId, batch.batchNo);
      let retryInMs: number | undefined;
      for (const row of rows.filter((r) => r.state === 'sending')) {
        const verdict = await withHeartbeat(resolvePart(campaignId, row, now));
        if (!verdict.settled) retryInMs = Math.min(retryInMs ?? Infinity, verdict.retryInMs);
      }
      if (retryInMs !== undefined) {
        throw ApplicationFailure.create({
          type: 'MailgunOutcomeNotYetProven',
          message: `batch ${batch.batchNo}: Mailgun's logs do not prove the last attempt's outcome yet; looking again in ${retryInMs} ms`,
          nextRetryDelay: retryInMs,
        });
      }
      return ledger.batchStatus(pool, campaignId, batch);
    },

    /** An operator's decision on a batch whose outcome stayed unknown. */
    async resolveUnknownBatch({ campaignId, batch, as }: ResolveBatchInput & { as: BatchResolution }): Promise<BatchStatus> {
      await ledger.resolveUnknown(pool, campaignId, batch.batchNo, as);
      return ledger.batchStatus(pool, campaignId, batch);
    },

    /** A cancelled campaign stops waiting for proof: its parked parts become 'unknown', as they are. */
    async abandonParkedBatch({ campaignId, batch }: ResolveBatchInput): Promise<BatchStatus> {
      const { rows } = await ledger.batchParts(pool, campaignId, batch.batchNo);
      for (const row of rows.filter((r) => r.state === 'sending')) {
        await ledger.markUnknown(pool, campaignId, ledger.partOf(row), row.attempts, 'campaign cancelled before the outcome was proven');
        await countUnknown(campaignId, row);
      }
      return ledger.batchStatus(pool, campaignId, batch);
    },
  };
}
