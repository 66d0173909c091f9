import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import autobahn from 'autobahn';
import { buildConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/shared/log.js';
import { Router } from '../../src/router.js';
import { type Client, connect } from '../helpers/client.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { Inbox } from '../helpers/wait.js';

// A pattern SUBSCRIBE/REGISTER must not reach URIs its role may not
// subscribe to/register, nor (registrations) the router's own wamp.* namespace.

type Dict = Record<string, unknown>;
type Ev = { args: unknown[]; details: Dict };
const ALL = { call: true, register: true, publish: true, subscribe: true };

/** The items of `inbox` up to and including the first one `pred` accepts (waits for it). */
async function until<T>(inbox: Inbox<T>, pred: (v: T) => boolean, ms = 5000): Promise<T[]> {
  const deadline = Date.now() + ms;
  for (let n = 1; ; n++) {
    const items = await inbox.waitFor(n, Math.max(1, deadline - Date.now()));
    if (pred(items[n - 1]!)) return items.slice(0, n);
  }
}

async function subscribe(c: Client, topic: string, options: Dict = {}): Promise<Inbox<Ev>> {
  const inbox = new Inbox<Ev>();
  await c.session.subscribe(topic, (args, _kw, details) => inbox.push({ args, details: details as unknown as Dict }), options);
  return inbox;
}

/** EVENT.Details.topic of a pattern subscription; for an exact one, the topic publishAll() put in the arguments. */
const topicOf = (e: Ev): string => (e.details.topic ?? e.args[0]) as string;

/** The concrete topics an inbox received up to the event on `marker` (published last, so all earlier ones are in). */
async function topicsUntil(inbox: Inbox<Ev>, marker: string): Promise<string[]> {
  return (await until(inbox, (e) => topicOf(e) === marker)).map(topicOf);
}

async function wampError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { error: string }).error;
  }
  return assert.fail('expected a WAMP error');
}

const publishAll = async (c: Client, topics: string[]) => {
  for (const t of topics) await c.session.publish(t, [t], {}, { acknowledge: true });
};

