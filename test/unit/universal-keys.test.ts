/**
 * Config errors and warnings about a universal transport's parts name the key as written: its
 * `websocket.<path>`, `web.paths.<path>` or `rawsocket` (src/config/load.ts pathKey, files.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { checkFiles } from '../../src/config/files.js';
import { buildConfig, ConfigError } from '../../src/config/load.js';

function router(transport: unknown) {
  return {
    version: 2,
    workers: [{ type: 'router', realms: [{ name: 'realm1', roles: [{ name: 'user', 'allow-by-default': true }] }], transports: [transport] }],
  };
}

const ENDPOINT = { type: 'tcp', port: 8080, interface: '127.0.0.1' };
const GHOST = { ticket: { type: 'static', principals: { joe: { ticket: 'x', role: 'ghost' } } } };

function refused(raw: unknown, pattern: RegExp) {
  assert.throws(() => buildConfig(raw, {}), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match(e.message, pattern);
    return true;
  });
}

describe('universal transport: keys named as written', () => {
  test("a websocket part's auth: transports[0].websocket.<path>", () => {
    refused(router({ type: 'universal', endpoint: ENDPOINT, websocket: { ws: { auth: GHOST } } }), /^workers\[0\]\.transports\[0\]\.websocket\.ws\.auth\.ticket\.principals\.joe\.role: no realm has a role 'ghost'/);
  });

  test("a websocket path of the web part: transports[0].web.paths.<path>", () => {
    refused(
      router({ type: 'universal', endpoint: ENDPOINT, web: { paths: { live: { type: 'websocket', auth: GHOST } } } }),
      /^workers\[0\]\.transports\[0\]\.web\.paths\.live\.auth\.ticket\.principals\.joe\.role: no realm has a role 'ghost'/,
    );
  });

  test("an HTTP bridge service of the web part: transports[0].web.paths.<path>", () => {
    refused(
      router({ type: 'universal', endpoint: ENDPOINT, web: { paths: { push: { type: 'publisher', realm: 'nope', role: 'user' } } } }),
      /^workers\[0\]\.transports\[0\]\.web\.paths\.push\.realm: no realm 'nope' on this router/,
    );
  });

  test('a web transport keeps transports[0].paths.<path>', () => {
    refused(router({ type: 'web', endpoint: ENDPOINT, paths: { ws: { type: 'websocket', auth: GHOST } } }), /^workers\[0\]\.transports\[0\]\.paths\.ws\.auth\.ticket\.principals\.joe\.role: no realm has a role 'ghost'/);
  });

  test("a missing static directory of the web part is warned about, as for a web transport", () => {
    const dir = mkdtempSync(join(tmpdir(), 'crosswire-universal-keys-'));
    try {
      const warnings = checkFiles(router({ type: 'universal', endpoint: ENDPOINT, web: { paths: { '/': { type: 'static', directory: 'no-such-root' } } } }), dir, {});
      assert.equal(warnings.length, 1, JSON.stringify(warnings));
      assert.match(warnings[0]!, /^workers\[0\]\.transports\[0\]\.web\.paths\."\/"\.directory: .*no-such-root.* answers 404 until it exists$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
