/**
 * rpc / rpc-shared load: caller connections each keeping `window` CALLs in flight, and the
 * callee(s) answering every INVOCATION with a YIELD of the same arguments.
 * Against the echo limit server there is no callee: the server returns the CALL itself.
 */
import { PAYLOADS } from '../lib/codec.js';
import { rpcBytes } from '../lib/rpc-bytes.js';
import { PROCEDURE, type PeerResult, type PeerSetup, type RoleConfig } from '../lib/ipc.js';
import { addError, Histogram, newVerdict } from '../lib/stats.js';
import { Refused, T, type WampPeer } from '../lib/wamp-peer.js';
import { codecOf, Drain, openMany, type Role, Unsupported } from './role.js';

type CallersCfg = Extract<RoleConfig, { role: 'callers' }>;
type CalleesCfg = Extract<RoleConfig, { role: 'callees' }>;

export class Callers implements Role {
  #peers: WampPeer[] = [];
  #hist = new Histogram();
  #recording = false;
  #running = false;
  #closing = false;
  #calls = 0;
  #outstanding = 0;
  #verdict = newVerdict();
  #drain = new Drain(() => this.#outstanding === 0);
  /** Per caller: the request ids its setup used (untilRouted). */
  #firstId: number[] = [];

  constructor(
    readonly s: PeerSetup,
    readonly cfg: CallersCfg,
  ) {}

