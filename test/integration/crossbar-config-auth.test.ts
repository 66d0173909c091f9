// Authentication: Crossbar configs with "${VAR}" secrets, a different auth per websocket
// path, authenticator-realm with several realm threads, and the README's web transport example.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import autobahn from 'autobahn';
import { connect } from '../helpers/client.js';
import { ALL, checks, configDir, crossbarFile, refusedByBoth } from '../helpers/crossbar-files.js';
import { makePki } from '../helpers/pki.js';
import { spawnRouter } from '../helpers/process.js';
import { within } from '../helpers/wait.js';

const dir = configDir('crosswire-crossbar-auth-');

describe('item 3: "${VAR}" secrets whose variable is unset', () => {
  const authConfig = (ticket: string) =>
    crossbarFile(dir, {
      realms: [{ name: 'realm1', roles: [{ name: 'user', permissions: [{ uri: '', match: 'prefix', allow: ALL }] }] }],
      transports: [
        {
          type: 'websocket',
          endpoint: { type: 'tcp', port: 8080 },
          auth: {
            ticket: { type: 'static', principals: { joe: { ticket: '${JOE_TICKET}', role: 'user' }, ann: { ticket, role: 'user' } } },
            wampcra: { type: 'static', users: { peter: { secret: '${PETER_SECRET}', role: 'user' } } },
          },
        },
      ],
    });
  const login = (port: number, authmethod: 'ticket' | 'wampcra', authid: string, secret: string) =>
    connect(`ws://127.0.0.1:${port}/ws`, 'json', 'realm1', {
      authmethods: [authmethod],
      authid,
      onchallenge: (_s: unknown, _m: string, extra: Record<string, unknown>) => (authmethod === 'ticket' ? secret : autobahn.auth_cra.sign(secret, extra.challenge as string)),
    });

  test('start with a warning naming the key and the variable; that principal cannot log in, the others can', async () => {
    const file = authConfig('${ANN_TICKET}');
    const env = { JOE_TICKET: 'joe-ticket', ANN_TICKET: undefined, PETER_SECRET: '', CROSSWIRE_AUTH_FAIL_DELAY: '0' };
    const out = await checks(file, env);
    assert.match(out, /warning: workers\[0\]\.transports\[0\]\.auth\.ticket\.principals\.ann\.ticket: environment variable ANN_TICKET is not set/);
    assert.match(out, /warning: workers\[0\]\.transports\[0\]\.auth\.wampcra\.users\.peter\.secret: environment variable PETER_SECRET is not set/);
    const p = await spawnRouter(['--config', file], env);
    try {
      assert.ok(p.stdout.some((l) => l.includes('"level":40') && l.includes('ANN_TICKET is not set')), p.stdout.join('\n'));
      const joe = await login(p.port, 'ticket', 'joe', 'joe-ticket');
      assert.equal(joe.details.authid, 'joe');
      await joe.close();
      for (const guess of ['', '${ANN_TICKET}', 'undefined', 'null']) {
        await assert.rejects(login(p.port, 'ticket', 'ann', guess), /wamp\.error\.authentication_failed/);
      }
      await assert.rejects(login(p.port, 'wampcra', 'peter', ''), /wamp\.error\.authentication_failed/);
    } finally {
      p.child.kill('SIGTERM');
      await within(p.exited, 10_000, 'the router to exit');
    }
  });

  test('a malformed reference is still refused, naming the key', async () => {
    await Promise.all(
      ['${}', '${1ABC}', '${ANN-TICKET}', '${ANN_TICKET'].map((bad) =>
        refusedByBoth(authConfig(bad), /auth\.ticket\.principals\.ann\.ticket: '\$\{.*' is not an environment reference/, { JOE_TICKET: 'x', PETER_SECRET: 'y' }),
      ),
    );
  });
});

