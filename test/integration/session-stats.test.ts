import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SERIALIZERS } from '../../src/shared/serializers/index.js';
import { RawPeer } from '../helpers/raw.js';
import { ANONYMOUS_ALL, startRouter, type TestRouter } from '../helpers/router.js';

// Crossbar.io's realm `stats` (crossbar/router/session.py, RouterSession.onJoin/onLeave) over
// Autobahn|Python's serializer statistics (autobahn/wamp/serializer.py): wamp.session.on_stats.

type Dict = Record<string, unknown>;
const ON_STATS = 'wamp.session.on_stats';
const RATED = 64;

let r: TestRouter;
before(async () => {
  const roles = [ANONYMOUS_ALL];
  r = await startRouter({
    realms: [
      { name: 'realm1', roles, stats: { rated_message_size: RATED, trigger_after_rated_messages: 10, trigger_on_join: true } },
      // 300 ms, in nanoseconds as Crossbar's config has it.
      { name: 'timed', roles, stats: { trigger_after_duration: 300_000_000, trigger_on_leave: false } },
      { name: 'every', roles, stats: { rated_message_size: 2, trigger_after_rated_messages: 1 } },
      { name: 'nometa', roles, options: { enable_meta_api: false }, stats: { rated_message_size: 2, trigger_after_rated_messages: 1, trigger_on_join: true } },
    ],
  });
});
after(async () => {
  await r.stop();
});

