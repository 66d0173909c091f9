// Flow control from the sockets to the realm worker: a few connections flooding
// large PUBLISHes must neither make the router queue without bound towards the realm worker nor
// stall the other sessions of the realm. Scaled down from the attack run (4 connections × 4,000 ×
// 1 MB): 4 connections × FLOOD × 256 KiB of JSON numbers, no subscribers, no acknowledge.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { test } from 'node:test';
import { connect } from '../helpers/client.js';
import { captureLog } from '../helpers/log.js';
import { scrape } from '../helpers/metrics.js';
import { makePki } from '../helpers/pki.js';
import { RawPeer } from '../helpers/raw.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { within } from '../helpers/wait.js';
import { loadUws, pauseStopsWithinOneRead, READ_SIZE, tcpReceiveBufferMax } from '../../src/uws.js';
import { TYPE_SLOTS } from '../../src/shared/labels.js';
import { SERIALIZER_LIST, SERIALIZERS } from '../../src/shared/serializers/index.js';

const FLOODERS = 4;
const FLOOD = 200;
const MiB = 1024 * 1024;

/** A PUBLISH of ~`bytes` of JSON numbers (the attack's payload shape: expensive to decode). */
function publishFrame(bytes: number): Buffer {
  const parts: string[] = [];
  let n = 0;
  while (n < bytes) {
    const s = (Math.random() * 1e6).toFixed(6);
    parts.push(s);
    n += s.length + 1;
  }
  return Buffer.from(`[16,1,{},"com.example.flood",[${parts.join(',')}]]`);
}

/**
 * Sends `count` text frames of `frame` on `p`, at most 16 unwritten at a time (what `ws` has not
 * handed to the kernel yet), so the client's own memory stays small; resolves with how many were
 * written once all are, or when the connection closes, or `enough()` says so.
 */
function flood(p: RawPeer, frame: Buffer, count: number, enough = () => false): Promise<number> {
  return new Promise((resolve) => {
    let sent = 0;
    let written = 0;
    let out = 0;
    const more = (): void => {
      if (enough()) {
        if (out === 0) resolve(written);
        return;
      }
      while (out < 16 && sent < count && p.ws.readyState === p.ws.OPEN) {
        sent++;
        out++;
        p.ws.send(frame, { binary: false }, (err) => {
          out--;
          if (err) return resolve(written);
          written++;
          if (written === count || (out === 0 && enough())) resolve(written);
          else more();
        });
      }
    };
    p.ws.once('close', () => resolve(written));
    more();
  });
}

/** JSON PUBLISHes the router has passed on to the realm worker (counted as it posts them; not reset before a /metrics scrape). */
function publishesIn(r: TestRouter): number {
  return r.router.counters.msgIn[SERIALIZER_LIST.indexOf(SERIALIZERS.json) * TYPE_SLOTS + 16]!;
}

/** Each peer, paused and resumed along the way, still gets an answer to an acknowledged PUBLISH. */
async function stillWorks(peers: RawPeer[]): Promise<void> {
  for (const [i, p] of peers.entries()) p.send([16, 1000 + i, { acknowledge: true }, 'com.example.after', []]);
  for (const [i, p] of peers.entries()) {
    const m = await p.nextOf([17, 8], 30_000);
    assert.deepEqual(m.slice(0, 2), [17, 1000 + i], 'PUBLISHED after the flood');
  }
}

/** Flow control's state, for a failure message. */
function flowState(r: TestRouter): string {
  const w = r.router.workers[0]!;
  const paused = [...r.router.flow.paused].map(
    (c) => `conn ${c.id}: held ${c.flowHeld?.length ?? '-'} (${c.flowHeldBytes} B), stopped ${c.flowStopped}, bound ${c.flowBound}, mark ${c.flowMark}, waiting ${r.router.flow.waiting(w).includes(c)}, buffered ${c.ws?.getBufferedAmount() ?? '-'}`,
  );
  return `worker: mark ${w.outbox.mark}, acked ${w.acked}, waiting ${r.router.flow.waiting(w).length}; paused: ${paused.join('; ') || 'none'}`;
}

/** The largest queued-towards-the-worker and held-on-the-main-thread byte counts, sampled every 5 ms. */
function sampler(r: TestRouter): { stop(): { queued: number; held: number } } {
  let queued = 0;
  let held = 0;
  const t = setInterval(() => {
    for (const w of r.router.workers) queued = Math.max(queued, w.outbox.mark - w.acked);
    held = Math.max(held, r.router.flow.heldBytes);
  }, 5);
  t.unref(); // a test that fails before stop() must not keep the process alive
  return {
    stop: () => {
      clearInterval(t);
      return { queued, held };
    },
  };
}

