import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import busboy from 'busboy';
import { closeServer, drainThen, isPlainObject, listen, PendingDelays, readJson, respondJson } from './http.js';
import { WebhookSender, type WebhookStats, type WebhookTarget } from './mailgun-webhooks.js';

export type { WebhookStats } from './mailgun-webhooks.js';

/**
 * A Mailgun-compatible HTTP stand-in, with scripted and seeded-random fault injection on sends, scripted
 * engagement events and signed webhooks.
 *
 * - `POST /v3/:domain/messages`: send (multipart or urlencoded, as mailgun.js sends it). Validated like Mailgun:
 *   every `to` address (bare, `Name <addr>`, or comma-separated lists of those) must be a valid mailbox, at most
 *   1000 recipients, `recipient-variables` a JSON object. `o:testmode=yes` accepts and logs the message without
 *   delivering it: it shows in the events and Logs APIs (`flags['is-test-mode']`), not in `accepted()` or the counts.
 * - `GET /v3/:domain/events[/:pageToken]`: the deprecated events API (`begin`/`end`, `ascending`, `limit`,
 *   `recipient`, `message-id`, `event` as a name or `a OR b`, `severity`); pages through `paging.next` URLs.
 * - `POST /v1/analytics/logs`: the Logs API, with the JSON body mailgun.js's `logs.list()` sends: `start` (required)
 *   and `end` as RFC 2822 dates, `events`, `filter.AND` on `domain`, `recipient` or `message-id` with `=` or `!=`,
 *   `pagination: { sort: 'timestamp:asc' | 'timestamp:desc', limit, token }` (`pagination.next` is the next token).
 *   Items carry `user-variables` as a JSON string.
 *
 * All endpoints require HTTP Basic auth `api:KEY`. Every accepted recipient is an `accepted` event; what happened
 * next (`delivered`, `opened`, `clicked`, `unsubscribed`, `complained`, `failed`) is scripted with
 * `recordEngagement`, and inherits the user variables of its message. Both event APIs list all of them in time
 * order. Like Mailgun's eventually consistent store, they show an event only `eventsLagMs` after it was recorded
 * (default 0), while `accepted()`, `acceptedCount`, `countsByRecipient()` and `engagementEvents()` are the
 * immediate ground truth. With `configureWebhooks`, recorded events are also POSTed, signed, to a URL (see
 * mailgun-webhooks.ts).
 */

export interface MailgunServerOptions {
  /** Password expected in HTTP Basic auth (`api:KEY`). Default `'test-key'`. */
  apiKey?: string;
  /** Default `'127.0.0.1'`. */
  host?: string;
  /** Default 0 (a free port chosen by the OS). */
  port?: number;
  /**
   * How long after it was recorded an event (an acceptance, an engagement) becomes visible to the events and Logs
   * APIs, like Mailgun's eventually consistent event store. Default 0 (immediately). See `setEventsLag`.
   */
  eventsLagMs?: number;
}

export type Fault =
  | { kind: 'rate-limit'; retryAfterSeconds?: number }
  | { kind: 'server-error'; status?: number }
  | { kind: 'slow'; delayMs: number }
  | { kind: 'accept-then-drop' }
  | { kind: 'reject'; status?: number; message?: string };

export type FaultKind = Fault['kind'];

/** Per-request probabilities (0..1, summing to at most 1), drawn from a PRNG seeded with `seed`. */
export interface RandomFaultConfig {
  rateLimit?: number;
  serverError?: number;
  acceptThenDrop?: number;
  slow?: number;
  /** Delay used for random `slow` faults. Default 200. */
  slowDelayMs?: number;
  /** Retry-After used for random `rate-limit` faults. Default 1. */
  retryAfterSeconds?: number;
  /** Default 1. */
  seed?: number;
}

export interface AcceptedMessage {
  readonly recipient: string;
  readonly domain: string;
  /** The id returned by the send call, angle brackets included: `<2026...@domain>`. */
  readonly messageId: string;
  readonly from: string;
  readonly subject: string;
  readonly text?: string | undefined;
  readonly html?: string | undefined;
  /** The request's `v:` fields, prefix stripped. Shared by every recipient of the request. */
  readonly variables: Readonly<Record<string, string>>;
  /** This recipient's own entry in `recipient-variables`, if any. */
  readonly recipientVariables: Readonly<Record<string, unknown>> | undefined;
  /**
   * The request's `h:` headers, prefix stripped, as this recipient's copy carries them: each
   * `%recipient.name%` replaced by this recipient's variable (as Mailgun does; empty if they have none).
   */
  readonly headers: Readonly<Record<string, string>>;
  /** The request's `o:tag` values, in order. */
  readonly tags: readonly string[];
  /** The request's other `o:` options, prefix stripped (e.g. `tracking-clicks`). */
  readonly options: Readonly<Record<string, string>>;
  /** Epoch milliseconds. */
  readonly acceptedAt: number;
}

export type EngagementKind = 'delivered' | 'opened' | 'clicked' | 'unsubscribed' | 'complained' | 'failed';
/** Every event kind this stand-in records. */
export type MailgunEventKind = 'accepted' | EngagementKind;
export type FailureSeverity = 'permanent' | 'temporary';

/** What `recordEngagement` records: something that happened to an accepted (not test-mode) message. */
export interface EngagementSpec {
  /** Must have an accepted, non-test-mode message (compared case-insensitively). */
  recipient: string;
  event: EngagementKind;
  /** Only for `failed`; default `'permanent'`. */
  severity?: FailureSeverity;
  /** Only for `clicked`; default `'https://example.com/'`. */
  url?: string;
  /** Only for `failed`, e.g. `'bounce'` or `'generic'`; default `'bounce'` if permanent, else `'generic'`. */
  reason?: string;
  /** Which message to this recipient, with or without angle brackets; default the latest one. */
  messageId?: string;
}

/** One event as recorded; the same `id` shows in both event APIs and in webhooks. */
export interface MailgunEvent {
  readonly id: string;
  readonly event: MailgunEventKind;
  /** Epoch seconds, fractional, like Mailgun's `timestamp`. */
  readonly timestamp: number;
  /** As sent. */
  readonly recipient: string;
  /** The message's Message-Id without angle brackets, as Mailgun's events report it. */
  readonly messageId: string;
  /** The message's `v:` variables. */
  readonly userVariables: Readonly<Record<string, unknown>>;
  /** `failed` only. */
  readonly severity?: FailureSeverity;
  /** `failed` only. */
  readonly reason?: string;
  /** `clicked` only. */
  readonly url?: string;
}

export interface WebhookConfig {
  /** Where to POST. */
  url: string;
  /** Mailgun's "HTTP webhook signing key". */
  signingKey: string;
  /** Which event kinds are posted; default every engagement kind (not `accepted`). */
  events?: ReadonlyArray<MailgunEventKind>;
  /** True: this event is never posted (a lost webhook), counted as dropped. Must not throw. */
  drop?: (event: MailgunEvent) => boolean;
  /** Delays between attempts; default [200, 1000, 3000]. (Real Mailgun waits minutes to hours.) */
  retryDelaysMs?: readonly number[];
  /** Max POSTs in flight; default 8. */
  concurrency?: number;
}

