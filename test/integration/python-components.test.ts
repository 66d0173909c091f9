// Crossbar.io's Python components, run unchanged with Autobahn|Python (Debian's
// python3-autobahn): router components with a role, container components on their connecting
// transport, and the private path router components join over.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MsgType } from '../../src/shared/wamp/codes.js';
import { connect } from '../helpers/client.js';
import { configDir, freePort } from '../helpers/crossbar-files.js';
import { type RouterProcess, spawnRouter } from '../helpers/process.js';
import { RawPeer } from '../helpers/raw.js';
import { Inbox, within } from '../helpers/wait.js';

const FIXTURE = new URL('../../../test/fixtures/python-components/', import.meta.url).pathname;
const CONFIG = join(FIXTURE, 'config.json');
const dir = configDir('crosswire-python-components-');

type Line = Record<string, unknown>;
const parsed = (p: RouterProcess): Line[] => p.stdout.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
/** The first log line (seen or future) with these fields. */
const line = (p: RouterProcess, fields: Line, ms = 30_000): Promise<Line> =>
  p
    .waitForLine((l) => {
      if (!l.startsWith('{')) return false;
      const o = JSON.parse(l) as Line;
      return Object.entries(fields).every(([k, v]) => o[k] === v);
    }, ms, JSON.stringify(fields))
    .then((l) => JSON.parse(l) as Line);
/** The n-th such line. */
const nth = (p: RouterProcess, fields: Line, n: number, ms = 30_000): Promise<Line> => {
  const match = (o: Line) => Object.entries(fields).every(([k, v]) => o[k] === v);
  let count = 0;
  return p
    .waitForLine((l) => l.startsWith('{') && match(JSON.parse(l) as Line) && ++count === n, ms, `${n}× ${JSON.stringify(fields)}`)
    .then((l) => JSON.parse(l) as Line);
};

