import type { ActivityDeps } from './deps.js';
import { createMailActivities } from './mail.js';
import { createRecipientActivities } from './recipients.js';
import { createStateActivities } from './state.js';

export type { ActivityDeps } from './deps.js';
export type { BatchOutcome, SendBatchInput } from './mail.js';
export type { AudienceSnapshot } from './recipients.js';

/** Every activity the campaign workflows call, bound to their dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createRecipientActivities(deps),
    ...createMailActivities(deps),
    ...createStateActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
