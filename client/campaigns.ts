import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import stringify from 'safe-stable-stringify';
import { onDomains, senderProblem } from '../common/addresses.js';
import type { Stream } from '../common/streams.js';
import {
  isCampaignId,
  lifecycleWorkflowId,
  sendWorkflowId,
  type BatchResolution,
  type CampaignStatus,
  type SendProgress,
  type Steering,
} from '../common/campaign.js';
import type { ApproveRequest, AudiencePreview, LifecycleOptions, LifecycleResult, LifecycleState } from '../common/lifecycle.js';
import { withReportLinks } from '../common/financial.js';
import { retryWorkflowId, roundBatchNo } from '../common/retries.js';
import { CampaignIdAttr, CampaignMonthAttr, CampaignStatusAttr, CampaignTypeAttr } from '../common/search-attributes.js';
import { countAudience, failedRecipients, type FailedRecipient } from '../db/audience.js';
import {
  campaignTransitions,
  draftFacts,
  findCampaign,
  findCampaignStats,
  campaignByIdempotency,
  IdempotencyMismatch,
  insertCampaign,
  listCampaigns,
  type Campaign,
  type CampaignStats,
  type Idempotency,
  type CampaignTransition,
} from '../db/campaigns.js';
import { appendAudit, listAudit, type AuditRecord } from '../db/audit.js';
import { currentActor, type Actor } from './acting.js';
import { CampaignError } from './errors.js';
import { startRetry, type RetryStarted } from './retries.js';
import { saveEditDraft, saveTestAddresses } from '../db/drafts.js';
import { ledgerSummary, unsettledParts, type LedgerSummary, type UnsettledPart } from '../db/ledger.js';
import { readSendProgress } from '../db/progress.js';
import { retryRounds, roundOfBatch, type RetryRound } from '../db/retries.js';
import { listUsers, userIdsByEmail, type UserListItem } from '../db/users.js';
import type { campaignLifecycle } from '../workflows/campaign-lifecycle.js';
import {
  approveUpdate,
  CAMPAIGN_LIFECYCLE_WORKFLOW,
  cancelCampaignUpdate,
  configureUpdate,
  generateContentUpdate,
  previewAudienceUpdate,
  previewUpdate,
  REFUSALS,
  stateQuery,
} from '../workflows/campaign-lifecycle-api.js';
import type { campaignSend } from '../workflows/campaign-send.js';
import { cancelUpdate, pauseUpdate, progressQuery, resolveBatchUpdate, resumeUpdate, type CampaignSendResult } from '../workflows/campaign-send-api.js';
import {
  approveSchema,
  configureSchema,
  generateContentSchema,
  InvalidInputError,
  listCampaignsSchema,
  listUsersSchema,
  newCampaignSchema,
  parseInput,
  resolveBatchSchema,
  sendMailSchema,
  sendOptionsSchema,
  type ApproveInput,
  type RetryFailedInput,
  type ConfigureInput,
  type GenerateContentInput,
  type ListCampaignsInput,
  type ListUsersInput,
  type NewCampaignInput,
  type ParsedCampaign,
  type SendMailInput,
  type SendOptionsInput,
} from './validation.js';

/** A request that cannot be carried out as asked: unknown campaign, stale version, wrong phase... (client/errors.ts) */
export { CampaignError } from './errors.js';

/** A caller's key on one route, with the request's hash: the same request under it is a retry, another is refused. */
function scopedKey({ caller, key }: CallerKey, route: 'create' | 'send-mail', request: unknown): Idempotency {
  const canonical = stringify(request) ?? '';
  return { scope: `${caller}:${route}`, key, requestHash: createHash('sha256').update(canonical).digest('hex') };
}

export interface CampaignClientDeps {
  pool: Pool;
  /** Needed for everything but reading Aurora (get, list, users). */
  temporal?: Client;
  taskQueue: string;
  /** What every campaign's lifecycle workflow is started with (send defaults, tracking window). */
  lifecycle: LifecycleOptions;
  /** The domains a campaign's `from` may be on, per stream, lower-cased (worker/config.ts senderDomains). */
  senderDomains: Readonly<Record<Stream, readonly string[]>>;
  /** The domains previews may go to (PREVIEW_ALLOWED_DOMAINS); unset, test addresses are not checked here (workers still refuse others). */
  previewDomains?: readonly string[];
  /** Who the changes this client makes are recorded as made by, unless the work runs actingAs someone (default `library`). */
  actor?: Actor;
}

