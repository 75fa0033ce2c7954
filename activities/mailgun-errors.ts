/**
 * Sorting Mailgun failures by what they say about the batch, which decides what
 * the ledger records and whether the next attempt must ask Mailgun first.
 *
 * mailgun.js turns every failure into a MailgunAPIError. For network failures it
 * reports status 400 with the socket error code as the message (ECONNREFUSED,
 * ECONNRESET, ...), so those are recognised by code, not by status. It also drops
 * response headers, so a 429's Retry-After is read from the body when Mailgun
 * puts it there and otherwise falls back to a configured delay.
 */

export type MailgunFailure =
  /** Mailgun surely did not take the batch; send again after retryAfterMs. */
  | { kind: 'rate-limited'; retryAfterMs: number; message: string }
  /** No connection was made, so nothing was sent. */
  | { kind: 'not-sent'; message: string }
  /** Bad credentials or domain: nothing was sent; retry until an operator fixes the configuration. */
  | { kind: 'unauthorised'; message: string }
  /** Mailgun may or may not have taken the batch: its logs must prove which before anything is resent. */
  | { kind: 'ambiguous'; message: string }
  /** Mailgun refused the whole request because some `to` address is not valid: split it to find which. */
  | { kind: 'invalid-recipient'; status: number; message: string }
  /**
   * Mailgun refused our request (a bad from, subject, domain or parameter: any 4xx but 401, 403 and 429
   * that does not name a `to` address). Nothing was sent, and no recipient is at fault.
   */
  | { kind: 'request-refused'; status: number; message: string };

const NOT_CONNECTED_CODES = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'];
/**
 * How Mailgun words a refusal caused by a bad `to` address: `'to' parameter is not a valid address. please check
 * documentation` (the local stand-in leaves out the quotes). Its refusal of a bad sender has the same words about
 * `'from'`, so the parameter must be `to`: anything else is about our request, not a recipient.
 */
const INVALID_RECIPIENT = /(?<![\w-])'?to'? parameter is not a valid address/i;
const CONNECTION_LOST_CODES = ['ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'ERR_SOCKET', 'socket hang up', 'timeout'];

interface ErrorLike {
  status?: unknown;
  message?: unknown;
  details?: unknown;
  code?: unknown;
}

function describe(error: ErrorLike): string {
  const parts = [error.message, error.details, error.code].filter(
    (part): part is string => typeof part === 'string' && part.length > 0,
  );
  return [...new Set(parts)].join(': ') || 'unknown error';
}

function retryAfterFromText(text: string): number | undefined {
  const match = /retry[- ]after\D{0,20}(\d+(?:\.\d+)?)/i.exec(text);
  return match?.[1] === undefined ? undefined : Math.ceil(Number(match[1]) * 1000);
}

export function classifyMailgunError(error: unknown, defaultRetryAfterMs: number): MailgunFailure {
  if (typeof error !== 'object' || error === null) return { kind: 'ambiguous', message: String(error) };
  const err = error as ErrorLike;
  const message = describe(err);
  const status = typeof err.status === 'number' ? err.status : undefined;

  if (NOT_CONNECTED_CODES.some((code) => message.includes(code))) return { kind: 'not-sent', message };
  if (CONNECTION_LOST_CODES.some((code) => message.includes(code))) return { kind: 'ambiguous', message };
  if (status === 429) {
    return { kind: 'rate-limited', retryAfterMs: retryAfterFromText(message) ?? defaultRetryAfterMs, message };
  }
  if (status === 401 || status === 403) return { kind: 'unauthorised', message };
  if (status === 400 && INVALID_RECIPIENT.test(message)) return { kind: 'invalid-recipient', status, message };
  if (status !== undefined && status >= 400 && status < 500) return { kind: 'request-refused', status, message };
  return { kind: 'ambiguous', message };
}
