import { createHmac, randomBytes } from 'node:crypto';

/**
 * The webhook side of the Mailgun stand-in (see mailgun-server.ts): posts events to one URL as Mailgun does,
 * `{ signature: { timestamp, token, signature }, 'event-data': {...} }` as JSON, signed afresh for every attempt,
 * from a fire-and-forget queue with a cap on POSTs in flight. A delivery is retried after each delay of
 * `retryDelaysMs` on a network error, a timeout or any status but 2xx and 406; 406 gives up at once, like Mailgun.
 */

export interface WebhookTarget {
  readonly url: string;
  readonly signingKey: string;
  /** Delays between attempts: at most `retryDelaysMs.length + 1` attempts per delivery. */
  readonly retryDelaysMs: readonly number[];
  /** Max POSTs in flight. */
  readonly concurrency: number;
  /** An attempt that takes longer (response body included) is aborted and counts as a network error. */
  readonly timeoutMs: number;
}

export interface WebhookStats {
  /** Deliveries answered 2xx. */
  posted: number;
  /** Events never posted: a lost webhook. */
  dropped: number;
  /** Deliveries given up: 406, or retries exhausted. */
  failed: number;
  /** POSTs made, retries included. */
  attempts: number;
}

interface WebhookSignature {
  /** Unix seconds, as a string. */
  timestamp: string;
  /** 50 random hex characters. */
  token: string;
  /** Hex HMAC-SHA256 of `timestamp + token` under the signing key. */
  signature: string;
}

/** Signs like Mailgun: HMAC-SHA256(signing key, timestamp + token), hex, with a fresh token. */
function signWebhook(signingKey: string, nowMs = Date.now()): WebhookSignature {
  const timestamp = String(Math.floor(nowMs / 1000));
  const token = randomBytes(25).toString('hex');
  const signature = createHmac('sha256', signingKey).update(timestamp + token).digest('hex');
  return { timestamp, token, signature };
}

interface Delivery {
  readonly eventData: unknown;
  /** Attempts made so far. */
  attempts: number;
}

/** A queue of webhook deliveries to one target. */
export class WebhookSender {
  private readonly queue: Delivery[] = [];
  /** One controller per attempt in flight; an attempt no longer here was cancelled and is ignored. */
  private readonly inFlight = new Set<AbortController>();
  private readonly retries = new Set<NodeJS.Timeout>();
  private pumpScheduled: NodeJS.Immediate | undefined;
  private waiters: Array<() => void> = [];
  private readonly counts: WebhookStats = { posted: 0, dropped: 0, failed: 0, attempts: 0 };

  constructor(private readonly target: WebhookTarget) {}

  stats(): WebhookStats {
    return { ...this.counts };
  }

  /** Queues the delivery of one event and returns at once: the POST starts on a later turn of the event loop. */
  enqueue(eventData: unknown): void {
    this.queue.push({ eventData, attempts: 0 });
    this.schedulePump();
  }

  /** Counts an event that is never posted. */
  drop(): void {
    this.counts.dropped++;
  }

  /** Resolves once nothing is queued, in flight or waiting to retry. */
  settled(): Promise<void> {
    if (this.idle()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Abandons every delivery queued, in flight (aborted) or waiting to retry, uncounted, and resolves `settled()`.
   * The sender stays usable.
   */
  cancel(): void {
    this.queue.length = 0;
    for (const controller of this.inFlight) controller.abort();
    this.inFlight.clear();
    for (const timer of this.retries) clearTimeout(timer);
    this.retries.clear();
    if (this.pumpScheduled !== undefined) clearImmediate(this.pumpScheduled);
    this.pumpScheduled = undefined;
    this.notifyIfIdle();
  }

  private idle(): boolean {
    return this.queue.length === 0 && this.inFlight.size === 0 && this.retries.size === 0;
  }

  private notifyIfIdle(): void {
    if (!this.idle()) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  private schedulePump(): void {
    if (this.pumpScheduled !== undefined) return;
    this.pumpScheduled = setImmediate(() => {
      this.pumpScheduled = undefined;
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight.size < this.target.concurrency) {
      const delivery = this.queue.shift();
      if (!delivery) break;
      void this.attempt(delivery);
    }
    this.notifyIfIdle();
  }

  private async attempt(delivery: Delivery): Promise<void> {
    const controller = new AbortController();
    this.inFlight.add(controller);
    delivery.attempts++;
    this.counts.attempts++;
    const status = await this.post(delivery.eventData, controller);
    // Cancelled meanwhile: forget it.
    if (!this.inFlight.delete(controller)) return;

    if (status !== undefined && status >= 200 && status < 300) this.counts.posted++;
    else if (status === 406) this.counts.failed++;
    else this.retryLater(delivery);
    this.pump();
  }

  /** The response status, or undefined for a network error or timeout. */
  private async post(eventData: unknown, controller: AbortController): Promise<number | undefined> {
    const timer = setTimeout(() => controller.abort(), this.target.timeoutMs);
    try {
      const response = await fetch(this.target.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ signature: signWebhook(this.target.signingKey), 'event-data': eventData }),
        signal: controller.signal,
      });
      // Read the body so the connection can be reused.
      await response.arrayBuffer();
      return response.status;
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  private retryLater(delivery: Delivery): void {
    const delay = this.target.retryDelaysMs[delivery.attempts - 1];
    if (delay === undefined) {
      this.counts.failed++;
      return;
    }
    const timer = setTimeout(() => {
      this.retries.delete(timer);
      this.queue.push(delivery);
      this.pump();
    }, delay);
    this.retries.add(timer);
  }
}
