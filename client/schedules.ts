import { ScheduleNotFoundError, type Client, type ScheduleDescription, type ScheduleHandle } from '@temporalio/client';
import { z } from 'zod';
import { monthsBetween, parsePeriod, type ReportPeriod } from '../common/financial.js';
import { CampaignTypeAttr } from '../common/search-attributes.js';
import {
  FINANCIAL_SCHEDULED_WORKFLOW,
  type FinancialRunOptions,
  type FinancialScheduledResult,
} from '../workflows/financial-run-api.js';
import type { financialScheduled } from '../workflows/financial-run.js';
import { InvalidInputError, parseInput } from './validation.js';

/** The Temporal Schedule behind the monthly financial run: create or update it, and steer it. */

export const FINANCIAL_SCHEDULE_ID = 'financial-monthly';

export const financialScheduleSchema = z
  .object({
    dayOfMonth: z.number().int().min(1).max(28),
    hour: z.number().int().min(0).max(23),
    minute: z.number().int().min(0).max(59),
    timeZone: z.string().refine((tz) => {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    }, 'must be an IANA time zone, like America/Los_Angeles'),
    /** How late after an outage a missed run is still taken. */
    catchupWindowMs: z.number().int().positive(),
    note: z.string().max(500).optional(),
  })
  .strict();

export type FinancialScheduleSettings = z.input<typeof financialScheduleSchema>;

export interface FinancialScheduleView {
  scheduleId: string;
  paused: boolean;
  note: string | undefined;
  spec: { dayOfMonth: number; hour: number; minute: number; timeZone: string };
  nextRuns: string[];
  recentRuns: Array<{ scheduledAt: string; workflowId: string }>;
}

export interface BackfillResult {
  /** What each month's scheduled workflow did: started its run, or found it had run already. */
  months: FinancialScheduledResult[];
}

