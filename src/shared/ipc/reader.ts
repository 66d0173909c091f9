import type { IpcBytes } from './outbox.js';
import {
  type DebugFailMode,
  Op,
  type OpHandlers,
  type ToMainOps,
  type ToWorkerOps,
  type TransportInfo,
  type WorkerStats,
} from './protocol.js';

/**
 * The two readers of the batch format (src/shared/ipc/protocol.ts): each walks one batch in
 * order and hands every operation, with its operands typed, to the receiver's method of the same
 * name; BYTES starts the byte area in `bytes`, which RUN and FANOUT_BYTES read from. A batch is
 * made by the Outbox of the other side from the same table, so the casts below are the only ones
 * the IPC needs.
 */
export function readToWorker(ops: unknown[], bytes: IpcBytes, h: OpHandlers<ToWorkerOps>): void {
  const n = ops.length;
  let i = 0;
  while (i < n) {
    switch (ops[i]) {
      case Op.RUN:
        h.RUN(ops[i + 1] as number);
        i += 2;
        break;
      case Op.BYTES:
        bytes.area(ops[i + 1] as ArrayBuffer | null);
        i += 2;
        break;
      case Op.FRAME:
        h.FRAME(ops[i + 1] as number, ops[i + 2] as unknown[], ops[i + 3] as number);
        i += 4;
        break;
      case Op.OPEN:
        h.OPEN(ops[i + 1] as number, ops[i + 2] as string, ops[i + 3], ops[i + 4] as TransportInfo);
        i += 5;
        break;
      case Op.CLOSED:
        h.CLOSED(ops[i + 1] as number);
        i += 2;
        break;
      case Op.STAMP:
        h.STAMP(ops[i + 1] as number);
        i += 2;
        break;
      case Op.MARK:
        h.MARK(ops[i + 1] as number);
        i += 2;
        break;
      case Op.SHUTDOWN:
        h.SHUTDOWN(ops[i + 1] as number);
        i += 2;
        break;
      case Op.COLLECT:
        h.COLLECT();
        i += 1;
        break;
      case Op.BRIDGE:
        h.BRIDGE(ops[i + 1] as number, ops[i + 2] as string, ops[i + 3] as Uint8Array, ops[i + 4] as Record<string, string[]> | null);
        i += 5;
        break;
      case Op.DEBUG_FAIL:
        h.DEBUG_FAIL(ops[i + 1] as DebugFailMode);
        i += 2;
        break;
      default:
        h.corrupt(ops[i]);
    }
  }
}

/** Worker → main thread: see readToWorker. */
export function readToMain(ops: unknown[], bytes: IpcBytes, h: OpHandlers<ToMainOps>): void {
  const n = ops.length;
  let i = 0;
  while (i < n) {
    switch (ops[i]) {
      case Op.SEND:
        h.SEND(ops[i + 1] as number, ops[i + 2] as unknown[]);
        i += 3;
        break;
      case Op.RUN:
        h.RUN(ops[i + 1] as number);
        i += 2;
        break;
      case Op.FANOUT_BYTES:
        h.FANOUT_BYTES(ops[i + 1] as number[], ops[i + 2] as number[]);
        i += 3;
        break;
      case Op.BYTES:
        bytes.area(ops[i + 1] as ArrayBuffer | null);
        i += 2;
        break;
      case Op.DETACH:
        h.DETACH(ops[i + 1] as number);
        i += 2;
        break;
      case Op.CLOSE:
        h.CLOSE(ops[i + 1] as number, ops[i + 2] as number, ops[i + 3] as string);
        i += 4;
        break;
      case Op.ROUTED:
        h.ROUTED(ops[i + 1] as number);
        i += 2;
        break;
      case Op.ACK:
        h.ACK(ops[i + 1] as number);
        i += 2;
        break;
      case Op.BRIDGE_REPLY:
        h.BRIDGE_REPLY(ops[i + 1] as number, ops[i + 2] as number, ops[i + 3] as string);
        i += 4;
        break;
      case Op.STATS:
        h.STATS(ops[i + 1] as WorkerStats);
        i += 2;
        break;
      default:
        h.corrupt(ops[i]);
    }
  }
}

/**
 * The connection an entry the Outbox could not post (Outbox.onReject) was for: an OPEN, FRAME or
 * CLOSED to a worker, a SEND to the main thread; else undefined.
 */
export function rejectedConn(entry: unknown[]): number | undefined {
  const op = entry[0];
  return op === Op.OPEN || op === Op.FRAME || op === Op.CLOSED || op === Op.SEND ? (entry[1] as number) : undefined;
}
