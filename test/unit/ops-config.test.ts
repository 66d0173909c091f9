import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { DEFAULT_CONFIG } from '../../src/config/default.js';
import { effectiveConfig, envVars, MASK, maskSecrets } from '../../src/config/effective.js';
import { buildConfig, ConfigError } from '../../src/config/load.js';
import { resolveLogFormat } from '../../src/shared/log.js';

// biome-ignore lint/suspicious/noExplicitAny: the tests walk printed JSON by key
type Walk = Record<string, any>;

// The configuration reference (every key and variable) lives in docs/configuration.md.
const CONFIG_DOC = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');

function withCrosswire(crosswire: Record<string, unknown>) {
  return { ...DEFAULT_CONFIG, crosswire };
}

function refused(raw: unknown, pattern: RegExp, env: NodeJS.ProcessEnv = {}) {
  assert.throws(() => buildConfig(raw, env), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match(e.message, pattern);
    return true;
  });
}

describe('operations config', () => {
  test('defaults: /metrics and /health on the transport ports, no separate listener, auto log format, no heap limit', () => {
    const c = buildConfig(DEFAULT_CONFIG, {});
    assert.deepEqual(c.ops, { onTransports: ['metrics', 'health'], port: null, host: '127.0.0.1' });
    assert.equal(c.logFormat, 'auto');
    assert.equal(c.workerMaxHeapMb, 0);
    assert.equal(c.shutdownTimeout, 3000);
  });

  test('file values and environment overrides', () => {
    const c = buildConfig(withCrosswire({ ops: { port: 9100, interface: '0.0.0.0', on_transports: ['health'] }, worker_max_heap_mb: 512 }), {});
    assert.deepEqual(c.ops, { onTransports: ['health'], port: 9100, host: '0.0.0.0' });
    assert.equal(c.workerMaxHeapMb, 512);
    const e = buildConfig(DEFAULT_CONFIG, {
      CROSSWIRE_OPS_ON_TRANSPORTS: 'metrics, health',
      CROSSWIRE_OPS_PORT: '0',
      CROSSWIRE_OPS_INTERFACE: '::1',
      CROSSWIRE_LOG_FORMAT: 'pretty',
      CROSSWIRE_WORKER_MAX_HEAP_MB: '64',
    });
    assert.deepEqual(e.ops, { onTransports: ['metrics', 'health'], port: 0, host: '::1' });
    assert.equal(e.logFormat, 'pretty');
    assert.equal(e.workerMaxHeapMb, 64);
    assert.deepEqual(buildConfig(DEFAULT_CONFIG, { CROSSWIRE_OPS_ON_TRANSPORTS: '' }).ops.onTransports, []);
  });

  test('bad values and unknown keys name the key', () => {
    refused(withCrosswire({ ops: { on_transports: ['metrics', 'graphs'] } }), /crosswire\.ops\.on_transports: .*'graphs' is not an operations endpoint/);
    refused(withCrosswire({ ops: { prot: 9100 } }), /crosswire\.ops\.prot: unknown key/);
    refused(withCrosswire({ ops: { port: 70000 } }), /crosswire\.ops\.port: .*TCP port/);
    refused(withCrosswire({ log_format: 'xml' }), /crosswire\.log_format/);
    refused(withCrosswire({ worker_max_heap_mb: -1 }), /crosswire\.worker_max_heap_mb/);
    refused(DEFAULT_CONFIG, /crosswire\.ops\.port/, { CROSSWIRE_OPS_PORT: '99999' });
  });

  test('timer values past what setTimeout can wait (2^31 - 1 ms) are refused, naming the key', () => {
    const max = 2 ** 31 - 1;
    for (const key of ['hello_timeout', 'shutdown_timeout', 'auth_timeout', 'auth_fail_delay']) {
      assert.equal((effectiveConfig(withCrosswire({ [key]: max }), {}) as Walk).crosswire[key], max, key);
      refused(withCrosswire({ [key]: max + 1 }), new RegExp(`crosswire\\.${key}: must be an integer number of milliseconds from [01] to ${max}`));
    }
    refused(DEFAULT_CONFIG, /crosswire\.shutdown_timeout: must be an integer number of milliseconds/, { CROSSWIRE_SHUTDOWN_TIMEOUT: String(2 ** 31) });
  });

  test('crosswire.flow: defaults, environment overrides, and bad values name the key', () => {
    const MiB = 1024 * 1024;
    assert.deepEqual(buildConfig(DEFAULT_CONFIG, {}).flow, {
      workerWindow: 4 * MiB,
      connectionWindow: MiB,
      pauseReading: true,
      connectionHold: 16 * MiB,
      holdBudget: 128 * MiB,
      sendBudget: 128 * MiB,
    });
    const e = buildConfig(DEFAULT_CONFIG, { CROSSWIRE_FLOW_WORKER_WINDOW: '8388608', CROSSWIRE_FLOW_PAUSE_READING: 'false', CROSSWIRE_FLOW_SEND_BUDGET: '1048576' });
    assert.equal(e.flow.workerWindow, 8 * MiB);
    assert.equal(e.flow.pauseReading, false);
    assert.equal(e.flow.sendBudget, MiB);
    refused(withCrosswire({ flow: { worker_window: 0 } }), /crosswire\.flow\.worker_window: must be a positive integer/);
    refused(withCrosswire({ flow: { send_budget: 'lots' } }), /crosswire\.flow\.send_budget/);
    refused(withCrosswire({ flow: { windows: 1 } }), /crosswire\.flow\.windows: unknown key/);
    refused(withCrosswire({ flow: { worker_window: MiB, connection_window: 2 * MiB } }), /crosswire\.flow\.connection_window: .* larger than crosswire\.flow\.worker_window/);
    refused(withCrosswire({ flow: { connection_hold: 256 * MiB } }), /crosswire\.flow\.connection_hold: .* larger than crosswire\.flow\.hold_budget/);
  });

  test('log format: auto is pretty only on a TTY', () => {
    assert.equal(resolveLogFormat('auto', true), 'pretty');
    assert.equal(resolveLogFormat('auto', false), 'json');
    assert.equal(resolveLogFormat('json', true), 'json');
    assert.equal(resolveLogFormat('pretty', false), 'pretty');
  });
});

