import { MsgType } from '../src/wamp/codes.js';
import { randomId } from '../src/wamp/ids.js';
import { type Dict, ProtocolViolation, WampError } from '../src/wamp/messages.js';
import { Uri } from '../src/wamp/uris.js';
import type { Output } from './output.js';
import type { Session } from './session.js';

export class Registration {
  constructor(
    readonly id: number,
    readonly procedure: string,
    readonly callee: Session,
    readonly discloseCaller: boolean,
  ) {}
}

/** One CALL in flight: the INVOCATION sent to the callee and the caller waiting for it. */
export class Invocation {
  constructor(
    readonly id: number,
    /** null once the caller has left: the late YIELD/ERROR is dropped (WAMP spec, "Caller Leaving"). */
    public caller: Session | null,
    readonly callRequestId: number,
    readonly callee: Session,
  ) {}
}

/**
 * The dealer of one realm: exact-URI registrations, one callee each (the basic profile).
 * Which registration a call reaches is decided in `#procedures` alone, so a backplane can be
 * added behind `route` without rewriting CALL/YIELD handling.
 */
export class Dealer {
  #procedures = new Map<string, Registration>();
  #byId = new Map<number, Registration>();

  constructor(readonly out: Output) {}

  register(s: Session, requestId: number, options: Dict, procedure: string): void {
    if (options.match !== undefined && options.match !== 'exact') {
      throw new WampError(Uri.INVALID_ARGUMENT, `registration match '${String(options.match)}' is not supported`);
    }
    if (options.invoke !== undefined && options.invoke !== 'single') {
      throw new WampError(Uri.INVALID_ARGUMENT, `invocation policy '${String(options.invoke)}' is not supported`);
    }
    if (this.#procedures.has(procedure)) {
      throw new WampError(Uri.PROCEDURE_ALREADY_EXISTS, `procedure '${procedure}' is already registered`);
    }
    let id = randomId();
    while (this.#byId.has(id)) id = randomId();
    const reg = new Registration(id, procedure, s, options.disclose_caller === true);
    this.#procedures.set(procedure, reg);
    this.#byId.set(id, reg);
    s.registrations.add(reg);
    this.out.send(s.connId, [MsgType.REGISTERED, requestId, id]);
  }

  unregister(s: Session, requestId: number, registrationId: number): void {
    const reg = this.#byId.get(registrationId);
    if (reg === undefined || reg.callee !== s) throw new WampError(Uri.NO_SUCH_REGISTRATION);
    this.#remove(reg);
    this.out.send(s.connId, [MsgType.UNREGISTERED, requestId]);
  }

  route(procedure: string): Registration | undefined {
    return this.#procedures.get(procedure);
  }

  call(s: Session, msg: unknown[], disclose: boolean): void {
    const requestId = msg[1] as number;
    const options = msg[2] as Dict;
    const procedure = msg[3] as string;
    const reg = this.route(procedure);
    if (reg === undefined) throw new WampError(Uri.NO_SUCH_PROCEDURE, `no callee registered for '${procedure}'`);
    const callee = reg.callee;
    const inv = new Invocation(callee.nextInvocationId(), s, requestId, callee);
    callee.invocations.set(inv.id, inv);
    s.pendingCalls.add(inv);
    let details: Dict = {};
    // WAMP spec, "Caller Identification".
    if (disclose || reg.discloseCaller || options.disclose_me === true) {
      details = { caller: s.id, caller_authid: s.authid, caller_authrole: s.authrole };
    }
    const invocation: unknown[] = [MsgType.INVOCATION, inv.id, reg.id, details];
    for (let i = 4; i < msg.length; i++) invocation.push(msg[i]);
    this.out.send(callee.connId, invocation);
  }

  /** YIELD [70, INVOCATION.Request, Options, Arguments?, ArgumentsKw?] from a callee. */
  yield(s: Session, msg: unknown[]): void {
    const inv = this.#take(s, msg[1] as number, 'YIELD');
    if (inv.caller === null) return;
    const result: unknown[] = [MsgType.RESULT, inv.callRequestId, {}];
    for (let i = 3; i < msg.length; i++) result.push(msg[i]);
    this.out.send(inv.caller.connId, result);
  }

  /** ERROR [8, 68, INVOCATION.Request, Details, Error, Arguments?, ArgumentsKw?] from a callee. */
  error(s: Session, msg: unknown[]): void {
    const inv = this.#take(s, msg[2] as number, 'ERROR');
    if (inv.caller === null) return;
    const err: unknown[] = [MsgType.ERROR, MsgType.CALL, inv.callRequestId, msg[3], msg[4]];
    for (let i = 5; i < msg.length; i++) err.push(msg[i]);
    this.out.send(inv.caller.connId, err);
  }

  #take(s: Session, invocationId: number, what: string): Invocation {
    const inv = s.invocations.get(invocationId);
    if (inv === undefined) {
      // WAMP spec, "Protocol Errors": a YIELD (or ERROR) for an unknown invocation.
      throw new ProtocolViolation(`${what} for unknown INVOCATION request id ${invocationId}`);
    }
    s.invocations.delete(invocationId);
    inv.caller?.pendingCalls.delete(inv);
    return inv;
  }

  #remove(reg: Registration): void {
    this.#procedures.delete(reg.procedure);
    this.#byId.delete(reg.id);
    reg.callee.registrations.delete(reg);
  }

  /** Fails a session's calls that are still waiting (the router is going away). */
  failPendingCalls(s: Session, message: string): void {
    for (const inv of s.pendingCalls) {
      inv.caller = null; // a late YIELD is dropped
      this.out.send(s.connId, [MsgType.ERROR, MsgType.CALL, inv.callRequestId, { message }, Uri.CANCELED]);
    }
    s.pendingCalls.clear();
  }

  /** A session left: drop its registrations, fail calls it was serving, forget calls it made. */
  leave(s: Session): void {
    for (const reg of s.registrations) this.#remove(reg);
    for (const inv of s.invocations.values()) {
      const caller = inv.caller;
      if (caller === null) continue;
      caller.pendingCalls.delete(inv);
      // WAMP spec, "Callee Leaving": the caller gets an ERROR.
      this.out.send(caller.connId, [
        MsgType.ERROR,
        MsgType.CALL,
        inv.callRequestId,
        { message: 'the callee left before answering' },
        Uri.CANCELED,
      ]);
    }
    s.invocations.clear();
    for (const inv of s.pendingCalls) inv.caller = null;
    s.pendingCalls.clear();
  }
}
