import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { closeServer, drainThen, isPlainObject, listen, PendingDelays, readJson, respondJson as sendJson } from './http.js';
import type { ChatCompletion } from 'openai/resources/chat/completions';

/**
 * An OpenAI-compatible HTTP stand-in for the chat completions API, with scripted fault injection.
 *
 * `npm start` runs it when no `OPENAI_API_KEY` is configured, so the "draft content with AI" step works offline;
 * tests use it to script failures. Point the official client at it:
 * `new OpenAI({ apiKey: server.apiKey, baseURL: `${server.url}/v1` })`.
 *
 * - `POST /v1/chat/completions`: the non-streaming request `client.chat.completions.create()` sends. Requires
 *   `Authorization: Bearer KEY` (401 otherwise). Validated like OpenAI: a JSON object with a string `model` and a
 *   non-empty `messages` array of `{ role, content }`; `response_format` of type `text`, `json_object` (the
 *   messages must then mention "json", as OpenAI requires) or `json_schema` (a `json_schema.name`; with
 *   `strict: true`, every object schema must list all its properties in `required` and set
 *   `additionalProperties: false`, as OpenAI's structured outputs demand). `stream: true` is refused (400).
 *   Every error uses OpenAI's shape: `{ error: { message, type, param, code } }`.
 * - The answer is a `chat.completion` whose `message.content` is a JSON string. The stand-in cannot write copy,
 *   so it is a plainly labelled placeholder draft built from the request, the same for the same messages:
 *   `{ "subject": "[Placeholder draft] <topic of the last user message>", "html": "<p><strong>Placeholder
 *   draft</strong> — written by the local stand-in, not by OpenAI. …", "text": "Placeholder draft — …" }`.
 *   When a `json_schema` with `properties` is requested, the content has exactly those properties (placeholder
 *   strings for strings, zero values for other types), `subject`/`html`/`text` filled as above. `usage` estimates
 *   tokens as ceil(characters / 4). `n` is honoured with identical choices.
 * - Anything else answers 404 `Invalid URL (METHOD /path)`, as OpenAI does.
 *
 * Scripted faults (`injectFaults`) are consumed in order, one per authorized, well-formed completion request:
 * - `rate-limit`: 429 with `retry-after: <retryAfterSeconds, default 1>` and a `rate_limit_exceeded` error.
 * - `server-error`: `status` (default 500; 503 reads "overloaded") with a `server_error` error.
 * - `slow`: answers normally after `delayMs` (unless the client gives up or the server stops first).
 * - `malformed`: 200 whose `message.content` is the draft's JSON truncated, so it fails `JSON.parse`
 *   (`finish_reason` still `'stop'`).
 * - `wrong-shape`: 200 with valid JSON content lacking `html` (or, if the schema has no `html`, its first property).
 * - `refusal`: 200 with `content: null` and `refusal: <message>`.
 * - `drop`: reads the request, then destroys the socket without answering.
 */

export interface OpenAIServerOptions {
  /** Bearer token expected in `Authorization`. Default `'test-openai-key'`. */
  apiKey?: string;
  /** Default `'127.0.0.1'`. */
  host?: string;
  /** Default 0 (a free port chosen by the OS). */
  port?: number;
}

export type OpenAIFault =
  | { kind: 'rate-limit'; retryAfterSeconds?: number }
  | { kind: 'server-error'; status?: number }
  | { kind: 'slow'; delayMs: number }
  | { kind: 'malformed' }
  | { kind: 'wrong-shape' }
  | { kind: 'refusal'; message?: string }
  | { kind: 'drop' };

export type OpenAIFaultKind = OpenAIFault['kind'];

/** A completion request as received: the parsed JSON body, with the fields the pipeline sends typed. */
export interface ReceivedCompletionRequest {
  readonly model: string;
  readonly messages: readonly ReceivedMessage[];
  readonly response_format?: unknown;
  /** Any other field of the body (`temperature`, `n`, `stream`, …). */
  readonly [field: string]: unknown;
}

