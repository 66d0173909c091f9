import { MsgType } from '../src/shared/wamp/codes.js';
import { randomId } from '../src/shared/wamp/ids.js';
import { pushTail } from '../src/shared/wamp/json-tail.js';
import { type Dict, ProtocolViolation, WampError } from '../src/shared/wamp/messages.js';
import { isReservedUri, Uri } from '../src/shared/wamp/uris.js';
import { copyPpt } from './broker.js';
import { frameBytes, type Limits, limited, overLimit } from './limits.js';
import { type Match, UriIndex } from './match/uri-index.js';
import type { Output } from './output.js';
import { type Callee, Invocation, type InvokePolicy, QueuedCall, Registration, type Session, serves } from './session.js';

// Registrations and calls in flight are records a session shares with the dealer (workers/session.ts).
export { type Callee, Invocation, type InvokePolicy, Registration };

/** Realm `store.call-queue[]` entry (Crossbar's realm store vocabulary): at most `limit` calls wait per registration. */
export interface CallQueueConfig {
  uri: string;
  match: Match;
  limit: number;
}

/**
 * Crossbar.io's answer to a call none of whose callees has room (REGISTER.Options.concurrency;
 * crossbar/router/dealer.py). Crossbar has no other limit of invocations in flight per callee.
 */
export function maxConcurrency(reg: Registration, procedure: string): WampError {
  const one = reg.invoke !== 'roundrobin' && reg.invoke !== 'random';
  return new WampError(
    Uri.MAX_CONCURRENCY_REACHED,
    one
      ? `the callee of '${procedure}' has as many invocations in flight as its concurrency allows`
      : `every callee of '${procedure}' has as many invocations in flight as its concurrency allows`,
  );
}

/** `inv` counts against `callee`'s concurrency until it is finished. */
export function holdSlot(inv: Invocation, callee: Callee): void {
  callee.active++;
  inv.slot = callee;
}

/** Why a call that waited in a call queue is canceled when its registration loses its callees. */
const LOST_CALLEES = 'the procedure lost its callees while the call waited in the call queue';

/** The oldest call waiting in a queue, if any. */
const first = (queue: Set<QueuedCall> | null): QueuedCall | undefined => (queue === null ? undefined : queue.values().next().value);

/** The longest delay a Node timer holds (signed 32-bit milliseconds). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What the dealer tells the realm so it can emit meta events (WAMP spec, "Registration Meta API"). */
export interface DealerEvents {
  created(s: Session, reg: Registration): void;
  registered(s: Session, reg: Registration): void;
  unregistered(s: Session, reg: Registration): void;
  deleted(s: Session, reg: Registration): void;
}

/** The cluster's side of a realm's dealer (workers/cluster/rpc.ts); null on a single node. */
export interface DealerBackplane {
  /** Whether a REGISTER may go ahead now; false: the backplane took it over and answers it later. */
  admit(s: Session, msg: unknown[], filtered: boolean): boolean;
  /** A callee was added to `reg` (last in reg.callees). */
  calleeAdded(s: Session, reg: Registration, callee: Callee): void;
  /** `s` is no longer a callee of `reg`. */
  calleeRemoved(s: Session, reg: Registration): void;
  /** The id of a new registration: the same on every node for one (procedure, match). */
  registrationId(procedure: string, match: Match): number;
}

/**
 * The dealer of one realm: exact and pattern registrations, shared registrations, progressive
 * results and invocations, timeouts and canceling. Which registration a call reaches is decided
 * by `route` alone, so a backplane can be added there without rewriting CALL/YIELD handling.
 */
export class Dealer {
  #index = new UriIndex<Registration>();
  #byId = new Map<number, Registration>();
  /** Registrations with filtered callees: while 0, routing needs no per-call check. */
  #filtered = 0;
  /** The cluster link (workers/cluster/rpc.ts), or null: a single node. */
  cluster: DealerBackplane | null = null;
  /** The realm's call queues by called procedure pattern (`store.call-queue`), or null: none configured. */
  readonly #queues: UriIndex<CallQueueConfig> | null = null;
  /** CALLs waiting in the realm's call queues, and their bytes (max_queued_call_bytes). */
  queuedCalls = 0;
  queuedBytes = 0;

