import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Client } from '@temporalio/client';
import {
  BATCH_RESOLUTIONS,
  CAMPAIGN_TYPES,
  SUBSCRIPTION_STATUSES,
  type BatchResolution,
  type SubscriptionStatus,
} from '../common/campaign.js';
import { migrate } from '../db/migrate.js';
import { createPool } from '../db/pool.js';
import { ConfigError, loadConfig, sendDefaults, type Config } from '../worker/config.js';
import { CampaignClient, CampaignError } from './campaigns.js';
import { connectClient, registerSearchAttributes } from './temporal.js';
import { InvalidInputError, type NewCampaignInput } from './validation.js';

/** `dn-campaigns`: create campaigns and steer their sends from a shell. Prints JSON on stdout. */

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

function print(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

interface Session {
  config: Config;
  campaigns: CampaignClient;
}

/** Opens the database and Temporal connections a command needs, and always closes them. */
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
      sendDefaults: sendDefaults(config),
    });
    return await run({ config, campaigns });
  } finally {
    await temporal?.connection.close();
    await pool.end();
  }
}

interface CreateOptions {
  name: string;
  type: string;
  subject?: string;
  html?: string;
  htmlFile?: string;
  text?: string;
  textFile?: string;
  from?: string;
  subscriptionStatus?: string[];
  emailType?: string;
  limit?: number;
}

function campaignFromOptions(opts: CreateOptions): NewCampaignInput {
  const html = opts.htmlFile ? readFileSync(opts.htmlFile, 'utf8') : opts.html;
  const text = opts.textFile ? readFileSync(opts.textFile, 'utf8') : opts.text;
  const hasContent = opts.subject !== undefined || html !== undefined || text !== undefined;
  return {
    name: opts.name,
    type: opts.type as NewCampaignInput['type'],
    ...(hasContent ? { content: { subject: opts.subject ?? '', html, text, from: opts.from } } : {}),
    audience: {
      // Checked by the client's schema, which names any unknown status.
      subscriptionStatuses: opts.subscriptionStatus as SubscriptionStatus[] | undefined,
      emailType: opts.emailType,
      limit: opts.limit,
    },
  };
}

export function buildProgram(): Command {
  const program = new Command('dn-campaigns')
    .description('Distro Nation campaign pipeline: create campaigns and steer their sends')
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nCampaign commands: campaign create | show | send | progress | pause | resume | cancel | resolve-batch (see campaign --help)',
    );

  const campaign = program.command('campaign').description('create, send and steer campaigns');

  campaign
    .command('create')
    .description('create a campaign with its content and audience filters; prints its id')
    .requiredOption('--name <name>', 'campaign name')
    .requiredOption('--type <type>', `one of ${CAMPAIGN_TYPES.join(', ')}`)
    .option('--subject <subject>', 'email subject')
    .option('--html <html>', 'HTML body (Mailgun %recipient.name% variables allowed)')
    .option('--html-file <path>', 'read the HTML body from a file')
    .option('--text <text>', 'plain-text body')
    .option('--text-file <path>', 'read the plain-text body from a file')
    .option('--from <from>', 'From header (default: MAILGUN_FROM)')
    .option('--subscription-status <status...>', `accepted subscription statuses (${SUBSCRIPTION_STATUSES.join(', ')})`)
    .option('--email-type <type>', 'only users who accept this email type')
    .option('--limit <n>', 'at most this many recipients', positiveInt('--limit'))
    .action(async (opts: CreateOptions) => {
      const id = await withSession(false, ({ campaigns }) => campaigns.create(campaignFromOptions(opts)));
      print({ campaignId: id });
    });

  campaign
    .command('show <campaignId>')
    .description('the campaign, its Aurora stats and its send ledger summary')
    .action(async (id: string) => print(await withSession(false, ({ campaigns }) => campaigns.get(id))));

  campaign
    .command('send <campaignId>')
    .description('start sending: workflow campaign-send-<id>')
    .option('--batch-size <n>', 'recipients per Mailgun call (max 1000)', positiveInt('--batch-size'))
    .option('--window <n>', 'batches in flight at once', positiveInt('--window'))
    .option('--rate <n>', 'messages per second', positiveInt('--rate'))
    .option('--wait', 'wait for the send to finish and print its result')
    .action(async (id: string, opts: { batchSize?: number; window?: number; rate?: number; wait?: boolean }) => {
      await withSession(true, async ({ campaigns }) => {
        const started = await campaigns.startSend(id, {
          ...(opts.batchSize === undefined ? {} : { batchSize: opts.batchSize }),
          ...(opts.window === undefined ? {} : { window: opts.window }),
          ...(opts.rate === undefined ? {} : { ratePerSecond: opts.rate }),
        });
        print(started);
        if (opts.wait) print(await campaigns.result(id));
      });
    });

  for (const [name, description] of [
    ['progress', 'total, sent, failed, in flight, paused?'],
    ['pause', 'stop starting new batches; in-flight batches finish'],
    ['resume', 'continue a paused send'],
    ['cancel', 'stop the send for good once in-flight batches finish'],
  ] as const) {
    campaign
      .command(`${name} <campaignId>`)
      .description(description)
      .action(async (id: string) => print(await withSession(true, ({ campaigns }) => campaigns[name](id))));
  }

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

  program
    .command('migrate')
    .description('apply pending Aurora migrations')
    .action(async () => {
      const config = loadConfig();
      print({ applied: await migrate(config.DATABASE_URL) });
    });

  program
    .command('register-search-attributes')
    .description('register CampaignId, CampaignType, CampaignStatus on a self-hosted Temporal namespace')
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
