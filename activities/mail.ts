import { ApplicationFailure, Context } from '@temporalio/activity';
import { CAMPAIGN_VARIABLE } from '../common/engagement.js';
import { addressProblem } from '../common/addresses.js';
import { batchMarker, splitPart, wholeBatch, type BatchPart, type BatchPlan } from '../common/batches.js';
import { routeBatch, type BatchStatus } from '../common/ledger.js';
import { failRecipients, loadBatchRecipients, type BatchRecipient } from '../db/audience.js';
import { reportVariables, usedReportVariables } from '../common/financial.js';
import { findCampaign, type CampaignContent } from '../db/campaigns.js';
import { findCounters } from '../db/analytics.js';
import { brakeTrip, type BrakeTrip } from '../common/brake.js';
import { linksOf } from '../db/reports.js';
import * as ledger from '../db/ledger.js';
import { campaignBudget, domainBudget, recover, reserveSlot, slowDown, type RateSlot } from '../db/rate-budget.js';
import type { ActivityDeps } from './deps.js';
import { withHeartbeat } from './heartbeat.js';
import type { BatchMessage } from './mailgun.js';
import type { Stream } from '../common/streams.js';
import { unsubscribeHeaders, unsubscribeVariables, type UnsubscribeSettings } from '../consent/unsubscribe-links.js';
import { classifyMailgunError } from './mailgun-errors.js';
import { campaignSending, type CampaignSending } from './sending.js';
import type { BatchOutcome, RecipientOutcome } from '../metrics/pipeline.js';

export interface SendBatchInput {
  campaignId: string;
  batch: BatchPlan;
  /** The campaign's own ceiling in messages per second, on top of its domain's shared budget. */
  ratePerSecond?: number;
  /** Look at the brake first (README, "The brake"): set by sends an operator has not released from it. */
  brake?: boolean;
}

/** What sendBatch did: the batch's status, or nothing at all because the brake has tripped. */
export type SendBatchResult = BatchStatus | { batchNo: number; braked: BrakeTrip };

/** The user variable that marks every message of a batch part, so Mailgun's logs can tell whether it took it. */
export const BATCH_MARKER_VARIABLE = 'dn_batch';

/** A part this attempt may send, as the ledger showed it. */
interface PendingPart {
  part: BatchPart;
  attempts: number;
}

/** A part's recipients and rate slot, asked for before they are needed. */
interface Prepared {
  recipients: Promise<BatchRecipient[]>;
  /** The domain's slot, unless the campaign has a ceiling of its own. */
  slot: Promise<RateSlot> | undefined;
}

/** What every part of one sendBatch call shares. */
interface BatchSend {
  campaignId: string;
  /** The campaign as approved, which says which domain's budget its requests share. */
  approved: Approved;
  ceiling: number | undefined;
}

type Variables = Record<string, string | number | null>;

function recipientVariables(recipient: BatchRecipient, extra: Variables = {}): Variables {
  return { name: recipient.name ?? '', user_id: recipient.user_id, custom_id: recipient.custom_id, ...extra };
}

/**
 * What batches send: the content frozen at approval, its stream, how it goes out (domain, sender,
 * IP pool), and the report-link variables it shows (none: no links).
 */
interface Approved {
  content: CampaignContent;
  stream: Stream;
  sending: CampaignSending;
  reportVariables: ReadonlySet<string>;
}

function buildMessage(
  campaignId: string,
  part: BatchPart,
  approved: Approved,
  recipients: BatchRecipient[],
  extra: Map<string, Variables>,
  unsubscribing: UnsubscribeSettings | undefined,
  tracksOpens: readonly Stream[],
): BatchMessage {
  const { content, stream, sending } = approved;
  const links = (r: BatchRecipient): Variables =>
    unsubscribing ? unsubscribeVariables(unsubscribing, { userId: r.user_id, stream, campaignId }) : {};
  return {
    from: sending.from,
    subject: content.subject,
    ...(content.html === undefined ? {} : { html: content.html }),
    ...(content.text === undefined ? {} : { text: content.text }),
    recipients: recipients.map((r) => ({ email: r.email, variables: recipientVariables(r, { ...extra.get(r.user_id), ...links(r) }) })),
    userVariables: { [CAMPAIGN_VARIABLE]: campaignId, [BATCH_MARKER_VARIABLE]: batchMarker(campaignId, part.batchNo, part.part) },
    ...(unsubscribing ? { headers: unsubscribeHeaders(stream, sending.domain) } : {}),
    tags: [`stream-${stream}`, `campaign-${campaignId}`],
    options: { ...trackingOptions(stream, tracksOpens), ...(sending.ipPool === undefined ? {} : { 'sending-ip-pool': sending.ipPool }) },
  };
}

