import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import busboy from 'busboy';

/**
 * A Mailgun-compatible HTTP stand-in: `POST /v3/:domain/messages` (multipart or urlencoded, as sent by
 * mailgun.js) and `GET /v3/:domain/events[/:pageToken]`, with scripted and seeded-random fault injection.
 */

export interface MailgunServerOptions {
  /** Password expected in HTTP Basic auth (`api:KEY`). Default `'test-key'`. */
  apiKey?: string;
  /** Default `'127.0.0.1'`. */
  host?: string;
  /** Default 0 (a free port chosen by the OS). */
  port?: number;
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
  /** Epoch milliseconds. */
  readonly acceptedAt: number;
}

export interface MailgunServer {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** `http://host:port`; throws before `start()`. */
  readonly url: string;
  readonly apiKey: string;
  /** Every accepted recipient, in acceptance order. Materialised lazily; prefer `acceptedCount` for polling. */
  accepted(): readonly AcceptedMessage[];
  /** Number of accepted recipients (cheap). */
  readonly acceptedCount: number;
  /** A fresh copy: recipient address (as sent) → number of times it was accepted. */
  countsByRecipient(): Map<string, number>;
  /** HTTP requests received on the messages endpoint, whatever their outcome. */
  readonly requests: number;
  /** Send requests whose recipients were recorded (including `accept-then-drop`). */
  readonly acceptedBatches: number;
  readonly faultsInjected: Readonly<Record<FaultKind, number>>;
  /** Queue faults consumed, in order, by the next send requests. They take precedence over random faults. */
  injectFaults(...faults: Fault[]): void;
  setRandomFaults(config: RandomFaultConfig | null): void;
  /** Clears records, counters, queued and random faults. */
  reset(): void;
}

export function createMailgunServer(options: MailgunServerOptions = {}): MailgunServer {
  return new MailgunStandIn(options);
}

const MAX_RECIPIENTS = 1000;
const MAX_FIELD_BYTES = 25 * 1024 * 1024;
const DEFAULT_EVENTS_LIMIT = 100;
const MAX_EVENTS_LIMIT = 300;
const ADDRESS = /^[^\s@<>,]+@[^\s@<>,]+$/;

/** What one accepted API call shares among its recipients, stored once. */
interface Batch {
  readonly domain: string;
  readonly messageId: string;
  readonly from: string;
  readonly subject: string;
  readonly text: string | undefined;
  readonly html: string | undefined;
  readonly variables: Readonly<Record<string, string>>;
  readonly acceptedAt: number;
}

interface RecipientRecord {
  readonly recipient: string;
  readonly batch: Batch;
  readonly recipientVariables: Readonly<Record<string, unknown>> | undefined;
}

interface ParsedForm {
  readonly fields: Map<string, string>;
  readonly to: string[];
  readonly variables: Record<string, string>;
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

  private records: RecipientRecord[] = [];
  private byRecipient = new Map<string, number[]>();
  private byDomain = new Map<string, number[]>();
  private counts = new Map<string, number>();
  private materialized: AcceptedMessage[] = [];
  private generation = 0;
  private messageSeq = 0;

  private requestCount = 0;
  private batchCount = 0;
  private faultCounts = zeroFaultCounts();
  private scripted: Fault[] = [];
  private random: { config: RandomFaultConfig; next: () => number } | undefined;
  private readonly pendingDelays = new Set<() => void>();

  constructor(options: MailgunServerOptions) {
    this.apiKey = options.apiKey ?? 'test-key';
    this.host = options.host ?? '127.0.0.1';
    this.port = options.port ?? 0;
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
    return this.records.length;
  }

