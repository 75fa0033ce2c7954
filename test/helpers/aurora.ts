import assert from 'node:assert/strict';
import type { Pool } from 'pg';
import { campaignTransitions } from '../../db/campaigns.js';

/**
 * Asserts Aurora recorded that the send finished as `status`. Right after the
 * send the lifecycle moves on (tracking, archived), so the current status may
 * already be later: the transitions keep every one.
 */
export async function assertSendRecorded(pool: Pool, campaignId: string, status: 'sent' | 'cancelled' = 'sent'): Promise<void> {
  const statuses = (await campaignTransitions(pool, campaignId)).map((t) => t.status);
  assert.ok(statuses.includes(status), `campaign ${campaignId} recorded ${status}: ${statuses.join(' > ')}`);
}
