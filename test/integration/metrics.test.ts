import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { parse } from 'yaml';
import { openApiServer } from '../../api/services.js';
import { MAILGUN_WEBHOOK_PATH } from '../../api/routes/webhooks.js';
import type { ApiServer } from '../../api/server.js';
import { freePort } from '../../local-stack/ports.js';
import { oneClickUrl, simulateAudience } from '../../local-stack/demo-engagement.js';
import { createRegistry } from '../../metrics/registry.js';
import { startMetricsServer, type MetricsServer } from '../../metrics/server.js';
import { loadConfig } from '../../worker/config.js';
import { acceptedFor } from '../helpers/delivery.js';
import { harnessForFile, waitFor, type ChildWorker } from '../helpers/harness.js';
import { mailgunSignature, postWebhook, signedBody } from '../helpers/webhooks.js';

/**
 * Prometheus figures from each process, scraped over HTTP while a campaign sends: the worker's
 * pipeline counters and the Temporal SDK's own, the API's requests, webhooks and unsubscribes,
 * and the Aurora gauges alerts read; /ready names what does not answer.
 */

const SIGNING_KEY = 'whsec-metrics-0123456789abcdef';
const KEY = 'ops-key-0123456789abcdef0123';
const RECIPIENTS = 600;
const file = harnessForFile({ users: RECIPIENTS, seed: { mixed: false }, worker: false });

let api: ApiServer;
let apiMetrics: MetricsServer;
let worker: ChildWorker;
let workerMetricsUrl: string;
let audience: { stop(): Promise<void> };
/** What each process served once the send was over. */
const scraped: { worker?: string; api?: string } = {};

/** The sum of a metric's samples whose labels include `labels` (0 if there are none). */
function sampled(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{(.*)\})? ([^ ]+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = new Map([...(match[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m): [string, string] => [m[1] ?? '', m[2] ?? '']));
    if (Object.entries(labels).every(([key, value]) => found.get(key) === value)) sum += Number(match[4]);
  }
  return sum;
}

async function scrape(url: string): Promise<string> {
  const response = await fetch(url);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
  return response.text();
}

