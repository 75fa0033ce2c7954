import type { ActivityDeps } from './deps.js';
import { createMailActivities } from './mail.js';
import { createOutcomeActivities } from './outcomes.js';
import { createRecipientActivities } from './recipients.js';
import { createStateActivities } from './state.js';

export type { ActivityDeps } from './deps.js';
export type { SendBatchInput } from './mail.js';
export type { ResolveBatchInput } from './outcomes.js';
export type { SnapshotStep } from './recipients.js';

/** Every activity the campaign workflows call, bound to their dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createRecipientActivities(deps),
    ...createMailActivities(deps),
    ...createOutcomeActivities(deps),
    ...createStateActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
