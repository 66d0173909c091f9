/**
 * Entry point of a realm worker thread. It owns the routing state of the realms assigned to it
 * and talks to the main thread over one MessagePort (see src/shared/ipc/protocol.ts).
 */
import { type MessagePort, workerData } from 'node:worker_threads';
import { IpcBytes, Outbox } from '../src/shared/ipc/outbox.js';
import { type DebugFailMode, Op, type OpHandlers, type ToMainOps, type ToWorkerOps, type WorkerStartup } from '../src/shared/ipc/protocol.js';
import { readToWorker, rejectedConn } from '../src/shared/ipc/reader.js';
import { createLogger } from '../src/shared/log.js';
import { CloseCode, MsgType } from '../src/shared/wamp/codes.js';
import { isMessage, NOT_A_MESSAGE } from '../src/shared/wamp/messages.js';
import { Uri } from '../src/shared/wamp/uris.js';
import { InternalOutput } from './auth/internal-caller.js';
import { AuthService } from './auth/service.js';
import { Bridges } from './bridge.js';
import { ClusterLink } from './cluster.js';
import { Membership } from './cluster/membership.js';
import { metaPart } from './cluster/meta.js';
import { ClusterRpc } from './cluster/rpc.js';
import { ClusterWills } from './cluster/wills.js';
import { Drain } from './drain.js';
import { noteFrame } from './limits.js';
import { Realm } from './realm.js';
import type { Session } from './session.js';
import { countBatchIn, StatsReporter } from './stats.js';

const { startup, port } = workerData as { startup: WorkerStartup; port: MessagePort };
const log = createLogger(startup.logLevel, { component: 'realm', worker: startup.workerIndex }, startup.logFormat);
const outbox = new Outbox<ToMainOps>(port);
const out: InternalOutput = new InternalOutput(outbox, log, (connId: number): number | undefined => {
  const s = sessionsByConn.get(connId);
  return s !== undefined ? s.transport.serIndex : auth.serIndexOf(connId);
});
const bytesIn = new IpcBytes();
outbox.onReject = (entry, err) => {
  // Output that cannot be cloned back to the main thread (a payload nested too deep): the
  // recipients are told by a close rather than left waiting; the rest of the batch went through.
  log.error({ err: String(err), op: entry[0] }, 'cannot pass a message to the main thread');
  // Only SEND carries decoded values (WELCOME, ABORT); everything else is bytes or numbers.
  const connId = rejectedConn(entry);
  if (connId !== undefined) failConn(connId, 'a message for this session could not be routed');
};
out.onEncodeError = (connId) => failConn(connId, 'a message for this session could not be encoded');

/** Ends the session (or the opening one) on `connId` with ABORT wamp.error.internal_error and a 1011 close. */
function failConn(connId: number, message: string): void {
  const s = sessionsByConn.get(connId);
  if (s !== undefined) s.realm.abort(s, Uri.INTERNAL_ERROR, message, CloseCode.INTERNAL);
  else {
    auth.closed(connId);
    out.close(connId, CloseCode.INTERNAL, Uri.INTERNAL_ERROR);
  }
}
const sessionsByConn = new Map<number, Session>();
const realms = new Map<string, Realm>();
const auth = new AuthService(startup.auth, startup.authOptions, realms, out, log);
for (const cfg of startup.realms) realms.set(cfg.name, new Realm(cfg, out, log, sessionsByConn, auth));
// Session statistics (realm `stats`): the size of each message sent to a session that keeps them.
if (startup.realms.some((r) => r.stats != null)) {
  out.countSent = (connId, bytes) => {
    const st = sessionsByConn.get(connId)?.stats;
    if (st != null) st.sent(bytes);
  };
}
const stats = new StatsReporter(outbox, realms, startup.statsIntervalMs);
// The HTTP bridge services of these realms (docs/http-bridge.md): one internal session each.
const bridges = new Bridges(startup.bridges, realms, out, outbox, log);
bridges.start();
// The cluster link (docs/cluster.md): this worker's own NATS connection, never the main thread's.
const cluster = startup.cluster === null ? null : new ClusterLink(startup.cluster, startup.workerIndex, log);
if (cluster !== null) {
  for (const [name, realm] of realms) {
    cluster.attach(name, realm.broker, realm.sessions);
    cluster.answerMeta(name, (procedure, args, kwargs) => metaPart(realm, procedure, args, kwargs));
  }
  // Membership and RPC across nodes (workers/cluster/membership.ts, rpc.ts).
  const membership = new Membership(cluster, log);
  const rpc = new ClusterRpc(membership, out, log);
  for (const realm of realms.values()) rpc.attach(realm);
  // A dead node's on_leave events and testaments, published by a survivor (workers/cluster/wills.ts).
  const wills = new ClusterWills(membership, cluster, log);
  for (const realm of realms.values()) wills.attach(realm);
  stats.clusterConnected = () => cluster.connected;
  stats.clusterStats = () => ({ ...cluster.takeStats(), ...rpc.inFlight() });
  // Up or down is reported at once (not at the next STATS interval): /ready follows the link.
  cluster.onChange = () => stats.report();
  cluster.start().catch((err: unknown) => log.error({ err: String(err) }, 'cluster: cannot connect to NATS'));
}
let drain: Drain | null = null;
/** Flow control (src/flow.ts): the last MARK consumed and not yet acknowledged, or -1. */
let ack = -1;
let ackScheduled = false;
const sendAck = (): void => {
  ackScheduled = false;
  if (ack < 0) return;
  outbox.push2(Op.ACK, ack);
  ack = -1;
  outbox.flush();
};

