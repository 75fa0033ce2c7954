import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseApiKeyFile, parseApiKeys, type ApiKey } from '../api/keys.js';
import { MAX_BATCHES_PER_RUN } from '../common/batches.js';
import { isDomainName, parseMailbox, senderProblem } from '../common/addresses.js';
import type { SendOptions } from '../common/campaign.js';
import { MISSING_REPORTS_POLICIES, SIGNING_FAILURE_POLICIES } from '../common/financial.js';
import type { LifecycleOptions } from '../common/lifecycle.js';
import { DEFAULT_BRAKE_LIMITS, type BrakeLimits } from '../common/brake.js';
import { STREAMS, type SendingStream, type SendingStreams, type Stream } from '../common/streams.js';
import type { UnsubscribeSettings } from '../consent/unsubscribe-links.js';
import type { FinancialRunOptions } from '../workflows/financial-run-api.js';

/**
 * Every setting the worker, CLI and local stack read from the environment.
 * `.env.example` documents each one; keep the two in step.
 */
const bool = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1');

const positiveInt = z.coerce.number().int().positive();

/** Which Mailgun store answers "was this batch accepted?". */
export const OUTCOME_LOOKUPS = ['logs', 'events'] as const;
export type OutcomeLookup = (typeof OUTCOME_LOOKUPS)[number];
const nonNegativeInt = z.coerce.number().int().nonnegative();
/** A share in percent: more than 0, at most 100. */
const percent = z.coerce.number().positive('must be more than 0 (percent)').max(100, 'must be at most 100 (percent)');

export const LOCAL_DATABASE_URL = 'postgres://postgres:postgres@127.0.0.1:55432/campaigns';

function commaList(value: string): string[] {
  return value.split(',').map((item) => item.trim()).filter(Boolean);
}

/** Comma-separated domain names, lower-cased, each once. */
const domainList = z.string().transform((value, ctx) => {
  const domains = commaList(value).map((domain) => domain.toLowerCase());
  if (domains.length === 0) ctx.addIssue('must list at least one domain');
  for (const domain of domains.filter((d) => !isDomainName(d))) ctx.addIssue(`${domain} is not a domain name`);
  for (const domain of domains.filter((d, i) => domains.indexOf(d) !== i)) ctx.addIssue(`${domain} is listed twice`);
  return domains;
});

/** `domain=messagesPerSecond` pairs, comma-separated: each domain once (lower-cased), each rate a positive number. */
const domainRates = z.string().transform((value, ctx) => {
  const rates: Record<string, number> = {};
  const entries = commaList(value);
  if (entries.length === 0) ctx.addIssue('must list domain=messagesPerSecond pairs, e.g. mg.distronation.com=500');
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    const domain = entry.slice(0, eq).trim().toLowerCase();
    const rate = entry.slice(eq + 1).trim();
    if (eq < 0) ctx.addIssue(`${entry}: must be domain=messagesPerSecond`);
    else if (!isDomainName(domain)) ctx.addIssue(`${entry}: ${domain || '(nothing)'} is not a domain name`);
    else if (!/^\d+(?:\.\d+)?$/.test(rate) || Number(rate) <= 0) ctx.addIssue(`${entry}: the rate must be a positive number of messages per second`);
    else if (Object.hasOwn(rates, domain)) ctx.addIssue(`${domain} is listed twice`);
    else rates[domain] = Number(rate);
  }
  return rates;
});

/** Comma-separated stream names, each once; `none` for no stream. */
const streamList = z.string().transform((value, ctx) => {
  const streams = value.trim() === 'none' ? [] : commaList(value);
  for (const stream of streams.filter((s) => !(STREAMS as readonly string[]).includes(s))) ctx.addIssue(`${stream} is not a stream (${STREAMS.join(', ')})`);
  return [...new Set(streams)] as Stream[];
});

/** A domain name, lower-cased. */
const domainName = z.string().transform((value, ctx) => {
  const domain = value.trim().toLowerCase();
  if (!isDomainName(domain)) ctx.addIssue(`${value} is not a domain name`);
  return domain;
});

/** A Mailgun dedicated IP pool's id. */
const ipPool = z.string().trim().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be a Mailgun IP pool's id (letters, digits, - and _)");