  constructor(
    readonly out: Output,
    readonly events: DealerEvents,
    readonly limits: Limits,
    callQueues: readonly CallQueueConfig[] = [],
  ) {
    if (callQueues.length > 0) {
      this.#queues = new UriIndex<CallQueueConfig>();
      for (const q of callQueues) this.#queues.set(q.uri, q.match, q);
    }
  }

  get(id: number): Registration | undefined {
    return this.#byId.get(id);
  }
  lookup(procedure: string, match: Match): Registration | undefined {
    return this.#index.get(procedure, match);
  }
  /** Whether `procedure` is registered with match exact (its URI was checked then). */
  registeredExactly(procedure: string): boolean {
    return this.#index.exact.has(procedure);
  }

  /**
   * The registration a CALL to `procedure` uses: exact, longest prefix, most specific wildcard,
   * passing over a pattern none of whose callees may register `procedure` (their role covers the
   * pattern in part). A pattern never routes a wamp.* procedure: that namespace is the router's
   * (wamp.* cannot be registered exactly, so only patterns could reach it).
   */
  route(procedure: string): Registration | undefined {
    const reg = this.#filtered === 0 ? this.#index.matchBest(procedure) : this.#index.matchBest(procedure, (r) => r.filtered === 0 || r.callees.some((c) => serves(c, procedure)));
    return reg !== undefined && reg.match !== 'exact' && isReservedUri(procedure) ? undefined : reg;
  }
  list(): { exact: number[]; prefix: number[]; wildcard: number[] } {
    const ids = (m: Map<string, Registration>) => [...m.values()].map((r) => r.id);
    return { exact: ids(this.#index.exact), prefix: ids(this.#index.prefix), wildcard: ids(this.#index.wildcard) };
  }

  /** `filtered`: the role allows only part of what the pattern matches (see Callee.filtered). */
  register(s: Session, requestId: number, options: Dict, procedure: string, filtered = false): void {
    const match = (options.match as Match | undefined) ?? 'exact';
    const invoke = (options.invoke as InvokePolicy | undefined) ?? 'single';
    const max = this.limits.max_registrations_per_session;
    if (max > 0 && s.registrations.size >= max && limited(s)) {
      throw overLimit(s, 'max_registrations_per_session', `this session holds ${s.registrations.size} registrations already`);
    }
    let reg = this.#index.get(procedure, match);
    let created = false;
    if (reg !== undefined && options.force_reregister === true && !reg.callees.some((c) => c.session === s)) {
      // Crossbar's force_reregister: the new callee takes the procedure over; the old ones lose it.
      for (const c of [...reg.callees]) this.revoke(reg, c.session, 'wamp.error.force_reregister');
      reg = undefined;
    }
    if (reg !== undefined) {
      if (reg.callees.some((c) => c.session === s) || reg.invoke === 'single' || invoke === 'single') {
        throw new WampError(Uri.PROCEDURE_ALREADY_EXISTS, `procedure '${procedure}' (match ${match}) is already registered`);
      }
      if (reg.invoke !== invoke) {
        throw new WampError(
          Uri.PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY,
          `'${procedure}' is registered with invoke '${reg.invoke}', not '${invoke}'`,
        );
      }
    } else {
      let id = this.cluster !== null ? this.cluster.registrationId(procedure, match) : randomId();
      while (this.#byId.has(id)) id = randomId();
      reg = new Registration(id, procedure, match, invoke);
      this.#index.set(procedure, match, reg);
      this.#byId.set(id, reg);
      created = true;
    }
    const concurrency = typeof options.concurrency === 'number' ? options.concurrency : 0;
    const callee: Callee = { session: s, forwardTimeout: options.forward_timeout === true, filtered, concurrency, active: 0 };
    reg.callees.push(callee);
    if (filtered && reg.filtered++ === 0) this.#filtered++;
    if (concurrency > 0) reg.limited++;
    if (this.cluster !== null) this.cluster.calleeAdded(s, reg, callee);
    s.registrations.add(reg);
    this.out.send(s.connId, [MsgType.REGISTERED, requestId, reg.id]);
    if (created) this.events.created(s, reg);
    this.events.registered(s, reg);
    // A callee joining a shared registration may have room for calls that wait.
    if (reg.queue !== null) this.#dispatchQueued(reg);
  }

  unregister(s: Session, requestId: number, registrationId: number): void {
    const reg = this.#byId.get(registrationId);
    if (reg === undefined || !reg.callees.some((c) => c.session === s)) throw new WampError(Uri.NO_SUCH_REGISTRATION);
    this.out.send(s.connId, [MsgType.UNREGISTERED, requestId]);
    this.#remove(reg, s);
  }

  /**
   * Removes a callee at the router's initiative (meta API remove_callee); a callee that announced
   * registration_revocation is told with UNREGISTERED [67, 0, {registration, reason}].
   */
  revoke(reg: Registration, s: Session, reason: string | undefined): void {
    if (s.has('callee', 'registration_revocation')) {
      this.out.send(s.connId, [MsgType.UNREGISTERED, 0, reason === undefined ? { registration: reg.id } : { registration: reg.id, reason }]);
    }
    this.#remove(reg, s);
  }

  call(s: Session, msg: unknown[], disclose: boolean): void {
    const requestId = msg[1] as number;
    const options = msg[2] as Dict;
    const procedure = msg[3] as string;
    const progress = options.progress === true;
    const ongoing = s.calls.get(requestId);
    if (ongoing !== undefined) {
      // WAMP spec, "Progressive Call Invocations": more input for a call already under way.
      if (!ongoing.streaming) throw new ProtocolViolation(`CALL request id ${requestId} is already in use by a pending call`);
      ongoing.streaming = progress;
      const more: unknown[] = [MsgType.INVOCATION, ongoing.id, ongoing.registration.id, progress ? { progress: true } : {}];
      pushTail(more, msg, 4);
      this.out.send(ongoing.callee.connId, more);
      return;
    }
    const queued = s.queued;
    if (queued !== null && queued.has(requestId)) throw new ProtocolViolation(`CALL request id ${requestId} is already in use by a call waiting in a call queue`);
    if (progress && !s.has('caller', 'progressive_call_invocations')) {
      throw new ProtocolViolation('CALL.Options.progress used without announcing progressive_call_invocations');
    }
    if (options.ppt_scheme !== undefined && !s.has('caller', 'payload_passthru_mode')) {
      throw new ProtocolViolation('ppt_scheme used without announcing payload_passthru_mode');
    }
    const max = this.limits.max_pending_calls_per_session;
    if (max > 0) {
      // Calls waiting in a call queue are pending too.
      const pending = queued === null ? s.calls.size : s.calls.size + queued.size;
      if (pending >= max && limited(s)) {
        throw overLimit(s, 'max_pending_calls_per_session', `this session has ${pending} calls waiting for their callees already`);
      }
    }
    const reg = this.route(procedure);
    if (reg === undefined) throw new WampError(Uri.NO_SUCH_PROCEDURE, `no callee registered for '${procedure}'`);
    const callee = reg.pick(procedure);
    if (callee === undefined) return this.#enqueue(s, msg, reg, disclose);
    const timeout = typeof options.timeout === 'number' ? options.timeout : 0;
    this.#invoke(s, msg, reg, callee, disclose, timeout, timeout);
  }

  /**
   * Sends the INVOCATION of CALL `msg` from `s` to `callee` of `reg`: a fresh call, or one that
   * waited in the call queue. `timeout`: CALL.Options.timeout (ms, 0: none), `remaining`: what is
   * left of it now.
   */
  #invoke(s: Session, msg: unknown[], reg: Registration, callee: Callee, disclose: boolean, timeout: number, remaining: number): void {
    const requestId = msg[1] as number;
    const options = msg[2] as Dict;
    const procedure = msg[3] as string;
    const progress = options.progress === true;
    const ppt = options.ppt_scheme !== undefined;
    const cs = callee.session;
    if (progress && !cs.has('callee', 'progressive_call_invocations')) {
      throw new WampError(Uri.FEATURE_NOT_SUPPORTED, 'the callee does not support progressive call invocations');
    }
    if (ppt && !cs.has('callee', 'payload_passthru_mode')) {
      throw new WampError(Uri.FEATURE_NOT_SUPPORTED, 'the callee does not support payload passthru mode');
    }
    // WAMP spec, "Progressive Call Results": only if the callee supports it.
    const receiveProgress = options.receive_progress === true && cs.has('callee', 'progressive_call_results');
    const inv = new Invocation(cs.nextInvocationId(), s, requestId, cs, reg, receiveProgress);
    inv.streaming = progress;
    if (callee.concurrency > 0) holdSlot(inv, callee);
    cs.invocations.set(inv.id, inv);
    s.calls.set(requestId, inv);
    const details: Dict = {};
    if (reg.match !== 'exact') details.procedure = procedure;
    // WAMP spec, "Caller Identification": the dealer may deny disclosure. As Crossbar, the caller's
    // role decides (`disclose.caller`); CALL.Options.disclose_me and a callee's
    // REGISTER.Options.disclose_caller are not honoured on their own.
    if (disclose) {
      details.caller = s.id;
      details.caller_authid = s.authid;
      details.caller_authrole = s.authrole;
    }
    if (receiveProgress) details.receive_progress = true;
    if (progress) details.progress = true;
    if (ppt) copyPpt(options, details);
    if (timeout > 0) {
      // WAMP spec, "Call Timeouts" (milliseconds): forwarded to a callee that asked for it, else the dealer's.
      if (callee.forwardTimeout && cs.has('callee', 'call_timeout')) details.timeout = remaining;
      else this.#arm(inv, remaining, timeout);
    }
    const invocation: unknown[] = [MsgType.INVOCATION, inv.id, reg.id, details];
    pushTail(invocation, msg, 4);
    this.out.send(cs.connId, invocation);
  }

  /**
   * A call `reg`'s policy can send to no callee now (none has room: REGISTER.Options.concurrency)
   * waits in `reg`'s call queue if a realm `store.call-queue` entry matches the called procedure
   * and holds fewer calls than its limit; else ERROR crossbar.error.max_concurrency_reached. A
   * progressive call is not queued.
   */
  #enqueue(s: Session, msg: unknown[], reg: Registration, disclose: boolean): void {
    const procedure = msg[3] as string;
    const options = msg[2] as Dict;
    const entry = this.#queues === null || options.progress === true ? undefined : this.#queues.matchBest(procedure);
    if (entry === undefined) throw maxConcurrency(reg, procedure);
    const queue = (reg.queue ??= new Set());
    if (queue.size >= entry.limit) {
      throw new WampError(Uri.MAX_CONCURRENCY_REACHED, `${maxConcurrency(reg, procedure).message}, and its call queue is full (${entry.limit} calls wait already)`);
    }
    const bytes = this.#queueBytes(s, msg);
    const timeout = typeof options.timeout === 'number' ? options.timeout : 0;
    const q = new QueuedCall(s, msg, reg, disclose, timeout, timeout > 0 ? performance.now() + timeout : 0, bytes);
    queue.add(q);
    (s.queued ??= new Map()).set(q.requestId, q);
    s.queuedBytes += bytes;
    this.queuedBytes += bytes;
    this.queuedCalls++;
    if (timeout > 0) this.#armQueued(q, timeout);
  }

  /**
   * The frame size of CALL `msg` if it may wait within the session's and the realm's byte budgets
   * for queued calls (a queued call holds its payload in this worker until a callee has room);
   * else ERROR crosswire.error.limit_exceeded (wamp.error.payload_size_exceeded for a call bigger
   * than a budget on its own).
   */
  #queueBytes(s: Session, msg: unknown[]): number {
    const perSession = this.limits.max_queued_bytes_per_session;
    const realm = this.limits.max_queued_call_bytes;
    if (perSession === 0 && realm === 0) return 0;
    const cap = Math.max(perSession, realm) + 1;
    const bytes = frameBytes(msg, cap);
    if (perSession > 0 && s.queuedBytes + bytes > perSession && limited(s)) {
      const big = bytes > perSession;
      throw overLimit(
        s,
        'max_queued_bytes_per_session',
        big ? `a call of ${bytes} bytes cannot wait in a call queue` : `${s.queuedBytes} bytes of this session's calls wait in call queues already`,
        big ? Uri.PAYLOAD_SIZE_EXCEEDED : Uri.LIMIT_EXCEEDED,
      );
    }
    if (realm > 0 && this.queuedBytes + bytes > realm && limited(s)) {
      const big = bytes > realm;
      throw overLimit(
        s,
        'max_queued_call_bytes',
        big ? `a call of ${bytes} bytes cannot wait in a call queue` : `${this.queuedBytes} bytes of calls wait in this realm's call queues already`,
        big ? Uri.PAYLOAD_SIZE_EXCEEDED : Uri.LIMIT_EXCEEDED,
      );
    }
    return bytes;
  }

