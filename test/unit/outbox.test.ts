// The IPC outbox over a real MessageChannel: encoded messages travel in one transferred byte
// area per batch, in order, across batch splits, area growth and the entry-by-entry retry.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { performance } from 'node:perf_hooks';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { IpcBytes, MAX_BATCH_OPS, Outbox } from '../../src/shared/ipc/outbox.js';
import { Op, type ToMainOps, type ToWorkerOps } from '../../src/shared/ipc/protocol.js';

const REC = 'record';
const FRAME = Op.FRAME;
const FAN = Op.FANOUT_BYTES;
/** These tests mix operations of both directions in one outbox. */
type BothOps = ToWorkerOps & ToMainOps;

/** Walks batches like the receivers do; resolves with the entries once `count` of them arrived. */
function receive(port: MessagePort, count: number): Promise<{ entries: unknown[][]; batches: number }> {
  const bytes = new IpcBytes();
  const entries: unknown[][] = [];
  let batches = 0;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${entries.length} of ${count} entries arrived`)), 5000);
    port.on('message', (ops: unknown[]) => {
      batches++;
      let i = 0;
      while (i < ops.length) {
        switch (ops[i]) {
          case Op.BYTES:
            bytes.area(ops[i + 1] as ArrayBuffer | null);
            i += 2;
            break;
          case Op.RUN: {
            let k = ops[i + 1] as number;
            i += 2;
            while (k-- > 0) {
              const len = bytes.header();
              entries.push([REC, bytes.connId, Buffer.from(bytes.take(len)).toString(), bytes.type, bytes.done]);
            }
            break;
          }
          case FAN: {
            const lens = ops[i + 2] as number[];
            entries.push([FAN, ops[i + 1], lens.map((n) => Buffer.from(bytes.take(n)).toString())]);
            i += 3;
            break;
          }
          case FRAME:
            entries.push([FRAME, ops[i + 1], ops[i + 2], ops[i + 3]]);
            i += 4;
            break;
          default:
            throw new Error(`unexpected op ${String(ops[i])}`);
        }
      }
      if (entries.length >= count) {
        clearTimeout(timer);
        port.close();
        resolve({ entries, batches });
      }
    });
  });
}

test('records, bytes and values arrive in order, one batch per turn, split at MAX_BATCH_OPS', async () => {
  const { port1, port2 } = new MessageChannel();
  const out = new Outbox<BothOps>(port1);
  const n = 300;
  const got = receive(port2, n);
  const expected: unknown[][] = [];
  for (let i = 0; i < n; i++) {
    if (i % 5 === 0) {
      out.push4(FRAME, i, [i], i);
      expected.push([FRAME, i, [i], i]);
    } else if (i % 5 === 4) {
      const a = `first ${i}`;
      const b = `second ${i} €`;
      out.push3(FAN, [i], [out.write(a), 0, out.write(Buffer.from(b))]);
      expected.push([FAN, [i], [a, '', b]]);
    } else {
      // Strings are written as UTF-8; Uint8Arrays as they are. Ids up to 2^53.
      const text = i % 5 === 1 ? `message ${i} ü€😀` : `bytes ${i}`;
      const id = i === 2 ? 2 ** 53 - 1 : i;
      out.pushRecord(id, i % 5 === 1 ? text : Buffer.from(text), 48 + (i % 3), i % 2 ? -1 : 2 ** 40 + i);
      expected.push([REC, id, text, 48 + (i % 3), i % 2 ? -1 : 2 ** 40 + i]);
    }
  }
  const { entries, batches } = await got;
  port1.close();
  assert.deepEqual(entries, expected);
  // A FAN is 3 operands, a FRAME 4, a record counts as 3 (its RUN costs 2 more when it starts one):
  // posted once the batch reaches MAX_BATCH_OPS (the rest at the end of the turn), never per message.
  assert.ok(batches >= Math.ceil((n * 3) / MAX_BATCH_OPS) && batches <= Math.ceil((n * 5) / (MAX_BATCH_OPS - 5)), `${batches} batches`);
  assert.equal(out.entries, n);
});

test('the byte area grows for a message larger than it, and the next batch starts fresh', async () => {
  const { port1, port2 } = new MessageChannel();
  const out = new Outbox<BothOps>(port1);
  const big = 'x'.repeat(300_000) + 'é'.repeat(100_000);
  const got = receive(port2, 3);
  out.pushRecord(1, 'small', 50, -1);
  out.pushRecord(2, big, 50, -1);
  out.flush();
  out.pushRecord(3, new Uint8Array(Buffer.from('after')), 50, -1);
  const { entries } = await got;
  port1.close();
  assert.deepEqual(entries, [
    [REC, 1, 'small', 50, -1],
    [REC, 2, big, 50, -1],
    [REC, 3, 'after', 50, -1],
  ]);
});

test('a batch that cannot be cloned is retried entry by entry: only the bad entry is rejected, the bytes still arrive', async () => {
  const { port1, port2 } = new MessageChannel();
  const out = new Outbox<BothOps>(port1);
  const rejected: unknown[][] = [];
  out.onReject = (entry) => rejected.push(entry);
  const deep = JSON.parse(`${'['.repeat(20000)}${']'.repeat(20000)}`) as unknown[];
  const got = receive(port2, 3);
  out.pushRecord(1, 'one', 48, -1);
  out.push4(FRAME, 2, deep, 0);
  out.pushRecord(3, 'three', 48, -1);
  out.push4(FRAME, 4, ['four'], 6);
  out.flush();
  const { entries } = await got;
  port1.close();
  assert.deepEqual(entries, [
    [REC, 1, 'one', 48, -1],
    [REC, 3, 'three', 48, -1],
    [FRAME, 4, ['four'], 6],
  ]);
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0]![1], 2);
});

test('IpcBytes refuses to read beyond its area', () => {
  const b = new IpcBytes();
  b.area(new ArrayBuffer(4));
  assert.equal(b.take(3).length, 3);
  assert.throws(() => b.take(2), /beyond the byte area/);
  b.area(null);
  assert.throws(() => b.take(1), /beyond the byte area/);
  assert.throws(() => b.header(), /record beyond the byte area/);
});

test('the STAMP of a batch is the time of its first entry, also when that entry starts a run of records', async () => {
  const { port1, port2 } = new MessageChannel();
  const STAMP = Op.STAMP;
  const out = new Outbox<BothOps>(port1, 1_000_000, STAMP);
  const got = new Promise<unknown[]>((resolve) => port2.once('message', resolve));
  const before = performance.now();
  out.pushRecord(1, 'first', 48, -1);
  const afterFirst = performance.now();
  // More records in the same run: each takes measurable time (performance.now is sub-microsecond).
  for (let i = 2; i < 50; i++) out.pushRecord(i, 'x'.repeat(10_000), 48, -1);
  const beforeFlush = performance.now();
  out.flush();
  const ops = await got;
  port1.close();
  port2.close();
  assert.equal(ops[ops.length - 2], STAMP);
  const stamp = ops[ops.length - 1] as number;
  assert.ok(stamp >= before && stamp <= afterFirst, `stamp ${stamp} not within the first push [${before}, ${afterFirst}] (flush at ${beforeFlush})`);
});

test('with a markOp, a batch carries MARK and the count kept in `mark` when it changed since the last batch (flow control)', async () => {
  const { port1, port2 } = new MessageChannel();
  const out = new Outbox<BothOps>(port1, MAX_BATCH_OPS, 0, Op.MARK);
  const seen: unknown[][] = [];
  const got = new Promise<void>((resolve) => {
    port2.on('message', (ops: unknown[]) => {
      seen.push(ops);
      if (seen.length === 3) resolve();
    });
  });
  out.mark += 5;
  out.pushRecord(1, 'hello', 16, -1);
  out.flush();
  out.push2(Op.CLOSED, 1); // the count did not change: no MARK
  out.flush();
  out.mark += 7;
  out.pushRecord(2, 'seven!!', 16, -1);
  out.flush();
  await got;
  port1.close();
  port2.close();
  const marks = seen.map((ops) => {
    const at = ops.indexOf(Op.MARK);
    return at < 0 ? null : ops[at + 1];
  });
  assert.deepEqual(marks, [5, null, 12]);
  // MARK comes last, after what it counts.
  assert.equal(seen[0]!.at(-2), Op.MARK);
});
