import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * s3rver 3.7 lists a bucket by walking its directories from the top for every page, and stats every entry it reads,
 * even the directories before the page's start that it then skips: a page of a 100,000-customer month reads and stats
 * the month's 100,000 directories, so the stand-in's CPU grows with the square of the month and, on a small machine,
 * takes it from the worker a benchmark measures (S3 itself costs the pipeline no CPU). The walk lives in s3rver's
 * utils module, which its filesystem store destructures when it loads: replaceS3rverWalk swaps it, before s3rver
 * loads, for one that yields the same paths in the same order, taking each entry's type from readdir, and keeping
 * the entries of a large directory that has stopped changing until it changes again.
 */

type Walk = (dir: string, recurseFilter?: (dirPath: string) => boolean) => Generator<string>;
interface Entry {
  name: string;
  directory: boolean;
}

const replaced = Symbol('dn-campaign-pipeline: s3rver walk replaced');
const requireCjs = createRequire(import.meta.url);

/** Directories with at least this many entries are worth keeping: a month of reports, not a customer's folder. */
const LARGE_DIRECTORY = 1_000;
/**
 * A directory is kept only once it has not changed for this long. Its modification time then tells every later
 * change apart, although the kernel stamps it from a coarse clock (a change within the same tick as the one before
 * could otherwise go unseen).
 */
const QUIET_NS = 2_000_000_000n;
/** Months kept at once. */
const KEPT_DIRECTORIES = 8;

/** Large directories seen: their entries once quiet, with the modification time they were read at. */
const large = new Map<string, { mtimeNs: bigint; entries: Entry[] } | 'seen'>();

function read(dir: string): Entry[] {
  return readdirSync(dir, { withFileTypes: true }).map((entry) => ({ name: entry.name, directory: entry.isDirectory() }));
}

/** `dir`'s entries in name order, from the kept copy while the directory is unchanged. */
function entriesOf(dir: string): Entry[] {
  const known = large.get(dir);
  if (known === undefined) {
    const entries = read(dir);
    // Kept from the next read on, which stats the directory before reading it.
    if (entries.length >= LARGE_DIRECTORY) large.set(dir, 'seen');
    return entries;
  }
  const { mtimeNs } = statSync(dir, { bigint: true });
  if (known !== 'seen' && known.mtimeNs === mtimeNs) return known.entries;
  const entries = read(dir);
  const quiet = BigInt(Date.now()) * 1_000_000n - mtimeNs > QUIET_NS;
  large.delete(dir);
  large.set(dir, quiet ? { mtimeNs, entries } : 'seen');
  for (const oldest of large.keys()) {
    if (large.size <= KEPT_DIRECTORIES) break;
    large.delete(oldest);
  }
  return entries;
}

/** s3rver's walk: every file under `dir` in name order, descending into the directories `recurseFilter` accepts. */
function* walk(dir: string, recurseFilter?: (dirPath: string) => boolean): Generator<string> {
  for (const entry of entriesOf(dir)) {
    const path = `${dir}/${entry.name}`;
    if (!entry.directory) yield path;
    else if (!recurseFilter || recurseFilter(path)) yield* walk(path, recurseFilter);
  }
}

export function replaceS3rverWalk(): void {
  const utils = requireCjs('s3rver/lib/utils.js') as { walk: Walk & { [replaced]?: true } };
  if (utils.walk[replaced]) return;
  if (requireCjs.cache[requireCjs.resolve('s3rver/lib/stores/filesystem.js')]) {
    throw new Error('s3rver loaded before local-stack/s3rver-walk.ts could replace its directory walk');
  }
  if (typeof utils.walk !== 'function') throw new Error('s3rver internals changed: no utils walk');
  utils.walk = Object.assign(walk, { [replaced]: true as const });
}
