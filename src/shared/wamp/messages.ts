import { isId } from './ids.js';
import { KNOWN_TYPES, MsgType } from './codes.js';

/** Thrown when a peer breaks the protocol; the session is ABORTed with wamp.error.protocol_violation. */
export class ProtocolViolation extends Error {
  override name = 'ProtocolViolation';
}

/** Thrown by a handler to answer the request with ERROR (WAMP spec, "ERROR"). */
export class WampError extends Error {
  override name = 'WampError';
  constructor(
    readonly uri: string,
    message?: string,
  ) {
    super(message ?? uri);
  }
}

export type Dict = Record<string, unknown>;

export function isDict(v: unknown): v is Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** What a decoded frame that is not a WAMP message is told (main thread and realm workers alike). */
export const NOT_A_MESSAGE = 'a WAMP message must be a non-empty list starting with a known message type code';

/** The envelope of every WAMP message (WAMP spec, "Message Structure"): a non-empty list led by a known type code. */
export function isMessage(msg: unknown): msg is unknown[] {
  return Array.isArray(msg) && msg.length > 0 && KNOWN_TYPES.has(msg[0] as number);
}

// Expected shape of each message a client may send after HELLO:
// [minLength, maxLength, ...element checks after the type code].
type Check = (v: unknown) => boolean;
const id: Check = (v) => isId(v);
const dict: Check = isDict;
const str: Check = (v) => typeof v === 'string';
const list: Check = Array.isArray;
const int: Check = (v) => typeof v === 'number' && Number.isInteger(v);

const SHAPES: Readonly<Record<number, readonly [number, number, readonly Check[]]>> = {
  [MsgType.HELLO]: [3, 3, [str, dict]],
  [MsgType.ABORT]: [3, 5, [dict, str, list, dict]],
  [MsgType.AUTHENTICATE]: [3, 3, [str, dict]],
  [MsgType.GOODBYE]: [3, 3, [dict, str]],
  [MsgType.ERROR]: [5, 7, [int, id, dict, str, list, dict]],
  [MsgType.PUBLISH]: [4, 6, [id, dict, str, list, dict]],
  [MsgType.SUBSCRIBE]: [4, 4, [id, dict, str]],
  [MsgType.UNSUBSCRIBE]: [3, 3, [id, id]],
  [MsgType.CALL]: [4, 6, [id, dict, str, list, dict]],
  [MsgType.CANCEL]: [3, 3, [id, dict]],
  [MsgType.REGISTER]: [4, 4, [id, dict, str]],
  [MsgType.UNREGISTER]: [3, 3, [id, id]],
  [MsgType.YIELD]: [3, 5, [id, dict, list, dict]],
};

const NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(MsgType).map(([k, v]) => [v, k]));

/**
 * Checks a message a client sent: a type a client may send, element count and element types
 * (WAMP spec, "Protocol Errors": wrong element types and unknown type codes are violations).
 */
export function checkClientMessage(msg: unknown[]): void {
  const type = msg[0] as number;
  const shape = SHAPES[type];
  if (shape === undefined) {
    const name = NAMES[type];
    throw new ProtocolViolation(
      name === undefined ? `unknown message type ${String(type)}` : `a client must not send ${name} (${type})`,
    );
  }
  const [min, max, checks] = shape;
  if (msg.length < min || msg.length > max) {
    throw new ProtocolViolation(`${NAMES[type]} must have ${min === max ? min : `${min} to ${max}`} elements, got ${msg.length}`);
  }
  for (let i = 1; i < msg.length; i++) {
    if (!checks[i - 1]!(msg[i])) {
      throw new ProtocolViolation(`${NAMES[type]}: element ${i} has the wrong type`);
    }
  }
}
