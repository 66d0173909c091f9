import type { HttpResponse, WebSocket } from '../uws.js';

type Toggle = (this: unknown) => void;

/**
 * Stops and restarts reading a WebSocket's TCP socket, so that a client sending faster than its
 * realm can route meets TCP backpressure (flow control, src/flow.ts).
 *
 * uWebSockets.js (20.30 and 20.57, the builds src/uws.ts loads) has no WebSocket.pause()/resume().
 * Its HttpResponse.pause()/resume() are
 * uWS's AsyncSocket::pause()/resume() ("experimental" in uWS): they stop and restore the
 * socket's poll events. A uWS WebSocket is the same kind of socket at the same address (both are
 * AsyncSockets over a us_socket_t, which is a us_poll_t: uWebSockets issue #1020), and the
 * binding reads the native pointer from the receiver's first internal field without checking its
 * class, so HttpResponse's functions applied to a WebSocket of the same app (SSL or not: the
 * functions are taken from that app's own upgrade response) pause and resume that WebSocket.
 * HttpResponse's pause() also clears the socket's timeout; uWS restores a WebSocket's own (none:
 * Crosswire sets idleTimeout 0) on the next message or drain.
 *
 * Two properties of that implementation (the same in uWS 20.30 and 20.57) shape how it is used:
 * - resume() restores the events saved by the last pause() of any socket in one of two static
 *   slots, picked by whether the socket had unsent output. pause() is therefore only called on a
 *   socket without unsent output (that slot then always holds a live value), and resume() only
 *   when the socket still has none.
 * - a send that the kernel cannot take at once makes uSockets poll the socket for reading and
 *   writing again: a paused socket that gets output it cannot send right away is reading again.
 *   That is why resume() is skipped when there is unsent output (the socket already reads), and
 *   why the messages of a paused connection are still bounded on the main thread
 *   (crosswire.flow.connection_hold, src/flow.ts).
 * And one that differs: a pause made while uWS delivers a read takes effect after that read on
 * 20.30, but on 20.57 only once uSockets' read loop ends, when the kernel has less than one read
 * (512 KiB) queued for the socket (src/uws.ts, `readLoop`; docs/flow-control.md).
 */
export class SocketThrottle {
  readonly #pause: Toggle;
  readonly #resume: Toggle;
  /** A call threw (a build where this does not hold): no more pausing; paused sockets are still resumed. */
  #failed = false;

  private constructor(pause: Toggle, resume: Toggle) {
    this.#pause = pause;
    this.#resume = resume;
  }

  /** From an upgrade response of the app whose WebSockets it will throttle; null if it cannot. */
  static from(res: HttpResponse): SocketThrottle | null {
    const proto = Object.getPrototypeOf(res) as { pause?: unknown; resume?: unknown } | null;
    if (proto === null || typeof proto.pause !== 'function' || typeof proto.resume !== 'function') return null;
    return new SocketThrottle(proto.pause as Toggle, proto.resume as Toggle);
  }

  /** Stops reading `ws`; false (nothing done) while it has unsent output, or if this does not work here. */
  pause(ws: WebSocket<unknown>): boolean {
    if (this.#failed || ws.getBufferedAmount() !== 0) return false;
    try {
      this.#pause.call(ws);
      return true;
    } catch {
      this.#failed = true;
      return false;
    }
  }

  /** Reads `ws` again (after pause() returned true). */
  resume(ws: WebSocket<unknown>): void {
    // Unsent output now means a send re-armed the socket after the pause: it is reading already.
    if (ws.getBufferedAmount() !== 0) return;
    try {
      this.#resume.call(ws);
    } catch {
      this.#failed = true;
    }
  }

  /** A call threw: the build does not allow this (flow control then only holds messages). */
  get failed(): boolean {
    return this.#failed;
  }
}
