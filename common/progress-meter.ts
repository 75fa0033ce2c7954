/**
 * A send's rate and time left, from the progress samples a watcher takes (one a second). Pure: the
 * watcher gives it the counts and the time of each sample; the rate is taken over the last `window`
 * samples, so a pause or a burst shows within seconds and a single slow second does not swing it.
 */

export interface ProgressSample {
  atMs: number;
  /** Recipients settled so far: sent and failed. */
  done: number;
  total: number;
}

export interface Reading {
  /** Recipients settled per second lately (0 until two samples exist, and while nothing moves). */
  perSecond: number;
  /** Seconds until every recipient is settled at that rate; undefined while nothing moves. */
  etaSeconds: number | undefined;
}

export class ProgressMeter {
  private readonly samples: ProgressSample[] = [];

  constructor(private readonly window = 10) {}

  add(sample: ProgressSample): Reading {
    const last = this.samples.at(-1);
    // A count that went back (a fresh snapshot page changing totals does not; a restarted watcher might) starts over.
    if (last && (sample.done < last.done || sample.atMs <= last.atMs)) this.samples.length = 0;
    this.samples.push(sample);
    if (this.samples.length > this.window) this.samples.shift();
    return this.reading();
  }

  reading(): Reading {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.atMs === first.atMs) return { perSecond: 0, etaSeconds: undefined };
    const perSecond = ((last.done - first.done) * 1000) / (last.atMs - first.atMs);
    const left = Math.max(0, last.total - last.done);
    if (left === 0) return { perSecond, etaSeconds: 0 };
    return { perSecond, etaSeconds: perSecond > 0 ? left / perSecond : undefined };
  }
}
