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
import type { Activities } from '../../activities/index.js';
import { actorOf, sendWorkflowId, type CampaignStatus, type SendOptions, type Steering } from '../../common/campaign.js';
import { parsePeriod } from '../../common/financial.js';
import {
  draftPhase,
  isEditable,
  nextStatusVersion,
  type ApproveRequest,
  type AudiencePreview,
  type CampaignMetrics,
  type DraftFacts,
  type GenerateContentRequest,
  type LifecycleInput,
  type LifecycleResult,
  type LifecycleState,
  type SendSummary,
} from '../../common/lifecycle.js';
import { CampaignIdAttr, CampaignMonthAttr, CampaignStatusAttr, CampaignTypeAttr } from '../../common/search-attributes.js';
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
} from '../campaign-lifecycle-api.js';
import { cancelSendSignal, pauseSendSignal, resumeSendSignal } from '../campaign-send-api.js';
import { campaignSend } from '../campaign-send.js';
import { LatestValueWriter } from '../latest-value-writer.js';
import { prepareReportLinks } from '../report-links.js';

// ---------------------------------------------------------------- activities
// Short start-to-close timeouts, or heartbeats: a worker that dies anywhere costs seconds.

const { describeDraft, saveConfig, approveCampaign, archiveCampaign, setCampaignStatus, projectLifecycle, refreshAnalytics } =
  proxyActivities<Activities>({
    startToCloseTimeout: '30 seconds',
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
const SEND_PHASES: readonly CampaignStatus[] = ['sending', 'paused', 'needs-attention'];

function refuse(type: (typeof REFUSALS)[keyof typeof REFUSALS], message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

// ---------------------------------------------------------------- the workflow

/**
 * The campaign lifecycle as it ran before it became the only writer of the
 * campaign's status (version 1), kept verbatim so that runs begun on it replay
 * as they were recorded: `campaignLifecycle` hands such runs here (its
 * `patched` check fails for them). It decides "scheduled or now" and the
 * tracking window's end from workflow time, and leaves the send phases to the
 * send child. Remove it (and `deprecatePatch` the check) once no run of it is open.
 */
export async function campaignLifecycleV1(input: LifecycleInput): Promise<LifecycleResult> {
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
  let child: ChildWorkflowHandle<typeof campaignSend> | undefined;
  let sendDone = false;
  let send: SendSummary | null = null;
  let metrics: CampaignMetrics | null = null;
  let trackingUntil: string | null = null;
  let statusVersion = 0;

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
  });

  // Aurora's status and Firestore's copy are written in the background, in order, latest value wins.
  const statusWriter = new LatestValueWriter(() =>
    setCampaignStatus(campaignId, phase, (statusVersion = nextStatusVersion(statusVersion, Date.now()))),
  );
  const projector = new LatestValueWriter(() => projectLifecycle(state()));

  /** Moves to `next`; while sending, the child writes Aurora's status itself and is only mirrored here. */
  function enter(next: CampaignStatus, { write = true } = {}): void {
    const changed = next !== phase;
    phase = next;
    upsertSearchAttributes([{ key: CampaignStatusAttr, value: phase }]);
    setCurrentDetails(details());
    if (write && changed) statusWriter.request();
    projector.request();
  }

  function details(): string {
    const lines = [`**${phase}** · configuration version ${facts.configVersion}`];
    if (audience) lines.push(`audience: ${audience.count} recipients (counted at version ${audience.configVersion})`);
    if (approval?.sendAt && phase === 'scheduled') lines.push(`sends at ${approval.sendAt}`);
    if (send) lines.push(`send: ${send.status}, ${send.sent} of ${send.total} sent, ${send.failed} failed`);
    if (trackingUntil && phase === 'tracking') lines.push(`tracking until ${trackingUntil}`);
    return lines.join('\n\n');
  }

  const approved = (): boolean => approval !== undefined;
  const refreshDraftPhase = (): void => {
    if (!approved() && !cancelRequested) enter(draftPhase(facts, audience, previewedVersion));
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
    const sendAt = request.sendAt ?? facts.sendAt;
    const later = sendAt !== null && Date.parse(sendAt) > Date.now() ? sendAt : null;
    const version = facts.configVersion;
    await edit(() =>
      approveCampaign.executeWithOptions({ summary: `Freeze content and audience of version ${version}${later ? `, to send at ${later}` : ''}` }, [
        { campaignId, configVersion: version, sendAt: later },
      ]),
    );
    approval = { version: facts.configVersion, sendAt: later, send: { ...options.sendDefaults, ...request.send } };
    approvals++;
    enter(later ? 'scheduled' : 'approved');
  }

  setHandler(stateQuery, state);

  setHandler(
    configureUpdate,
    async ({ changes, draftId, fields }) => {
      const from = facts.configVersion;
      // Requests from today's clients name a draft in Aurora instead of carrying the changes.
      const what = draftId === undefined ? { changes: changes ?? {} } : { draftId };
      facts = await edit(() =>
        saveConfig.executeWithOptions({ summary: `Save edit of version ${from}: ${(fields ?? Object.keys(changes ?? {})).join(', ')}` }, [
          { campaignId, expectedVersion: from, editId: uuid4(), ...what },
        ]),
      );
      withdrawApproval();
      refreshDraftPhase();
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
    async (_request?: Steering) => {
      audience = await previewAudience.executeWithOptions({ summary: 'Count the audience the filters select now' }, [campaignId]);
      refreshDraftPhase();
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
      refreshDraftPhase();
      return state();
    },
    { validator: (_request: GenerateContentRequest) => checkEditable() },
  );

  setHandler(
    previewUpdate,
    async (_request?: Steering) => {
      const version = facts.configVersion;
      await edit(() =>
        sendPreview.executeWithOptions({ summary: `Send a test of version ${version} to the test addresses` }, [
          { campaignId, previewNo: ++previews, configVersion: version },
        ]),
      );
      previewedVersion = version;
      refreshDraftPhase();
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
      if (child) await child.signal(cancelSendSignal, { actor: actorOf(request) });
      else enter('cancelled');
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
    send = summary;
    if (SEND_PHASES.includes(summary.status)) enter(summary.status, { write: false });
  });

  try {
    upsertSearchAttributes([
      { key: CampaignTypeAttr, value: facts.type },
      ...(facts.period ? [{ key: CampaignMonthAttr, value: facts.period }] : []),
    ]);
    enter(draftPhase(facts, audience, previewedVersion));
    statusWriter.request(); // the first phase too, so the transitions start at creation
    if (input.autoApprove) await approve(input.autoApprove);

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
        enter('failed');
        await statusWriter.drain();
      });
      throw error;
    }
    // Cancelled from Temporal itself (UI, CLI): the send child was cancelled with it and lands its batches.
    await CancellationScope.nonCancellable(async () => {
      cancelRequested = true;
      enter('cancelled', { write: true });
      await statusWriter.drain();
      await projector.drain();
    });
    throw error;
  }

  /** Waits for approval, and for its send time (a durable timer); false if the campaign was cancelled first. */
  async function untilTimeToSend(): Promise<boolean> {
    for (;;) {
      await condition(() => cancelRequested || approval !== undefined);
      if (cancelRequested || !approval) return false;
      const seen = approvals;
      const waitMs = approval.sendAt === null ? 0 : Date.parse(approval.sendAt) - Date.now();
      if (waitMs <= 0) return true;
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
      args: [{ campaignId, options: sendOptions }],
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
    if (cancelRequested) await child.signal(cancelSendSignal, {}); // cancelled while the child was starting
    let result;
    try {
      result = await child.result();
    } catch (error) {
      // The send alone was cancelled (from the Temporal UI, say): the campaign ends cancelled too.
      if (!isCancellation(error) || CancellationScope.current().consideredCancelled) throw error;
      sendDone = true;
      return 'cancelled';
    }
    sendDone = true;
    send = { status: result.status, total: result.total, sent: result.sent, failed: result.failed };
    return result.status;
  }

  /** Stays open for the tracking window, refreshing the analytics; timers are durable, so restarts cost nothing. */
  async function track(): Promise<void> {
    const end = Date.now() + options.trackingWindowMs;
    const every = Math.max(options.analyticsRefreshMs, Math.ceil(options.trackingWindowMs / MAX_REFRESHES));
    trackingUntil = new Date(end).toISOString();
    enter('tracking');
    for (;;) {
      await reconcile();
      metrics = await refreshAnalytics.executeWithOptions({ summary: 'Refresh analytics while tracking' }, [{ campaignId, final: false }]);
      projector.request();
      const left = end - Date.now();
      if (left <= 0) return;
      await sleep(Math.min(every, left));
    }
  }

  /** Records the events Mailgun's logs show and the webhooks missed. A failure leaves the counters as the webhooks made them. */
  async function reconcile(): Promise<void> {
    if (!patched('reconcile-mailgun-events')) return;
    try {
      await reconcileEvents.executeWithOptions({ summary: 'Reconcile with Mailgun’s logs' }, [{ campaignId }]);
    } catch (error) {
      if (!(error instanceof ActivityFailure) || isCancellation(error)) throw error;
      log.warn('reconciling with Mailgun’s logs failed; counters stay as the webhooks made them', { campaignId, error: error.message });
    }
  }

  async function complete(status: LifecycleResult['status']): Promise<LifecycleResult> {
    if (status === 'cancelled') enter('cancelled', { write: child === undefined }); // a cancelled send wrote it itself
    await statusWriter.drain();
    await projector.drain();
    await condition(allHandlersFinished);
    return { campaignId, status, metrics };
  }
}
