// The typed IPC over a real MessageChannel: every operation of each direction, pushed through
// that direction's Outbox, reaches the receiver's method of the same name with its operands, in
// order, records and fanned-out bytes read from the batch's byte area.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { IpcBytes, Outbox } from '../../src/shared/ipc/outbox.js';
import { Op, type OpHandlers, type ToMainOps, type ToWorkerOps, type TransportInfo, type WorkerStats } from '../../src/shared/ipc/protocol.js';
import { readToMain, readToWorker, rejectedConn } from '../../src/shared/ipc/reader.js';

const text = (b: Uint8Array) => Buffer.from(b).toString();

/** Collects what `read` hands to the handlers built by `make` until `count` calls arrived. */
function collect<H>(port: MessagePort, count: number, make: (calls: unknown[][], bytes: IpcBytes) => H, read: (ops: unknown[], bytes: IpcBytes, h: H) => void) {
  const calls: unknown[][] = [];
  const bytes = new IpcBytes();
  const h = make(calls, bytes);
  return new Promise<unknown[][]>((resolve, reject) => {
    const timer = setTimeout(() => {
      port.close();
      reject(new Error(`only ${calls.length} of ${count} operations arrived: ${JSON.stringify(calls)}`));
    }, 5000);
    port.on('message', (ops: unknown[]) => {
      read(ops, bytes, h);
      if (calls.length >= count) {
        clearTimeout(timer);
        port.close();
        resolve(calls);
      }
    });
  });
}

const transport: TransportInfo = {
  type: 'websocket',
  serIndex: 0,
  transportId: 't1',
  authKey: 't1',
  serializer: 'json',
  peer: '127.0.0.1:1',
  cookieAnonAuthid: null,
  cookieAuth: null,
  component: null,
  secure: false,
  tls: null,
};

test('main → worker: each operation reaches its handler with its operands, in order', async () => {
  const { port1, port2 } = new MessageChannel();
  const out = new Outbox<ToWorkerOps>(port1, undefined, Op.STAMP, Op.MARK);
  const got = collect<OpHandlers<ToWorkerOps>>(
    port2,
    11,
    (calls, bytes) => ({
      RUN(count) {
        for (let k = 0; k < count; k++) {
          const len = bytes.header();
          calls.push(['RECORD', bytes.connId, bytes.type, bytes.done, text(bytes.take(len))]);
        }
      },
      OPEN: (...a) => calls.push(['OPEN', ...a]),
      FRAME: (...a) => calls.push(['FRAME', ...a]),
      CLOSED: (...a) => calls.push(['CLOSED', ...a]),
      SHUTDOWN: (...a) => calls.push(['SHUTDOWN', ...a]),
      STAMP: (time) => calls.push(['STAMP', typeof time]),
      COLLECT: () => calls.push(['COLLECT']),
      MARK: (...a) => calls.push(['MARK', ...a]),
      BRIDGE: (reqId, key, body, headers) => calls.push(['BRIDGE', reqId, key, text(body), headers]),
      DEBUG_FAIL: (...a) => calls.push(['DEBUG_FAIL', ...a]),
      corrupt(op) {
        throw new Error(`corrupt ${String(op)}`);
      },
    }),
    readToWorker,
  );
  out.push5(Op.OPEN, 7, 'realm1', { roles: {} }, transport);
  out.mark += 9;
  out.pushRecord(7, '[1,2]', 1, -1);
  out.pushRecord(8, Buffer.from('[3]'), 48, -1);
  out.push4(Op.FRAME, 8, [6, {}, 'wamp.close.normal'], 22);
  out.push2(Op.CLOSED, 9);
  out.push1(Op.COLLECT);
  out.push5(Op.BRIDGE, 3, 'svc', new Uint8Array(Buffer.from('body')), { 'x-a': ['1'] });
  out.push2(Op.SHUTDOWN, 500);
  out.push2(Op.DEBUG_FAIL, 'throw');
  out.flush();
  const calls = await got;
  port1.close();
  assert.deepEqual(calls, [
    ['OPEN', 7, 'realm1', { roles: {} }, transport],
    ['RECORD', 7, 1, -1, '[1,2]'],
    ['RECORD', 8, 48, -1, '[3]'],
    ['FRAME', 8, [6, {}, 'wamp.close.normal'], 22],
    ['CLOSED', 9],
    ['COLLECT'],
    ['BRIDGE', 3, 'svc', 'body', { 'x-a': ['1'] }],
    ['SHUTDOWN', 500],
    ['DEBUG_FAIL', 'throw'],
    ['MARK', 9],
    ['STAMP', 'number'],
  ]);
});

