// AutobahnJS logs every connection close through console.warn (bound when it loads). Those
// lines are expected in tests and bury real failures, so they are filtered here; this module
// must be imported before 'autobahn'.
const warn = console.warn.bind(console);
const EXPECTED = /^(connection closed|auto-reconnect disabled!|session closed)/;
console.warn = (...args: unknown[]) => {
  if (typeof args[0] === 'string' && EXPECTED.test(args[0])) return;
  warn(...args);
};
