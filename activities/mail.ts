import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import { batchMarker, type BatchPlan } from '../common/batches.js';
import { nextStep } from '../common/ledger.js';
import { findCampaign, loadBatchRecipients, type BatchRecipient } from '../db/campaigns.js';
import * as ledger from '../db/ledger.js';
import type { LedgerRow } from '../db/ledger.js';
import type { ActivityDeps } from './deps.js';
import type { BatchMessage } from './mailgun.js';
import { classifyMailgunError } from './mailgun-errors.js';

export interface SendBatchInput {
  campaignId: string;
  batch: BatchPlan;
}

export interface BatchOutcome {
  batchNo: number;
  state: 'accepted' | 'failed';
  recipients: number;
  /** Total Retry-After waits Mailgun imposed on this batch; > 0 tells the workflow to slow down. */
  rateLimitedMs: number;
  error?: string;
}

/** The user variable that marks every message of a batch, so the events API can tell whether Mailgun took it. */
export const BATCH_MARKER_VARIABLE = 'dn_batch';
const HEARTBEAT_EVERY_MS = 2_000;

function outcomeOf(batch: BatchPlan, row: LedgerRow, extraRateLimitedMs = 0): BatchOutcome {
  return {
    batchNo: batch.batchNo,
    state: row.state === 'failed' ? 'failed' : 'accepted',
    recipients: batch.size,
    rateLimitedMs: row.rate_limited_ms + extraRateLimitedMs,
    ...(row.state === 'failed' && row.last_error ? { error: row.last_error } : {}),
  };
}

function recipientVariables(recipient: BatchRecipient): Record<string, string | number | null> {
  return { name: recipient.name ?? '', user_id: recipient.user_id, custom_id: recipient.custom_id };
}