export interface ReceivedMessage {
  readonly role: string;
  /** A string, or an array of content parts (`{ type: 'text', text }`, …). */
  readonly content?: unknown;
  readonly [field: string]: unknown;
}

export interface OpenAIServer {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** `http://host:port` (no `/v1`); throws before `start()`. */
  readonly url: string;
  readonly apiKey: string;
  /** HTTP POSTs received on `/v1/chat/completions`, whatever their outcome (unauthorized and invalid included). */
  readonly requests: number;
  /** Normal answers sent (a `slow` one included once sent); not faults, errors, or refusals. */
  readonly completions: number;
  readonly faultsInjected: Readonly<Record<OpenAIFaultKind, number>>;
  /** Bodies of the authorized, well-formed completion requests, in arrival order, faulted ones included. */
  received(): readonly ReceivedCompletionRequest[];
  /** Queue faults consumed, in order, by the next authorized, well-formed completion requests. */
  injectFaults(...faults: OpenAIFault[]): void;
  /** Clears counters, received requests and queued faults. */
  reset(): void;
}

export function createOpenAIServer(options: OpenAIServerOptions = {}): OpenAIServer {
  return new OpenAIStandIn(options);
}

const MAX_BODY_BYTES = 8 * 1024 * 1024;
const JSON_ERRORS = {
  tooLarge: () => new HttpError(413, 'The request body is too large.'),
  notJson: () =>
    badRequest(
      "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your " +
        'HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)',
    ),
  aborted: () => new HttpError(400, 'Request aborted.'),
};
const TOPIC_MAX_CHARS = 60;
const DEFAULT_REFUSAL = "I'm sorry, but I can't help with that request.";
const PLACEHOLDER_NOTICE = 'written by the local stand-in, not by OpenAI. Replace it with real copy before sending.';