// How much a paused socket may still be read (src/uws.ts, `readLoop`): uWebSockets.js 20.30 stops
// within the read that paused it (512 KiB); 20.57 reads on while each read fills its buffer, so
// what it reads after a pause is what the kernel had queued for that socket, up to its receive
// buffer (net.ipv4.tcp_rmem), unless that maximum is at most one read.
const UWS = loadUws(true);
const PER_READ = pauseStopsWithinOneRead(UWS.version);
/**
 * Where a paused socket is read on: the most its read loop can bring in, the router's receive
 * buffer and what the kernel still moves over from the flooder's send buffer meanwhile (the
 * flooders, in this process, cannot write while the loop runs).
 */
const KERNEL_QUEUE = PER_READ ? 0 : (tcpReceiveBufferMax() ?? 32 * MiB) + sysctlMax('/proc/sys/net/ipv4/tcp_wmem', 4 * MiB);

function sysctlMax(path: string, otherwise: number): number {
  try {
    const max = Number(readFileSync(path, 'utf8').trim().split(/\s+/)[2]);
    return Number.isFinite(max) && max > 0 ? max : otherwise;
  } catch {
    return otherwise;
  }
}

test('four connections flooding 256 KiB PUBLISHes: the queue to the worker stays within its window, a bystander stays fast, nothing is lost', async (t) => {
  // Where a paused socket is read on, a flooder may hold what its kernel queue held: the default
  // connection_hold (16 MiB) could close it (docs/flow-control.md); here it may hold that much.
  const flow = PER_READ ? {} : { connection_hold: Math.min(128 * MiB, Math.max(16 * MiB, KERNEL_QUEUE + MiB)) };
  const r = await startRouter({ crosswire: { realm_threads: 1, flow } });
  try {
    const bystander = await connect(r.url, 'json');
    for (let i = 0; i < 5; i++) await bystander.session.call('wamp.session.count');
    const frame = publishFrame(256 * 1024);
    const floods = await Promise.all(Array.from({ length: FLOODERS }, () => RawPeer.open(r.url, 'json')));
    await Promise.all(floods.map((p) => p.join()));
    const closes: string[] = [];
    for (const [i, p] of floods.entries()) void p.closed.then(({ code, reason }) => closes.push(`flooder ${i}: ${code} ${reason}`));
    const publishedBefore = publishesIn(r);
    const rssBefore = process.memoryUsage().rss;
    let rssMax = rssBefore;
    const sample = sampler(r);
    const t0 = performance.now();
    let flooding = true;
    const sent = Promise.all(floods.map((p) => flood(p, frame, FLOOD))).finally(() => (flooding = false));
    // The bystander calls one after the other until the router has read every flood frame, and
    // once more: that call comes back after the worker has consumed them all.
    const latencies: number[] = [];
    const call = async (): Promise<void> => {
      const s = performance.now();
      await within(bystander.session.call('wamp.session.count'), 60_000, 'the bystander call');
      latencies.push(performance.now() - s);
      rssMax = Math.max(rssMax, process.memoryUsage().rss);
    };
    const deadline = Date.now() + 60_000;
    while ((flooding || publishesIn(r) - publishedBefore < FLOODERS * FLOOD) && Date.now() < deadline) await call();
    await call();
    const floodMs = performance.now() - t0;
    assert.deepEqual(await sent, floods.map(() => FLOOD), `every flood message was written (closed: ${closes.join('; ') || 'none'})`);
    // Nothing is dropped: every PUBLISH reached the worker.
    assert.equal(publishesIn(r) - publishedBefore, FLOODERS * FLOOD, `every flood message reached the realm worker (closed: ${closes.join('; ') || 'none'}; ${flowState(r)})`);
    const { queued, held } = sample.stop();
    const m = await scrape(r.http);
    const worst = Math.max(...latencies);
    t.diagnostic(
      `${FLOODERS}×${FLOOD}×${frame.length} B routed in ${Math.round(floodMs)} ms; bystander: ${latencies.length} calls, ` +
        `max ${Math.round(worst)} ms, median ${Math.round(latencies.sort((a, b) => a - b)[latencies.length >> 1]!)} ms; ` +
        `most queued to the worker ${(queued / MiB).toFixed(2)} MiB, most held ${(held / MiB).toFixed(2)} MiB; ` +
        `pauses ${m.get('crosswire_flow_pauses_total')}; process RSS ${Math.round(rssBefore / MiB)} → max ${Math.round(rssMax / MiB)} MiB`,
    );
    // Without flow control the bystander's calls queue behind the whole backlog (most of the
    // flood's duration); with it, behind at most the worker's window.
    assert.ok(worst < floodMs / 4, `slowest bystander call ${Math.round(worst)} ms of a ${Math.round(floodMs)} ms flood`);
    // The bound: worker_window (4 MiB default) plus the one frame that may cross it.
    assert.ok(queued <= 4 * MiB + frame.length, `queued towards the worker: ${queued} bytes`);
    if (PER_READ) {
      // Held frames: what uWS had read when the socket was paused (≤ 512 KiB per read) and frames it completes.
      assert.ok(held <= FLOODERS * (MiB + 2 * frame.length), `held on the main thread: ${held} bytes`);
    } else {
      // 20.57 with receive buffers larger than one read: each flooder's socket was read until the
      // kernel's queue for it ran short: at most its receive buffer.
      t.diagnostic(`uWebSockets.js ${UWS.version}: a paused socket is read until its kernel queue is below ${READ_SIZE} bytes (up to ${KERNEL_QUEUE} bytes per socket here); the per-read bound does not apply`);
      assert.ok(held <= FLOODERS * (KERNEL_QUEUE + 2 * frame.length), `held on the main thread: ${held} bytes`);
    }
    assert.ok(m.get('crosswire_flow_pauses_total') > 0, 'pauses are counted');
    assert.ok(m.has('crosswire_flow_paused_connections') && m.has('crosswire_flow_held_bytes'), 'paused connections and held bytes are exported');
    assert.equal(m.get('crosswire_ipc_queued_bytes', { worker: '0' }), 0, 'the queue to the worker is empty once drained');
    assert.equal(m.get('crosswire_flow_hold_closes_total'), 0, 'no flooder was closed: they were slowed down');
    await stillWorks(floods);
    for (const p of floods) p.close();
    await bystander.close();
  } finally {
    await r.stop();
  }
});