/** The name of a stream's own setting: `MAILGUN_DOMAIN_NEWSLETTER` for `MAILGUN_DOMAIN` and `newsletter`. */
export type StreamKey<P extends string> = `${P}_${Uppercase<Stream>}`;

export function streamKey<P extends string>(prefix: P, stream: Stream): StreamKey<P> {
  return `${prefix}_${stream.toUpperCase()}` as StreamKey<P>;
}

/** One optional setting per stream, e.g. MAILGUN_DOMAIN_FINANCIAL, MAILGUN_DOMAIN_NEWSLETTER, … */
function perStream<P extends string, S extends z.ZodType>(prefix: P, schema: S): Record<StreamKey<P>, z.ZodOptional<S>> {
  return Object.fromEntries(STREAMS.map((stream) => [streamKey(prefix, stream), schema.optional()])) as Record<StreamKey<P>, z.ZodOptional<S>>;
}

/** Secrets that may come from a file instead (`<NAME>_FILE`, e.g. a compose or Kubernetes secret); API keys have API_KEYS_FILE, of hashes. */
export const SECRET_SETTINGS = [
  'DATABASE_URL',
  'TEMPORAL_API_KEY',
  'MAILGUN_API_KEY',
  'MAILGUN_WEBHOOK_SIGNING_KEY',
  'OPENAI_API_KEY',
  'AWS_SECRET_ACCESS_KEY',
  'UNSUBSCRIBE_SECRET',
] as const;
type SecretFileKey = `${(typeof SECRET_SETTINGS)[number]}_FILE`;

const secretFiles = Object.fromEntries(SECRET_SETTINGS.map((name) => [`${name}_FILE`, z.string().min(1).optional()])) as Record<
  SecretFileKey,
  z.ZodOptional<z.ZodString>
>;

/** A mailbox, `addr@domain` or `Display Name <addr@domain>`. */
const mailbox = z.string().superRefine((value, ctx) => {
  const parsed = parseMailbox(value);
  if (typeof parsed === 'string') ctx.addIssue(parsed);
});

