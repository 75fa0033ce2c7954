/**
 * How far the listings of several S3 prefixes have got, each a chain of pages
 * in key order: which keys can no longer turn up. A financial run stores a
 * page of customers' links as soon as every kind's listing has passed their
 * keys, instead of after the whole month has been listed.
 */

/**
 * S3's key order: the bytes of the UTF-8 encodings, which is code point order.
 * JavaScript compares UTF-16 code units, which agrees unless a character from
 * U+D800 up is involved (a surrogate pair sorts below U+E000-U+FFFF in UTF-16).
 */
export function compareKeys(a: string, b: string): number {
  if (!/[\uD800-\uFFFF]/.test(a) && !/[\uD800-\uFFFF]/.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const difference = (x[i]?.codePointAt(0) ?? 0) - (y[i]?.codePointAt(0) ?? 0);
    if (difference !== 0) return difference < 0 ? -1 : 1;
  }
  return Math.sign(x.length - y.length);
}

export class ListingProgress<Kind extends string> {
  private readonly lastKey = new Map<Kind, string>();
  private readonly finished = new Set<Kind>();

  constructor(private readonly kinds: readonly Kind[]) {}

  /** One page of `kind`'s listing has been read: its last key, and whether it was the last page. */
  passed(kind: Kind, lastKey: string | undefined, last: boolean): void {
    if (!this.kinds.includes(kind)) throw new Error(`not a listed kind: ${kind}`);
    if (this.finished.has(kind)) throw new Error(`the ${kind} listing has already finished`);
    const before = this.lastKey.get(kind);
    if (lastKey !== undefined) {
      if (before !== undefined && compareKeys(lastKey, before) <= 0) {
        throw new Error(`the ${kind} listing went back from ${before} to ${lastKey}: S3 lists in key order`);
      }
      this.lastKey.set(kind, lastKey);
    }
    if (last) this.finished.add(kind);
  }

  /** Whether every kind has finished. */
  get done(): boolean {
    return this.finished.size === this.kinds.length;
  }

  /**
   * Whether every kind's listing has finished or read `keyOf(kind)` or a key
   * after it: whether that key exists is known now, and stays so.
   */
  covers(keyOf: (kind: Kind) => string): boolean {
    return this.kinds.every((kind) => {
      if (this.finished.has(kind)) return true;
      const last = this.lastKey.get(kind);
      return last !== undefined && compareKeys(keyOf(kind), last) <= 0;
    });
  }
}
