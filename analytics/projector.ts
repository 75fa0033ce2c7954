import { FieldValue, type Firestore } from 'firebase-admin/firestore';
import { engagementRates, pickCounters } from '../common/engagement.js';
import { markProjected, selectUnprojected, withProjectionLock, type UnprojectedCounters } from '../db/projection.js';
import type { Pool } from '../db/pool.js';

/**
 * The Firestore projection of campaign counters (`campaignAnalytics/{id}`), for the CRM's live
 * dashboards. Aurora is the truth: each write sets a campaign's absolute counters and rates as
 * Aurora has them, so a write repeated after an outage or a failure cannot count anything twice,
 * and many events between two flushes cost one write.
 */

export const FIRESTORE_CAMPAIGN_ANALYTICS = 'campaignAnalytics';

/** Firestore takes at most 500 writes per batch. */
const PAGE = 400;

export interface ProjectOptions {
  /** Only this campaign (else every campaign with unwritten changes, a page at a time). */
  campaignId?: string;
  /** Wait for another projection to finish (else give up at once and return undefined). */
  wait?: boolean;
}

/** Writes one page of changed counters to Firestore; returns how many campaigns it wrote. */
export async function projectAnalytics(pool: Pool, firestore: Firestore, options: ProjectOptions = {}): Promise<number | undefined> {
  return withProjectionLock(pool, options.wait ?? false, async (client) => {
    const changed = await selectUnprojected(client, PAGE, options.campaignId ?? null);
    if (changed.length === 0) return 0;
    const batch = firestore.batch();
    for (const counters of changed) {
      batch.set(firestore.collection(FIRESTORE_CAMPAIGN_ANALYTICS).doc(counters.campaignId), analyticsDocument(counters), { merge: true });
    }
    await batch.commit();
    await markProjected(client, changed);
    return changed.length;
  });
}

function analyticsDocument(row: UnprojectedCounters) {
  const counters = pickCounters(row);
  return {
    campaignId: row.campaignId,
    ...counters,
    ...engagementRates(counters),
    final: row.final,
    eventsVersion: Number(row.version),
    updatedAt: FieldValue.serverTimestamp(),
  };
}

export interface ProjectorLogger {
  warn(details: object, message: string): void;
}

export interface AnalyticsProjector {
  /** Stops after the write in progress, if any. */
  stop(): Promise<void>;
}

/**
 * Projects changed counters every `intervalMs` (at once again while pages come back full). A
 * failed write (Firestore down) leaves the changes marked unwritten; it is tried again with a
 * growing pause, up to `maxBackoffMs`, and catches up when Firestore is back.
 */
export function startAnalyticsProjector(
  pool: Pool,
  firestore: Firestore,
  { intervalMs = 1000, maxBackoffMs = 10_000, logger }: { intervalMs?: number; maxBackoffMs?: number; logger: ProjectorLogger },
): AnalyticsProjector {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, ms);
    });

  const loop = async () => {
    let failures = 0;
    while (!stopped) {
      try {
        const written = await projectAnalytics(pool, firestore);
        failures = 0;
        if (written === PAGE) continue;
        await pause(intervalMs);
      } catch (error) {
        failures++;
        logger.warn({ err: error, failures }, 'analytics projection to Firestore failed; will retry');
        await pause(Math.min(maxBackoffMs, intervalMs * 2 ** failures));
      }
    }
  };
  const running = loop();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      wake?.();
      await running;
    },
  };
}
