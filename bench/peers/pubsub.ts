/**
 * fanout (1 publisher → n subscribers) and fanin (n publishers → 1 subscriber).
 *
 * Publishers and subscribers live in one process, so flow control is exact and costs no IPC:
 * a publisher never gets more than `window` publications ahead of the slowest subscriber.
 * Every EVENT carries its publisher's sequence number and every subscriber checks it.
 *
 * Against the raw uWS fan-out server the publisher sends the EVENT itself (the server
 * forwards bytes untouched), so subscribers decode the same message shape and size.
 */
import { PAYLOADS } from '../lib/codec.js';
import { scanJsonEvent, scanMsgpackEvent } from '../lib/event-scan.js';
import { type PeerResult, type PeerSetup, type RoleConfig, TOPIC, TOPIC_PREFIX } from '../lib/ipc.js';
import { publicationBytes } from '../lib/rpc-bytes.js';
import { addError, newVerdict, SeqChecker, type Verdict } from '../lib/stats.js';
import { T, type WampPeer } from '../lib/wamp-peer.js';
import { codecOf, Drain, openMany, type Role } from './role.js';

type FanoutCfg = Extract<RoleConfig, { role: 'fanout' }>;
type FaninCfg = Extract<RoleConfig, { role: 'fanin' }>;

/** Opens subscribers (router: HELLO + SUBSCRIBE; limit: connect on /sub). */
async function subscribers(s: PeerSetup, n: number, onClose: (code: number, reason: string) => void, prefix = false): Promise<WampPeer[]> {
  const router = s.target === 'router';
  const ep = router ? s.endpoint : { ...s.endpoint, path: '/sub' };
  const subscribe = prefix ? [T.SUBSCRIBE, 1, { match: 'prefix' }, TOPIC_PREFIX] : [T.SUBSCRIBE, 1, {}, TOPIC];
  // A cluster cell: subscriber i on node i % nodes (bench/lib/cluster.ts).
  const eps = router ? [ep, ...(s.others ?? [])] : [ep];
  const groups = await Promise.all(
    eps.map((e, k) =>
      openMany(Math.floor(n / eps.length) + (k < n % eps.length ? 1 : 0), e, codecOf(s), 64, async (p) => {
        p.onClose = onClose;
        if (router) {
          await p.join();
          await p.expect(subscribe, T.SUBSCRIBED);
        }
      }),
    ),
  );
  return groups.flat();
}

async function publishers(s: PeerSetup, n: number, onClose: (code: number, reason: string) => void): Promise<WampPeer[]> {
  const router = s.target === 'router';
  const ep = router ? s.endpoint : { ...s.endpoint, path: '/pub' };
  return openMany(n, ep, codecOf(s), 64, async (p) => {
    p.onClose = onClose;
    if (router) await p.join();
  });
}

/** One in this many deliveries per subscriber is decoded in full and compared with what was published. */
const SAMPLE = 64;

/**
 * A subscriber's view of deliveries: the first `n` integer Arguments of each EVENT, read
 * straight from the bytes (event-scan.ts). Every SAMPLE-th delivery, and every one whose layout
 * differs, is decoded in full instead: type, payload and the scanner's reading are all checked.
 */
function deliveries(
  s: PeerSetup,
  n: number,
  payload: readonly unknown[],
  v: Verdict,
  onEvent: (ints: number[]) => void,
): (data: Buffer, start: number, end: number) => void {
  const codec = codecOf(s);
  const scan = s.serializer === 'msgpack' ? scanMsgpackEvent : scanJsonEvent;
  const ints = [0, 0];
  const scanned = [0, 0];
  let k = 0;
  return (data, start, end) => {
    if (++k % SAMPLE !== 0 && scan(data, start, end, ints, n)) return onEvent(ints);
    const m = codec.decode(data, start, end);
    const args = m[4];
    if (m[0] !== T.EVENT || !Array.isArray(args) || args.length !== n + payload.length) {
      return addError(v, `subscriber got ${JSON.stringify(m).slice(0, 160)}`);
    }
    for (let i = 0; i < payload.length; i++) {
      if (args[n + i] !== payload[i]) return addError(v, 'an EVENT did not carry the published payload');
    }
    for (let i = 0; i < n; i++) ints[i] = args[i] as number;
    if (scan(data, start, end, scanned, n) && (scanned[0] !== ints[0] || scanned[1] !== ints[1])) {
      addError(v, 'the byte scanner misread an EVENT');
    }
    onEvent(ints);
  };
}

export class Fanout implements Role {
  #subs: WampPeer[] = [];
  #pub: WampPeer | null = null;
  #checkers: SeqChecker[] = [];
  /** Per sequence number (mod ring size): how many subscribers are done with it. */
  #done: Uint32Array;
  #mask: number;
  /** Sequence numbers below this reached every subscriber. */
  #all = 0;
  #sent = 0;
  #deliveries = 0;
  #running = false;
  #closing = false;
  #verdict = newVerdict();
  #drain = new Drain(() => this.#all === this.#sent);

  constructor(
    readonly s: PeerSetup,
    readonly cfg: FanoutCfg,
  ) {
    const ring = 2 ** Math.ceil(Math.log2(2 * cfg.window + 2));
    this.#done = new Uint32Array(ring);
    this.#mask = ring - 1;
  }

