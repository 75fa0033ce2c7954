import Mailgun from 'mailgun.js';
import type { Interfaces, MailgunMessageContent } from 'mailgun.js/definitions';

/** The two things the pipeline asks of Mailgun: take a batch, and "did you take this batch?". */

export interface MailgunSettings {
  apiKey: string;
  domain: string;
  url: string;
  timeoutMs: number;
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
}

export interface MailgunGateway {
  domain: string;
  sendBatch(message: BatchMessage): Promise<string>;
  /** The message id of an accepted message carrying this marker for this recipient since `since`, if any. */
  findAccepted(recipient: string, markerName: string, markerValue: string, since: Date): Promise<string | undefined>;
}

const MAX_EVENT_PAGES = 20;

export function createMailgunGateway(settings: MailgunSettings): MailgunGateway {
  const client: Interfaces.IMailgunClient = new Mailgun(FormData).client({
    username: 'api',
    key: settings.apiKey,
    url: settings.url,
    timeout: settings.timeoutMs,
  });

  return {
    domain: settings.domain,

    async sendBatch(message) {
      const recipientVariables = Object.fromEntries(message.recipients.map((r) => [r.email, r.variables]));
      const userVariables = Object.fromEntries(
        Object.entries(message.userVariables).map(([name, value]) => [`v:${name}`, value]),
      );
      const response = await client.messages.create(settings.domain, {
        from: message.from,
        to: message.recipients.map((r) => r.email),
        subject: message.subject,
        ...messageContent(message),
        'recipient-variables': JSON.stringify(recipientVariables),
        ...userVariables,
      });
      return normaliseMessageId(response.id ?? '');
    },

    async findAccepted(recipient, markerName, markerValue, since) {
      // Events carry second-resolution timestamps; start a minute early to be safe.
      const begin = new Date(since.getTime() - 60_000).toUTCString();
      let page: string | undefined;
      for (let n = 0; n < MAX_EVENT_PAGES; n++) {
        const list = await client.events.get(settings.domain, {
          event: 'accepted',
          recipient,
          begin,
          ascending: 'yes',
          limit: 300,
          ...(page === undefined ? {} : { page }),
        });
        const match = list.items.find((item) => item['user-variables']?.[markerName] === markerValue);
        if (match) return normaliseMessageId(match.message?.headers?.['message-id'] ?? match.id);
        const next = list.pages['next']?.page;
        if (list.items.length === 0 || next === undefined || next === page) return undefined;
        page = next;
      }
      throw new Error(`Mailgun events for ${markerName}=${markerValue} span more than ${MAX_EVENT_PAGES} pages`);
    },
  };
}

function messageContent({ html, text }: BatchMessage): MailgunMessageContent {
  if (html !== undefined) return text === undefined ? { html } : { html, text };
  return { text: text ?? '' };
}

/** Mailgun answers `<id@domain>` on send and `id@domain` in events; the ledger stores the bare form. */
function normaliseMessageId(id: string): string {
  return id.replace(/^<|>$/g, '');
}
