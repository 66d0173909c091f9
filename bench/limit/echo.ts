/**
 * The physical limit for request/response: a raw uWebSockets.js server that sends every
 * message straight back on the same socket (same frame type, same bytes). uWS corks the sends
 * made inside the message handler, as the router corks its writes per batch.
 */
import { listen, loadNativeUws, type LimitConn, upgrade, WS_OPTIONS } from './common.js';

const uws = loadNativeUws();
const app = uws.App();
app.ws<LimitConn>('/*', {
  ...WS_OPTIONS,
  compression: uws.DISABLED,
  upgrade,
  message: (ws, data, isBinary) => {
    ws.send(data, isBinary);
  },
});
listen(uws, app, 'echo limit');