  async setup(): Promise<undefined> {
    const closed = (code: number, reason: string): void => {
      if (!this.#closing) addError(this.#verdict, `connection closed: ${code} ${reason}`);
    };
    this.#subs = await subscribers(this.s, this.cfg.subscribers, closed, this.cfg.match === 'prefix');
    this.#pub = (await publishers(this.s, 1, closed))[0]!;
    return undefined;
  }

  start(): void {
    const n = this.#subs.length;
    const v = this.#verdict;
    const payload = PAYLOADS[this.cfg.payload];
    this.#subs.forEach((p) => {
      const c = new SeqChecker();
      this.#checkers.push(c);
      p.onRaw = deliveries(this.s, 1, payload, v, (ints) => {
        const before = c.next;
        c.see(ints[0]!);
        this.#deliveries++;
        // A lost number counts as done for this subscriber too, so a loss cannot stall the publisher.
        for (let k = before; k < c.next; k++) this.#done[k & this.#mask]!++;
        if (this.#done[this.#all & this.#mask] === n) this.#advance(n);
      });
    });
    this.#running = true;
    this.#pump();
  }

  #advance(n: number): void {
    while (this.#all < this.#sent && this.#done[this.#all & this.#mask] === n) {
      this.#done[this.#all & this.#mask] = 0;
      this.#all++;
    }
    if (this.#running) this.#pump();
    else this.#drain.poke();
  }

  #encode: ((request: number, values: readonly number[]) => Uint8Array | string) | null = null;
  #one = [0];

  #pump(): void {
    this.#encode ??= publicationBytes(this.#pub!.codec, this.s.target === 'router', TOPIC, PAYLOADS[this.cfg.payload], 1);
    while (this.#sent - this.#all < this.cfg.window) {
      const seq = this.#sent++;
      // Self-test of the verification (--self-test-drop): this number is never sent.
      if (seq === this.cfg.dropSeq) continue;
      this.#one[0] = seq;
      this.#pub!.sendEncoded(this.#encode(seq + 1, this.#one));
    }
  }

  counters(): Record<string, number> {
    return { deliveries: this.#deliveries, publications: this.#all };
  }

  measure(): void {}

  async stop(drainMs: number): Promise<PeerResult> {
    this.#running = false;
    await this.#drain.wait(drainMs);
    for (const c of this.#checkers) {
      c.finish(this.#sent);
      this.#verdict.lost += c.lost;
      if (c.disorder > 0) addError(this.#verdict, `${c.disorder} EVENT(s) out of order or duplicated`, c.disorder);
    }
    return { verdict: this.#verdict, info: { published: this.#sent, deliveries: this.#deliveries, subscribers: this.#subs.length } };
  }

  close(): void {
    this.#closing = true;
    for (const p of [...this.#subs, this.#pub!]) p?.ws.close();
  }
}

export class Fanin implements Role {
  #pubs: WampPeer[] = [];
  #sub: WampPeer | null = null;
  #checkers: SeqChecker[] = [];
  #sent: number[] = [];
  #deliveries = 0;
  #running = false;
  #closing = false;
  #verdict = newVerdict();
  #drain = new Drain(() => this.#checkers.every((c, i) => c.next >= this.#sent[i]!));

  constructor(
    readonly s: PeerSetup,
    readonly cfg: FaninCfg,
  ) {}

  async setup(): Promise<undefined> {
    const closed = (code: number, reason: string): void => {
      if (!this.#closing) addError(this.#verdict, `connection closed: ${code} ${reason}`);
    };
    this.#sub = (await subscribers(this.s, 1, closed))[0]!;
    this.#pubs = await publishers(this.s, this.cfg.publishers, closed);
    return undefined;
  }

  start(): void {
    const v = this.#verdict;
    this.#checkers = this.#pubs.map(() => new SeqChecker());
    this.#sent = this.#pubs.map(() => 0);
    this.#sub!.onRaw = deliveries(this.s, 2, PAYLOADS[this.cfg.payload], v, (ints) => {
      const c = this.#checkers[ints[0]!];
      if (c === undefined) return addError(v, `an EVENT from unknown publisher ${ints[0]}`);
      c.see(ints[1]!);
      this.#deliveries++;
      // Refill a publisher's window once half of it arrived: several PUBLISHes per write.
      if (!this.#running) this.#drain.poke();
      else if (this.#sent[ints[0]!]! - c.next <= this.cfg.window >> 1) this.#pump(ints[0]!);
    });
    this.#running = true;
    for (let i = 0; i < this.#pubs.length; i++) this.#pump(i);
  }

  #encode: ((request: number, values: readonly number[]) => Uint8Array | string) | null = null;
  #two = [0, 0];

  #pump(i: number): void {
    this.#encode ??= publicationBytes(this.#pubs[i]!.codec, this.s.target === 'router', TOPIC, PAYLOADS[this.cfg.payload], 2);
    const c = this.#checkers[i]!;
    while (this.#sent[i]! - c.next < this.cfg.window) {
      const seq = this.#sent[i]!++;
      this.#two[0] = i;
      this.#two[1] = seq;
      this.#pubs[i]!.sendEncoded(this.#encode(seq + 1, this.#two));
    }
  }

  counters(): Record<string, number> {
    return { deliveries: this.#deliveries };
  }

  measure(): void {}

  async stop(drainMs: number): Promise<PeerResult> {
    this.#running = false;
    await this.#drain.wait(drainMs);
    this.#checkers.forEach((c, i) => {
      c.finish(this.#sent[i]!);
      this.#verdict.lost += c.lost;
      if (c.disorder > 0) addError(this.#verdict, `${c.disorder} EVENT(s) out of order or duplicated`, c.disorder);
    });
    return { verdict: this.#verdict, info: { published: this.#sent.reduce((a, b) => a + b, 0), deliveries: this.#deliveries } };
  }

  close(): void {
    this.#closing = true;
    for (const p of [this.#sub!, ...this.#pubs]) p?.ws.close();
  }
}
