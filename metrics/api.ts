import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { CAMPAIGN_STATUSES } from '../common/campaign.js';
import { previousMonth } from '../common/financial.js';
import type { Pool } from '../db/pool.js';
import { pipelineGauges } from '../db/metrics.js';

/** What became of a Mailgun webhook request: recorded, recorded before, a replayed token, refused (bad signature, stale, unusable), or not recordable now (503). */
export type WebhookResult = 'recorded' | 'duplicate' | 'replay' | 'refused' | 'unavailable';

/** The API's request and webhook figures (README, "Metrics"). */
export function createApiMetrics(registry: Registry) {
  const registers = [registry];
  return {
    requests: new Counter({
      name: 'dn_http_requests_total',
      help: 'API requests by route (as registered, e.g. /campaigns/:id), method and status',
      labelNames: ['route', 'method', 'status'] as const,
      registers,
    }),
    duration: new Histogram({
      name: 'dn_http_request_duration_seconds',
      help: 'API request latency by route and method',
      labelNames: ['route', 'method'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    webhookEvents: new Counter({
      name: 'dn_webhook_events_total',
      help: "Mailgun webhook requests by event kind (delivered, opened, failed, …; 'unknown' before the body is read) and what became of them",
      labelNames: ['event', 'result'] as const,
      registers,
    }),
    unsubscribes: new Counter({
      name: 'dn_unsubscribes_total',
      help: "Opt-outs through the API by source: one-click (RFC 8058, the mail client's button) or the preferences page",
      labelNames: ['source'] as const,
      registers,
    }),
  };
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>;

/**
 * Figures read from Aurora at each scrape, for alerts: campaigns by status (one in needs-attention),
 * the Firestore projection's lag, and whether the month just closed has had its statements.
 */
export function registerAuroraGauges(registry: Registry, pool: Pool, { timeZone }: { timeZone: string }): void {
  let reading: Promise<Awaited<ReturnType<typeof pipelineGauges>>> | undefined;
  // One query per scrape for all three gauges, however many collect it.
  const read = () => (reading ??= pipelineGauges(pool, previousMonth(new Date(), timeZone)).finally(() => setTimeout(() => (reading = undefined), 1000)));
  new Gauge({
    name: 'dn_campaigns',
    help: 'Campaigns by status, from Aurora (needs-attention: a send waits for an operator)',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const { byStatus } = await read();
      for (const status of CAMPAIGN_STATUSES) this.set({ status }, byStatus[status] ?? 0);
    },
  });
  new Gauge({
    name: 'dn_analytics_projection_lag_seconds',
    help: "Age of the oldest campaign counters change not yet written to Firestore (0: all written)",
    registers: [registry],
    async collect() {
      this.set((await read()).projectionLagSeconds);
    },
  });
  new Gauge({
    name: 'dn_financial_previous_month_sent',
    help: "1 once the month just closed (FINANCIAL_TIME_ZONE) has a financial campaign that finished sending, else 0",
    registers: [registry],
    async collect() {
      this.set((await read()).previousMonthSent ? 1 : 0);
    },
  });
}