/** What OpenAI puts in `error`. */
interface OpenAIErrorBody {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

/** A request the real API would refuse; carries the HTTP status and OpenAI's error fields. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }

  body(): { error: OpenAIErrorBody } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

class OpenAIStandIn implements OpenAIServer {
  readonly apiKey: string;
  private readonly host: string;
  private readonly port: number;
  private server: Server | undefined;
  private baseUrl: string | undefined;

  private requestCount = 0;
  private completionCount = 0;
  private faultCounts = zeroFaultCounts();
  private scripted: OpenAIFault[] = [];
  private bodies: ReceivedCompletionRequest[] = [];
  private readonly delays = new PendingDelays();

  constructor(options: OpenAIServerOptions) {
    this.apiKey = options.apiKey ?? 'test-openai-key';
    this.host = options.host ?? '127.0.0.1';
    this.port = options.port ?? 0;
  }

  get url(): string {
    if (this.baseUrl === undefined) throw new Error('openai stand-in: url is only available after start()');
    return this.baseUrl;
  }

  get requests(): number {
    return this.requestCount;
  }

  get completions(): number {
    return this.completionCount;
  }

  get faultsInjected(): Readonly<Record<OpenAIFaultKind, number>> {
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
    await closeServer(server);
  }

  received(): readonly ReceivedCompletionRequest[] {
    return [...this.bodies];
  }

  injectFaults(...faults: OpenAIFault[]): void {
    for (const fault of faults) validateFault(fault);
    this.scripted.push(...faults);
  }

  reset(): void {
    this.requestCount = 0;
    this.completionCount = 0;
    this.faultCounts = zeroFaultCounts();
    this.scripted = [];
    this.bodies = [];
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { pathname } = new URL(req.url ?? '/', 'http://localhost');
    if (!/^\/v1\/chat\/completions\/?$/.test(pathname) || req.method !== 'POST') {
      const error = new HttpError(404, `Invalid URL (${req.method ?? 'GET'} ${pathname})`);
      return drainThen(req, () => respondError(res, error));
    }

    this.requestCount++;
    const authError = this.authError(req);
    if (authError) return drainThen(req, () => respondError(res, authError));

    const request = validateRequest(await readJson(req, MAX_BODY_BYTES, JSON_ERRORS));
    this.bodies.push(request);

    const fault = this.scripted.shift();
    if (fault) this.faultCounts[fault.kind]++;

    switch (fault?.kind) {
      case 'rate-limit': {
        const seconds = fault.retryAfterSeconds ?? 1;
        const message =
          `Rate limit reached for requests on ${request.model} (local stand-in: injected fault). ` +
          `Please try again in ${seconds}s.`;
        const error = new HttpError(429, message, 'requests', null, 'rate_limit_exceeded');
        return respondError(res, error, { 'retry-after': String(seconds) });
      }
      case 'server-error': {
        const status = fault.status ?? 500;
        const message =
          status === 503
            ? 'The server is overloaded or not ready yet.'
            : 'The server had an error while processing your request. Sorry about that!';
        return respondError(res, new HttpError(status, `${message} (local stand-in: injected fault)`, 'server_error'));
      }
      case 'drop':
        req.socket.destroy();
        return;
      case 'slow':
        if (!(await this.delays.delay(fault.delayMs, res))) return;
        break;
      default:
        break;
    }

    const draft = placeholderContent(request);
    let content: string | null = JSON.stringify(draft);
    let refusal: string | null = null;
    if (fault?.kind === 'malformed') content = content.slice(0, Math.floor(content.length / 2));
    if (fault?.kind === 'wrong-shape') content = JSON.stringify(withoutHtml(draft));
    if (fault?.kind === 'refusal') {
      content = null;
      refusal = fault.message ?? DEFAULT_REFUSAL;
    }

    const sent = respondJson(res, 200, chatCompletion(request, content, refusal));
    if (sent && (fault === undefined || fault.kind === 'slow')) this.completionCount++;
  }

  /** The error OpenAI would answer for this request's credentials, if any. */
  private authError(req: IncomingMessage): HttpError | undefined {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(.*)$/i.exec(header);
    const key = match?.[1]?.trim() ?? '';
    if (key === '') {
      const message =
        "You didn't provide an API key. You need to provide your API key in an Authorization header " +
        'using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).';
      return new HttpError(401, message);
    }
    const expected = Buffer.from(this.apiKey);
    const actual = Buffer.from(key);
    if (actual.length === expected.length && timingSafeEqual(actual, expected)) return undefined;
    const message = `Incorrect API key provided: ${maskKey(key)}. This is the local OpenAI stand-in; use its apiKey.`;
    return new HttpError(401, message, 'invalid_request_error', null, 'invalid_api_key');
  }


}

// ---------------------------------------------------------------------------------------------------------------
// Requests