test('where a paused socket is read past one read (uWebSockets.js 20.57, receive buffers above 512 KiB), the router says so at start, naming net.ipv4.tcp_rmem', async () => {
  const cap = captureLog('warn');
  const r = await startRouter({ crosswire: { realm_threads: 1 }, log: cap.log });
  try {
    const warning = cap.lines.find((l) => String(l.msg).includes('net.ipv4.tcp_rmem') || String(l.msg).includes('keeps reading a socket'));
    if (PER_READ) {
      assert.equal(warning, undefined, `no warning with uWebSockets.js ${UWS.version} here`);
    } else {
      assert.ok(warning !== undefined, 'the warning is logged');
      assert.equal(warning.level, 40);
      assert.match(String(warning.msg), new RegExp(`uWebSockets\\.js ${UWS.version.replaceAll('.', '\\.')} keeps reading a socket`));
      assert.equal(warning.tcp_rmem_max, tcpReceiveBufferMax());
    }
  } finally {
    await r.stop();
  }
  // Without pausing there is nothing to warn about.
  const quiet = captureLog('warn');
  const r2 = await startRouter({ crosswire: { realm_threads: 1, flow: { pause_reading: false } }, log: quiet.log });
  await r2.stop();
  assert.equal(quiet.lines.find((l) => String(l.msg).includes('keeps reading a socket')), undefined);
});