test('worker → main: each operation reaches its handler with its operands, in order', async () => {
  const { port1, port2 } = new MessageChannel();
  const out = new Outbox<ToMainOps>(port1);
  const stats = { batchesIn: 1, sessions: { realm1: 2 } } as unknown as WorkerStats;
  const got = collect<OpHandlers<ToMainOps>>(
    port2,
    10,
    (calls, bytes) => ({
      RUN(count) {
        for (let k = 0; k < count; k++) {
          const len = bytes.header();
          calls.push(['RECORD', bytes.connId, bytes.type, bytes.done, text(bytes.take(len))]);
        }
      },
      SEND: (...a) => calls.push(['SEND', ...a]),
      FANOUT_BYTES: (ids, lens) => calls.push(['FANOUT_BYTES', ids, lens.map((n) => (n > 0 ? text(bytes.take(n)) : null))]),
      DETACH: (...a) => calls.push(['DETACH', ...a]),
      CLOSE: (...a) => calls.push(['CLOSE', ...a]),
      ROUTED: (...a) => calls.push(['ROUTED', ...a]),
      STATS: (...a) => calls.push(['STATS', ...a]),
      BRIDGE_REPLY: (...a) => calls.push(['BRIDGE_REPLY', ...a]),
      ACK: (...a) => calls.push(['ACK', ...a]),
      corrupt(op) {
        throw new Error(`corrupt ${String(op)}`);
      },
    }),
    readToMain,
  );
  out.push3(Op.SEND, 4, [2, 99, {}]);
  out.pushRecord(4, '[50,1,{}]', 50, 1);
  out.push3(Op.FANOUT_BYTES, [4, 5, 6], [out.write('[36,json]'), 0, out.write(Buffer.from('msgpack'))]);
  out.pushRecord(5, '[8]', 8, -1);
  out.push2(Op.DETACH, 4);
  out.push4(Op.CLOSE, 5, 1002, 'wamp.error.protocol_violation');
  out.push2(Op.STATS, stats);
  out.push4(Op.BRIDGE_REPLY, 3, 200, '{}');
  out.push2(Op.ROUTED, 12.5);
  out.push2(Op.ACK, 40);
  out.flush();
  const calls = await got;
  port1.close();
  assert.deepEqual(calls, [
    ['SEND', 4, [2, 99, {}]],
    ['RECORD', 4, 50, 1, '[50,1,{}]'],
    ['FANOUT_BYTES', [4, 5, 6], ['[36,json]', null, 'msgpack']],
    ['RECORD', 5, 8, -1, '[8]'],
    ['DETACH', 4],
    ['CLOSE', 5, 1002, 'wamp.error.protocol_violation'],
    ['STATS', stats],
    ['BRIDGE_REPLY', 3, 200, '{}'],
    ['ROUTED', 12.5],
    ['ACK', 40],
  ]);
});

test('an opcode outside the table goes to corrupt(), in either direction', () => {
  const bytes = new IpcBytes();
  const corrupt = (op: unknown): never => {
    throw new Error(`corrupt opcode ${String(op)}`);
  };
  // Each direction's opcodes are foreign to the other.
  assert.throws(() => readToWorker([Op.BYTES, null, Op.SEND, 1, []], bytes, { corrupt } as OpHandlers<ToWorkerOps>), /corrupt opcode 11/);
  assert.throws(() => readToMain([Op.BYTES, null, Op.OPEN, 1, 'r', {}, transport], bytes, { corrupt } as OpHandlers<ToMainOps>), /corrupt opcode 1/);
  assert.throws(() => readToMain([99], bytes, { corrupt } as OpHandlers<ToMainOps>), /corrupt opcode 99/);
});

test('rejectedConn names the connection of an entry that could not be posted, and only for operations that carry one', () => {
  assert.equal(rejectedConn([Op.FRAME, 5, []]), 5);
  assert.equal(rejectedConn([Op.OPEN, 6, 'r', {}, transport]), 6);
  assert.equal(rejectedConn([Op.SEND, 7, []]), 7);
  assert.equal(rejectedConn([Op.BRIDGE, 8, 'key', new Uint8Array(0), null]), undefined);
  assert.equal(rejectedConn([Op.SHUTDOWN, 1000]), undefined);
});

/**
 * Checked when the tests compile (never called): pushes that do not match the operand table. If
 * the Outbox's typing stops catching one, its @ts-expect-error is unused and tsc fails.
 */
export function mistypedPushes(toWorker: Outbox<ToWorkerOps>, toMain: Outbox<ToMainOps>): void {
  // @ts-expect-error a connection id is a number
  toWorker.push4(Op.FRAME, '1', [], 0);
  // @ts-expect-error FRAME has three operands
  toWorker.push3(Op.FRAME, 1, []);
  // @ts-expect-error SEND goes from a worker to the main thread
  toWorker.push3(Op.SEND, 1, []);
  // @ts-expect-error OPEN's transport is a TransportInfo
  toWorker.push5(Op.OPEN, 1, 'realm', {}, { type: 'websocket' });
  // @ts-expect-error DEBUG_FAIL takes a DebugFailMode
  toWorker.push2(Op.DEBUG_FAIL, 'crash');
  // @ts-expect-error RUN belongs to the Outbox (pushRecord)
  toMain.push2(Op.RUN, 1);
  // @ts-expect-error CLOSE's reason is a string
  toMain.push4(Op.CLOSE, 1, 1000, 1000);
  // @ts-expect-error OPEN goes from the main thread to a worker
  toMain.push5(Op.OPEN, 1, 'realm', {}, transport);
}