export interface MailgunServer {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** `http://host:port`; throws before `start()`. */
  readonly url: string;
  readonly apiKey: string;
  /**
   * Every accepted recipient, in acceptance order. Materialised lazily; prefer `acceptedCount` for polling.
   * Immediate (not subject to `eventsLagMs`); test-mode sends are not deliveries and never appear here.
   */
  accepted(): readonly AcceptedMessage[];
  /** Number of accepted recipients (cheap). Excludes test mode. */
  readonly acceptedCount: number;
  /** A fresh copy: recipient address (as sent) → number of times it was accepted. Excludes test mode. */
  countsByRecipient(): Map<string, number>;
  /** HTTP requests received on the messages endpoint, whatever their outcome. */
  readonly requests: number;
  /** Send requests whose recipients were recorded (including `accept-then-drop`), test mode excluded. */
  readonly acceptedBatches: number;
  /** Recipients accepted in test mode (`o:testmode`): logged in the event APIs, not delivered, not counted above. */
  readonly testModeMessages: number;
  /** Current lag of the events and Logs APIs behind acceptance, in ms. */
  readonly eventsLagMs: number;
  /** Changes the lag (ms ≥ 0). A visibility cut-off (`recorded <= now - lag`), so it applies to earlier events too. */
  setEventsLag(ms: number): void;
  /** Makes both event APIs answer every request with this HTTP status (say 403: a key without access); null restores them. */
  setLookupFailure(status: number | null): void;
  readonly faultsInjected: Readonly<Record<FaultKind, number>>;
  /** Queue faults consumed, in order, by the next send requests. They take precedence over random faults. */
  injectFaults(...faults: Fault[]): void;
  setRandomFaults(config: RandomFaultConfig | null): void;
  /**
   * Records that something happened to an accepted message, now (possibly in any order: opened before delivered
   * is the caller's choice), and posts it if webhooks are configured for its kind. Throws if the recipient has no
   * such accepted, non-test-mode message, or if `severity`, `reason` or `url` do not fit the event.
   */
  recordEngagement(spec: EngagementSpec): MailgunEvent;
  /** Every recorded engagement event, in recording order. Immediate (not subject to `eventsLagMs`). */
  engagementEvents(): readonly MailgunEvent[];
  /** The `event-data` this server's webhooks post for a recorded event (to post it again, as Mailgun's retries do). */
  webhookEventData(event: MailgunEvent): unknown;
  /**
   * Posts every event of the configured kinds recorded from now on; null stops. Either way, deliveries still
   * pending for an earlier configuration are abandoned and the stats start again from zero.
   */
  configureWebhooks(config: WebhookConfig | null): void;
  /** posted: answered 2xx; dropped: by `drop`; failed: given up (406 or retries exhausted); attempts: POSTs made. */
  webhookStats(): WebhookStats;
  /** Resolves once no webhook delivery is queued, in flight or waiting to retry. */
  settleWebhooks(): Promise<void>;
  /**
   * Clears records, engagement events, counters, queued and random faults, lookup failures and the webhook
   * configuration (abandoning pending deliveries), and restores the constructor's `eventsLagMs`.
   */
  reset(): void;
}

export function createMailgunServer(options: MailgunServerOptions = {}): MailgunServer {
  return new MailgunStandIn(options);
}

const MAX_RECIPIENTS = 1000;
const MAX_FIELD_BYTES = 25 * 1024 * 1024;
const DEFAULT_EVENTS_LIMIT = 100;
const MAX_EVENTS_LIMIT = 300;
const DEFAULT_LOGS_LIMIT = 100;
const MAX_LOGS_LIMIT = 1000;
const MAX_JSON_BYTES = 1024 * 1024;
const JSON_ERRORS = {
  tooLarge: () => new HttpError(413, 'Request body is too large'),
  notJson: () => new HttpError(400, 'Request body is not valid JSON'),
  aborted: () => new HttpError(400, 'Request aborted'),
};
const INVALID_TO = 'to parameter is not a valid address. please check documentation';
/** Mailgun's refusal of a malformed sender: the same words as for a bad `to`, about `'from'`. */
const INVALID_FROM = "'from' parameter is not a valid address. please check documentation";
const ENGAGEMENT_KINDS: readonly EngagementKind[] = [
  'delivered',
  'opened',
  'clicked',
  'unsubscribed',
  'complained',
  'failed',
];
const EVENT_KINDS: readonly MailgunEventKind[] = ['accepted', ...ENGAGEMENT_KINDS];
const DEFAULT_CLICK_URL = 'https://example.com/';
const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [200, 1000, 3000];
const DEFAULT_WEBHOOK_CONCURRENCY = 8;
/** Like Mailgun's webhook timeout. */
const WEBHOOK_TIMEOUT_MS = 10_000;

/** What one accepted API call shares among its recipients, stored once. */
interface Batch {
  readonly domain: string;
  readonly messageId: string;
  readonly from: string;
  readonly subject: string;
  readonly text: string | undefined;
  readonly html: string | undefined;
  readonly variables: Readonly<Record<string, string>>;
  /** The `h:` fields, prefix stripped, before recipient substitution. */
  readonly headers: Readonly<Record<string, string>>;
  readonly tags: readonly string[];
  readonly options: Readonly<Record<string, string>>;
  /** Sent with `o:testmode`: logged, not delivered. */
  readonly testMode: boolean;
  readonly acceptedAt: number;
}

/** An `accepted` event: one recipient of a batch. */
interface RecipientRecord {
  readonly recipient: string;
  readonly batch: Batch;
  readonly recipientVariables: Readonly<Record<string, unknown>> | undefined;
}

/** Something that happened later to one recipient's message. */
interface EngagementRecord {
  readonly event: EngagementKind;
  /** As in the accepted record. */
  readonly recipient: string;
  /** The message it is about. */
  readonly batch: Batch;
  /** Epoch ms. */
  readonly at: number;
  readonly severity: FailureSeverity | undefined;
  readonly reason: string | undefined;
  readonly url: string | undefined;
}

type EventRecord = RecipientRecord | EngagementRecord;

function isEngagement(record: EventRecord): record is EngagementRecord {
  return 'event' in record;
}

function kindOf(record: EventRecord): MailgunEventKind {
  return isEngagement(record) ? record.event : 'accepted';
}

function timeOfRecord(record: EventRecord): number {
  return isEngagement(record) ? record.at : record.batch.acceptedAt;
}

interface ParsedForm {
  readonly fields: Map<string, string>;
  readonly to: string[];
  readonly variables: Record<string, string>;
  readonly headers: Record<string, string>;
  readonly tags: string[];
}

type ValidSend = Omit<Batch, 'messageId' | 'acceptedAt'> & {
  readonly recipients: string[];
  readonly recipientVariables: Readonly<Record<string, unknown>> | undefined;
};