describe('static roles', () => {
  let r: TestRouter;
  const login = (authid: string) =>
    connect(r.url, 'json', 'realm1', { authmethods: ['ticket'], authid, onchallenge: () => `${authid}-ticket`, on_user_error: () => {} });
  let backend: Client;

  before(async () => {
    const principals = Object.fromEntries(
      ['backend', 'limited', 'wildreg', 'wildsub', 'anyone', 'reader'].map((role) => [role, { ticket: `${role}-ticket`, role }]),
    );
    r = await startRouter({
      crosswire: { auth_fail_delay: 0 },
      realms: [
        {
          name: 'realm1',
          store: { type: 'memory', 'event-history': [{ uri: 'com.example.hist', match: 'prefix', limit: 10 }] },
          roles: [
            { name: 'backend', permissions: [{ uri: '', match: 'prefix', allow: ALL }] },
            {
              // Subscribes to some topics and their patterns, registers one procedure.
              name: 'limited',
              permissions: [
                { uri: 'com.example.news', match: 'exact', allow: { subscribe: true } },
                { uri: 'com.example.feed.', match: 'prefix', allow: { subscribe: true } },
                { uri: 'com.example.feed.secret', match: 'exact', allow: {} },
                { uri: 'com.example.api.add', match: 'exact', allow: { register: true } },
                { uri: 'com.example..public', match: 'wildcard', allow: { subscribe: true } },
              ],
            },
            // May register anything of three components.
            { name: 'wildreg', permissions: [{ uri: '..', match: 'wildcard', allow: { register: true } }] },
            // May subscribe to anything of three components except the meta API.
            {
              name: 'wildsub',
              permissions: [
                { uri: '..', match: 'wildcard', allow: { subscribe: true } },
                { uri: 'wamp.', match: 'prefix', allow: {} },
              ],
            },
            // May read event history, and subscribe to one topic of it.
            {
              name: 'reader',
              permissions: [
                { uri: 'wamp.subscription.get_events', match: 'exact', allow: { call: true } },
                { uri: 'com.example.hist', match: 'exact', allow: { subscribe: true } },
              ],
            },
            { name: 'anyone', permissions: [{ uri: '', match: 'prefix', allow: { subscribe: true } }, { uri: 'wamp.session.on_join', match: 'exact', allow: {} }] },
          ],
        },
      ],
      transport: { auth: { ticket: { type: 'static', principals } } },
    });
    backend = await login('backend');
  });
  after(async () => {
    await backend?.close();
    await r?.stop();
  });

  test('prefix and wildcard subscriptions deliver only topics the role may subscribe to', async () => {
    const c = await login('limited');
    const other = await login('backend');
    try {
      const news = await subscribe(c, 'com.example.news', { match: 'prefix' });
      const feed = await subscribe(c, 'com.example.feed.', { match: 'prefix' });
      const pub = await subscribe(c, 'com.example.x.public', { match: 'prefix' });
      const wild = await subscribe(c, 'com.example..public', { match: 'wildcard' });
      // Fully covered subscribers of the same subscriptions get everything: another backend
      // session on `news`, and the publisher itself on `feed` (the fan-out path that excludes it).
      const allNews = await subscribe(other, 'com.example.news', { match: 'prefix' });
      const allFeed = await subscribe(backend, 'com.example.feed.', { match: 'prefix' });
      await publishAll(backend, [
        'com.example.news.internal',
        'com.example.newsroom.private',
        'com.example.feed.secret',
        'com.example.x.public.private',
        'com.example.news',
        'com.example.news.public',
        'com.example.feed.open',
        'com.example.x.public',
        'com.example.y.public',
        'com.example.marker.public',
      ]);
      // Each inbox is read up to its last allowed topic: everything published before it is in.
      assert.deepEqual(await topicsUntil(news, 'com.example.news.public'), ['com.example.news', 'com.example.news.public']);
      assert.deepEqual(await topicsUntil(feed, 'com.example.feed.open'), ['com.example.feed.open']);
      assert.deepEqual(await topicsUntil(pub, 'com.example.x.public'), ['com.example.x.public']);
      assert.deepEqual(await topicsUntil(wild, 'com.example.marker.public'), [
        'com.example.news.public',
        'com.example.x.public',
        'com.example.y.public',
        'com.example.marker.public',
      ]);
      assert.deepEqual(await topicsUntil(allNews, 'com.example.news.public'), [
        'com.example.news.internal',
        'com.example.newsroom.private',
        'com.example.news',
        'com.example.news.public',
      ]);
      assert.equal(allFeed.items.length, 0, 'the publisher is excluded');
    } finally {
      await c.close();
      await other.close();
    }
  });

  test('a pattern that can match nothing the role may subscribe to is refused', async () => {
    const c = await login('limited');
    try {
      assert.equal(await wampError(c.session.subscribe('com.example.api.add', () => {}, { match: 'prefix' })), 'wamp.error.not_authorized');
      assert.equal(await wampError(c.session.subscribe('com.example.x..private', () => {}, { match: 'wildcard' })), 'wamp.error.not_authorized');
      assert.equal(await wampError(c.session.register('com.example.feed.', () => {}, { match: 'prefix' })), 'wamp.error.not_authorized');
    } finally {
      await c.close();
    }
  });

  test('retained events: a pattern subscriber gets only those of topics it may subscribe to', async () => {
    const c = await login('limited');
    try {
      await backend.session.publish('com.example.news.retained_secret', ['secret'], {}, { acknowledge: true, retain: true });
      await backend.session.publish('com.example.news', ['ok'], {}, { acknowledge: true, retain: true });
      const inbox = await subscribe(c, 'com.example.news', { match: 'prefix', get_retained: true });
      await backend.session.publish('com.example.news.public', ['marker'], {}, { acknowledge: true });
      const got = await until(inbox, (e) => e.args[0] === 'marker');
      assert.deepEqual(got.map((e) => e.details.topic), ['com.example.news', 'com.example.news.public']);
    } finally {
      await c.close();
    }
  });

  test("event history of a pattern subscription: only events of topics the caller may subscribe to", async () => {
    const c = await login('reader');
    try {
      await c.session.subscribe('com.example.hist', () => {}, { match: 'prefix' });
      const theirs = await backend.session.subscribe('com.example.hist', () => {}, { match: 'prefix' });
      await publishAll(backend, ['com.example.hist.secret', 'com.example.hist', 'com.example.history']);
      const topics = async (who: Client) => ((await who.session.call('wamp.subscription.get_events', [theirs.id, 10])) as Dict[]).map((e) => e.topic);
      assert.deepEqual(await topics(c), ['com.example.hist']);
      assert.deepEqual(await topics(backend), ['com.example.history', 'com.example.hist', 'com.example.hist.secret']); // control
    } finally {
      await c.close();
    }
  });

  test('a prefix REGISTER is not sent calls to procedures its role may not register', async () => {
    const c = await login('limited');
    try {
      const calls: string[] = [];
      await c.session.register(
        'com.example.api.add',
        (_a, _k, d) => {
          calls.push((d as unknown as Dict).procedure as string);
          return 'limited';
        },
        { match: 'prefix' },
      );
      // The hijack: nobody else serves add_admin.
      assert.equal(await wampError(backend.session.call('com.example.api.add_admin', [1])), 'wamp.error.no_such_procedure');
      // With the backend's wider registration, add_admin goes there (the next eligible registration)...
      const reg = await backend.session.register('com.example.api.', () => 'backend', { match: 'prefix' });
      assert.equal(await backend.session.call('com.example.api.add_admin'), 'backend');
      // ...and the procedure the role may register still goes to its callee.
      assert.equal(await backend.session.call('com.example.api.add'), 'limited');
      assert.deepEqual(calls, ['com.example.api.add']);
      // The meta API reports the same routing.
      const match = async (p: string) => backend.session.call('wamp.registration.match', [p]);
      assert.equal(await match('com.example.api.add_admin'), reg.id);
      await backend.session.unregister(reg);
    } finally {
      await c.close();
    }
  });

  test('a partly covered pattern cannot take a registration over with force_reregister', async () => {
    const c = await login('limited');
    try {
      const reg = await backend.session.register('com.example.api.add', () => 'backend', { match: 'prefix' });
      assert.equal(await wampError(c.session.register('com.example.api.add', () => 'limited', { match: 'prefix', force_reregister: true })), 'wamp.error.not_authorized');
      assert.equal(await backend.session.call('com.example.api.add_admin'), 'backend');
      await backend.session.unregister(reg);
    } finally {
      await c.close();
    }
  });

  test('a wildcard registration never answers wamp.* calls', async () => {
    const c = await login('wildreg');
    try {
      const seen: string[] = [];
      await c.session.register(
        '..',
        (_a, _k, d) => {
          seen.push((d as unknown as Dict).procedure as string);
          return 'spoofed';
        },
        { match: 'wildcard' },
      );
      assert.equal(await wampError(backend.session.call('wamp.foo.bar')), 'wamp.error.no_such_procedure');
      assert.equal(await wampError(backend.session.call('wamp.session.get_events_by_time')), 'wamp.error.no_such_procedure');
      // The router's own meta procedures still answer; application procedures still reach the pattern.
      assert.equal(typeof (await backend.session.call('wamp.session.count')), 'number');
      assert.equal(await backend.session.call('com.foo.bar'), 'spoofed');
      assert.deepEqual(seen, ['com.foo.bar']);
    } finally {
      await c.close();
    }
  });

  test('a pattern subscription gets wamp.* meta events only when the role may subscribe to those topics', async () => {
    const wild = await login('wildsub');
    const any = await login('anyone');
    const meta = await login('backend');
    try {
      const w = await subscribe(wild, '..', { match: 'wildcard' });
      const a = await subscribe(any, '', { match: 'prefix' });
      const m = await subscribe(meta, '..', { match: 'wildcard' });
      await assert.rejects(wild.session.subscribe('wamp.session.on_join', () => {}), (e: { error: string }) => e.error === 'wamp.error.not_authorized');
      const joiner = await login('backend'); // wamp.session.on_join
      await joiner.close(); // wamp.session.on_leave
      await backend.session.publish('com.example.marker', ['marker'], {}, { acknowledge: true });
      const sessionEvents = async (inbox: Inbox<Ev>) => (await topicsUntil(inbox, 'com.example.marker')).filter((t) => t.startsWith('wamp.session.'));
      // The backend may subscribe to every topic: it gets both meta events (control).
      assert.deepEqual(await sessionEvents(m), ['wamp.session.on_join', 'wamp.session.on_leave']);
      // 'wildsub' may subscribe to no wamp.* topic: nothing but the marker.
      assert.deepEqual(await topicsUntil(w, 'com.example.marker'), ['com.example.marker']);
      // 'anyone' may subscribe to wamp.session.on_leave, not to on_join.
      assert.deepEqual(await sessionEvents(a), ['wamp.session.on_leave']);
    } finally {
      await Promise.all([wild.close(), any.close(), meta.close()]);
    }
  });
});

