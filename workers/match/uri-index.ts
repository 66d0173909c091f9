/**
 * Exact, prefix and wildcard URI patterns (WAMP spec, "Pattern-based Subscription" and
 * "Pattern-based Registration") with lookups that do not scan every pattern:
 * - exact: one Map lookup;
 * - prefix (a string prefix, so `a.b` matches `a.b`, `a.b.c` and `a.bx`): one Map lookup per
 *   *distinct* prefix length that is not longer than the URI;
 * - wildcard (empty components match exactly one component, same component count): a trie
 *   over components per component count, walked literal-child-first, so the first complete match
 *   is the most specific one (longest literal run before the first wildcard, ties broken by the
 *   next run, and so on).
 */
export type Match = 'exact' | 'prefix' | 'wildcard';

interface TrieNode<T> {
  literal: Map<string, TrieNode<T>> | null;
  wild: TrieNode<T> | null;
  value: T | undefined;
}

const node = <T>(): TrieNode<T> => ({ literal: null, wild: null, value: undefined });

export class UriIndex<T> {
  readonly exact = new Map<string, T>();
  readonly prefix = new Map<string, T>();
  /** Distinct prefix lengths, longest first. */
  #prefixLengths: number[] = [];
  /** Wildcard tries by component count. */
  #wild = new Map<number, TrieNode<T>>();
  readonly wildcard = new Map<string, T>();

  get(uri: string, match: Match): T | undefined {
    return match === 'exact' ? this.exact.get(uri) : match === 'prefix' ? this.prefix.get(uri) : this.wildcard.get(uri);
  }

  set(uri: string, match: Match, value: T): void {
    if (match === 'exact') this.exact.set(uri, value);
    else if (match === 'prefix') {
      if (!this.prefix.has(uri) && !this.#prefixLengths.includes(uri.length)) {
        this.#prefixLengths.push(uri.length);
        this.#prefixLengths.sort((a, b) => b - a);
      }
      this.prefix.set(uri, value);
    } else {
      this.wildcard.set(uri, value);
      const parts = uri.split('.');
      let n = this.#wild.get(parts.length);
      if (n === undefined) this.#wild.set(parts.length, (n = node()));
      for (const p of parts) {
        if (p === '') n = n.wild ??= node();
        else {
          n.literal ??= new Map();
          let next = n.literal.get(p);
          if (next === undefined) n.literal.set(p, (next = node()));
          n = next;
        }
      }
      n.value = value;
    }
  }

  delete(uri: string, match: Match): void {
    if (match === 'exact') this.exact.delete(uri);
    else if (match === 'prefix') {
      if (this.prefix.delete(uri) && ![...this.prefix.keys()].some((k) => k.length === uri.length)) {
        this.#prefixLengths = this.#prefixLengths.filter((l) => l !== uri.length);
      }
    } else if (this.wildcard.delete(uri)) {
      const parts = uri.split('.');
      const root = this.#wild.get(parts.length);
      if (root !== undefined && prune(root, parts, 0)) this.#wild.delete(parts.length);
    }
  }

  get size(): number {
    return this.exact.size + this.prefix.size + this.wildcard.size;
  }

  /** Every pattern that matches `uri` (pub/sub: all matching subscriptions receive the event). */
  matchAll(uri: string, out: T[] = []): T[] {
    const e = this.exact.get(uri);
    if (e !== undefined) out.push(e);
    if (this.prefix.size > 0) {
      for (const len of this.#prefixLengths) {
        if (len > uri.length) continue;
        const p = this.prefix.get(len === uri.length ? uri : uri.slice(0, len));
        if (p !== undefined) out.push(p);
      }
    }
    if (this.wildcard.size > 0) {
      const parts = uri.split('.');
      const root = this.#wild.get(parts.length);
      if (root !== undefined) collect(root, parts, 0, out, false);
    }
    return out;
  }

  /**
   * The one pattern a call to `uri` uses (WAMP spec, "Pattern-based Registration"): exact, else the
   * longest prefix, else the most specific wildcard.
   */
  matchBest(uri: string): T | undefined {
    const e = this.exact.get(uri);
    if (e !== undefined) return e;
    if (this.prefix.size > 0) {
      for (const len of this.#prefixLengths) {
        if (len > uri.length) continue;
        const p = this.prefix.get(len === uri.length ? uri : uri.slice(0, len));
        if (p !== undefined) return p;
      }
    }
    if (this.wildcard.size > 0) {
      const parts = uri.split('.');
      const root = this.#wild.get(parts.length);
      if (root !== undefined) {
        const out: T[] = [];
        collect(root, parts, 0, out, true);
        return out[0];
      }
    }
    return undefined;
  }
}

/** Removes the value at `parts` below `n`, dropping emptied branches; true when `n` is empty. */
function prune<T>(n: TrieNode<T>, parts: string[], i: number): boolean {
  if (i === parts.length) n.value = undefined;
  else if (parts[i] === '') {
    if (n.wild !== null && prune(n.wild, parts, i + 1)) n.wild = null;
  } else {
    const child = n.literal?.get(parts[i]!);
    if (child !== undefined && prune(child, parts, i + 1)) n.literal!.delete(parts[i]!);
  }
  return n.value === undefined && n.wild === null && (n.literal === null || n.literal.size === 0);
}

/** Depth-first, literal child before wildcard child; `first` stops at the first match. */
function collect<T>(n: TrieNode<T>, parts: string[], i: number, out: T[], first: boolean): boolean {
  if (i === parts.length) {
    if (n.value !== undefined) {
      out.push(n.value);
      return first;
    }
    return false;
  }
  const lit = n.literal?.get(parts[i]!);
  if (lit !== undefined && collect(lit, parts, i + 1, out, first)) return true;
  if (n.wild !== null && collect(n.wild, parts, i + 1, out, first)) return true;
  return false;
}