  /** Times out queued call `q` after `remaining` ms (chained as #arm). */
  #armQueued(q: QueuedCall, remaining: number): void {
    const step = Math.min(remaining, MAX_TIMER_MS);
    q.timer = setTimeout(() => {
      q.timer = null;
      if (remaining > step) return this.#armQueued(q, remaining - step);
      this.#unqueue(q);
      this.out.send(q.caller.connId, [MsgType.ERROR, MsgType.CALL, q.requestId, { message: `the call timed out after ${q.timeout} ms (it waited in the call queue)` }, Uri.TIMEOUT]);
    }, step);
  }

  /** Forgets queued call `q` (dispatched, timed out, canceled, or its caller left). */
  #unqueue(q: QueuedCall): void {
    const queue = q.registration.queue;
    if (queue !== null && queue.delete(q)) {
      if (queue.size === 0) q.registration.queue = null;
      q.caller.queuedBytes -= q.bytes;
      this.queuedBytes -= q.bytes;
      this.queuedCalls--;
    }
    const mine = q.caller.queued;
    if (mine !== null && mine.get(q.requestId) === q) {
      mine.delete(q.requestId);
      if (mine.size === 0) q.caller.queued = null;
    }
    if (q.timer !== null) {
      clearTimeout(q.timer);
      q.timer = null;
    }
  }

  /**
   * Sends the calls waiting in `reg`'s queue, oldest first, while its policy finds a callee with
   * room: each as a fresh call would go (#invoke), with what is left of its timeout.
   */
  #dispatchQueued(reg: Registration): void {
    for (let q = first(reg.queue); q !== undefined; q = first(reg.queue)) {
      if (reg.filtered > 0 && !reg.callees.some((c) => serves(c, q!.procedure))) {
        // The callees that may serve this procedure are gone (the others' roles cover part of the pattern).
        this.#unqueue(q);
        this.out.send(q.caller.connId, [MsgType.ERROR, MsgType.CALL, q.requestId, { message: LOST_CALLEES }, Uri.CANCELED]);
        continue;
      }
      const callee = reg.pick(q.procedure);
      if (callee === undefined) return;
      this.#unqueue(q);
      const remaining = q.timeout > 0 ? Math.max(1, Math.ceil(q.deadline - performance.now())) : 0;
      try {
        this.#invoke(q.caller, q.msg, reg, callee, q.disclose, q.timeout, remaining);
      } catch (e) {
        if (!(e instanceof WampError)) throw e;
        this.out.send(q.caller.connId, [MsgType.ERROR, MsgType.CALL, q.requestId, e.message !== e.uri ? { message: e.message } : {}, e.uri]);
      }
    }
  }

  /** Fails every call waiting in `reg`'s queue (its last callee is gone). */
  #cancelQueued(reg: Registration): void {
    for (let q = first(reg.queue); q !== undefined; q = first(reg.queue)) {
      this.#unqueue(q);
      this.out.send(q.caller.connId, [MsgType.ERROR, MsgType.CALL, q.requestId, { message: LOST_CALLEES }, Uri.CANCELED]);
    }
  }

  /** YIELD [70, INVOCATION.Request, Options, Arguments?, ArgumentsKw?] from a callee. */
  yield(s: Session, msg: unknown[]): void {
    const options = msg[2] as Dict;
    const progress = options.progress === true;
    const inv = this.#find(s, msg[1] as number, 'YIELD');
    if (inv === undefined) return;
    if (progress && !inv.receiveProgress) return; // the caller did not ask for progress: nothing to relay
    const details: Dict = progress ? { progress: true } : {};
    if (options.ppt_scheme !== undefined) copyPpt(options, details);
    const result: unknown[] = [MsgType.RESULT, inv.callRequestId, details];
    pushTail(result, msg, 3);
    this.out.send(inv.caller.connId, result);
    if (!progress) this.#finish(inv);
  }

  /** ERROR [8, 68, INVOCATION.Request, Details, Error, Arguments?, ArgumentsKw?] from a callee. */
  error(s: Session, msg: unknown[]): void {
    const inv = this.#find(s, msg[2] as number, 'ERROR');
    if (inv === undefined) return;
    const err: unknown[] = [MsgType.ERROR, MsgType.CALL, inv.callRequestId, msg[3], msg[4]];
    pushTail(err, msg, 5);
    this.out.send(inv.caller.connId, err);
    this.#finish(inv);
  }

  /**
   * CANCEL [49, CALL.Request, Options] (WAMP spec, "Call Canceling"). `reason`: the INTERRUPT's
   * (a caller's node in a cluster passes on why it interrupts: wamp.error.timeout after a timeout).
   */
  cancel(s: Session, requestId: number, options: Dict, reason: string = Uri.CANCELED): void {
    const inv = s.calls.get(requestId);
    if (inv === undefined) {
      // A call waiting in a call queue: no callee has it, so no INTERRUPT whatever the mode.
      const q = s.queued?.get(requestId);
      if (q !== undefined) {
        this.#unqueue(q);
        this.out.send(s.connId, [MsgType.ERROR, MsgType.CALL, requestId, { message: 'canceled while waiting in the call queue' }, Uri.CANCELED]);
      }
      return; // else already answered: nothing to cancel
    }
    const calleeCancels = inv.callee.has('callee', 'call_canceling');
    const mode = calleeCancels ? ((options.mode as string | undefined) ?? 'killnowait') : 'skip';
    if (mode === 'kill') {
      // The caller gets whatever the callee answers to the INTERRUPT (ERROR, or a RESULT that won the race).
      this.out.send(inv.callee.connId, [MsgType.INTERRUPT, inv.id, { mode: 'kill', reason }]);
      return;
    }
    this.out.send(s.connId, [MsgType.ERROR, MsgType.CALL, requestId, { message: `canceled (${mode})` }, Uri.CANCELED]);
    if (mode === 'killnowait') this.out.send(inv.callee.connId, [MsgType.INTERRUPT, inv.id, { mode: 'killnowait', reason }]);
    this.#finish(inv);
  }

  /**
   * Times `inv` out after `remaining` ms. Node's timers hold at most 2^31−1 ms (a longer delay
   * fires after 1 ms), and WAMP allows any non-negative integer: longer waits go in chained steps.
   */
  #arm(inv: Invocation, remaining: number, ms: number): void {
    const step = Math.min(remaining, MAX_TIMER_MS);
    inv.timer = setTimeout(() => (remaining > step ? this.#arm(inv, remaining - step, ms) : this.#timedOut(inv, ms)), step);
  }

  #timedOut(inv: Invocation, ms: number): void {
    inv.timer = null;
    if (inv.caller.calls.get(inv.callRequestId) !== inv) return;
    this.out.send(inv.caller.connId, [MsgType.ERROR, MsgType.CALL, inv.callRequestId, { message: `the call timed out after ${ms} ms` }, Uri.TIMEOUT]);
    if (inv.callee.has('callee', 'call_canceling')) {
      this.out.send(inv.callee.connId, [MsgType.INTERRUPT, inv.id, { mode: 'killnowait', reason: Uri.TIMEOUT }]);
    }
    this.#finish(inv);
  }

  /** The pending invocation `id` of callee `s`; undefined for one already finished (late answer, dropped). */
  #find(s: Session, id: number, what: string): Invocation | undefined {
    const inv = s.invocations.get(id);
    if (inv === undefined && !s.issuedInvocation(id)) {
      // WAMP spec, "Protocol Errors": a YIELD (or ERROR) for an invocation never sent.
      throw new ProtocolViolation(`${what} for unknown INVOCATION request id ${id}`);
    }
    return inv;
  }

  /**
   * The call is over (answered, canceled, timed out or abandoned): forget it on both sides. The
   * room it held goes to the registration's queued calls (after the answers above were sent).
   */
  #finish(inv: Invocation): void {
    inv.callee.invocations.delete(inv.id);
    if (inv.caller.calls.get(inv.callRequestId) === inv) inv.caller.calls.delete(inv.callRequestId);
    if (inv.timer !== null) {
      clearTimeout(inv.timer);
      inv.timer = null;
    }
    if (inv.slot !== null) {
      inv.slot.active--;
      inv.slot = null;
      if (inv.registration.queue !== null) this.#dispatchQueued(inv.registration);
    }
  }

  #remove(reg: Registration, s: Session): void {
    const i = reg.callees.findIndex((c) => c.session === s);
    if (i < 0) return;
    if (reg.callees[i]!.filtered && --reg.filtered === 0) this.#filtered--;
    if (reg.callees[i]!.concurrency > 0) reg.limited--;
    reg.callees.splice(i, 1);
    s.registrations.delete(reg);
    if (this.cluster !== null) this.cluster.calleeRemoved(s, reg);
    this.events.unregistered(s, reg);
    if (reg.callees.length === 0) {
      this.#index.delete(reg.procedure, reg.match);
      this.#byId.delete(reg.id);
      if (reg.queue !== null) this.#cancelQueued(reg);
      this.events.deleted(s, reg);
    } else if (reg.queue !== null) {
      // Another callee may now be the one the policy names (first, last) and have room.
      this.#dispatchQueued(reg);
    }
  }

  /** Fails a session's calls that are still waiting (the router is going away). */
  failPendingCalls(s: Session, message: string): void {
    // The queued ones first: a call of `s` ending below must not send one of them to a callee.
    this.failQueuedCalls(s, message);
    for (const inv of [...s.calls.values()]) {
      this.out.send(s.connId, [MsgType.ERROR, MsgType.CALL, inv.callRequestId, { message }, Uri.CANCELED]);
      this.#finish(inv);
    }
  }

  /** Fails a session's calls waiting in call queues (the router is going away). */
  failQueuedCalls(s: Session, message: string): void {
    if (s.queued === null) return;
    for (const q of [...s.queued.values()]) {
      this.#unqueue(q);
      this.out.send(s.connId, [MsgType.ERROR, MsgType.CALL, q.requestId, { message }, Uri.CANCELED]);
    }
  }

  /** A session left: drop its registrations, fail calls it was serving, interrupt calls it made. */
  leave(s: Session): void {
    for (const reg of [...s.registrations]) this.#remove(reg, s);
    // Its calls waiting in call queues go first: a call of its own ending below must not send them.
    if (s.queued !== null) for (const q of [...s.queued.values()]) this.#unqueue(q);
    for (const inv of [...s.invocations.values()]) {
      // WAMP spec, "Callee Leaving": the caller gets an ERROR.
      this.out.send(inv.caller.connId, [MsgType.ERROR, MsgType.CALL, inv.callRequestId, { message: 'the callee left before answering' }, Uri.CANCELED]);
      this.#finish(inv);
    }
    for (const inv of [...s.calls.values()]) {
      // WAMP spec, "Caller Leaving": interrupt the callee if it can be interrupted; its late answer is dropped.
      if (inv.callee.has('callee', 'call_canceling')) {
        this.out.send(inv.callee.connId, [MsgType.INTERRUPT, inv.id, { mode: 'killnowait', reason: Uri.CANCELED }]);
      }
      this.#finish(inv);
    }
  }
}