/** The STAMP of the batch being read, or -1. */
let stamp = -1;

/** What each operation from the main thread does (src/shared/ipc/protocol.ts; read by readToWorker). */
const handlers: OpHandlers<ToWorkerOps> = {
  RUN(count) {
    let k = count;
    while (k-- > 0) {
      const len = bytesIn.header();
      const connId = bytesIn.connId;
      const start = bytesIn.skip(len);
      const msg = decode(connId, bytesIn.current, start, start + len);
      if (msg !== undefined) {
        noteFrame(msg, len); // its size, for the byte limits (workers/limits.ts)
        frame(connId, msg, len);
      }
    }
    noteFrame(null, 0);
  },
  FRAME(connId, msg, bytes) {
    frame(connId, msg, bytes);
  },
  OPEN(connId, realmName, details, transport) {
    const realm = realms.get(realmName);
    if (realm === undefined) {
      out.send(connId, [MsgType.ABORT, { message: `no realm '${realmName}' on this worker` }, Uri.NO_SUCH_REALM]);
      out.close(connId, CloseCode.NORMAL, Uri.NO_SUCH_REALM);
    } else {
      safely(() => realm.hello(connId, details, transport), connId);
    }
  },
  CLOSED(connId) {
    const s = sessionsByConn.get(connId);
    if (s !== undefined) safely(() => s.realm.end(s, false), connId);
    else auth.closed(connId);
  },
  STAMP(time) {
    stamp = time;
  },
  MARK(bytes) {
    ack = bytes;
  },
  SHUTDOWN(drainMs) {
    if (drain === null) {
      auth.shutdown();
      drain = new Drain(realms.values(), log);
      drain.start(drainMs);
      cluster?.leaving(); // after the idle sessions' registrations were withdrawn
      // Every session left (its on_leave and testaments published): the other nodes drop this one now.
      if (cluster !== null) drain.whenDone(() => void cluster.close().catch((err: unknown) => log.warn({ err: String(err) }, 'cluster: closing the NATS link')));
    }
  },
  COLLECT() {
    stats.report();
  },
  BRIDGE(reqId, key, body, headers) {
    bridges.request(reqId, key, body, headers);
  },
  DEBUG_FAIL(mode) {
    debugFail(mode);
  },
  corrupt(op) {
    log.fatal({ op }, 'corrupt IPC batch from the main thread');
    throw new Error(`corrupt IPC batch: opcode ${String(op)}`);
  },
};

function onBatch(ops: unknown[]): void {
  countBatchIn();
  stamp = -1;
  readToWorker(ops, bytesIn, handlers);
  if (drain?.pending) drain.check();
  // What this batch caused goes back (in MAX_BATCH_OPS pieces, the last one now), with the batch's
  // STAMP so the main thread can time main receive → routed here → bytes out.
  if (stamp >= 0 && outbox.size > 0) outbox.push2(Op.ROUTED, stamp);
  // The bytes consumed go back with this batch's output, or once per event-loop turn (never per message).
  if (ack >= 0 && outbox.size > 0) {
    outbox.push2(Op.ACK, ack);
    ack = -1;
  }
  outbox.flush();
  if (ack >= 0 && !ackScheduled) {
    ackScheduled = true;
    setImmediate(sendAck);
  }
}