export interface CampaignReport {
  campaign: Campaign;
  stats: CampaignStats | undefined;
  ledger: LedgerSummary[];
  /** Parts whose outcome is not known yet: `sending` (parked, being proven) or `unknown` (an operator decides). */
  unsettled: UnsettledPart[];
  /** Recipients who will not get this campaign, with the reason (the first 100). */
  failedRecipients: FailedRecipient[];
  /** Every status the campaign went through, when. */
  transitions: CampaignTransition[];
  /** Who did what to it, oldest first (the first AUDIT_SHOWN entries; GET /audit?campaignId= pages through all). */
  audit: AuditRecord[];
  /** Its retry rounds, first first: who each sent to again, and how it went. */
  retries: RetryRound[];
  /**
   * The lifecycle workflow's own view (phase, versions, metrics), asked of Temporal only with `live`;
   * null otherwise, and once Temporal no longer keeps the workflow.
   */
  lifecycle: LifecycleState | null;
}

export interface ReadOptions {
  /**
   * Ask the running workflow (a Temporal query) instead of Aurora. Aurora answers every read by
   * default: it holds the same counts, costs one SQL statement and never involves a worker.
   */
  live?: boolean;
}

/** An Idempotency-Key and who sent it (`api:<key name>`, `cli:<user>`). */
export interface CallerKey {
  caller: string;
  key: string;
}

export interface CreateOptions {
  /**
   * The same caller's key never creates a second campaign on a route: a retried request gets the first
   * one back, and a different request under the key is refused (CampaignError 'idempotency-mismatch').
   */
  idempotency?: CallerKey;
  /** Approve at once: the campaign goes straight to sending. */
  autoApprove?: ApproveRequest;
  /** Sign each recipient's report links for the campaign's period before sending (financial campaigns). */
  signReportLinks?: boolean;
}

export const AUDIT_SHOWN = 200;

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next page; absent on the last one. */
  nextCursor?: string;
}

type LifecycleHandle = WorkflowHandle<typeof campaignLifecycle>;
type SendHandle = WorkflowHandle<typeof campaignSend>;

/** What backend triggers (the HTTP API, the CLI, services) use to create and steer campaigns. */
export class CampaignClient {
  constructor(private readonly deps: CampaignClientDeps) {}

  /** The audit log of one campaign (or, without one, of everything), oldest first. */
  audit(query: { campaignId?: string; actor?: string; cursor?: string; limit?: number } = {}): Promise<Page<AuditRecord>> {
    const limit = query.limit ?? 100;
    return listAudit(this.deps.pool, {
      limit: limit + 1,
      ...(query.campaignId ? { campaignId: query.campaignId } : {}),
      ...(query.actor ? { actor: query.actor } : {}),
      ...(query.cursor ? { after: query.cursor } : {}),
    }).then((items) => page(items, limit));
  }

  /** Who the work under way is for: the audit log and the campaign's transitions name them. */
  private actor(): Actor {
    return currentActor() ?? this.deps.actor ?? { name: 'library' };
  }

  /** Tells a workflow who asks. */
  private steering(): Steering {
    return { actor: this.actor().name };
  }

  /** Does `work`, then records it in the audit log (what was done, never content or addresses). */
  private async audited<T>(
    action: string,
    campaignId: string | ((result: T) => string),
    details: Record<string, unknown> | ((result: T) => Record<string, unknown>),
    work: () => Promise<T>,
  ): Promise<T> {
    const result = await work();
    const actor = this.actor();
    await appendAudit(this.deps.pool, {
      actor: actor.name,
      action,
      campaignId: typeof campaignId === 'string' ? campaignId : campaignId(result),
      details: typeof details === 'function' ? details(result) : details,
      requestId: actor.requestId ?? null,
    });
    return result;
  }

  /**
   * Creates a draft in Aurora and starts its lifecycle workflow `campaign-<id>`.
   * Invalid input is refused before anything is written.
   */
  async create(input: NewCampaignInput, options: CreateOptions = {}): Promise<string> {
    const campaign = parseInput(newCampaignSchema, input, 'campaign');
    const details = { type: campaign.type, ...(options.idempotency ? { idempotencyKey: options.idempotency.key } : {}) };
    return this.audited('create', (id) => id, details, () =>
      this.createDraft(campaign, options, options.idempotency && scopedKey(options.idempotency, 'create', campaign)),
    );
  }

