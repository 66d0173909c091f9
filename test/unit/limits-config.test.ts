import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { getHeapStatistics } from 'node:v8';
import { DEFAULT_CONFIG } from '../../src/config/default.js';
import { effectiveConfig } from '../../src/config/effective.js';
import { buildConfig, ConfigError } from '../../src/config/load.js';
import { LIMITS } from '../../src/shared/labels.js';

const MiB = 1024 * 1024;

function router(options: Record<string, unknown>, crosswire: Record<string, unknown> = {}) {
  return {
    version: 2,
    workers: [
      {
        type: 'router',
        realms: [{ name: 'realm1', roles: [{ name: 'anonymous', 'allow-by-default': true }], options }],
        transports: [{ type: 'websocket', endpoint: { type: 'tcp', port: 8080 } }],
      },
    ],
    crosswire,
  };
}

function refused(raw: unknown, pattern: RegExp) {
  assert.throws(
    () => buildConfig(raw, {}),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.match(e.message, pattern);
      return true;
    },
  );
}

describe('realm limits (realm options max_*)', () => {
  test('defaults: counts fixed, byte budgets from the worker heap limit (worker_max_heap_mb, else V8’s)', () => {
    const dflt = buildConfig(DEFAULT_CONFIG, {}).realms[0]!.limits;
    const heap = getHeapStatistics().heap_size_limit;
    assert.deepEqual(dflt, {
      max_retained_events: 10000,
      max_retained_bytes: Math.min(64 * MiB, Math.floor(heap / 32)),
      max_retained_topic_bytes: MiB,
      max_event_history_bytes: Math.min(16 * MiB, Math.floor(heap / 64)),
      max_testaments_per_session: 16,
      max_testament_bytes_per_session: 64 * 1024,
      max_subscriptions_per_session: 10000,
      max_registrations_per_session: 10000,
      max_pending_calls_per_session: 10000,
      max_held_messages_per_session: 1000,
      max_held_bytes_per_session: Math.min(16 * MiB, Math.floor(heap / 64)),
      max_queued_call_bytes: Math.min(64 * MiB, Math.floor(heap / 32)),
      max_queued_bytes_per_session: Math.min(16 * MiB, Math.floor(heap / 64)),
      max_uri_length: 4096,
    });
    const small = buildConfig(router({}, { worker_max_heap_mb: 64 }), {}).realms[0]!.limits;
    assert.deepEqual(
      [small.max_retained_bytes, small.max_event_history_bytes, small.max_held_bytes_per_session, small.max_queued_call_bytes, small.max_queued_bytes_per_session],
      [2 * MiB, MiB, MiB, 2 * MiB, MiB],
    );
  });

  test('set values are taken as they are; 0 is no limit', () => {
    const options = Object.fromEntries(LIMITS.map((k, i) => [k, i]));
    assert.deepEqual(buildConfig(router(options, { worker_max_heap_mb: 64 }), {}).realms[0]!.limits, options);
  });

  test('a bad value or an unknown key refuses to start, naming the key', () => {
    refused(router({ max_retained_bytes: -1 }), /workers\[0\]\.realms\[0\]\.options\.max_retained_bytes: must be null or an integer >= 0/);
    refused(router({ max_subscriptions_per_session: 1.5 }), /workers\[0\]\.realms\[0\]\.options\.max_subscriptions_per_session: must be a positive integer/);
    refused(router({ max_testaments_per_session: null }), /workers\[0\]\.realms\[0\]\.options\.max_testaments_per_session/);
    refused(router({ max_retained_bananas: 1 }), /workers\[0\]\.realms\[0\]\.options\.max_retained_bananas: unknown key/);
  });

  test('print-config shows every limit with its default (null: from the heap limit)', () => {
    const e = effectiveConfig(DEFAULT_CONFIG, {}) as { workers: { realms: { options: Record<string, unknown> }[] }[] };
    const o = e.workers[0]!.realms[0]!.options;
    for (const k of LIMITS) assert.ok(k in o, k);
    assert.equal(o.max_retained_bytes, null);
    assert.equal(o.max_subscriptions_per_session, 10000);
  });
});