const configSchema = z.object({
  /** Paths of files holding secrets (see SECRET_SETTINGS), read at start instead of the variable. */
  ...secretFiles,
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('campaigns'),
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS: bool.default(false),

  /** Defaults to the embedded PostgreSQL that `npm start` runs. */
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// connection URL')
    .default(LOCAL_DATABASE_URL),
  DATABASE_POOL_SIZE: positiveInt.default(10),

  MAILGUN_API_KEY: z.string().min(1).optional(),
  MAILGUN_DOMAIN: z.string().min(1).default('mg.distronation.com'),
  /** Where previews may go: addresses on these domains or their subdomains (comma-separated); anyone else is refused. */
  PREVIEW_ALLOWED_DOMAINS: domainList.default(['distronation.com']),
  /** Further domains a campaign's `from` may be on (comma-separated); MAILGUN_DOMAIN is always one. */
  MAILGUN_FROM_DOMAINS: domainList.optional(),
  MAILGUN_URL: z.url().default('https://api.mailgun.net'),
  /** The sender of campaigns that name none: a mailbox on one of the sender domains (checked in loadConfig). */
  MAILGUN_FROM: mailbox.default('Distro Nation <no-reply@mg.distronation.com>'),
  /** Sending streams (README, "Sending streams"): each stream's domain (else MAILGUN_DOMAIN), default sender (else MAILGUN_FROM) and IP pool. */
  ...perStream('MAILGUN_DOMAIN', domainName),
  ...perStream('MAILGUN_FROM', mailbox),
  ...perStream('MAILGUN_IP_POOL', ipPool),
  MAILGUN_TIMEOUT_MS: positiveInt.default(30_000),
  /** The least time after an ambiguous send attempt (and its timeout) before Mailgun's logs are asked about it. */
  MAILGUN_EVENTS_SETTLE_MS: nonNegativeInt.default(30_000),
  /** How long to wait for Mailgun's logs to prove an ambiguous attempt's outcome before an operator must decide. */
  MAILGUN_OUTCOME_MAX_WAIT_MS: positiveInt.default(30 * 60_000),
  /** Which Mailgun store answers "was this batch accepted?": the Logs API, or the deprecated events API. */
  MAILGUN_OUTCOME_LOOKUP: z.enum(OUTCOME_LOOKUPS).default('logs'),
  /** Where test-mode probes go (accepted and logged, never delivered); default outcome-probe@MAILGUN_DOMAIN. */
  MAILGUN_PROBE_RECIPIENT: z.email().optional(),
  /** Wait after a 429 when Mailgun's answer gives no Retry-After (mailgun.js hides response headers). */
  MAILGUN_RATE_LIMIT_BACKOFF_MS: positiveInt.default(10_000),

  /** Mailgun's HTTP webhook signing key; unset, the API does not serve POST /webhooks/mailgun. */
  MAILGUN_WEBHOOK_SIGNING_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
  /** How far a webhook signature's timestamp may be from now; older (or newer) requests are refused as replays. */
  MAILGUN_WEBHOOK_MAX_AGE_MS: positiveInt.default(5 * 60_000),
  /** Webhook requests a minute one client address may make before 429 (Mailgun retries those). */
  MAILGUN_WEBHOOK_RATE_LIMIT_PER_MINUTE: positiveInt.default(60_000),

  /** Unset: content generation fails with a clear message (npm start runs a local OpenAI-compatible server instead). */
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_BASE_URL: z.url().default('https://api.openai.com/v1'),
  OPENAI_MODEL: z.string().min(1).default('gpt-4o-mini'),
  OPENAI_TIMEOUT_MS: positiveInt.default(60_000),

  /** AWS: the default credential chain unless both keys are given (the local stand-ins need them). */
  AWS_REGION: z.string().min(1).default('us-east-1'),
  AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  /** Endpoints of S3- and Secrets-Manager-compatible services (s3rver, moto); unset = AWS itself. */
  S3_ENDPOINT: z.url().optional(),
  SECRETS_MANAGER_ENDPOINT: z.url().optional(),
  REPORTS_BUCKET: z.string().min(3).default('dn-reports'),
  /** Where report links point: the CloudFront distribution in front of REPORTS_BUCKET (no path). */
  CLOUDFRONT_URL: z
    .string()
    .regex(/^https?:\/\/[A-Za-z0-9.-]+(:\d+)?$/, 'must be a base URL without a path, like https://d111111abcdef8.cloudfront.net')
    .default('https://reports.distronation.com'),
  /** Where the CloudFront key pair lives: a Secrets Manager secret, or (development only) the two variables below. */
  CLOUDFRONT_KEY_SOURCE: z.enum(['secrets-manager', 'development']).default('secrets-manager'),
  CLOUDFRONT_KEY_SECRET_ID: z.string().min(1).default('campaigns/cloudfront-signing-key'),
  CLOUDFRONT_KEY_PAIR_ID: z.string().min(1).optional(),
  CLOUDFRONT_PRIVATE_KEY: z.string().min(1).optional(),

  /** The monthly financial run: what it does without files or without a signing key, and its schedule. */
  FINANCIAL_MISSING_REPORTS: z.enum(MISSING_REPORTS_POLICIES).default('send-without-links'),
  FINANCIAL_SIGNING_FAILURE: z.enum(SIGNING_FAILURE_POLICIES).default('fail'),
  FINANCIAL_TIME_ZONE: z
    .string()
    .refine((tz) => {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    }, 'must be an IANA time zone, like America/Los_Angeles')
    .default('America/Los_Angeles'),
  FINANCIAL_DAY_OF_MONTH: z.coerce.number().int().min(1).max(28).default(1),
  FINANCIAL_HOUR: z.coerce.number().int().min(0).max(23).default(6),
  FINANCIAL_MINUTE: z.coerce.number().int().min(0).max(59).default(0),
  FINANCIAL_CATCHUP_WINDOW_MS: positiveInt.default(24 * 3_600_000),

  FIRESTORE_PROJECT_ID: z.string().min(1).default('distro-nation-crm'),
  /** host:port of a Firestore emulator; unset means the real Firestore with default credentials. */
  FIRESTORE_EMULATOR_HOST: z
    .string()
    .regex(/^[^:\s]+:\d+$/, 'must be host:port')
    .optional(),

  SEND_BATCH_SIZE: positiveInt.max(1000, 'Mailgun accepts at most 1000 recipients per call').default(1000),
  SEND_WINDOW: positiveInt.max(64).default(4),
  /** The sending rate budget of a domain not in SEND_DOMAIN_RATES, shared by every campaign and worker sending on it. */
  SEND_RATE_PER_SECOND: positiveInt.default(500),
  /** Per-domain budgets, `domain=messagesPerSecond,...`; a domain not listed gets SEND_RATE_PER_SECOND. */
  SEND_DOMAIN_RATES: domainRates.optional(),
  SEND_BATCHES_PER_RUN: positiveInt.max(MAX_BATCHES_PER_RUN).default(200),
  /** The brake (README, "The brake"): once this many are delivered, a send pauses itself above these rates. */
  SEND_BRAKE_MIN_DELIVERED: positiveInt.default(DEFAULT_BRAKE_LIMITS.minDelivered),
  SEND_BRAKE_BOUNCE_PERCENT: percent.default(DEFAULT_BRAKE_LIMITS.bouncePercent),
  SEND_BRAKE_COMPLAINT_PERCENT: percent.default(DEFAULT_BRAKE_LIMITS.complaintPercent),

  /** How long a campaign stays open after sending, refreshing its analytics, before it is analysed and archived. */
  TRACKING_WINDOW_MS: positiveInt.default(72 * 3_600_000),
  ANALYTICS_REFRESH_MS: positiveInt.default(15 * 60_000),
  /** How often the API writes changed campaign counters to Firestore campaignAnalytics/{id}. */
  ANALYTICS_PROJECTION_INTERVAL_MS: positiveInt.default(1000),

  /**
   * Unsubscribe links (README, "Unsubscribe links"): where the API is reached from outside (links are
   * `${PUBLIC_URL}/u/TOKEN`) and the HMAC key of their tokens. Marketing campaigns cannot be approved without both.
   */
  PUBLIC_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  UNSUBSCRIBE_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** An address that takes unsubscribe requests by mail, offered second in List-Unsubscribe; none by default. */
  UNSUBSCRIBE_MAILTO: z.email().optional(),
  /** The sender's postal address, in the footer every marketing message gets unless its content places the link itself. */
  SENDER_POSTAL_ADDRESS: z.string().trim().min(1).max(300).optional(),
  /** Statements carry unsubscribe links too (marketing always does). */
  UNSUBSCRIBE_ON_STATEMENTS: bool.default(false),
  /** Requests per minute one client address may make to /u/:token (each API instance counts its own). */
  UNSUBSCRIBE_RATE_LIMIT_PER_MINUTE: positiveInt.default(60),
  /** The streams whose opens Mailgun tracks (comma-separated); statements never get click tracking. */
  TRACK_OPENS_STREAMS: streamList.default(['newsletter', 'outreach']),

  /** The trigger API (npm run api, npm start). */
  API_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  API_HOST: z.string().min(1).default('127.0.0.1'),
  /** Requests a minute each API key may make before 429. */
  API_RATE_LIMIT_PER_MINUTE: positiveInt.default(1200),
  /** Named keys with scopes, `name:scope,scope:key;…` (README, "API keys and scopes"); the API compares their SHA-256. */
  API_KEYS: z
    .string()
    .transform((value, ctx) => {
      const parsed = parseApiKeys(value);
      if ('problems' in parsed) {
        for (const problem of parsed.problems) ctx.addIssue(problem);
        return z.NEVER;
      }
      return parsed.keys;
    })
    .optional(),
  /** A JSON file of `{ "name", "scopes", "sha256" }` keys, for production (no key in it); with API_KEYS, both are accepted. */
  API_KEYS_FILE: z.string().min(1).optional(),

  /**
   * host:port where this process serves GET /metrics for Prometheus (its own figures and, in a worker, the
   * Temporal SDK's); a listener of its own, never the public API. Unset: no metrics are served.
   */
  METRICS_ADDRESS: z
    .string()
    .refine((value) => /^\[?[^\]]+?\]?:\d{1,5}$/.test(value) && Number(value.split(':').at(-1)) <= 65535, 'must be host:port, e.g. 0.0.0.0:9464')
    .optional(),
  /**
   * An OTLP/HTTP receiver (a collector, Jaeger, Tempo, …) this process sends trace spans to, at
   * `<url>/v1/traces`: API requests, workflow starts, runs and activities. Unset: tracing is off.
   */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http(s):// URL, e.g. http://127.0.0.1:4318' }).optional(),
  /** The `service.name` of this process's spans; default dn-campaigns-worker, dn-campaigns-api or dn-campaigns (npm start). */
  OTEL_SERVICE_NAME: z.string().min(1).optional(),

  WORKER_MAX_CONCURRENT_ACTIVITIES: positiveInt.default(16),
  /** A prebuilt workflow bundle (`npm run build:workflows`); unset bundles workflows/ at start (slower, more memory). */
  WORKFLOW_BUNDLE_PATH: z.string().min(1).optional(),
  WORKER_SHUTDOWN_GRACE_MS: positiveInt.default(30_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = z.infer<typeof configSchema>;
export const CONFIG_KEYS = Object.keys(configSchema.shape) as Array<keyof Config>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment; throws ConfigError naming each bad variable. Empty strings count as unset. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, read: (path: string) => string = (path) => readFileSync(path, 'utf8')): Config {
  const present = withSecretFiles(
    Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== '')),
    read,
  );
  const parsed = configSchema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`),
    );
  }
  const config = parsed.data;
  const problems = senderProblems(config);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Each `<NAME>_FILE` read into `<NAME>` (one trailing newline dropped; empty: unset); both set, or a file that cannot be read, is an error naming it. */
function withSecretFiles(env: Record<string, string | undefined>, read: (path: string) => string): Record<string, string | undefined> {
  const problems: string[] = [];
  const out = { ...env };
  for (const name of SECRET_SETTINGS) {
    const path = env[`${name}_FILE`];
    if (path === undefined) continue;
    if (env[name] !== undefined) {
      problems.push(`${name}_FILE: ${name} is set too: set one of them`);
      continue;
    }
    try {
      const value = read(path).replace(/\r?\n$/, '');
      if (value !== '') out[name] = value; // an empty file counts as unset, like an empty variable
    } catch (error) {
      problems.push(`${name}_FILE: cannot read ${path}: ${(error as Error).message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}

