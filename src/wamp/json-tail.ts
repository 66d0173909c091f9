import { MsgType } from './codes.js';

/**
 * JSON payload pass-through. V8 (Node 20) stringifies a string at ≈2.4 ns per character, so
 * re-encoding a routed 1 KiB argument costs more than everything else the main thread does for a
 * message (`npm run bench`, rpc 1k json). The payload of CALL → INVOCATION, YIELD → RESULT,
 * ERROR → ERROR and PUBLISH → EVENT (Arguments, ArgumentsKw) travels unchanged, so a JSON frame
 * keeps the JSON text of its payload beside the decoded values, and a JSON receiver gets that text
 * back instead of a fresh JSON.stringify.
 *
 * The text is only ever taken when it is provably the payload's: the message's head (everything
 * before Arguments) is re-encoded canonically and must be exactly the frame's prefix; the decoded
 * values travel on too, for the worker and for receivers with other serializers.
 */

/** A WAMP message that may carry `jsonTail`: the JSON text of its elements from `tailStart(type)` on, comma-joined. */
export type TailedMessage = unknown[] & { jsonTail?: string };

/** Below this many characters of frame the canonical head costs about what the pass-through saves. */
export const JSON_TAIL_MIN = 256;

/** Where the payload (Arguments) starts in a message of type `type` (input or output), or 0: none. */
export function tailStart(msg: readonly unknown[]): number {
  switch (msg[0]) {
    case MsgType.CALL:
    case MsgType.INVOCATION:
    case MsgType.PUBLISH:
    case MsgType.EVENT:
      return 4;
    case MsgType.YIELD:
    case MsgType.RESULT:
      return 3;
    case MsgType.ERROR:
      return 5;
    default:
      return 0;
  }
}

/**
 * After JSON.parse(text) gave `msg`: attaches the payload's text when `text` is the canonical
 * head followed by the payload. Anything unusual (whitespace, escapes or number forms that are not
 * canonical, binary in the head) just leaves the message without a tail.
 */
export function attachJsonTail(msg: unknown, text: string): void {
  if (text.length < JSON_TAIL_MIN || !Array.isArray(msg)) return;
  const k = tailStart(msg);
  if (k === 0 || msg.length <= k || text.charCodeAt(text.length - 1) !== 0x5d /* ] */) return;
  let head: string;
  try {
    head = JSON.stringify(msg.slice(0, k));
  } catch {
    return;
  }
  // `[a,b,c,d]` → the frame must start with `[a,b,c,d,`
  const n = head.length;
  // (slice and === compare flat strings with memcmp; startsWith measured 3× slower here)
  if (text.charCodeAt(n - 1) !== 0x2c /* , */ || text.slice(0, n - 1) !== head.slice(0, -1)) return;
  (msg as TailedMessage).jsonTail = text.slice(n, -1);
}

/** The JSON text of `msg` using its carried tail; undefined when it has none (encode normally). */
export function encodeWithTail(msg: TailedMessage, encodeHead: (head: unknown[]) => string): string | undefined {
  const tail = msg.jsonTail;
  if (tail === undefined) return undefined;
  const k = tailStart(msg);
  // msg.length === k: the decoded payload was left behind (leanForJson); the text is all there is.
  if (k === 0 || msg.length < k) return undefined;
  const head = encodeHead(msg.slice(0, k));
  return `${head.slice(0, -1)},${tail}]`;
}

/**
 * For a message that only JSON receivers will get (worker side): drops the decoded payload when
 * its JSON text travels, so the main thread neither receives nor clones it (the text is what a
 * JSON receiver gets). Non-JSON receivers must get the message untouched; the main thread
 * restores a payload from its text if one ever reaches another serializer (restorePayload).
 */
export function leanForJson(msg: TailedMessage): void {
  if (msg.jsonTail !== undefined) {
    const k = tailStart(msg);
    if (k > 0 && msg.length > k) msg.length = k;
  }
}

/** out.push(...msg[from..]) and the payload's JSON text with it (the payload is passed on unchanged). */
export function pushTail(out: unknown[], msg: readonly unknown[], from: number): void {
  for (let i = from; i < msg.length; i++) out.push(msg[i]);
  const tail = (msg as TailedMessage).jsonTail;
  if (tail !== undefined) (out as TailedMessage).jsonTail = tail;
}
