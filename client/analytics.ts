import type { Pool } from 'pg';
import type { CampaignType } from '../common/campaign.js';
import { engagementRates, pickCounters, ZERO_COUNTERS, type EngagementCounters, type EngagementRates } from '../common/engagement.js';
import { analyticsSummary, findCounters } from '../db/analytics.js';
import { appendAudit } from '../db/audit.js';
import { liftSuppression, listSuppressions, type LiftedSuppression, type Suppression } from '../db/users.js';
import { currentActor, type Actor } from './acting.js';
import { CampaignError, page, requireCampaign, type Page } from './campaigns.js';
import {
  analyticsRangeSchema,
  InvalidInputError,
  liftReasonSchema,
  listSuppressionsSchema,
  parseInput,
  suppressedUserSchema,
  type AnalyticsRangeInput,
  type ListSuppressionsInput,
} from './validation.js';

/** What Mailgun's events made of campaigns (counters and rates), and the suppression list. Reads Aurora only. */

export interface CampaignAnalytics {
  campaignId: string;
  counters: EngagementCounters;
  rates: EngagementRates;
  /** The campaign's analysis is done: the figures no longer change. */
  final: boolean;
  updatedAt: Date | null;
}

export interface AnalyticsSummary {
  from: Date;
  to: Date;
  type: CampaignType | null;
  /** Campaigns whose send started in [from, to). */
  campaigns: number;
  counters: EngagementCounters;
  rates: EngagementRates;
}

const DEFAULT_RANGE_MS = 30 * 86_400_000;

export class AnalyticsClient {
  constructor(private readonly deps: { pool: Pool }) {}

  /** One campaign's counters and rates; `not-found` for no such campaign. */
  async campaign(campaignId: string): Promise<CampaignAnalytics> {
    await requireCampaign(this.deps.pool, campaignId);
    const row = await findCounters(this.deps.pool, campaignId);
    if (!row) return { campaignId, counters: ZERO_COUNTERS, rates: engagementRates(ZERO_COUNTERS), final: false, updatedAt: null };
    const counters = pickCounters(row);
    return { campaignId, counters, rates: engagementRates(counters), final: row.final, updatedAt: row.updatedAt };
  }

  /** Totals and rates over the campaigns whose send started in [from, to) (default: the last 30 days), of one type or all. */
  async summary(input: AnalyticsRangeInput = {}): Promise<AnalyticsSummary> {
    const range = parseInput(analyticsRangeSchema, input, 'query');
    const to = range.to === undefined ? new Date() : new Date(range.to);
    const from = range.from === undefined ? new Date(to.getTime() - DEFAULT_RANGE_MS) : new Date(range.from);
    if (from >= to) throw new InvalidInputError([{ field: 'query.from', message: 'must be before `to` (default: now)' }]);
    const { campaigns, ...counters } = await analyticsSummary(this.deps.pool, from, to, range.type ?? null);
    return { from, to, type: range.type ?? null, campaigns, counters, rates: engagementRates(counters) };
  }

  /** Users who get no campaigns (unsubscribed, complained, bounced, refused addresses), in id order. */
  async suppressions(input: ListSuppressionsInput = {}): Promise<Page<Suppression>> {
    const query = parseInput(listSuppressionsSchema, input, 'query');
    const rows = await listSuppressions(this.deps.pool, {
      limit: query.limit + 1,
      ...(query.reason ? { reason: query.reason } : {}),
      ...(query.cursor ? { after: query.cursor } : {}),
    });
    return page(rows, query.limit);
  }

  /** Lets a user (by id or address) receive campaigns again; `not-found` for nobody. */
  /**
   * Lets a user receive campaigns again after a bounce or a complaint; `reason` is recorded in the
   * audit log with `actor`. What they unsubscribed from stays: only they can subscribe again.
   */
  async liftSuppression(user: string, { reason, actor = currentActor() ?? { name: 'library' } }: { reason: string; actor?: Actor }): Promise<LiftedSuppression> {
    const key = parseInput(suppressedUserSchema, user, 'user');
    const why = parseInput(liftReasonSchema, reason, 'reason');
    const result = await liftSuppression(this.deps.pool, key.includes('@') ? { email: key } : { id: key });
    if (!result) throw new CampaignError(`no user ${key}`, 'not-found');
    await appendAudit(this.deps.pool, {
      actor: actor.name,
      action: 'lift-suppression',
      details: { userId: result.userId, reason: why, lifted: result.lifted, streamsLifted: result.streamsLifted },
      requestId: actor.requestId ?? null,
    });
    return result;
  }
}
