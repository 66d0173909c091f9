import { MsgType } from './codes.js';
import { isId } from './ids.js';
import { type Dict, isDict, ProtocolViolation } from './messages.js';

// Type checks for the WAMP-defined keys of Options/Details a client sends. Unknown keys are
// ignored (WAMP spec, "Extensibility"); a known key with a value of the wrong type is a
// protocol violation naming the key (as the WAMP test vectors' validation samples expect).

type Check = (v: unknown) => boolean;
const bool: Check = (v) => typeof v === 'boolean';
const str: Check = (v) => typeof v === 'string';
const nat: Check = (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const ids: Check = (v) => Array.isArray(v) && v.every((x) => isId(x));
const strs: Check = (v) => Array.isArray(v) && v.every((x) => typeof x === 'string');
const oneOf = (...values: string[]): Check => (v) => typeof v === 'string' && values.includes(v);
const forwardFor: Check = (v) =>
  Array.isArray(v) && v.every((h) => isDict(h) && isId(h.session) && typeof h.authid === 'string' && typeof h.authrole === 'string');

const MATCH = oneOf('exact', 'prefix', 'wildcard');
const PPT: Record<string, Check> = { ppt_scheme: str, ppt_serializer: str, ppt_cipher: str, ppt_keyid: str };
// Autobahn's older "payload transparency" keys (de facto; the test vectors carry them).
const ENC: Record<string, Check> = {
  enc_algo: (v) => typeof v === 'string' && (['cryptobox', 'mqtt', 'xbr'].includes(v) || v.startsWith('x_')),
  enc_serializer: oneOf('json', 'msgpack', 'cbor', 'ubjson', 'flatbuffers'),
  enc_key: str,
};

const TABLES: Readonly<Record<number, Readonly<Record<string, Check>>>> = {
  [MsgType.PUBLISH]: {
    acknowledge: bool,
    exclude_me: bool,
    disclose_me: bool,
    exclude: ids,
    exclude_authid: strs,
    exclude_authrole: strs,
    eligible: ids,
    eligible_authid: strs,
    eligible_authrole: strs,
    retain: bool,
    transaction_hash: str,
    forward_for: forwardFor,
    ...PPT,
    ...ENC,
  },
  [MsgType.SUBSCRIBE]: { match: MATCH, get_retained: bool, forward_for: forwardFor },
  [MsgType.CALL]: { timeout: nat, receive_progress: bool, disclose_me: bool, progress: bool, forward_for: forwardFor, ...PPT, ...ENC },
  [MsgType.REGISTER]: {
    match: MATCH,
    invoke: oneOf('single', 'roundrobin', 'random', 'first', 'last'),
    disclose_caller: bool,
    forward_timeout: bool,
    force_reregister: bool,
    // Crossbar.io's: at most this many invocations in flight to the callee (Autobahn's
    // message.Register refuses anything but an integer >= 1 as a protocol error).
    concurrency: (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1,
    forward_for: forwardFor,
  },
  [MsgType.YIELD]: { progress: bool, ...PPT, ...ENC },
  [MsgType.CANCEL]: { mode: oneOf('skip', 'kill', 'killnowait') },
  [MsgType.ERROR]: { ...PPT, ...ENC },
  // The Details of the EVENTs the router sends (a client never sends EVENT): the tests hold every
  // EVENT the router sends to this table, and the table to the test vectors' details samples.
  [MsgType.EVENT]: {
    publisher: (v) => isId(v),
    publisher_authid: str,
    publisher_authrole: str,
    topic: str,
    retained: bool,
    transaction_hash: str,
    x_acknowledged_delivery: bool,
    forward_for: forwardFor,
    ...PPT,
    ...ENC,
  },
};

const NAMES: Readonly<Record<number, string>> = {
  [MsgType.PUBLISH]: 'PUBLISH.Options',
  [MsgType.SUBSCRIBE]: 'SUBSCRIBE.Options',
  [MsgType.CALL]: 'CALL.Options',
  [MsgType.REGISTER]: 'REGISTER.Options',
  [MsgType.YIELD]: 'YIELD.Options',
  [MsgType.CANCEL]: 'CANCEL.Options',
  [MsgType.ERROR]: 'ERROR.Details',
  [MsgType.EVENT]: 'EVENT.Details',
};

/** Throws ProtocolViolation when a WAMP-defined option of message `type` has the wrong type. */
export function checkOptions(type: number, options: Dict): void {
  const table = TABLES[type];
  if (table === undefined) return;
  for (const k in options) {
    // Own keys only: a peer's "hasOwnProperty" or "__proto__" key is an unknown key, not a check.
    const check = Object.hasOwn(table, k) ? table[k] : undefined;
    if (check !== undefined && !check(options[k])) {
      throw new ProtocolViolation(`${NAMES[type]}.${k} has an invalid value`);
    }
  }
}
