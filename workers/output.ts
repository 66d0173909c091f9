import { Op } from '../src/ipc/protocol.js';
import type { Outbox } from '../src/ipc/outbox.js';

/** What a realm worker can do to connections; every call is batched into the worker's outbox. */
export class Output {
  constructor(readonly outbox: Outbox) {}
  send(connId: number, msg: unknown[]): void {
    this.outbox.push3(Op.SEND, connId, msg);
  }
  fanout(connIds: number[], msg: unknown[]): void {
    this.outbox.push3(Op.FANOUT, connIds, msg);
  }
  detach(connId: number): void {
    this.outbox.push2(Op.DETACH, connId);
  }
  close(connId: number, code: number, reason: string): void {
    this.outbox.push4(Op.CLOSE, connId, code, reason);
  }
}
