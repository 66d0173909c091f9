/** What WELCOME tells a client about the router (WAMP spec, "WELCOME" and "Feature Announcement"). */
import { VERSION } from '../src/shared/version.js';
import type { Dict } from '../src/shared/wamp/messages.js';

export const AGENT = `Crosswire-${VERSION}`;

/** Exactly what this router implements; WELCOME announces this and nothing more. */
export function routerRoles(meta: boolean, history: boolean): Dict {
  const m = meta ? { session_meta_api: true, testament_meta_api: true } : {};
  return {
    broker: {
      features: {
        pattern_based_subscription: true,
        publisher_exclusion: true,
        publisher_identification: true,
        subscriber_blackwhite_listing: true,
        event_retention: true,
        payload_passthru_mode: true,
        ...(history && meta ? { event_history: true } : {}),
        ...(meta ? { session_meta_api: true, subscription_meta_api: true, subscription_revocation: true } : {}),
      },
    },
    dealer: {
      features: {
        caller_identification: true,
        pattern_based_registration: true,
        shared_registration: true,
        progressive_call_results: true,
        progressive_call_invocations: true,
        call_timeout: true,
        call_canceling: true,
        payload_passthru_mode: true,
        ...m,
        ...(meta ? { registration_meta_api: true, registration_revocation: true } : {}),
      },
    },
  };
}