describe('Python components from a Crossbar config (Autobahn|Python)', () => {
  let p: RouterProcess;
  let port: number;
  let url: string;
  const state = join(dir, 'state');

  before(async () => {
    mkdirSync(state);
    port = await freePort();
    url = `ws://127.0.0.1:${port}/ws`;
    // CROSSWIRE_PORT: the first transport's port, and "$CROSSWIRE_PORT" in the connecting endpoints.
    p = await spawnRouter(['--config', CONFIG], { CROSSWIRE_PORT: String(port), CROSSWIRE_TEST_STATE: state, CROSSWIRE_LOG_FORMAT: 'json' });
  });
  after(() => p.child.kill('SIGKILL'));

  test('/ready is 503 "components" until every configured component has joined, then 200', async () => {
    const early = await fetch(`http://127.0.0.1:${port}/ready`);
    assert.equal(early.status, 503);
    assert.deepEqual(await early.json(), { status: 'components' });
    await Promise.all([
      line(p, { component: 'backend', msg: 'component running' }),
      line(p, { component: 'listener', msg: 'component running' }),
      // raises and exits fail on their first run: the second "running" is after their restart.
      nth(p, { component: 'raises', msg: 'component running' }, 2),
      nth(p, { component: 'exits', msg: 'component running' }, 2),
    ]);
    const ready = await fetch(`http://127.0.0.1:${port}/ready`);
    assert.equal(ready.status, 200, JSON.stringify(await ready.json()));
  });

  test('a Twisted router component joins with its role and registers procedures an AutobahnJS client calls; extra, pythonpath and env reach it', async () => {
    const c = await connect(url, 'json');
    try {
      assert.equal(await c.session.call('com.example.add2', [2, 3]), 5);
      // The role and a random authid (Crossbar: uuid4) are the router's; no credentials were involved.
      const who = (await c.session.call('com.example.whoami')) as Record<string, string>;
      assert.equal(who.authrole, 'backend');
      assert.match(who.authid!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(who.authmethod, 'trusted');
      // extra as ComponentConfig.extra, with Crossbar's cbdir (the config's directory).
      assert.deepEqual(await c.session.call('com.example.extra'), { greeting: 'hello from extra', answer: 42, cbdir: dirname(CONFIG) });
      // options.env: inherit only PATH and CROSSWIRE_TEST_STATE, plus vars; PYTHONUNBUFFERED as Crossbar sets it.
      assert.deepEqual(await c.session.call('com.example.env'), { GREETING: 'hello from options.env', CROSSWIRE_TEST_STATE: state, HOME: null, PYTHONUNBUFFERED: '1' });
      assert.ok(process.env.HOME !== undefined, 'HOME is set in the router, so its absence above is the inherit list at work');
      // Logged under its router worker and component id.
      const joined = await line(p, { component: 'backend', stream: 'stdout', msg: 'backend joined as backend' });
      assert.equal(joined.router, 'router');
    } finally {
      await c.close();
    }
  });

  test('an asyncio container component subscribes to a topic through its connecting transport', async () => {
    const c = await connect(url, 'msgpack');
    try {
      const echoes = new Inbox<unknown[]>();
      await c.session.subscribe('app.public.echo', (args) => echoes.push(args));
      await c.session.publish('com.example.topic', ['hi', 7], {}, { acknowledge: true });
      assert.deepEqual(await echoes.waitFor(1, 10_000), [['python saw', 'hi', 7]]);
      assert.equal(await c.session.call('app.public.listener.label'), 'the asyncio listener');
      // It came in over the public transport like any client, with the role its authentication gave.
      const running = await line(p, { component: 'listener', msg: 'component running' });
      assert.equal(running.container, 'pycontainer');
      assert.equal(running.authrole, 'anonymous');
    } finally {
      await c.close();
    }
  });

  test('a component that raises in onJoin and one whose process exits are logged, restarted and counted', async () => {
    const c = await connect(url, 'json');
    try {
      assert.equal(await c.session.call('com.example.raises'), 'raised once, then up');
      assert.equal(await c.session.call('app.public.exits'), 'exited once, then up');
    } finally {
      await c.close();
    }
    const lines = parsed(p);
    const failed = (id: string) => lines.filter((l) => l.component === id && l.msg === 'component failed');
    assert.equal(failed('raises').length, 1);
    assert.match(String(failed('raises')[0]!.error), /While firing onJoin: RuntimeError: onJoin failed on purpose/);
    assert.equal(failed('exits').length, 1);
    assert.equal(failed('exits')[0]!.code, 7);
    assert.equal(failed('exits')[0]!.container, 'pycontainer');
    for (const id of ['raises', 'exits']) assert.ok(lines.some((l) => l.component === id && l.msg === 'restarting component' && l.restarts === 1), id);
    // The traceback is in the log, under the component.
    assert.ok(lines.some((l) => l.component === 'raises' && String(l.msg).includes('RuntimeError: onJoin failed on purpose') && l.stream !== undefined));
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^crosswire_component_restarts_total 2$/m);
    assert.match(metrics, /^crosswire_components\{state="running"\} 4$/m);
  });

  test("a client cannot take a router component's role over the public transport", async () => {
    // Asking for the role, with a made-up token where the component puts its own: the transport's
    // anonymous authentication decides (as in Crossbar), and the role's rights are not granted.
    const c = await connect(url, 'json', 'realm1', { authrole: 'backend', authid: 'backend', authextra: { crosswire_component_token: 'A'.repeat(43) } });
    try {
      assert.equal(c.details.authrole, 'anonymous');
      await assert.rejects(c.session.register('com.example.backend_only', () => 0), (e: { error?: string }) => e.error === 'wamp.error.not_authorized');
    } finally {
      await c.close();
    }
    // A method only components have (no such authmethod on the public transport).
    await assert.rejects(connect(url, 'json', 'realm1', { authmethods: ['trusted'], authrole: 'backend' }), /no_matching_auth_method/);
  });

  test("a client cannot join over the components' private socket: it is in a 0700 directory and admits only a one-time token", async () => {
    const listening = await line(p, { transport: 'crosswire-components', msg: 'listening' });
    const socket = String(listening.host);
    assert.equal(statSync(dirname(socket)).mode & 0o777, 0o700);
    assert.ok(statSync(socket).isSocket());
    const hello = (details: Record<string, unknown>) => [MsgType.HELLO, 'realm1', { roles: { caller: {}, callee: {} }, ...details }];
    for (const details of [{}, { authrole: 'backend' }, { authmethods: ['anonymous', 'ticket'], authextra: { crosswire_component_token: 'A'.repeat(43) } }, { authextra: { crosswire_component_token: 42 } }]) {
      const raw = await RawPeer.open(`ws+unix://${socket}:/ws`, 'json');
      raw.send(hello(details));
      const abort = await raw.next(MsgType.ABORT);
      assert.equal(abort[2], 'wamp.error.authentication_failed', JSON.stringify(details));
      assert.equal((await within(raw.closed, 5000, 'the close')).code, 1008);
    }
    // Each refusal is logged (the lines reach this process asynchronously: wait for the fourth).
    await nth(p, { msg: 'session refused on the component socket' }, 4, 5000);
    assert.equal(parsed(p).filter((l) => l.msg === 'session refused on the component socket').length, 4);
  });

  test('SIGTERM with a component registered: an in-flight call to it completes, it leaves cleanly, the router exits 0', async () => {
    const c = await connect(url, 'json');
    const call = c.session.call('com.example.slow', [1.5]);
    await line(p, { component: 'backend', msg: 'slow call started' }, 10_000);
    p.child.kill('SIGTERM');
    assert.equal(await within(call as Promise<unknown>, 10_000, 'the in-flight call'), 'slow done');
    assert.equal((await within(p.exited, 15_000, 'the router to exit')).code, 0);
    // Its last line: everything before it has been read.
    await line(p, { msg: 'router stopped' }, 5000);
    const lines = parsed(p);
    const after = lines.slice(lines.findIndex((l) => l.msg === 'shutting down'));
    // No component failed or was restarted during the stop.
    assert.deepEqual(after.filter((l) => l.msg === 'component failed' || l.msg === 'restarting component'), []);
    assert.ok(after.some((l) => l.component === 'backend' && String(l.msg).includes('wamp.close.system_shutdown')));
  });
});
