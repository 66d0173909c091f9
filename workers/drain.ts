import type { Logger } from '../src/shared/log.js';
import { Uri } from '../src/shared/wamp/uris.js';
import type { RealmServices } from './services.js';
import { type Session, SessionState } from './session.js';

const MESSAGE = 'the router is shutting down';
/** How often a drain with busy sessions looks again without a batch to prompt it. */
const POLL_MS = 50;

/** A session is busy while it waits for a call's result or serves an invocation someone waits for. */
function busy(s: Session): boolean {
  return s.calls.size > 0 || s.queued !== null || s.invocations.size > 0;
}

/**
 * Graceful drain of one realm worker (SHUTDOWN, drainMs). New CALLs are refused (Realm.draining);
 * every session that has nothing in flight gets GOODBYE wamp.close.system_shutdown at once,
 * the others as soon as their calls are answered (checked after each batch from the main thread,
 * and every POLL_MS: an answer from another cluster node or a call's own timeout comes in no
 * batch). At the deadline,
 * callers still waiting get ERROR wamp.error.canceled and every remaining session its GOODBYE.
 */
export class Drain {
  /** Sessions with calls in flight, and their realms. */
  #busy = new Map<Session, RealmServices>();
  #timer: NodeJS.Timeout | null = null;
  #poll: NodeJS.Timeout | null = null;
  #done: (() => void) | null = null;
  #over = false;

  constructor(
    readonly realms: Iterable<RealmServices>,
    readonly log: Logger,
  ) {}

  get pending(): boolean {
    return this.#busy.size > 0;
  }

  /** Calls `fn` once every session got its GOODBYE (now, if that is already so). */
  whenDone(fn: () => void): void {
    this.#done = fn;
    if (this.#over) this.#finish();
  }

  #finish(): void {
    this.#over = true;
    const fn = this.#done;
    this.#done = null;
    fn?.();
  }

  start(drainMs: number): void {
    for (const realm of this.realms) {
      realm.draining = true;
      for (const s of realm.sessions.values()) {
        if (busy(s)) this.#busy.set(s, realm);
        else realm.goodbye(s, Uri.SYSTEM_SHUTDOWN, MESSAGE);
      }
    }
    if (this.#busy.size > 0) {
      this.log.info({ sessions: this.#busy.size, drainMs }, 'draining: waiting for in-flight calls');
      this.#timer = setTimeout(() => this.#expire(), drainMs);
      this.#poll = setInterval(() => this.check(), POLL_MS);
    } else this.#finish();
  }

  /** After a batch, and every POLL_MS: sessions whose calls have all been answered get their GOODBYE now. */
  check(): void {
    for (const [s, realm] of this.#busy) {
      if (s.state !== SessionState.ESTABLISHED) this.#busy.delete(s);
      else if (!busy(s)) {
        this.#busy.delete(s);
        realm.goodbye(s, Uri.SYSTEM_SHUTDOWN, MESSAGE);
      }
    }
    if (this.#busy.size === 0 && this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
      this.#stopPolling();
      this.#finish();
    }
  }

  #stopPolling(): void {
    if (this.#poll !== null) clearInterval(this.#poll);
    this.#poll = null;
  }

  #expire(): void {
    this.#timer = null;
    this.#stopPolling();
    let calls = 0;
    const message = `${MESSAGE}: the call did not finish within the drain timeout`;
    // Calls waiting in call queues first: the calls failed below give their callees' room back, which must not send them.
    for (const [s, realm] of this.#busy) {
      if (s.state !== SessionState.ESTABLISHED) continue;
      calls += s.queued?.size ?? 0;
      realm.dealer.failQueuedCalls(s, message);
    }
    for (const [s, realm] of this.#busy) {
      if (s.state !== SessionState.ESTABLISHED) continue;
      calls += s.calls.size;
      realm.dealer.failPendingCalls(s, message);
    }
    for (const [s, realm] of this.#busy) realm.goodbye(s, Uri.SYSTEM_SHUTDOWN, MESSAGE);
    this.log.info({ sessions: this.#busy.size, canceledCalls: calls }, 'drain timeout: canceled the calls still waiting');
    this.#busy.clear();
    this.#finish();
  }
}