export class FinancialSchedules {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly runOptions: FinancialRunOptions,
  ) {}

  /** Creates the schedule, or updates it in place: calling it twice leaves one schedule. */
  async upsert(input: FinancialScheduleSettings): Promise<{ created: boolean; schedule: FinancialScheduleView }> {
    const settings = parseInput(financialScheduleSchema, input, 'schedule');
    const spec = {
      calendars: [{ dayOfMonth: settings.dayOfMonth, hour: settings.hour, minute: settings.minute, comment: 'the month just closed' }],
      timezone: settings.timeZone,
    };
    const action = {
      type: 'startWorkflow' as const,
      workflowType: FINANCIAL_SCHEDULED_WORKFLOW,
      // Temporal appends the scheduled time: financial-scheduled-2025-09-01T13:00:00Z.
      workflowId: 'financial-scheduled',
      taskQueue: this.taskQueue,
      args: [{ timeZone: settings.timeZone, run: this.runOptions }] as Parameters<typeof financialScheduled>,
      typedSearchAttributes: [{ key: CampaignTypeAttr, value: 'financial' }],
      staticSummary: 'Monthly financial run: works out the period and starts its run',
    };
    const policies = { overlap: 'SKIP' as const, catchupWindow: settings.catchupWindowMs, pauseOnFailure: false };
    const note = settings.note ?? 'Monthly financial statements (managed by dn-campaigns schedule financial apply)';
    const handle = this.handle();
    try {
      await handle.update((previous) => ({ ...previous, spec, action, policies, state: { ...previous.state, note } }));
      return { created: false, schedule: await this.describe() };
    } catch (error) {
      if (!(error instanceof ScheduleNotFoundError)) throw error;
    }
    await this.client.schedule.create({ scheduleId: FINANCIAL_SCHEDULE_ID, spec, action, policies, state: { note } });
    return { created: true, schedule: await this.describe() };
  }

  async describe(): Promise<FinancialScheduleView> {
    return view(await this.handle().describe());
  }

  async pause(note = 'paused with dn-campaigns'): Promise<FinancialScheduleView> {
    await this.handle().pause(note);
    return this.describe();
  }

  async unpause(note = 'unpaused with dn-campaigns'): Promise<FinancialScheduleView> {
    await this.handle().unpause(note);
    return this.describe();
  }

  /** Runs now (for the month before now, in the schedule's time zone) and says what happened. */
  async trigger(): Promise<FinancialScheduledResult> {
    const before = await this.recentWorkflowIds();
    await this.handle().trigger('ALLOW_ALL');
    const [workflowId] = await this.newRuns(before, 1);
    return this.client.workflow.getHandle<typeof financialScheduled>(workflowId as string).result();
  }

  /**
   * Runs the schedule as it would have run for each report period from `from`
   * to `to` (`YYYY-MM`): each period's run starts only if that month never ran.
   */
  async backfill(from: string, to: string): Promise<BackfillResult> {
    const first = parsePeriodInput(from, 'from');
    const last = parsePeriodInput(to, 'to');
    const months = monthsBetween(first, last);
    if (months.length === 0) throw new InvalidInputError([{ field: 'to', message: `must not be before from (${from})` }]);
    const { dayOfMonth } = (await this.describe()).spec;
    const before = await this.recentWorkflowIds();
    // A period's run is scheduled in the following month; a window of two days around each of those
    // days catches it whatever the time zone, and never the run of an adjacent month.
    await this.handle().backfill(
      months.map((period) => {
        const runsIn = Date.UTC(period.month === 12 ? period.year + 1 : period.year, period.month % 12, dayOfMonth);
        return { start: new Date(runsIn - 2 * DAY_MS), end: new Date(runsIn + 2 * DAY_MS), overlap: 'ALLOW_ALL' as const };
      }),
    );
    const started = await this.newRuns(before, months.length);
    const results = await Promise.all(
      started.map((id) => this.client.workflow.getHandle<typeof financialScheduled>(id).result()),
    );
    return { months: results.sort((a, b) => a.period.localeCompare(b.period)) };
  }

  private handle(): ScheduleHandle {
    return this.client.schedule.getHandle(FINANCIAL_SCHEDULE_ID);
  }

  private async recentWorkflowIds(): Promise<Set<string>> {
    const description = await this.handle().describe();
    return new Set(description.info.recentActions.map((a) => a.action.workflow.workflowId));
  }

  /** Waits for `count` workflows the schedule started after `before` was taken. */
  private async newRuns(before: Set<string>, count: number): Promise<string[]> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const description = await this.handle().describe();
      const fresh = description.info.recentActions.map((a) => a.action.workflow.workflowId).filter((id) => !before.has(id));
      if (fresh.length >= count) return fresh;
      if (Date.now() > deadline) throw new Error(`the schedule started ${fresh.length} of ${count} runs within 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

const DAY_MS = 24 * 3_600_000;

function parsePeriodInput(value: string, field: string): ReportPeriod {
  const period = parsePeriod(value);
  if (!period) throw new InvalidInputError([{ field, message: `must be a month like 2025-08, got ${JSON.stringify(value)}` }]);
  return period;
}

function view(description: ScheduleDescription): FinancialScheduleView {
  const calendar = description.spec.calendars?.[0];
  const first = <T>(ranges: Array<{ start: T }> | undefined, fallback: T): T => ranges?.[0]?.start ?? fallback;
  return {
    scheduleId: description.scheduleId,
    paused: description.state.paused,
    note: description.state.note,
    spec: {
      dayOfMonth: first(calendar?.dayOfMonth, 1),
      hour: first(calendar?.hour, 0),
      minute: first(calendar?.minute, 0),
      timeZone: description.spec.timezone ?? 'UTC',
    },
    nextRuns: description.info.nextActionTimes.slice(0, 3).map((d) => d.toISOString()),
    recentRuns: description.info.recentActions.map((a) => ({
      scheduledAt: a.scheduledAt.toISOString(),
      workflowId: a.action.workflow.workflowId,
    })),
  };
}
