/**
 * The closed sets every metric label takes its values from. A label never holds a URI, a
 * session id or a peer address: only these, realm names and transport ids from the config,
 * and worker indexes.
 */

/** WAMP message type codes are below this; counters are flat arrays indexed serializer * TYPE_SLOTS + type. */
export const TYPE_SLOTS = 128;

/**
 * Authentication methods (Crossbar's names), the label of the authentication metrics. `none`
 * counts HELLOs none of whose offered methods the transport enables.
 */
export const AUTH_METHODS = ['anonymous', 'ticket', 'wampcra', 'cryptosign', 'scram', 'tls', 'cookie', 'none'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

/**
 * Outcomes of an authentication, the `result` label of crosswire_auth_total: `throttle_timeout`
 * is a login that reached auth_timeout while waiting for the brute-force throttle (slow checks of
 * the same address or authid in flight): overload, not a wrong credential; `blocked` is a login the
 * throttle refused because its address or authid had too many failures (no credential checked).
 */
export const AUTH_RESULTS = ['failure', 'success', 'throttle_timeout', 'blocked'] as const;
export type AuthResult = (typeof AUTH_RESULTS)[number];

/**
 * Why the HTTP bridge's `subscriber` service dropped an event (one per target URL): `queue_full`
 * (queue_limit events were waiting), `failed` (every attempt failed: network error, timeout, an
 * unexpected status).
 */
export const BRIDGE_DROP_REASONS = ['queue_full', 'failed'] as const;
export type BridgeDropReason = (typeof BRIDGE_DROP_REASONS)[number];

/**
 * Why a connection was refused: at the WebSocket upgrade (`subprotocol`, `draining`, `origin`,
 * `max_connections`; `other` for a bad version, key or Host port), or because its HELLO was refused and
 * the connection closed (`auth`, `no_such_realm`, `other`).
 */
export const REFUSE_REASONS = ['subprotocol', 'draining', 'origin', 'max_connections', 'auth', 'no_such_realm', 'other'] as const;
export type RefuseReason = (typeof REFUSE_REASONS)[number];
/** The reasons that can happen with what is implemented today: exported at 0 from the start. */
export const IMPLEMENTED_REFUSE_REASONS: readonly RefuseReason[] = ['subprotocol', 'draining', 'origin', 'max_connections', 'auth', 'no_such_realm', 'other'];

/**
 * The limits on what clients can make a realm hold (docs/limits.md), named by their realm option:
 * the `limit` label of crosswire_limit_exceeded_total.
 */
export const LIMITS = [
  'max_retained_events',
  'max_retained_bytes',
  'max_retained_topic_bytes',
  'max_event_history_bytes',
  'max_testaments_per_session',
  'max_testament_bytes_per_session',
  'max_subscriptions_per_session',
  'max_registrations_per_session',
  'max_pending_calls_per_session',
  'max_held_messages_per_session',
  'max_held_bytes_per_session',
  'max_queued_call_bytes',
  'max_queued_bytes_per_session',
  'max_uri_length',
] as const;
export type Limit = (typeof LIMITS)[number];

/** Why a realm worker died. */
export const WORKER_FAILURES = ['uncaught_exception', 'resource_limits', 'exit'] as const;
export type WorkerFailure = (typeof WORKER_FAILURES)[number];

export function authIndex(method: string): number {
  const i = (AUTH_METHODS as readonly string[]).indexOf(method);
  return i < 0 ? AUTH_METHODS.indexOf('none') : i;
}
