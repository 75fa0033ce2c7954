import { readFileSync } from 'node:fs';

/** Figures the benchmarks print: rounding, min/median/max over runs, a process's peak RSS. */

export function round(value: number, digits: number): number {
  return Number(value.toFixed(digits));
}

export function minMedianMax(values: readonly number[], digits = 0): { min: number; median: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  const median = sorted.length % 2 ? (sorted[Math.floor(mid)] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return { min: round(sorted[0] ?? 0, digits), median: round(median, digits), max: round(sorted.at(-1) ?? 0, digits) };
}

/** Samples a process's peak RSS (VmHWM) every 250 ms; `stop()` returns the peak in MiB. */
export function samplePeakRss(pid: number): { stop(): number } {
  const read = (): number => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  let peak = read();
  const timer = setInterval(() => (peak = Math.max(peak, read())), 250);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, read());
    },
  };
}