  /** Writes the draft and starts its lifecycle; a key used before in its scope gets that campaign back, or is refused. */
  private async createDraft(campaign: ParsedCampaign, options: CreateOptions, idempotency: Idempotency | undefined): Promise<string> {
    this.checkSender(campaign.content?.from, campaign.type, 'campaign.content.from');
    const temporal = this.temporal();
    // A retry, or a reused key, is answered before anything is written.
    const earlier = idempotency && (await this.idempotentCampaign(idempotency));
    if (earlier !== undefined) {
      await this.startLifecycle(temporal, earlier, options);
      return earlier;
    }
    this.checkTestAddresses(campaign.testAddresses, 'campaign.testAddresses');
    const testAddressIds = (await saveTestAddresses(this.deps.pool, campaign.testAddresses ?? [])).map((a) => a.id);
    const { id } = await this.refusingMismatch(() => insertCampaign(this.deps.pool, {
      name: campaign.name,
      type: campaign.type,
      audience: campaign.audience,
      testAddressIds,
      ...(campaign.content ? { content: campaign.content } : {}),
      ...(campaign.reportYear === undefined ? {} : { reportYear: campaign.reportYear }),
      ...(campaign.reportMonth === undefined ? {} : { reportMonth: campaign.reportMonth }),
      ...(campaign.sendAt === undefined ? {} : { sendAt: new Date(campaign.sendAt) }),
      ...(idempotency === undefined ? {} : { idempotency }),
    }));
    await this.startLifecycle(temporal, id, options);
    return id;
  }

  /** The campaign made earlier under this key, if any; a different request under it is refused. */
  private async idempotentCampaign(idempotency: Idempotency): Promise<string | undefined> {
    return this.refusingMismatch(() => campaignByIdempotency(this.deps.pool, idempotency));
  }

