import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildConfig, ConfigError } from '../../src/config/load.js';
import { nkeys } from 'nats';
import { DEFAULT_CONFIG } from '../../src/config/default.js';
import { maskSecrets } from '../../src/config/effective.js';
import { eventSubject, interestSubject, MAX_SUBJECT, natsToken } from '../../workers/cluster.js';

const withCluster = (cluster: unknown) => ({ ...DEFAULT_CONFIG, crosswire: { cluster } });

function refused(raw: unknown, pattern: RegExp, env: NodeJS.ProcessEnv = {}) {
  assert.throws(() => buildConfig(raw, env), (e: unknown) => e instanceof ConfigError && pattern.test(e.message));
}

describe('crosswire.cluster', () => {
  test('unset: a single node (no cluster config reaches the workers)', () => {
    assert.equal(buildConfig(DEFAULT_CONFIG, {}).cluster, null);
    assert.equal(buildConfig(DEFAULT_CONFIG, { CROSSWIRE_CLUSTER_NATS: '' }).cluster, null);
  });

  test('servers and node id from the file', () => {
    const c = buildConfig(withCluster({ nats: { servers: ['nats://10.0.0.1:4222', 'tls://nats.example.com:4443', 'localhost:4222'] }, node_id: 'edge-1' }), {});
    assert.deepEqual(c.cluster, {
      servers: ['nats://10.0.0.1:4222', 'tls://nats.example.com:4443', 'localhost:4222'],
      nodeId: 'edge-1',
      user: null,
      password: null,
      token: null,
      nkey: null,
      creds: null,
      // tls:// in the list: TLS required (with the system's CAs).
      tls: { ca: null, cert: null, key: null, handshakeFirst: false },
    });
  });

  test('CROSSWIRE_CLUSTER_NATS (comma-separated) and CROSSWIRE_NODE_ID; a generated node id otherwise', () => {
    const c = buildConfig(DEFAULT_CONFIG, { CROSSWIRE_CLUSTER_NATS: 'nats://a:4222, nats://b:4222', CROSSWIRE_NODE_ID: 'n2' });
    assert.deepEqual(c.cluster?.servers, ['nats://a:4222', 'nats://b:4222']);
    assert.equal(c.cluster?.nodeId, 'n2');
    const g1 = buildConfig(DEFAULT_CONFIG, { CROSSWIRE_CLUSTER_NATS: 'nats://a:4222' }).cluster!.nodeId;
    const g2 = buildConfig(DEFAULT_CONFIG, { CROSSWIRE_CLUSTER_NATS: 'nats://a:4222' }).cluster!.nodeId;
    assert.match(g1, /^[A-Za-z0-9][A-Za-z0-9_.-]*-[0-9a-f]{8}$/);
    assert.notEqual(g1, g2);
  });

  test('credentials: "${VAR}" secrets from the environment, user and password together, not with a token', () => {
    const c = buildConfig(withCluster({ nats: { servers: ['nats://a:4222'], user: 'crosswire', password: '${NATS_PASS}' } }), { NATS_PASS: 'hunter2' });
    assert.equal(c.cluster?.user, 'crosswire');
    assert.equal(c.cluster?.password, 'hunter2');
    const t = buildConfig(withCluster({ nats: { servers: ['nats://a:4222'], token: '${NATS_TOKEN}' } }), { NATS_TOKEN: 's3cret' });
    assert.equal(t.cluster?.token, 's3cret');
    refused(withCluster({ nats: { servers: ['nats://a:4222'], token: '${NATS_TOKEN}' } }), /crosswire\.cluster\.nats\.token: environment variable NATS_TOKEN is not set/);
    refused(withCluster({ nats: { servers: ['nats://a:4222'], user: 'x' } }), /crosswire\.cluster\.nats\.password: user and password go together/);
    refused(withCluster({ nats: { servers: ['nats://a:4222'], user: 'x', password: 'y', token: 'z' } }), /crosswire\.cluster\.nats\.token: use one of user and password, token, nkey or creds, not both user and token/);
    refused(withCluster({ nats: { servers: [], token: 'z' } }), /crosswire\.cluster\.nats\.token: set, but crosswire\.cluster\.nats\.servers is empty/);
    const masked = maskSecrets({ nats: { user: 'crosswire', password: 'hunter2', token: 'abc' } }) as { nats: Record<string, string> };
    assert.equal(masked.nats.password, '********');
    assert.equal(masked.nats.token, '********');
  });

  test('nkey, creds and tls: paths from the config file\'s directory, "${VAR}" secrets checked at once, one way to authenticate', () => {
    const seed = new TextDecoder().decode(nkeys.createUser().getSeed());
    const n = (nats: Record<string, unknown>) => withCluster({ nats: { servers: ['nats://a:4222'], ...nats } });
    const files = buildConfig(n({ nkey: 'keys/user.nk', tls: { ca: '/etc/ca.crt', cert: 'c.crt', key: 'c.key' } }), {}, '/srv/cw').cluster!;
    assert.deepEqual(files.nkey, { file: '/srv/cw/keys/user.nk' });
    assert.deepEqual(files.tls, { ca: '/etc/ca.crt', cert: '/srv/cw/c.crt', key: '/srv/cw/c.key', handshakeFirst: false });
    assert.deepEqual(buildConfig(n({ nkey: '${SEED}' }), { SEED: seed }).cluster!.nkey, { value: seed });
    assert.deepEqual(buildConfig(n({ creds: 'x.creds' }), {}, '/srv').cluster!.creds, { file: '/srv/x.creds' });
    assert.equal(buildConfig(n({}), {}).cluster!.tls, null);
    assert.deepEqual(buildConfig(n({ tls: { handshake_first: true } }), {}).cluster!.tls, { ca: null, cert: null, key: null, handshakeFirst: true });
    refused(n({ nkey: '${SEED}' }), /crosswire\.cluster\.nats\.nkey: environment variable SEED is not set/);
    refused(n({ nkey: '${SEED}' }), /crosswire\.cluster\.nats\.nkey: the value of its environment variable is not an NKey seed/, { SEED: 'SUAAAA' });
    refused(n({ creds: '${CREDS}' }), /crosswire\.cluster\.nats\.creds: the value of its environment variable is not a NATS credentials file/, { CREDS: seed });
    refused(n({ token: 't', nkey: 'f' }), /crosswire\.cluster\.nats\.nkey: use one of .* not both token and nkey/);
    refused(n({ nkey: 'f', creds: 'g' }), /crosswire\.cluster\.nats\.creds: use one of .* not both nkey and creds/);
    refused(n({ tls: { cert: 'c.crt' } }), /crosswire\.cluster\.nats\.tls\.key: a client certificate and its key go together/);
    refused(withCluster({ nats: { servers: [], tls: { ca: 'ca.crt' } } }), /crosswire\.cluster\.nats\.tls\.ca: set, but crosswire\.cluster\.nats\.servers is empty/);
    refused(withCluster({ nats: { servers: [], nkey: 'f' } }), /crosswire\.cluster\.nats\.nkey: set, but/);
    refused(n({ nkey: '' }), /crosswire\.cluster\.nats\.nkey: is empty/);
    // A seed or .creds content written into the file is refused, without being echoed.
    for (const [k, v] of [['nkey', seed], ['creds', `-----BEGIN NATS USER JWT-----\nx\n------END NATS USER JWT------\n`]]) {
      assert.throws(() => buildConfig(n({ [k!]: v }), {}), (e: unknown) => e instanceof ConfigError && /looks like a secret, not a file name/.test(e.message) && !e.message.includes(v!));
    }
  });

  test('a bad value is refused naming the key; unknown keys stay errors', () => {
    refused(withCluster({ nats: { servers: ['http://a:4222'] } }), /crosswire\.cluster\.nats\.servers: 'http:\/\/a:4222' is not a NATS server URL/);
    refused(withCluster({ nats: { servers: [4222] } }), /crosswire\.cluster\.nats\.servers: '4222' is not a NATS server URL/);
    refused(DEFAULT_CONFIG, /crosswire\.cluster\.nats\.servers: 'a b' is not a NATS server URL/, { CROSSWIRE_CLUSTER_NATS: 'a b' });
    refused(withCluster({ nats: { servers: ['nats://a:4222'] }, node_id: 'no spaces' }), /crosswire\.cluster\.node_id: must match/);
    refused(withCluster({ nats: { servers: ['nats://a:4222'], credentials: 'x' } }), /crosswire\.cluster\.nats\.credentials/);
    refused(withCluster({ nats: { servers: ['nats://a:4222'] }, routes: [] }), /crosswire\.cluster\.routes/);
  });
});