function validateRequest(body: unknown): ReceivedCompletionRequest {
  if (!isPlainObject(body)) throw badRequest('The request body must be a JSON object.');
  const { model, messages } = body;
  if (model === undefined || model === null || model === '') {
    throw badRequest('you must provide a model parameter', 'model');
  }
  if (typeof model !== 'string') {
    const got = jsonType(model);
    throw badRequest(`Invalid type for 'model': expected a string, but got ${got} instead.`, 'model', 'invalid_type');
  }
  if (messages === undefined || messages === null) {
    throw badRequest("Missing required parameter: 'messages'.", 'messages', 'missing_required_parameter');
  }
  if (!Array.isArray(messages)) {
    const got = jsonType(messages);
    const message = `Invalid type for 'messages': expected an array, but got ${got} instead.`;
    throw badRequest(message, 'messages', 'invalid_type');
  }
  if (messages.length === 0) {
    const message =
      "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.";
    throw badRequest(message, 'messages', 'empty_array');
  }
  messages.forEach((message: unknown, i) => {
    if (!isPlainObject(message) || typeof message.role !== 'string') {
      const param = `messages[${i}].role`;
      throw badRequest(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');
    }
  });
  if (body.stream === true) throw badRequest("The local OpenAI stand-in does not support 'stream': true.", 'stream');
  const n = body.n;
  if (n !== undefined && n !== null && (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 128)) {
    throw badRequest(`Invalid 'n': expected an integer between 1 and 128, got ${JSON.stringify(n)}.`, 'n');
  }
  const request = body as ReceivedCompletionRequest;
  validateResponseFormat(request);
  return request;
}

function validateResponseFormat(request: ReceivedCompletionRequest): void {
  const format = request.response_format;
  if (format === undefined || format === null) return;
  const type = isPlainObject(format) ? format.type : undefined;
  if (type === 'text') return;
  if (type === 'json_object') {
    if (!request.messages.some((m) => /json/i.test(messageText(m)))) {
      const message =
        "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.";
      throw badRequest(message, 'messages');
    }
    return;
  }
  if (type !== 'json_schema' || !isPlainObject(format)) {
    const message = "Invalid 'response_format.type': expected one of 'text', 'json_object' or 'json_schema'.";
    throw badRequest(message, 'response_format.type', 'invalid_value');
  }
  const spec = format.json_schema;
  if (!isPlainObject(spec) || typeof spec.name !== 'string' || spec.name === '') {
    const param = 'response_format.json_schema.name';
    throw badRequest(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');
  }
  if (spec.schema !== undefined && !isPlainObject(spec.schema)) {
    const param = 'response_format.json_schema.schema';
    throw badRequest(`Invalid type for '${param}': expected an object.`, param, 'invalid_type');
  }
  if (spec.strict === true && isPlainObject(spec.schema)) checkStrictSchema(spec.name, spec.schema, []);
}

/** OpenAI's structured-outputs rules for every object schema: all properties required, no additional ones. */
function checkStrictSchema(name: string, schema: Record<string, unknown>, path: string[]): void {
  const invalid = (reason: string): HttpError => {
    const context = path.map((p) => `'${p}'`).join(', ');
    const message = `Invalid schema for response_format '${name}': In context=(${context}), ${reason}`;
    return badRequest(message, 'response_format', 'invalid_json_schema');
  };
  if (isPlainObject(schema.properties)) {
    if (schema.additionalProperties !== false) {
      throw invalid("'additionalProperties' is required to be supplied and to be false.");
    }
    const required: unknown[] = Array.isArray(schema.required) ? schema.required : [];
    const missing = Object.keys(schema.properties).find((key) => !required.includes(key));
    if (missing !== undefined) {
      const rule = "'required' is required to be supplied and to be an array including every key in properties.";
      throw invalid(`${rule} Missing '${missing}'.`);
    }
    for (const [key, sub] of Object.entries(schema.properties)) {
      if (isPlainObject(sub)) checkStrictSchema(name, sub, [...path, 'properties', key]);
    }
  }
  if (isPlainObject(schema.items)) checkStrictSchema(name, schema.items, [...path, 'items']);
  for (const keyword of ['anyOf', '$defs', 'definitions'] as const) {
    const nested = schema[keyword];
    const entries: Array<readonly [string, unknown]> = Array.isArray(nested)
      ? nested.map((sub: unknown, i) => [String(i), sub] as const)
      : isPlainObject(nested)
        ? Object.entries(nested)
        : [];
    for (const [key, sub] of entries) {
      if (isPlainObject(sub)) checkStrictSchema(name, sub, [...path, keyword, key]);
    }
  }
}

function badRequest(message: string, param: string | null = null, code: string | null = null): HttpError {
  return new HttpError(400, message, 'invalid_request_error', param, code);
}

/** The text of a message's content: the string itself, or its text parts joined. */
function messageText(message: ReceivedMessage): string {
  const { content } = message;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part: unknown) => (isPlainObject(part) && typeof part.text === 'string' ? part.text : ''))
    .filter((text) => text !== '')
    .join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Answers

interface DraftContext {
  readonly topic: string;
  /** Short digest of the messages: tells drafts for different requests apart, stable for the same request. */
  readonly reference: string;
}

/** The JSON the stand-in answers with: subject/html/text, or exactly the requested schema's properties. */
function placeholderContent(request: ReceivedCompletionRequest): Record<string, unknown> {
  const lastUser = [...request.messages].reverse().find((m) => m.role === 'user');
  const source = lastUser ?? request.messages[request.messages.length - 1];
  const context: DraftContext = {
    topic: shortTopic(source === undefined ? '' : messageText(source)),
    reference: createHash('sha256').update(JSON.stringify(request.messages)).digest('hex').slice(0, 8),
  };
  const schema = requestedSchema(request.response_format);
  if (schema === undefined) return defaultDraft(context);
  const value = placeholderValue(schema, '', context, 0);
  return isPlainObject(value) ? value : defaultDraft(context);
}

function defaultDraft(context: DraftContext): Record<string, string> {
  return {
    subject: draftString('subject', context),
    html: draftString('html', context),
    text: draftString('text', context),
  };
}

function draftString(property: string, { topic, reference }: DraftContext): string {
  switch (property) {
    case 'subject':
      return `[Placeholder draft] ${topic}`;
    case 'html':
      return (
        `<p><strong>Placeholder draft</strong> — ${PLACEHOLDER_NOTICE}</p>` +
        `<p>Topic: ${escapeHtml(topic)}</p>` +
        `<p>Reference: ${reference}</p>`
      );
    case 'text':
      return `Placeholder draft — ${PLACEHOLDER_NOTICE}\n\nTopic: ${topic}\nReference: ${reference}`;
    default:
      return `[Placeholder ${property}] ${topic}`;
  }
}

/** The `json_schema.schema` of the request, if it describes an object with properties. */
function requestedSchema(format: unknown): Record<string, unknown> | undefined {
  if (!isPlainObject(format) || format.type !== 'json_schema' || !isPlainObject(format.json_schema)) return undefined;
  const { schema } = format.json_schema;
  return isPlainObject(schema) && isPlainObject(schema.properties) ? schema : undefined;
}

/** A value matching `schema`: placeholder strings for strings, zero values otherwise. */
function placeholderValue(
  schema: Record<string, unknown>,
  property: string,
  context: DraftContext,
  depth: number,
): unknown {
  if (depth > 8) return null;
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0] as unknown;
  const variants: unknown[] | undefined = Array.isArray(schema.anyOf)
    ? schema.anyOf
    : Array.isArray(schema.oneOf)
      ? schema.oneOf
      : undefined;
  if (variants) {
    const first: unknown = variants.find((v) => isPlainObject(v) && v.type !== 'null') ?? variants[0];
    return isPlainObject(first) ? placeholderValue(first, property, context, depth + 1) : null;
  }
  const types: unknown[] = Array.isArray(schema.type) ? schema.type : [schema.type];
  const type = types.find((t) => t !== 'null') ?? types[0];
  switch (type) {
    case 'string':
      return draftString(property, context);
    case 'number':
    case 'integer':
      return typeof schema.minimum === 'number' ? Math.ceil(schema.minimum) : 0;
    case 'boolean':
      return false;
    case 'array': {
      const min = typeof schema.minItems === 'number' ? schema.minItems : 0;
      const items = isPlainObject(schema.items) ? schema.items : {};
      return Array.from({ length: Math.min(min, 16) }, () => placeholderValue(items, property, context, depth + 1));
    }
    case 'null':
      return null;
    default: {
      if (!isPlainObject(schema.properties)) return type === 'object' ? {} : draftString(property, context);
      const out: Record<string, unknown> = {};
      for (const [key, sub] of Object.entries(schema.properties)) {
        out[key] = isPlainObject(sub) ? placeholderValue(sub, key, context, depth + 1) : null;
      }
      return out;
    }
  }
}

