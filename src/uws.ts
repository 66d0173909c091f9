import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

export type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, us_socket_context_t, WebSocket } from 'uWebSockets.js';

const require = createRequire(import.meta.url);

/** Thrown when uWebSockets.js runs on its pure-JS fallback and that was not allowed. */
export class UwsFallbackError extends Error {
  override name = 'UwsFallbackError';
}

/**
 * Loads uWebSockets.js and checks that its native binary is what loaded. The npm republish we
 * depend on silently falls back to a slow pure-JS implementation (on `ws`) when the binary for
 * this Node ABI cannot load; a production router must not run on that by accident.
 */
export function loadUws(allowFallback: boolean): { uws: typeof UWS; native: boolean } {
  const uws = require('uWebSockets.js') as typeof UWS;
  // The native addon exports the compressor constants; the fallback's module does not.
  const native = typeof (uws as unknown as Record<string, unknown>).SHARED_COMPRESSOR === 'number';
  if (!native && !allowFallback) {
    throw new UwsFallbackError(
      `uWebSockets.js could not load its native binary for ${process.platform}-${process.arch} ` +
        `(Node ABI ${process.versions.modules}) and fell back to its slow pure-JS implementation. ` +
        'Use a Node.js version it ships a binary for, or set CROSSWIRE_ALLOW_UWS_FALLBACK=true to run anyway.',
    );
  }
  return { uws, native };
}