  async setup(): Promise<undefined> {
    const router = this.s.target === 'router';
    // A cluster cell (bench/lib/cluster.ts): the callee is on another node, whose registration
    // reaches this node within a round trip to NATS (docs/cluster.md); each caller calls until
    // it is answered, so the load starts once every caller's node routes the procedure.
    const cluster = router && this.s.others !== undefined;
    this.#peers = await openMany(this.cfg.callers, this.s.endpoint, codecOf(this.s), 16, async (p, i) => {
      if (router) await p.join();
      if (cluster) this.#firstId[i] = await untilRouted(p, this.cfg.payload);
    });
    return undefined;
  }

  start(): void {
    this.#running = true;
    for (let i = 0; i < this.#peers.length; i++) this.#drive(this.#peers[i]!, this.#firstId[i] ?? 0);
  }

  #drive(p: WampPeer, firstId: number): void {
    const payload = PAYLOADS[this.cfg.payload] as readonly unknown[];
    const echo = this.s.target === 'limit';
    // The echo server returns the CALL itself (arguments at 4); the router answers RESULT (arguments at 3).
    const replyType = echo ? T.CALL : T.RESULT;
    const argsAt = echo ? 4 : 3;
    const pending = new Map<number, number>();
    const v = this.#verdict;
    let req = firstId;
    const fast = rpcBytes(p.codec, PROCEDURE, payload, replyType, echo ? [{}, PROCEDURE, payload] : [{}, payload]);
    const fire = (): void => {
      const id = ++req;
      pending.set(id, performance.now());
      this.#outstanding++;
      p.sendEncoded(fast.call(id));
    };
    p.onMsg = (m) => {
      const id = (m[0] === T.ERROR ? m[2] : m[1]) as number;
      const t0 = pending.get(id);
      if (t0 !== undefined) {
        pending.delete(id);
        this.#outstanding--;
      }
      if (m[0] !== replyType || t0 === undefined) {
        addError(v, `caller got ${JSON.stringify(m).slice(0, 160)}`);
      } else {
        const args = m[argsAt] as unknown[] | undefined;
        if (!Array.isArray(args) || args.length !== payload.length || args[0] !== payload[0]) {
          addError(v, 'a RESULT did not carry the CALL arguments back');
        }
        this.#calls++;
        if (this.#recording) this.#hist.record((performance.now() - t0) * 1000);
      }
      if (this.#running) fire();
      else this.#drain.poke();
    };
    // A reply that is byte for byte the expected one is accounted for without decoding it;
    // anything else is decoded and checked by onMsg (see bench/lib/rpc-bytes.ts).
    const onMsg = p.onMsg;
    p.onRaw = (data, start, end) => {
      const id = fast.replyId(data, start, end);
      const t0 = id > 0 ? pending.get(id) : undefined;
      if (t0 === undefined) return onMsg(p.codec.decode(data, start, end));
      pending.delete(id);
      this.#outstanding--;
      this.#calls++;
      if (this.#recording) this.#hist.record((performance.now() - t0) * 1000);
      if (this.#running) fire();
      else this.#drain.poke();
    };
    p.onClose = (code, reason) => {
      if (!this.#closing) addError(v, `caller connection closed: ${code} ${reason}`);
    };
    for (let i = 0; i < this.cfg.window; i++) fire();
  }

  counters(): Record<string, number> {
    return { calls: this.#calls };
  }

  measure(on: boolean): void {
    if (on) this.#hist.reset();
    this.#recording = on;
  }

  async stop(drainMs: number): Promise<PeerResult> {
    this.#running = false;
    await this.#drain.wait(drainMs);
    // Every call must be answered: what is still pending after the drain is lost.
    this.#verdict.lost += this.#outstanding;
    return { verdict: this.#verdict, hist: this.#hist.toJSON(), info: { calls: this.#calls } };
  }

  close(): void {
    this.#closing = true;
    for (const p of this.#peers) p.ws.close();
  }
}

export class Callees implements Role {
  #peers: WampPeer[] = [];
  #invocations: number[] = [];
  #closing = false;
  #verdict = newVerdict();

  constructor(
    readonly s: PeerSetup,
    readonly cfg: CalleesCfg,
  ) {}

  async setup(): Promise<Record<string, unknown>> {
    const options = this.cfg.invoke === 'single' ? {} : { invoke: this.cfg.invoke };
    this.#peers = await openMany(this.cfg.callees, this.s.endpoint, codecOf(this.s), 1, async (p) => {
      await p.join();
      try {
        await p.expect([T.REGISTER, 1, options, PROCEDURE], T.REGISTERED);
      } catch (e) {
        // WAMP advanced profile, "Shared Registration": a router without it refuses `invoke`.
        if (e instanceof Refused && this.cfg.invoke !== 'single') throw new Unsupported(`REGISTER with invoke '${this.cfg.invoke}': ${e.message}`);
        throw e;
      }
    });
    this.#invocations = this.#peers.map(() => 0);
    this.#answer();
    return { callees: this.#peers.length };
  }

  /** Answers INVOCATIONs from setup on (a cluster cell's callers call before the load starts: Callers.setup). */
  #answer(): void {
    this.#peers.forEach((p, i) => {
      p.onMsg = (m) => {
        if (m[0] === T.INVOCATION) {
          this.#invocations[i]!++;
          p.send([T.YIELD, m[1], {}, m[4]]);
        } else addError(this.#verdict, `callee got ${JSON.stringify(m).slice(0, 160)}`);
      };
      // The YIELD copies the INVOCATION's id and Arguments bytes (bench/lib/rpc-bytes.ts).
      const fast = rpcBytes(p.codec, PROCEDURE, [], T.RESULT, []);
      const onMsg = p.onMsg;
      p.onRaw = (data, start, end) => {
        const y = fast.yieldFor(data, start, end);
        if (y === undefined) return onMsg(p.codec.decode(data, start, end));
        this.#invocations[i]!++;
        p.sendEncoded(y);
      };
      p.onClose = (code, reason) => {
        if (!this.#closing) addError(this.#verdict, `callee connection closed: ${code} ${reason}`);
      };
    });
  }

  start(): void {}

  counters(): Record<string, number> {
    return { invocations: this.#invocations.reduce((a, b) => a + b, 0) };
  }

  measure(): void {}

  async stop(): Promise<PeerResult> {
    if (this.cfg.invoke === 'roundrobin' && this.#invocations.some((n) => n === 0)) {
      addError(this.#verdict, `roundrobin left a callee without invocations: ${this.#invocations.join(', ')}`);
    }
    return { verdict: this.#verdict, info: { invocationsPerCallee: this.#invocations } };
  }

  close(): void {
    this.#closing = true;
    for (const p of this.#peers) p.ws.close();
  }
}

/**
 * CALLs (request ids 1, 2, …) until one is answered with RESULT, retrying for up to 10 s while
 * the router answers wamp.error.no_such_procedure; resolves with the last request id used.
 */
async function untilRouted(p: WampPeer, payload: CallersCfg['payload']): Promise<number> {
  const args = PAYLOADS[payload] as readonly unknown[];
  const deadline = performance.now() + 10000;
  for (let id = 1; ; id++) {
    const m = await p.request([T.CALL, id, {}, PROCEDURE, args]);
    if (m[0] === T.RESULT && m[1] === id) return id;
    const notYet = m[0] === T.ERROR && m[4] === 'wamp.error.no_such_procedure';
    if (!notYet || performance.now() > deadline) throw new Error(`the callee on another node was not reachable: ${JSON.stringify(m).slice(0, 200)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
