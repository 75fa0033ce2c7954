import type { CampaignStatus } from '../common/campaign.js';
import type { ReportPeriod } from '../common/financial.js';
import type { Pool } from './pool.js';
import { sql } from './queries.js';

export interface PipelineGauges {
  byStatus: Partial<Record<CampaignStatus, number>>;
  projectionLagSeconds: number;
  previousMonthSent: boolean;
}

/** The figures Prometheus alerts on, in one statement. */
export async function pipelineGauges(pool: Pool, previous: ReportPeriod): Promise<PipelineGauges> {
  const { rows } = await pool.query<{ by_status: Record<string, number> | null; lag: number; sent: boolean }>(sql.selectPipelineGauges, [
    previous.year,
    previous.month,
  ]);
  const row = rows[0];
  return { byStatus: row?.by_status ?? {}, projectionLagSeconds: row?.lag ?? 0, previousMonthSent: row?.sent ?? false };
}
