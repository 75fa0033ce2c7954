import type { Pool } from 'pg';
import type { CampaignStatus, SendOptions, SendProgress, SendRate } from '../common/campaign.js';
import { sql } from './queries.js';
import { domainBudget, findBudget } from './rate-budget.js';

interface ProgressRow {
  status: CampaignStatus;
  attention: string | null;
  sendOptions: SendOptions | null;
  sendingDomain: string | null;
  audienceComplete: boolean;
  total: number;
  sent: number;
  failed: number;
  inFlight: number;
  batchesStarted: number;
  batchesDone: number;
  parkedBatches: number[];
  unknownBatches: number[];
}

/**
 * A send's progress as Aurora has it — the campaign's status (the lifecycle
 * writes it), its counters and its send ledger — in the shape of the send
 * workflow's `progress` query. One statement, no Temporal involved: what the
 * CRM, the API and the CLI read while a campaign sends.
 */
export async function readSendProgress(pool: Pool, campaignId: string): Promise<SendProgress | undefined> {
  const row = (await pool.query<ProgressRow>(sql.selectSendProgress, [campaignId])).rows[0];
  if (!row) return undefined;
  const rate = await sendRate(pool, row);
  return {
    campaignId,
    status: row.status,
    total: row.total,
    sent: row.sent,
    failed: row.failed,
    inFlight: row.inFlight,
    paused: row.status === 'paused',
    batchesTotal: batchesTotal(row),
    batchesDone: row.batchesDone,
    audienceComplete: row.audienceComplete,
    parkedBatches: row.parkedBatches,
    unknownBatches: row.unknownBatches,
    ...(rate ? { rate } : {}),
    ...(row.status === 'needs-attention' && row.attention !== null ? { attention: row.attention } : {}),
  };
}

/** As the workflow counts them: every batch once the audience is frozen, else the full batches so far. */
function batchesTotal(row: ProgressRow): number {
  const size = row.sendOptions?.batchSize;
  if (size === undefined) return row.batchesStarted;
  return row.audienceComplete ? Math.ceil(row.total / size) : Math.floor(row.total / size);
}

async function sendRate(pool: Pool, row: ProgressRow): Promise<SendRate | undefined> {
  if (row.sendingDomain === null) return undefined;
  const budget = await findBudget(pool, domainBudget(row.sendingDomain));
  if (!budget) return undefined;
  return {
    domain: row.sendingDomain,
    domainPerSecond: budget.ratePerSecond,
    currentPerSecond: budget.currentPerSecond,
    campaignPerSecond: row.sendOptions?.ratePerSecond ?? null,
  };
}
