import Mailgun from 'mailgun.js';
import type { Interfaces, MailgunMessageContent } from 'mailgun.js/definitions';
import type { OutcomeLookup } from '../worker/config.js';

/**
 * What the pipeline asks of Mailgun: take a batch; send a test-mode probe; and
 * "does your store show this message?", answered by the Logs API or, where
 * configured, the older events API.
 */

export interface MailgunAccountSettings {
  apiKey: string;
  url: string;
  timeoutMs: number;
  lookup: OutcomeLookup;
}

export interface MailgunSettings extends MailgunAccountSettings {
  domain: string;
}

/** One Mailgun account (one API key) and the sending domains it has: each stream may send on its own. */
export interface MailgunAccount {
  /** The gateway of one sending domain (made once, then kept). */
  on(domain: string): MailgunGateway;
}

export interface BatchMessage {
  from: string;
  subject: string;
  html?: string;
  text?: string;
  /** One entry per recipient; Mailgun sends each their own copy. */
  recipients: Array<{ email: string; variables: Record<string, string | number | null> }>;
  /** Stored by Mailgun as `v:` user variables on every message of the batch. */
  userVariables: Record<string, string>;
  /** MIME headers of every message (`h:` fields); `%recipient.name%` in a value is each recipient's variable. */
  headers?: Record<string, string>;
  /** Mailgun tags (`o:tag`, at most 3), which split Mailgun's own reports. */
  tags?: string[];
  /** Sending options (`o:` fields), e.g. `tracking-clicks: 'no'`. */
  options?: Record<string, string>;
}

/** A `v:` user variable with the value a message must carry. */
export interface Marker {
  name: string;
  value: string;
}

export interface ProbeMessage {
  from: string;
  to: string;
  marker: Marker;
}

export interface MailgunGateway {
  domain: string;
  sendBatch(message: BatchMessage): Promise<string>;
  /** Sends a message in test mode (accepted and logged, never delivered); returns its id. */
  sendProbe(probe: ProbeMessage): Promise<string>;
  /** The id of a message accepted for `recipient` since `since` that carries `marker`, if Mailgun's store shows one. */
  findAccepted(recipient: string, marker: Marker, since: Date): Promise<string | undefined>;
  /** Whether Mailgun's store shows the accepted message with this id (accepted since `since`). */
  isVisible(messageId: string, since: Date): Promise<boolean>;
  /** One page of the domain's events of these kinds in [since, until], oldest first, as Mailgun lists them; pass `next` back for the following page. */
  eventsPage(query: EventsPageQuery): Promise<EventsPage>;
}

export interface EventsPageQuery {
  since: Date;
  until: Date;
  events: readonly string[];
  /** The previous page's `next`. */
  next?: string;
}

export interface EventsPage {
  items: unknown[];
  /** Absent on the last page. */
  next?: string;
}

const MAX_PAGES = 20;
/** Store timestamps have second resolution; search from a minute early to be safe. */
const EARLY_MS = 60_000;

interface Match {
  messageId: string;
  variables: Record<string, unknown>;
}

/** One way of asking Mailgun's store for accepted messages, page by page. */
type Search = (filter: { recipient?: string; messageId?: string }, since: Date, visit: (match: Match) => boolean) => Promise<boolean>;

export function createMailgunAccount(settings: MailgunAccountSettings): MailgunAccount {
  const client: Interfaces.IMailgunClient = new Mailgun(FormData).client({
    username: 'api',
    key: settings.apiKey,
    url: settings.url,
    timeout: settings.timeoutMs,
  });
  const gateways = new Map<string, MailgunGateway>();
  return {
    on(domain) {
      const key = domain.toLowerCase();
      let gateway = gateways.get(key);
      if (!gateway) {
        gateway = domainGateway(client, key, settings.lookup);
        gateways.set(key, gateway);
      }
      return gateway;
    },
  };
}

export function createMailgunGateway(settings: MailgunSettings): MailgunGateway {
  return createMailgunAccount(settings).on(settings.domain);
}

function domainGateway(client: Interfaces.IMailgunClient, domain: string, lookup: OutcomeLookup): MailgunGateway {
  const search = lookup === 'logs' ? logsSearch(client, domain) : eventsSearch(client, domain);
  return {
    domain,

    async sendBatch(message) {
      const recipientVariables = Object.fromEntries(message.recipients.map((r) => [r.email, r.variables]));
      const userVariables = Object.fromEntries(
        Object.entries(message.userVariables).map(([name, value]) => [`v:${name}`, value]),
      );
      const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([name, value]) => [`h:${name}`, value]));
      const options = Object.fromEntries(Object.entries(message.options ?? {}).map(([name, value]) => [`o:${name}`, value]));
      const response = await client.messages.create(domain, {
        from: message.from,
        // One `to` field holding the address list, not a form field per recipient: a batch of 1,000
        // is then a request of a few parts instead of a thousand (half the send's CPU, measured).
        to: message.recipients.map((r) => r.email).join(', '),
        subject: message.subject,
        ...messageContent(message),
        'recipient-variables': JSON.stringify(recipientVariables),
        ...userVariables,
        ...headers,
        ...options,
        ...(message.tags?.length ? { 'o:tag': message.tags } : {}),
      });
      return normaliseMessageId(response.id ?? '');
    },

    async sendProbe({ from, to, marker }) {
      const response = await client.messages.create(domain, {
        from,
        to: [to],
        subject: 'Delivery log probe (test mode, never delivered)',
        text: 'Sent in test mode to check that Mailgun\'s logs have caught up.',
        'o:testmode': 'yes',
        [`v:${marker.name}`]: marker.value,
      });
      return normaliseMessageId(response.id ?? '');
    },

    async findAccepted(recipient, marker, since) {
      let found: string | undefined;
      await search({ recipient }, since, (match) => {
        if (match.variables[marker.name] !== marker.value) return false;
        found = match.messageId;
        return true;
      });
      return found;
    },

    isVisible(messageId, since) {
      return search({ messageId }, since, (match) => match.messageId === messageId);
    },

    eventsPage: lookup === 'logs' ? logsPage(client, domain) : eventsApiPage(client, domain),
  };
}

