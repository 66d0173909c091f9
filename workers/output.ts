import { Op, type ToMainOps } from '../src/shared/ipc/protocol.js';
import type { Outbox } from '../src/shared/ipc/outbox.js';
import type { Logger } from '../src/shared/log.js';
import { SERIALIZER_LIST, type Serializer } from '../src/shared/serializers/index.js';
import { MsgType } from '../src/shared/wamp/codes.js';
import type { Dict } from '../src/shared/wamp/messages.js';

const SER_COUNT = SERIALIZER_LIST.length;
/**
 * The fan-out mask bit of router-internal subscribers (the HTTP bridge's subscriber service): their
 * EVENTs are handed over in this thread (InternalOutput.fanout), never encoded or posted.
 */
export const INTERNAL_BIT = 1 << 30;

/**
 * What a realm worker can do to connections; every call is batched into the worker's outbox.
 * Messages are encoded here, for the serializer of each connection (a fanned-out EVENT once per
 * serializer among its recipients), and cross to the main thread as bytes: the main thread only
 * writes them to the sockets.
 */
export class Output {
  /** Called (on a microtask) for a connection whose message could not be encoded: end its session. */
  onEncodeError: (connId: number) => void = () => {};
  /**
   * Session statistics (workers/session-stats.ts): told the encoded size of each message sent to
   * `connId`; null (one check per send) unless a realm of this worker has `stats`.
   */
  countSent: ((connId: number, bytes: number) => void) | null = null;
  #failed: number[] = [];

  constructor(
    readonly outbox: Outbox<ToMainOps>,
    readonly log: Logger,
    /**
     * The SERIALIZER_LIST index of the session (or the session being established) on a
     * connection, undefined when there is none here; negative for router-internal sessions.
     */
    readonly serIndexOf: (connId: number) => number | undefined,
  ) {}

  /** The serializer frames of `connId` are decoded with (undefined: no session here). */
  serializer(connId: number): Serializer | undefined {
    const k = this.serIndexOf(connId);
    return k === undefined || k < 0 ? undefined : SERIALIZER_LIST[k];
  }

  send(connId: number, msg: unknown[]): void {
    const t = msg[0] as number;
    const k = this.serIndexOf(connId);
    // WELCOME and ABORT are read by the main thread too (joined, cookies, refusal metrics).
    if (k === undefined || k < 0 || t === MsgType.WELCOME || t === MsgType.ABORT) {
      this.outbox.push3(Op.SEND, connId, msg);
      return;
    }
    const data = this.#encode(k, msg);
    if (data === undefined) return this.#encodeFailed(connId);
    let done = -1;
    if (t === MsgType.RESULT) {
      // A progressive RESULT (advanced profile) does not end the call.
      if ((msg[2] as Dict).progress !== true) done = msg[1] as number;
    } else if (t === MsgType.ERROR && msg[1] === MsgType.CALL) done = msg[2] as number;
    const n = this.outbox.pushRecord(connId, data, t, done);
    if (this.countSent !== null) this.countSent(connId, n);
  }

  /**
   * One EVENT to many connections; `mask` has bit k set when some recipient speaks
   * SERIALIZER_LIST[k]. Encoded once per such serializer.
   */
  fanout(connIds: number[], msg: unknown[], mask: number): void {
    const lens = new Array<number>(SER_COUNT).fill(0);
    for (let k = 0; k < SER_COUNT; k++) {
      if ((mask & (1 << k)) === 0) continue;
      const data = this.#encode(k, msg);
      if (data === undefined) {
        for (const id of connIds) if (this.serIndexOf(id) === k) this.#encodeFailed(id);
        continue;
      }
      lens[k] = this.outbox.write(data);
    }
    this.outbox.push3(Op.FANOUT_BYTES, connIds, lens);
    if (this.countSent !== null) {
      for (const id of connIds) {
        const k = this.serIndexOf(id);
        if (k !== undefined && k >= 0 && lens[k]! > 0) this.countSent(id, lens[k]!);
      }
    }
  }

  detach(connId: number): void {
    this.outbox.push2(Op.DETACH, connId);
  }

  close(connId: number, code: number, reason: string): void {
    this.outbox.push4(Op.CLOSE, connId, code, reason);
  }

  #encode(k: number, msg: unknown[]): string | Uint8Array | undefined {
    const ser = SERIALIZER_LIST[k]!;
    try {
      return ser.encode(msg);
    } catch (err) {
      this.log.error({ err, serializer: ser.subprotocol, msgType: msg[0] }, 'cannot encode an outgoing message');
      return undefined;
    }
  }

  #encodeFailed(connId: number): void {
    if (this.#failed.push(connId) > 1) return;
    queueMicrotask(() => {
      const failed = this.#failed;
      this.#failed = [];
      for (const id of failed) this.onEncodeError(id);
    });
  }
}
