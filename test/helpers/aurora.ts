import assert from 'node:assert/strict';
import type { Pool } from 'pg';
import { campaignTransitions } from '../../db/campaigns.js';

/**
 * Asserts Aurora recorded that the send finished as `status`. The lifecycle
 * writes it once the send has returned, in the background, and then moves on
 * (tracking, archived), so this waits a little for it and reads the
 * transitions, which keep every status.
 */
export async function assertSendRecorded(pool: Pool, campaignId: string, status: 'sent' | 'cancelled' = 'sent'): Promise<void> {
  const deadline = Date.now() + 10_000;
  let statuses: string[] = [];
  while (Date.now() < deadline) {
    statuses = (await campaignTransitions(pool, campaignId)).map((t) => t.status);
    if (statuses.includes(status)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`campaign ${campaignId} recorded ${status}: ${statuses.join(' > ')}`);
}