/** A raw peer that records the size of every frame it sends and receives, in order, after `mark()`. */
class Counted {
  frames: { dir: 'in' | 'out'; bytes: number }[] = [];
  #on = false;
  constructor(readonly peer: RawPeer) {
    peer.ws.on('message', (data: Buffer) => {
      // Router → client: the router's "serialized" side.
      if (this.#on) this.frames.push({ dir: 'out', bytes: data.length });
    });
  }
  static async open(): Promise<Counted> {
    return new Counted(await RawPeer.open(r.url, 'json'));
  }
  mark(): void {
    this.#on = true;
    this.frames = [];
  }
  send(msg: unknown[]): void {
    if (this.#on) this.frames.push({ dir: 'in', bytes: Buffer.byteLength(SERIALIZERS.json.encode(msg) as string) });
    this.peer.send(msg);
  }
}

/** Autobahn's counts over `frames`. */
function counts(frames: { bytes: number }[], size = RATED): { bytes: number; messages: number; rated_messages: number } {
  let bytes = 0;
  let rated = 0;
  for (const f of frames) {
    bytes += f.bytes;
    rated += Math.ceil(f.bytes / size);
  }
  return { bytes, messages: frames.length, rated_messages: rated };
}

/** An observer subscribed to wamp.session.on_stats in `realm`; `next(session)` waits for that session's next event. */
async function observer(realm: string): Promise<{ peer: RawPeer; next: (session: number, ms?: number) => Promise<[Dict, Dict]> }> {
  const peer = await RawPeer.open(r.url, 'json');
  await peer.join(realm);
  peer.send([32, 1, {}, ON_STATS]);
  await peer.next(33);
  peer.send([32, 2, {}, 'marker']);
  await peer.next(33);
  const next = async (session: number, ms = 5000): Promise<[Dict, Dict]> => {
    for (;;) {
      const ev = await peer.next(36, ms);
      const [info, stats] = ev[4] as [Dict, Dict];
      if (info.session === session) return [info, stats];
    }
  };
  return { peer, next };
}

const PAYLOAD = 'x'.repeat(100);

describe('wamp.session.on_stats (realm stats)', () => {
  test('on join (first), after N rated messages with exact counts, and on leave (last)', async () => {
    const obs = await observer('realm1');
    const c = await Counted.open();
    const welcome = await c.peer.join('realm1');
    c.mark(); // counting starts after WELCOME (see docs/wamp-features.md)
    const id = welcome[1] as number;
    const [info, joined] = await obs.next(id);
    assert.deepEqual(info, { realm: 'realm1', session: id, authid: (welcome[2] as Dict).authid, authrole: 'anonymous' });
    assert.equal(joined.first, true);
    assert.equal(joined.last, false);
    assert.equal(joined.cycle, 1);
    assert.equal(joined.serializer, 'json');
    assert.deepEqual({ bytes: joined.bytes, messages: joined.messages, rated_messages: joined.rated_messages }, { bytes: 0, messages: 0, rated_messages: 0 });
    assert.equal(typeof joined.timestamp, 'number');
    assert.ok(Math.abs((joined.timestamp as number) / 1e6 - Date.now()) < 60_000, 'timestamp: nanoseconds since the epoch');

    // Acknowledged PUBLISHes, one at a time: the frames' order is known, so is where the trigger falls.
    const rated = obs.next(id);
    for (let i = 1; counts(c.frames).rated_messages < 10 && i <= 20; i++) {
      c.send([16, i, { acknowledge: true }, 'com.example.topic', [PAYLOAD]]);
      await c.peer.next(17);
    }
    const [, stats] = await rated;
    // The frames up to (and including) the one that reached 10 rated messages.
    let k = 0;
    let sum = 0;
    while (sum < 10) sum += Math.ceil(c.frames[k++]!.bytes / RATED);
    const before = c.frames.slice(0, k);
    assert.deepEqual({ bytes: stats.bytes, messages: stats.messages, rated_messages: stats.rated_messages }, counts(before));
    assert.equal(stats.first, false);
    assert.equal(stats.last, false);
    assert.equal(stats.cycle, 2);
    assert.ok((stats.duration as number) >= 0);

    // The rest, plus GOODBYE and the router's GOODBYE reply, in the last event.
    c.send([16, 100, { acknowledge: true }, 'com.example.topic', [PAYLOAD]]);
    await c.peer.next(17);
    c.send([6, {}, 'wamp.close.normal']);
    await c.peer.next(6);
    const [, last] = await obs.next(id);
    assert.equal(last.last, true);
    assert.equal(last.first, false);
    assert.equal(last.cycle, 3);
    assert.deepEqual({ bytes: last.bytes, messages: last.messages, rated_messages: last.rated_messages }, counts(c.frames.slice(k)));
    c.peer.close();
    obs.peer.close();
  });

  test('after a duration (nanoseconds): fired by the first message once it has passed', async () => {
    const obs = await observer('timed');
    const c = await Counted.open();
    const welcome = await c.peer.join('timed');
    c.mark();
    const id = welcome[1] as number;
    const t0 = performance.now();
    const ev = obs.next(id, 10_000);
    let got = false;
    void ev.then(() => (got = true));
    // Bounded: acknowledged PUBLISHes until the event arrives (at most 10 s or 20000 rounds).
    let rounds = 0;
    while (!got && rounds < 20000 && performance.now() - t0 < 10_000) {
      rounds++;
      c.send([16, rounds, { acknowledge: true }, 'com.example.topic', []]);
      await c.peer.next(17);
    }
    const [info, stats] = await ev;
    assert.equal(info.session, id);
    assert.equal(stats.first, true, 'no join event in this realm: the first event is the duration one');
    assert.equal(stats.cycle, 1);
    assert.ok((stats.duration as number) >= 300_000_000, `duration ${String(stats.duration)} ns`);
    assert.ok(performance.now() - t0 >= 290, 'not before the duration');
    // The counts are those of a prefix of the frames (up to the message that fired it).
    const n = stats.messages as number;
    assert.ok(n >= 1 && n <= c.frames.length);
    assert.deepEqual({ bytes: stats.bytes, messages: stats.messages, rated_messages: stats.rated_messages }, counts(c.frames.slice(0, n), 512));
    // trigger_on_leave false: nothing on leave; the marker published after the leave comes first.
    c.send([6, {}, 'wamp.close.normal']);
    await c.peer.next(6);
    c.peer.close();
    const m = await RawPeer.open(r.url, 'json');
    await m.join('timed');
    m.send([16, 1, { acknowledge: true }, 'marker', ['done']]);
    await m.next(17);
    const first = await obs.peer.next(36);
    assert.deepEqual(first[4], ['done'], `expected the marker event, got ${JSON.stringify(first)}`);
    m.close();
    obs.peer.close();
  });

  test('killed by the meta API: the last event comes with the router\'s GOODBYE; the client\'s GOODBYE reply adds none', async () => {
    // Every message triggers an event in this realm (2-byte rated messages, trigger after 1).
    const obs = await observer('every');
    const c = await Counted.open();
    const id = (await c.peer.join('every'))[1] as number;
    const killer = await RawPeer.open(r.url, 'json');
    await killer.join('every');
    killer.send([48, 1, {}, 'wamp.session.kill', [id]]);
    await killer.next(50);
    await c.peer.next(6); // the router's GOODBYE
    c.peer.send([6, {}, 'wamp.close.goodbye_and_out']);
    await c.peer.closed;
    // A marker after all that: the subject's events before it end with its last one.
    killer.send([16, 2, { acknowledge: true }, 'marker', ['done']]);
    await killer.next(17);
    const subject: Dict[] = [];
    for (;;) {
      const ev = await obs.peer.next(36);
      if (JSON.stringify(ev[4]) === '["done"]') break;
      const [info, stats] = ev[4] as [Dict, Dict];
      if (info.session === id) subject.push(stats);
    }
    assert.ok(subject.length >= 1);
    assert.equal(subject.at(-1)!.last, true, JSON.stringify(subject));
    assert.equal(subject.filter((x) => x.last === true).length, 1);
    killer.close();
    obs.peer.close();
  });

  test('meta API off: nothing is published', async () => {
    const obs = await observer('nometa');
    const c = await Counted.open();
    await c.peer.join('nometa');
    for (let i = 0; i < 5; i++) {
      c.send([16, i + 1, { acknowledge: true }, 'com.example.topic', [PAYLOAD]]);
      await c.peer.next(17);
    }
    c.send([6, {}, 'wamp.close.normal']);
    await c.peer.next(6);
    c.peer.close();
    // A marker published after all that: the first EVENT the observer gets is the marker's.
    const m = await RawPeer.open(r.url, 'json');
    await m.join('nometa');
    m.send([16, 1, { acknowledge: true }, 'marker', ['done']]);
    await m.next(17);
    const first = await obs.peer.next(36);
    assert.deepEqual(first[4], ['done'], `expected the marker event, got ${JSON.stringify(first)}`);
    m.close();
    obs.peer.close();
  });
});