  get faultsInjected(): Readonly<Record<FaultKind, number>> {
    return { ...this.faultCounts };
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => respondError(res, err));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    this.server = server;
    this.baseUrl = `http://${urlHost(this.host)}:${port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const cancel of this.pendingDelays) cancel();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  accepted(): readonly AcceptedMessage[] {
    for (let i = this.materialized.length; i < this.records.length; i++) {
      this.materialized.push(toAcceptedMessage(this.records[i] as RecipientRecord));
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
    this.counts = new Map();
    this.materialized = [];
    this.generation++;
    this.requestCount = 0;
    this.batchCount = 0;
    this.faultCounts = zeroFaultCounts();
    this.scripted = [];
    this.random = undefined;
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
    if (events?.[1] !== undefined && req.method === 'GET') {
      if (!this.authorized(req)) return respondUnauthorized(res);
      const cursor = events[2] === undefined ? cursorFromQuery(url.searchParams) : decodeCursor(events[2]);
      return respondJson(res, 200, this.eventsPage(decodeURIComponent(events[1]), cursor));
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
    if (fault?.kind === 'slow' && !(await this.delay(fault.delayMs))) return;
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

  /** Resolves false if the server was stopped during the delay. */
  private delay(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const cancel = (): void => {
        clearTimeout(timer);
        this.pendingDelays.delete(cancel);
        resolve(false);
      };
      const timer = setTimeout(() => {
        this.pendingDelays.delete(cancel);
        resolve(true);
      }, ms);
      this.pendingDelays.add(cancel);
    });
  }

  private record(send: ValidSend): string {
    const acceptedAt = Date.now();
    const messageId = `<${compactTimestamp(acceptedAt)}.${(++this.messageSeq).toString(36)}.${randomBytes(4).toString('hex')}@${send.domain}>`;
    const batch: Batch = {
      domain: send.domain,
      messageId,
      from: send.from,
      subject: send.subject,
      text: send.text,
      html: send.html,
      variables: send.variables,
      acceptedAt,
    };
    for (const recipient of send.recipients) {
      const own = send.recipientVariables?.[recipient];
      this.addRecord({ recipient, batch, recipientVariables: isPlainObject(own) ? own : undefined });
    }
    this.batchCount++;
    return messageId;
  }

  private addRecord(record: RecipientRecord): void {
    const index = this.records.push(record) - 1;
    appendIndex(this.byRecipient, record.recipient.toLowerCase(), index);
    appendIndex(this.byDomain, record.batch.domain, index);
    this.counts.set(record.recipient, (this.counts.get(record.recipient) ?? 0) + 1);
  }

  private eventsPage(domain: string, cursor: EventsCursor): EventsResponseBody {
    const candidates = this.candidates(domain, cursor);
    const { lo, hi } = timeRange(candidates, (i) => (this.records[i] as RecipientRecord).batch.acceptedAt, cursor);
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

  /** Record indices that may match, in acceptance order, taken from the recipient's or the domain's index. */
  private candidates(domain: string, cursor: EventsCursor): readonly number[] {
    if (cursor.event !== undefined && !/\baccepted\b/i.test(cursor.event)) return [];
    if (cursor.recipient === undefined) return this.byDomain.get(domain) ?? [];
    const own = this.byRecipient.get(cursor.recipient.toLowerCase()) ?? [];
    return own.filter((i) => (this.records[i] as RecipientRecord).batch.domain === domain);
  }

  private eventItem(index: number): EventItem {
    const { recipient, batch } = this.records[index] as RecipientRecord;
    return {
      event: 'accepted',
      id: `${this.generation.toString(36)}-${index.toString(36)}`,
      timestamp: batch.acceptedAt / 1000,
      'log-level': 'info',
      method: 'HTTP',
      recipient,
      'recipient-domain': recipient.slice(recipient.lastIndexOf('@') + 1),
      tags: [],
      envelope: { sender: batch.from, targets: recipient, transport: 'smtp' },
      flags: { 'is-authenticated': true, 'is-test-mode': false, 'is-routed': false, 'is-system-test': false },
      // Real Mailgun reports the Message-Id header without the angle brackets the send response has.
      message: {
        headers: { 'message-id': batch.messageId.slice(1, -1), to: recipient, from: batch.from, subject: batch.subject },
        attachments: [],
        size: (batch.text?.length ?? 0) + (batch.html?.length ?? 0),
      },
      'user-variables': batch.variables,
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
    const form: ParsedForm = { fields: new Map(), to: [], variables: {} };
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
  else form.fields.set(name, value);
}

function validateSend(domain: string, form: ParsedForm): ValidSend {
  const { fields } = form;
  const from = fields.get('from');
  const subject = fields.get('subject');
  const text = fields.get('text');
  const html = fields.get('html');
  if (!from) throw new HttpError(400, 'from parameter is missing');
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
    recipients,
    recipientVariables: parseRecipientVariables(fields.get('recipient-variables')),
  };
}

/** Splits `"A <a@x>, b@y"` into bare addresses; rejects anything that is not one. */
function parseAddressList(value: string): string[] {
  return value.split(',').map((part) => {
    const trimmed = part.trim();
    const angled = /<([^>]*)>\s*$/.exec(trimmed);
    const address = (angled?.[1] ?? trimmed).trim();
    if (!ADDRESS.test(address)) throw new HttpError(400, 'to parameter is not a valid address. please check documentation');
    return address;
  });
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
  readonly event?: string | undefined;
  /** Inclusive bounds, epoch ms. */
  readonly beginMs?: number | undefined;
  readonly endMs?: number | undefined;
  readonly asc: boolean;
  readonly limit: number;
  /** Position in the candidate list where the page starts; absent for the first page. */
  readonly pos?: number | undefined;
}

interface EventItem {
  event: 'accepted';
  id: string;
  timestamp: number;
  'log-level': string;
  method: string;
  recipient: string;
  'recipient-domain': string;
  tags: string[];
  envelope: { sender: string; targets: string; transport: string };
  flags: Record<string, boolean>;
  message: {
    headers: { 'message-id': string; to: string; from: string; subject: string };
    attachments: [];
    size: number;
  };
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
  // Without an explicit direction Mailgun infers it from begin/end order (begin > end = descending), else newest first.
  const asc = ascending !== null ? ascending === 'yes' : begin !== undefined && end !== undefined && begin <= end;
  return {
    recipient: params.get('recipient') ?? undefined,
    event: params.get('event') ?? undefined,
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

/** Candidate positions [lo, hi) whose time lies within the cursor's inclusive bounds (binary search). */
function timeRange(list: readonly number[], timeOf: (index: number) => number, cursor: EventsCursor): { lo: number; hi: number } {
  const firstWhere = (pred: (t: number) => boolean): number => {
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pred(timeOf(list[mid] as number))) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  const { beginMs, endMs } = cursor;
  return {
    lo: beginMs === undefined ? 0 : firstWhere((t) => t >= beginMs),
    hi: endMs === undefined ? list.length : firstWhere((t) => t > endMs),
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
    acceptedAt: batch.acceptedAt,
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `YYYYMMDDhhmmss` in UTC, like the prefix of real Mailgun message ids. */
function compactTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/** Reads the request body to its end before replying, so the client never sees a reset mid-upload. */
function drainThen(req: IncomingMessage, reply: () => void): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      reply();
      resolve();
    };
    if (req.readableEnded) return done();
    req.once('end', done);
    req.once('error', () => resolve());
    req.resume();
  });
}

function respondJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

function respondUnauthorized(res: ServerResponse): void {
  respondJson(res, 401, { message: 'Forbidden' }, { 'WWW-Authenticate': 'Basic realm="MG API"' });
}

function respondError(res: ServerResponse, err: unknown): void {
  if (err instanceof HttpError) respondJson(res, err.status, { message: err.message });
  else respondJson(res, 500, { message: `Internal Server Error: ${String(err)}` });
}