/** A request the real API would refuse; carries the HTTP status and Mailgun-style message. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

class MailgunStandIn implements MailgunServer {
  readonly apiKey: string;
  private readonly host: string;
  private readonly port: number;
  private server: Server | undefined;
  private baseUrl: string | undefined;

  /**
   * What the event APIs serve, in recording (and time) order: every accepted recipient, test mode included, and
   * every engagement event. An event's index here is its id's, so ids are stable.
   */
  private records: EventRecord[] = [];
  /** Indices into `records`, ascending: by lower-cased recipient, by domain. */
  private byRecipient = new Map<string, number[]>();
  private byDomain = new Map<string, number[]>();
  /** Message-Id without angle brackets → its recipients' accepted records, which are contiguous: `[first, end)`. */
  private byMessageId = new Map<string, { first: number; end: number }>();
  /** Message-Id without angle brackets → its engagement records (ascending, all after the accepted ones). */
  private engagementsByMessageId = new Map<string, number[]>();
  private engagements: MailgunEvent[] = [];
  /** Keeps recorded times non-decreasing in recording order, which the time-range searches rely on. */
  private lastTime = 0;
  /** Makes event ids unique across instances and restarts, as a consumer deduplicating by id needs. */
  private readonly idPrefix = randomBytes(6).toString('base64url');
  private webhooks: { config: WebhookConfig; kinds: ReadonlySet<MailgunEventKind>; sender: WebhookSender } | undefined;
  private counts = new Map<string, number>();
  private materialized: AcceptedMessage[] = [];
  /** `records` up to here have been considered for `materialized`. */
  private materializedUpTo = 0;
  private deliveredCount = 0;
  private testModeCount = 0;
  private lookupFailure: number | null = null;
  private generation = 0;
  private messageSeq = 0;
  private readonly initialLagMs: number;
  private lagMs: number;

  private requestCount = 0;
  private batchCount = 0;
  private faultCounts = zeroFaultCounts();
  private scripted: Fault[] = [];
  private random: { config: RandomFaultConfig; next: () => number } | undefined;
  private readonly delays = new PendingDelays();

  constructor(options: MailgunServerOptions) {
    this.apiKey = options.apiKey ?? 'test-key';
    this.host = options.host ?? '127.0.0.1';
    this.port = options.port ?? 0;
    this.initialLagMs = validLag(options.eventsLagMs ?? 0);
    this.lagMs = this.initialLagMs;
  }

  get url(): string {
    if (this.baseUrl === undefined) throw new Error('mailgun stand-in: url is only available after start()');
    return this.baseUrl;
  }

  get requests(): number {
    return this.requestCount;
  }

  get acceptedBatches(): number {
    return this.batchCount;
  }

  get acceptedCount(): number {
    return this.deliveredCount;
  }

  get testModeMessages(): number {
    return this.testModeCount;
  }

  get eventsLagMs(): number {
    return this.lagMs;
  }

  setEventsLag(ms: number): void {
    this.lagMs = validLag(ms);
  }

  get faultsInjected(): Readonly<Record<FaultKind, number>> {
    return { ...this.faultCounts };
  }

  async start(): Promise<void> {
    if (this.server) return;
    const { server, url } = await listen(this.host, this.port, (req, res) => this.handle(req, res), respondError);
    this.server = server;
    this.baseUrl = url;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.delays.cancelAll();
    this.webhooks?.sender.cancel();
    await closeServer(server);
  }

  accepted(): readonly AcceptedMessage[] {
    for (; this.materializedUpTo < this.records.length; this.materializedUpTo++) {
      const record = this.records[this.materializedUpTo] as EventRecord;
      if (!isEngagement(record) && !record.batch.testMode) this.materialized.push(toAcceptedMessage(record));
    }
    return this.materialized;
  }

  countsByRecipient(): Map<string, number> {
    return new Map(this.counts);
  }

  injectFaults(...faults: Fault[]): void {
    this.scripted.push(...faults);
  }

  setRandomFaults(config: RandomFaultConfig | null): void {
    if (config === null) {
      this.random = undefined;
      return;
    }
    validateRandomConfig(config);
    this.random = { config, next: mulberry32(config.seed ?? 1) };
  }

  reset(): void {
    this.records = [];
    this.byRecipient = new Map();
    this.byDomain = new Map();
    this.byMessageId = new Map();
    this.engagementsByMessageId = new Map();
    this.engagements = [];
    this.configureWebhooks(null);
    this.counts = new Map();
    this.materialized = [];
    this.materializedUpTo = 0;
    this.deliveredCount = 0;
    this.testModeCount = 0;
    this.lagMs = this.initialLagMs;
    this.generation++;
    this.requestCount = 0;
    this.batchCount = 0;
    this.faultCounts = zeroFaultCounts();
    this.scripted = [];
    this.random = undefined;
    this.lookupFailure = null;
  }

  setLookupFailure(status: number | null): void {
    this.lookupFailure = status;
  }

  recordEngagement(spec: EngagementSpec): MailgunEvent {
    const details = engagementDetails(spec);
    const { recipient, batch } = this.engagedRecord(spec);
    const record: EngagementRecord = { event: spec.event, recipient, batch, at: this.clock(), ...details };
    const index = this.records.push(record) - 1;
    appendIndex(this.byRecipient, recipient.toLowerCase(), index);
    appendIndex(this.byDomain, batch.domain, index);
    appendIndex(this.engagementsByMessageId, bareMessageId(batch.messageId), index);
    const event = this.mailgunEvent(index);
    this.engagements.push(event);
    this.postWebhook(index, event);
    return event;
  }

  engagementEvents(): readonly MailgunEvent[] {
    return this.engagements;
  }

  webhookEventData(event: MailgunEvent): unknown {
    const ours = `${this.idPrefix}-${this.generation.toString(36)}-`;
    const index = event.id.startsWith(ours) ? parseInt(event.id.slice(ours.length), 36) : NaN;
    if (!(index >= 0 && index < this.records.length)) throw new Error(`event ${event.id} was not recorded by this server since its last reset`);
    return this.eventItem(index);
  }

  configureWebhooks(config: WebhookConfig | null): void {
    // Validate before replacing anything, so a bad config leaves the current one in place.
    const valid = config === null ? undefined : validWebhookConfig(config);
    this.webhooks?.sender.cancel();
    this.webhooks = undefined;
    if (config !== null && valid !== undefined) {
      this.webhooks = { config, kinds: valid.kinds, sender: new WebhookSender(valid.target) };
    }
  }

  webhookStats(): WebhookStats {
    return this.webhooks?.sender.stats() ?? { posted: 0, dropped: 0, failed: 0, attempts: 0 };
  }

  settleWebhooks(): Promise<void> {
    return this.webhooks?.sender.settled() ?? Promise.resolve();
  }

  /** The accepted, non-test-mode record an engagement is about. */
  private engagedRecord({ recipient, messageId }: EngagementSpec): RecipientRecord {
    const wanted = recipient.trim().toLowerCase();
    const candidates: RecipientRecord[] = [];
    if (messageId === undefined) {
      for (const i of this.byRecipient.get(wanted) ?? []) {
        const record = this.records[i] as EventRecord;
        if (!isEngagement(record)) candidates.push(record);
      }
    } else {
      const range = this.byMessageId.get(bareMessageId(messageId.trim()));
      for (let i = range?.first ?? 0; i < (range?.end ?? 0); i++) {
        const record = this.records[i] as RecipientRecord;
        if (record.recipient.toLowerCase() === wanted) candidates.push(record);
      }
    }
    const delivered = candidates.filter((record) => !record.batch.testMode);
    const found = delivered.at(-1);
    if (found) return found;
    const which = messageId === undefined ? '' : ` in message ${messageId}`;
    if (candidates.length > 0) {
      throw new Error(`mailgun stand-in: ${recipient} was only sent to in test mode${which}, which delivers nothing`);
    }
    throw new Error(`mailgun stand-in: no accepted message to ${recipient}${which}`);
  }

  /** Now, in epoch ms, but never before an event already recorded. */
  private clock(): number {
    this.lastTime = Math.max(this.lastTime, Date.now());
    return this.lastTime;
  }

  private mailgunEvent(index: number): MailgunEvent {
    const record = this.records[index] as EventRecord;
    const { recipient, batch } = record;
    return {
      id: this.eventId(index),
      event: kindOf(record),
      timestamp: timeOfRecord(record) / 1000,
      recipient,
      messageId: bareMessageId(batch.messageId),
      userVariables: batch.variables,
      ...(isEngagement(record) ? definedDetails(record) : {}),
    };
  }

  /** Queues the event's webhook, if webhooks are configured for its kind and it is not dropped. */
  private postWebhook(index: number, event: MailgunEvent): void {
    const hooks = this.webhooks;
    if (!hooks?.kinds.has(event.event)) return;
    if (hooks.config.drop?.(event)) hooks.sender.drop();
    else hooks.sender.enqueue(this.eventItem(index));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = /^\/v3\/([^/]+)\/messages\/?$/.exec(url.pathname);
    const events = /^\/v3\/([^/]+)\/events(?:\/([^/]+))?\/?$/.exec(url.pathname);

    if (send?.[1] !== undefined && req.method === 'POST') {
      this.requestCount++;
      if (!this.authorized(req)) return drainThen(req, () => respondUnauthorized(res));
      return this.handleSend(req, res, decodeURIComponent(send[1]));
    }
    const lookup = events?.[1] !== undefined || /^\/v1\/analytics\/logs\/?$/.test(url.pathname);
    if (lookup && this.lookupFailure !== null) {
      const status = this.lookupFailure;
      return drainThen(req, () => respondJson(res, status, { message: `lookup failure injected (${status})` }));
    }
    if (events?.[1] !== undefined && req.method === 'GET') {
      if (!this.authorized(req)) return respondUnauthorized(res);
      const cursor = events[2] === undefined ? cursorFromQuery(url.searchParams) : decodeCursor(events[2]);
      respondJson(res, 200, this.eventsPage(decodeURIComponent(events[1]), cursor));
      return;
    }
    if (/^\/v1\/analytics\/logs\/?$/.test(url.pathname) && req.method === 'POST') {
      if (!this.authorized(req)) return drainThen(req, () => respondUnauthorized(res));
      respondJson(res, 200, this.logsPage(parseLogsQuery(await readJson(req, MAX_JSON_BYTES, JSON_ERRORS), Date.now())));
      return;
    }
    return drainThen(req, () => respondJson(res, 404, { message: 'Not Found' }));
  }

  private authorized(req: IncomingMessage): boolean {
    const header = req.headers.authorization ?? '';
    if (!header.startsWith('Basic ')) return false;
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const expected = Buffer.from(`api:${this.apiKey}`);
    const actual = Buffer.from(decoded);
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  }

  private async handleSend(req: IncomingMessage, res: ServerResponse, domain: string): Promise<void> {
    const fault = this.nextFault();
    if (fault) this.faultCounts[fault.kind]++;

    switch (fault?.kind) {
      case 'rate-limit':
        return drainThen(req, () =>
          respondJson(res, 429, { message: 'Too many requests' }, { 'Retry-After': String(fault.retryAfterSeconds ?? 1) }),
        );
      case 'server-error':
        return drainThen(req, () => respondJson(res, fault.status ?? 500, { message: 'Internal Server Error' }));
      case 'reject':
        return drainThen(req, () => respondJson(res, fault.status ?? 400, { message: fault.message ?? 'Rejected' }));
      default:
        break;
    }

    const valid = validateSend(domain, await readForm(req));
    // A slow acceptance is recorded even if the client gives up meanwhile: that is the ambiguous case retries must survive.
    if (fault?.kind === 'slow' && !(await this.delays.delay(fault.delayMs))) return;
    const messageId = this.record(valid);

    if (fault?.kind === 'accept-then-drop') {
      req.socket.destroy();
      return;
    }
    respondJson(res, 200, { id: messageId, message: 'Queued. Thank you.' });
  }

  private nextFault(): Fault | undefined {
    const scripted = this.scripted.shift();
    if (scripted) return scripted;
    if (!this.random) return undefined;
    return pickRandomFault(this.random.config, this.random.next());
  }



  private record(send: ValidSend): string {
    const acceptedAt = this.clock();
    const messageId = `<${compactTimestamp(acceptedAt)}.${(++this.messageSeq).toString(36)}.${randomBytes(4).toString('hex')}@${send.domain}>`;
    const batch: Batch = {
      domain: send.domain,
      messageId,
      from: send.from,
      subject: send.subject,
      text: send.text,
      html: send.html,
      variables: send.variables,
      headers: send.headers,
      tags: send.tags,
      options: send.options,
      testMode: send.testMode,
      acceptedAt,
    };
    const first = this.records.length;
    for (const recipient of send.recipients) {
      const own = send.recipientVariables?.[recipient];
      this.addRecord({ recipient, batch, recipientVariables: isPlainObject(own) ? own : undefined });
    }
    this.byMessageId.set(bareMessageId(messageId), { first, end: this.records.length });
    if (send.testMode) this.testModeCount += send.recipients.length;
    else this.batchCount++;
    if (!send.testMode && this.webhooks?.kinds.has('accepted')) {
      for (let i = first; i < this.records.length; i++) this.postWebhook(i, this.mailgunEvent(i));
    }
    return messageId;
  }

  private addRecord(record: RecipientRecord): void {
    const index = this.records.push(record) - 1;
    appendIndex(this.byRecipient, record.recipient.toLowerCase(), index);
    appendIndex(this.byDomain, record.batch.domain, index);
    if (record.batch.testMode) return;
    this.deliveredCount++;
    this.counts.set(record.recipient, (this.counts.get(record.recipient) ?? 0) + 1);
  }

  private readonly timeOf = (index: number): number => timeOfRecord(this.records[index] as EventRecord);

  /** The latest recording time the event APIs may show yet (inclusive). */
  private visibleUntil(): number {
    return Date.now() - this.lagMs;
  }

  private eventsPage(domain: string, cursor: EventsCursor): EventsResponseBody {
    const candidates = this.candidates(domain, cursor);
    const visible = this.visibleUntil();
    const endMs = cursor.endMs === undefined ? visible : Math.min(cursor.endMs, visible);
    const { lo, hi } = timeRange(candidates, this.timeOf, cursor.beginMs, endMs);
    const start = cursor.pos ?? (cursor.asc ? lo : hi - 1);
    const step = cursor.asc ? 1 : -1;
    const items: EventItem[] = [];
    let pos = start;
    while (items.length < cursor.limit && pos >= lo && pos < hi) {
      items.push(this.eventItem(candidates[pos] as number));
      pos += step;
    }
    const pageUrl = (p: number | undefined): string =>
      `${this.url}/v3/${encodeURIComponent(domain)}/events/${encodeCursor({ ...cursor, pos: p })}`;
    const back = cursor.asc ? Math.max(lo, start - cursor.limit) : Math.min(hi - 1, start + cursor.limit);
    const last = cursor.asc ? Math.max(lo, hi - cursor.limit) : Math.min(hi - 1, lo + cursor.limit - 1);
    return {
      items,
      paging: { first: pageUrl(undefined), last: pageUrl(last), next: pageUrl(pos), previous: pageUrl(back) },
    };
  }

  /**
   * Record indices that match all but the time bounds, in recording order: from the message's, the recipient's or
   * the domain's index, filtered. Each list only ever grows at its end, so page positions stay valid.
   */
  private candidates(domain: string, cursor: EventsCursor): readonly number[] {
    const wanted = eventFilter(parseOrExpression(cursor.event, 'event'), parseOrExpression(cursor.severity, 'severity'));
    const recipient = cursor.recipient?.toLowerCase();
    if (cursor.messageId === undefined && recipient === undefined) {
      const all = this.byDomain.get(domain) ?? [];
      return wanted === undefined ? all : all.filter((i) => wanted(this.records[i] as EventRecord));
    }
    const list =
      cursor.messageId !== undefined
        ? this.messageIndices(bareMessageId(cursor.messageId))
        : (this.byRecipient.get(recipient as string) ?? []);
    return list.filter((i) => {
      const record = this.records[i] as EventRecord;
      return (
        record.batch.domain === domain &&
        (recipient === undefined || record.recipient.toLowerCase() === recipient) &&
        (wanted === undefined || wanted(record))
      );
    });
  }

  /** A message's events, ascending: its accepted recipients, then what happened to them. */
  private messageIndices(bareId: string): readonly number[] {
    const range = this.byMessageId.get(bareId);
    if (!range) return [];
    const accepted = Array.from({ length: range.end - range.first }, (_, k) => range.first + k);
    return accepted.concat(this.engagementsByMessageId.get(bareId) ?? []);
  }

  /** An event as the events API lists it, and as webhooks post it (`event-data`). */
  private eventItem(index: number): EventItem {
    const record = this.records[index] as EventRecord;
    const { recipient, batch } = record;
    return {
      event: kindOf(record),
      id: this.eventId(index),
      timestamp: timeOfRecord(record) / 1000,
      'log-level': logLevel(record),
      ...(isEngagement(record) ? {} : { method: 'HTTP' }),
      recipient,
      'recipient-domain': recipientDomain(recipient),
      tags: [],
      ...(carriesEnvelope(record)
        ? {
            envelope: { sender: batch.from, targets: recipient, transport: 'smtp' },
            flags: { 'is-authenticated': true, 'is-test-mode': batch.testMode, 'is-routed': false, 'is-system-test': false },
            message: messageInfo(recipient, batch),
          }
        : { message: { headers: { 'message-id': bareMessageId(batch.messageId) } } }),
      'user-variables': batch.variables,
      ...(isEngagement(record) ? engagementFields(record) : {}),
    };
  }

  /** The same event has the same id in both APIs and in webhooks. */
  private eventId(index: number): string {
    return `${this.idPrefix}-${this.generation.toString(36)}-${index.toString(36)}`;
  }

  private logsPage(query: LogsQuery): LogsResponseBody {
    const token = query.token === undefined ? undefined : this.decodeLogsToken(query.token, query.asc);
    const body: LogsResponseBody = {
      start: rfc2822(query.startMs),
      end: rfc2822(query.endMs),
      items: [],
      pagination: {},
      aggregates: { all: 0 },
    };
    const wanted = eventFilter(query.events, undefined);
    if (query.events !== undefined && !EVENT_KINDS.some((kind) => query.events?.has(kind))) {
      if (query.includeTotals) body.pagination.total = 0;
      return body;
    }

    const { candidates, residual } = this.logsCandidates(query.conditions);
    const { lo, hi } = timeRange(candidates, this.timeOf, query.startMs, Math.min(query.endMs, this.visibleUntil()));
    const at = (pos: number): number => candidates.at(pos) as number;
    const matches = (pos: number): boolean => {
      const record = this.records[at(pos)] as EventRecord;
      return (wanted === undefined || wanted(record)) && residual.every((condition) => matchesCondition(record, condition));
    };

    // A token names the last record index returned; candidates ascend by index, so find where to resume.
    let pos: number;
    if (token === undefined) pos = query.asc ? lo : hi - 1;
    else if (query.asc) pos = Math.max(lo, firstPosition(candidates.length, (p) => at(p) > token));
    else pos = Math.min(hi, firstPosition(candidates.length, (p) => at(p) >= token)) - 1;
    const step = query.asc ? 1 : -1;
    let last: number | undefined;
    for (; pos >= lo && pos < hi && body.items.length < query.limit; pos += step) {
      if (!matches(pos)) continue;
      last = at(pos);
      body.items.push(this.logsItem(last));
    }
    while (pos >= lo && pos < hi && !matches(pos)) pos += step;
    if (last !== undefined && pos >= lo && pos < hi) {
      body.pagination.next = encodeLogsToken({ g: this.generation, asc: query.asc, i: last });
    }

    let total = Math.max(0, hi - lo);
    if (residual.length > 0 || wanted !== undefined) {
      total = 0;
      for (let p = lo; p < hi; p++) if (matches(p)) total++;
    }
    body.aggregates.all = total;
    if (query.includeTotals) body.pagination.total = total;
    return body;
  }

  /**
   * Record indices (ascending) that may match, from the most selective index an `=` condition allows
   * (recipient, then message id, then domain), and the conditions still to check on each.
   */
  private logsCandidates(conditions: readonly LogsCondition[]): { candidates: Positions; residual: LogsCondition[] } {
    const rank: Record<LogsAttribute, number> = { recipient: 0, 'message-id': 1, domain: 2 };
    const indexed = conditions
      .filter((c) => !c.negate)
      .sort((a, b) => rank[a.attribute] - rank[b.attribute])[0];
    if (indexed === undefined) {
      return { candidates: { length: this.records.length, at: (p) => p }, residual: [...conditions] };
    }

    const lists: (readonly number[])[] = [];
    for (const value of indexed.values) {
      if (indexed.attribute === 'recipient') lists.push(this.byRecipient.get(value) ?? []);
      else if (indexed.attribute === 'domain') lists.push(this.byDomain.get(value) ?? []);
      else lists.push(this.messageIndices(value));
    }
    // Different values select disjoint records, so a union is a concatenation, sorted.
    const candidates = lists.length === 1 ? (lists[0] as readonly number[]) : lists.flat().sort((a, b) => a - b);
    return { candidates, residual: conditions.filter((c) => c !== indexed) };
  }

  private decodeLogsToken(token: string, asc: boolean): number {
    try {
      const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
      if (
        isPlainObject(parsed) &&
        parsed.g === this.generation &&
        parsed.asc === asc &&
        typeof parsed.i === 'number' &&
        Number.isInteger(parsed.i) &&
        parsed.i >= 0
      ) {
        return parsed.i;
      }
    } catch {
      // fall through
    }
    throw new HttpError(400, 'Invalid pagination token: it must come from a previous response to the same query');
  }

  private logsItem(index: number): LogsItem {
    const record = this.records[index] as EventRecord;
    const { recipient, batch } = record;
    return {
      id: this.eventId(index),
      event: kindOf(record),
      '@timestamp': new Date(timeOfRecord(record)).toISOString(),
      'log-level': logLevel(record),
      ...(isEngagement(record) ? {} : { method: 'HTTP' }),
      domain: { name: batch.domain },
      recipient,
      'recipient-domain': recipientDomain(recipient),
      tags: [],
      ...(carriesEnvelope(record)
        ? {
            envelope: { sender: batch.from, targets: recipient, transport: 'smtp' },
            flags: {
              'is-authenticated': true,
              'is-system-test': false,
              'is-routed': false,
              'is-amp': false,
              'is-test-mode': batch.testMode,
              'is-delayed-bounce': false,
              'is-callback': false,
              'is-encrypted': false,
            },
            message: messageInfo(recipient, batch),
          }
        : { message: { headers: { 'message-id': bareMessageId(batch.messageId) } } }),
      'user-variables': JSON.stringify(batch.variables),
      ...(isEngagement(record) ? engagementFields(record) : {}),
    };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Send: parsing and validation

function readForm(req: IncomingMessage): Promise<ParsedForm> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, limits: { fieldSize: MAX_FIELD_BYTES } });
    } catch {
      req.resume();
      reject(new HttpError(400, 'Expected multipart/form-data or application/x-www-form-urlencoded body'));
      return;
    }
    const form: ParsedForm = { fields: new Map(), to: [], variables: {}, headers: {}, tags: [] };
    let truncated = false;
    parser.on('field', (name, value, info) => {
      if (info.valueTruncated) truncated = true;
      else addField(form, name, value);
    });
    parser.on('file', (_name, stream) => stream.resume());
    parser.on('close', () => (truncated ? reject(new HttpError(400, 'Message is too large')) : resolve(form)));
    parser.on('error', (err: unknown) => reject(new HttpError(400, `Malformed request body: ${String(err)}`)));
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new HttpError(400, 'Request aborted'));
    });
    req.pipe(parser);
  });
}

