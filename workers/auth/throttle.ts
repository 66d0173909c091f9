/**
 * Brute-force hygiene: guesses per key (a peer address, a realm's authid) within a sliding
 * window. A key with `max` failed attempts in the window is blocked until its oldest counted
 * failure leaves it. Attempts being decided count too: while `failures + in flight` reaches `max`
 * no further attempt of that key is decided (it waits for one in flight to end), so however many
 * connections a peer opens at once, no more than `max` wrong guesses are ever evaluated per window.
 * Each realm worker keeps its own table (a peer's failures on realms of another worker count there).
 */
interface Entry {
  /** Times (ms) of the counted failures in the window, oldest first. */
  failures: number[];
  /** Attempts being decided now. */
  inflight: number;
}

/** What `acquire` decided: proceed, refuse (too many failures), or wait for an attempt in flight to end. */
export type Admission = 'ok' | 'blocked' | { busy: string };

/** Keys tracked at most (a spray of addresses or authids): beyond it, the oldest idle ones go. */
const MAX_KEYS = 100_000;

export class Throttle {
  #entries = new Map<string, Entry>();

  constructor(
    readonly max: number,
    readonly windowMs: number,
  ) {}

  #recent(key: string, now: number): Entry | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    const list = e.failures;
    while (list.length > 0 && list[0]! <= now - this.windowMs) list.shift();
    if (list.length === 0 && e.inflight === 0) {
      this.#entries.delete(key);
      return undefined;
    }
    return e;
  }

  #entry(key: string, now: number): Entry {
    let e = this.#recent(key, now);
    if (e === undefined) {
      e = { failures: [], inflight: 0 };
      this.#entries.set(key, e);
      if (this.#entries.size > MAX_KEYS) this.#shrink(now);
    }
    return e;
  }

  /** Bounded memory under a spray of keys: forget keys whose window has passed, then the oldest idle ones. */
  #shrink(now: number): void {
    for (const k of this.#entries.keys()) this.#recent(k, now);
    for (const [k, e] of this.#entries) {
      if (this.#entries.size <= MAX_KEYS * 0.9) break;
      if (e.inflight === 0) this.#entries.delete(k);
    }
  }

  /** True when one of the keys must be refused without trying. */
  blocked(keys: readonly string[], now = Date.now()): boolean {
    if (this.max <= 0) return false;
    for (const k of keys) if ((this.#recent(k, now)?.failures.length ?? 0) >= this.max) return true;
    return false;
  }

  /** An attempt of these keys wants to be decided now. `ok`: it counts as in flight until `release`. */
  acquire(keys: readonly string[], now = Date.now()): Admission {
    if (this.max <= 0) return 'ok';
    for (const k of keys) {
      const e = this.#recent(k, now);
      if (e === undefined) continue;
      if (e.failures.length >= this.max) return 'blocked';
      if (e.failures.length + e.inflight >= this.max) return { busy: k };
    }
    for (const k of keys) this.#entry(k, now).inflight++;
    return 'ok';
  }

  /** The attempt `acquire` admitted is decided. */
  release(keys: readonly string[]): void {
    if (this.max <= 0) return;
    for (const k of keys) {
      const e = this.#entries.get(k);
      if (e !== undefined && e.inflight > 0) e.inflight--;
    }
  }

  /** A failed attempt of these keys. */
  fail(keys: readonly string[], now = Date.now()): void {
    if (this.max <= 0) return;
    for (const k of keys) {
      const list = this.#entry(k, now).failures;
      list.push(now);
      if (list.length > this.max) list.shift();
    }
  }

  /** Keys tracked (peers and authids). */
  get keys(): number {
    return this.#entries.size;
  }
}
