import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { WsOptions } from '../config/load.js';
import type { Conn } from './connection.js';

/**
 * Crossbar's auto-ping (autobahn `_send_autoping`/`onAutoPingTimeout`): every
 * `auto_ping_interval` ms a PING whose payload is an 8-byte big-endian nanosecond timestamp,
 * a 4-byte sequence number and random bytes up to `auto_ping_size`; when the echoing PONG does
 * not arrive within `auto_ping_timeout` ms the TCP connection is dropped (no close handshake).
 * With `auto_ping_restart_on_any_traffic` any incoming message, ping or pong cancels the wait
 * and restarts the interval from that moment. uWS's own idle-timeout pings stay off.
 *
 * Incoming traffic only stamps `lastRx` (no timer work per message); the timer, when it fires,
 * looks at the stamp and reschedules itself for the remaining time.
 */
export class KeepAlive {
  #seq = 0;
  readonly #interval: number;
  readonly #timeout: number;
  readonly #size: number;
  readonly restartOnTraffic: boolean;

  constructor(o: WsOptions) {
    this.#interval = o.autoPingInterval;
    this.#timeout = o.autoPingTimeout;
    this.#size = o.autoPingSize;
    this.restartOnTraffic = o.autoPingRestartOnAnyTraffic;
  }

  start(c: Conn): void {
    const now = performance.now();
    c.ka = { timer: this.#after(c, this.#interval), pending: null, sentAt: now, lastRx: now };
  }

  stop(c: Conn): void {
    if (c.ka !== null) clearTimeout(c.ka.timer);
    c.ka = null;
  }

  /** Any incoming frame (message, ping or pong). */
  traffic(c: Conn): void {
    if (c.ka !== null) c.ka.lastRx = performance.now();
  }

  pong(c: Conn, data: ArrayBuffer): void {
    const p = c.ka;
    if (p === null) return;
    p.lastRx = performance.now();
    if (p.pending !== null && p.pending.equals(new Uint8Array(data))) {
      p.pending = null;
      this.#reschedule(c, this.#interval);
    }
  }

  #after(c: Conn, ms: number): NodeJS.Timeout {
    const t = setTimeout(() => this.#due(c), Math.max(1, Math.ceil(ms)));
    t.unref();
    return t;
  }

  #reschedule(c: Conn, ms: number): void {
    clearTimeout(c.ka!.timer);
    c.ka!.timer = this.#after(c, ms);
  }

  #due(c: Conn): void {
    const p = c.ka;
    const ws = c.ws;
    if (p === null || ws === null) return;
    // Not being read (paused by flow control, src/flow.ts): its pong could not be seen; judge it later.
    if (c.flowStopped) return this.#reschedule(c, this.#interval);
    const now = performance.now();
    if (p.pending !== null) {
      if (this.restartOnTraffic && p.lastRx > p.sentAt) {
        // Traffic arrived while waiting: the peer is alive; next ping one interval after it.
        p.pending = null;
        return this.#reschedule(c, p.lastRx + this.#interval - now);
      }
      this.stop(c);
      ws.close(); // autobahn: dropConnection(abort=True)
      return;
    }
    if (this.restartOnTraffic && now - p.lastRx < this.#interval) return this.#reschedule(c, p.lastRx + this.#interval - now);
    const payload = randomBytes(this.#size);
    payload.writeBigUInt64BE(BigInt(Math.round((performance.timeOrigin + now) * 1e6)), 0);
    payload.writeUInt32BE(this.#seq++ >>> 0, 8);
    if (this.#seq > 0xffffffff) this.#seq = 0;
    ws.ping(payload);
    p.sentAt = now;
    if (this.#timeout > 0) {
      p.pending = payload;
      this.#reschedule(c, this.#timeout);
    } else this.#reschedule(c, this.#interval); // no timeout: keep pinging (keeps NATs and proxies open)
  }
}