test('without pausing the sockets (pause_reading false), a connection that sends past connection_hold while paused is closed (1008), counted; the others carry on', async (t) => {
  const hold = 2 * MiB;
  const r = await startRouter({ crosswire: { realm_threads: 1, flow: { pause_reading: false, connection_hold: hold } } });
  try {
    const bystander = await connect(r.url, 'json');
    const frame = publishFrame(256 * 1024);
    const floods = await Promise.all(Array.from({ length: FLOODERS }, () => RawPeer.open(r.url, 'json')));
    await Promise.all(floods.map((p) => p.join()));
    const sample = sampler(r);
    const sent = Promise.all(floods.map((p) => flood(p, frame, FLOOD)));
    const closes = await within(Promise.all(floods.map((p) => p.closed)), 60_000, 'the flooders to be closed');
    const written = await sent;
    const { queued, held } = sample.stop();
    t.diagnostic(`flooders closed after writing ${written.join(', ')} frames; most queued ${(queued / MiB).toFixed(2)} MiB, most held ${(held / MiB).toFixed(2)} MiB`);
    for (const c of closes) assert.deepEqual(c, { code: 1008, reason: 'flow control: sent too much while paused' });
    assert.equal(r.router.counters.flowHoldCloses, FLOODERS);
    // Each held at most connection_hold; the router as a whole at most that per connection.
    assert.ok(held <= FLOODERS * hold, `held on the main thread: ${held} bytes`);
    assert.ok(queued <= 4 * MiB + frame.length, `queued towards the worker: ${queued} bytes`);
    assert.equal(r.router.flow.heldBytes, 0, 'nothing stays held for closed connections');
    // The realm is fine.
    assert.equal(await within(bystander.session.call('wamp.session.count'), 30_000, 'a call after the flood'), 1);
    await bystander.close();
  } finally {
    await r.stop();
  }
});

test('hold_budget: past the router-wide budget the connection holding most is closed first', async () => {
  const budget = 12 * MiB;
  const r = await startRouter({ crosswire: { realm_threads: 1, flow: { pause_reading: false, connection_hold: budget, hold_budget: budget } } });
  try {
    const big = publishFrame(256 * 1024);
    const small = publishFrame(64 * 1024);
    const floods = await Promise.all(Array.from({ length: FLOODERS }, () => RawPeer.open(r.url, 'json')));
    await Promise.all(floods.map((p) => p.join()));
    const sample = sampler(r);
    // One connection floods alone until it holds 4 MiB (past its window its frames wait; at most
    // 16 more frames, 4 MiB, are on their way: it stays below connection_hold). Then the others
    // flood in small frames, and the total passes the budget while the first holds the most.
    const first = flood(floods[0]!, big, FLOOD, () => r.router.flow.heldBytes >= 4 * MiB);
    await within(first, 30_000, 'the first flooder to hold 4 MiB');
    const rest = floods.slice(1).map((p) => flood(p, small, 4 * FLOOD));
    const firstClose = await within(floods[0]!.closed, 30_000, 'the largest holder to be closed');
    assert.deepEqual(firstClose, { code: 1008, reason: 'flow control: router-wide hold budget exceeded' });
    await within(Promise.all(rest), 60_000, 'the other flooders');
    const { held } = sample.stop();
    assert.ok(held <= budget + big.length, `held on the main thread: ${held} bytes`);
    assert.ok(r.router.counters.flowHoldCloses >= 1);
    for (const p of floods) p.close();
  } finally {
    await r.stop();
  }
});

test('over TLS too: a flooding wss connection is paused and resumed, and works afterwards', async (t) => {
  const pki = makePki();
  const r = await startRouter({
    crosswire: { realm_threads: 1 },
    transport: { endpoint: { type: 'tcp', port: 0, interface: '127.0.0.1', tls: { key: pki.serverKey, certificate: pki.serverCert, chain_certificates: [pki.interCert] } } },
  });
  try {
    const url = `wss://localhost:${r.port}/ws`;
    const ca = pki.read(pki.rootCert);
    const frame = publishFrame(256 * 1024);
    const floods = await Promise.all(Array.from({ length: 2 }, () => RawPeer.open(url, 'json', { ca })));
    await Promise.all(floods.map((p) => p.join()));
    const publishedBefore = publishesIn(r);
    let stopped = 0;
    const t0 = performance.now();
    const watch = setInterval(() => {
      for (const c of r.router.flow.paused) if (c.flowStopped) stopped++;
    }, 5);
    watch.unref();
    assert.deepEqual(await within(Promise.all(floods.map((p) => flood(p, frame, 60))), 60_000, 'the flood'), [60, 60]);
    const deadline = Date.now() + 60_000;
    while (publishesIn(r) - publishedBefore < 120 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    clearInterval(watch);
    t.diagnostic(`2×60×${frame.length} B over TLS in ${Math.round(performance.now() - t0)} ms; pauses ${r.router.counters.flowPauses}; samples of a stopped socket ${stopped}`);
    assert.equal(publishesIn(r) - publishedBefore, 120, 'every flood message reached the realm worker');
    assert.ok(r.router.counters.flowPauses > 0 && stopped > 0, 'the TLS sockets were paused (not read)');
    await stillWorks(floods);
    for (const p of floods) p.close();
  } finally {
    await r.stop();
    rmSync(pki.dir, { recursive: true, force: true });
  }
});
