import { createAnalyticsActivities } from './analytics.js';
import { createContentActivities } from './content.js';
import type { ActivityDeps } from './deps.js';
import { createFinancialActivities } from './financial.js';
import { createLifecycleActivities } from './lifecycle.js';
import { createMailActivities } from './mail.js';
import { createOutcomeActivities } from './outcomes.js';
import { createPreviewActivities } from './preview.js';
import { createRecipientActivities } from './recipients.js';
import { createReconcileActivities } from './reconcile.js';
import { createRetryActivities } from './retries.js';
import { createStateActivities } from './state.js';

export type { GenerateContentInput, GeneratedContent } from './content.js';
export type { ActivityDeps } from './deps.js';
export type { FinancialCampaign, ReportLinksSummary } from './financial.js';
export type { ApproveInput, SaveConfigInput } from './lifecycle.js';
export type { SendBatchInput } from './mail.js';
export type { ResolveBatchInput } from './outcomes.js';
export type { PreviewOutcome, SendPreviewInput } from './preview.js';
export type { ReconcileResult } from './reconcile.js';
export type { FrozenRound } from './retries.js';
export type { SnapshotStep } from './recipients.js';

/** Every activity the campaign workflows call, bound to their dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createRecipientActivities(deps),
    ...createMailActivities(deps),
    ...createOutcomeActivities(deps),
    ...createStateActivities(deps),
    ...createLifecycleActivities(deps),
    ...createContentActivities(deps),
    ...createPreviewActivities(deps),
    ...createAnalyticsActivities(deps),
    ...createReconcileActivities(deps),
    ...createFinancialActivities(deps),
    ...createRetryActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
