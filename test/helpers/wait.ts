/** Resolves with the promise's value, or rejects after `ms` naming what was awaited. Never a sleep. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** A promise with its resolve function, for events delivered to callbacks. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Collects values pushed by a callback and lets a test wait for the n-th one. */
export class Inbox<T> {
  readonly items: T[] = [];
  #waiters: { n: number; resolve: (items: T[]) => void }[] = [];
  push = (v: T): void => {
    this.items.push(v);
    this.#waiters = this.#waiters.filter((w) => {
      if (this.items.length >= w.n) {
        w.resolve(this.items);
        return false;
      }
      return true;
    });
  };
  /** Waits until at least `n` items arrived (default timeout 5 s). */
  waitFor(n: number, ms = 5000): Promise<T[]> {
    if (this.items.length >= n) return Promise.resolve(this.items);
    return within(new Promise<T[]>((resolve) => this.#waiters.push({ n, resolve })), ms, `${n} item(s), got ${this.items.length}`);
  }
}
