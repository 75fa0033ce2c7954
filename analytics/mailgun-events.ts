import { z } from 'zod';
import { CAMPAIGN_VARIABLE, PREVIEW_MARKER_VARIABLE, type EngagementEvent, type MailgunEventRecord } from '../common/engagement.js';
import { isBigintId } from '../common/campaign.js';

/**
 * Mailgun events as webhooks post them (`event-data`) and as its Logs and events APIs list them,
 * turned into the record we keep. The three differ in small ways: the time is `timestamp`
 * (epoch seconds) or `@timestamp` (ISO); user variables are an object or a JSON string.
 */

const MAX_ID = 200;
const MAX_URL = 4096;

const userVariables = z
  .union([z.record(z.string(), z.unknown()), z.string()])
  .optional()
  .transform((raw, ctx) => {
    if (raw === undefined || typeof raw === 'object') return raw ?? {};
    if (raw === '') return {};
    try {
      const parsed: unknown = JSON.parse(raw);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    } catch {
      // reported below
    }
    ctx.addIssue({ code: 'custom', message: 'must be an object or a JSON object string' });
    return z.NEVER;
  });

const eventData = z.object({
  event: z.enum(['accepted', 'delivered', 'opened', 'clicked', 'unsubscribed', 'complained', 'failed'], {
    error: 'must be one of accepted, delivered, opened, clicked, unsubscribed, complained, failed',
  }),
  id: z.string().min(1).max(MAX_ID),
  timestamp: z.number().positive().optional(),
  // The Logs API's ISO string, which mailgun.js turns into a Date.
  '@timestamp': z.union([z.iso.datetime({ offset: true }), z.date()]).optional(),
  recipient: z.string().min(3).max(320),
  severity: z.enum(['permanent', 'temporary']).optional(),
  reason: z.string().max(500).optional(),
  url: z.string().max(MAX_URL).optional(),
  'user-variables': userVariables,
  message: z.object({ headers: z.object({ 'message-id': z.string().max(MAX_ID).optional() }).optional() }).optional(),
});

export interface EventProblem {
  /** Where in the event, e.g. `event-data.severity`. */
  field: string;
  message: string;
}

export class UnusableEventError extends Error {
  constructor(readonly problems: EventProblem[]) {
    super(`unusable Mailgun event: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`);
    this.name = 'UnusableEventError';
  }
}

/** Event times outside these are not Mailgun's: refused (406) rather than recorded at an absurd time. */
const EARLIEST_EVENT_MS = Date.UTC(2010, 0, 1);
const LATEST_EVENT_AHEAD_MS = 24 * 3_600_000;

/** The record of a Mailgun event; throws UnusableEventError naming each problem. */
export function toEventRecord(raw: unknown): MailgunEventRecord {
  const parsed = eventData.safeParse(raw);
  if (!parsed.success) {
    throw new UnusableEventError(parsed.error.issues.map((i) => ({ field: ['event-data', ...i.path.map(String)].join('.'), message: i.message })));
  }
  const data = parsed.data;
  const problems: EventProblem[] = [];
  const problem = (field: string, message: string) => problems.push({ field: `event-data.${field}`, message });
  const ms = data.timestamp !== undefined ? data.timestamp * 1000 : data['@timestamp'] !== undefined ? new Date(data['@timestamp']).getTime() : NaN;
  if (!Number.isFinite(ms)) problem('timestamp', 'required (epoch seconds, or @timestamp)');
  else if (ms < EARLIEST_EVENT_MS || ms > Date.now() + LATEST_EVENT_AHEAD_MS) problem('timestamp', 'must be a time between 2010 and a day from now');
  if (data.event === 'failed' && data.severity === undefined) problem('severity', 'required for a failed event');
  if (data.event === 'clicked' && data.url === undefined) problem('url', 'required for a clicked event');
  if (problems.length > 0) throw new UnusableEventError(problems);

  return {
    eventId: data.id,
    event: eventKind(data.event, data.severity),
    campaignId: campaignOf(data['user-variables']),
    recipient: data.recipient.toLowerCase(),
    messageId: data.message?.headers?.['message-id']?.replace(/^<|>$/g, '') ?? null,
    occurredAt: new Date(ms).toISOString(),
    url: data.event === 'clicked' ? (data.url ?? null) : null,
    reason: data.reason ?? null,
  };
}

/** The campaign a message was sent for; previews (sent to test addresses) count for none. */
function campaignOf(variables: Record<string, unknown>): string | null {
  if (variables[PREVIEW_MARKER_VARIABLE] !== undefined) return null;
  const id = variables[CAMPAIGN_VARIABLE];
  if (typeof id === 'number' && Number.isSafeInteger(id) && id > 0) return String(id);
  return typeof id === 'string' && isBigintId(id) ? id : null;
}

function eventKind(event: z.infer<typeof eventData>['event'], severity: 'permanent' | 'temporary' | undefined): EngagementEvent {
  if (event !== 'failed') return event;
  return severity === 'temporary' ? 'temporary_fail' : 'permanent_fail';
}
