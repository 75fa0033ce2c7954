import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';

/**
 * Lists a period's report files in S3 and signs each recipient's links, for
 * the financial run and for a campaign sent with the CRM's attachReporting.
 * S3 errors are retried here (the SDK retries a few times itself); a signing
 * key that cannot be loaded stops the campaign before anything is sent (the
 * activity decides when retrying is pointless).
 */
export const { prepareReportLinks } = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 8 },
});
