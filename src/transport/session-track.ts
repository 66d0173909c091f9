import type { RefuseReason } from '../shared/labels.js';
import { MsgType } from '../shared/wamp/codes.js';
import type { Dict } from '../shared/wamp/messages.js';
import { Uri } from '../shared/wamp/uris.js';
import type { Conn } from './connection.js';

/**
 * The little the main thread knows about the session on a connection, learnt from messages
 * that pass through it anyway (no extra IPC): whether it has joined (a WELCOME went out) and
 * which of its CALLs are unanswered. With that, the main thread can still answer those calls
 * when the realm worker holding the session dies.
 */

/** A CALL with request id `id` from the client (called only for CALL frames of joined sessions). */
export function noteCall(c: Conn, id: number): void {
  (c.calls ??= new Set()).add(id);
}

/**
 * A message from the realm worker to the client, decoded (not ABORT: the router handles that). An
 * encoded one (a RUN record) says which call it ends itself.
 */
export function noteSent(c: Conn, msg: unknown[]): void {
  switch (msg[0]) {
    case MsgType.RESULT:
      // A progressive RESULT (advanced profile) does not end the call.
      if (c.calls !== null && (msg[2] as Dict).progress !== true) c.calls.delete(msg[1] as number);
      return;
    case MsgType.ERROR:
      if (c.calls !== null && msg[1] === MsgType.CALL) c.calls.delete(msg[2] as number);
      return;
    case MsgType.WELCOME:
      c.joined = true;
      return;
  }
}

/** The session ended (GOODBYE done, ABORT, close, or its worker is gone). */
export function forgetSession(c: Conn): void {
  c.joined = false;
  c.calls = null;
}

/**
 * What a connection whose realm worker died is sent before its close (1011): ERROR
 * wamp.error.canceled for every CALL still unanswered, since no result can come any more (and
 * clients such as AutobahnJS do not fail pending calls when a connection drops). No GOODBYE:
 * AutobahnJS and Autobahn|Python take a GOODBYE as a deliberate leave and would not reconnect,
 * whereas after a 1011 close they reconnect (when configured to) and join the restarted worker.
 */
export function orphanedCalls(c: Conn, message: string): unknown[][] {
  const out: unknown[][] = [];
  if (c.joined) for (const id of c.calls ?? []) out.push([MsgType.ERROR, MsgType.CALL, id, { message }, Uri.CANCELED]);
  return out;
}

/** ABORT reasons of a refused HELLO that count as refused for authentication. */
const AUTH_REFUSALS: ReadonlySet<unknown> = new Set([
  Uri.NO_MATCHING_AUTH_METHOD,
  Uri.NO_SUCH_ROLE,
  Uri.AUTHORIZATION_FAILED,
  Uri.NOT_AUTHORIZED,
  'wamp.error.authentication_failed',
]);

/** The metrics reason for a HELLO a realm worker refused with ABORT `reason`. */
export function refusalReason(reason: unknown): RefuseReason {
  if (AUTH_REFUSALS.has(reason)) return 'auth';
  if (reason === Uri.SYSTEM_SHUTDOWN) return 'draining';
  return 'other';
}
