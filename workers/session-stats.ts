/**
 * Crossbar.io's per-session serializer statistics (realm `stats`, meta event wamp.session.on_stats):
 * what Autobahn|Python's Serializer counts (autobahn/wamp/serializer.py, Serializer.serialize,
 * unserialize, stats, set_stats_autoreset) and when Crossbar publishes it
 * (crossbar/router/session.py, RouterSession.onJoin and onLeave). "serialized" is what the router
 * sent to the session, "unserialized" what it received from it, in bytes of the frames.
 *
 * Per message: a few additions and one comparison (`#total >= #limit`). The duration trigger is one
 * timer per session (Node keeps timers of equal duration in one list: arming and refreshing are O(1),
 * nothing is scanned); as in Autobahn it only arms the trigger, which fires on the session's next
 * message, so an idle session publishes nothing.
 */
import type { SessionStatsConfig } from '../src/shared/ipc/protocol.js';
import type { Dict } from '../src/shared/wamp/messages.js';
import type { Broker } from './broker.js';
import type { Session, StatsCounter } from './session.js';

export const ON_STATS = 'wamp.session.on_stats';

/** What the statistics of a session need of its realm. */
export interface StatsRealm {
  readonly name: string;
  readonly metaApi: boolean;
  readonly broker: Broker;
}

const now = (): number => performance.now();
/** Wall-clock time in nanoseconds since the epoch (as a double: the last digits are not exact). */
const wallNs = (): number => Math.round((performance.timeOrigin + performance.now()) * 1e6);

/** Stats events taken (counters reset) and not yet published; published in order (flush). */
const pending: { realm: StatsRealm; args: unknown[] }[] = [];
let flushScheduled = false;
/** While stats events are published their own EVENTs are counted but trigger nothing (no feedback loop). */
let publishing = false;

function flush(): void {
  flushScheduled = false;
  publishing = true;
  try {
    for (let i = 0; i < pending.length; i++) {
      const { realm, args } = pending[i]!;
      if (realm.metaApi) realm.broker.publishInternal(ON_STATS, args);
    }
  } finally {
    pending.length = 0;
    publishing = false;
  }
}

export class SessionStats implements StatsCounter {
  #cycle = 0;
  #resetAt = now();
  #resetWall = wallNs();
  #outBytes = 0;
  #outMessages = 0;
  #outRated = 0;
  #inBytes = 0;
  #inMessages = 0;
  #inRated = 0;
  /** Rated messages both ways since the reset, and the count that triggers an event (0 once the duration is over). */
  #total = 0;
  #limit: number;
  #first = true;
  #timer: NodeJS.Timeout | null = null;
  /** Whether #timer waits for the rest of a duration (not a whole one). */
  #short = false;
  readonly #size: number;
  readonly #afterRated: number;

  constructor(
    readonly session: Session,
    readonly cfg: SessionStatsConfig,
    readonly realm: StatsRealm,
  ) {
    this.#size = cfg.ratedMessageSize;
    this.#afterRated = cfg.afterRatedMessages > 0 ? cfg.afterRatedMessages : Infinity;
    this.#limit = this.#afterRated;
    if (cfg.afterDurationMs > 0) {
      this.#timer = setTimeout(() => this.#elapsed(), Math.ceil(cfg.afterDurationMs));
      this.#timer.unref();
    }
  }

  /** One message the router sent to the session: its encoded size. */
  sent(bytes: number): void {
    this.#outBytes += bytes;
    this.#outMessages++;
    const r = Math.ceil(bytes / this.#size);
    this.#outRated += r;
    if ((this.#total += r) >= this.#limit && !publishing) this.#trigger();
  }

  /** One message the router received from the session: its frame's size (0 for a batch's later messages). */
  received(bytes: number): void {
    this.#inBytes += bytes;
    this.#inMessages++;
    const r = Math.ceil(bytes / this.#size);
    this.#inRated += r;
    if ((this.#total += r) >= this.#limit && !publishing) this.#trigger();
  }

  /** Joined: the first event, when trigger_on_join (published now, after on_join). */
  joined(): void {
    if (!this.cfg.onJoin) return;
    this.#take(false);
    flush();
  }

  /** Left: the last event, when trigger_on_leave (published now, after on_leave); stops the timer. */
  left(publish: boolean): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (!publish || !this.cfg.onLeave) return;
    this.#take(true);
    flush();
  }

  /** The duration timer: Autobahn's next message once the duration has passed triggers the event. */
  #elapsed(): void {
    // A timer may fire a fraction of a millisecond early: then it waits for the rest.
    const left = this.cfg.afterDurationMs - (now() - this.#resetAt);
    if (left > 0) {
      this.#timer = setTimeout(() => this.#elapsed(), Math.ceil(left));
      this.#timer.unref();
      this.#short = true;
    } else this.#limit = 0;
  }

  #trigger(): void {
    this.#take(false);
    if (!flushScheduled && pending.length > 0) {
      flushScheduled = true;
      setImmediate(flush);
    }
  }

  /**
   * Autobahn's Serializer.stats() (reset=True, details=False: the flat form Crossbar publishes),
   * with Crossbar's `first` and `last`; queued only when somebody may receive it.
   */
  #take(last: boolean): void {
    const t = now();
    const cycle = ++this.#cycle;
    const first = this.#first;
    this.#first = false;
    const { realm, session: s } = this;
    if (realm.metaApi && realm.broker.mayReach(ON_STATS)) {
      const info: Dict = { realm: realm.name, session: s.id, authid: s.authid, authrole: s.authrole };
      const stats: Dict = {
        cycle,
        serializer: s.transport.serializer,
        timestamp: this.#resetWall,
        duration: Math.round((t - this.#resetAt) * 1e6),
        bytes: this.#outBytes + this.#inBytes,
        messages: this.#outMessages + this.#inMessages,
        rated_messages: this.#outRated + this.#inRated,
        first,
        last,
      };
      pending.push({ realm, args: [info, stats] });
    }
    this.#outBytes = this.#outMessages = this.#outRated = 0;
    this.#inBytes = this.#inMessages = this.#inRated = 0;
    this.#total = 0;
    this.#limit = this.#afterRated;
    this.#resetAt = t;
    this.#resetWall = wallNs();
    if (this.#timer === null) return;
    if (!this.#short) this.#timer.refresh();
    else {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.#elapsed(), Math.ceil(this.cfg.afterDurationMs));
      this.#timer.unref();
      this.#short = false;
    }
  }
}
