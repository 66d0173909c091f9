/** WAMP message type codes (WAMP spec, "Message Codes and Direction"). */
export const MsgType = {
  HELLO: 1,
  WELCOME: 2,
  ABORT: 3,
  CHALLENGE: 4,
  AUTHENTICATE: 5,
  GOODBYE: 6,
  ERROR: 8,
  PUBLISH: 16,
  PUBLISHED: 17,
  SUBSCRIBE: 32,
  SUBSCRIBED: 33,
  UNSUBSCRIBE: 34,
  UNSUBSCRIBED: 35,
  EVENT: 36,
  CALL: 48,
  CANCEL: 49,
  RESULT: 50,
  REGISTER: 64,
  REGISTERED: 65,
  UNREGISTER: 66,
  UNREGISTERED: 67,
  INVOCATION: 68,
  INTERRUPT: 69,
  YIELD: 70,
} as const;
export type MsgType = (typeof MsgType)[keyof typeof MsgType];

/**
 * The WebSocket close codes Crosswire sends (RFC 6455, 7.4.1), on either thread. ABNORMAL (1006) is
 * never sent: it is what a connection that ended without a close handshake reports (RFC 6455, 7.1.5).
 */
export const CloseCode = { NORMAL: 1000, GOING_AWAY: 1001, PROTOCOL_ERROR: 1002, ABNORMAL: 1006, POLICY_VIOLATION: 1008, TOO_BIG: 1009, INTERNAL: 1011 } as const;

/** Every type code a router may ever see on the wire (used for envelope checks). */
export const KNOWN_TYPES: ReadonlySet<number> = new Set(Object.values(MsgType));

export const MSG_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(MsgType).map(([k, v]) => [v, k]),
);
