export { campaignLifecycle } from './campaign-lifecycle.js';
export { campaignSend } from './campaign-send.js';
export { financialRun, financialScheduled } from './financial-run.js';
