import { DatabaseError } from 'pg';
import { recordEvents, type EventSource, type EventToRecord, type RecordOutcome } from '../../db/events.js';
import type { Pool } from '../../db/pool.js';

/**
 * Records webhook events in groups: events that arrive while earlier ones are being written wait
 * and go together in the next statement (one transaction, one commit), so throughput grows with
 * load while each request is still answered only once its event is durably recorded.
 */

export interface EventRecorder {
  /** Resolves once the event is committed (or known as a duplicate or replay); rejects if it could not be recorded. */
  record(event: EventToRecord): Promise<RecordOutcome>;
  /** Resolves once everything queued is written. */
  drain(): Promise<void>;
}

export interface RecorderOptions {
  source?: EventSource;
  /** Events per statement. */
  maxBatch?: number;
  /** Statements in flight at once. */
  maxInFlight?: number;
}

interface Pending {
  event: EventToRecord;
  resolve(outcome: RecordOutcome): void;
  reject(error: unknown): void;
}

/** Deadlocks and serialization failures are worth one more try. */
const RETRYABLE = new Set(['40P01', '40001']);

export function createEventRecorder(pool: Pool, { source = 'webhook', maxBatch = 500, maxInFlight = 2 }: RecorderOptions = {}): EventRecorder {
  let queue: Pending[] = [];
  let inFlight = 0;
  let idle: Array<() => void> = [];

  const write = async (events: EventToRecord[]): Promise<RecordOutcome[]> => {
    try {
      return await recordEvents(pool, events, source);
    } catch (error) {
      if (!(error instanceof DatabaseError && error.code !== undefined && RETRYABLE.has(error.code))) throw error;
      return recordEvents(pool, events, source);
    }
  };

  const pump = (): void => {
    while (inFlight < maxInFlight && queue.length > 0) {
      const { batch, deferred } = takeBatch(queue, maxBatch);
      queue = deferred;
      inFlight++;
      write(batch.map((p) => p.event))
        .then(
          (outcomes) => batch.forEach((p, i) => p.resolve(outcomes[i] ?? 'duplicate')),
          (error: unknown) => batch.forEach((p) => p.reject(error)),
        )
        .finally(() => {
          inFlight--;
          pump();
          if (inFlight === 0 && queue.length === 0) {
            for (const done of idle) done();
            idle = [];
          }
        });
    }
  };

  return {
    record(event) {
      return new Promise<RecordOutcome>((resolve, reject) => {
        queue.push({ event, resolve, reject });
        pump();
      });
    },
    drain() {
      if (inFlight === 0 && queue.length === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idle.push(resolve));
    },
  };
}

/**
 * Up to `max` queued events with distinct tokens and event ids; a repeat waits for the next
 * statement, where the first one's outcome decides it (a replay, a duplicate).
 */
function takeBatch(queue: Pending[], max: number): { batch: Pending[]; deferred: Pending[] } {
  const batch: Pending[] = [];
  const deferred: Pending[] = [];
  const tokens = new Set<string>();
  const ids = new Set<string>();
  for (const pending of queue) {
    const { token, record } = pending.event;
    if (batch.length >= max || (token !== null && tokens.has(token)) || ids.has(record.eventId)) {
      deferred.push(pending);
      continue;
    }
    batch.push(pending);
    if (token !== null) tokens.add(token);
    ids.add(record.eventId);
  }
  return { batch, deferred };
}
