/**
 * The physical limit for many publishers → few subscribers: a raw uWebSockets.js forwarder.
 * What arrives in one event-loop turn is copied once and written to every `/sub` socket in one
 * corked write at the end of the turn (the batching the router does, without any routing).
 * uWS's own publish() is slow here: it merges messages per sender, so with 100 senders it
 * spends several µs per message (see docs/performance.md).
 */
import type { WebSocket } from 'uWebSockets.js';
import { listen, loadNativeUws, type LimitConn, upgrade, WS_OPTIONS } from './common.js';

const uws = loadNativeUws();
const app = uws.App();
const subscribers = new Set<WebSocket<LimitConn>>();
let queued: { data: Buffer; binary: boolean }[] = [];
let scheduled = false;

function flush(): void {
  scheduled = false;
  const batch = queued;
  queued = [];
  for (const s of subscribers) {
    s.cork(() => {
      for (let i = 0; i < batch.length; i++) s.send(batch[i]!.data, batch[i]!.binary);
    });
  }
}

app.ws<LimitConn>('/*', {
  ...WS_OPTIONS,
  compression: uws.DISABLED,
  upgrade,
  open: (ws) => {
    if (ws.getUserData().sub) subscribers.add(ws);
  },
  close: (ws) => {
    subscribers.delete(ws);
  },
  message: (_ws, data, isBinary) => {
    // uWS neuters `data` when this returns: one copy, shared by every subscriber.
    queued.push({ data: Buffer.from(new Uint8Array(data)), binary: isBinary });
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  },
});
listen(uws, app, 'forward limit');
