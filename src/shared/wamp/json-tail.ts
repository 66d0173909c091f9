import { MsgType } from './codes.js';

/**
 * JSON payload pass-through. The payload of CALL → INVOCATION, YIELD → RESULT, ERROR → ERROR and
 * PUBLISH → EVENT (Arguments, ArgumentsKw) travels unchanged (WAMP spec), so a JSON frame keeps
 * the JSON text of its payload beside the decoded values, and a JSON receiver gets that text
 * back instead of a fresh JSON.stringify of the payload (writing the head and carrying the text
 * costs less than stringifying the whole message: `npm run bench -- --scenario rpc`, json).
 *
 * The text is located by scanning the frame's head (everything before Arguments) for the comma
 * that ends it, after JSON.parse accepted the whole frame: in valid JSON text a comma outside
 * every string and at nesting depth 1 separates two elements of the outer array, so what follows
 * that comma, up to the array's closing bracket, is exactly the JSON text of the payload elements.
 * Receivers with other serializers encode the decoded values, which travel on too.
 */

/** A WAMP message that may carry `jsonTail`: the JSON text of its elements from `tailStart(type)` on, comma-joined. */
export type TailedMessage = unknown[] & { jsonTail?: string };

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
 * The index in `text` (valid JSON text of an array: JSON.parse accepted it) of the comma that ends
 * the array's element `k - 1`, or -1 when the array has no more than k elements.
 */
export function elementEnd(text: string, k: number): number {
  const n = text.length;
  let depth = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      // A string: skip to its closing quote; a backslash escapes the next character (\" \\ \uXXXX …).
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) depth++;
    else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      if (--depth === 0) return -1; // the outer array ended
    } else if (c === 0x2c /* , */ && depth === 1 && ++count === k) return i;
  }
  return -1;
}

/** After JSON.parse(text) gave `msg`: attaches the JSON text of its payload, when it has one. */
export function attachJsonTail(msg: unknown, text: string): void {
  if (!Array.isArray(msg)) return;
  const k = tailStart(msg);
  if (k === 0 || msg.length <= k) return;
  const comma = elementEnd(text, k);
  if (comma < 0) return; // cannot happen for valid JSON with more than k elements
  // The payload's text without the blanks around it: from the first non-blank after the comma to
  // the last non-blank before the outer array's closing bracket (the text's last non-blank).
  let start = comma + 1;
  while (isBlank(text.charCodeAt(start))) start++;
  let end = text.length - 1;
  while (end > start && isBlank(text.charCodeAt(end))) end--;
  if (text.charCodeAt(end) !== 0x5d /* ] */) return;
  end--;
  while (end > start && isBlank(text.charCodeAt(end))) end--;
  if (end < start) return;
  (msg as TailedMessage).jsonTail = text.slice(start, end + 1);
}

/** JSON's insignificant whitespace (RFC 8259: space, tab, line feed, carriage return). */
function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** The JSON text of `msg` using its carried tail; undefined when it has none (encode normally). */
export function encodeWithTail(msg: TailedMessage, encodeHead: (msg: readonly unknown[], k: number) => string): string | undefined {
  const tail = msg.jsonTail;
  if (tail === undefined) return undefined;
  const k = tailStart(msg);
  if (k === 0 || msg.length <= k) return undefined;
  return `${encodeHead(msg, k)},${tail}]`;
}

/** out.push(...msg[from..]) and the payload's JSON text with it (the payload is passed on unchanged). */
export function pushTail(out: unknown[], msg: readonly unknown[], from: number): void {
  for (let i = from; i < msg.length; i++) out.push(msg[i]);
  const tail = (msg as TailedMessage).jsonTail;
  if (tail !== undefined) (out as TailedMessage).jsonTail = tail;
}
