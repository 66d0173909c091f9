// AutobahnJS logs every connection close through console.warn (bound when it loads). Those
// lines are expected in tests and bury real failures, so they are filtered here; this module
// must be imported before 'autobahn'.
const warn = console.warn.bind(console);
const EXPECTED = /^(connection closed|auto-reconnect disabled!|session closed)/;
console.warn = (...args: unknown[]) => {
  if (typeof args[0] === 'string' && EXPECTED.test(args[0])) return;
  warn(...args);
};

// AutobahnJS uses the global WebSocket when there is one (Node >= 22 has undici's) and `ws`
// otherwise. The global one ignores the HTTP options the tests pass (a TLS agent with the test
// CA, Cookie headers), so on Node 22/24 those tests could not connect as they do on Node 20.
// Tests use `ws` on every Node, as the router's own container processes do (src/container/host-process.ts).
delete (globalThis as { WebSocket?: unknown }).WebSocket;