/** `wrong-shape`: the draft without `html`, or without its first property if it has no `html`. */
function withoutHtml(draft: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...draft };
  const drop = 'html' in copy ? 'html' : Object.keys(copy)[0];
  if (drop !== undefined) delete copy[drop];
  return copy;
}

function chatCompletion(
  request: ReceivedCompletionRequest,
  content: string | null,
  refusal: string | null,
): ChatCompletion {
  const n = typeof request.n === 'number' ? request.n : 1;
  const promptChars = request.messages.reduce((sum, m) => sum + messageText(m).length, 0);
  const prompt_tokens = Math.ceil(promptChars / 4);
  const completion_tokens = n * Math.ceil((content ?? refusal ?? '').length / 4);
  return {
    id: `chatcmpl-${randomBytes(12).toString('base64url')}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: request.model,
    choices: Array.from({ length: n }, (_, index) => ({
      index,
      message: { role: 'assistant' as const, content, refusal, annotations: [] },
      finish_reason: 'stop' as const,
      logprobs: null,
    })),
    usage: { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens },
    service_tier: 'default',
    system_fingerprint: 'fp_local_stand_in',
  };
}

/** A short topic from the prompt: its first line or sentence, whitespace collapsed, cut at a word boundary. */
function shortTopic(text: string): string {
  const firstLine = text.split(/\r?\n/).find((line) => line.trim() !== '') ?? '';
  const sentence = (/^(.+?[.!?])(\s|$)/.exec(firstLine.trim())?.[1] ?? firstLine).replace(/\s+/g, ' ').trim();
  const topic = sentence.replace(/[.!?:;,]+$/, '');
  if (topic === '') return 'Untitled campaign';
  if (topic.length <= TOPIC_MAX_CHARS) return topic;
  const cut = topic.slice(0, TOPIC_MAX_CHARS);
  const space = cut.lastIndexOf(' ');
  return `${(space > TOPIC_MAX_CHARS / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
}

// ---------------------------------------------------------------------------------------------------------------
// Faults

function zeroFaultCounts(): Record<OpenAIFaultKind, number> {
  return { 'rate-limit': 0, 'server-error': 0, slow: 0, malformed: 0, 'wrong-shape': 0, refusal: 0, drop: 0 };
}

function validateFault(fault: OpenAIFault): void {
  if (!(fault.kind in zeroFaultCounts())) throw new RangeError(`unknown fault kind ${JSON.stringify(fault.kind)}`);
  if (fault.kind === 'slow' && !(Number.isFinite(fault.delayMs) && fault.delayMs >= 0)) {
    throw new RangeError(`slow fault needs a finite delayMs >= 0, got ${fault.delayMs}`);
  }
  if (fault.kind === 'server-error' && fault.status !== undefined) {
    const { status } = fault;
    if (!(Number.isInteger(status) && status >= 500 && status <= 599)) {
      throw new RangeError(`server-error fault needs a 5xx status, got ${status}`);
    }
  }
  if (fault.kind === 'rate-limit' && fault.retryAfterSeconds !== undefined) {
    const seconds = fault.retryAfterSeconds;
    if (!(Number.isFinite(seconds) && seconds >= 0)) {
      throw new RangeError(`rate-limit fault needs retryAfterSeconds >= 0, got ${seconds}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers



function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** Like OpenAI's message: the key's start and end, the middle starred. */
function maskKey(key: string): string {
  if (key.length <= 8) return '*'.repeat(key.length);
  return `${key.slice(0, 4)}${'*'.repeat(Math.min(key.length - 8, 20))}${key.slice(-4)}`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}



/** Every OpenAI answer carries a request id. False if the client had already gone away. */
function respondJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): boolean {
  return sendJson(res, status, body, { 'x-request-id': `req_${randomBytes(16).toString('hex')}`, ...headers });
}

function respondError(res: ServerResponse, err: unknown, headers: Record<string, string> = {}): void {
  const error =
    err instanceof HttpError
      ? err
      : new HttpError(500, `The local OpenAI stand-in failed: ${String(err)}`, 'server_error');
  respondJson(res, error.status, error.body(), headers);
}
