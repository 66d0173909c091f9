import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildConfig, ConfigError } from '../../src/config/load.js';

function config(transport: Record<string, unknown>) {
  return {
    version: 2,
    workers: [
      {
        type: 'router',
        realms: [{ name: 'realm1', roles: [{ name: 'anonymous', 'allow-by-default': true }] }],
        transports: [{ type: 'websocket', endpoint: { type: 'tcp', port: 8080 } }, { type: 'rawsocket', endpoint: { type: 'tcp', port: 8081 }, ...transport }],
      },
    ],
  };
}

function refused(transport: Record<string, unknown>, pattern: RegExp): void {
  assert.throws(() => buildConfig(config(transport), {}), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match(e.message, pattern);
    return true;
  });
}

test("rawsocket defaults: Crossbar's 16 MiB max_message_size (announced as exponent 15), every serializer, anonymous auth", () => {
  const t = buildConfig(config({}), {}).transports[1]!;
  assert.equal(t.id, 'transport2');
  assert.deepEqual(t.rawsocket, { maxMessageSize: 16 * 1024 * 1024, lengthExponent: 15, maxConnections: 0, handshakeTimeout: 10_000 });
  assert.deepEqual(t.serializers, ['cbor', 'msgpack', 'json']);
  assert.deepEqual(Object.keys(t.auth), ['anonymous']);
  assert.equal(t.ws.maxBackpressure, 16 * 1024 * 1024);
});

test('max_message_size: top level (Crossbar checkconfig, docs) or under options (Crossbar code); announced as the largest power of two not above it', () => {
  const top = buildConfig(config({ max_message_size: 100_000 }), {}).transports[1]!;
  assert.equal(top.maxMessageSize, 100_000);
  assert.equal(top.rawsocket!.lengthExponent, 7); // 2^16 = 64 KiB <= 100000 < 2^17
  const opt = buildConfig(config({ options: { max_message_size: 512, max_connections: 3, max_backpressure: 2048, handshake_timeout: 0 } }), {}).transports[1]!;
  assert.deepEqual(opt.rawsocket, { maxMessageSize: 512, lengthExponent: 0, maxConnections: 3, handshakeTimeout: 0 });
  assert.equal(opt.ws.maxBackpressure, 2048);
  const big = buildConfig(config({ max_message_size: 64 * 1024 * 1024 }), {});
  assert.equal(big.transports[1]!.maxMessageSize, 16 * 1024 * 1024);
  assert.ok(big.warnings.some((w) => /transports\[1\]\.max_message_size: 67108864 is not applied: a RawSocket handshake announces at most 16 MiB/.test(w)), big.warnings.join('\n'));
});

test('bad rawsocket keys are refused by name', () => {
  refused({ max_message_size: 4096, options: { max_message_size: 4096 } }, /transports\[1\]\.max_message_size: give max_message_size once/);
  refused({ max_message_size: 100 }, /transports\[1\]\.max_message_size: must be at least 512 bytes/);
  refused({ options: { max_message_size: 1 } }, /transports\[1\]\.options\.max_message_size: must be at least 512 bytes/);
  refused({ options: { auto_ping_interval: 1000 } }, /transports\[1\]\.options\.auto_ping_interval: unknown key/);
  refused({ cookie: {} }, /transports\[1\]\.cookie: unknown key/);
  refused({ serializers: ['ubjson'] }, /transports\[1\]\.serializers: 'ubjson' is not a supported serializer/);
  refused({ options: { max_backpressure: 10 } }, /transports\[1\]\.options\.max_backpressure: must be at least 1024 bytes/);
  refused({ auth: { ticket: { type: 'static', principals: {} }, cookie: {} } }, /transports\[1\]\.auth\.cookie: cookie authentication needs cookie tracking, which RawSocket/);
  refused({ auth: { tls: { type: 'static', principals: {} } } }, /transports\[1\]\.auth\.tls: TLS client certificate authentication needs a TLS endpoint with ca_certificates/);
  refused({ endpoint: {} }, /transports\[1\]\.endpoint\.port: is required/);
});
