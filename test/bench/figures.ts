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

/** Clock ticks per second for /proc's CPU times (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** CPU seconds so far: the whole machine (busy, all cores), one process, and this process. */
function cpuNow(pid: number): { machine: number; process: number; self: number } {
  const [, ...fields] = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields.map(Number);
  // /proc/PID/stat: utime and stime are the 14th and 15th fields, counted after the ")" that ends the name.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  const usage = process.cpuUsage();
  return {
    machine: (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND,
    process: ((after[11] ?? 0) + (after[12] ?? 0)) / TICKS_PER_SECOND,
    self: (usage.user + usage.system) / 1e6,
  };
}

/**
 * Where the machine's CPU went between start and stop, in seconds: the process `pid` (say, the
 * worker), this process (with whatever runs in it), and everything else.
 */
export function cpuShares(pid: number): { stop(): { process: number; self: number; others: number } } {
  const start = cpuNow(pid);
  return {
    stop() {
      const end = cpuNow(pid);
      const ofProcess = end.process - start.process;
      const self = end.self - start.self;
      return { process: round(ofProcess, 2), self: round(self, 2), others: round(end.machine - start.machine - ofProcess - self, 2) };
    },
  };
}
