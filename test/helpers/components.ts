// What the tests of container components share: the connecting transport to a router on this
// machine, and waiting until a component has registered.
import type { Session } from 'autobahn';
import { deferred, within } from './wait.js';

/** A component's connecting WebSocket transport to the router listening on 127.0.0.1:`port`, retrying quickly. */
export const transportTo = (port: number, serializers = ['msgpack']) => ({
  type: 'websocket',
  url: `ws://127.0.0.1:${port}/ws`,
  endpoint: { type: 'tcp', host: '127.0.0.1', port },
  serializers,
  reconnect: { initial_retry_delay: 0.1, max_retry_delay: 0.5, retry_delay_growth: 1.5 },
});

/** Resolves once `procedure` is registered on the router `s` is joined to (meta events, no polling loop). */
export async function registered(s: Session, procedure: string, ms = 10000): Promise<void> {
  const ready = deferred();
  const check = async () => {
    if ((await s.call('wamp.registration.lookup', [procedure])) !== null) ready.resolve();
  };
  await s.subscribe('wamp.registration.on_register', () => void check());
  await check();
  await within(ready.promise, ms, `${procedure} to be registered`);
}
