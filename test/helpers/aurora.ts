import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool } from 'pg';
import { campaignTransitions, findCampaignStats } from '../../db/campaigns.js';
import { startPostgres, type PostgresStandin } from '../../local-stack/postgres.js';

/**
 * Stops the campaigns PostgreSQL, leaves it down for `downMs`, and starts it again on the same port and data, as a
 * restart or an Aurora failover looks to the pipeline. The stack's handle is then stale: stop the returned one.
 */
export async function restartPostgres(postgres: PostgresStandin, downMs: number): Promise<PostgresStandin> {
  const { port, dataDir } = postgres;
  await postgres.stop();
  await sleep(downMs);
  return startPostgres({ port, dataDir, persistent: true });
}

/** How many of the campaign's recipients Aurora counts as sent (0 before it has stats). */
export async function sentSoFar(pool: Pool, campaignId: string): Promise<number> {
  return (await findCampaignStats(pool, campaignId))?.sent ?? 0;
}

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
