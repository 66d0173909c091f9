import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildConfig, ConfigError, loadConfig } from '../../src/config/load.js';
import { DEFAULT_CONFIG } from '../../src/config/default.js';

const EXAMPLE = new URL('../../../config/example.json', import.meta.url).pathname;

function router(overrides: Record<string, unknown> = {}, transport: Record<string, unknown> = {}) {
  return {
    version: 2,
    workers: [
      {
        type: 'router',
        realms: [{ name: 'realm1', roles: [{ name: 'anonymous', 'allow-by-default': true }] }],
        transports: [{ type: 'websocket', endpoint: { type: 'tcp', port: 8080 }, ...transport }],
        ...overrides,
      },
    ],
  };
}

function refused(raw: unknown, pattern: RegExp, env: NodeJS.ProcessEnv = {}) {
  assert.throws(() => buildConfig(raw, env), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match(e.message, pattern);
    return true;
  });
}

describe('embedded default', () => {
  test('ws://127.0.0.1:8080/ws, realm1, anonymous allowed everything', () => {
    const c = buildConfig(DEFAULT_CONFIG, {});
    assert.equal(c.transports.length, 1);
    const t = c.transports[0]!;
    assert.deepEqual([t.host, t.port, t.url, t.serializers], ['127.0.0.1', 8080, 'ws://127.0.0.1:8080/ws', ['json', 'msgpack']]);
    assert.deepEqual(t.auth, { anonymous: { type: 'static', role: 'anonymous' } });
    assert.equal(t.maxMessageSize, 16 * 1024 * 1024);
    assert.deepEqual(c.realms.map((r) => [r.name, r.options.uri_check, r.roles[0]!.name]), [['realm1', 'strict', 'anonymous']]);
    assert.equal(c.realmThreads, 1);
    assert.equal(c.logLevel, 'info');
    assert.equal(c.allowUwsFallback, false);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.transports[0]));
  });

  test('loadConfig() without a file is the embedded default', () => {
    assert.deepEqual(loadConfig(undefined, {}), buildConfig(DEFAULT_CONFIG, {}));
  });

  test('environment overrides port, interface, log level, threads', () => {
    const c = buildConfig(DEFAULT_CONFIG, {
      CROSSWIRE_PORT: '0',
      CROSSWIRE_INTERFACE: '::1',
      CROSSWIRE_LOG_LEVEL: 'warn',
      CROSSWIRE_REALM_THREADS: '4',
      CROSSWIRE_ALLOW_UWS_FALLBACK: 'true',
    });
    assert.deepEqual([c.transports[0]!.port, c.transports[0]!.host, c.logLevel, c.realmThreads, c.allowUwsFallback], [0, '::1', 'warn', 1, true]);
    refused(DEFAULT_CONFIG, /crosswire\.port: must be a TCP port/, { CROSSWIRE_PORT: '99999' });
    refused(DEFAULT_CONFIG, /crosswire\.log_level: must be one of/, { CROSSWIRE_LOG_LEVEL: 'loud' });
  });
});

describe('Crossbar-style files', () => {
  test('the example config loads; "$VAR" ports come from the environment', () => {
    const c = loadConfig(EXAMPLE, { DEVICE_PORT: '9001' });
    assert.deepEqual(c.transports.map((t) => [t.id, t.host, t.port]), [
      ['transport1', '127.0.0.1', 8080],
      ['devices', '0.0.0.0', 9001],
    ]);
    assert.equal(c.transports[0]!.maxMessageSize, 1048576);
    assert.deepEqual(c.transports[1]!.auth, { anonymous: { type: 'static', role: 'device' } });
    assert.equal(c.realms[1]!.options.uri_check, 'loose');
    assert.throws(() => loadConfig(EXAMPLE, {}), /transports\[1\]\.endpoint\.port: environment variable DEVICE_PORT must hold a TCP port/);
  });

  test('unknown keys anywhere are errors that name the full path', () => {
    refused({ ...router(), extra: 1 }, /^extra: unknown key/m);
    refused(router({}, { options: { max_mesage_size: 1 } }), /workers\[0\]\.transports\[0\]\.options\.max_mesage_size: unknown key/);
    refused(router({}, { endpoint: { type: 'tcp', port: 1, bakclog: 10 } }), /workers\[0\]\.transports\[0\]\.endpoint\.bakclog: unknown key/);
    refused(router({ realms: [{ name: 'realm1', roles: [], store: {} }] }), /workers\[0\]\.realms\[0\]\.store: unknown key/);
    refused(
      router({ realms: [{ name: 'realm1', roles: [{ name: 'r', permissions: [{ uri: 'a', allow: { cal: true } }] }] }] }),
      /workers\[0\]\.realms\[0\]\.roles\[0\]\.permissions\[0\]\.allow\.cal: unknown key/,
    );
  });

  test('features not implemented yet are refused by name, never ignored', () => {
    refused(router({}, { auth: { ticket: { type: 'static', principals: {} } } }), /auth\.ticket: method 'ticket' is not implemented yet/);
    refused(router({}, { cookie: { store: { type: 'memory', filename: 'x' } } }), /transports\[0\]\.cookie\.store\.filename: not a key of a 'memory' cookie store/);
    refused(router({}, { type: 'rawsocket' }), /transports\[0\]\.type: 'rawsocket' transports are not implemented yet/);
    refused(router({}, { endpoint: { type: 'twisted', server_string: 'tcp:80' } }), /endpoint\.type: 'twisted' endpoints are not implemented/);
    refused(
      { version: 2, workers: [router().workers[0], { type: 'container', components: [] }] },
      /workers\[1\]\.type: 'container' workers are not implemented yet/,
    );
    refused(router({ realms: [{ name: 'realm1', roles: [{ name: 'r', authorizer: 'com.x.authorize' }] }] }), /dynamic authorizers are not implemented yet/);
  });

  test('values are checked', () => {
    refused({ ...router(), version: 1 }, /^version: must be one of the possible values: \[2\]/m);
    refused(router({ realms: [{ name: 'ab' }] }), /realms\[0\]\.name: is required and must match/);
    refused(router({}, { endpoint: { type: 'tcp' } }), /endpoint\.port: is required/);
    refused(router({}, { serializers: ['json', 'ubjson'] }), /serializers: 'ubjson' is not a supported serializer/);
    refused(router({}, { options: { max_message_size: 128 * 1024 * 1024 } }), /max_message_size: must be an integer from 0 to 67108864/);
    refused(router({}, { auth: { anonymous: { type: 'static', role: 'nobody' } } }), /auth\.anonymous\.role: no realm has a role 'nobody'/);
    refused(router({ realms: [] }), /at least one realm is required/);
    refused(router({ realms: [{ name: 'realm1' }, { name: 'realm1' }] }), /realm 'realm1' is defined twice/);
    refused(router({}, { id: 'Bad Id' }), /transports\[0\]\.id: must match/);
  });

  test('a file that is not JSON, or not there, is a clear error', () => {
    assert.throws(() => loadConfig('/nonexistent/crosswire.json', {}), /cannot read config file \/nonexistent\/crosswire.json/);
    assert.throws(() => loadConfig(new URL('../../../package.json', import.meta.url).pathname.replace('package.json', 'tsconfig.json'), {}), ConfigError);
  });
});
