import Mailgun from 'mailgun.js';
import type { Interfaces, MailgunMessageData } from 'mailgun.js/definitions';
import type { SeedProfile } from '../../local-stack/seed.js';

/**
 * The raw baseline of `bench:send`: what mailgun.js alone achieves against the
 * same Mailgun-compatible server, with no Temporal, Postgres or worker involved.
 *
 * It sends the seeded recipients in batches of `batchSize` with the message
 * shape the pipeline sends (see `createMailgunGateway().sendBatch` in
 * activities/mailgun.ts and `buildMessage` in activities/mail.ts): the same
 * from/subject/html/text, `recipient-variables` with name/user_id/custom_id per
 * recipient, and the `v:campaign_id` and `v:dn_batch` user variables. At most
 * `window` `client.messages.create` calls are in flight at once; a new one
 * starts as soon as any answers (a sliding window, as the workflow keeps
 * `window` sendBatch activities running). Each batch's fields, including the
 * `recipient-variables` JSON, are built inside the timed region, as the pipeline
 * builds them per batch. Any failed request fails the baseline: there are no
 * retries, so a figure is only ever printed for a clean run.
 *
 * `to` is one field holding the address list, as the pipeline sends it; with
 * `toField: 'per-recipient'` it is a form field per recipient instead, the
 * shape the pipeline sent before (a request of ~1,000 parts), for comparison
 * with earlier figures.
 *
 * Recipients/s is measured from the first request to the last response.
 */

/** `v:campaign_id` of the baseline's messages, so delivery reports per campaign never mix them with the pipeline's. */
export const RAW_BASELINE_CAMPAIGN_ID = 'raw-baseline';

export interface MailgunTarget {
  url: string;
  apiKey: string;
  domain: string;
  timeoutMs: number;
}

export interface MessageContent {
  from: string;
  subject: string;
  html: string;
  text: string;
}

export interface RawBaselineOptions {
  /** Recipients per request. Default 1000, Mailgun's maximum. */
  batchSize?: number;
  /** Requests in flight at once. */
  window: number;
  /** How `to` is sent: one field with the address list (the pipeline's), or a field per recipient (before). */
  toField?: 'list' | 'per-recipient';
}

export interface RawBaselineResult {
  recipients: number;
  requests: number;
  seconds: number;
  recipientsPerSecond: number;
}

/** The client exactly as activities/mailgun.ts constructs it. */
function createClient(target: MailgunTarget): Interfaces.IMailgunClient {
  return new Mailgun(FormData).client({ username: 'api', key: target.apiKey, url: target.url, timeout: target.timeoutMs });
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, k) => items.slice(k * size, (k + 1) * size));
}

/**
 * One batch's request fields, in the order the pipeline's gateway writes them.
 * seedUsers inserts users 1..N into an empty table, so profile k has user id k + 1.
 */
function batchFields(
  content: MessageContent,
  batch: ReadonlyArray<{ profile: SeedProfile; userId: number }>,
  batchNo: number,
  toField: 'list' | 'per-recipient',
): MailgunMessageData {
  const to = batch.map(({ profile }) => profile.email);
  const recipientVariables = Object.fromEntries(
    batch.map(({ profile, userId }) => [profile.email, { name: profile.name, user_id: String(userId), custom_id: profile.customId }]),
  );
  return {
    from: content.from,
    to: toField === 'list' ? to.join(', ') : to,
    subject: content.subject,
    html: content.html,
    text: content.text,
    'recipient-variables': JSON.stringify(recipientVariables),
    'v:campaign_id': RAW_BASELINE_CAMPAIGN_ID,
    'v:dn_batch': `${RAW_BASELINE_CAMPAIGN_ID}:${batchNo}`,
  };
}

/** Runs `send` over every item with at most `window` calls in flight, starting the next as soon as one ends. */
async function slidingWindow<T>(items: readonly T[], window: number, send: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      await send(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, items.length) }, lane));
}

/** Pushes every profile through mailgun.js once and reports recipients/s; see the module comment. */
export async function runRawBaseline(
  target: MailgunTarget,
  profiles: readonly SeedProfile[],
  content: MessageContent,
  { batchSize = 1000, window, toField = 'list' }: RawBaselineOptions,
): Promise<RawBaselineResult> {
  const client = createClient(target);
  const batches = chunk(
    profiles.map((profile, k) => ({ profile, userId: k + 1 })),
    batchSize,
  );
  const started = performance.now();
  await slidingWindow(batches, window, async (batch, index) => {
    await client.messages.create(target.domain, batchFields(content, batch, index + 1, toField));
  });
  const seconds = (performance.now() - started) / 1000;
  return { recipients: profiles.length, requests: batches.length, seconds, recipientsPerSecond: profiles.length / seconds };
}