function addField(form: ParsedForm, name: string, value: string): void {
  if (name === 'to') form.to.push(value);
  else if (name.startsWith('v:')) form.variables[name.slice(2)] = value;
  else if (name.startsWith('h:')) form.headers[name.slice(2)] = value;
  else if (name === 'o:tag') form.tags.push(value);
  else form.fields.set(name, value);
}

function validateSend(domain: string, form: ParsedForm): ValidSend {
  const { fields } = form;
  const from = fields.get('from');
  const subject = fields.get('subject');
  const text = fields.get('text');
  const html = fields.get('html');
  if (!from) throw new HttpError(400, 'from parameter is missing');
  if (!isValidMailbox(from)) throw new HttpError(400, INVALID_FROM);
  if (form.to.length === 0) throw new HttpError(400, 'to parameter is missing');
  if (subject === undefined) throw new HttpError(400, 'subject parameter is missing');
  if (text === undefined && html === undefined && !fields.has('template')) {
    throw new HttpError(400, "Need at least one of 'text', 'html' or 'template' parameters specified");
  }
  const recipients = form.to.flatMap(parseAddressList);
  if (recipients.length > MAX_RECIPIENTS) {
    throw new HttpError(400, `Too many recipients: to parameter can't contain more than ${MAX_RECIPIENTS} addresses`);
  }
  return {
    domain,
    from,
    subject,
    text,
    html,
    variables: form.variables,
    headers: form.headers,
    tags: form.tags,
    options: Object.fromEntries([...fields].filter(([name]) => name.startsWith('o:')).map(([name, value]) => [name.slice(2), value])),
    testMode: isYes(fields.get('o:testmode')),
    recipients,
    recipientVariables: parseRecipientVariables(fields.get('recipient-variables')),
  };
}

