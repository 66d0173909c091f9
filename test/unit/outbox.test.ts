// The IPC outbox over a real MessageChannel: encoded messages travel in one transferred byte
// area per batch, in order, across batch splits, area growth and the entry-by-entry retry.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { IpcBytes, MAX_BATCH_OPS, Outbox } from '../../src/ipc/outbox.js';
import { Op } from '../../src/ipc/protocol.js';

const RAW = Op.RAW;
const FRAME = Op.FRAME;

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
            bytes.area(ops[i + 1]);
            i += 2;
            break;
          case RAW:
            entries.push([RAW, ops[i + 1], Buffer.from(bytes.take(ops[i + 2] as number)).toString()]);
            i += 3;
            break;
          case FRAME:
            entries.push([FRAME, ops[i + 1], ops[i + 2]]);
            i += 3;
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

test('bytes and values arrive in order, one batch per turn, split at MAX_BATCH_OPS', async () => {
  const { port1, port2 } = new MessageChannel();
  const out = new Outbox(port1);
  const n = 200;
  const got = receive(port2, n);
  const expected: unknown[][] = [];
  for (let i = 0; i < n; i++) {
    if (i % 3 === 0) {
      out.push3(FRAME, i, [i]);
      expected.push([FRAME, i, [i]]);
    } else {
      // Strings are written as UTF-8; Uint8Arrays as they are.
      const text = i % 3 === 1 ? `message ${i} ü€😀` : `bytes ${i}`;
      const len = out.write(i % 3 === 1 ? text : Buffer.from(text));
      assert.equal(len, Buffer.byteLength(text));
      out.push3(RAW, i, len);
      expected.push([RAW, i, text]);
    }
  }
  const { entries, batches } = await got;
  port1.close();
  assert.deepEqual(entries, expected);
  // Entries of 3 operands after the 2 of the byte area: posted once MAX_BATCH_OPS operands are
  // reached (and the rest at the end of the turn), never per message.
  assert.equal(batches, Math.ceil(n / Math.ceil((MAX_BATCH_OPS - 2) / 3)));
  assert.equal(out.entries, n);
});

test('the byte area grows for a message larger than it, and the next batch starts fresh', async () => {
  const { port1, port2 } = new MessageChannel();
  const out = new Outbox(port1);
  const big = 'x'.repeat(300_000) + 'é'.repeat(100_000);
  const got = receive(port2, 3);
  out.push3(RAW, 1, out.write('small'));
  out.push3(RAW, 2, out.write(big));
  out.flush();
  out.push3(RAW, 3, out.write(new Uint8Array(Buffer.from('after'))));
  const { entries } = await got;
  port1.close();
  assert.deepEqual(entries, [
    [RAW, 1, 'small'],
    [RAW, 2, big],
    [RAW, 3, 'after'],
  ]);
});

test('a batch that cannot be cloned is retried entry by entry: only the bad entry is rejected, the bytes still arrive', async () => {
  const { port1, port2 } = new MessageChannel();
  const out = new Outbox(port1);
  const rejected: unknown[][] = [];
  out.onReject = (entry) => rejected.push(entry);
  const deep = JSON.parse(`${'['.repeat(20000)}${']'.repeat(20000)}`) as unknown[];
  const got = receive(port2, 3);
  out.push3(RAW, 1, out.write('one'));
  out.push3(FRAME, 2, deep);
  out.push3(RAW, 3, out.write('three'));
  out.push3(FRAME, 4, ['four']);
  out.flush();
  const { entries } = await got;
  port1.close();
  assert.deepEqual(entries, [
    [RAW, 1, 'one'],
    [RAW, 3, 'three'],
    [FRAME, 4, ['four']],
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
});