describe('config/secured.json', () => {
  let router: Router;
  let url: string;
  before(async () => {
    const json = JSON.parse(readFileSync(new URL('../../../config/secured.json', import.meta.url), 'utf8')) as {
      workers: { transports: { endpoint: Dict }[] }[];
      crosswire: Dict;
    };
    json.workers[0]!.transports[0]!.endpoint.port = 0;
    json.crosswire = { ...json.crosswire, auth_fail_delay: 0, log_level: process.env.TEST_LOG_LEVEL ?? 'silent' };
    const config = buildConfig(json, { SERVICE1_TICKET: 'svc-ticket', JOE_SECRET: 'joe-secret' });
    router = await Router.start(config, createLogger(config.logLevel));
    url = `ws://127.0.0.1:${router.listeners[0]!.port}/ws`;
  });
  after(() => router?.shutdown(500));

  test("joe (frontend: exact subscribe on com.example.news) cannot read com.example.news.* through a prefix", async () => {
    const service = await connect(url, 'json', 'realm1', { authmethods: ['ticket'], authid: 'service1', onchallenge: () => 'svc-ticket' });
    const joe = await connect(url, 'json', 'realm1', {
      authmethods: ['wampcra'],
      authid: 'joe',
      onchallenge: (_s: unknown, _m: string, x: Dict) => autobahn.auth_cra.sign('joe-secret', x.challenge as string),
    });
    try {
      assert.equal(joe.details.authrole, 'frontend');
      assert.equal(await wampError(joe.session.subscribe('com.example.news.internal', () => {})), 'wamp.error.not_authorized');
      const inbox = await subscribe(joe, 'com.example.news', { match: 'prefix' });
      await publishAll(service, ['com.example.news.internal', 'com.example.news', 'com.example.newsroom.private', 'com.example.news.public']);
      assert.deepEqual(await topicsUntil(inbox, 'com.example.news.public'), ['com.example.news', 'com.example.news.public']);
    } finally {
      await joe.close();
      await service.close();
    }
  });
});

