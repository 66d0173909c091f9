import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildConfig, ConfigError, type TransportConfig } from '../../src/config/load.js';
import { deflateFlags } from '../../src/config/transport.js';
import { PRODUCTION_OPTIONS } from '../helpers/crossbar-examples.js';

function config(transport: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) {
  return buildConfig(
    {
      version: 2,
      workers: [
        {
          type: 'router',
          realms: [{ name: 'realm1', roles: [{ name: 'anonymous', 'allow-by-default': true }] }],
          transports: [{ type: 'websocket', endpoint: { type: 'tcp', port: 8080 }, ...transport }],
        },
      ],
    },
    env,
    '/srv/node',
  );
}
const transport = (t: Record<string, unknown>): TransportConfig => config(t).transports[0]!;

function refused(t: Record<string, unknown>, pattern: RegExp) {
  assert.throws(() => config(t), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match(e.message, pattern);
    return true;
  });
}

describe('WebSocket options', () => {
  test("Crossbar's effective defaults", () => {
    const t = transport({});
    assert.deepEqual(t.ws, {
      allowedOrigins: ['*'],
      allowNullOrigin: true,
      externalPort: null,
      enableHybi10: true,
      enableRfc6455: true,
      openHandshakeTimeout: 0,
      closeHandshakeTimeout: 0,
      enableWebstatus: true,
      validateUtf8: true,
      maxFrameSize: 0,
      autoFragmentSize: 0,
      failByDrop: false,
      echoCloseCodereason: false,
      autoPingInterval: 0,
      autoPingTimeout: 0,
      autoPingSize: 12,
      autoPingRestartOnAnyTraffic: true,
      compression: 0,
      requireWebsocketSubprotocol: true,
      showServerVersion: false,
      maxConnections: 0,
      trustedProxies: [],
      maxBackpressure: 16 * 1024 * 1024,
    });
    assert.equal(t.maxMessageSize, 16 * 1024 * 1024);
    assert.equal(t.cookie, null);
  });

  test('the production example of the Crossbar.io docs loads unchanged', () => {
    const t = transport({ options: PRODUCTION_OPTIONS });
    assert.equal(t.maxMessageSize, 1048576);
    assert.equal(t.ws.autoPingInterval, 10000);
    assert.equal(t.ws.failByDrop, true);
    assert.equal(t.ws.enableWebstatus, false);
  });

  test('Crossbar-only keys at their only possible values are accepted', () => {
    const t = transport({
      options: { mask_server_frames: false, require_masked_client_frames: true, apply_mask: true, tcp_nodelay: true, enable_flash_policy: false, validate_utf8: false },
    });
    assert.equal(t.ws.validateUtf8, false);
  });

  test('a misspelled option fails naming it', () => {
    refused({ options: { auto_ping_intervall: 1000 } }, /^workers\[0\]\.transports\[0\]\.options\.auto_ping_intervall: unknown key/);
    refused({ options: { utf8validation: true } }, /options\.utf8validation: unknown key/);
    refused({ options: { compression: { deflate: { memory_levle: 4 } } } }, /options\.compression\.deflate\.memory_levle: unknown key/);
    refused({ options: { compression: { gzip: {} } } }, /options\.compression\.gzip: unknown compression/);
  });

  test("Crossbar's value rules", () => {
    refused({ options: { auto_ping_interval: 500 } }, /auto_ping_interval: is in milliseconds; 500 is too small/);
    refused({ options: { auto_ping_interval: 2 ** 31 } }, /auto_ping_interval: is in milliseconds; 2147483648 is more than a timer can wait/);
    refused({ options: { open_handshake_timeout: 10 } }, /open_handshake_timeout: is in milliseconds; 10 is too small/);
    refused({ options: { close_handshake_timeout: -1 } }, /close_handshake_timeout: must be an integer/);
    refused({ options: { auto_ping_size: 11 } }, /auto_ping_size: must be an integer from 12 to 125/);
    refused({ options: { auto_ping_size: 126 } }, /auto_ping_size: must be an integer from 12 to 125/);
    refused({ options: { max_message_size: 64 * 1024 * 1024 + 1 } }, /max_message_size: must be an integer from 0 to 67108864/);
    refused({ options: { external_port: 0 } }, /external_port: must be an integer from 1 to 65535/);
    refused({ options: { allowed_origins: 'https://x' } }, /allowed_origins: must be a list of strings/);
    refused({ options: { trusted_proxies: ['10.0.0.0/33'] } }, /trusted_proxies: '10\.0\.0\.0\/33' is not an IP address or CIDR block/);
    refused({ options: { compression: { deflate: { max_window_bits: 8 } } } }, /max_window_bits: must be an integer from 9 to 15/);
    refused({ options: { compression: { deflate: { request_max_window_bits: 16 } } } }, /request_max_window_bits: must be an integer from 9 to 15/);
    refused({ options: { compression: { deflate: { memory_level: 10 } } } }, /memory_level: must be an integer from 1 to 9/);
  });

  test('values uWebSockets.js cannot honour are refused by name', () => {
    refused({ options: { tcp_nodelay: false } }, /options\.tcp_nodelay: uWebSockets\.js always sets TCP_NODELAY/);
    refused({ options: { mask_server_frames: true } }, /options\.mask_server_frames: uWebSockets\.js never masks/);
    refused({ options: { require_masked_client_frames: false } }, /options\.require_masked_client_frames:/);
    refused({ options: { apply_mask: false } }, /options\.apply_mask:/);
    refused({ options: { enable_flash_policy: true } }, /options\.enable_flash_policy: Flash policy serving is not implemented/);
    refused({ options: { flash_policy: '<x/>' } }, /options\.flash_policy: Flash policy serving is not implemented/);
    refused({ options: { enable_hybi10: false, enable_rfc6455: false } }, /options\.enable_rfc6455: with enable_hybi10 also false/);
    refused({ options: { auto_ping_timeout: 2000 } }, /options\.auto_ping_timeout: needs auto_ping_interval/);
    refused({ endpoint: { type: 'tcp', port: 1, user_timeout: 1000 } }, /endpoint\.user_timeout: uWebSockets\.js cannot set TCP_USER_TIMEOUT/);
    assert.equal(transport({ endpoint: { type: 'tcp', port: 1, backlog: 512, shared: false } }).port, 1);
    assert.deepEqual(config({ endpoint: { type: 'tcp', port: 1, backlog: 512 } }).warnings, []);
  });

  test('values applied differently start with one warning naming the key, the value and what applies', () => {
    const uwsBacklog = (n: number) =>
      `workers[0].transports[0].endpoint.backlog: ${n} is not applied: uWebSockets.js always listens with a backlog of 512; ` +
      'it applies where Node.js listens (rawsocket and universal transports, and those with ca_certificates)';
    // WebSocket and web transports (tcp, TLS by uWS, unix): uWebSockets.js listens.
    assert.deepEqual(config({ endpoint: { type: 'tcp', port: 1, backlog: 50 } }).warnings, [uwsBacklog(50)]);
    assert.deepEqual(config({ endpoint: { type: 'unix', path: 's', backlog: 1024 } }).warnings, [uwsBacklog(1024)]);
    assert.deepEqual(config({ type: 'web', endpoint: { type: 'tcp', port: 1, backlog: 50, tls: { key: 'k', certificate: 'c' } }, paths: { ws: { type: 'websocket' } } }).warnings, [uwsBacklog(50)]);
    const w = config({ endpoint: { type: 'tcp', port: 443, tls: { key: 'k', certificate: 'c', dhparam: 'dh.pem' } } }).warnings;
    assert.equal(w.length, 1);
    assert.match(w[0]!, /^workers\[0\]\.transports\[0\]\.endpoint\.tls\.dhparam: 'dh\.pem' is not used: .*BoringSSL.* no DHE .*ECDHE suites/);
    // Client certificates: required, as in Crossbar (Node.js terminates such a transport's TLS): nothing to say.
    assert.deepEqual(config({ endpoint: { type: 'tcp', port: 443, tls: { key: 'k', certificate: 'c', ca_certificates: ['ca.pem'] } } }).warnings, []);
  });

  test('endpoint.backlog is applied, without a warning, where Node.js listens', () => {
    const applied = (t: Record<string, unknown>, backlog: number) => {
      const c = config(t);
      assert.deepEqual(c.warnings, []);
      assert.equal(c.transports[0]!.endpoint.backlog, backlog);
    };
    applied({ type: 'rawsocket', endpoint: { type: 'tcp', port: 1, backlog: 1000 } }, 1000);
    applied({ type: 'rawsocket', endpoint: { type: 'unix', path: 's', backlog: 50 } }, 50);
    applied({ type: 'universal', endpoint: { type: 'tcp', port: 1, backlog: 1024 }, rawsocket: {} }, 1024);
    // TLS with ca_certificates: Node.js terminates it (the TLS front), so its net.Server listens.
    applied({ endpoint: { type: 'tcp', port: 443, backlog: 1024, tls: { key: 'k', certificate: 'c', ca_certificates: ['ca.pem'] } } }, 1024);
    applied({ type: 'web', endpoint: { type: 'tcp', port: 443, backlog: 2048, tls: { key: 'k', certificate: 'c', ca_certificates: ['ca.pem'] } }, paths: { ws: { type: 'websocket' } } }, 2048);
    // Absent: null (the listener's default).
    assert.equal(transport({ type: 'rawsocket', endpoint: { type: 'tcp', port: 1 } }).endpoint.backlog, null);
  });

  test('endpoint.shared: SO_REUSEPORT on request, an exclusive port by default', () => {
    const shared = (e: Record<string, unknown>) => {
      const ep = transport({ endpoint: { type: 'tcp', port: 1, ...e } }).endpoint;
      assert.equal(ep.type, 'tcp');
      return ep.type === 'tcp' && ep.shared;
    };
    assert.equal(shared({}), false);
    assert.equal(shared({ shared: true }), true);
  });

  test('max_frame_size bounds whole messages (uWS reassembles fragments)', () => {
    assert.equal(transport({ options: { max_frame_size: 4096 } }).maxMessageSize, 4096);
    assert.equal(transport({ options: { max_frame_size: 4096, max_message_size: 1024 } }).maxMessageSize, 1024);
    assert.equal(transport({ options: { max_message_size: 0 } }).maxMessageSize, 64 * 1024 * 1024);
  });
});