describe('item 2: a different auth per websocket path of one web transport', () => {
  test('public /ws is anonymous, backend /auth takes tickets, on one port; each path applies only its own', async () => {
    const file = crossbarFile(dir, {
      realms: [
        {
          name: 'realm1',
          roles: [
            { name: 'anonymous', permissions: [{ uri: 'com.example.public.', match: 'prefix', allow: { call: true, subscribe: true } }] },
            { name: 'backend', permissions: [{ uri: 'com.example.', match: 'prefix', allow: ALL }] },
          ],
        },
      ],
      transports: [
        {
          type: 'web',
          endpoint: { type: 'tcp', port: 8080 },
          paths: {
            ws: { type: 'websocket', cookie: { store: { type: 'memory' } } },
            auth: { type: 'websocket', auth: { ticket: { type: 'static', principals: { svc: { ticket: 'svc-secret', role: 'backend' } } } } },
          },
        },
      ],
    });
    await checks(file);
    const p = await spawnRouter(['--config', file], { CROSSWIRE_AUTH_FAIL_DELAY: '0' });
    try {
      const ws = `ws://127.0.0.1:${p.port}/ws`;
      const auth = `ws://127.0.0.1:${p.port}/auth`;
      const ticket = { authmethods: ['ticket'], authid: 'svc', onchallenge: () => 'svc-secret' };
      const backend = await connect(auth, 'msgpack', 'realm1', ticket);
      assert.deepEqual([backend.details.authid, backend.details.authrole, backend.details.authmethod], ['svc', 'backend', 'ticket']);
      await backend.session.register('com.example.public.time', () => 'noon');
      const anon = await connect(ws, 'json');
      assert.equal(anon.details.authrole, 'anonymous');
      assert.equal(await anon.session.call('com.example.public.time'), 'noon');
      // /auth offers no anonymous access; /ws knows no tickets.
      await assert.rejects(connect(auth, 'json'), /wamp\.error\.no_matching_auth_method|no_auth_method/);
      await assert.rejects(connect(ws, 'json', 'realm1', ticket), /wamp\.error\.no_matching_auth_method|no_auth_method/);
      // Operations endpoints and metrics still answer on the port; connections are counted per transport.
      assert.equal((await fetch(`http://127.0.0.1:${p.port}/ready`)).status, 200);
      assert.match(await (await fetch(`http://127.0.0.1:${p.port}/metrics`)).text(), /^crosswire_connections\{transport="transport1"\} 2$/m);
      await Promise.all([anon.close(), backend.close()]);
    } finally {
      p.child.kill('SIGTERM');
      await within(p.exited, 10_000, 'the router to exit');
    }
  });
});

describe('item 6: authenticator-realm whatever the realm thread count', () => {
  test('with 2 realm threads asked (as auto gives on 3 cores), the file starts and the authenticator admits clients', async () => {
    const file = crossbarFile(dir, {
      realms: [
        { name: 'realm1', roles: [{ name: 'user', permissions: [{ uri: 'com.example.', match: 'prefix', allow: ALL }] }] },
        { name: 'auth', roles: [{ name: 'authenticator', permissions: [{ uri: 'com.example.authenticate', match: 'exact', allow: { register: true } }] }] },
      ],
      transports: [
        {
          type: 'websocket',
          endpoint: { type: 'tcp', port: 8080 },
          auth: {
            anonymous: { type: 'static', role: 'authenticator' },
            ticket: { type: 'dynamic', authenticator: 'com.example.authenticate', 'authenticator-realm': 'auth' },
          },
        },
      ],
    });
    const env = { CROSSWIRE_REALM_THREADS: '2', CROSSWIRE_AUTH_FAIL_DELAY: '0' };
    assert.match(await checks(file, env), /realm threads: 1\n[\s\S]*warning: crosswire\.realm_threads: 2 is not applied: with authenticator-realm 'auth'/);
    const p = await spawnRouter(['--config', file], env);
    try {
      const url = `ws://127.0.0.1:${p.port}/ws`;
      // The authenticator throws on purpose for a wrong ticket: AutobahnJS need not log it.
      const backend = await connect(url, 'msgpack', 'auth', { on_user_error: () => {} });
      await backend.session.register('com.example.authenticate', (args) => {
        const [, authid, details] = args as [string, string, Record<string, unknown>];
        if (details.ticket !== `${authid}-ticket`) throw new autobahn.Error('wamp.error.not_authorized', ['wrong ticket']);
        return { role: 'user' };
      });
      const ann = await connect(url, 'json', 'realm1', { authmethods: ['ticket'], authid: 'ann', onchallenge: () => 'ann-ticket' });
      assert.deepEqual([ann.details.authid, ann.details.authrole, ann.details.authprovider], ['ann', 'user', 'dynamic']);
      await assert.rejects(connect(url, 'json', 'realm1', { authmethods: ['ticket'], authid: 'bob', onchallenge: () => 'nope', on_user_error: () => {} }), /not_authorized|authentication_failed/);
      await Promise.all([ann.close(), backend.close()]);
    } finally {
      p.child.kill('SIGTERM');
      await within(p.exited, 10_000, 'the router to exit');
    }
  });
});