function logsPage(client: Interfaces.IMailgunClient, domain: string): MailgunGateway['eventsPage'] {
  return async ({ since, until, events, next }) => {
    const list = await client.logs.list({
      start: since,
      end: until,
      events: [...events],
      filter: { AND: [{ attribute: 'domain', comparator: '=', values: [{ label: domain, value: domain }] }] },
      pagination: { sort: 'timestamp:asc', limit: 1000, ...(next === undefined ? {} : { token: next }) },
    });
    const token = list.pagination.next;
    return { items: list.items, ...(list.items.length === 0 || token === undefined || token === next ? {} : { next: token }) };
  };
}

function eventsApiPage(client: Interfaces.IMailgunClient, domain: string): MailgunGateway['eventsPage'] {
  return async ({ since, until, events, next }) => {
    const list = await client.events.get(domain, {
      event: events.join(' OR '),
      begin: since.toUTCString(),
      end: until.toUTCString(),
      ascending: 'yes',
      limit: 300,
      ...(next === undefined ? {} : { page: next }),
    });
    const page = list.pages['next']?.page;
    return { items: list.items, ...(list.items.length === 0 || page === undefined || page === next ? {} : { next: page }) };
  };
}

/** The Logs API (`POST /v1/analytics/logs`): user variables come as a JSON string. */
function logsSearch(client: Interfaces.IMailgunClient, domain: string): Search {
  return async ({ recipient, messageId }, since, visit) => {
    const conditions = [
      { attribute: 'domain', value: domain },
      ...(recipient === undefined ? [] : [{ attribute: 'recipient', value: recipient }]),
      ...(messageId === undefined ? [] : [{ attribute: 'message-id', value: messageId }]),
    ].map(({ attribute, value }) => ({ attribute, comparator: '=', values: [{ label: value, value }] }));
    let token: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const list = await client.logs.list({
        start: new Date(since.getTime() - EARLY_MS),
        end: new Date(),
        events: ['accepted'],
        filter: { AND: conditions },
        pagination: { sort: 'timestamp:asc', limit: 100, ...(token === undefined ? {} : { token }) },
      });
      for (const item of list.items) {
        const id = item.message?.headers?.['message-id'];
        if (id !== undefined && visit({ messageId: normaliseMessageId(id), variables: parseVariables(item['user-variables']) })) {
          return true;
        }
      }
      token = list.pagination.next;
      if (list.items.length === 0 || token === undefined) return false;
    }
    // The message names no address: activity errors end up in Temporal's history.
    throw new Error(`Mailgun logs for ${messageId === undefined ? 'the recipient looked up' : `message ${messageId}`} span more than ${MAX_PAGES} pages`);
  };
}

/** The deprecated events API (`GET /v3/{domain}/events`), paged by tokens in `paging.next`. */
function eventsSearch(client: Interfaces.IMailgunClient, domain: string): Search {
  return async ({ recipient, messageId }, since, visit) => {
    let page: string | undefined;
    for (let n = 0; n < MAX_PAGES; n++) {
      const list = await client.events.get(domain, {
        event: 'accepted',
        ...(recipient === undefined ? {} : { recipient }),
        ...(messageId === undefined ? {} : { 'message-id': messageId }),
        begin: new Date(since.getTime() - EARLY_MS).toUTCString(),
        ascending: 'yes',
        limit: 300,
        ...(page === undefined ? {} : { page }),
      });
      for (const item of list.items) {
        const id = item.message?.headers?.['message-id'] ?? item.id;
        if (visit({ messageId: normaliseMessageId(id), variables: item['user-variables'] ?? {} })) return true;
      }
      const next = list.pages['next']?.page;
      if (list.items.length === 0 || next === undefined || next === page) return false;
      page = next;
    }
    throw new Error(`Mailgun events for ${messageId === undefined ? 'the recipient looked up' : `message ${messageId}`} span more than ${MAX_PAGES} pages`);
  };
}

function parseVariables(raw: string | undefined): Record<string, unknown> {
  if (raw === undefined || raw === '') return {};
  try {
    const parsed: unknown = JSON.parse(raw);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function messageContent({ html, text }: BatchMessage): MailgunMessageContent {
  if (html !== undefined) return text === undefined ? { html } : { html, text };
  return { text: text ?? '' };
}

/** Mailgun answers `<id@domain>` on send and `id@domain` in its store; the ledger stores the bare form. */
function normaliseMessageId(id: string): string {
  return id.replace(/^<|>$/g, '');
}