  private async refusingMismatch<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof IdempotencyMismatch) throw new CampaignError(error.message, 'idempotency-mismatch');
      throw error;
    }
  }

  /**
   * The CRM's send-mail: a campaign to the listed addresses (or, with sendAll,
   * everyone subscribed to this type of email) that goes straight to sending.
   */
  async sendMail(input: SendMailInput, idempotency?: CallerKey): Promise<{ campaignId: string; recipientCount: number }> {
    const mail = parseInput(sendMailSchema, input, 'body');
    this.checkSender(mail.from, mail.campaign.type, 'body.from');
    const audience = mail.sendAll ? { emailType: mail.campaign.type } : { userIds: await this.knownUsers(mail.to) };
    const content = { subject: mail.subject, html: mail.html, from: mail.from, ...(mail.text === undefined ? {} : { text: mail.text }) };
    const draft = parseInput(
      newCampaignSchema,
      {
        name: mail.campaign.name,
        type: mail.campaign.type,
        reportYear: mail.campaign.year,
        reportMonth: mail.campaign.month,
        content: mail.attachReporting ? withReportLinks(content) : content,
        audience,
      },
      'body',
    );
    const details = { type: mail.campaign.type, recipients: mail.sendAll ? 'all' : mail.to.length, ...(idempotency ? { idempotencyKey: idempotency.key } : {}) };
    const campaignId = await this.audited('send-mail', (id) => id, details, () =>
      this.createDraft(draft, { autoApprove: {}, ...(mail.attachReporting ? { signReportLinks: true } : {}) }, idempotency && scopedKey(idempotency, 'send-mail', mail)),
    );
    const campaign = await this.requireCampaign(campaignId);
    const recipientCount = campaign.totalRecipients ?? (await countAudience(this.deps.pool, campaignId, campaign.type, campaign.frozenAudience ?? audience)).count;
    return { campaignId, recipientCount };
  }

  /** The campaign as Aurora has it; with `live`, the lifecycle workflow's own view too. */
  async get(campaignId: string, { live = false }: ReadOptions = {}): Promise<CampaignReport> {
    const campaign = await this.requireCampaign(campaignId);
    const [stats, ledger, unsettled, failed, transitions, audit, retries, lifecycle] = await Promise.all([
      findCampaignStats(this.deps.pool, campaignId),
      ledgerSummary(this.deps.pool, campaignId),
      unsettledParts(this.deps.pool, campaignId),
      failedRecipients(this.deps.pool, campaignId),
      campaignTransitions(this.deps.pool, campaignId),
      listAudit(this.deps.pool, { campaignId, limit: AUDIT_SHOWN }),
      retryRounds(this.deps.pool, campaignId),
      live ? this.lifecycleState(campaignId) : Promise.resolve(null),
    ]);
    return { campaign, stats, ledger, unsettled, failedRecipients: failed, transitions, audit, retries, lifecycle };
  }

  /** Newest first, filtered by status and type, keyset-paged. */
  async list(input: ListCampaignsInput = {}): Promise<Page<Campaign>> {
    const query = parseInput(listCampaignsSchema, input, 'query');
    const items = await listCampaigns(this.deps.pool, {
      limit: query.limit + 1,
      ...(query.status ? { status: query.status } : {}),
      ...(query.type ? { type: query.type } : {}),
      ...(query.cursor ? { before: query.cursor } : {}),
    });
    return page(items, query.limit);
  }

  /** Active users in id order, keyset-paged: no page skips or repeats anyone. */
  async users(input: ListUsersInput = {}): Promise<Page<UserListItem>> {
    const query = parseInput(listUsersSchema, input, 'query');
    const items = await listUsers(this.deps.pool, {
      limit: query.limit + 1,
      ...(query.subscriptionStatus ? { subscriptionStatus: query.subscriptionStatus } : {}),
      ...(query.emailType ? { emailType: query.emailType } : {}),
      ...(query.cursor ? { after: query.cursor } : {}),
    });
    return page(items, query.limit);
  }

  /** Edits a draft under the version the editor saw: a stale version is a `conflict`; after sending began, `wrong-phase`. */
  async configure(campaignId: string, input: ConfigureInput): Promise<LifecycleState> {
    const { expectedVersion, changes } = parseInput(configureSchema, input, 'configure');
    if (changes.from !== undefined || changes.type !== undefined) {
      const campaign = await this.requireCampaign(campaignId);
      this.checkSender(changes.from !== undefined ? changes.from : campaign.content?.from, changes.type ?? campaign.type, 'configure.changes.from');
    }
    const { testAddresses, ...rest } = changes;
    this.checkTestAddresses(testAddresses, 'configure.changes.testAddresses');
    const testAddressIds =
      testAddresses === undefined ? undefined : (await saveTestAddresses(this.deps.pool, testAddresses)).map((a) => a.id);
    const fields = Object.keys(changes).sort();
    await this.requireCampaign(campaignId);
    // Content and ids go through Aurora: the workflow (and its history) gets the draft's id only.
    const draftId = await saveEditDraft(this.deps.pool, campaignId, { ...rest, ...(testAddressIds === undefined ? {} : { testAddressIds }) });
    return this.audited('configure', campaignId, { expectedVersion, fields }, () =>
      this.steerLifecycle(campaignId, (h) => h.executeUpdate(configureUpdate, { args: [{ expectedVersion, draftId, fields, ...this.steering() }] })),
    );
  }

  previewAudience(campaignId: string): Promise<AudiencePreview> {
    return this.steerLifecycle(campaignId, (h) => h.executeUpdate(previewAudienceUpdate, { args: [this.steering()] }));
  }

  generateContent(campaignId: string, input: GenerateContentInput = {}): Promise<LifecycleState> {
    const request = parseInput(generateContentSchema, input, 'request');
    return this.audited('generate-content', campaignId, {}, () => this.steerLifecycle(campaignId, (h) => h.executeUpdate(generateContentUpdate, { args: [{ ...request, ...this.steering() }] })));
  }

  /** Sends the current content to the campaign's test addresses only. */
  preview(campaignId: string): Promise<LifecycleState> {
    return this.audited('preview', campaignId, {}, () => this.steerLifecycle(campaignId, (h) => h.executeUpdate(previewUpdate, { args: [this.steering()] })));
  }

  /** Freezes content and audience and sends now (answering once sending has begun) or at `sendAt`. */
  approve(campaignId: string, input: ApproveInput = {}): Promise<LifecycleState> {
    const request = parseInput(approveSchema, input, 'approve');
    const details = { sendAt: request.sendAt ?? null, ...(request.expectedVersion === undefined ? {} : { expectedVersion: request.expectedVersion }) };
    return this.audited('approve', campaignId, details, () => this.steerLifecycle(campaignId, (h) => h.executeUpdate(approveUpdate, { args: [{ ...request, ...this.steering() }] })));
  }

  /** Approves a draft to send now, with optional send tuning: the way to send a campaign in one step. */
  async startSend(campaignId: string, options: SendOptionsInput = {}): Promise<{ workflowId: string; lifecycleWorkflowId: string }> {
    const send = parseInput(sendOptionsSchema, options, 'options');
    await this.approve(campaignId, { send });
    return { workflowId: sendWorkflowId(campaignId), lifecycleWorkflowId: lifecycleWorkflowId(campaignId) };
  }

  /**
   * A send's counts, status and rate, from Aurora (one statement; no worker involved), or with
   * `live` from the send workflow itself (a Temporal query: it works on a finished send too).
   * A campaign never approved has no send: `not-started`.
   */
  async progress(campaignId: string, { live = false }: ReadOptions = {}): Promise<SendProgress> {
    const campaign = await this.requireCampaign(campaignId);
    if (campaign.approvedAt === null) throw new CampaignError(`campaign ${campaignId} has no send yet: approve it first`, 'not-started');
    const stored = await readSendProgress(this.deps.pool, campaignId);
    if (!stored) throw new CampaignError(`campaign ${campaignId} does not exist`, 'not-found');
    if (!live) return stored;
    const progress = await this.steerSend(campaignId, (h) => h.query(progressQuery));
    return stored.rate ? { ...progress, rate: stored.rate } : progress;
  }

  /**
   * Sends the campaign again to the recipients whose part failed for a reason that may since have
   * been fixed, and only them (README, "Retrying failed recipients"): the next retry round, as new
   * ledger parts. `dryRun` counts them, and why, without sending.
   */
  async retryFailed(campaignId: string, input: RetryFailedInput = {}): Promise<RetryStarted> {
    const campaign = await this.requireCampaign(campaignId);
    const deps = { pool: this.deps.pool, temporal: this.temporal(), taskQueue: this.deps.taskQueue, sendDefaults: this.deps.lifecycle.sendDefaults };
    const retry = (): Promise<RetryStarted> => startRetry(deps, campaign, input, this.actor().name);
    if (input.dryRun) return retry();
    const details = (started: RetryStarted) => ({
      round: started.round,
      unsent: started.unsent,
      resent: started.resent,
      ...(input.reasonLike === undefined ? {} : { reasonLike: input.reasonLike }),
      ...(input.temporaryAfterMinutes === undefined ? {} : { temporaryAfterMinutes: input.temporaryAfterMinutes }),
    });
    return this.audited('retry-failed', campaignId, details, retry);
  }

  /** Waits for a retry round's send to end: its counts, or a CampaignError saying why it failed. */
  retryResult(campaignId: string, round: number): Promise<CampaignSendResult> {
    return steer(campaignId, () => this.temporal().workflow.getHandle<typeof campaignSend>(retryWorkflowId(campaignId, round)).result(), `has no retry round ${round}`);
  }

  pause(campaignId: string): Promise<SendProgress> {
    return this.audited('pause', campaignId, {}, () => this.steerSend(campaignId, (h) => h.executeUpdate(pauseUpdate, { args: [this.steering()] })));
  }

  /** Sends again; a send the brake paused carries on with the brake off (README, "The brake"). */
  resume(campaignId: string): Promise<SendProgress> {
    return this.audited('resume', campaignId, {}, () => this.steerSend(campaignId, (h) => h.executeUpdate(resumeUpdate, { args: [this.steering()] })));
  }

  /**
   * Stops a campaign for good. While sending, the send stops once in-flight
   * batches have landed; before, nothing is sent at all.
   */
  cancel(campaignId: string): Promise<{ campaignId: string; status: CampaignStatus }> {
    return this.audited('cancel', campaignId, {}, () => this.cancelNow(campaignId));
  }

  private async cancelNow(campaignId: string): Promise<{ campaignId: string; status: CampaignStatus }> {
    await this.requireCampaign(campaignId);
    try {
      const progress = await steer(campaignId, () => this.sendHandle(campaignId).executeUpdate(cancelUpdate, { args: [this.steering()] }), 'is not sending');
      return { campaignId, status: progress.status };
    } catch (error) {
      if (!(error instanceof CampaignError && error.code === 'not-started')) throw error;
    }
    // Not sending (yet, or any more): the lifecycle decides whether there is anything left to cancel.
    const state = await this.steerLifecycle(campaignId, (h) => h.executeUpdate(cancelCampaignUpdate, { args: [this.steering()] }));
    return { campaignId, status: state.phase };
  }

  /**
   * Settles a batch whose outcome Mailgun's logs could not prove (progress.unknownBatches):
   * `accepted` if Mailgun did take it (check its logs or the recipients), `resend` if it did not.
   */
  /**
   * An operator's decision on a batch of unknown outcome, by its number in the ledger (`campaign show`'s
   * `unsettled`): a batch of a retry round goes to that round's send, under the number it knows it by.
   */
  resolveBatch(campaignId: string, batchNo: number, as: BatchResolution): Promise<SendProgress> {
    const request = parseInput(resolveBatchSchema, { batchNo, as }, 'resolve');
    return this.audited('resolve-batch', campaignId, { batchNo: request.batchNo, as: request.as }, async () => {
      const round = roundOfBatch(await retryRounds(this.deps.pool, campaignId), request.batchNo);
      if (!round) return this.steerSend(campaignId, (h) => h.executeUpdate(resolveBatchUpdate, { args: [{ ...request, ...this.steering() }] }));
      const local = { ...request, batchNo: roundBatchNo(request.batchNo, round.firstOrdinal), ...this.steering() };
      const handle = this.temporal().workflow.getHandle<typeof campaignSend>(retryWorkflowId(campaignId, round.round));
      return steer(campaignId, () => handle.executeUpdate(resolveBatchUpdate, { args: [local] }), `has no retry round ${round.round}`);
    });
  }

  /** Waits for the send to finish and returns its result. */
  result(campaignId: string) {
    return this.steerSend(campaignId, (h) => h.result());
  }

  /** Waits for the whole lifecycle (through tracking and analysis) to end. */
  lifecycleResult(campaignId: string): Promise<LifecycleResult> {
    return this.steerLifecycle(campaignId, (h) => h.result());
  }

  async state(campaignId: string): Promise<LifecycleState> {
    return this.steerLifecycle(campaignId, (h) => h.query(stateQuery));
  }

  private async lifecycleState(campaignId: string): Promise<LifecycleState | null> {
    try {
      return await this.temporal().workflow.getHandle<typeof campaignLifecycle>(lifecycleWorkflowId(campaignId)).query(stateQuery);
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return null;
      throw error;
    }
  }

  private async startLifecycle(temporal: Client, campaignId: string, { autoApprove, signReportLinks }: CreateOptions): Promise<void> {
    const campaign = await this.requireCampaign(campaignId);
    const facts = draftFacts(campaign);
    const { period } = facts;
    try {
      await temporal.workflow.start<typeof campaignLifecycle>(CAMPAIGN_LIFECYCLE_WORKFLOW, {
        workflowId: lifecycleWorkflowId(campaignId),
        taskQueue: this.deps.taskQueue,
        args: [
          {
            campaignId,
            options: this.deps.lifecycle,
            facts,
            ...(autoApprove ? { autoApprove } : {}),
            ...(signReportLinks ? { signReportLinks } : {}),
            ...this.steering(),
          },
        ],
        // A retried create (same idempotency key) finds the workflow already running, or already done.
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: CampaignIdAttr, value: campaignId },
          { key: CampaignTypeAttr, value: campaign.type },
          { key: CampaignStatusAttr, value: campaign.status },
          ...(period ? [{ key: CampaignMonthAttr, value: period }] : []),
        ],
        staticSummary: `${campaign.type} campaign ${campaignId}: ${campaign.name}`,
      });
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
  }

  /** The users behind a list of addresses; an address of nobody is invalid input, named. */
  private async knownUsers(emails: string[]): Promise<string[]> {
    const ids = await userIdsByEmail(this.deps.pool, emails);
    const unknown = emails.map((email, i) => [i, email] as const).filter(([, email]) => !ids.has(email.toLowerCase()));
    if (unknown.length > 0) {
      throw new InvalidInputError(unknown.slice(0, 10).map(([i, email]) => ({ field: `body.to.${i}`, message: `${email} is not a known user` })));
    }
    return [...new Set(emails.map((email) => ids.get(email.toLowerCase()) as string))];
  }

  /** Previews go only to the deployment's own domains: a leaked write key is no relay for mail from ours to anyone. */
  private checkTestAddresses(addresses: readonly string[] | undefined, field: string): void {
    const allowed = this.deps.previewDomains;
    if (!addresses || !allowed) return;
    const refused = addresses.flatMap((address, i) => (onDomains(address, allowed) ? [] : [{ field: `${field}.${i}`, message: `previews go only to addresses on ${allowed.join(', ')} (PREVIEW_ALLOWED_DOMAINS)` }]));
    if (refused.length > 0) throw new InvalidInputError(refused);
  }

  /** A `from` (when set) must be on a domain the stream sends from: refused, naming `field`, before anything is written. */
  private checkSender(from: string | null | undefined, stream: Stream, field: string): void {
    const problem = typeof from === 'string' ? senderProblem(from, this.deps.senderDomains[stream]) : undefined;
    if (problem) throw new InvalidInputError([{ field, message: problem }]);
  }

  private temporal(): Client {
    if (!this.deps.temporal) throw new Error('CampaignClient was created without a Temporal client');
    return this.deps.temporal;
  }

  private requireCampaign(campaignId: string): Promise<Campaign> {
    return requireCampaign(this.deps.pool, campaignId);
  }

  private async steerLifecycle<T>(campaignId: string, action: (handle: LifecycleHandle) => Promise<T>): Promise<T> {
    const campaign = await this.requireCampaign(campaignId);
    // A lifecycle that has ended (archived, cancelled) takes no more requests: say so in the campaign's terms.
    const ended = `is ${campaign.status}: its lifecycle has ended`;
    try {
      return await steer(campaignId, () => action(this.temporal().workflow.getHandle(lifecycleWorkflowId(campaignId))), ended);
    } catch (error) {
      if (error instanceof CampaignError && error.code === 'not-started') throw new CampaignError(error.message, 'wrong-phase');
      throw error;
    }
  }

  private async steerSend<T>(campaignId: string, action: (handle: SendHandle) => Promise<T>): Promise<T> {
    await this.requireCampaign(campaignId);
    return steer(campaignId, () => action(this.sendHandle(campaignId)), 'has no send yet: approve it first');
  }

  private sendHandle(campaignId: string): SendHandle {
    return this.temporal().workflow.getHandle(sendWorkflowId(campaignId));
  }
}

