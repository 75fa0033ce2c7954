import { isMarketing, type Stream } from '../common/streams.js';
import { signUnsubscribeToken, type UnsubscribeSubject } from './unsubscribe-token.js';

/**
 * What every message of a stream with unsubscribe links carries (RFC 8058 one-click, and the
 * visible link): per recipient through Mailgun's header indirection, `h:List-Unsubscribe` being
 * `%recipient.list_unsubscribe%` and each recipient's value in `recipient-variables`.
 */

export interface UnsubscribeSettings {
  /** Where the API is reached from outside, e.g. https://campaigns.distronation.com: links are `${publicUrl}/u/TOKEN`. */
  publicUrl: string;
  /** The HMAC key of the tokens. */
  secret: string;
  /** An address that takes unsubscribe requests by mail, if one is run; offered second in List-Unsubscribe. */
  mailto?: string;
  /** The sender's postal address, shown in the footer (CAN-SPAM). */
  postalAddress?: string;
  /** Statements carry the links too. Marketing streams always do. */
  onStatements: boolean;
}

export const UNSUBSCRIBE_URL_VARIABLE = 'unsubscribe_url';
export const LIST_UNSUBSCRIBE_VARIABLE = 'list_unsubscribe';
/** Content that places this itself gets no footer. */
export const UNSUBSCRIBE_PLACEHOLDER = `%recipient.${UNSUBSCRIBE_URL_VARIABLE}%`;

export function carriesUnsubscribe(stream: Stream, settings: Pick<UnsubscribeSettings, 'onStatements'>): boolean {
  return isMarketing(stream) || settings.onStatements;
}

export function unsubscribeUrl(settings: Pick<UnsubscribeSettings, 'publicUrl' | 'secret'>, subject: UnsubscribeSubject): string {
  return `${settings.publicUrl.replace(/\/+$/, '')}/u/${signUnsubscribeToken(subject, settings.secret)}`;
}

/** One recipient's variables for the link and the List-Unsubscribe header. */
export function unsubscribeVariables(settings: UnsubscribeSettings, subject: UnsubscribeSubject): Record<string, string> {
  const url = unsubscribeUrl(settings, subject);
  const mailto = settings.mailto ? `, <mailto:${settings.mailto}?subject=${encodeURIComponent(`unsubscribe ${url.slice(url.lastIndexOf('/') + 1)}`)}>` : '';
  return { [UNSUBSCRIBE_URL_VARIABLE]: url, [LIST_UNSUBSCRIBE_VARIABLE]: `<${url}>${mailto}` };
}

/** The headers of every message of the stream; `listDomain` names the list (List-Id, RFC 2919). */
export function unsubscribeHeaders(stream: Stream, listDomain: string): Record<string, string> {
  return {
    'List-Unsubscribe': `%recipient.${LIST_UNSUBSCRIBE_VARIABLE}%`,
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    'List-Id': `Distro Nation ${stream} <${stream}.${listDomain}>`,
  };
}

export interface Content {
  html?: string | undefined;
  text?: string | undefined;
}

const escapeHtml = (value: string): string =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

/**
 * The content with the footer (the link, and the postal address) added to html and text, unless
 * it places the link itself. Undefined when a footer is needed and there is no postal address for it.
 */
export function withUnsubscribeFooter<C extends Content>(content: C, postalAddress: string | undefined): C | undefined {
  const places = [content.html, content.text].some((body) => body?.includes(UNSUBSCRIBE_PLACEHOLDER));
  if (places) return content;
  if (!postalAddress) return undefined;
  const html =
    content.html === undefined
      ? undefined
      : insertBeforeBodyEnd(
          content.html,
          `<p style="margin-top:32px;font-size:12px;color:#666">You receive this because you subscribed to Distro Nation emails. ` +
            `<a href="${UNSUBSCRIBE_PLACEHOLDER}">Unsubscribe or choose what you get</a>.<br>${escapeHtml(postalAddress)}</p>`,
        );
  const text =
    content.text === undefined
      ? undefined
      : `${content.text.replace(/\s+$/, '')}\n\n--\nUnsubscribe or choose what you get: ${UNSUBSCRIBE_PLACEHOLDER}\n${postalAddress}\n`;
  return { ...content, ...(html === undefined ? {} : { html }), ...(text === undefined ? {} : { text }) };
}

function insertBeforeBodyEnd(html: string, footer: string): string {
  const end = html.search(/<\/body\s*>/i);
  return end < 0 ? `${html}${footer}` : `${html.slice(0, end)}${footer}${html.slice(end)}`;
}

/**
 * The content a campaign of `stream` is approved with: with the unsubscribe flag and footer when the stream
 * carries links, or the reason it cannot be approved (the links are not configured, or a footer is needed and
 * there is no postal address for it), naming the settings.
 */
export function approvedContent<C extends Content>(
  stream: Stream,
  content: C,
  settings: UnsubscribeSettings | undefined,
): { content: C & { unsubscribe?: true } } | { problem: string } {
  if (!carriesUnsubscribe(stream, settings ?? { onStatements: false })) return { content };
  if (!settings) {
    return { problem: `a ${stream} campaign carries unsubscribe links, and they are not configured: set PUBLIC_URL and UNSUBSCRIBE_SECRET` };
  }
  const footed = withUnsubscribeFooter(content, settings.postalAddress);
  if (!footed) {
    return {
      problem: `a ${stream} campaign needs an unsubscribe link: place ${UNSUBSCRIBE_PLACEHOLDER} in its content, or set SENDER_POSTAL_ADDRESS for the footer that carries it`,
    };
  }
  return { content: { ...footed, unsubscribe: true } };
}