describe('metrics', () => {
  before(async () => {
    const registry = createRegistry();
    const config = loadConfig({ ...file.h.env, API_KEYS: `ops:admin:${KEY}`, API_PORT: '0', MAILGUN_WEBHOOK_SIGNING_KEY: SIGNING_KEY });
    api = await openApiServer(config, pino({ level: 'silent' }), registry);
    apiMetrics = await startMetricsServer({ address: '127.0.0.1:0', registry });
    file.h.mailgun.configureWebhooks({ url: `${api.url}${MAILGUN_WEBHOOK_PATH}`, signingKey: SIGNING_KEY, events: ['delivered'] });
    audience = simulateAudience(file.h.mailgun, { everyMs: 50, bouncePercent: 0, oneClickPercent: 0, complaintPercent: 0 });
    const address = `127.0.0.1:${await freePort()}`;
    worker = await file.h.spawnWorker({ METRICS_ADDRESS: address });
    workerMetricsUrl = `http://${address}/metrics`;
  });
  after(async () => {
    await audience?.stop();
    file.h.mailgun.configureWebhooks(null);
    await worker?.stop();
    await apiMetrics?.stop();
    await api?.stop();
  });

  test('a send moves the worker’s counters by what went out, beside the Temporal SDK’s own figures', async () => {
    const campaignId = await file.h.campaigns.create({ name: 'Measured', type: 'newsletter', content: { subject: 'News', text: 'Hello %recipient.name%' } });
    // 600 recipients at 200 a second in batches of 100: three seconds to watch it move. Mailgun's first answer is a 429.
    file.h.mailgun.injectFaults({ kind: 'rate-limit', retryAfterSeconds: 1 });
    await file.h.campaigns.startSend(campaignId, { batchSize: 100, window: 1, ratePerSecond: 200 });
    const midway = await waitFor(async () => {
      const accepted = sampled(await scrape(workerMetricsUrl), 'dn_recipients_total', { type: 'newsletter', outcome: 'accepted' });
      return accepted > 0 && accepted < RECIPIENTS ? accepted : undefined;
    }, { what: 'the accepted counter to move mid-send', intervalMs: 50 });
    assert.ok(midway % 100 === 0, 'counted a batch at a time, as Mailgun accepted them');

    const result = await file.h.campaigns.result(campaignId);
    assert.equal(result.sent, RECIPIENTS);
    const text = await scrape(workerMetricsUrl);
    scraped.worker = text;
    assert.equal(sampled(text, 'dn_recipients_total', { type: 'newsletter', outcome: 'accepted' }), acceptedFor(file.h.mailgun, campaignId).length);
    assert.equal(sampled(text, 'dn_recipients_total', { outcome: 'failed' }), 0);
    assert.equal(sampled(text, 'dn_batches_total', { type: 'newsletter', outcome: 'settled' }), RECIPIENTS / 100);
    assert.equal(sampled(text, 'dn_audience_snapshot_recipients_total', { type: 'newsletter' }), RECIPIENTS);
    assert.ok(sampled(text, 'dn_send_budget_rate_per_second') > 0, 'the domain budget’s rate');
    assert.equal(sampled(text, 'dn_mailgun_rate_limited_total', { domain: file.h.config.MAILGUN_DOMAIN }), 1, 'the 429');
    assert.equal(sampled(text, 'temporal_activity_execution_failed_total', { activity_type: 'sendBatch' }), 1, 'the attempt it failed, retried');
    assert.ok(sampled(text, 'dn_process_resident_memory_bytes') > 0, 'the process’s own figures');
    // The SDK's: task slots, schedule-to-start latency, activities by type.
    assert.ok(/^temporal_worker_task_slots_available\{/m.test(text), 'task slots');
    assert.ok(/^temporal_workflow_task_schedule_to_start_latency_seconds_bucket\{/m.test(text), 'schedule-to-start latency');
    assert.ok(sampled(text, 'temporal_activity_execution_latency_seconds_count', { activity_type: 'sendBatch' }) >= RECIPIENTS / 100, 'sendBatch executions');
    assert.doesNotMatch(text, new RegExp(`campaign_?id="?${campaignId}|@`), 'no campaign id or address in any label');
  });

  test('the API counts requests by route and status, webhooks by kind and outcome, one-click unsubscribes; the Aurora gauges', async () => {
    const before = await scrape(apiMetrics.url);
    const routeOf = { route: '/campaigns/:id', method: 'GET' };
    const shown = sampled(before, 'dn_http_requests_total', { ...routeOf, status: '200' });
    const campaignId = (await file.h.campaigns.list({ limit: 1 })).items[0]?.id ?? assert.fail('a campaign');
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${api.url}/campaigns/${campaignId}`, { headers: { 'x-api-key': KEY } })).status, 200);
    assert.equal((await fetch(`${api.url}/campaigns/${campaignId}`)).status, 401);

    // Every delivered event the stand-in posted was recorded once; a retried one is a duplicate, a forged one refused.
    // (The audience delivers a few every 50 ms: the last may come after the send is over.)
    const delivered = await waitFor(() => {
      const events = file.h.mailgun.engagementEvents().filter((e) => e.event === 'delivered');
      return events.length === RECIPIENTS ? events : undefined;
    }, { what: 'every message delivered' });
    await file.h.mailgun.settleWebhooks();
    assert.equal(delivered.length, RECIPIENTS);
    const again = delivered[0] ?? assert.fail();
    assert.equal((await postWebhook(`${api.url}${MAILGUN_WEBHOOK_PATH}`, signedBody(SIGNING_KEY, file.h.mailgun.webhookEventData(again)))).body.status, 'duplicate');
    const forged = signedBody('not-the-key', file.h.mailgun.webhookEventData(again), mailgunSignature('not-the-key'));
    assert.equal((await postWebhook(`${api.url}${MAILGUN_WEBHOOK_PATH}`, forged)).status, 401);

    // A person presses their mail client's unsubscribe button.
    const message = file.h.mailgun.accepted().find((m) => m.variables['campaign_id'] === campaignId) ?? assert.fail();
    const link = new URL(oneClickUrl(message) ?? assert.fail('a one-click link'));
    const pressed = await fetch(`${api.url}${link.pathname}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
    assert.equal(pressed.status, 200);

    // The stand-in's webhooks may still be on their way: the counter gets there, and no further. Each is
    // counted once: `recorded`, or `duplicate` when the lifecycle's reconciliation with Mailgun's logs
    // recorded its event first (the test's tracking window is 3 s), like the retry posted above.
    const deliveredCounted = (now: string) =>
      sampled(now, 'dn_webhook_events_total', { event: 'delivered', result: 'recorded' }) + sampled(now, 'dn_webhook_events_total', { event: 'delivered', result: 'duplicate' });
    const text = await waitFor(async () => {
      const now = await scrape(apiMetrics.url);
      return deliveredCounted(now) >= RECIPIENTS + 1 ? now : undefined;
    }, { what: 'every delivered webhook to be counted', timeoutMs: 30_000 });
    scraped.api = text;
    assert.equal(sampled(text, 'dn_http_requests_total', { ...routeOf, status: '200' }) - shown, 3);
    assert.ok(sampled(text, 'dn_http_requests_total', { ...routeOf, status: '401' }) >= 1);
    assert.ok(sampled(text, 'dn_http_request_duration_seconds_count', routeOf) >= 4);
    assert.equal(deliveredCounted(text), RECIPIENTS + 1, 'every delivered webhook counted once, the retry too');
    assert.ok(sampled(text, 'dn_webhook_events_total', { event: 'delivered', result: 'duplicate' }) >= 1, 'the retry is a duplicate');
    const { rows } = await file.h.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM mailgun_events WHERE campaign_id = $1 AND event = 'delivered'`, [campaignId]);
    assert.equal(rows[0]?.n, RECIPIENTS, 'each delivery recorded once, by webhook or reconciliation');
    assert.equal(sampled(text, 'dn_webhook_events_total', { result: 'refused' }), 1);
    assert.equal(sampled(text, 'dn_unsubscribes_total', { source: 'one-click' }), 1);
    assert.equal(sampled(text, 'dn_http_requests_total', { route: '/u/:token', method: 'POST', status: '200' }), 1);
    assert.doesNotMatch(text, /route="\/campaigns\/\d|route="\/u\/[^:]/, 'routes as registered, never a path');
    // Read from Aurora at the scrape: the send is over, nothing waits for an operator.
    assert.ok(sampled(text, 'dn_campaigns', { status: 'needs-attention' }) === 0);
    assert.ok(sampled(text, 'dn_campaigns') >= 1);
    assert.ok(/^dn_analytics_projection_lag_seconds \d/m.test(text));
    assert.ok(/^dn_financial_previous_month_sent 0$/m.test(text), 'no statements went out this month');
  });

  test('every metric the alert rules and the Grafana dashboard use is one the processes serve', () => {
    // A family is served once declared (# TYPE), whether or not it has a sample yet (no 429 came, say).
    const text = `${scraped.worker ?? assert.fail('worker scraped')}\n${scraped.api ?? assert.fail('API scraped')}`;
    const served = new Set([...text.matchAll(/^(?:# TYPE )?([a-zA-Z_:][\w:]*)/gm)].map((m) => m[1]));
    const rules = parse(readFileSync('docker/prometheus/alerts.yml', 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
    const dashboard = JSON.parse(readFileSync('docker/grafana/dashboards/campaigns.json', 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    const queries = [
      ...rules.groups.flatMap((g) => g.rules.map((r) => [`alert ${r.alert}`, r.expr] as const)),
      ...dashboard.panels.flatMap((p) => p.targets.map((t) => [`panel "${p.title}"`, t.expr] as const)),
    ];
    assert.ok(queries.length >= 20);
    for (const [where, expr] of queries) {
      for (const name of expr.match(/\b(?:dn|temporal)_\w+/g) ?? []) {
        // A histogram is served as its _bucket, _sum and _count series.
        assert.ok(served.has(name.replace(/_(bucket|sum|count)$/, '')) || served.has(name), `${where} uses ${name}, which no process serves`);
      }
    }
  });

  test('/ready checks PostgreSQL, Temporal and Firestore, and names what does not answer without saying why', async () => {
    const ready = await fetch(`${api.url}/ready`);
    assert.deepEqual([ready.status, await ready.json()], [200, { ready: true, checks: { postgres: 'ok', temporal: 'ok', firestore: 'ok' } }]);

    const closed = await freePort();
    const config = loadConfig({ ...file.h.env, API_KEYS: `ops:admin:${KEY}`, API_PORT: '0', DATABASE_URL: `postgres://nobody:secret@127.0.0.1:${closed}/none` });
    const broken = await openApiServer(config, pino({ level: 'silent' }));
    try {
      const answer = await fetch(`${broken.url}/ready`);
      const body = await answer.text();
      assert.equal(answer.status, 503);
      assert.deepEqual(JSON.parse(body), { ready: false, checks: { postgres: 'unavailable', temporal: 'ok', firestore: 'ok' } });
      assert.doesNotMatch(body, /ECONNREFUSED|secret|127\.0\.0\.1/);
      assert.equal((await fetch(`${broken.url}/health`)).status, 200, 'alive all the same');
    } finally {
      await broken.stop();
    }
  });
});
