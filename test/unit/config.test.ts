import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildConfig, ConfigError, loadConfig } from '../../src/config/load.js';
import { DEFAULT_CONFIG, DESTRUCTIVE_META_PROCEDURES } from '../../src/config/default.js';
import { RolePermissions } from '../../workers/authorizer.js';

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
  test('ws://127.0.0.1:8080/ws, realm1, anonymous allowed everything but the destructive meta procedures', () => {
    const c = buildConfig(DEFAULT_CONFIG, {});
    assert.equal(c.transports.length, 1);
    const t = c.transports[0]!;
    assert.deepEqual([t.host, t.port, t.url, t.serializers], ['127.0.0.1', 8080, 'ws://127.0.0.1:8080/ws', ['json', 'msgpack']]);
    assert.deepEqual(t.auth, { anonymous: { type: 'static', role: 'anonymous', authid: null } });
    assert.equal(t.maxMessageSize, 16 * 1024 * 1024);
    assert.deepEqual(c.realms.map((r) => [r.name, r.options.uri_check, r.roles[0]!.name]), [['realm1', 'strict', 'anonymous']]);
    assert.equal(c.realmThreads, 1);
    assert.equal(c.logLevel, 'info');
    assert.equal(c.allowUwsFallback, false);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.transports[0]));
  });

  test("the default's and the examples' open anonymous role: every URI but the destructive meta procedures", () => {
    const EXAMPLE_CONTAINER = new URL('../../../config/example-container.json', import.meta.url).pathname;
    const configs = [
      ['embedded default', buildConfig(DEFAULT_CONFIG, {})],
      ['config/example.json', loadConfig(EXAMPLE, { DEVICE_PORT: '9000' })],
      ['config/example-container.json', loadConfig(EXAMPLE_CONTAINER, {})],
    ] as const;
    for (const [name, c] of configs) {
      const anonymous = new RolePermissions(c.realms.find((r) => r.name === 'realm1')!.roles.find((r) => r.name === 'anonymous')!);
      for (const p of DESTRUCTIVE_META_PROCEDURES) assert.equal(anonymous.check(p, 'call').allow, false, `${name}: ${p}`);
      for (const p of ['wamp.session.count', 'wamp.session.list', 'wamp.session.get', 'wamp.registration.lookup', 'wamp.session.killer', 'com.example.kill_all']) {
        assert.equal(anonymous.check(p, 'call').allow, true, `${name}: ${p}`);
      }
      for (const action of ['register', 'publish', 'subscribe'] as const) assert.equal(anonymous.check('com.example.x', action).allow, true, `${name}: ${action}`);
    }
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
    assert.deepEqual(c.transports[1]!.auth, { anonymous: { type: 'static', role: 'device', authid: null } });
    assert.equal(c.realms[1]!.options.uri_check, 'loose');
    assert.throws(() => loadConfig(EXAMPLE, {}), /transports\[1\]\.endpoint\.port: environment variable DEVICE_PORT must hold a TCP port/);
  });

  test('unknown keys anywhere are errors that name the full path', () => {
    refused({ ...router(), extra: 1 }, /^extra: unknown key/m);
    refused(router({}, { options: { max_mesage_size: 1 } }), /workers\[0\]\.transports\[0\]\.options\.max_mesage_size: unknown key/);
    refused(router({}, { endpoint: { type: 'tcp', port: 1, bakclog: 10 } }), /workers\[0\]\.transports\[0\]\.endpoint\.bakclog: unknown key/);
    refused(router({ realms: [{ name: 'realm1', roles: [], inventory: {} }] }), /workers\[0\]\.realms\[0\]\.inventory: unknown key/);
    refused(router({ realms: [{ name: 'realm1', store: { type: 'lmdb' } }] }), /store\.type: must be "memory"/);
    refused(
      router({ realms: [{ name: 'realm1', store: { type: 'memory', 'event-history': [{ uri: 'a.b', match: 'fuzzy' }] } }] }),
      /store\.event-history\[0\]\.match: must be exact, prefix or wildcard/,
    );
    refused(
      router({ realms: [{ name: 'realm1', roles: [{ name: 'r', permissions: [{ uri: 'a', allow: { cal: true } }] }] }] }),
      /workers\[0\]\.realms\[0\]\.roles\[0\]\.permissions\[0\]\.allow\.cal: unknown key/,
    );
  });

  test('realms[].stats: Crossbar\'s defaults and assertions, checked at load; errors name the key', () => {
    const stats = (v: unknown) => router({ realms: [{ name: 'realm1', roles: [{ name: 'anonymous', 'allow-by-default': true }], stats: v }] });
    assert.equal(buildConfig(router(), {}).realms[0]!.stats, null);
    assert.deepEqual(buildConfig(stats({ trigger_after_rated_messages: 100 }), {}).realms[0]!.stats, {
      ratedMessageSize: 512,
      afterRatedMessages: 100,
      afterDurationMs: 0,
      onJoin: false,
      onLeave: true,
    });
    // trigger_after_duration is in nanoseconds, as Crossbar hands it to Autobahn's set_stats_autoreset.
    assert.deepEqual(
      buildConfig(stats({ rated_message_size: 64, trigger_after_duration: 5_000_000_000, trigger_on_join: true, trigger_on_leave: false }), {}).realms[0]!.stats,
      { ratedMessageSize: 64, afterRatedMessages: 0, afterDurationMs: 5000, onJoin: true, onLeave: false },
    );
    const at = 'workers\\[0\\]\\.realms\\[0\\]\\.stats';
    refused(stats({ trigger_after_rated_messages: 1, rated_message_size: 511 }), new RegExp(`${at}\\.rated_message_size: must be a positive even integer`));
    refused(stats({ trigger_after_rated_messages: 1, rated_message_size: 0 }), new RegExp(`${at}\\.rated_message_size: must be a positive even integer`));
    refused(stats({ trigger_after_rated_messages: 1, rated_message_size: '512' }), new RegExp(`${at}\\.rated_message_size: must be a positive even integer`));
    refused(stats({}), new RegExp(`${at}: needs trigger_after_rated_messages or trigger_after_duration`));
    refused(stats({ trigger_after_rated_messages: 0, trigger_after_duration: 0 }), new RegExp(`${at}: needs trigger_after_rated_messages`));
    refused(stats({ trigger_after_rated_messages: -1 }), new RegExp(`${at}\\.trigger_after_rated_messages: must be a non-negative integer`));
    refused(stats({ trigger_after_rated_messages: 1.5 }), new RegExp(`${at}\\.trigger_after_rated_messages: must be a non-negative integer`));
    refused(stats({ trigger_after_duration: 1000 }), new RegExp(`${at}\\.trigger_after_duration: must be 0 or from 1000000 \\(1 ms\\)`));
    refused(stats({ trigger_after_duration: 2 ** 31 * 1e6 }), new RegExp(`${at}\\.trigger_after_duration: must be 0 or from`));
    refused(stats({ trigger_after_duration: '1s' }), new RegExp(`${at}\\.trigger_after_duration: must be a non-negative integer \\(nanoseconds\\)`));
    refused(stats({ trigger_after_rated_messages: 1, trigger_on_join: 'yes' }), new RegExp(`${at}\\.trigger_on_join: must be true or false`));
    refused(stats({ trigger_after_rated_messages: 1, trigger_on_leave: 1 }), new RegExp(`${at}\\.trigger_on_leave: must be true or false`));
    refused(stats({ trigger_after_rated_messages: 1, trigger_on_close: true }), new RegExp(`${at}\\.trigger_on_close: unknown key`));
    refused(stats([1]), new RegExp(`${at}`));
  });

  test('store.call-queue: entries as event-history (uri, match, limit; the store limit, else 100, by default); errors name the key', () => {
    const store = (v: Record<string, unknown>) => router({ realms: [{ name: 'realm1', roles: [{ name: 'anonymous', 'allow-by-default': true }], store: { type: 'memory', ...v } }] });
    const ok = buildConfig(
      store({
        'call-queue': [{ uri: 'com.example.compute' }, { uri: 'com.example.', match: 'prefix', limit: 5 }, { uri: 'com..run', match: 'wildcard' }],
        'event-history': [{ uri: 'com.example.topic' }],
      }),
      {},
    );
    assert.deepEqual(ok.realms[0]!.callQueue, [
      { uri: 'com.example.compute', match: 'exact', limit: 100 },
      { uri: 'com.example.', match: 'prefix', limit: 5 },
      { uri: 'com..run', match: 'wildcard', limit: 100 },
    ]);
    assert.deepEqual(ok.realms[0]!.history, [{ uri: 'com.example.topic', match: 'exact', limit: 100 }]);
    assert.deepEqual(buildConfig(store({ limit: 7, 'call-queue': [{ uri: 'a.b' }] }), {}).realms[0]!.callQueue, [{ uri: 'a.b', match: 'exact', limit: 7 }]);
    assert.deepEqual(buildConfig(router(), {}).realms[0]!.callQueue, []);
    const at = 'workers\\[0\\]\\.realms\\[0\\]\\.store\\.call-queue';
    refused(store({ 'call-queue': {} }), new RegExp(`${at}: must be a list`));
    refused(store({ 'call-queue': ['a.b'] }), new RegExp(`${at}\\[0\\]: must be an object`));
    refused(store({ 'call-queue': [{ uri: 'a.b' }, { uri: 'a.c', limit: 0 }] }), new RegExp(`${at}\\[1\\]\\.limit: must be a positive integer`));
    refused(store({ 'call-queue': [{ uri: 'a.b', limit: 2.5 }] }), new RegExp(`${at}\\[0\\]\\.limit: must be a positive integer`));
    refused(store({ 'call-queue': [{ uri: 'a.b', limit: '10' }] }), new RegExp(`${at}\\[0\\]\\.limit: must be a positive integer`));
    refused(store({ 'call-queue': [{ uri: 'a.b', match: 'fuzzy' }] }), new RegExp(`${at}\\[0\\]\\.match: must be exact, prefix or wildcard`));
    refused(store({ 'call-queue': [{ match: 'prefix' }] }), new RegExp(`${at}\\[0\\]\\.uri: must be a URI`));
    refused(store({ 'call-queue': [{ uri: 'a..b' }] }), new RegExp(`${at}\\[0\\]\\.uri: must be a URI`));
    refused(store({ 'call-queue': [{ uri: 'a.b', size: 3 }] }), new RegExp(`${at}\\[0\\]\\.size: unknown key`));
    refused(store({ limit: -1, 'call-queue': [{ uri: 'a.b' }] }), /workers\[0\]\.realms\[0\]\.store\.limit: must be a positive integer/);
    refused(store({ 'call-queues': [] }), /workers\[0\]\.realms\[0\]\.store\.call-queues: unknown key/);
  });

  test('features not implemented yet are refused by name, never ignored', () => {
    refused(router({}, { auth: { tls: { type: 'static', principals: {} } } }), /transports\[0\]\.auth\.tls: TLS client certificate authentication needs a TLS endpoint with ca_certificates/);
    refused(router({}, { auth: { ticket: { type: 'static', principals: {} }, cookie: {} } }), /transports\[0\]\.auth\.cookie: cookie authentication needs cookie tracking on this transport/);
    refused(router({}, { cookie: {}, auth: { cookie: {} } }), /auth\.cookie: needs at least one other method/);
    refused(router({}, { cookie: {}, auth: { cookie: { type: 'static' } } }), /auth\.cookie\.type: unknown key/);
    refused(router({}, { cookie: { store: { type: 'memory', filename: 'x' } } }), /transports\[0\]\.cookie\.store\.filename: not a key of a 'memory' cookie store/);
    refused(router({}, { type: 'mqtt' }), /transports\[0\]\.type: 'mqtt' transports are not implemented yet/);
    refused(router({}, { endpoint: { type: 'twisted', server_string: 'tcp:80' } }), /endpoint\.type: 'twisted' endpoints are not implemented/);
    refused(
      { version: 2, workers: [router().workers[0], { type: 'proxy' }] },
      /workers\[1\]\.type: 'proxy' workers are not implemented yet/,
    );
    refused(
      router({ realms: [{ name: 'realm1', roles: [{ name: 'r', authorizer: 'com.x.authorize', permissions: [] }] }] }),
      /roles\[0\]\.permissions: unknown key/,
    );
  });

  test('values are checked', () => {
    refused({ ...router(), version: 3 }, /^version: must be one of the possible values: \[2\]/m);
    refused({ ...router(), version: 1 }, /^version: this is a version-1 config file \("version": 1\)/m);
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

describe('container and guest workers', () => {
  const EXAMPLE_CONTAINER = new URL('../../../config/example-container.json', import.meta.url).pathname;
  test('the example config loads: router, container with one component, guest', () => {
    const c = loadConfig(EXAMPLE_CONTAINER, {});
    assert.equal(c.containers.length, 1);
    const k = c.containers[0]!;
    assert.deepEqual([k.id, k.restart, k.shutdown], ['backend', 'restart-on-failed', 'shutdown-manual']);
    const comp = k.components[0]!;
    assert.equal(comp.module, new URL('../../../config/components/add2.mjs', import.meta.url).pathname);
    assert.deepEqual(comp.transport.endpoint, { type: 'tcp', host: '127.0.0.1', port: 8080, version: 4, timeout: 10, tls: null });
    assert.deepEqual(comp.transport.serializers, ['msgpack', 'json']);
    assert.equal(c.guests[0]!.id, 'pinger');
  });
  const containerWith = (component: Record<string, unknown>, options: Record<string, unknown> = {}) => ({
    version: 2,
    workers: [{ type: 'container', options, components: [{ module: 'c.mjs', realm: 'realm1', ...component }] }],
  });
  const t = { type: 'websocket', url: 'ws://h:1/ws', endpoint: { type: 'tcp', host: 'h', port: 1 } };
  test('a container alone (pointing at a remote router) is a valid node', () => {
    const c = buildConfig(containerWith({ transport: t }), {});
    assert.deepEqual([c.transports.length, c.containers.length], [0, 1]);
  });
  test('mistakes are refused by key', () => {
    refused(containerWith({ transport: t }, { restart: 'sometimes' }), /workers\[0\]\.options\.restart: must be one of/);
    refused(containerWith({ transport: { type: 'websocket', endpoint: t.endpoint } }), /components\[0\]\.transport\.url: is required/);
    refused(containerWith({ transport: { ...t, endpoint: { type: 'tcp', host: 'h', port: 1, tls: { ca_certificates: [] } } } }), /tls\.hostname: is required/);
    refused(containerWith({ transport: { ...t, endpoint: { type: 'tcp', host: 'h', port: 1, tls: { hostname: 'h' } } } }), /a TLS endpoint needs a wss:\/\/ URL/);
    refused(containerWith({ transport: t, module: 'c.py' }), /module: must be a \.js, \.mjs or \.cjs file/);
    // A Python class component takes no `module` (docs/python-components.md).
    refused(containerWith({ transport: t, type: 'class', classname: 'x.Y' }), /components\[0\]\.module: unknown key/);
    refused(containerWith({ transport: t, type: 'wamplet' }), /components\[0\]\.type: 'wamplet' components are not supported/);
    refused(containerWith({ transport: t, auth: { ticket: { authid: 'a' } } }), /auth\.ticket\.ticket: is required/);
    refused(containerWith({ transport: t, auth: { scram: { authid: 'a' } } }), /not a client authentication method/);
    refused({ version: 2, workers: [{ type: 'guest', executable: 'x', options: { bogus: 1 } }] }, /workers\[0\]\.options\.bogus: unknown key/);
  });
});