describe('NATS subjects of topics and subscriptions (workers/cluster.ts)', () => {
  const base = 'cw.realm1.';
  test('plain components pass; others are escaped, never colliding with a plain one', () => {
    assert.equal(natsToken('com_x-1'), 'com_x-1');
    for (const c of ['*', '>', 'a b', 'ü', 'a~b', 'x*', '~']) {
      const t = natsToken(c);
      assert.match(t, /^~[A-Za-z0-9_-]+$/, c);
      assert.equal(Buffer.from(t.slice(1), 'base64url').toString('utf8'), c);
    }
    assert.equal(eventSubject(base, 'com.x.>'), `cw.realm1.e.com.x.${natsToken('>')}`);
    assert.equal(eventSubject(base, `a.${'x'.repeat(MAX_SUBJECT)}`), 'cw.realm1.L');
  });

  test('interest is a superset of what a pattern matches', () => {
    assert.equal(interestSubject(base, 'com.x.y', 'exact'), 'cw.realm1.e.com.x.y');
    assert.equal(interestSubject(base, 'com..y.', 'wildcard'), 'cw.realm1.e.com.*.y.*');
    // WAMP prefixes are string prefixes: 'com.x' also matches 'com.xy.z'.
    assert.equal(interestSubject(base, 'com.x', 'prefix'), 'cw.realm1.e.com.>');
    assert.equal(interestSubject(base, 'com.x.', 'prefix'), 'cw.realm1.e.com.x.>');
    assert.equal(interestSubject(base, 'com', 'prefix'), 'cw.realm1.e.>');
    assert.equal(interestSubject(base, '', 'prefix'), 'cw.realm1.e.>');
    // Too long for a subject: every matching topic travels on the realm's L subject.
    assert.equal(interestSubject(base, `a.${'x'.repeat(MAX_SUBJECT)}`, 'exact'), null);
  });
});
