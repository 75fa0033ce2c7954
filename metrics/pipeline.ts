import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** What a recipient's part came to in a batch request. */
export type RecipientOutcome = 'accepted' | 'failed' | 'parked' | 'unknown';
/** How a sendBatch activity left its batch: all settled, parts still pending, parked for proof, waiting for an operator, or braked. */
export type BatchOutcome = 'settled' | 'pending' | 'parked' | 'unknown' | 'braked';

/** The worker's pipeline figures (README, "Metrics"); the Temporal SDK's own are served beside them. */
export function createPipelineMetrics(registry: Registry) {
  const registers = [registry];
  return {
    recipients: new Counter({
      name: 'dn_recipients_total',
      help: 'Recipients by campaign type and what their batch request came to: accepted by Mailgun, failed (refused address), parked (outcome being proven), unknown (an operator decides)',
      labelNames: ['type', 'outcome'] as const,
      registers,
    }),
    batches: new Counter({
      name: 'dn_batches_total',
      help: 'sendBatch activities completed, by campaign type and how they left the batch',
      labelNames: ['type', 'outcome'] as const,
      registers,
    }),
    mailgunRateLimited: new Counter({
      name: 'dn_mailgun_rate_limited_total',
      help: "Mailgun 429 answers, by sending domain (each slows the domain's budget)",
      labelNames: ['domain'] as const,
      registers,
    }),
    budgetRate: new Gauge({
      name: 'dn_send_budget_rate_per_second',
      help: "A sending domain's current rate budget in messages per second (below the configured rate while Mailgun's 429s slow it), as this worker last reserved a slot",
      labelNames: ['domain'] as const,
      registers,
    }),
    proofWait: new Histogram({
      name: 'dn_outcome_proof_wait_seconds',
      help: "Time from an ambiguous Mailgun request to its part's outcome being settled (proven accepted, proven not sent, or handed to an operator)",
      labelNames: ['outcome'] as const,
      buckets: [5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers,
    }),
    snapshotted: new Counter({
      name: 'dn_audience_snapshot_recipients_total',
      help: 'Recipients frozen into audience snapshots, by campaign type (rate() is the snapshot throughput)',
      labelNames: ['type'] as const,
      registers,
    }),
    linksSigned: new Counter({
      name: 'dn_report_links_signed_total',
      help: 'CloudFront report links signed for financial campaigns (rate() is the signing throughput)',
      registers,
    }),
  };
}

export type PipelineMetrics = ReturnType<typeof createPipelineMetrics>;