describe('dynamic authorizer', () => {
  let r: TestRouter;
  let service: Client;
  const asked: { uri: string; action: string; options: Dict }[] = [];
  before(async () => {
    r = await startRouter({
      crosswire: { auth_fail_delay: 0 },
      realms: [
        {
          name: 'realm1',
          roles: [
            { name: 'service', permissions: [{ uri: '', match: 'prefix', allow: ALL }] },
            { name: 'dyn', authorizer: 'com.example.authorize' },
          ],
        },
      ],
      transport: {
        auth: {
          ticket: {
            type: 'static',
            principals: { svc: { ticket: 'svc-ticket', role: 'service' }, dyn: { ticket: 'dyn-ticket', role: 'dyn' } },
          },
        },
      },
    });
    service = await connect(r.url, 'json', 'realm1', { authmethods: ['ticket'], authid: 'svc', onchallenge: () => 'svc-ticket', on_user_error: () => {} });
    await service.session.register('com.example.authorize', (args) => {
      const [, uri, action, options] = args as [Dict, string, string, Dict];
      asked.push({ uri, action, options });
      // A naive authorizer that judges the URI string only...
      if (uri === 'com.example.news' || uri === 'com.example.api.add') return true;
      // ...and one that knows about patterns and grants this one explicitly.
      if (uri === 'com.example.feed.' && action === 'subscribe') return { allow: true, match: options.match };
      return false;
    });
  });
  after(async () => {
    await service?.close();
    await r?.stop();
  });

  test('a pattern is refused unless the authorizer grants that match explicitly', async () => {
    const c = await connect(r.url, 'json', 'realm1', { authmethods: ['ticket'], authid: 'dyn', onchallenge: () => 'dyn-ticket' });
    try {
      const inbox = await subscribe(c, 'com.example.news'); // exact: the plain `true` is enough
      assert.equal(await wampError(c.session.subscribe('com.example.news', () => {}, { match: 'prefix' })), 'wamp.error.not_authorized');
      assert.equal(asked.at(-1)!.options.match, 'prefix', 'the authorizer was asked with the match');
      assert.equal(await wampError(c.session.register('com.example.api.add', () => 'dyn', { match: 'prefix' })), 'wamp.error.not_authorized');
      const feed = await subscribe(c, 'com.example.feed.', { match: 'prefix' });
      await publishAll(service, ['com.example.news.internal', 'com.example.feed.a', 'com.example.news']);
      assert.deepEqual(await topicsUntil(inbox, 'com.example.news'), ['com.example.news']);
      assert.deepEqual(await topicsUntil(feed, 'com.example.feed.a'), ['com.example.feed.a']);
      assert.equal(await wampError(service.session.call('com.example.api.add_admin')), 'wamp.error.no_such_procedure');
    } finally {
      await c.close();
    }
  });
});
