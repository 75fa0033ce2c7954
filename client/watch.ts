import { setTimeout as sleep } from 'node:timers/promises';
import { Presets, SingleBar } from 'cli-progress';
import type { CampaignStatus, SendProgress } from '../common/campaign.js';
import { ProgressMeter, type Reading } from '../common/progress-meter.js';

/** Statuses after which a send moves no more. */
const OVER: readonly CampaignStatus[] = ['sent', 'tracking', 'analysed', 'archived', 'cancelled', 'failed'];

export interface WatchOptions {
  /** A TTY gets a live progress bar; anything else one JSON line per sample. */
  out: NodeJS.WritableStream & { isTTY?: boolean };
  /** Aborted (Ctrl-C): watching stops, the campaign goes on. */
  signal?: AbortSignal;
  intervalMs?: number;
  now?: () => number;
}

export type WatchEnd = { how: 'over'; progress: SendProgress } | { how: 'stopped'; progress: SendProgress | undefined };

/** One sample as a line of JSON, for logs and scripts. */
export function progressLine(progress: SendProgress, reading: Reading, at: Date): string {
  return JSON.stringify({
    at: at.toISOString(),
    campaignId: progress.campaignId,
    status: progress.status,
    total: progress.total,
    sent: progress.sent,
    failed: progress.failed,
    inFlight: progress.inFlight,
    paused: progress.paused,
    perSecond: Math.round(reading.perSecond * 10) / 10,
    etaSeconds: reading.etaSeconds === undefined ? null : Math.round(reading.etaSeconds),
    parkedBatches: progress.parkedBatches.length,
    unknownBatches: progress.unknownBatches.length,
    ...(progress.attention ? { attention: progress.attention } : {}),
  });
}

function duration(seconds: number | undefined): string {
  if (seconds === undefined) return '–';
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** The bar's words beside the counts: status, rate, time left, batches in doubt, why it waits. */
function payload(progress: SendProgress, reading: Reading) {
  const doubt = [
    progress.parkedBatches.length ? `${progress.parkedBatches.length} parked` : '',
    progress.unknownBatches.length ? `${progress.unknownBatches.length} unknown` : '',
  ].filter(Boolean);
  return {
    status: progress.paused && progress.status === 'sending' ? 'paused' : progress.status,
    failed: progress.failed,
    rate: reading.perSecond.toFixed(0),
    timeLeft: duration(reading.etaSeconds),
    more: [...doubt, progress.attention ?? ''].filter(Boolean).join(' · '),
  };
}

/**
 * Follows a send until it is over, reading its progress (`read`, from Aurora: no worker involved)
 * every `intervalMs`: a progress bar on a TTY (sent / total, rate, ETA, parked and unknown batches,
 * paused, why it waits), else one JSON line per sample. Aborting `signal` stops watching only.
 */
export async function watchSend(read: () => Promise<SendProgress>, { out, signal, intervalMs = 1000, now = Date.now }: WatchOptions): Promise<WatchEnd> {
  const meter = new ProgressMeter();
  const bar = out.isTTY
    ? new SingleBar({
        stream: out,
        format: '{status} |{bar}| {value}/{total} sent · {failed} failed · {rate}/s · ETA {timeLeft} {more}',
        barsize: 30,
        hideCursor: true,
        forceRedraw: true,
      }, Presets.shades_classic)
    : undefined;
  let last: SendProgress | undefined;
  try {
    while (!signal?.aborted) {
      const progress = await read();
      last = progress;
      const reading = meter.add({ atMs: now(), done: progress.sent + progress.failed, total: progress.total });
      if (bar) {
        if (!bar.isActive) bar.start(progress.total, progress.sent, payload(progress, reading));
        bar.setTotal(progress.total);
        bar.update(progress.sent, payload(progress, reading));
      } else {
        out.write(`${progressLine(progress, reading, new Date(now()))}\n`);
      }
      if (OVER.includes(progress.status)) return { how: 'over', progress };
      await sleep(intervalMs, undefined, signal ? { signal } : {}).catch(() => undefined);
    }
    return { how: 'stopped', progress: last };
  } finally {
    bar?.stop();
  }
}