function isYes(value: string | undefined): boolean {
  return value !== undefined && ['yes', 'true'].includes(value.trim().toLowerCase());
}

/** One mailbox, `addr@domain` or `Display Name <addr@domain>` (the name may be quoted), as Mailgun wants `from`. */
function isValidMailbox(value: string): boolean {
  const address = mailboxAddress(value.trim());
  return address !== undefined && isValidAddress(address);
}

/** Splits `"A <a@x>, b@y"` into bare addresses; refuses the whole request if any is not a valid mailbox. */
function parseAddressList(value: string): string[] {
  return splitUnquoted(value).map((part) => {
    const address = mailboxAddress(part.trim());
    if (address === undefined || !isValidAddress(address)) throw new HttpError(400, INVALID_TO);
    return address;
  });
}

/** Splits on commas outside quoted strings and angle brackets, so `"Doe, Jane" <j@x.example>` stays whole. */
function splitUnquoted(value: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  let angled = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '<') angled = true;
    else if (c === '>') angled = false;
    else if (c === ',' && !angled) {
      parts.push(value.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(value.slice(start));
  return parts;
}

/** The address of `addr` or `Display Name <addr>`; undefined if angle brackets are misplaced. */
function mailboxAddress(mailbox: string): string | undefined {
  if (!mailbox.endsWith('>')) return mailbox;
  // The opening bracket is the first one outside a quoted display name; no other may follow it.
  let quoted = false;
  for (let i = 0; i < mailbox.length; i++) {
    const c = mailbox[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '>') return undefined;
    else if (c === '<') return mailbox.slice(i + 1, -1).trim();
  }
  return undefined;
}

const DOT_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const QUOTED_STRING = /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"$/;
const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const TOP_LABEL = /^[A-Za-z]{2,63}$/;

/**
 * A mailbox Mailgun would send to: an RFC 5322 local part (dot-atom or quoted string, ≤ 64 chars) at a DNS
 * host name (≥ 2 labels of letters, digits and inner hyphens, ≤ 63 chars each, ≤ 253 in all, alphabetic TLD).
 */
function isValidAddress(address: string): boolean {
  const at = address.lastIndexOf('@');
  if (at < 1) return false;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local.length > 64 || !(DOT_ATOM.test(local) || QUOTED_STRING.test(local))) return false;
  if (domain.length > 253) return false;
  const labels = domain.split('.');
  return labels.length >= 2 && labels.every((label) => HOST_LABEL.test(label)) && TOP_LABEL.test(labels.at(-1) ?? '');
}

