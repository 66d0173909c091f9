/**
 * Brute-force hygiene: failed authentications per peer address within a sliding window. A peer
 * with `max` failures in the window is refused until its oldest counted failure leaves it. Each
 * realm worker keeps its own table (a peer's failures on realms of another worker count there).
 */
export class Throttle {
  #failures = new Map<string, number[]>();

  constructor(
    readonly max: number,
    readonly windowMs: number,
  ) {}

  #recent(peer: string, now: number): number[] | undefined {
    const list = this.#failures.get(peer);
    if (list === undefined) return undefined;
    while (list.length > 0 && list[0]! <= now - this.windowMs) list.shift();
    if (list.length === 0) this.#failures.delete(peer);
    return list;
  }

  /** True when the peer must be refused without trying. */
  blocked(peer: string, now = Date.now()): boolean {
    return this.max > 0 && (this.#recent(peer, now)?.length ?? 0) >= this.max;
  }

  fail(peer: string, now = Date.now()): void {
    const list = this.#recent(peer, now) ?? [];
    list.push(now);
    if (list.length > Math.max(this.max, 1)) list.shift();
    this.#failures.set(peer, list);
    if (this.#failures.size > 100_000) {
      // Bounded memory under a spray of addresses: forget peers whose window has passed.
      for (const p of this.#failures.keys()) this.#recent(p, now);
    }
  }

  get peers(): number {
    return this.#failures.size;
  }
}
