// Workers, TLS and logs: Crossbar configs with worker and component ids Crossbar
// accepts, values uWS applies differently (backlog, dhparam), and one key per log line.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import autobahn from 'autobahn';
import { loadConfig } from '../../src/config/load.js';
import { CrosswireNode } from '../../src/crosswire-node.js';
import { connect } from '../helpers/client.js';
import { checks, configDir, crossbarFile, freePort, refusedByBoth } from '../helpers/crossbar-files.js';
import { captureLog } from '../helpers/log.js';
import { makePki } from '../helpers/pki.js';
import { spawnRouter } from '../helpers/process.js';
import { RawPeer } from '../helpers/raw.js';
import { Inbox, within } from '../helpers/wait.js';

const dir = configDir('crosswire-crossbar-workers-');

describe('item 4: worker and component ids as Crossbar accepts them', () => {
  test('container, guest and component ids of any non-empty string run; their status, metrics and logs stay apart', async () => {
    const port = await freePort();
    const transport = { type: 'websocket', url: `ws://127.0.0.1:${port}/ws`, endpoint: { type: 'tcp', host: '127.0.0.1', port }, reconnect: { initial_retry_delay: 0.1, max_retry_delay: 0.5 } };
    writeFileSync(join(dir, 'reg.mjs'), 'export default async function (session, details, extra) { await session.register(extra.uri, () => extra.uri); }');
    // "Backend/eu" + "api" and "Backend" + "eu/api": the same joined string, two components.
    const file = crossbarFile(dir, 
      { transports: [{ type: 'websocket', endpoint: { type: 'tcp', port, interface: '127.0.0.1' } }] },
      {},
      [
        { type: 'container', id: 'Backend/eu', components: [{ id: 'api', module: 'reg.mjs', realm: 'realm1', transport, extra: { uri: 'com.example.one' } }] },
        { type: 'container', id: 'Backend', components: [{ id: 'eu/api', module: 'reg.mjs', realm: 'realm1', transport, extra: { uri: 'com.example.two' } }] },
        { type: 'guest', id: 'WampADCP', executable: process.execPath, arguments: ['-e', "console.log('adcp up'); setInterval(() => {}, 1000)"] },
      ],
    );
    assert.match(await checks(file), /configuration OK/);
    const { log, waitFor } = captureLog();
    const node = await CrosswireNode.start(loadConfig(file, {}), log);
    try {
      const running = new Inbox<string>();
      node.containers.on('status', (st: { container: string; component: string; state: string }) => {
        if (st.state === 'running') running.push(`${st.container} ${st.component}`);
      });
      assert.deepEqual((await running.waitFor(2, 20_000)).slice().sort(), ['Backend eu/api', 'Backend/eu api']);
      assert.equal(node.containers.componentsRunning, 2);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(metrics, /^crosswire_components\{state="running"\} 2$/m);
      const c = await connect(`ws://127.0.0.1:${port}/ws`, 'json');
      assert.deepEqual([await c.session.call('com.example.one'), await c.session.call('com.example.two')], ['com.example.one', 'com.example.two']);
      await c.close();
      await waitFor((l) => l.guest === 'WampADCP' && l.msg === 'adcp up', 10_000, 'the guest output under its id');
    } finally {
      await node.shutdown(2000);
    }
  });

  test('"controller" and empty ids are refused, naming the key', async () => {
    await Promise.all([
      refusedByBoth(crossbarFile(dir, {}, {}, [{ type: 'guest', id: 'controller', executable: process.execPath }]), /workers\[1\]\.id: 'controller' is the node controller's own id/),
      refusedByBoth(crossbarFile(dir, { id: 'controller' }), /workers\[0\]\.id: 'controller' is the node controller's own id/),
      refusedByBoth(crossbarFile(dir, {}, {}, [{ type: 'guest', id: '', executable: process.execPath }]), /workers\[1\]\.id: must be a non-empty string/),
    ]);
    // Transport ids keep Crossbar's pattern (checkconfig.check_id).
    await refusedByBoth(crossbarFile(dir, { transports: [{ type: 'websocket', id: 'Public WS', endpoint: { type: 'tcp', port: 8080 } }] }), /transports\[0\]\.id: must match/);
  });
});

describe('item 5: values the socket layer applies differently start with one warning', () => {
  test("a Let's Encrypt-style TLS endpoint with backlog 1024 and dhparam starts; each key is named once with its value and what applies", async () => {
    const pki = makePki();
    try {
      const file = crossbarFile(dir, {
        transports: [
          {
            type: 'websocket',
            endpoint: { type: 'tcp', port: 443, backlog: 1024, tls: { key: pki.serverKey, certificate: pki.serverCert, chain_certificates: [pki.interCert], dhparam: pki.dhparam } },
            url: 'wss://example.com/ws',
          },
        ],
      });
      const out = await checks(file);
      const warned = out.split('\n').filter((l) => l.startsWith('warning: '));
      assert.equal(warned.length, 2, out);
      assert.match(
        out,
        /^warning: workers\[0\]\.transports\[0\]\.endpoint\.backlog: 1024 is not applied: uWebSockets\.js always listens with a backlog of 512; it applies where Node\.js listens \(rawsocket and universal transports, and those with ca_certificates\)$/m,
      );
      assert.match(out, /^warning: workers\[0\]\.transports\[0\]\.endpoint\.tls\.dhparam: '.*dhparam\.pem' is not used: .*no DHE key exchange, so the ECDHE suites of the cipher list apply/m);
      const p = await spawnRouter(['--config', file]);
      try {
        const warnLines = p.stdout.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.level === 40);
        assert.equal(warnLines.filter((l) => /endpoint\.backlog: 1024/.test(String(l.msg))).length, 1);
        assert.equal(warnLines.filter((l) => /endpoint\.tls\.dhparam/.test(String(l.msg))).length, 1);
        const url = `wss://127.0.0.1:${p.port}/ws`;
        const agent = new HttpsAgent({ ca: pki.read(pki.rootCert) });
        const c = await connect(url, 'json', 'realm1', { transports: [{ type: 'websocket', url, agent, serializers: [new autobahn.serializer.JSONSerializer()] }] });
        await c.session.register('com.example.ping', () => 'pong');
        assert.equal(await c.session.call('com.example.ping'), 'pong');
        await c.close();
        agent.destroy();
      } finally {
        p.child.kill('SIGTERM');
        await within(p.exited, 10_000, 'the router to exit');
      }
    } finally {
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });
});

/** Keys that occur more than once at the top level of one JSON line (JSON.parse keeps only the last). */
function duplicateKeys(line: string): string[] {
  const seen = new Set<string>();
  const dups: string[] = [];
  let depth = 0;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (ch === '"') {
      let j = i + 1;
      while (line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
      const text = line.slice(i, j + 1);
      if (depth === 1 && line[j + 1] === ':') {
        const key = JSON.parse(text) as string;
        if (seen.has(key)) dups.push(key);
        seen.add(key);
      }
      i = j;
    } else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
  }
  return dups;
}

describe('item 13: one key per log line', () => {
  test('startup warnings, access log, traffic debug, refusals, guests and containers log each key once', async () => {
    assert.deepEqual(duplicateKeys('{"a":1,"b":{"a":2},"c":"\\"a\\":","a":3}'), ['a']); // the scanner itself
    const port = await freePort();
    writeFileSync(join(dir, 'quiet.mjs'), 'export default async function (session) { await session.register("com.example.quiet", () => 1); }');
    const file = crossbarFile(dir, 
      {
        transports: [
          {
            type: 'websocket',
            endpoint: { type: 'tcp', port, interface: '127.0.0.1' },
            debug: true,
            options: { open_handshake_timeout: 2500, validate_utf8: false, allowed_origins: ['https://example.com'] },
          },
          {
            type: 'web',
            endpoint: { type: 'tcp', port: 0, interface: '127.0.0.1' },
            options: { access_log: true },
            paths: { info: { type: 'nodeinfo' }, ws: { type: 'websocket', options: { close_handshake_timeout: 1000 } } },
          },
        ],
      },
      {},
      [
        { type: 'guest', id: 'echo', executable: process.execPath, arguments: ['-e', "console.log('guest says hi'); setInterval(() => {}, 1000)"] },
        { type: 'container', id: 'box', components: [{ id: 'quiet', module: 'quiet.mjs', realm: 'realm1', transport: { type: 'websocket', url: `ws://127.0.0.1:${port}/ws`, endpoint: { type: 'tcp', host: '127.0.0.1', port } } }] },
      ],
    );
    const p = await spawnRouter(['--config', file], { CROSSWIRE_PORT: '' });
    try {
      const webPort = (JSON.parse(p.stdout.find((l) => l.includes('"crosswire ready"'))!) as { ports: number[] }).ports[1]!;
      await p.waitForLine((l) => l.includes('component running'), 15_000, 'the component to run');
      await p.waitForLine((l) => l.includes('guest says hi'), 15_000, 'the guest output');
      assert.equal((await fetch(`http://127.0.0.1:${webPort}/info`)).status, 200);
      await p.waitForLine((l) => l.includes('"http request"'), 5000, 'the access log line');
      const c = await connect(`ws://127.0.0.1:${port}/ws`, 'json');
      assert.equal(await c.session.call('com.example.quiet'), 1);
      await c.close();
      await assert.rejects(RawPeer.open(`ws://127.0.0.1:${port}/ws`, 'json', { headers: { Origin: 'https://evil.example' } }), /403/);
      await p.waitForLine((l) => l.includes('"connection refused"'), 5000, 'the refusal log line');
    } finally {
      p.child.kill('SIGTERM');
      await within(p.exited, 10_000, 'the router to exit');
    }
    const json = p.stdout.filter((l) => l.startsWith('{'));
    assert.ok(json.length > 10, `${json.length} log lines`);
    for (const msg of ['wamp message', 'container started', 'guest started']) assert.ok(json.some((l) => l.includes(`"${msg}"`)), msg);
    assert.ok(json.some((l) => l.includes('"option":"open_handshake_timeout"')));
    // The traffic log keeps the WAMP message (pino's own message key is msg).
    assert.ok(json.map((l) => JSON.parse(l) as Record<string, unknown>).some((o) => o.msg === 'wamp message' && Array.isArray(o.wamp)));
    const bad = json.map((l) => ({ l, d: duplicateKeys(l) })).filter((x) => x.d.length > 0);
    assert.deepEqual(bad, []);
  });
});