describe('permessage-deflate → uWS CompressOptions', () => {
  const d = (o: Record<string, unknown>) => ({ request_no_context_takeover: false, request_max_window_bits: 0, no_context_takeover: null, max_window_bits: null, memory_level: null, ...o });
  test("Crossbar's defaults: a 15-bit window at memLevel 8 each way (uWS DEDICATED_COMPRESSOR | DEDICATED_DECOMPRESSOR)", () => {
    assert.equal(deflateFlags(d({})), (15 << 4) | 8 | (15 << 8));
    assert.equal(transport({ options: { compression: { deflate: {} } } }).ws.compression, (15 << 4) | 8 | (15 << 8));
  });
  test("the docs' recommendation: 11-bit windows, memLevel 4", () => {
    assert.equal(deflateFlags(d({ request_max_window_bits: 11, max_window_bits: 11, memory_level: 4 })), (11 << 4) | 4 | (11 << 8));
  });
  test('no context takeover → the shared (stateless) compressor / decompressor', () => {
    assert.equal(deflateFlags(d({ no_context_takeover: true, request_no_context_takeover: true })), 1 | (1 << 8));
  });
  test('compression without deflate is off', () => {
    assert.equal(transport({ options: { compression: {} } }).ws.compression, 0);
  });
});

describe('endpoints', () => {
  test('tcp: interface, version, "$VAR" port, portrange', () => {
    assert.deepEqual([transport({ endpoint: { type: 'tcp', port: 9, version: 6 } }).host], ['::']);
    assert.equal(config({ endpoint: { type: 'tcp', port: '$P' } }, { P: '9100' }).transports[0]!.port, 9100);
    const r = transport({ endpoint: { type: 'tcp', portrange: [9100, 9110] } });
    assert.deepEqual([r.port, r.endpoint.type === 'tcp' && r.endpoint.portRange], [9100, [9100, 9110]]);
    refused({ endpoint: { type: 'tcp', portrange: [9110, 9100] } }, /portrange: must be \[low, high\]/);
    refused({ endpoint: { type: 'tcp', port: 1, portrange: [1, 2] } }, /endpoint\.portrange: give either port or portrange/);
    refused({ endpoint: { type: 'tcp' } }, /endpoint\.port: is required/);
  });
  test('unix: path relative to the config directory', () => {
    const t = transport({ endpoint: { type: 'unix', path: 'router.sock' } });
    assert.deepEqual(t.endpoint, { type: 'unix', path: '/srv/node/router.sock', backlog: null });
    refused({ endpoint: { type: 'unix' } }, /endpoint\.path: is required/);
    refused({ endpoint: { type: 'unix', path: 'x', port: 1 } }, /endpoint\.port: unknown key/);
  });
  test('tls: files relative to the config directory, Crossbar cipher default, no IPv6', () => {
    const t = transport({ endpoint: { type: 'tcp', port: 443, tls: { key: 'k.pem', certificate: 'c.pem', ca_certificates: ['ca.pem'] } } });
    assert.ok(t.endpoint.type === 'tcp' && t.endpoint.tls !== null);
    assert.equal(t.endpoint.tls.key, '/srv/node/k.pem');
    assert.deepEqual(t.endpoint.tls.caCertificates, ['/srv/node/ca.pem']);
    assert.match(t.endpoint.tls.ciphers, /^ECDHE-RSA-AES128-GCM-SHA256:/);
    refused({ endpoint: { type: 'tcp', port: 443, tls: { key: 'k.pem' } } }, /endpoint\.tls\.certificate: is required/);
    refused({ endpoint: { type: 'tcp', port: 443, version: 6, tls: { key: 'k', certificate: 'c' } } }, /endpoint\.version: TLS over IPv6 is not implemented/);
    refused({ endpoint: { type: 'tcp', port: 443, tls: { key: 'k', certificate: 'c', ca_certs: [] } } }, /endpoint\.tls\.ca_certs: unknown key/);
  });
});