/** The campaign, or InvalidInputError for a malformed id and `not-found` for no such campaign. */
export async function requireCampaign(pool: Pool, campaignId: string): Promise<Campaign> {
  if (!isCampaignId(campaignId)) {
    throw new InvalidInputError([{ field: 'campaignId', message: `must be a positive integer, got ${JSON.stringify(campaignId)}` }]);
  }
  const campaign = await findCampaign(pool, campaignId);
  if (!campaign) throw new CampaignError(`campaign ${campaignId} does not exist`, 'not-found');
  return campaign;
}

export function page<T extends { id: string }>(rows: T[], limit: number): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return rows.length > limit && last ? { items, nextCursor: last.id } : { items };
}

const REFUSAL_CODES: Record<string, CampaignError['code']> = {
  [REFUSALS.conflict]: 'conflict',
  [REFUSALS.wrongPhase]: 'wrong-phase',
  [REFUSALS.invalid]: 'invalid',
  CampaignNotApprovable: 'invalid',
  // OpenAI would not or could not write the draft (after Temporal's retries, for the transient kinds).
  ContentMalformed: 'upstream',
  ContentRefused: 'upstream',
  OpenAIRejected: 'upstream',
  OpenAIUnavailable: 'upstream',
};

/** The ApplicationFailure at the root of a failure chain (an update refused, or an activity that failed in it). */
function rootApplicationFailure(error: unknown): ApplicationFailure | undefined {
  let cause: unknown = error;
  let found: ApplicationFailure | undefined;
  while (cause instanceof Error) {
    if (cause instanceof ApplicationFailure) found = cause;
    cause = cause.cause;
  }
  return found;
}

/** Runs a request against a campaign's workflow, turning Temporal's errors into CampaignErrors that say what happened. */
async function steer<T>(campaignId: string, run: () => Promise<T>, missing: string): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw new CampaignError(`campaign ${campaignId} ${missing}`, 'not-started');
    if (error instanceof WorkflowUpdateFailedError || error instanceof WorkflowFailedError) {
      const failure = rootApplicationFailure(error);
      const code = (failure?.type ? REFUSAL_CODES[failure.type] : undefined) ?? (error instanceof WorkflowFailedError ? 'failed' : 'rejected');
      const message = failure?.message ?? error.message;
      throw new CampaignError(message.includes(`campaign ${campaignId}`) ? message : `campaign ${campaignId}: ${message}`, code);
    }
    throw error;
  }
}
