/**
 * Limits on what clients can make a realm hold (docs/limits.md). Each is checked with a
 * counter the realm keeps anyway (a Set's size, a running byte total), never by scanning; a
 * request over a limit gets an ERROR and is counted in crosswire_limit_exceeded_total.
 */
import { type Limit, LIMITS } from '../src/shared/labels.js';
import { type TailedMessage, tailStart } from '../src/shared/wamp/json-tail.js';
import { WampError } from '../src/shared/wamp/messages.js';
import { Uri } from '../src/shared/wamp/uris.js';
import type { Session } from './session.js';

export type Limits = Readonly<Record<Limit, number>>;

// ---- sizes -------------------------------------------------------------------------------

/**
 * The message being routed and the size of the frame it was decoded from (workers/realm-worker.ts
 * sets it for every frame it decodes; the main thread's decoded frames have none).
 */
let frameMsg: unknown[] | null = null;
let frameLen = 0;

export function noteFrame(msg: unknown[] | null, bytes: number): void {
  frameMsg = msg;
  frameLen = bytes;
}

type Sized = unknown[] & { frameBytes?: number };

/**
 * The size of the frame `msg` came in, where it is known exactly: the frame being routed, or a
 * held message's remembered size; otherwise -1 (a frame decoded by the main thread: batched, or
 * on a debug transport). Cheap: called for every PUBLISH.
 */
export function knownFrameBytes(msg: unknown[]): number {
  if (msg === frameMsg) return frameLen;
  const kept = (msg as Sized).frameBytes;
  return kept !== undefined ? kept : -1;
}

/**
 * The frame size of `msg`, or, where it is not known, an estimate that stops past `cap`: the JSON
 * text of its payload (a JSON frame) plus an estimate of the elements before it (type, ids,
 * options, URI: they can be as big as the payload), or an estimate from all its values.
 */
export function frameBytes(msg: unknown[], cap: number): number {
  const n = knownFrameBytes(msg);
  if (n >= 0) return n;
  const tail = (msg as TailedMessage).jsonTail;
  if (tail === undefined) return approxSize(msg, cap);
  const k = tailStart(msg);
  let head = tail.length + 5;
  for (let i = 0; i < k && head <= cap; i++) head += approxSize(msg[i], cap);
  return head;
}

/** Keeps a message's frame size with it, for when it is routed later (held messages). */
export function keepFrameBytes(msg: unknown[], bytes: number): void {
  (msg as Sized).frameBytes = bytes;
}

/**
 * About the size `v` has in a binary serializer (a string's length, 9 bytes for a number, a byte
 * string's length, a few bytes per container and key); the walk stops once the total passes `cap`.
 */
export function approxSize(v: unknown, cap: number): number {
  let n = 0;
  const walk = (x: unknown): void => {
    switch (typeof x) {
      case 'string':
        n += x.length + 1;
        return;
      case 'number':
        n += 9;
        return;
      case 'object':
        if (x === null) n += 1;
        else if (x instanceof Uint8Array) n += x.byteLength + 5;
        else if (Array.isArray(x)) {
          n += 5;
          for (let i = 0; i < x.length && n <= cap; i++) walk(x[i]);
        } else {
          n += 5;
          for (const k of Object.keys(x)) {
            if (n > cap) return;
            n += k.length + 1;
            walk((x as Record<string, unknown>)[k]);
          }
        }
        return;
      default:
        n += 1;
    }
  };
  walk(v);
  return n;
}

/**
 * The longest URI a decision is cached for (a static role's, a dynamic authorizer's): the realm's
 * max_uri_length, or 4096 characters when that is off. PUBLISH and CALL URIs have no limit of
 * their own, and a cache keyed by them would hold its entry count times any length.
 */
export function maxCachedUri(limits: Limits): number {
  return limits.max_uri_length > 0 ? limits.max_uri_length : 4096;
}

// ---- refusals ----------------------------------------------------------------------------

const INDEX = new Map<Limit, number>(LIMITS.map((k, i) => [k, i]));
/** Limits reached since the last STATS report (workers/stats.ts), indexed like LIMITS. */
const reached = new Array<number>(LIMITS.length).fill(0);

/** Counts one request refused (or event not kept) because of `limit`. */
export function countLimit(limit: Limit): void {
  reached[INDEX.get(limit)!]!++;
}

/** The counts since the previous call (for STATS). */
export function takeLimitCounts(): number[] {
  const out = reached.slice();
  reached.fill(0);
  return out;
}

/**
 * Counts `limit` as reached by session `s` (logged the first time for each session and limit)
 * and returns the error for its request: `crosswire.error.limit_exceeded`, or
 * `wamp.error.payload_size_exceeded` when one item is bigger than the whole budget.
 */
export function overLimit(s: Session, limit: Limit, what: string, uri: string = Uri.LIMIT_EXCEEDED): WampError {
  countLimit(limit);
  const bit = 1 << INDEX.get(limit)!;
  if ((s.limitsReached & bit) === 0) {
    s.limitsReached |= bit;
    s.realm.log.info({ session: s.id, realm: s.realm.name, authid: s.authid, peer: s.transport.peer, limit }, 'session reached a limit');
  }
  return new WampError(uri, `${what} (realm option ${limit}: ${s.realm.limits[limit]})`);
}

/** Whether `s` is a real client (the router's own internal caller has a negative connection id). */
export function limited(s: Session): boolean {
  return s.connId >= 0;
}