/**
 * Statements go without click tracking: their signed CloudFront links must reach the artist as
 * signed, not rewritten through a tracking domain. Opens are tracked on the streams configured to.
 */
function trackingOptions(stream: Stream, tracksOpens: readonly Stream[]): Record<string, string> {
  return {
    'tracking-opens': tracksOpens.includes(stream) ? 'yes' : 'no',
    ...(stream === 'financial' ? { 'tracking-clicks': 'no' } : {}),
  };
}

/** Splits a part's recipients into those Mailgun may take and those whose address is malformed. */
export function sortByAddress(recipients: BatchRecipient[]): { sendable: BatchRecipient[]; malformed: Map<string, number[]> } {
  const sendable: BatchRecipient[] = [];
  const malformed = new Map<string, number[]>();
  for (const recipient of recipients) {
    const problem = addressProblem(recipient.email);
    if (problem === undefined) sendable.push(recipient);
    else malformed.set(problem, [...(malformed.get(problem) ?? []), recipient.ordinal]);
  }
  return { sendable, malformed };
}

function acceptedWhole(batch: BatchPlan, recipients: number, rateLimitedMs: number): BatchStatus {
  return {
    batchNo: batch.batchNo,
    sent: recipients,
    failed: batch.size - recipients,
    pendingParts: 0,
    sendingParts: 0,
    unknownParts: 0,
    rateLimitedMs,
  };
}

/** Campaigns whose frozen content a worker keeps: those it is sending now. */
const CONTENT_CACHE_SIZE = 64;

