/**
 * The physical limit for publish/subscribe: a raw uWebSockets.js server using uWS's native
 * topics. A socket that connects on `/sub` is subscribed to one topic; every message any
 * socket sends is published to that topic as is (one copy of the bytes for all subscribers,
 * the fan-out done in C++). Subscribers receive exactly the bytes the publisher sent.
 */
import { listen, loadNativeUws, type LimitConn, upgrade, WS_OPTIONS } from './common.js';

const TOPIC = 'bench';
const uws = loadNativeUws();
const app = uws.App();
app.ws<LimitConn>('/*', {
  ...WS_OPTIONS,
  compression: uws.DISABLED,
  upgrade,
  open: (ws) => {
    if (ws.getUserData().sub) ws.subscribe(TOPIC);
  },
  message: (_ws, data, isBinary) => {
    app.publish(TOPIC, data, isBinary);
  },
});
listen(uws, app, 'fanout limit');