/** Each stream's default sender must be on a domain that stream may send from; each problem once, naming the setting. */
function senderProblems(config: Config): string[] {
  const problems = new Set<string>();
  for (const stream of STREAMS) {
    const own = streamKey('MAILGUN_FROM', stream);
    const from = config[own] ?? config.MAILGUN_FROM;
    const problem = senderProblem(from, senderDomains(config)[stream]);
    if (!problem) continue;
    const domain = streamDomain(config, stream);
    if (config[own] !== undefined) problems.add(`${own}: ${problem} (MAILGUN_FROM_DOMAINS lists further domains)`);
    else if (domain === config.MAILGUN_DOMAIN.toLowerCase()) problems.add(`MAILGUN_FROM: ${problem} (MAILGUN_FROM_DOMAINS lists further domains)`);
    else problems.add(`MAILGUN_FROM: ${problem}; ${stream} messages go from ${domain} (${streamKey('MAILGUN_DOMAIN', stream)}): set ${own}`);
  }
  return [...problems];
}

/** Like loadConfig, but for process entry points: print the problems and exit 1. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}

/** Settings that must be present for a process that talks to the real services. */
export function requireSetting<K extends keyof Config>(config: Config, key: K): NonNullable<Config[K]> {
  const value = config[key];
  if (value === undefined || value === null) {
    throw new ConfigError([`${String(key)}: required but not set`]);
  }
  return value;
}