export function createMailActivities({ pool, mailgun, mail, metrics }: ActivityDeps) {
  const contentCache = new Map<string, Promise<Approved>>();

  async function wait(ms: number): Promise<void> {
    if (ms > 0) await withHeartbeat(Context.current().sleep(ms));
  }

  /**
   * What a part's request needs before it is claimed, asked for at once: its recipients and, unless
   * the campaign has a ceiling of its own (reserved first, see waitForSlot), its slot in the domain's budget.
   */
  function prepare(send: BatchSend, part: BatchPart): Prepared {
    const recipients = loadBatchRecipients(pool, send.campaignId, part.firstOrdinal, part.lastOrdinal);
    const size = part.lastOrdinal - part.firstOrdinal + 1;
    const slot = send.ceiling === undefined ? reserveDomainSlot(send, size) : undefined;
    // A part found not to be pending never awaits these: their failures must not go unhandled.
    for (const pending of [recipients, slot]) pending?.catch(() => undefined);
    return { recipients, slot };
  }

  /**
   * Waits, heartbeating, for this request's slot: in the campaign's own budget when it has a
   * ceiling, then in its domain's, which every campaign and worker sending there shares.
   * Returns the domain budget's factor (below 1 while Mailgun's 429s slow it).
   */
  async function waitForSlot(send: BatchSend, messages: number, reserved?: Promise<RateSlot>): Promise<number> {
    if (send.ceiling !== undefined) await wait((await reserveSlot(pool, campaignBudget(send.campaignId), send.ceiling, messages)).waitMs);
    const slot = await (reserved ?? reserveDomainSlot(send, messages));
    const { domain } = send.approved.sending;
    metrics.budgetRate.set({ domain }, mail.rateOf(domain) * slot.factor);
    await wait(slot.waitMs);
    return slot.factor;
  }

  /**
   * The content frozen at approval, read once per worker: it never changes
   * afterwards, so later batches send exactly what the first one did.
   */
  function frozenContent(campaignId: string): Promise<Approved> {
    let loaded = contentCache.get(campaignId);
    if (!loaded) {
      loaded = findCampaign(pool, campaignId).then((campaign) => {
        if (!campaign?.frozenContent) {
          throw ApplicationFailure.nonRetryable(`campaign ${campaignId} has no approved content to send`, 'CampaignNotApproved');
        }
        const used = campaign.type === 'financial' ? usedReportVariables(campaign.frozenContent) : new Set<string>();
        return { content: campaign.frozenContent, stream: campaign.type, sending: campaignSending(campaign, mail.streams), reportVariables: used };
      });
      loaded.catch(() => contentCache.delete(campaignId));
      contentCache.set(campaignId, loaded);
      if (contentCache.size > CONTENT_CACHE_SIZE) contentCache.delete(contentCache.keys().next().value as string);
    }
    return loaded;
  }

  /** A slot in the budget of the domain the campaign sends on. */
  function reserveDomainSlot(send: BatchSend, messages: number): Promise<RateSlot> {
    const { domain } = send.approved.sending;
    return reserveSlot(pool, domainBudget(domain), mail.rateOf(domain), messages);
  }

  /**
   * Content approved with unsubscribe links goes out with them or not at all: a worker that has no
   * settings for them refuses before claiming anything (nothing is in doubt, nobody is failed).
   */
  function unsubscribingFor(approved: Approved): UnsubscribeSettings | undefined {
    if (!approved.content.unsubscribe) return undefined;
    if (!mail.unsubscribe) {
      throw ApplicationFailure.nonRetryable(
        'this campaign was approved with unsubscribe links, and this worker has no settings for them: set PUBLIC_URL and UNSUBSCRIBE_SECRET',
        'UnsubscribeNotConfigured',
      );
    }
    return mail.unsubscribe;
  }

  /** Each financial recipient's own report links, as the recipient variables the content shows. */
  async function linkVariables(campaignId: string, approved: Approved, recipients: BatchRecipient[]): Promise<Map<string, Variables>> {
    if (approved.reportVariables.size === 0) return new Map();
    const links = await linksOf(pool, campaignId, recipients.map((r) => r.user_id));
    const shown = (all: Record<string, string>): Variables =>
      Object.fromEntries(Object.entries(all).filter(([name]) => approved.reportVariables.has(name)));
    return new Map(recipients.map((r) => [r.user_id, shown(reportVariables(links.get(r.user_id) ?? []))]));
  }

  /**
   * Sends one pending part at most once, in its slot of the rate budget (waited
   * for before the part is claimed, so a worker that dies waiting leaves it
   * pending, not in doubt). Malformed addresses are failed (and suppressed)
   * before the request; if Mailgun still refuses the part for a bad `to`
   * address, it is split in two and each half is sent the same way, so one bad
   * address costs only itself.
   */
  async function sendPart(
    send: BatchSend,
    pending: PendingPart,
    prepared: Prepared = prepare(send, pending.part),
  ): Promise<{ accepted: boolean; recipients: number }> {
    const { campaignId, approved } = send;
    const { part } = pending;
    const { sendable, malformed } = sortByAddress(await prepared.recipients);
    const counted = (outcome: RecipientOutcome, recipients: number) => metrics.recipients.inc({ type: approved.stream, outcome }, recipients);
    for (const [problem, ordinals] of malformed) {
      await failRecipients(pool, campaignId, ordinals, `invalid address: ${problem}`, true);
      counted('failed', ordinals.length);
    }
    const unsubscribing = unsubscribingFor(approved);
    const factor = sendable.length > 0 ? await waitForSlot(send, sendable.length, prepared.slot) : 1;
    const attempt = await ledger.claim(pool, campaignId, { batch_no: part.batchNo, part: part.part, attempts: pending.attempts }, sendable.length);
    if (attempt === undefined) {
      throw ApplicationFailure.retryable(
        `batch ${part.batchNo}${part.part ? ` part ${part.part}` : ''}: another attempt changed the ledger meanwhile; the next attempt re-reads it`,
        'LedgerChanged',
      );
    }
    if (sendable.length === 0) {
      await ledger.markFailed(pool, campaignId, part, 'no valid address in this part', false);
      return { accepted: false, recipients: 0 };
    }
    const extra = await linkVariables(campaignId, approved, sendable);
    const message = buildMessage(campaignId, part, approved, sendable, extra, unsubscribing, mail.trackOpens);
    let messageId: string;
    try {
      messageId = await withHeartbeat(mailgun.on(approved.sending.domain).sendBatch(message));
    } catch (error) {
      await handleSendError(send, part, attempt, sendable, error);
      return { accepted: false, recipients: sendable.length };
    }
    await ledger.markAccepted(pool, campaignId, part, messageId);
    counted('accepted', sendable.length);
    if (factor < 1) await recover(pool, domainBudget(approved.sending.domain));
    return { accepted: true, recipients: sendable.length };
  }

  /** Records a failed request in the ledger, and tells Temporal whether and when to try again. */
  async function handleSendError(send: BatchSend, part: BatchPart, attempt: number, sendable: BatchRecipient[], error: unknown): Promise<void> {
    const { campaignId } = send;
    const failure = classifyMailgunError(error, mail.rateLimitBackoffMs);
    switch (failure.kind) {
      case 'invalid-recipient': {
        const reason = `Mailgun ${failure.status}: ${failure.message}`;
        if (sendable.length === 1) {
          await ledger.markFailed(pool, campaignId, part, reason, true);
          metrics.recipients.inc({ type: send.approved.stream, outcome: 'failed' });
          return;
        }
        const halves = splitPart(part, sendable.map((r) => r.ordinal));
        if (!(await ledger.split(pool, campaignId, part, attempt, reason, halves))) {
          throw ApplicationFailure.retryable(`batch ${part.batchNo}: the part changed before it could be split`, 'LedgerChanged');
        }
        for (const half of halves) await sendPart(send, { part: half, attempts: 0 });
        return;
      }
      case 'request-refused': {
        // About our request (sender, domain, parameters), not a recipient: nothing was sent, no one is failed
        // or suppressed, and the campaign fails before more batches go out.
        const reason = `Mailgun refused the campaign's request (${failure.status}): ${failure.message}`;
        await ledger.markNotSent(pool, campaignId, part, reason, 0, attempt);
        throw ApplicationFailure.nonRetryable(reason, 'MailgunRefusedRequest');
      }
      case 'rate-limited':
        // Mailgun rate-limits the domain: slow its budget for every campaign sending there.
        metrics.mailgunRateLimited.inc({ domain: send.approved.sending.domain });
        await slowDown(pool, domainBudget(send.approved.sending.domain), failure.retryAfterMs);
        await ledger.markNotSent(pool, campaignId, part, `429: ${failure.message}`, failure.retryAfterMs, attempt);
        throw ApplicationFailure.create({
          type: 'MailgunRateLimited',
          message: `Mailgun rate limit; retrying in ${failure.retryAfterMs} ms`,
          nextRetryDelay: failure.retryAfterMs,
        });
      case 'not-sent':
      case 'unauthorised':
        await ledger.markNotSent(pool, campaignId, part, failure.message, 0, attempt);
        throw ApplicationFailure.retryable(failure.message, failure.kind === 'not-sent' ? 'MailgunUnreachable' : 'MailgunUnauthorised');
      case 'ambiguous':
        // The part stays 'sending': the workflow parks the batch until Mailgun's logs prove what happened.
        await ledger.noteError(pool, campaignId, part, `outcome unknown: ${failure.message}`);
        metrics.recipients.inc({ type: send.approved.stream, outcome: 'parked' }, sendable.length);
        return;
    }
  }

  /** sendBatch's work, for a campaign whose approved content is `approved`. */
  async function sendBatchOf({ campaignId, batch, ratePerSecond, brake }: SendBatchInput, approved: Approved): Promise<SendBatchResult> {
    if (brake) {
      // Before anything is claimed: a tripped brake leaves the batch as it was, for when an operator resumes.
      const trip = brakeTrip((await findCounters(pool, campaignId)) ?? { delivered: 0, bounced: 0, complained: 0 }, mail.brake);
      if (trip) return { batchNo: batch.batchNo, braked: trip };
    }
    const send: BatchSend = { campaignId, approved, ceiling: ratePerSecond };
    // The common case is a batch's first attempt: its ledger row, recipients and rate slot are asked for together.
    const prepared = prepare(send, wholeBatch(batch));
    const whole = await ledger.ensurePart(pool, campaignId, wholeBatch(batch));
    if (whole.state === 'pending') {
      const sent = await sendPart(send, { part: ledger.partOf(whole), attempts: whole.attempts }, prepared);
      // The common case, answered without another query: the whole batch went out in one request,
      // and every recipient of it not in the message has been failed (malformed address).
      if (sent.accepted) return acceptedWhole(batch, sent.recipients, whole.rate_limited_ms);
    } else {
      const { rows } = await ledger.batchParts(pool, campaignId, batch.batchNo);
      for (const row of rows.filter((r) => r.state === 'pending')) {
        await sendPart(send, { part: ledger.partOf(row), attempts: row.attempts });
      }
    }
    return ledger.batchStatus(pool, campaignId, batch);
  }

  return {
    /**
     * Sends every pending part of one batch, each at most once, and reports where
     * the batch stands. A part whose request ended without a clear answer stays
     * 'sending': the workflow parks the batch and resolveBatchOutcome proves, from
     * Mailgun's logs, whether it was taken, before anything is sent again.
     */
    async sendBatch(input: SendBatchInput): Promise<SendBatchResult> {
      const approved = await frozenContent(input.campaignId);
      const result = await sendBatchOf(input, approved);
      metrics.batches.inc({ type: approved.stream, outcome: batchOutcome(result) });
      return result;
    },
  };
}

/** How a sendBatch left its batch, as dn_batches_total counts it. */
function batchOutcome(result: SendBatchResult): BatchOutcome {
  if ('braked' in result) return 'braked';
  return ({ done: 'settled', send: 'pending', resolve: 'parked', operator: 'unknown' } as const)[routeBatch(result)];
}
