import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { parseApiKeys, SCOPES } from '../api/keys.js';
import { pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Client } from '@temporalio/client';
import {
  BATCH_RESOLUTIONS,
  CAMPAIGN_STATUSES,
  CAMPAIGN_TYPES,
  SUBSCRIPTION_STATUSES,
  type BatchResolution,
} from '../common/campaign.js';
import { migrate } from '../db/migrate.js';
import { createPool } from '../db/pool.js';
import { ConfigError, financialRunOptions, lifecycleOptions, loadConfig, senderDomains, type Config } from '../worker/config.js';
import { AnalyticsClient } from './analytics.js';
import { CampaignClient, CampaignError } from './campaigns.js';
import { FinancialSchedules } from './schedules.js';
import { connectClient, registerSearchAttributes } from './temporal.js';
import { watchSend, type WatchEnd } from './watch.js';
import {
  InvalidInputError,
  type AnalyticsRangeInput,
  type CampaignChangesInput,
  type ListCampaignsInput,
  type ListSuppressionsInput,
  type ListUsersInput,
  type NewCampaignInput,
  type SendOptionsInput,
} from './validation.js';

/** `dn-campaigns`: create campaigns and steer them from a shell. Prints JSON on stdout. */

/** Who runs the CLI, as idempotency scopes name callers. */
function cliCaller(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli:unknown';
  }
}

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer, got "${value}"`);
    return n;
  };
}

function nonNegativeInt(name: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`${name} must be a whole number, got "${value}"`);
  return n;
}

function reportPeriod(value: string): { reportYear: number; reportMonth: number } {
  const match = /^(\d{4})-(\d{2})$/.exec(value);
  if (!match) throw new InvalidArgumentError(`--report-month must look like 2025-08, got "${value}"`);
  return { reportYear: Number(match[1]), reportMonth: Number(match[2]) };
}

function print(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

interface Session {
  config: Config;
  campaigns: CampaignClient;
  analytics: AnalyticsClient;
  /** Set when the command asked for Temporal. */
  temporal: Client | undefined;
}

/** Opens the database and (unless only Aurora is read) Temporal, and always closes them. */
async function withSession<T>(needsTemporal: boolean, run: (session: Session) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const pool = createPool(config.DATABASE_URL, 2);
  let temporal: Client | undefined;
  try {
    temporal = needsTemporal ? await connectClient(config) : undefined;
    const campaigns = new CampaignClient({
      pool,
      ...(temporal ? { temporal } : {}),
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      lifecycle: lifecycleOptions(config),
      senderDomains: senderDomains(config),
      previewDomains: config.PREVIEW_ALLOWED_DOMAINS,
      actor: { name: cliCaller() },
    });
    return await run({ config, campaigns, analytics: new AnalyticsClient({ pool }), temporal });
  } finally {
    await temporal?.connection.close();
    await pool.end();
  }
}

/** Options create and configure share: content, audience, period, test addresses, send time. */
interface DraftOptions {
  name?: string;
  type?: string;
  subject?: string;
  html?: string;
  htmlFile?: string;
  text?: string;
  textFile?: string;
  from?: string;
  subscriptionStatus?: string[];
  emailType?: string;
  limit?: number;
  reportMonth?: { reportYear: number; reportMonth: number };
  testAddress?: string[];
  sendAt?: string;
}

function withDraftOptions(command: Command): Command {
  return command
    .option('--subject <subject>', 'email subject')
    .option('--html <html>', 'HTML body (Mailgun %recipient.name% variables allowed)')
    .option('--html-file <path>', 'read the HTML body from a file')
    .option('--text <text>', 'plain-text body')
    .option('--text-file <path>', 'read the plain-text body from a file')
    .option('--from <from>', 'From header (default: MAILGUN_FROM)')
    .option('--subscription-status <status...>', `accepted subscription statuses (${SUBSCRIPTION_STATUSES.join(', ')})`)
    .option('--email-type <type>', 'only users who accept this email type')
    .option('--limit <n>', 'at most this many recipients', positiveInt('--limit'))
    .option('--report-month <yyyy-mm>', 'the report period of a financial campaign', reportPeriod)
    .option('--test-address <email...>', 'where previews go')
    .option('--send-at <iso>', 'when approval should send, e.g. 2026-12-01T09:00:00Z');
}

function bodies(opts: DraftOptions): { html?: string; text?: string } {
  const html = opts.htmlFile ? readFileSync(opts.htmlFile, 'utf8') : opts.html;
  const text = opts.textFile ? readFileSync(opts.textFile, 'utf8') : opts.text;
  return { ...(html === undefined ? {} : { html }), ...(text === undefined ? {} : { text }) };
}

/** Only the filters given; the client's schema names any bad value (an unknown status, say). */
function audienceOf(opts: DraftOptions): NewCampaignInput['audience'] {
  return {
    ...(opts.subscriptionStatus ? { subscriptionStatuses: opts.subscriptionStatus as never } : {}),
    ...(opts.emailType === undefined ? {} : { emailType: opts.emailType }),
    ...(opts.limit === undefined ? {} : { limit: opts.limit }),
  };
}

function campaignFromOptions(opts: DraftOptions & { name: string; type: string }): NewCampaignInput {
  const { html, text } = bodies(opts);
  const hasContent = opts.subject !== undefined || html !== undefined || text !== undefined;
  return {
    name: opts.name,
    type: opts.type as NewCampaignInput['type'],
    ...(hasContent ? { content: { subject: opts.subject ?? '', html, text, from: opts.from } } : {}),
    audience: audienceOf(opts),
    ...opts.reportMonth,
    ...(opts.testAddress ? { testAddresses: opts.testAddress } : {}),
    ...(opts.sendAt === undefined ? {} : { sendAt: opts.sendAt }),
  };
}

function changesFromOptions(opts: DraftOptions): CampaignChangesInput {
  const audience = audienceOf(opts);
  return {
    ...(opts.name === undefined ? {} : { name: opts.name }),
    ...(opts.type === undefined ? {} : { type: opts.type as CampaignChangesInput['type'] }),
    ...(opts.subject === undefined ? {} : { subject: opts.subject }),
    ...(opts.from === undefined ? {} : { from: opts.from }),
    ...bodies(opts),
    ...(audience && Object.keys(audience).length > 0 ? { audience } : {}),
    ...opts.reportMonth,
    ...(opts.testAddress ? { testAddresses: opts.testAddress } : {}),
    ...(opts.sendAt === undefined ? {} : { sendAt: opts.sendAt }),
  };
}

function sendTuning(opts: { batchSize?: number; window?: number; rate?: number }): SendOptionsInput {
  return {
    ...(opts.batchSize === undefined ? {} : { batchSize: opts.batchSize }),
    ...(opts.window === undefined ? {} : { window: opts.window }),
    ...(opts.rate === undefined ? {} : { ratePerSecond: opts.rate }),
  };
}

/**
 * Follows a campaign's send on stdout until it is over (a progress bar on a terminal, JSON lines
 * otherwise). Ctrl-C stops watching, never the campaign.
 */
async function follow(campaigns: CampaignClient, id: string): Promise<WatchEnd> {
  const stop = new AbortController();
  const interrupt = () => stop.abort();
  process.once('SIGINT', interrupt);
  try {
    const end = await watchSend(() => campaigns.progress(id), { out: process.stdout, signal: stop.signal });
    if (end.how === 'stopped') process.stderr.write(`\nStopped watching; campaign ${id} goes on (dn-campaigns campaign watch ${id} follows it again).\n`);
    return end;
  } finally {
    process.off('SIGINT', interrupt);
  }
}

function withSendTuning(command: Command): Command {
  return command
    .option('--batch-size <n>', 'recipients per Mailgun call (max 1000)', positiveInt('--batch-size'))
    .option('--window <n>', 'batches in flight at once', positiveInt('--window'))
    .option('--rate <n>', "this campaign's own ceiling in messages per second (its domain's budget applies anyway)", positiveInt('--rate'));
}

export function buildProgram(): Command {
  const program = new Command('dn-campaigns')
    .description('Distro Nation campaign pipeline: create campaigns and steer them from draft to archive')
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nCampaign commands: campaign create | configure | preview-audience | generate-content | preview | approve | send |' +
        ' show | list | progress | watch | pause | resume | cancel | retry-failed | resolve-batch (see campaign --help)',
    );

  const campaign = program.command('campaign').description('create campaigns and steer them from draft to archive');

  withDraftOptions(
    campaign
      .command('create')
      .description('create a draft (and its lifecycle workflow campaign-<id>); prints its id')
      .requiredOption('--name <name>', 'campaign name')
      .requiredOption('--type <type>', `one of ${CAMPAIGN_TYPES.join(', ')}`),
  )
    .option('--idempotency-key <key>', 'the same key never creates a second campaign')
    .action(async (opts: DraftOptions & { name: string; type: string; idempotencyKey?: string }) => {
      const id = await withSession(true, ({ campaigns }) =>
        campaigns.create(campaignFromOptions(opts), opts.idempotencyKey === undefined ? {} : { idempotency: { caller: cliCaller(), key: opts.idempotencyKey } }),
      );
      print({ campaignId: id });
    });

  withDraftOptions(
    campaign
      .command('configure <campaignId>')
      .description('edit a draft; --expected-version is the configVersion you last saw (a stale one is refused)')
      .requiredOption('--expected-version <n>', 'the configVersion you last saw', positiveInt('--expected-version'))
      .option('--name <name>', 'campaign name')
      .option('--type <type>', `one of ${CAMPAIGN_TYPES.join(', ')}`),
  ).action(async (id: string, opts: DraftOptions & { expectedVersion: number }) => {
    print(
      await withSession(true, ({ campaigns }) =>
        campaigns.configure(id, { expectedVersion: opts.expectedVersion, changes: changesFromOptions(opts) }),
      ),
    );
  });

  campaign
    .command('preview-audience <campaignId>')
    .description('how many recipients the filters select now, and a few of their ids')
    .action(async (id: string) => print(await withSession(true, ({ campaigns }) => campaigns.previewAudience(id))));

  campaign
    .command('generate-content <campaignId>')
    .description('draft subject and body with AI (OpenAI, or the local stand-in of npm start)')
    .option('--prompt <text>', 'what the email should say')
    .option('--model <model>', 'chat model (default: OPENAI_MODEL)')
    .action(async (id: string, opts: { prompt?: string; model?: string }) => {
      print(await withSession(true, ({ campaigns }) => campaigns.generateContent(id, opts)));
    });

  campaign
    .command('preview <campaignId>')
    .description('send the current content to the test addresses only')
    .action(async (id: string) => print(await withSession(true, ({ campaigns }) => campaigns.preview(id))));

  withSendTuning(
    campaign
      .command('approve <campaignId>')
      .description('freeze content and audience and send now, or at --send-at')
      .option('--send-at <iso>', 'send later, e.g. 2026-12-01T09:00:00Z')
      .option('--expected-version <n>', 'the configuration version you reviewed (campaign show): refused if the draft changed since', positiveInt('--expected-version'))
      .option('--wait', 'then follow the send until it is over (a progress bar on a terminal; Ctrl-C stops watching, not the send)'),
  ).action(async (id: string, opts: { sendAt?: string; expectedVersion?: number; batchSize?: number; window?: number; rate?: number; wait?: boolean }) => {
    const send = sendTuning(opts);
    await withSession(true, async ({ campaigns }) => {
      print(
        await campaigns.approve(id, {
          ...(opts.sendAt === undefined ? {} : { sendAt: opts.sendAt }),
          ...(opts.expectedVersion === undefined ? {} : { expectedVersion: opts.expectedVersion }),
          ...(Object.keys(send).length ? { send } : {}),
        }),
      );
      if (opts.wait) await follow(campaigns, id);
    });
  });

  withSendTuning(campaign.command('send <campaignId>').description('approve and send now: the send is workflow campaign-send-<id>'))
    .option('--wait', 'follow the send until it is over (a progress bar on a terminal, JSON lines otherwise), then print its result; Ctrl-C stops watching, not the send')
    .action(async (id: string, opts: { batchSize?: number; window?: number; rate?: number; wait?: boolean }) => {
      await withSession(true, async ({ campaigns }) => {
        print(await campaigns.startSend(id, sendTuning(opts)));
        if (opts.wait && (await follow(campaigns, id)).how === 'over') print(await campaigns.result(id));
      });
    });

  campaign
    .command('watch <campaignId>')
    .description("follow a send live: sent / total, rate, ETA, parked and unknown batches, paused (from Aurora); Ctrl-C stops watching, never the campaign")
    .action(async (id: string) => {
      await withSession(false, async ({ campaigns }) => {
        await follow(campaigns, id);
      });
    });

  const liveOption = () => new Option('--live', "ask the running workflow (a Temporal query) instead of Aurora");
  campaign
    .command('show <campaignId>')
    .description('the campaign, its Aurora stats and ledger, failed recipients, transitions, audit and retry rounds (with --live, the lifecycle state too)')
    .addOption(liveOption())
    .action(async (id: string, opts: { live?: boolean }) =>
      print(await withSession(opts.live === true, ({ campaigns }) => campaigns.get(id, { live: opts.live === true }))),
    );

  campaign
    .command('progress <campaignId>')
    .description('total, sent, failed, in flight, paused, parked and unknown batches, and the sending rate (from Aurora unless --live)')
    .addOption(liveOption())
    .action(async (id: string, opts: { live?: boolean }) =>
      print(await withSession(opts.live === true, ({ campaigns }) => campaigns.progress(id, { live: opts.live === true }))),
    );

  campaign
    .command('list')
    .description('campaigns, newest first')
    .addOption(new Option('--status <status>', 'only this status').choices(CAMPAIGN_STATUSES))
    .addOption(new Option('--type <type>', 'only this type').choices(CAMPAIGN_TYPES))
    .option('--limit <n>', 'per page (max 100)', positiveInt('--limit'))
    .option('--cursor <id>', "the previous page's nextCursor")
    .action(async (opts: ListCampaignsInput) => print(await withSession(false, ({ campaigns }) => campaigns.list(opts))));

  for (const [name, description] of [
    ['pause', 'stop starting new batches; in-flight batches finish'],
    ['resume', 'continue a paused send'],
    ['cancel', 'stop the campaign for good (while sending, once in-flight batches land)'],
  ] as const) {
    campaign
      .command(`${name} <campaignId>`)
      .description(description)
      .action(async (id: string) => print(await withSession(true, ({ campaigns }) => campaigns[name](id))));
  }

  withSendTuning(
    campaign
      .command('retry-failed <campaignId>')
      .description(
        'send again to the recipients whose part failed for a reason that may since have been fixed, and only them: those a failed send ' +
          'never reached, and temporary failures Mailgun reported (README, "Retrying failed recipients")',
      ),
  )
    .option('--reason-like <text>', 'only failures whose reason contains this text (case-insensitive)')
    .option('--temporary-after <minutes>', 'temporary failures count once this old (default 480: Mailgun retries them itself for 8 hours)', (v) =>
      nonNegativeInt('--temporary-after', v),
    )
    .option('--dry-run', 'count who would be retried, and why, without sending')
    .option('--wait', "then wait for the round's send to end and print its result")
    .action(
      async (
        id: string,
        opts: { reasonLike?: string; temporaryAfter?: number; dryRun?: boolean; wait?: boolean; batchSize?: number; window?: number; rate?: number },
      ) => {
        await withSession(true, async ({ campaigns }) => {
          const send = sendTuning(opts);
          const started = await campaigns.retryFailed(id, {
            ...(opts.reasonLike === undefined ? {} : { reasonLike: opts.reasonLike }),
            ...(opts.temporaryAfter === undefined ? {} : { temporaryAfterMinutes: opts.temporaryAfter }),
            ...(opts.dryRun ? { dryRun: true } : {}),
            ...(Object.keys(send).length > 0 ? { send } : {}),
          });
          print(started);
          if (opts.wait && !started.dryRun) print(await campaigns.retryResult(id, started.round));
        });
      },
    );

  campaign
    .command('resolve-batch <campaignId> <batchNo>')
    .description("settle a batch whose outcome Mailgun's logs could not prove (see progress.unknownBatches)")
    .addOption(
      new Option('--as <resolution>', 'accepted: Mailgun did take it (count as sent); resend: it did not (send it again)')
        .choices(BATCH_RESOLUTIONS)
        .makeOptionMandatory(),
    )
    .action(async (id: string, batchNo: string, opts: { as: BatchResolution }) => {
      const batch = nonNegativeInt('batchNo', batchNo);
      print(await withSession(true, ({ campaigns }) => campaigns.resolveBatch(id, batch, opts.as)));
    });

  campaign
    .command('analytics <campaignId>')
    .description("counters and rates from Mailgun's events (webhooks and reconciliation)")
    .action(async (id: string) => print(await withSession(false, ({ analytics }) => analytics.campaign(id))));

  program
    .command('analytics')
    .description('totals and rates over the campaigns whose send started in [from, to) (default: the last 30 days)')
    .option('--from <iso>', 'e.g. 2026-11-01T00:00:00Z')
    .option('--to <iso>', 'e.g. 2026-12-01T00:00:00Z')
    .addOption(new Option('--type <type>', 'only this campaign type').choices(CAMPAIGN_TYPES))
    .action(async (opts: AnalyticsRangeInput) => print(await withSession(false, ({ analytics }) => analytics.summary(opts))));

  const suppressions = program.command('suppressions').description('addresses no stream reaches: bounced, or refused by Mailgun');
  suppressions
    .command('list')
    .description('suppressed users, in id order')
    .option('--reason <reason>', 'only this reason (unsubscribed, complained, bounced, …)')
    .option('--limit <n>', 'per page (max 1000)', positiveInt('--limit'))
    .option('--cursor <id>', "the previous page's nextCursor")
    .action(async (opts: ListSuppressionsInput) => print(await withSession(false, ({ analytics }) => analytics.suppressions(opts))));
  suppressions
    .command('lift <user>')
    .description('let a user (id or email address) receive campaigns again after a bounce or a complaint (their unsubscribes stay)')
    .requiredOption('--reason <why>', 'why: kept in the audit log')
    .action(async (user: string, opts: { reason: string }) =>
      print(await withSession(false, ({ analytics }) => analytics.liftSuppression(user, { reason: opts.reason, actor: { name: cliCaller() } }))),
    );

  program
    .command('api-key')
    .description('API keys (README, "API keys and scopes")')
    .command('create')
    .description('a new random key: give the key to its holder, put the entry in API_KEYS_FILE (it holds only the hash)')
    .requiredOption('--name <name>', 'who holds it, e.g. crm (lower-case letters, digits and -)')
    .requiredOption('--scopes <list>', `comma-separated: ${SCOPES.join(', ')}`)
    .action((opts: { name: string; scopes: string }) => {
      const key = `dn_${randomBytes(24).toString('base64url')}`;
      const parsed = parseApiKeys(`${opts.name}:${opts.scopes}:${key}`);
      if ('problems' in parsed) throw new InvalidInputError(parsed.problems.map((p) => ({ field: 'api-key', message: p.replace(/^entry 1( \([^)]*\))?: /, '') })));
      print({ key, entry: parsed.keys[0] });
    });

  const financial = program
    .command('schedule')
    .description('the Temporal Schedules behind recurring runs')
    .command('financial')
    .description('the monthly financial run: every customer gets their report links for the month just closed');

  const withSchedules = <T>(run: (schedules: FinancialSchedules, config: Config) => Promise<T>): Promise<T> =>
    withSession(true, ({ config, temporal }) => {
      if (!temporal) throw new Error('schedule commands need Temporal');
      return run(new FinancialSchedules(temporal, config.TEMPORAL_TASK_QUEUE, financialRunOptions(config)), config);
    });

  financial
    .command('apply')
    .description('create the schedule, or update it in place (running it twice leaves one schedule)')
    .option('--day <n>', 'day of the month, 1-28 (default FINANCIAL_DAY_OF_MONTH)', positiveInt('--day'))
    .option('--hour <n>', 'hour, 0-23 (default FINANCIAL_HOUR)', (v) => nonNegativeInt('--hour', v))
    .option('--minute <n>', 'minute, 0-59 (default FINANCIAL_MINUTE)', (v) => nonNegativeInt('--minute', v))
    .option('--time-zone <tz>', 'IANA time zone (default FINANCIAL_TIME_ZONE)')
    .option('--note <text>', 'shown with the schedule in the Temporal UI')
    .action(async (opts: { day?: number; hour?: number; minute?: number; timeZone?: string; note?: string }) => {
      print(
        await withSchedules((schedules, config) =>
          schedules.upsert({
            dayOfMonth: opts.day ?? config.FINANCIAL_DAY_OF_MONTH,
            hour: opts.hour ?? config.FINANCIAL_HOUR,
            minute: opts.minute ?? config.FINANCIAL_MINUTE,
            timeZone: opts.timeZone ?? config.FINANCIAL_TIME_ZONE,
            catchupWindowMs: config.FINANCIAL_CATCHUP_WINDOW_MS,
            ...(opts.note === undefined ? {} : { note: opts.note }),
          }),
        ),
      );
    });
  financial.command('show').description('the schedule, its next and recent runs').action(async () => print(await withSchedules((s) => s.describe())));
  financial.command('pause').option('--note <text>').description('stop starting runs').action(async (o: { note?: string }) => print(await withSchedules((s) => s.pause(o.note))));
  financial.command('unpause').option('--note <text>').description('start runs again').action(async (o: { note?: string }) => print(await withSchedules((s) => s.unpause(o.note))));
  financial
    .command('trigger')
    .description('run now, for the month just closed (does nothing, and says so, if it already ran)')
    .action(async () => print(await withSchedules((s) => s.trigger())));
  financial
    .command('backfill')
    .description('run for each month from --from to --to (YYYY-MM), skipping months that already ran')
    .requiredOption('--from <yyyy-mm>', 'first report month')
    .requiredOption('--to <yyyy-mm>', 'last report month')
    .action(async (o: { from: string; to: string }) => print(await withSchedules((s) => s.backfill(o.from, o.to))));

  program
    .command('users')
    .description('active users, in id order (the CRM user list)')
    .addOption(new Option('--subscription-status <status>', 'only this subscription status').choices(SUBSCRIPTION_STATUSES))
    .option('--email-type <type>', 'only users who accept this email type')
    .option('--limit <n>', 'per page (max 1000)', positiveInt('--limit'))
    .option('--cursor <id>', "the previous page's nextCursor")
    .action(async (opts: ListUsersInput) => print(await withSession(false, ({ campaigns }) => campaigns.users(opts))));

  program
    .command('migrate')
    .description('apply pending Aurora migrations')
    .action(async () => {
      const config = loadConfig();
      print({ applied: await migrate(config.DATABASE_URL) });
    });

  program
    .command('register-search-attributes')
    .description('register CampaignId, CampaignType, CampaignStatus, CampaignMonth on a self-hosted Temporal namespace')
    .action(async () => {
      const config = loadConfig();
      const client = await connectClient(config);
      try {
        print({ registered: await registerSearchAttributes(client, config.TEMPORAL_NAMESPACE) });
      } finally {
        await client.connection.close();
      }
    });

  return program;
}

const KNOWN_ERRORS = [InvalidInputError, CampaignError, ConfigError];

export async function runCli(argv: string[]): Promise<number> {
  try {
    await buildProgram().exitOverride().parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof Error && 'exitCode' in error && typeof error.exitCode === 'number') return error.exitCode;
    if (KNOWN_ERRORS.some((kind) => error instanceof kind)) {
      console.error(`error: ${(error as Error).message}`);
      return 1;
    }
    console.error(error);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runCli(process.argv);
}