/** What the lifecycle workflow of every campaign is started with. */
export function lifecycleOptions(config: Config): LifecycleOptions {
  return {
    sendDefaults: sendDefaults(config),
    trackingWindowMs: config.TRACKING_WINDOW_MS,
    analyticsRefreshMs: config.ANALYTICS_REFRESH_MS,
  };
}

/** What each monthly financial run is started with. */
export function financialRunOptions(config: Config): FinancialRunOptions {
  return {
    lifecycle: lifecycleOptions(config),
    missingReports: config.FINANCIAL_MISSING_REPORTS,
    signingFailure: config.FINANCIAL_SIGNING_FAILURE,
  };
}

/** Send tuning a trigger applies when the caller gives none. */
export function sendDefaults(config: Config): SendOptions {
  return {
    batchSize: config.SEND_BATCH_SIZE,
    window: config.SEND_WINDOW,
    batchesPerRun: config.SEND_BATCHES_PER_RUN,
  };
}

export function brakeLimits(config: Config): BrakeLimits {
  return {
    minDelivered: config.SEND_BRAKE_MIN_DELIVERED,
    bouncePercent: config.SEND_BRAKE_BOUNCE_PERCENT,
    complaintPercent: config.SEND_BRAKE_COMPLAINT_PERCENT,
  };
}