/** One message from `connId`; `bytes`: its frame's size (session statistics). */
function frame(connId: number, msg: unknown[], bytes: number): void {
  const s = sessionsByConn.get(connId);
  if (s !== undefined) {
    if (s.stats !== null) s.stats.received(bytes);
    s.realm.dispatch(s, msg);
  } else safely(() => auth.frame(connId, msg), connId);
  // else: the session ended in this batch (ABORT); its remaining frames are dropped.
}

/**
 * A frame as the client sent it (a RUN record), decoded with its connection's serializer; a frame that
 * does not decode to a WAMP message ends that session (ABORT protocol_violation, close 1002),
 * exactly as when the main thread finds it.
 */
function decode(connId: number, area: Uint8Array, start: number, end: number): unknown[] | undefined {
  const ser = out.serializer(connId);
  if (ser === undefined) return undefined; // the session ended in this batch
  let msg: unknown;
  try {
    // Decoded from a view of exactly its bytes, never from the batch's area with a start and end:
    // msgpackr bounds only length-prefixed reads by the end it is given, so a crafted frame ending
    // in a fixed-width value (or using msgpackr's bundled-strings extension to move its read
    // position) read the bytes after it — another connection's record
    // (test/integration/raw-frames.test.ts). Through a view, a read past the frame fails (the
    // decoder's DataView and indexing are bounded by the view) and the frame is malformed.
    msg = ser.decode(area.subarray(start, end));
  } catch (e) {
    violation(connId, `malformed ${ser.name} message: ${(e as Error).message}`);
    return undefined;
  }
  if (!isMessage(msg)) {
    violation(connId, NOT_A_MESSAGE);
    return undefined;
  }
  return msg;
}

function violation(connId: number, message: string): void {
  const s = sessionsByConn.get(connId);
  if (s !== undefined) {
    log.info({ session: s.id, conn: connId, peer: s.transport.peer, reason: message }, 'protocol violation');
    s.realm.abort(s, Uri.PROTOCOL_VIOLATION, message, CloseCode.PROTOCOL_ERROR);
  } else {
    auth.closed(connId);
    out.send(connId, [MsgType.ABORT, { message }, Uri.PROTOCOL_VIOLATION]);
    out.close(connId, CloseCode.PROTOCOL_ERROR, Uri.PROTOCOL_VIOLATION);
  }
}

/**
 * Tests only (Router.debugFailWorker): die the way a real fault would. The main thread sends
 * DEBUG_FAIL only when the router was started with the debugHooks option, which neither the
 * config nor the environment can set; a worker started without it ignores the op as well.
 */
function debugFail(mode: DebugFailMode): void {
  if (!startup.debugHooks) {
    log.warn({ mode }, 'DEBUG_FAIL ignored: debug hooks are not enabled');
    return;
  }
  log.warn({ mode }, 'DEBUG_FAIL: failing on purpose');
  if (mode === 'exit') process.exit(70);
  if (mode === 'oom') {
    if (startup.maxHeapMb === 0) throw new Error('DEBUG_FAIL oom needs worker_max_heap_mb');
    const hog: number[][] = [];
    for (;;) hog.push(new Array<number>(1 << 20).fill(hog.length));
  }
  // Thrown outside any try, from a timer: an uncaught exception, as a bug would be.
  setImmediate(() => {
    throw new Error('DEBUG_FAIL: deliberate uncaught exception');
  });
}

/** Runs a step for one connection; a bug is contained to that connection. */
function safely(fn: () => void, connId: number): void {
  try {
    fn();
  } catch (err) {
    log.error({ err, conn: connId }, 'internal error');
    const s = sessionsByConn.get(connId);
    if (s !== undefined) s.realm.abort(s, Uri.INTERNAL_ERROR, 'internal router error', CloseCode.INTERNAL);
    else out.close(connId, CloseCode.INTERNAL, Uri.INTERNAL_ERROR);
  }
}

port.on('message', onBatch);
stats.start();
log.debug({ realms: [...realms.keys()] }, 'realm worker started');
