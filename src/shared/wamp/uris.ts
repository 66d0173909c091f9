/** The catalogue of error and close-reason URIs Crosswire sends (WAMP spec, "Predefined URIs"). */
export const Uri = {
  // basic profile errors
  INVALID_URI: 'wamp.error.invalid_uri',
  NO_SUCH_PROCEDURE: 'wamp.error.no_such_procedure',
  PROCEDURE_ALREADY_EXISTS: 'wamp.error.procedure_already_exists',
  NO_SUCH_REGISTRATION: 'wamp.error.no_such_registration',
  NO_SUCH_SUBSCRIPTION: 'wamp.error.no_such_subscription',
  INVALID_ARGUMENT: 'wamp.error.invalid_argument',
  CANCELED: 'wamp.error.canceled',
  PROTOCOL_VIOLATION: 'wamp.error.protocol_violation',
  NOT_AUTHORIZED: 'wamp.error.not_authorized',
  AUTHORIZATION_FAILED: 'wamp.error.authorization_failed',
  NO_SUCH_REALM: 'wamp.error.no_such_realm',
  NO_SUCH_ROLE: 'wamp.error.no_such_role',
  NO_MATCHING_AUTH_METHOD: 'wamp.error.no_matching_auth_method',
  OPTION_DISALLOWED_DISCLOSE_ME: 'wamp.error.option_disallowed.disclose_me',
  PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY: 'wamp.error.procedure_exists_with_different_invocation_policy',
  TIMEOUT: 'wamp.error.timeout',
  FEATURE_NOT_SUPPORTED: 'wamp.error.feature_not_supported',
  NO_SUCH_SESSION: 'wamp.error.no_such_session',
  HISTORY_UNAVAILABLE: 'wamp.error.history_unavailable',
  /** One item (a retained event, a testament, a held message) is larger than its limit allows. */
  PAYLOAD_SIZE_EXCEEDED: 'wamp.error.payload_size_exceeded',
  KILLED: 'wamp.close.killed',
  // authentication (WAMP advanced profile, "Authentication")
  NO_SUCH_PRINCIPAL: 'wamp.error.no_such_principal',
  AUTHENTICATION_FAILED: 'wamp.error.authentication_failed',
  AUTHENTICATION_DENIED: 'wamp.error.authentication_denied',
  // close reasons
  SYSTEM_SHUTDOWN: 'wamp.close.system_shutdown',
  CLOSE_REALM: 'wamp.close.close_realm',
  GOODBYE_AND_OUT: 'wamp.close.goodbye_and_out',
  /** Crosswire-specific: a bug escaped a handler; the session is ended rather than left inconsistent. */
  INTERNAL_ERROR: 'crosswire.error.internal',
  /** Crosswire-specific: a count or byte budget of the session or realm is used up (docs/limits.md). */
  LIMIT_EXCEEDED: 'crosswire.error.limit_exceeded',
  /** Crossbar.io's: every callee a call may go to has as many invocations in flight as its REGISTER.Options.concurrency allows. */
  MAX_CONCURRENCY_REACHED: 'crossbar.error.max_concurrency_reached',
} as const;

// WAMP spec "URIs": strict components are [0-9a-z_]; loose components are anything but
// whitespace, '.' and '#'. Empty components are allowed only in patterns (wildcards).
const STRICT = /^([0-9a-z_]+\.)*([0-9a-z_]+)$/;
const LOOSE = /^([^\s.#]+\.)*([^\s.#]+)$/;

// Patterns: a prefix may end in an empty component ("com.example." or ""); a wildcard has empty
// components where any one component matches ("com..update").
const STRICT_PREFIX = /^([0-9a-z_]+\.)*([0-9a-z_]*)$/;
const LOOSE_PREFIX = /^([^\s.#]+\.)*([^\s.#]*)$/;
const STRICT_WILDCARD = /^(([0-9a-z_]+\.)|\.)*([0-9a-z_]+)?$/;
const LOOSE_WILDCARD = /^(([^\s.#]+\.)|\.)*([^\s.#]+)?$/;

export type UriCheck = 'strict' | 'loose';

export function isValidUri(uri: unknown, policy: UriCheck): uri is string {
  return typeof uri === 'string' && (policy === 'strict' ? STRICT : LOOSE).test(uri);
}

/** A URI as used with SUBSCRIBE/REGISTER `match` (WAMP spec, "Pattern-based Subscription"). */
export function isValidPattern(uri: string, match: 'exact' | 'prefix' | 'wildcard', policy: UriCheck): boolean {
  if (match === 'exact') return isValidUri(uri, policy);
  if (match === 'prefix') return (policy === 'strict' ? STRICT_PREFIX : LOOSE_PREFIX).test(uri);
  return (policy === 'strict' ? STRICT_WILDCARD : LOOSE_WILDCARD).test(uri);
}

/** `wamp.*` is reserved for the protocol (errors, close reasons, meta API). */
export function isReservedUri(uri: string): boolean {
  return uri.startsWith('wamp.');
}

/** Realm names as Crossbar accepts them. */
export const REALM_NAME = /^[A-Za-z][A-Za-z0-9_\-@.]{2,254}$/;
