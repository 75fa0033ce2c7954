/**
 * The load generator of bench:webhooks, run as its own process: posts `--events` signed Mailgun
 * webhooks (a tenth of them repeats of earlier events, re-signed as Mailgun's retries are) to
 * `--url` over at most `--connections` keep-alive connections, and prints one JSON line: the
 * answers, latencies, and the counters Aurora should end up with per campaign.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    key: { type: 'string' },
    events: { type: 'string', default: '100000' },
    connections: { type: 'string', default: '64' },
    campaigns: { type: 'string' },
    recipients: { type: 'string' },
    domain: { type: 'string', default: 'artists.example' },
    path: { type: 'string', default: '/webhooks/mailgun' },
  },
});
const total = Number(values.events);
const connections = Number(values.connections);
const campaignIds = (values.campaigns ?? '').split(',');
const recipients = Number(values.recipients);
const target = new URL(values.path, values.url);
const signingKey = values.key ?? '';
const runId = randomBytes(4).toString('hex');

interface Planned {
  id: string;
  event: string;
  campaignId: string;
  recipient: string;
  severity?: string;
}

/** Event i: mostly deliveries and opens, some clicks, a few failures; a tenth repeat an earlier event. */
function plan(count: number): Planned[] {
  const unique = Math.round(count * 0.9);
  const events: Planned[] = [];
  for (let i = 0; i < unique; i++) {
    const slot = i % 20;
    const event = slot < 8 ? 'delivered' : slot < 15 ? 'opened' : slot < 18 ? 'clicked' : slot === 18 ? 'failed' : 'complained';
    const user = 1 + ((i * 7919) % recipients);
    events.push({
      id: `${runId}-${i}`,
      event,
      campaignId: campaignIds[i % campaignIds.length] ?? '',
      recipient: `artist${String(user).padStart(7, '0')}@${values.domain}`,
      ...(event === 'failed' ? { severity: i % 40 === 18 ? 'permanent' : 'temporary' } : {}),
    });
  }
  // Repeats of earlier events arrive mixed in with first deliveries, as Mailgun's retries do.
  const repeats = count - unique;
  const every = Math.max(1, Math.floor(unique / Math.max(1, repeats)));
  const mixed: Planned[] = [];
  events.forEach((event, i) => {
    mixed.push(event);
    if (i > 0 && i % every === 0 && mixed.length - i - 1 < repeats) mixed.push(events[(i * 7919) % i] as Planned);
  });
  while (mixed.length < count) mixed.push(events[mixed.length % unique] as Planned);
  return mixed;
}

/** What Aurora's counters must say once every event is in, per campaign. */
function expected(events: Planned[]): Record<string, Record<string, number>> {
  const seen = new Set<string>();
  const firsts = new Set<string>();
  const counts: Record<string, Record<string, number>> = {};
  for (const e of events) {
    if (seen.has(e.id)) continue;
    seen.add(e.id);
    const c = (counts[e.campaignId] ??= { delivered: 0, opened: 0, uniqueOpened: 0, clicked: 0, uniqueClicked: 0, bounced: 0, temporaryFailed: 0, complained: 0 });
    const key = e.event === 'failed' ? (e.severity === 'permanent' ? 'bounced' : 'temporaryFailed') : e.event;
    c[key] = (c[key] ?? 0) + 1;
    if (e.event === 'opened' || e.event === 'clicked') {
      const first = `${e.campaignId}|${e.recipient}|${e.event}`;
      if (!firsts.has(first)) {
        firsts.add(first);
        const unique = e.event === 'opened' ? 'uniqueOpened' : 'uniqueClicked';
        c[unique] = (c[unique] ?? 0) + 1;
      }
    }
  }
  return counts;
}

function body(e: Planned): string {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const token = randomBytes(25).toString('hex');
  const signature = createHmac('sha256', signingKey).update(timestamp + token).digest('hex');
  return JSON.stringify({
    signature: { timestamp, token, signature },
    'event-data': {
      event: e.event,
      id: e.id,
      timestamp: Date.now() / 1000,
      recipient: e.recipient,
      'recipient-domain': values.domain,
      message: { headers: { 'message-id': `${e.id}@mg.example.com` } },
      'user-variables': { campaign_id: e.campaignId },
      tags: [],
      ...(e.severity ? { severity: e.severity, reason: e.severity === 'permanent' ? 'bounce' : 'generic' } : {}),
      ...(e.event === 'clicked' ? { url: 'https://distronation.com/royalties' } : {}),
    },
  });
}

const agent = new Agent({ keepAlive: true, maxSockets: connections });

function post(payload: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(target, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const events = plan(total);
const latencies = new Float64Array(events.length);
const statuses: Record<string, number> = {};
let next = 0;
const started = performance.now();
await Promise.all(
  Array.from({ length: connections }, async () => {
    for (let i = next++; i < events.length; i = next++) {
      const payload = body(events[i] as Planned);
      const t0 = performance.now();
      const status = await post(payload).catch(() => 0);
      latencies[i] = performance.now() - t0;
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
agent.destroy();
const sorted = [...latencies].sort((a, b) => a - b);
const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
console.log(
  JSON.stringify({
    events: events.length,
    duplicates: events.length - new Set(events.map((e) => e.id)).size,
    seconds,
    eventsPerSecond: events.length / seconds,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: sorted.at(-1) ?? 0,
    statuses,
    expected: expected(events),
  }),
);
