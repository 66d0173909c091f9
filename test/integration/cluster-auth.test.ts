// NATS credentials and TLS of a cluster node (crosswire.cluster.nats: token, nkey, creds, tls;
// docs/cluster.md) against a real nats-server configured to require them: two router nodes
// exchange an event through it; a wrong credential leaves a node single with /ready 503 and a log
// line naming the cause (never the secret); `crosswire check` refuses a bad file naming the key.
// NKey pairs come from the nkeys module the nats client exports, the operator/account/user JWTs of
// the .creds test are signed with them here (the NATS JWT format: https://docs.nats.io/running-a-nats-service/configuration/securing_nats/jwt),
// the CA and certificates from openssl (test/helpers/pki.ts).
//
// Needs Debian's nats-server (scripts/install-test-deps.sh installs it): without it this file FAILS.
import '../helpers/quiet.js'; // before 'autobahn'
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { nkeys } from 'nats';
import { type Client, connect } from '../helpers/client.js';
import { admitted, ticketLogin } from '../helpers/cookies.js';
import { get } from '../helpers/http.js';
import { argsOf, linked, startNats, stopAllNats, sub, until } from '../helpers/nats.js';
import { makePki, type Pki } from '../helpers/pki.js';
import { runCli, type RouterProcess, spawnRouter } from '../helpers/process.js';
import { ANONYMOUS_ALL, startRouter, type TestRouter } from '../helpers/router.js';

type Json = Record<string, unknown>;
type KeyPair = ReturnType<typeof nkeys.createUser>;

let dir: string;
let pki: Pki;
const routers: TestRouter[] = [];
const children: RouterProcess[] = [];
const clients: Client[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'crosswire-nats-auth-'));
  pki = makePki();
  // nats-server sends its certificate chain from cert_file: the server's, then the intermediate.
  writeFileSync(join(dir, 'server-chain.crt'), Buffer.concat([pki.read(pki.serverCert), pki.read(pki.interCert)]));
});

after(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await Promise.all(routers.map((r) => r.stop()));
  for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
  await Promise.all(children.map((c) => c.exited));
  await stopAllNats();
  rmSync(dir, { recursive: true, force: true });
  rmSync(pki.dir, { recursive: true, force: true });
});

const file = (name: string, text: string | Buffer) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};
const text = (b: Uint8Array) => new TextDecoder().decode(b);
/** A nats-server config string (JSON strings are valid in its syntax). */
const q = (s: string) => JSON.stringify(s);

/** A router node in this process whose cluster link uses `nats` (crosswire.cluster.nats). */
async function node(nats: Json, env: NodeJS.ProcessEnv = {}, more: Parameters<typeof startRouter>[0] = {}): Promise<TestRouter> {
  const r = await startRouter({ ...more, crosswire: { realm_threads: 1, auth_fail_delay: 0, cluster: { nats } }, env });
  routers.push(r);
  return r;
}

async function client(r: TestRouter | string): Promise<Client> {
  const c = await connect(typeof r === 'string' ? r : r.url, 'json');
  clients.push(c);
  return c;
}

async function ready(http: string): Promise<{ code: number; body: { status: string; reason?: string } }> {
  const r = await get(`${http}/ready`);
  return { code: r.status, body: (await r.json()) as { status: string; reason?: string } };
}

let seq = 0;

/** An event published on `a` reaches a subscriber on `b` (through NATS: they are different nodes). */
async function exchange(a: TestRouter, b: TestRouter): Promise<void> {
  const t = `com.auth.t${++seq}`;
  const pub = await client(a);
  const subscriber = await client(b);
  const s = await sub(subscriber, t);
  await linked(pub, t, [subscriber]);
  await pub.session.publish(t, ['across'], {}, { acknowledge: true });
  await s.events.waitFor(1);
  assert.deepEqual(argsOf(s.events), ['across']);
  for (const r of [a, b]) assert.equal((await ready(r.http)).code, 200);
}