/** The API's keys: API_KEYS and API_KEYS_FILE together; ConfigError naming the setting when neither gives any or the file is bad. */
export function apiKeys(config: Pick<Config, 'API_KEYS' | 'API_KEYS_FILE'>, read: (path: string) => string = (path) => readFileSync(path, 'utf8')): ApiKey[] {
  const keys = [...(config.API_KEYS ?? [])];
  if (config.API_KEYS_FILE !== undefined) {
    let text: string;
    try {
      text = read(config.API_KEYS_FILE);
    } catch (error) {
      throw new ConfigError([`API_KEYS_FILE: cannot read ${config.API_KEYS_FILE}: ${(error as Error).message}`]);
    }
    const parsed = parseApiKeyFile(text);
    if ('problems' in parsed) throw new ConfigError(parsed.problems.map((p) => `API_KEYS_FILE: ${p}`));
    keys.push(...parsed.keys);
  }
  if (keys.length === 0) throw new ConfigError(['API_KEYS: required (or API_KEYS_FILE): named keys with scopes, e.g. crm:read,send:<key>']);
  const names = keys.map((k) => k.name);
  const twice = names.filter((name, i) => names.indexOf(name) !== i);
  if (twice.length > 0) throw new ConfigError([`API_KEYS_FILE: ${[...new Set(twice)].join(', ')}: named in API_KEYS too`]);
  return keys;
}

/** Unsubscribe links, when PUBLIC_URL and UNSUBSCRIBE_SECRET are both set. */
export function unsubscribeSettings(config: Config): UnsubscribeSettings | undefined {
  if (!config.PUBLIC_URL || !config.UNSUBSCRIBE_SECRET) return undefined;
  return {
    publicUrl: config.PUBLIC_URL,
    secret: config.UNSUBSCRIBE_SECRET,
    ...(config.UNSUBSCRIBE_MAILTO ? { mailto: config.UNSUBSCRIBE_MAILTO } : {}),
    ...(config.SENDER_POSTAL_ADDRESS ? { postalAddress: config.SENDER_POSTAL_ADDRESS } : {}),
    onStatements: config.UNSUBSCRIBE_ON_STATEMENTS,
  };
}

/** The domain a stream sends on: MAILGUN_DOMAIN_<STREAM>, else MAILGUN_DOMAIN (lower-cased). */
export function streamDomain(config: Config, stream: Stream): string {
  return config[streamKey('MAILGUN_DOMAIN', stream)] ?? config.MAILGUN_DOMAIN.toLowerCase();
}

export function sendingStreams(config: Config): SendingStreams {
  return Object.fromEntries(
    STREAMS.map((stream) => {
      const ipPool = config[streamKey('MAILGUN_IP_POOL', stream)];
      const sending: SendingStream = {
        domain: streamDomain(config, stream),
        from: config[streamKey('MAILGUN_FROM', stream)] ?? config.MAILGUN_FROM,
        ...(ipPool === undefined ? {} : { ipPool }),
      };
      return [stream, sending];
    }),
  ) as Record<Stream, SendingStream>;
}

/** The domains a campaign's `from` may be on, per stream, lower-cased: the stream's sending domain and MAILGUN_FROM_DOMAINS. */
export function senderDomains(config: Config): Readonly<Record<Stream, string[]>> {
  return Object.fromEntries(
    STREAMS.map((stream) => [stream, [...new Set([streamDomain(config, stream), ...(config.MAILGUN_FROM_DOMAINS ?? [])])]]),
  ) as Record<Stream, string[]>;
}

/** Every domain some stream sends on, each once. */
export function sendingDomains(config: Config): string[] {
  return [...new Set(STREAMS.map((stream) => streamDomain(config, stream)))];
}

/** The messages-per-second budget of a sending domain: its SEND_DOMAIN_RATES entry, else SEND_RATE_PER_SECOND. */
export function domainRate(config: Pick<Config, 'SEND_DOMAIN_RATES' | 'SEND_RATE_PER_SECOND'>, domain: string): number {
  const rates = config.SEND_DOMAIN_RATES ?? {};
  const key = domain.toLowerCase();
  return (Object.hasOwn(rates, key) ? rates[key] : undefined) ?? config.SEND_RATE_PER_SECOND;
}