function parseRecipientVariables(raw: string | undefined): Readonly<Record<string, unknown>> | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new HttpError(400, 'recipient-variables parameter is not a valid JSON');
  }
  if (!isPlainObject(parsed)) throw new HttpError(400, 'recipient-variables parameter must be a JSON object');
  return parsed;
}

// ---------------------------------------------------------------------------------------------------------------
// Events

interface EventsCursor {
  readonly recipient?: string | undefined;
  readonly messageId?: string | undefined;
  /** A Mailgun filter expression: a name, or names joined by OR. */
  readonly event?: string | undefined;
  /** Likewise, of severities: only `failed` events have one. */
  readonly severity?: string | undefined;
  /** Inclusive bounds, epoch ms. */
  readonly beginMs?: number | undefined;
  readonly endMs?: number | undefined;
  readonly asc: boolean;
  readonly limit: number;
  /** Position in the candidate list where the page starts; absent for the first page. */
  readonly pos?: number | undefined;
}

interface MessageInfo {
  headers: { 'message-id': string; to: string; from: string; subject: string };
  attachments: [];
  size: number;
}

/** What events about the recipient's reading (opens, clicks, ...) say of the message. */
interface MessageIdOnly {
  headers: { 'message-id': string };
}

interface DeliveryStatus {
  'attempt-no': number;
  code: number;
  message: string;
  description: string;
}

/** What only some kinds of event carry. */
interface EngagementFields {
  severity?: FailureSeverity;
  reason?: string;
  'delivery-status'?: DeliveryStatus;
  url?: string;
}

interface EventItem extends EngagementFields {
  event: MailgunEventKind;
  id: string;
  timestamp: number;
  'log-level': string;
  method?: string;
  recipient: string;
  'recipient-domain': string;
  tags: string[];
  envelope?: { sender: string; targets: string; transport: string };
  flags?: Record<string, boolean>;
  message: MessageInfo | MessageIdOnly;
  'user-variables': Readonly<Record<string, string>>;
}

interface EventsResponseBody {
  items: EventItem[];
  paging: { first: string; last: string; next: string; previous: string };
}

function cursorFromQuery(params: URLSearchParams): EventsCursor {
  const begin = parseEventTime(params.get('begin'), 'begin');
  const end = parseEventTime(params.get('end'), 'end');
  const ascending = params.get('ascending');
  if (ascending !== null && ascending !== 'yes' && ascending !== 'no') {
    throw new HttpError(400, "ascending must be 'yes' or 'no'");
  }
  parseOrExpression(params.get('event') ?? undefined, 'event');
  parseOrExpression(params.get('severity') ?? undefined, 'severity');
  // Without an explicit direction Mailgun infers it from begin/end order (begin > end = descending), else newest first.
  const asc = ascending !== null ? ascending === 'yes' : begin !== undefined && end !== undefined && begin <= end;
  return {
    recipient: params.get('recipient') ?? undefined,
    messageId: params.get('message-id') ?? undefined,
    event: params.get('event') ?? undefined,
    severity: params.get('severity') ?? undefined,
    ...timeBounds(begin, end, asc),
    asc,
    limit: parseLimit(params.get('limit')),
  };
}

/** `begin` is where the traversal starts, so a lone `begin` is a lower bound ascending and an upper bound descending. */
function timeBounds(begin: number | undefined, end: number | undefined, asc: boolean): { beginMs?: number; endMs?: number } {
  const [from, to] = asc ? [begin, end] : [end, begin];
  if (from !== undefined && to !== undefined && from > to) return { beginMs: to, endMs: from };
  return { beginMs: from, endMs: to };
}

/** `begin`/`end` as epoch seconds (possibly fractional) or an RFC 2822 date. */
function parseEventTime(raw: string | null, name: string): number | undefined {
  if (raw === null || raw === '') return undefined;
  const ms = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) * 1000 : Date.parse(raw);
  if (Number.isNaN(ms)) throw new HttpError(400, `${name} is not a valid date`);
  return ms;
}

function parseLimit(raw: string | null): number {
  if (raw === null || raw === '') return DEFAULT_EVENTS_LIMIT;
  const limit = Number(raw);
  if (!Number.isInteger(limit) || limit < 1) throw new HttpError(400, 'limit must be a positive integer');
  return Math.min(limit, MAX_EVENTS_LIMIT);
}

function encodeCursor(cursor: EventsCursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decodeCursor(token: string): EventsCursor {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (isPlainObject(parsed) && typeof parsed.asc === 'boolean' && typeof parsed.limit === 'number') {
      return parsed as unknown as EventsCursor;
    }
  } catch {
    // fall through
  }
  throw new HttpError(400, 'Invalid page token');
}

/** Record indices in acceptance order: an index list, or every record. Arrays qualify. */
interface Positions {
  readonly length: number;
  at(pos: number): number | undefined;
}

