/**
 * Entry point of a realm worker thread. It owns the routing state of the realms assigned to it
 * and talks to the main thread over one MessagePort (see src/ipc/protocol.ts).
 */
import { type MessagePort, workerData } from 'node:worker_threads';
import { Outbox } from '../src/ipc/outbox.js';
import { Op, type TransportInfo, type WorkerStartup } from '../src/ipc/protocol.js';
import { createLogger } from '../src/log.js';
import { Uri } from '../src/wamp/uris.js';
import { InternalOutput } from './auth/internal-caller.js';
import { AuthService } from './auth/service.js';
import { CloseCode, Realm } from './realm.js';
import type { Session } from './session.js';

const { startup, port } = workerData as { startup: WorkerStartup; port: MessagePort };
const log = createLogger(startup.logLevel, { worker: startup.workerIndex });
const outbox = new Outbox(port);
const out = new InternalOutput(outbox);
outbox.onReject = (entry, err) => {
  // Output that cannot be cloned back to the main thread (a payload nested too deep): the
  // recipients are told by a close rather than left waiting; the rest of the batch went through.
  log.error({ err: String(err), op: entry[0] }, 'cannot pass a message to the main thread');
  const targets = entry[0] === Op.FANOUT ? (entry[1] as number[]) : [entry[1] as number];
  for (const connId of targets) {
    const s = sessionsByConn.get(connId);
    if (s !== undefined) s.realm.abort(s, Uri.INTERNAL_ERROR, 'a message for this session could not be routed', CloseCode.INTERNAL);
  }
};
const sessionsByConn = new Map<number, Session>();
const realms = new Map<string, Realm>();
const auth = new AuthService(startup.auth, startup.authOptions, realms, out, log);
for (const cfg of startup.realms) realms.set(cfg.name, new Realm(cfg, out, log, sessionsByConn, auth));

function onBatch(ops: unknown[]): void {
  const n = ops.length;
  let i = 0;
  while (i < n) {
    const op = ops[i] as number;
    switch (op) {
      case Op.FRAME: {
        const connId = ops[i + 1] as number;
        const msg = ops[i + 2] as unknown[];
        i += 3;
        const s = sessionsByConn.get(connId);
        if (s !== undefined) s.realm.dispatch(s, msg);
        else safely(() => auth.frame(connId, msg), connId);
        // else: the session ended in this batch (ABORT); its remaining frames are dropped.
        break;
      }
      case Op.OPEN: {
        const connId = ops[i + 1] as number;
        const realmName = ops[i + 2] as string;
        const details = ops[i + 3];
        const transport = ops[i + 4] as TransportInfo;
        i += 5;
        const realm = realms.get(realmName);
        if (realm === undefined) {
          out.send(connId, [3, { message: `no realm '${realmName}' on this worker` }, Uri.NO_SUCH_REALM]);
          out.close(connId, CloseCode.NORMAL, Uri.NO_SUCH_REALM);
        } else {
          safely(() => realm.hello(connId, details, transport), connId);
        }
        break;
      }
      case Op.CLOSED: {
        const connId = ops[i + 1] as number;
        i += 2;
        const s = sessionsByConn.get(connId);
        if (s !== undefined) safely(() => s.realm.end(s, false), connId);
        else auth.closed(connId);
        break;
      }
      case Op.SHUTDOWN: {
        i += 1;
        auth.shutdown();
        for (const realm of realms.values()) realm.shutdown();
        break;
      }
      default:
        log.fatal({ op }, 'corrupt IPC batch from the main thread');
        throw new Error(`corrupt IPC batch: opcode ${String(op)}`);
    }
  }
  // Everything this batch caused goes back in one postMessage.
  outbox.flush();
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
log.debug({ realms: [...realms.keys()] }, 'realm worker started');
