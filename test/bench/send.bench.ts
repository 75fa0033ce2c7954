/**
 * npm run bench:send [-- --users N] — one campaign end to end against the local
 * Mailgun-compatible server, with the worker as its own process.
 * Prints recipients/s (start of send to last accepted batch), the worker's peak
 * RSS, history events per run, and duplicates/missing (must both be 0).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { sendWorkflowId } from '../../common/campaign.js';
import { deliveryReport } from '../helpers/delivery.js';
import { startHarness } from '../helpers/harness.js';
import { seedUsers } from '../../local-stack/seed.js';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '100000' },
    window: { type: 'string', default: '8' },
    rate: { type: 'string', default: '1000000' },
    'batches-per-run': { type: 'string', default: '200' },
  },
});
const users = Number(values.users);
const window = Number(values.window);

function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

const h = await startHarness({ settings: { LOG_LEVEL: 'warn', WORKER_MAX_CONCURRENT_ACTIVITIES: String(window * 2) } });
try {
  const seedStart = Date.now();
  // Unmixed: every seeded user is eligible, so N users means N recipients.
  const profiles = await seedUsers(h.pool, users, { mixed: false });
  console.log(`seeded ${users} users in ${((Date.now() - seedStart) / 1000).toFixed(1)} s`);

  const worker = await h.spawnWorker();
  const pid = worker.process.pid ?? 0;
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, peakRssMb(pid))), 250);

  const campaignId = await h.campaigns.create({
    name: `bench ${users}`,
    type: 'newsletter',
    content: { subject: 'Your statement, %recipient.name%', html: '<p>Hello %recipient.name%</p>', text: 'Hello %recipient.name%' },
    audience: {},
  });
  const started = Date.now();
  await h.campaigns.startSend(campaignId, {
    batchSize: 1000,
    window,
    ratePerSecond: Number(values.rate),
    batchesPerRun: Number(values['batches-per-run']),
  });
  const result = await h.campaigns.result(campaignId);
  const finished = Date.now();
  peak = Math.max(peak, peakRssMb(pid));
  clearInterval(sampler);

  const lastAccepted = h.mailgun.accepted().reduce((latest, m) => Math.max(latest, m.acceptedAt), 0);
  const seconds = (lastAccepted - started) / 1000;
  const runs: number[] = [];
  for await (const run of h.temporal.workflow.list({ query: `WorkflowId = "${sendWorkflowId(campaignId)}"` })) {
    runs.push(run.historyLength);
  }
  const report = deliveryReport(h.mailgun, campaignId, profiles);
  await worker.stop();

  console.log(
    JSON.stringify(
      {
        recipients: result.total,
        sent: result.sent,
        failed: result.failed,
        secondsToLastAccepted: Number(seconds.toFixed(2)),
        recipientsPerSecond: Math.round(result.total / seconds),
        secondsToWorkflowResult: Number(((finished - started) / 1000).toFixed(2)),
        workerPeakRssMb: Math.round(peak),
        workflowRuns: runs.length,
        historyEventsPerRun: runs,
        duplicates: report.duplicates.length,
        missing: report.missing.length,
        unexpected: report.unexpected.length,
        machine: '2 cores, 24 GiB; all services on the same machine',
      },
      null,
      2,
    ),
  );
} finally {
  await h.stop();
}
