/** Measurement primitives shared by the load generators and the harness (pure code). */

/**
 * A latency histogram in microseconds that merges across processes: exact below 1024 µs, then
 * 64 buckets per power of two (≤ 1.6 % error), up to ~70 minutes. Counts travel as a sparse
 * `[bucket, count]` list.
 */
export class Histogram {
  static readonly LINEAR = 1024;
  static readonly SUB = 64;
  #counts = new Float64Array(Histogram.LINEAR + 32 * Histogram.SUB);
  count = 0;
  max = 0;

  record(us: number): void {
    const v = Math.max(0, us);
    this.#counts[Histogram.bucket(v)]!++;
    this.count++;
    if (v > this.max) this.max = v;
  }

  static bucket(us: number): number {
    if (us < Histogram.LINEAR) return Math.floor(us);
    const e = Math.floor(Math.log2(us)); // ≥ 10
    const sub = Math.floor((us / 2 ** e - 1) * Histogram.SUB);
    return Math.min(Histogram.LINEAR + (e - 10) * Histogram.SUB + sub, Histogram.LINEAR + 32 * Histogram.SUB - 1);
  }

  /** The upper bound of a bucket (what a percentile reports). */
  static upper(b: number): number {
    if (b < Histogram.LINEAR) return b + 1;
    const k = b - Histogram.LINEAR;
    const e = 10 + Math.floor(k / Histogram.SUB);
    return 2 ** e * (1 + ((k % Histogram.SUB) + 1) / Histogram.SUB);
  }

  /** The value at or below which a fraction `q` of the samples lie (0 when empty). */
  percentile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let b = 0; b < this.#counts.length; b++) {
      seen += this.#counts[b]!;
      if (seen >= rank) return Math.min(Histogram.upper(b), this.max);
    }
    return this.max;
  }

  toJSON(): { buckets: [number, number][]; max: number } {
    const buckets: [number, number][] = [];
    for (let b = 0; b < this.#counts.length; b++) if (this.#counts[b]! > 0) buckets.push([b, this.#counts[b]!]);
    return { buckets, max: this.max };
  }

  merge(h: { buckets: [number, number][]; max: number }): void {
    for (const [b, n] of h.buckets) {
      this.#counts[b]! += n;
      this.count += n;
    }
    if (h.max > this.max) this.max = h.max;
  }

  reset(): void {
    this.#counts.fill(0);
    this.count = 0;
    this.max = 0;
  }
}

/**
 * Checks one ordered stream of sequence numbers (0, 1, 2, …): a jump forward is a loss, a
 * number at or below the last one is a duplicate or reordering. `finish(sent)` counts what
 * never arrived at the end.
 */
export class SeqChecker {
  next = 0;
  received = 0;
  lost = 0;
  /** Duplicates and out-of-order arrivals. */
  disorder = 0;

  see(seq: number): void {
    this.received++;
    if (seq === this.next) this.next = seq + 1;
    else if (seq > this.next) {
      this.lost += seq - this.next;
      this.next = seq + 1;
    } else this.disorder++;
  }

  /** The stream is over and `sent` numbers (0 … sent-1) were sent: counts the missing tail. */
  finish(sent: number): void {
    if (sent > this.next) {
      this.lost += sent - this.next;
      this.next = sent;
    }
  }
}

/** Counts that every load generator reports; rates are computed by the harness. */
export interface Verdict {
  /** Messages or calls that were sent but never arrived or were never answered. */
  lost: number;
  /** ERROR replies, unexpected messages, duplicates, closed connections. */
  errors: number;
  /** The first few error descriptions, for the report. */
  errorSamples: string[];
}

export function newVerdict(): Verdict {
  return { lost: 0, errors: 0, errorSamples: [] };
}

export function addError(v: Verdict, what: string, n = 1): void {
  v.errors += n;
  if (v.errorSamples.length < 5) v.errorSamples.push(what);
}
