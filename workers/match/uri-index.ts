/**
 * Exact, prefix and wildcard URI patterns (WAMP spec, "Pattern-based Subscription" and
 * "Pattern-based Registration") with lookups that do not scan every pattern:
 * - exact: one Map lookup;
 * - prefix (a string prefix, so `a.b` matches `a.b`, `a.b.c` and `a.bx`): a character trie,
 *   walked once along the URI;
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

interface CharNode<T> {
  next: Map<number, CharNode<T>> | null;
  value: T | undefined;
}

export class UriIndex<T> {
  readonly exact = new Map<string, T>();
  readonly prefix = new Map<string, T>();
  #prefixTrie: CharNode<T> = { next: null, value: undefined };
  /** Wildcard tries by component count. */
  #wild = new Map<number, TrieNode<T>>();
  readonly wildcard = new Map<string, T>();

  get(uri: string, match: Match): T | undefined {
    return match === 'exact' ? this.exact.get(uri) : match === 'prefix' ? this.prefix.get(uri) : this.wildcard.get(uri);
  }

  set(uri: string, match: Match, value: T): void {
    if (match === 'exact') this.exact.set(uri, value);
    else if (match === 'prefix') {
      this.prefix.set(uri, value);
      let n = this.#prefixTrie;
      for (let i = 0; i < uri.length; i++) {
        const c = uri.charCodeAt(i);
        n.next ??= new Map();
        let m = n.next.get(c);
        if (m === undefined) n.next.set(c, (m = { next: null, value: undefined }));
        n = m;
      }
      n.value = value;
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
      if (this.prefix.delete(uri)) pruneChars(this.#prefixTrie, uri, 0);
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
      let n: CharNode<T> | undefined = this.#prefixTrie;
      for (let i = 0; n !== undefined; i++) {
        if (n.value !== undefined) out.push(n.value);
        if (i === uri.length || n.next === null) break;
        n = n.next.get(uri.charCodeAt(i));
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
   * longest prefix, else the most specific wildcard. With `accept`, the first in that order that
   * `accept` takes (a pattern that may not serve this URI is passed over).
   */
  matchBest(uri: string, accept?: (v: T) => boolean): T | undefined {
    const e = this.exact.get(uri);
    if (e !== undefined && (accept === undefined || accept(e))) return e;
    if (this.prefix.size > 0) {
      // The deepest value on the path is the longest matching prefix.
      let best: T | undefined;
      const path: T[] | undefined = accept === undefined ? undefined : [];
      let n: CharNode<T> | undefined = this.#prefixTrie;
      for (let i = 0; n !== undefined; i++) {
        if (n.value !== undefined) {
          best = n.value;
          path?.push(n.value);
        }
        if (i === uri.length || n.next === null) break;
        n = n.next.get(uri.charCodeAt(i));
      }
      if (path !== undefined) {
        best = undefined;
        for (let i = path.length - 1; i >= 0 && best === undefined; i--) if (accept!(path[i]!)) best = path[i];
      }
      if (best !== undefined) return best;
    }
    if (this.wildcard.size > 0) {
      const parts = uri.split('.');
      const root = this.#wild.get(parts.length);
      if (root !== undefined) {
        const out: T[] = [];
        collect(root, parts, 0, out, true, accept);
        return out[0];
      }
    }
    return undefined;
  }
}

/** Removes the prefix value at `uri` from the character trie, dropping emptied nodes; true when `n` is empty. */
function pruneChars<T>(n: CharNode<T>, uri: string, i: number): boolean {
  if (i === uri.length) n.value = undefined;
  else {
    const c = uri.charCodeAt(i);
    const child = n.next?.get(c);
    if (child !== undefined && pruneChars(child, uri, i + 1)) n.next!.delete(c);
  }
  return n.value === undefined && (n.next === null || n.next.size === 0);
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

/** Depth-first, literal child before wildcard child; `first` stops at the first match `accept` takes. */
function collect<T>(n: TrieNode<T>, parts: string[], i: number, out: T[], first: boolean, accept?: (v: T) => boolean): boolean {
  if (i === parts.length) {
    if (n.value !== undefined && (accept === undefined || accept(n.value))) {
      out.push(n.value);
      return first;
    }
    return false;
  }
  const lit = n.literal?.get(parts[i]!);
  if (lit !== undefined && collect(lit, parts, i + 1, out, first, accept)) return true;
  if (n.wild !== null && collect(n.wild, parts, i + 1, out, first, accept)) return true;
  return false;
}
