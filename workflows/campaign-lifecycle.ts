import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
  uuid4,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { actorOf, sendWorkflowId, SYSTEM_ACTOR, TEMPORAL_ACTOR, type CampaignStatus, type SendOptions, type Steering } from '../common/campaign.js';
import { parsePeriod } from '../common/financial.js';
import {
  draftPhase,
  failureReason,
  isEditable,
  type ApproveRequest,
  type AudiencePreview,
  type CampaignMetrics,
  type DraftFacts,
  type GenerateContentRequest,
  type LifecycleInput,
  type LifecycleResult,
  type LifecycleState,
  type SendSummary,
} from '../common/lifecycle.js';
import { CampaignIdAttr, CampaignMonthAttr, CampaignStatusAttr, CampaignTypeAttr } from '../common/search-attributes.js';
import {
  approveUpdate,
  cancelCampaignUpdate,
  configureUpdate,
  generateContentUpdate,
  pauseCampaignUpdate,
  previewAudienceUpdate,
  previewUpdate,
  REFUSALS,
  resumeCampaignUpdate,
  sendStatusSignal,
  stateQuery,
} from './campaign-lifecycle-api.js';
import { cancelSendSignal, pauseSendSignal, resumeSendSignal } from './campaign-send-api.js';
import { campaignSend } from './campaign-send.js';
import { campaignLifecycleV1 } from './legacy/campaign-lifecycle-v1.js';
import { LatestValueWriter } from './latest-value-writer.js';
import { prepareReportLinks } from './report-links.js';

// ---------------------------------------------------------------- activities
// Short start-to-close timeouts, or heartbeats: a worker that dies anywhere costs seconds.

const { describeDraft, saveConfig, approveCampaign, archiveCampaign, refreshAnalytics } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds' },
});

// The campaign's status and its Firestore copy: one row or document each, so 10 s is plenty, and a
// worker killed mid-write costs no more than that.
const { setCampaignStatus, projectLifecycle } = proxyActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds' },
});

// Pages through Mailgun's logs, heartbeating with where it got to; a Mailgun outage gives up
// after a few tries (the webhooks still count, and the next refresh tries again).
const { reconcileEvents } = proxyActivities<Activities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '2 seconds', maximumInterval: '30 seconds', maximumAttempts: 5 },
});

const { previewAudience, sendPreview } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 10 },
});

// OpenAI: timeouts, 429 and 5xx are retried here (the client itself never retries); a refusal
// or an answer that is not the JSON asked for fails at once, with the reason.
const { generateContent } = proxyActivities<Activities>({
  startToCloseTimeout: '3 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 6 },
});

// ---------------------------------------------------------------- helpers

/** Most refreshes a tracking window makes, however short the refresh interval: the history stays small. */
const MAX_REFRESHES = 500;
/**
 * The statuses of a send only the send child knows of; it reports them and the lifecycle records them
 * at once (a final one too: the child may still be finishing its Firestore projection).
 */
const SEND_PHASES: readonly CampaignStatus[] = ['sending', 'paused', 'needs-attention', 'sent', 'cancelled', 'failed'];

/** Runs recorded before this marker are version 1 (workflows/legacy): they decided from workflow time. */
export const LIFECYCLE_PATCH = 'lifecycle-owns-status';