describe('cookie', () => {
  test("Crossbar's code defaults (max_age 7 days, not the docs' 1 day); memory store by default", () => {
    assert.deepEqual(transport({ cookie: {} }).cookie, {
      name: 'cbtid',
      length: 24,
      maxAge: 604800,
      secure: false,
      httpStrict: false,
      sameSite: null,
      store: { type: 'memory' },
      maxAnonymous: 10_000,
      maxPerPrincipal: 100,
    });
  });
  test('stores and validation', () => {
    assert.deepEqual(transport({ cookie: { store: { type: 'file', filename: 'cookies.jsonl', purge_on_startup: true } } }).cookie!.store, {
      type: 'file',
      filename: '/srv/node/cookies.jsonl',
      purgeOnStartup: true,
    });
    assert.equal(transport({ cookie: { store: { type: 'database', path: 'db' } } }).cookie!.store.type, 'database');
    refused({ cookie: { name: 'Bad' } }, /cookie\.name: must match/);
    refused({ cookie: { length: 5 } }, /cookie\.length: must be an integer from 6 to 64/);
    refused({ cookie: { max_age: 0 } }, /cookie\.max_age: must be an integer from 1 to 311040000/);
    refused({ cookie: { same_site: 'strict' } }, /cookie\.same_site: must be one of/);
    refused({ cookie: { store: { type: 'file' } } }, /cookie\.store\.filename: is required/);
    refused({ cookie: { store: { type: 'database' } } }, /cookie\.store\.path: is required/);
    refused({ cookie: { store: { type: 'database', path: 'db', maxsize: 1 } } }, /cookie\.store\.maxsize: must be an integer/);
    refused({ cookie: { store: { type: 'lmdb' } } }, /cookie\.store\.type: must be one of/);
  });
});
