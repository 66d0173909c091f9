/** A publication on its way to subscribers, and its subscriber black/white lists. */
import type { Dict } from '../src/shared/wamp/messages.js';
import { approxSize } from './limits.js';
import type { Session } from './session.js';

/** One publication on its way to subscribers. */
export interface Publication {
  id: number;
  topic: string;
  /** null: the router itself (meta events, testaments). */
  publisher: Session | null;
  options: Dict;
  /** The publisher's identity for EVENT.Details, when disclosed. */
  disclosed: Dict | null;
  /** Arguments and ArgumentsKw, verbatim. */
  payload: unknown[];
  /** The payload's JSON text when it came from a JSON publisher (see src/shared/wamp/json-tail.ts). */
  jsonTail: string | undefined;
  /** The PUBLISH frame's size where it is known exactly, else -1 (see publicationBytes). */
  bytes: number;
}

/** Subscriber black/white lists of one publication (WAMP spec, "Subscriber Black- and Whitelisting"). */
export class Eligibility {
  readonly exclude: Set<number> | null;
  readonly excludeAuthid: Set<string> | null;
  readonly excludeAuthrole: Set<string> | null;
  readonly eligible: Set<number> | null;
  readonly eligibleAuthid: Set<string> | null;
  readonly eligibleAuthrole: Set<string> | null;
  readonly bySessionId: boolean;

  private constructor(o: Dict) {
    const set = <T>(v: unknown): Set<T> | null => (Array.isArray(v) ? new Set(v as T[]) : null);
    this.exclude = set(o.exclude);
    this.excludeAuthid = set(o.exclude_authid);
    this.excludeAuthrole = set(o.exclude_authrole);
    this.eligible = set(o.eligible);
    this.eligibleAuthid = set(o.eligible_authid);
    this.eligibleAuthrole = set(o.eligible_authrole);
    this.bySessionId = this.exclude !== null || this.eligible !== null;
  }

  /** null when the options carry no list at all: the common case takes the fast path. */
  static from(o: Dict): Eligibility | null {
    return o.exclude === undefined &&
      o.exclude_authid === undefined &&
      o.exclude_authrole === undefined &&
      o.eligible === undefined &&
      o.eligible_authid === undefined &&
      o.eligible_authrole === undefined
      ? null
      : new Eligibility(o);
  }

  /** In every eligible list present and in none of the exclude lists present. */
  admits(s: Session): boolean {
    return (
      (this.eligible === null || this.eligible.has(s.id)) &&
      (this.eligibleAuthid === null || this.eligibleAuthid.has(s.authid)) &&
      (this.eligibleAuthrole === null || this.eligibleAuthrole.has(s.authrole)) &&
      (this.exclude === null || !this.exclude.has(s.id)) &&
      (this.excludeAuthid === null || !this.excludeAuthid.has(s.authid)) &&
      (this.excludeAuthrole === null || !this.excludeAuthrole.has(s.authrole))
    );
  }
}

/**
 * The size of a publication's frame (pub.bytes), or where it is not known (a frame decoded by the
 * main thread, a router's own publication) an estimate of it that stops past `cap`: its topic and
 * options count as well as its payload (the JSON text of the payload, or an estimate from its values).
 */
export function publicationBytes(pub: Publication, cap: number): number {
  if (pub.bytes >= 0) return pub.bytes;
  let n = pub.topic.length + 20 + approxSize(pub.options, cap);
  if (n <= cap) n += pub.jsonTail !== undefined ? pub.jsonTail.length : approxSize(pub.payload, cap);
  return n;
}