/** The first position in [0, length) where `pred` holds, given that it holds from some position on (binary search). */
function firstPosition(length: number, pred: (pos: number) => boolean): number {
  let lo = 0;
  let hi = length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (pred(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Candidate positions [lo, hi) whose time lies within the inclusive bounds, epoch ms. */
function timeRange(
  list: Positions,
  timeOf: (index: number) => number,
  beginMs: number | undefined,
  endMs: number | undefined,
): { lo: number; hi: number } {
  const time = (pos: number): number => timeOf(list.at(pos) as number);
  return {
    lo: beginMs === undefined ? 0 : firstPosition(list.length, (p) => time(p) >= beginMs),
    hi: endMs === undefined ? list.length : firstPosition(list.length, (p) => time(p) > endMs),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Logs API

type LogsAttribute = 'domain' | 'recipient' | 'message-id';

const LOGS_ATTRIBUTES: readonly LogsAttribute[] = ['domain', 'recipient', 'message-id'];

interface LogsCondition {
  readonly attribute: LogsAttribute;
  /** `!=` rather than `=`. */
  readonly negate: boolean;
  /** Normalised as `attributeValue` normalises a record's value. */
  readonly values: ReadonlySet<string>;
}

interface LogsQuery {
  /** Inclusive bounds, epoch ms. */
  readonly startMs: number;
  readonly endMs: number;
  /** The event names asked for, lower-cased; undefined for all. */
  readonly events: ReadonlySet<string> | undefined;
  readonly conditions: readonly LogsCondition[];
  readonly asc: boolean;
  readonly limit: number;
  readonly token: string | undefined;
  readonly includeTotals: boolean;
}

interface LogsItem extends EngagementFields {
  id: string;
  event: MailgunEventKind;
  '@timestamp': string;
  'log-level': string;
  method?: string;
  domain: { name: string };
  recipient: string;
  'recipient-domain': string;
  tags: string[];
  envelope?: { sender: string; targets: string; transport: string };
  flags?: Record<string, boolean>;
  message: MessageInfo | MessageIdOnly;
  /** JSON, as the Logs API reports them. */
  'user-variables': string;
}

interface LogsResponseBody {
  start: string;
  end: string;
  items: LogsItem[];
  pagination: { next?: string; total?: number };
  aggregates: { all: number };
}

/** Validates the JSON body `logs.list()` sends; refuses anything this stand-in would silently misread. */
function parseLogsQuery(body: unknown, now: number): LogsQuery {
  if (!isPlainObject(body)) throw new HttpError(400, 'Request body must be a JSON object');
  const startMs = parseRfc2822(body.start, 'start');
  if (startMs === undefined) throw new HttpError(400, `'start' is required: an RFC 2822 date, e.g. '${RFC2822_EXAMPLE}'`);
  const explicitEnd = parseRfc2822(body.end, 'end');
  if (explicitEnd !== undefined && explicitEnd < startMs) throw new HttpError(400, "'end' must not be before 'start'");

  const pagination = body.pagination ?? {};
  if (!isPlainObject(pagination)) throw new HttpError(400, "'pagination' must be an object");
  const sort = pagination.sort ?? 'timestamp:asc';
  if (sort !== 'timestamp:asc' && sort !== 'timestamp:desc') {
    throw new HttpError(400, `Unsupported sort ${JSON.stringify(sort)}: use 'timestamp:asc' or 'timestamp:desc'`);
  }
  const token = pagination.token;
  if (token !== undefined && token !== '' && typeof token !== 'string') {
    throw new HttpError(400, "'pagination.token' must be a string");
  }

  return {
    startMs,
    endMs: explicitEnd ?? now,
    events: parseLogsEvents(body.events),
    conditions: parseLogsFilter(body.filter),
    asc: sort === 'timestamp:asc',
    limit: parseLogsLimit(pagination.limit),
    token: token === '' ? undefined : token,
    includeTotals: body.include_totals === true,
  };
}

/** The names asked for, lower-cased; undefined (all) when absent or empty. Unknown names match nothing. */
function parseLogsEvents(events: unknown): ReadonlySet<string> | undefined {
  if (events === undefined || events === null) return undefined;
  if (!Array.isArray(events) || events.some((e) => typeof e !== 'string')) {
    throw new HttpError(400, "'events' must be an array of event names");
  }
  return events.length === 0 ? undefined : new Set(events.map((e) => (e as string).trim().toLowerCase()));
}

function parseLogsLimit(limit: unknown): number {
  if (limit === undefined || limit === null) return DEFAULT_LOGS_LIMIT;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1) {
    throw new HttpError(400, "'pagination.limit' must be a positive integer");
  }
  return Math.min(limit, MAX_LOGS_LIMIT);
}

function parseLogsFilter(filter: unknown): LogsCondition[] {
  if (filter === undefined || filter === null) return [];
  if (!isPlainObject(filter) || !Array.isArray(filter.AND)) {
    throw new HttpError(400, "'filter' must be { AND: [conditions] }");
  }
  const unknownKey = Object.keys(filter).find((key) => key !== 'AND');
  if (unknownKey !== undefined) {
    throw new HttpError(400, `Unsupported filter operator '${unknownKey}': only AND is supported`);
  }
  return filter.AND.map((condition: unknown): LogsCondition => {
    if (!isPlainObject(condition)) {
      throw new HttpError(400, 'Each filter condition must be { attribute, comparator, values }');
    }
    const { attribute, comparator, values } = condition;
    if (!LOGS_ATTRIBUTES.includes(attribute as LogsAttribute)) {
      const supported = LOGS_ATTRIBUTES.join(', ');
      throw new HttpError(400, `Unsupported filter attribute '${String(attribute)}': supported are ${supported}`);
    }
    const name = attribute as LogsAttribute;
    if (comparator !== '=' && comparator !== '!=') {
      const what = `comparator '${String(comparator)}' for filter attribute '${name}'`;
      throw new HttpError(400, `Unsupported ${what}: use '=' or '!='`);
    }
    if (!Array.isArray(values) || values.length === 0) {
      throw new HttpError(400, `Filter attribute '${name}' needs a non-empty array of values`);
    }
    const normalised = values.map((v: unknown) => {
      if (!isPlainObject(v) || typeof v.value !== 'string') {
        throw new HttpError(400, `Each value of filter attribute '${name}' must be { label, value }, value a string`);
      }
      return normaliseValue(name, v.value);
    });
    return { attribute: name, negate: comparator === '!=', values: new Set(normalised) };
  });
}

/** Recipients compare case-insensitively; message ids with or without their angle brackets. */
function normaliseValue(attribute: LogsAttribute, value: string): string {
  if (attribute === 'recipient') return value.trim().toLowerCase();
  if (attribute === 'message-id') return bareMessageId(value.trim());
  return value.trim();
}

function matchesCondition({ recipient, batch }: EventRecord, condition: LogsCondition): boolean {
  const value =
    condition.attribute === 'recipient'
      ? recipient.toLowerCase()
      : condition.attribute === 'domain'
        ? batch.domain
        : bareMessageId(batch.messageId);
  return condition.values.has(value) !== condition.negate;
}

function encodeLogsToken(token: { g: number; asc: boolean; i: number }): string {
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
/** Named zones RFC 2822 still reads (obsolete syntax), as minutes east of UTC. */
const ZONES: Readonly<Record<string, number>> = {
  ut: 0,
  utc: 0,
  gmt: 0,
  z: 0,
  est: -300,
  edt: -240,
  cst: -360,
  cdt: -300,
  mst: -420,
  mdt: -360,
  pst: -480,
  pdt: -420,
};
/** `[Day, ]DD Mon YYYY hh:mm[:ss] zone`. */
const RFC2822 = /^(?:[a-z]{3},\s*)?(\d{1,2})\s+([a-z]{3})\s+(\d{4})\s+(\d{2}):(\d{2})(?::(\d{2}))?\s+([+-]\d{4}|[a-z]{1,3})$/i;
const RFC2822_EXAMPLE = 'Thu, 27 Nov 2026 10:00:00 -0000';

/** An RFC 2822 date (`Thu, 27 Nov 2026 10:00:00 -0000`) as epoch ms; undefined if absent or empty. */
function parseRfc2822(raw: unknown, name: string): number | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  const invalid = new HttpError(400, `'${name}' is not an RFC 2822 date like '${RFC2822_EXAMPLE}': ${JSON.stringify(raw)}`);
  const match = typeof raw === 'string' ? RFC2822.exec(raw.trim()) : null;
  if (!match) throw invalid;
  const [, day = '', monthName = '', year = '', hour = '', minute = '', second = '0', zone = ''] = match;
  const month = MONTHS.indexOf(monthName.toLowerCase());
  const offsetMinutes = /^[+-]/.test(zone)
    ? (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5)))
    : ZONES[zone.toLowerCase()];
  const fields = [Number(year), month, Number(day), Number(hour), Number(minute), Number(second)] as const;
  const utc = Date.UTC(...fields);
  const check = new Date(utc);
  // Refuse what Date would silently roll over, like 31 Feb or 24:00.
  const exact =
    check.getUTCFullYear() === fields[0] &&
    check.getUTCMonth() === fields[1] &&
    check.getUTCDate() === fields[2] &&
    check.getUTCHours() === fields[3] &&
    check.getUTCMinutes() === fields[4] &&
    check.getUTCSeconds() === fields[5];
  if (month < 0 || offsetMinutes === undefined || !exact) throw invalid;
  return utc - offsetMinutes * 60_000;
}

/** Like Mailgun (and mailgun.js) write them: `Thu, 27 Nov 2026 10:00:00 -0000`. */
function rfc2822(ms: number): string {
  return `${new Date(ms).toUTCString().slice(0, 25)} -0000`;
}


// ---------------------------------------------------------------------------------------------------------------
// Engagement events and webhooks

/** The details a spec's event has, defaults filled in; throws on a detail that does not fit the event. */
function engagementDetails(spec: EngagementSpec): Pick<EngagementRecord, 'severity' | 'reason' | 'url'> {
  const { event, severity, reason, url } = spec;
  const refuse = (what: string): never => {
    throw new Error(`mailgun stand-in: recordEngagement: ${what}`);
  };
  if (!ENGAGEMENT_KINDS.includes(event)) {
    refuse(`unknown event ${JSON.stringify(event)}: use ${ENGAGEMENT_KINDS.join(', ')}`);
  }
  if (event !== 'failed' && severity !== undefined) refuse(`severity is only for failed events, not ${event}`);
  if (event !== 'failed' && reason !== undefined) refuse(`reason is only for failed events, not ${event}`);
  if (event !== 'clicked' && url !== undefined) refuse(`url is only for clicked events, not ${event}`);
  if (severity !== undefined && severity !== 'permanent' && severity !== 'temporary') {
    refuse(`severity must be 'permanent' or 'temporary', not ${JSON.stringify(severity)}`);
  }
  if (url !== undefined && (typeof url !== 'string' || url === '')) refuse('url must be a non-empty string');
  if (reason !== undefined && (typeof reason !== 'string' || reason === '')) refuse('reason must be a non-empty string');
  if (event === 'failed') {
    const level = severity ?? 'permanent';
    return { severity: level, reason: reason ?? (level === 'permanent' ? 'bounce' : 'generic'), url: undefined };
  }
  return { severity: undefined, reason: undefined, url: event === 'clicked' ? (url ?? DEFAULT_CLICK_URL) : undefined };
}

/** The details an engagement record has, leaving out those it has not. */
function definedDetails({ severity, reason, url }: EngagementRecord): Pick<MailgunEvent, 'severity' | 'reason' | 'url'> {
  return {
    ...(severity === undefined ? {} : { severity }),
    ...(reason === undefined ? {} : { reason }),
    ...(url === undefined ? {} : { url }),
  };
}

/** Events of an attempt to hand the message to the recipient's server: they carry its answer. */
function isDeliveryAttempt(event: EngagementKind): boolean {
  return event === 'delivered' || event === 'failed';
}

/**
 * Mailgun's own events (accepted, delivered, failed) carry the envelope, flags and the message's headers; those
 * about the recipient's reading (opened, clicked, ...) only its Message-Id.
 */
function carriesEnvelope(record: EventRecord): boolean {
  return !isEngagement(record) || isDeliveryAttempt(record.event);
}

function engagementFields(record: EngagementRecord): EngagementFields {
  return {
    ...definedDetails(record),
    ...(isDeliveryAttempt(record.event) ? { 'delivery-status': deliveryStatus(record) } : {}),
  };
}

/** The receiving server's answer, as Mailgun reports it. */
function deliveryStatus({ event, severity }: EngagementRecord): DeliveryStatus {
  const status = (code: number, message: string): DeliveryStatus => ({ 'attempt-no': 1, code, message, description: '' });
  if (event === 'delivered') return status(250, 'OK');
  if (severity === 'temporary') return status(452, '4.2.2 The email account that you tried to reach is over quota.');
  return status(550, '5.1.1 The email account that you tried to reach does not exist.');
}

function logLevel(record: EventRecord): string {
  if (!isEngagement(record)) return 'info';
  if (record.event === 'failed') return record.severity === 'temporary' ? 'warn' : 'error';
  return record.event === 'complained' ? 'warn' : 'info';
}

/** Mailgun's filter expression on one field: a value, or values joined by OR, lower-cased; undefined if absent. */
function parseOrExpression(raw: string | undefined, field: string): ReadonlySet<string> | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const terms = raw.trim().split(/\s+OR\s+/i);
  if (terms.some((term) => !/^[a-z_-]+$/i.test(term))) {
    throw new HttpError(400, `Unsupported ${field} filter ${JSON.stringify(raw)}: use a value, or values joined by OR`);
  }
  return new Set(terms.map((term) => term.toLowerCase()));
}

/** A predicate on events of the given kinds and (if given, so `failed` only) severities; undefined if both are. */
function eventFilter(
  kinds: ReadonlySet<string> | undefined,
  severities: ReadonlySet<string> | undefined,
): ((record: EventRecord) => boolean) | undefined {
  if (kinds === undefined && severities === undefined) return undefined;
  const severityOf = (record: EventRecord): string | undefined => (isEngagement(record) ? record.severity : undefined);
  return (record) => {
    const severity = severityOf(record);
    return (
      (kinds === undefined || kinds.has(kindOf(record))) &&
      (severities === undefined || (severity !== undefined && severities.has(severity)))
    );
  };
}

/** The sender's target and the kinds to post; throws on a config that makes no sense. */
function validWebhookConfig(config: WebhookConfig): { target: WebhookTarget; kinds: ReadonlySet<MailgunEventKind> } {
  let url: URL;
  try {
    url = new URL(config.url);
  } catch {
    throw new TypeError(`webhooks: url is not a valid URL: ${JSON.stringify(config.url)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`webhooks: url must be http(s): ${config.url}`);
  }
  if (typeof config.signingKey !== 'string' || config.signingKey === '') {
    throw new TypeError('webhooks: signingKey is required');
  }
  const retryDelaysMs = [...(config.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS)];
  if (retryDelaysMs.some((ms) => !Number.isFinite(ms) || ms < 0)) {
    throw new RangeError(`webhooks: retryDelaysMs must be finite numbers >= 0, got ${JSON.stringify(retryDelaysMs)}`);
  }
  const concurrency = config.concurrency ?? DEFAULT_WEBHOOK_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`webhooks: concurrency must be an integer >= 1, got ${concurrency}`);
  }
  const kinds = new Set(config.events ?? ENGAGEMENT_KINDS);
  const unknown = [...kinds].find((kind) => !EVENT_KINDS.includes(kind));
  if (unknown !== undefined) throw new RangeError(`webhooks: unknown event kind ${JSON.stringify(unknown)}`);
  return {
    target: { url: config.url, signingKey: config.signingKey, retryDelaysMs, concurrency, timeoutMs: WEBHOOK_TIMEOUT_MS },
    kinds,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Faults

function zeroFaultCounts(): Record<FaultKind, number> {
  return { 'rate-limit': 0, 'server-error': 0, slow: 0, 'accept-then-drop': 0, reject: 0 };
}

function validateRandomConfig(config: RandomFaultConfig): void {
  const probabilities = [config.rateLimit, config.serverError, config.acceptThenDrop, config.slow];
  if (probabilities.some((p) => p !== undefined && (p < 0 || p > 1))) {
    throw new RangeError('random fault probabilities must be within 0..1');
  }
  if (probabilities.reduce<number>((sum, p) => sum + (p ?? 0), 0) > 1) {
    throw new RangeError('random fault probabilities must sum to at most 1');
  }
}

/** One draw per request, mapped onto consecutive probability bands, so a seed fixes the whole fault sequence. */
function pickRandomFault(config: RandomFaultConfig, draw: number): Fault | undefined {
  const bands: Array<[number | undefined, () => Fault]> = [
    [config.rateLimit, () => ({ kind: 'rate-limit', retryAfterSeconds: config.retryAfterSeconds ?? 1 })],
    [config.serverError, () => ({ kind: 'server-error' })],
    [config.acceptThenDrop, () => ({ kind: 'accept-then-drop' })],
    [config.slow, () => ({ kind: 'slow', delayMs: config.slowDelayMs ?? 200 })],
  ];
  let upper = 0;
  for (const [probability, fault] of bands) {
    upper += probability ?? 0;
    if (draw < upper) return fault();
  }
  return undefined;
}

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

function appendIndex(index: Map<string, number[]>, key: string, value: number): void {
  const list = index.get(key);
  if (list) list.push(value);
  else index.set(key, [value]);
}

function toAcceptedMessage({ recipient, batch, recipientVariables }: RecipientRecord): AcceptedMessage {
  return {
    recipient,
    domain: batch.domain,
    messageId: batch.messageId,
    from: batch.from,
    subject: batch.subject,
    text: batch.text,
    html: batch.html,
    variables: batch.variables,
    recipientVariables,
    headers: Object.fromEntries(Object.entries(batch.headers).map(([name, value]) => [name, substitute(value, recipientVariables)])),
    tags: batch.tags,
    options: batch.options,
    acceptedAt: batch.acceptedAt,
  };
}

/** `%recipient.name%` → the recipient's variable `name` (empty when they have none), as Mailgun renders a copy. */
export function substitute(template: string, recipientVariables: Readonly<Record<string, unknown>> | undefined): string {
  return template.replace(/%recipient\.([A-Za-z0-9_-]+)%/g, (_, name: string) => {
    const value = recipientVariables?.[name];
    if (value === undefined || value === null) return '';
    return typeof value === 'string' ? value : JSON.stringify(value);
  });
}

function validLag(ms: number): number {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`eventsLagMs must be a finite number >= 0, got ${ms}`);
  return ms;
}

/** Real Mailgun reports the Message-Id header without the angle brackets the send response has. */
function bareMessageId(id: string): string {
  return id.startsWith('<') && id.endsWith('>') ? id.slice(1, -1) : id;
}

function recipientDomain(recipient: string): string {
  return recipient.slice(recipient.lastIndexOf('@') + 1);
}

function messageInfo(recipient: string, batch: Batch): MessageInfo {
  return {
    headers: { 'message-id': bareMessageId(batch.messageId), to: recipient, from: batch.from, subject: batch.subject },
    attachments: [],
    size: (batch.text?.length ?? 0) + (batch.html?.length ?? 0),
  };
}


/** `YYYYMMDDhhmmss` in UTC, like the prefix of real Mailgun message ids. */
function compactTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14);
}




function respondUnauthorized(res: ServerResponse): void {
  respondJson(res, 401, { message: 'Forbidden' }, { 'WWW-Authenticate': 'Basic realm="MG API"' });
}

function respondError(res: ServerResponse, err: unknown): void {
  if (err instanceof HttpError) respondJson(res, err.status, { message: err.message });
  else respondJson(res, 500, { message: `Internal Server Error: ${String(err)}` });
}