/** The node stays single: /ready 503 naming the NATS link, and its own sessions still get events. */
async function single(r: TestRouter, cause: RegExp): Promise<void> {
  let last = '';
  await until(async () => {
    const { code, body } = await ready(r.http);
    last = `${code} ${JSON.stringify(body)}`;
    return code === 503 && cause.test(body.reason ?? '');
  }, `/ready 503 with a reason matching ${cause}`).catch((e: Error) => {
    throw new Error(`${e.message} (last: ${last})`);
  });
  const c = await client(r);
  const t = `com.auth.t${++seq}`;
  const s = await sub(c, t);
  await c.session.publish(t, ['local'], {}, { acknowledge: true, exclude_me: false });
  await s.events.waitFor(1);
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
let jti = 0;

/** A NATS JWT (header, claims, ed25519 signature by `signer` in base64url). */
function jwt(signer: KeyPair, claims: Json): string {
  const head = b64({ typ: 'JWT', alg: 'ed25519-nkey' });
  const body = b64({ jti: `CROSSWIRETEST${++jti}`, iat: Math.floor(Date.now() / 1000), iss: signer.getPublicKey(), ...claims });
  return `${head}.${body}.${Buffer.from(signer.sign(new TextEncoder().encode(`${head}.${body}`))).toString('base64url')}`;
}

/** A .creds file as `nsc` writes it: the user JWT, then the user's seed. */
function creds(userJwt: string, user: KeyPair): string {
  return (
    `-----BEGIN NATS USER JWT-----\n${userJwt}\n------END NATS USER JWT------\n\n` +
    '************************* IMPORTANT *************************\nNKEY Seed printed below can be used to sign and prove identity.\n\n' +
    `-----BEGIN USER NKEY SEED-----\n${text(user.getSeed())}\n------END USER NKEY SEED------\n`
  );
}

describe('NATS credentials and TLS (crosswire.cluster.nats)', () => {
  test('token: two nodes exchange an event through a nats-server that requires the token ("${VAR}")', async () => {
    const token = 'tok-3f1c9a7e5d';
    const n = await startNats(undefined, [], `authorization { token: ${q(token)} }\n`);
    const a = await node({ servers: [n.url], token: '${TEST_NATS_TOKEN}' }, { TEST_NATS_TOKEN: token });
    const b = await node({ servers: [n.url], token });
    await exchange(a, b);
  });

  test('nkey: seed from a file and from "${VAR}"; a seed the server does not know leaves the node single', async () => {
    const user = nkeys.createUser();
    const n = await startNats(undefined, [], `authorization { users: [ { nkey: ${q(user.getPublicKey())} } ] }\n`);
    const seedFile = file('user.nk', `${text(user.getSeed())}\n`);
    const a = await node({ servers: [n.url], nkey: seedFile });
    const b = await node({ servers: [n.url], nkey: '${TEST_NATS_SEED}' }, { TEST_NATS_SEED: text(user.getSeed()) });
    await exchange(a, b);
    const stranger = await node({ servers: [n.url], nkey: '${TEST_NATS_SEED}' }, { TEST_NATS_SEED: text(nkeys.createUser().getSeed()) });
    await single(stranger, /authorization violation/i);
  });

  test('TLS: the server certificate checked against tls.ca; mutual TLS with a client certificate', async () => {
    const chain = join(dir, 'server-chain.crt');
    const tlsOnly = await startNats(undefined, [], `tls { cert_file: ${q(chain)}, key_file: ${q(pki.serverKey)} }\n`);
    await exchange(await node({ servers: [tlsOnly.url], tls: { ca: pki.rootCert } }), await node({ servers: [tlsOnly.url], tls: { ca: pki.rootCert } }));
    // A CA that did not sign the server's certificate: no connection (no fallback to plain text).
    await single(await node({ servers: [tlsOnly.url], tls: { ca: pki.strangerCert } }), /cannot connect to NATS: unable to get local issuer certificate/);

    const mutual = await startNats(undefined, [], `tls { cert_file: ${q(chain)}, key_file: ${q(pki.serverKey)}, ca_file: ${q(pki.rootCert)}, verify: true }\n`);
    const withCert = { servers: [mutual.url], tls: { ca: pki.rootCert, cert: pki.clientCert, key: pki.clientKey } };
    await exchange(await node(withCert), await node(withCert));
    // No client certificate, or one the server's CA did not sign: refused. The nats client sees the
    // server's TLS alert only as a connection that does not complete; the reason says what it was.
    const [noCert, stranger] = [
      await node({ servers: [mutual.url], tls: { ca: pki.rootCert } }),
      await node({ servers: [mutual.url], tls: { ca: pki.rootCert, cert: pki.strangerCert, key: pki.strangerKey } }),
    ];
    await Promise.all([
      single(noCert, /cannot connect to NATS: no connection within 5 s \(TIMEOUT\): the NATS server requires a client certificate \(TLS alert "(certificate required|bad certificate)"\): set crosswire\.cluster\.nats\.tls\.cert and crosswire\.cluster\.nats\.tls\.key/),
      single(stranger, /cannot connect to NATS: no connection within 5 s \(TIMEOUT\): the NATS server refused this node's client certificate \(TLS alert "[a-z ]+"\): crosswire\.cluster\.nats\.tls\.cert must be valid and signed by a CA the server trusts/),
    ]);
  });

  test('the nats cookie store connects with the same options: nkey and mutual TLS; a cookie from node a admits on node b', async () => {
    const user = nkeys.createUser();
    const chain = join(dir, 'server-chain.crt');
    const n = await startNats(
      undefined,
      [],
      `authorization { users: [ { nkey: ${q(user.getPublicKey())} } ] }\n` +
        `tls { cert_file: ${q(chain)}, key_file: ${q(pki.serverKey)}, ca_file: ${q(pki.rootCert)}, verify: true }\n`,
    );
    const nats = { servers: [n.url], nkey: '${TEST_NATS_SEED}', tls: { ca: pki.rootCert, cert: pki.clientCert, key: pki.clientKey } };
    const env = { TEST_NATS_SEED: text(user.getSeed()) };
    const more = {
      realms: [{ name: 'realm1', roles: [{ ...ANONYMOUS_ALL, name: 'user' }] }],
      transport: {
        cookie: { store: { type: 'nats', bucket: 'auth-cookies' } },
        auth: { ticket: { type: 'static', principals: { alice: { ticket: 'alice-secret', role: 'user' } } }, cookie: {} },
      },
    };
    const [a, b] = [await node(nats, env, more), await node(nats, env, more)];
    const cbtid = await ticketLogin(a.url, 'alice-secret');
    const welcome = await admitted(b.url, cbtid, 'node b to admit the cookie from node a');
    assert.equal((welcome[2] as Json).authprovider, 'cookie');
  });

  test('TLS required by a tls:// URL: a nats-server without TLS is refused, not used in plain text', async () => {
    const plain = await startNats();
    await single(await node({ servers: [plain.url.replace('nats://', 'tls://')] }), /cannot connect to NATS: the server does not offer TLS/);
  });

  test('handshake_first reaches the client: nats-server 2.9 (no handshake_first) cannot talk to it', async () => {
    const chain = join(dir, 'server-chain.crt');
    const n = await startNats(undefined, [], `tls { cert_file: ${q(chain)}, key_file: ${q(pki.serverKey)} }\n`);
    await single(await node({ servers: [n.url], tls: { ca: pki.rootCert, handshake_first: true } }), /cannot connect to NATS: .*wrong version number/);
  });

  test('creds: operator-mode nats-server with JWTs; the .creds file from a file and from "${VAR}"; a user of an unknown account is refused', async () => {
    const operator = nkeys.createOperator();
    const account = nkeys.createAccount();
    const user = nkeys.createUser();
    const unlimited = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
    // JetStream (-js) in operator mode needs a system account.
    const system = nkeys.createAccount();
    const operatorJwt = jwt(operator, { sub: operator.getPublicKey(), name: 'test-operator', nats: { type: 'operator', version: 2, system_account: system.getPublicKey() } });
    const systemJwt = jwt(operator, { sub: system.getPublicKey(), name: 'SYS', nats: { limits: unlimited, default_permissions: { pub: {}, sub: {} }, type: 'account', version: 2 } });
    const accountJwt = jwt(operator, {
      sub: account.getPublicKey(),
      name: 'crosswire',
      nats: { limits: { ...unlimited, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 }, default_permissions: { pub: {}, sub: {} }, type: 'account', version: 2 },
    });
    const userClaims = { sub: user.getPublicKey(), name: 'node', nats: { pub: {}, sub: {}, subs: -1, data: -1, payload: -1, type: 'user', version: 2 } };
    const n = await startNats(
      undefined,
      [],
      `operator: ${q(operatorJwt)}\nsystem_account: ${system.getPublicKey()}\nresolver: MEMORY\n` +
        `resolver_preload: {\n  ${account.getPublicKey()}: ${q(accountJwt)}\n  ${system.getPublicKey()}: ${q(systemJwt)}\n}\n`,
    );
    const good = creds(jwt(account, userClaims), user);
    const a = await node({ servers: [n.url], creds: file('node.creds', good) });
    const b = await node({ servers: [n.url], creds: '${TEST_NATS_CREDS}' }, { TEST_NATS_CREDS: good });
    await exchange(a, b);
    // The same user, signed by an account the operator did not sign: the server refuses it.
    const forged = creds(jwt(nkeys.createAccount(), userClaims), user);
    await single(await node({ servers: [n.url], creds: file('forged.creds', forged) }), /authorization violation/i);
  });

  test('a wrong token: `crosswire start` runs single, /ready 503 and a log line name the cause, the token is never logged', async () => {
    const n = await startNats(undefined, [], `authorization { token: ${q('the-right-token')} }\n`);
    const wrong = 'wr0ng-t0ken-8c2d';
    const config = file('wrong-token.json', JSON.stringify({
      version: 2,
      workers: [{ type: 'router', realms: [{ name: 'realm1', roles: [ANONYMOUS_ALL] }], transports: [{ type: 'websocket', endpoint: { type: 'tcp', port: 0 } }] }],
      crosswire: { realm_threads: 1, cluster: { nats: { servers: [n.url], token: '${TEST_NATS_TOKEN}' } } },
    }));
    const p = await spawnRouter(['--config', config], { TEST_NATS_TOKEN: wrong });
    children.push(p);
    const line = await p.waitForLine((l) => /cluster/.test(l) && /authorization violation/i.test(l), 15_000, 'a log line naming the refused credentials');
    assert.match(JSON.parse(line).msg as string, /cluster: .*NATS/);
    await single({ http: `http://127.0.0.1:${p.port}`, url: `ws://127.0.0.1:${p.port}/ws` } as TestRouter, /authorization violation/i);
    assert.ok(!p.stdout.some((l) => l.includes(wrong)), 'the token is not logged');
    p.child.kill('SIGTERM');
    await p.exited;
  });

  test('crosswire check refuses a missing or bad NKey seed, .creds, CA, client certificate or key, naming the key', async () => {
    const base = (nats: Json) => ({
      version: 2,
      workers: [{ type: 'router', realms: [{ name: 'realm1', roles: [{ name: 'anonymous', permissions: [] }] }], transports: [{ type: 'websocket', endpoint: { type: 'tcp', port: 8080 } }] }],
      crosswire: { cluster: { nats: { servers: ['nats://127.0.0.1:4222'], ...nats } } },
    });
    const user = nkeys.createUser();
    const account = nkeys.createAccount();
    const good = creds(jwt(account, { sub: user.getPublicKey(), nats: { type: 'user', version: 2 } }), user);
    const cases: [Json, RegExp, NodeJS.ProcessEnv?][] = [
      [{ nkey: 'missing.nk' }, /crosswire\.cluster\.nats\.nkey: cannot read .*missing\.nk: ENOENT/],
      [{ nkey: file('bad.nk', 'not a seed\n') }, /crosswire\.cluster\.nats\.nkey: .*bad\.nk is not an NKey seed/],
      [{ nkey: file('account.nk', text(account.getSeed())) }, /crosswire\.cluster\.nats\.nkey: .*account\.nk is the seed of an NKey that is not a user's/],
      [{ nkey: '${TEST_SEED}' }, /crosswire\.cluster\.nats\.nkey: the value of its environment variable is not an NKey seed/, { TEST_SEED: 'SUnope' }],
      [{ creds: 'missing.creds' }, /crosswire\.cluster\.nats\.creds: cannot read .*missing\.creds: ENOENT/],
      [{ creds: file('garbage.creds', 'hello\n') }, /crosswire\.cluster\.nats\.creds: .*garbage\.creds is not a NATS credentials file/],
      [{ creds: file('other.creds', creds(jwt(account, { sub: nkeys.createUser().getPublicKey() }), user)) }, /crosswire\.cluster\.nats\.creds: the JWT in .*other\.creds is not for the user of the seed in it/],
      [{ creds: file('expired.creds', creds(jwt(account, { sub: user.getPublicKey(), exp: 1_000_000_000 }), user)) }, /crosswire\.cluster\.nats\.creds: the JWT in .*expired\.creds expired at 2001-09-09/],
      [{ creds: '${TEST_CREDS}' }, /crosswire\.cluster\.nats\.creds: the value of its environment variable is not a NATS credentials file/, { TEST_CREDS: 'x' }],
      [{ tls: { ca: 'missing-ca.crt' } }, /crosswire\.cluster\.nats\.tls\.ca: cannot read .*missing-ca\.crt: ENOENT/],
      [{ tls: { ca: pki.serverKey } }, /crosswire\.cluster\.nats\.tls\.ca: .* is not a PEM certificate/],
      [{ tls: { cert: pki.clientCert, key: pki.strangerKey } }, /crosswire\.cluster\.nats\.tls\.key: .*stranger\.key does not belong to the certificate/],
      [{ tls: { cert: pki.clientKey, key: pki.clientKey } }, /crosswire\.cluster\.nats\.tls\.cert: .* is not a PEM certificate/],
      [{ tls: { cert: pki.clientCert, key: pki.clientCert } }, /crosswire\.cluster\.nats\.tls\.key: .* is not an unencrypted PEM private key/],
    ];
    for (const [i, [nats, refusal, env]] of cases.entries()) {
      const f = file(`check-${i}.json`, JSON.stringify(base(nats)));
      const r = await runCli(['check', '--config', f], env ?? {});
      assert.notEqual(r.code, 0, `case ${i} is refused`);
      assert.match(r.stderr, refusal, `case ${i}`);
      for (const v of Object.values(env ?? {})) assert.ok(!r.stderr.includes(v as string) && !r.stdout.includes(v as string), `case ${i}: the secret is not printed`);
    }
    // The same files, when good, pass (relative paths: from the config file's directory).
    writeFileSync(join(dir, 'good.nk'), text(user.getSeed()));
    for (const nats of [{ nkey: 'good.nk' }, { creds: file('good.creds', good) }, { tls: { ca: pki.rootCert, cert: pki.clientCert, key: pki.clientKey } }]) {
      const r = await runCli(['check', '--config', file('check-good.json', JSON.stringify(base(nats)))]);
      assert.equal(r.code, 0, `${JSON.stringify(nats)}: ${r.stderr}`);
      assert.ok(!r.stdout.includes(text(user.getSeed())), 'the seed is not printed');
    }
  });
});