describe('print-config', () => {
  test('the effective config: every default filled in, environment overrides applied', () => {
    const e = effectiveConfig(DEFAULT_CONFIG, { CROSSWIRE_SHUTDOWN_TIMEOUT: '1234' }) as Walk;
    assert.equal(e.version, 2);
    assert.equal(e.crosswire.shutdown_timeout, 1234);
    assert.deepEqual(e.crosswire.ops, { on_transports: ['metrics', 'health'], port: null, interface: '127.0.0.1' });
    const w = e.workers[0];
    assert.equal(w.realms[0].options.uri_check, 'strict');
    assert.equal(w.realms[0].roles[0].permissions[0].allow.call, true);
    const t = w.transports[0];
    assert.equal(t.id, 'transport1');
    assert.equal(t.options.max_message_size, 16 * 1024 * 1024);
    assert.equal(t.debug, false);
    assert.equal(t.endpoint.version, 4);
    assert.deepEqual(t.auth, { anonymous: { type: 'static', role: 'anonymous', authid: null } });
    // What it prints is itself a valid config that runs the same router.
    assert.deepEqual(buildConfig(e, {}), buildConfig(DEFAULT_CONFIG, { CROSSWIRE_SHUTDOWN_TIMEOUT: '1234' }));
  });

  test('container and guest workers are shown as written beside the router', () => {
    const raw = JSON.parse(readFileSync(new URL('../../../config/example-container.json', import.meta.url), 'utf8'));
    const e = effectiveConfig(structuredClone(raw), {}) as Walk;
    assert.equal(e.workers.length, raw.workers.length);
    for (const [i, w] of raw.workers.entries()) if (w.type !== 'router') assert.deepEqual(e.workers[i], w);
    assert.ok(e.workers.some((w: Walk) => w.type === 'container'));
  });

  test('an invalid config throws the same ConfigError as check', () => {
    assert.throws(() => effectiveConfig(withCrosswire({ ops: { prot: 1 } }), {}), /crosswire\.ops\.prot: unknown key/);
  });

  test('secrets are masked wherever they are (the keys authentication methods will use)', () => {
    const masked = maskSecrets({
      auth: {
        ticket: { type: 'static', principals: { joe: { ticket: 'secret!!', role: 'user' } } },
        wampcra: { type: 'static', users: { joe: { secret: 'prq7+YkJ1/KlW1X0YczMHw==', role: 'user', salt: 'salt123' } } },
      },
      endpoint: { tls: { key: '-----BEGIN PRIVATE KEY-----', certificate: 'server.crt' } },
      db: { password: 'hunter2', admin_password: 'x', token_url: 'https://example.com' },
      list: [{ secret: 's' }],
      empty: { secret: '' },
    }) as Walk;
    assert.equal(masked.auth.ticket.principals.joe.ticket, MASK);
    assert.equal(masked.auth.ticket.principals.joe.role, 'user');
    assert.equal(masked.auth.ticket.type, 'static');
    assert.equal(masked.auth.wampcra.users.joe.secret, MASK);
    assert.equal(masked.auth.wampcra.users.joe.salt, MASK);
    assert.equal(masked.endpoint.tls.key, MASK);
    assert.equal(masked.endpoint.tls.certificate, 'server.crt');
    assert.equal(masked.db.password, MASK);
    assert.equal(masked.db.admin_password, MASK);
    assert.equal(masked.db.token_url, 'https://example.com');
    assert.equal(masked.list[0].secret, MASK);
    assert.equal(masked.empty.secret, '');
    assert.ok(!JSON.stringify(masked).includes('hunter2'));
  });
});

describe('environment variables are documented from the schema', () => {
  test('every CROSSWIRE_* variable the schema declares is in docs/configuration.md', () => {
    const vars = envVars();
    assert.ok(vars.length >= 11, `${vars.length} variables`);
    for (const v of vars) {
      assert.match(v.name, /^CROSSWIRE_[A-Z_]+$/);
      assert.ok(CONFIG_DOC.includes(`\`${v.name}\``), `${v.name} (${v.key}) is not in docs/configuration.md`);
    }
  });
});