function refuse(type: (typeof REFUSALS)[keyof typeof REFUSALS], message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

// ---------------------------------------------------------------- the workflow

/**
 * One campaign from creation to archive (`campaign-<id>`). While a draft it
 * takes edits (under a version, so two editors never overwrite each other),
 * counts its audience, drafts content with AI and sends previews; approval
 * freezes content and audience and, at once or on a durable timer, starts the
 * send workflow as a child (pause, resume and cancel reach it by signal). After
 * sending it stays open for the tracking window, refreshing the analytics,
 * then stores the final figures and archives the campaign. Its history holds
 * the campaign id, versions, flags and counts: content and people live in Aurora.
 *
 * It alone writes the campaign's status (Aurora, Firestore, its search
 * attribute), the send phases included: its child reports them. Whether and
 * how long to wait is decided by timers, whose firing is in the history,
 * never by a difference of workflow clock readings.
 */
export async function campaignLifecycle(input: LifecycleInput): Promise<LifecycleResult> {
  if (!patched(LIFECYCLE_PATCH)) return campaignLifecycleV1(input);
  const { campaignId, options } = input;
  let facts: DraftFacts = input.facts;
  let phase: CampaignStatus = 'draft';
  let audience: AudiencePreview | null = null;
  let previewedVersion: number | null = null;
  let previews = 0;
  let generated: LifecycleState['generated'] = null;
  /** Set by approval; `seq` tells a new approval (or a withdrawal) from the one being waited on. */
  let approval: { version: number; sendAt: string | null; send: SendOptions } | undefined;
  let approvals = 0;
  let editing = false;
  let cancelRequested = false;
  let cancelledBy: string | undefined;
  let child: ChildWorkflowHandle<typeof campaignSend> | undefined;
  let sendDone = false;
  let send: SendSummary | null = null;
  let metrics: CampaignMetrics | null = null;
  let trackingUntil: string | null = null;
  let failure: string | null = null;
  /** Counts the status writes: a write delayed past a later one changes nothing. */
  let statusVersion = 0;
  /** Who made the latest status change (the transitions name them): a caller, or the workflow itself. */
  let statusActor = actorOf(input);

  const state = (): LifecycleState => ({
    campaignId,
    phase,
    configVersion: facts.configVersion,
    hasContent: facts.hasContent,
    audience,
    previewedVersion,
    approvedVersion: approval?.version ?? null,
    sendAt: approval?.sendAt ?? facts.sendAt,
    send,
    generated,
    metrics,
    trackingUntil,
    failureReason: failure,
  });

  // Aurora's status and Firestore's copy are written in the background, in order, latest value wins.
  // The reason goes with the status: why it failed, or why it waits for an operator.
  const statusWriter = new LatestValueWriter(() => setCampaignStatus(campaignId, phase, ++statusVersion, statusReason(), statusActor));
  const statusReason = (): string | null => (phase === 'needs-attention' ? (send?.attention ?? null) : failure);
  const projector = new LatestValueWriter(() => projectLifecycle(state()));

  /** `actor`: who made the change (default: the workflow itself). */
  function enter(next: CampaignStatus, { actor = SYSTEM_ACTOR, attentionBefore }: { actor?: string; attentionBefore?: string | undefined } = {}): void {
    // Still waiting for an operator, for another reason now (the brake, batches of unknown outcome): written too.
    const changed = next !== phase || (next === 'needs-attention' && attentionBefore !== send?.attention);
    if (changed) statusActor = actor;
    phase = next;
    upsertSearchAttributes([{ key: CampaignStatusAttr, value: phase }]);
    setCurrentDetails(details());
    if (changed) statusWriter.request();
    projector.request();
  }

  function details(): string {
    const lines = [`**${phase}** · configuration version ${facts.configVersion}`];
    if (audience) lines.push(`audience: ${audience.count} recipients (counted at version ${audience.configVersion})`);
    if (approval?.sendAt && phase === 'scheduled') lines.push(`sends at ${approval.sendAt}`);
    if (send) lines.push(`send: ${send.status}, ${send.sent} of ${send.total} sent, ${send.failed} failed`);
    if (send?.attention && phase === 'needs-attention') lines.push(`needs attention: ${send.attention}`);
    if (trackingUntil && phase === 'tracking') lines.push(`tracking until ${trackingUntil}`);
    return lines.join('\n\n');
  }

  const approved = (): boolean => approval !== undefined;
  const refreshDraftPhase = (request: Steering | undefined): void => {
    if (!approved() && !cancelRequested) enter(draftPhase(facts, audience, previewedVersion), { actor: actorOf(request) });
  };
  /** An edit after approval (before sending) withdraws it: the campaign is a draft again. */
  const withdrawApproval = (): void => {
    if (approved() && child === undefined) {
      approval = undefined;
      approvals++;
    }
  };

  function checkEditable(): void {
    if (cancelRequested || child !== undefined || !isEditable(phase)) {
      refuse(REFUSALS.wrongPhase, `campaign ${campaignId} is ${phase}: it can no longer be edited or approved`);
    }
    if (editing) refuse(REFUSALS.conflict, `campaign ${campaignId}: another edit is being applied; read the campaign again and retry`);
  }

  async function edit<T>(apply: () => Promise<T>): Promise<T> {
    editing = true;
    try {
      return await apply();
    } finally {
      editing = false;
    }
  }

  async function approve(request: ApproveRequest): Promise<void> {
    const requested = request.sendAt ?? facts.sendAt;
    const version = facts.configVersion;
    const send = { ...options.sendDefaults, ...request.send };
    // Whether the send time is still ahead is the activity's call (the database's clock): its answer is in the history.
    const { sendAt } = await edit(() =>
      approveCampaign.executeWithOptions({ summary: `Freeze content and audience of version ${version}${requested ? `, to send at ${requested}` : ''}` }, [
        { campaignId, configVersion: version, sendAt: requested, send },
      ]),
    );
    approval = { version, sendAt, send };
    approvals++;
    enter(sendAt ? 'scheduled' : 'approved', { actor: actorOf(request) });
  }

  setHandler(stateQuery, state);

  setHandler(
    configureUpdate,
    async (request) => {
      const { changes, draftId, fields } = request;
      const from = facts.configVersion;
      const named = fields ?? Object.keys(changes ?? {});
      // The content stays in Aurora: the activity reads the draft this names.
      const what = draftId === undefined ? { changes: changes ?? {} } : { draftId };
      facts = await edit(() =>
        saveConfig.executeWithOptions({ summary: `Save edit of version ${from}: ${named.join(', ')}` }, [
          { campaignId, expectedVersion: from, editId: uuid4(), ...what },
        ]),
      );
      withdrawApproval();
      refreshDraftPhase(request);
      return state();
    },
    {
      validator: ({ expectedVersion }) => {
        checkEditable();
        if (expectedVersion !== facts.configVersion) {
          refuse(
            REFUSALS.conflict,
            `version conflict: the edit was made against version ${expectedVersion}, campaign ${campaignId} is at version ${facts.configVersion}`,
          );
        }
      },
    },
  );

  setHandler(
    previewAudienceUpdate,
    async (request?: Steering) => {
      audience = await previewAudience.executeWithOptions({ summary: 'Count the audience the filters select now' }, [campaignId]);
      refreshDraftPhase(request);
      return audience;
    },
    { validator: (_request?: Steering) => checkEditable() },
  );

  setHandler(
    generateContentUpdate,
    async (request: GenerateContentRequest) => {
      const made = await edit(async () => {
        const result = await generateContent.executeWithOptions({ summary: `Draft content with AI (model ${request.model ?? 'default'})` }, [
          { campaignId, expectedVersion: facts.configVersion, editId: uuid4(), request },
        ]);
        facts = await describeDraft(campaignId);
        return result;
      });
      generated = { generatedContentId: made.generatedContentId, cached: made.cached, totalTokens: made.usage.totalTokens };
      withdrawApproval();
      refreshDraftPhase(request);
      return state();
    },
    { validator: (_request: GenerateContentRequest) => checkEditable() },
  );

  setHandler(
    previewUpdate,
    async (request?: Steering) => {
      const version = facts.configVersion;
      await edit(() =>
        sendPreview.executeWithOptions({ summary: `Send a test of version ${version} to the test addresses` }, [
          { campaignId, previewNo: ++previews, configVersion: version },
        ]),
      );
      previewedVersion = version;
      refreshDraftPhase(request);
      return state();
    },
    {
      validator: (_request?: Steering) => {
        checkEditable();
        if (!facts.hasContent) refuse(REFUSALS.invalid, 'nothing to preview: the campaign needs a subject and an html or text body');
        if (!facts.hasTestAddresses) refuse(REFUSALS.invalid, 'nothing to preview to: configure testAddresses first');
      },
    },
  );

  setHandler(
    approveUpdate,
    async (request: ApproveRequest) => {
      await approve(request);
      // Approved to send now: answer once sending has begun, so the caller can follow the send.
      if (approval?.sendAt === null) await condition(() => child !== undefined || cancelRequested || sendDone);
      return state();
    },
    {
      validator: (request: ApproveRequest) => {
        checkEditable();
        if (request.expectedVersion !== undefined && request.expectedVersion !== facts.configVersion) {
          refuse(REFUSALS.conflict, `version conflict: version ${request.expectedVersion} was reviewed, the campaign is at version ${facts.configVersion}`);
        }
        if (!facts.hasContent) refuse(REFUSALS.invalid, 'the campaign needs a subject and an html or text body before it can be approved');
        if (request.sendAt !== undefined && Number.isNaN(Date.parse(request.sendAt))) {
          refuse(REFUSALS.invalid, `sendAt: not a date: ${JSON.stringify(request.sendAt)}`);
        }
      },
    },
  );

  const whileSending = (what: string) => (_request?: Steering): void => {
    if (child === undefined || sendDone) refuse(REFUSALS.wrongPhase, `campaign ${campaignId} is ${phase}: only a sending campaign can be ${what}`);
  };
  setHandler(
    pauseCampaignUpdate,
    async (request?: Steering) => {
      await child?.signal(pauseSendSignal, { actor: actorOf(request) });
      return state();
    },
    { validator: whileSending('paused') },
  );
  setHandler(
    resumeCampaignUpdate,
    async (request?: Steering) => {
      await child?.signal(resumeSendSignal, { actor: actorOf(request) });
      return state();
    },
    { validator: whileSending('resumed') },
  );
  setHandler(
    cancelCampaignUpdate,
    async (request?: Steering) => {
      cancelRequested = true;
      cancelledBy = actorOf(request);
      if (child) await child.signal(cancelSendSignal, { actor: cancelledBy });
      else enter('cancelled', { actor: cancelledBy });
      return state();
    },
    {
      validator: (_request?: Steering) => {
        if (sendDone || ['cancelled', 'failed'].includes(phase)) {
          refuse(REFUSALS.wrongPhase, `campaign ${campaignId} is ${phase}: there is nothing left to cancel`);
        }
      },
    },
  );

  setHandler(sendStatusSignal, (summary) => {
    if (sendDone) return; // the result has the last word
    const attentionBefore = send?.attention;
    send = summary;
    if (summary.failureReason !== undefined) failure = summary.failureReason;
    if (SEND_PHASES.includes(summary.status)) enter(summary.status, { attentionBefore, ...(summary.actor === undefined ? {} : { actor: summary.actor }) });
  });

  try {
    upsertSearchAttributes([
      { key: CampaignTypeAttr, value: facts.type },
      ...(facts.period ? [{ key: CampaignMonthAttr, value: facts.period }] : []),
    ]);
    enter(draftPhase(facts, audience, previewedVersion), { actor: statusActor });
    statusWriter.request(); // the first phase too, so the transitions start at creation, by whoever created it
    if (input.autoApprove) await approve({ ...(input.actor === undefined ? {} : { actor: input.actor }), ...input.autoApprove });

    if (!(await untilTimeToSend())) return await complete('cancelled');
    if (input.signReportLinks) await signReportLinks();
    const result = await sendCampaign();
    if (result === 'cancelled') return await complete('cancelled');
    await track();
    await reconcile();
    metrics = await refreshAnalytics.executeWithOptions({ summary: 'Final analysis: figures and rates' }, [{ campaignId, final: true }]);
    enter('analysed');
    await archiveCampaign.executeWithOptions({ summary: 'Archive the campaign' }, [campaignId]);
    enter('archived');
    return await complete('archived');
  } catch (error) {
    if (!isCancellation(error)) {
      await CancellationScope.nonCancellable(async () => {
        failure = failureReason(error);
        enter('failed');
        await statusWriter.drain();
        await projector.drain();
      });
      throw error;
    }
    // Cancelled from Temporal itself (UI, CLI): the send child was cancelled with it and lands its batches.
    await CancellationScope.nonCancellable(async () => {
      cancelRequested = true;
      enter('cancelled', { actor: TEMPORAL_ACTOR });
      await statusWriter.drain();
      await projector.drain();
    });
    throw error;
  }

  /**
   * Waits for approval, and for its send time (a durable timer); false if the campaign was cancelled first.
   * A scheduled approval always waits on a timer, however close its time: the timer firing decides, not the clock.
   */
  async function untilTimeToSend(): Promise<boolean> {
    for (;;) {
      await condition(() => cancelRequested || approval !== undefined);
      if (cancelRequested || !approval) return false;
      if (approval.sendAt === null) return true;
      const seen = approvals;
      const waitMs = Math.max(1, Date.parse(approval.sendAt) - Date.now());
      // Woken early by a cancel, a withdrawal or a new approval: look again.
      if (!(await condition(() => cancelRequested || approvals !== seen, waitMs))) return true;
    }
  }

  /** Each recipient's own report links for the campaign's period, signed before anything is sent. */
  async function signReportLinks(): Promise<void> {
    const period = facts.period === null ? undefined : parsePeriod(facts.period);
    if (!period) throw ApplicationFailure.nonRetryable(`campaign ${campaignId} has no report period: its report links cannot be signed`);
    await prepareReportLinks.executeWithOptions({ summary: `List ${facts.period} report files in S3 and sign their links` }, [
      { campaignId, period, signingFailure: 'fail' },
    ]);
  }

  /** Runs the send workflow as a child; pause, resume and cancel reach it by signal. */
  async function sendCampaign(): Promise<'sent' | 'cancelled'> {
    if (cancelRequested) return 'cancelled';
    const sendOptions = approval?.send ?? options.sendDefaults;
    enter('sending');
    child = await startChild(campaignSend, {
      workflowId: sendWorkflowId(campaignId),
      args: [{ campaignId, options: sendOptions, lifecycleOwnsStatus: true }],
      // A cancelled campaign lets the send land its in-flight batches; it is never cut off.
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      typedSearchAttributes: [
        { key: CampaignIdAttr, value: campaignId },
        { key: CampaignTypeAttr, value: facts.type },
        { key: CampaignStatusAttr, value: 'sending' },
        ...(facts.period ? [{ key: CampaignMonthAttr, value: facts.period }] : []),
      ],
      staticSummary: `Send ${facts.type} campaign ${campaignId}: ${facts.name}`,
    });
    if (cancelRequested) await child.signal(cancelSendSignal, { actor: cancelledBy ?? TEMPORAL_ACTOR }); // cancelled while the child was starting
    let result;
    try {
      result = await child.result();
    } catch (error) {
      // The send alone was cancelled (from the Temporal UI, say): the campaign ends cancelled too.
      if (!isCancellation(error) || CancellationScope.current().consideredCancelled) throw error;
      sendDone = true;
      cancelledBy ??= TEMPORAL_ACTOR;
      return 'cancelled';
    }
    sendDone = true;
    send = { status: result.status, total: result.total, sent: result.sent, failed: result.failed };
    if (result.status === 'sent') enter('sent');
    return result.status;
  }

  /**
   * Stays open for the tracking window, refreshing the analytics. One timer marks the window's end and
   * another the next refresh: which fires first is in the history, so the loop never reads the clock.
   */
  async function track(): Promise<void> {
    const every = Math.max(options.analyticsRefreshMs, Math.ceil(options.trackingWindowMs / MAX_REFRESHES));
    trackingUntil = new Date(Date.now() + options.trackingWindowMs).toISOString(); // shown, never compared
    let over = false;
    void sleep(options.trackingWindowMs).then(
      () => (over = true),
      () => undefined, // cancelled with the campaign
    );
    enter('tracking');
    for (;;) {
      await reconcile();
      metrics = await refreshAnalytics.executeWithOptions({ summary: 'Refresh analytics while tracking' }, [{ campaignId, final: false }]);
      projector.request();
      if (over) return;
      await condition(() => over, every);
    }
  }

  /** Records the events Mailgun's logs show and the webhooks missed. A failure leaves the counters as the webhooks made them. */
  async function reconcile(): Promise<void> {
    try {
      await reconcileEvents.executeWithOptions({ summary: 'Reconcile with Mailgun’s logs' }, [{ campaignId }]);
    } catch (error) {
      if (!(error instanceof ActivityFailure) || isCancellation(error)) throw error;
      log.warn('reconciling with Mailgun’s logs failed; counters stay as the webhooks made them', { campaignId, error: error.message });
    }
  }

  async function complete(status: LifecycleResult['status']): Promise<LifecycleResult> {
    if (status === 'cancelled') enter('cancelled', { actor: cancelledBy ?? SYSTEM_ACTOR });
    await statusWriter.drain();
    await projector.drain();
    await condition(allHandlersFinished);
    return { campaignId, status, metrics };
  }
}