describe('the README example of a Crossbar-style web transport (config/crossbar-web.json)', () => {
  // The example's device key (README: generate your own); its public key is in the config.
  const DEVICE_SEED = Buffer.from('2deace91045510a02869ca11948a67fe5650ea43b45c9a1cd01bd45c93075699', 'hex');
  const DEVICE_PUB = Buffer.from('86c9aaff6c0a87639c135fe81e4852c872b0d1ed6d57009c9dd5c5179aa9f049', 'hex');

  test('no "/", backlog 1024, dhparam: it starts with no warning (Node.js listens: ca_certificates), anonymous on /ws and ticket, wampcra, cryptosign, tls on /auth log in', async () => {
    const pki = makePki();
    // The config as shipped, beside the files it names (tls/: a server certificate with its chain,
    // the CA of client certificates), with the tls principal's certificate-sha1 set to the test
    // client's certificate (README: put your client certificate's fingerprint).
    const home = mkdtempSync(join(tmpdir(), 'crosswire-web-example-'));
    mkdirSync(join(home, 'tls'));
    const shipped = readFileSync(new URL('../../../config/crossbar-web.json', import.meta.url).pathname, 'utf8');
    const example = 'B6:E5:E6:F2:2A:86:DB:3C:DC:9F:51:42:58:39:9B:14:92:5D:A1:EB';
    assert.ok(shipped.includes(`"certificate-sha1": "${example}"`));
    writeFileSync(join(home, 'config.json'), shipped.replace(example, new X509Certificate(pki.read(pki.clientCert)).fingerprint));
    copyFileSync(pki.serverKey, join(home, 'tls', 'server.key'));
    writeFileSync(join(home, 'tls', 'server.crt'), Buffer.concat([pki.read(pki.serverCert), pki.read(pki.interCert)]));
    copyFileSync(pki.rootCert, join(home, 'tls', 'client-ca.crt'));
    // ca_certificates: Node.js terminates this port's TLS, so the DH parameters apply (and must be there).
    copyFileSync(pki.dhparam, join(home, 'tls', 'dhparam.pem'));
    // ca_certificates: every client of this port presents a certificate of that CA (as in Crossbar).
    const agent = new HttpsAgent({ ca: pki.read(pki.rootCert), key: pki.read(pki.clientKey), cert: pki.read(pki.clientCert) });
    const p = await spawnRouter(['--config', join(home, 'config.json')], { SERVICE1_TICKET: 'svc-ticket', JOE_SECRET: 'joe-secret', CROSSWIRE_AUTH_FAIL_DELAY: '0' });
    try {
      // No warning about the config; on uWebSockets.js 20.57 the router warns once about its read
      // loop (flow control), which is not about this config.
      const warned = p.stdout.filter((l) => l.includes('"level":40')).map((l) => String((JSON.parse(l) as Record<string, unknown>).msg));
      const aboutConfig = warned.filter((m) => !m.startsWith('uWebSockets.js 20.57'));
      assert.ok(warned.length - aboutConfig.length <= 1, warned.join('\n'));
      // ca_certificates: Node.js listens on this port, so backlog and dhparam both apply.
      assert.deepEqual(aboutConfig, []);
      const at = (path: string, ser: 'json' | 'msgpack', extra: Record<string, unknown> = {}) => {
        const url = `wss://127.0.0.1:${p.port}/${path}`;
        const serializer = ser === 'json' ? new autobahn.serializer.JSONSerializer() : new autobahn.serializer.MsgpackSerializer();
        return connect(url, ser, 'realm1', { transports: [{ type: 'websocket', url, agent, serializers: [serializer] }], ...extra });
      };
      const service = await at('auth', 'msgpack', { authmethods: ['ticket'], authid: 'service1', onchallenge: () => 'svc-ticket' });
      const joe = await at('auth', 'json', {
        authmethods: ['wampcra'],
        authid: 'joe',
        onchallenge: (_s: unknown, _m: string, x: Record<string, unknown>) => autobahn.auth_cra.sign('joe-secret', x.challenge as string),
      });
      const device = await at('auth', 'json', {
        authmethods: ['cryptosign'],
        authextra: { pubkey: DEVICE_PUB.toString('hex') },
        onchallenge: (_s: unknown, _m: string, extra: Record<string, unknown>) =>
          autobahn.auth_cryptosign.sign_challenge({ publicKey: new Uint8Array(DEVICE_PUB), secretKey: new Uint8Array(Buffer.concat([DEVICE_SEED, DEVICE_PUB])) }, extra),
      });
      const backend = await at('auth', 'msgpack', { authmethods: ['tls'] });
      const visitor = await at('ws', 'json');
      try {
        assert.deepEqual(
          [service, joe, device, backend].map((c) => [c.details.authid, c.details.authrole, c.details.authmethod]),
          [['service1', 'backend', 'ticket'], ['joe', 'frontend', 'wampcra'], ['device1', 'backend', 'cryptosign'], ['backend1', 'backend', 'tls']],
        );
        assert.deepEqual([visitor.details.authrole, visitor.details.authmethod], ['anonymous', 'anonymous']);
        await service.session.register('com.example.public.hello', () => 'hello');
        await device.session.register('com.example.api.add', (a) => (a![0] as number) + (a![1] as number));
        assert.equal(await visitor.session.call('com.example.public.hello'), 'hello');
        assert.equal(await joe.session.call('com.example.api.add', [2, 3]), 5);
        await assert.rejects(at('auth', 'json'), /no_matching_auth_method|no_auth_method/);
        // Without a client certificate the TLS handshake fails (ca_certificates, as in Crossbar).
        const bare = new HttpsAgent({ ca: pki.read(pki.rootCert) });
        try {
          const url = `wss://127.0.0.1:${p.port}/ws`;
          await assert.rejects(connect(url, 'json', 'realm1', { transports: [{ type: 'websocket', url, agent: bare }] }), /closed before joining/);
        } finally {
          bare.destroy();
        }
      } finally {
        for (const c of [service, joe, device, backend, visitor]) await c.close();
      }
    } finally {
      agent.destroy();
      p.child.kill('SIGTERM');
      await within(p.exited, 10_000, 'the router to exit');
      rmSync(home, { recursive: true, force: true });
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });
});