async function withHeartbeat<T>(work: Promise<T>): Promise<T> {
  const context = Context.current();
  const timer = setInterval(() => context.heartbeat(), HEARTBEAT_EVERY_MS);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

async function buildMessage(
  pool: Pool,
  input: SendBatchInput,
  defaultFrom: string,
): Promise<{ message: BatchMessage; firstRecipient: string }> {
  const { campaignId, batch } = input;
  const campaign = await findCampaign(pool, campaignId);
  if (!campaign?.content) {
    throw ApplicationFailure.nonRetryable(`campaign ${campaignId} has no content to send`, 'CampaignWithoutContent');
  }
  const recipients = await loadBatchRecipients(pool, campaignId, batch.firstOrdinal, batch.lastOrdinal);
  const first = recipients[0];
  if (!first || recipients.length !== batch.size) {
    throw ApplicationFailure.nonRetryable(
      `campaign ${campaignId} batch ${batch.batchNo}: expected ${batch.size} recipients at ordinals ` +
        `${batch.firstOrdinal}..${batch.lastOrdinal}, found ${recipients.length}`,
      'AudienceMismatch',
    );
  }
  const { content } = campaign;
  return {
    firstRecipient: first.email,
    message: {
      from: content.from ?? defaultFrom,
      subject: content.subject,
      ...(content.html === undefined ? {} : { html: content.html }),
      ...(content.text === undefined ? {} : { text: content.text }),
      recipients: recipients.map((r) => ({ email: r.email, variables: recipientVariables(r) })),
      userVariables: { campaign_id: campaignId, [BATCH_MARKER_VARIABLE]: batchMarker(campaignId, batch.batchNo) },
    },
  };
}

export function createMailActivities({ pool, mailgun, mail }: ActivityDeps) {
  /** Asks Mailgun whether an attempt whose outcome we never learned was accepted. */
  async function resolveUnknownOutcome(
    input: SendBatchInput,
    row: LedgerRow,
    firstRecipient: string,
  ): Promise<string | undefined> {
    // The earlier attempt may belong to a worker that is still alive (say, one that missed its
    // heartbeats), so wait until its request must have ended, then until Mailgun's events show it.
    const lastAttempt = row.last_attempt_at?.getTime() ?? 0;
    const settlesIn = lastAttempt + mail.requestTimeoutMs + mail.eventsSettleMs - Date.now();
    if (settlesIn > 0) {
      throw ApplicationFailure.create({
        type: 'MailgunOutcomeUnknown',
        message: `batch ${input.batch.batchNo}: waiting ${settlesIn} ms for Mailgun's events to show the last attempt`,
        nextRetryDelay: settlesIn,
      });
    }
    const marker = batchMarker(input.campaignId, input.batch.batchNo);
    await ledger.countOutcomeCheck(pool, input.campaignId, input.batch.batchNo);
    const since = row.first_attempt_at ?? new Date(lastAttempt);
    return withHeartbeat(mailgun.findAccepted(firstRecipient, BATCH_MARKER_VARIABLE, marker, since));
  }

  /** Records a failed attempt in the ledger and tells Temporal whether and when to try again. */
  async function handleSendError(input: SendBatchInput, attempt: number, error: unknown): Promise<BatchOutcome> {
    const { campaignId, batch } = input;
    const failure = classifyMailgunError(error, mail.rateLimitBackoffMs);
    switch (failure.kind) {
      case 'permanent': {
        await ledger.markFailed(pool, campaignId, batch.batchNo, `Mailgun ${failure.status}: ${failure.message}`);
        const row = await ledger.ensureLedgerRow(pool, campaignId, batch);
        return outcomeOf(batch, row);
      }
      case 'rate-limited':
        await ledger.markNotSent(pool, campaignId, batch.batchNo, `429: ${failure.message}`, failure.retryAfterMs, attempt);
        throw ApplicationFailure.create({
          type: 'MailgunRateLimited',
          message: `Mailgun rate limit; retrying in ${failure.retryAfterMs} ms`,
          nextRetryDelay: failure.retryAfterMs,
        });
      case 'not-sent':
      case 'unauthorised':
        await ledger.markNotSent(pool, campaignId, batch.batchNo, failure.message, 0, attempt);
        throw ApplicationFailure.retryable(failure.message, failure.kind === 'not-sent' ? 'MailgunUnreachable' : 'MailgunUnauthorised');
      case 'ambiguous':
        await ledger.noteError(pool, campaignId, batch.batchNo, failure.message);
        throw ApplicationFailure.retryable(
          `outcome unknown (${failure.message}); Mailgun will be asked before any resend`,
          'MailgunOutcomeUnknown',
        );
    }
  }

  return {
    /**
     * Sends one batch at most once. The ledger row says what earlier attempts did;
     * when an attempt's outcome is unknown, Mailgun's events API decides before
     * anything is sent again.
     */
    async sendBatch(input: SendBatchInput): Promise<BatchOutcome> {
      const { campaignId, batch } = input;
      const row = await ledger.ensureLedgerRow(pool, campaignId, batch);
      const step = nextStep(row.state);
      if (step === 'done') return outcomeOf(batch, row);

      const { message, firstRecipient } = await buildMessage(pool, input, mail.defaultFrom);
      if (step === 'resolve-then-send') {
        const acceptedId = await resolveUnknownOutcome(input, row, firstRecipient);
        if (acceptedId !== undefined) {
          await ledger.markAccepted(pool, campaignId, batch.batchNo, acceptedId);
          return outcomeOf(batch, { ...row, state: 'accepted' });
        }
      }

      const attempt = await ledger.markSending(pool, campaignId, batch.batchNo, row);
      if (attempt === undefined) {
        throw ApplicationFailure.retryable(
          `batch ${batch.batchNo}: another attempt changed the ledger meanwhile; the next attempt re-reads it`,
          'LedgerChanged',
        );
      }
      let messageId: string;
      try {
        messageId = await withHeartbeat(mailgun.sendBatch(message));
      } catch (error) {
        return handleSendError(input, attempt, error);
      }
      await ledger.markAccepted(pool, campaignId, batch.batchNo, messageId);
      return outcomeOf(batch, { ...row, state: 'accepted' });
    },
  };
}
