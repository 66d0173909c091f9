/**
 * join: `concurrency` loops of connect → HELLO/WELCOME → GOODBYE/GOODBYE → close.
 * idle: `sessions` joined sessions that then sit still while the harness reads the RSS.
 * Against the echo limit server, HELLO and GOODBYE come back as themselves.
 */
import type { PeerResult, PeerSetup, RoleConfig } from '../lib/ipc.js';
import { addError, newVerdict } from '../lib/stats.js';
import { HELLO_DETAILS, T, WampPeer } from '../lib/wamp-peer.js';
import { codecOf, openMany, type Role } from './role.js';

type JoinCfg = Extract<RoleConfig, { role: 'join' }>;
type IdleCfg = Extract<RoleConfig, { role: 'idle' }>;

/** HELLO and its answer: WELCOME from the router, the HELLO itself from the echo server. */
async function hello(p: WampPeer, router: boolean): Promise<void> {
  const m = await p.request([T.HELLO, 'realm1', HELLO_DETAILS]);
  if (m[0] !== (router ? T.WELCOME : T.HELLO)) throw new Error(`HELLO answered with ${JSON.stringify(m).slice(0, 160)}`);
}

export class Join implements Role {
  #sessions = 0;
  #running = false;
  #loops: Promise<void>[] = [];
  #verdict = newVerdict();

  constructor(
    readonly s: PeerSetup,
    readonly cfg: JoinCfg,
  ) {}

  async setup(): Promise<undefined> {
    // One full cycle first, so a router that cannot do it fails setup, not the measurement.
    await this.#cycle();
    return undefined;
  }

  async #cycle(): Promise<void> {
    const router = this.s.target === 'router';
    const p = await WampPeer.open(this.s.endpoint, codecOf(this.s));
    const closed = new Promise<void>((resolve) => (p.onClose = () => resolve()));
    await hello(p, router);
    const bye = await p.request([T.GOODBYE, {}, 'wamp.close.close_realm']);
    if (bye[0] !== T.GOODBYE) throw new Error(`GOODBYE answered with ${JSON.stringify(bye).slice(0, 160)}`);
    p.ws.close();
    await closed;
  }

  start(): void {
    this.#running = true;
    for (let i = 0; i < this.cfg.concurrency; i++) {
      this.#loops.push(
        (async () => {
          while (this.#running) {
            try {
              await this.#cycle();
              this.#sessions++;
            } catch (e) {
              addError(this.#verdict, (e as Error).message);
              if (this.#verdict.errors > 100) this.#running = false;
            }
          }
        })(),
      );
    }
  }

  counters(): Record<string, number> {
    return { sessions: this.#sessions };
  }

  measure(): void {}

  async stop(drainMs: number): Promise<PeerResult> {
    this.#running = false;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      Promise.all(this.#loops).then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), drainMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) addError(this.#verdict, `session cycles still unfinished after ${drainMs} ms`);
    return { verdict: this.#verdict, info: { sessions: this.#sessions } };
  }

  close(): void {}
}

export class Idle implements Role {
  #peers: WampPeer[] = [];
  #closing = false;
  #established = 0;
  #verdict = newVerdict();

  constructor(
    readonly s: PeerSetup,
    readonly cfg: IdleCfg,
  ) {}

  async setup(): Promise<Record<string, unknown>> {
    const router = this.s.target === 'router';
    this.#peers = await openMany(
      this.cfg.sessions,
      this.s.endpoint,
      codecOf(this.s),
      this.cfg.concurrency,
      async (p) => {
        await hello(p, router);
        this.#established++;
        p.onClose = (code, reason) => {
          if (!this.#closing) addError(this.#verdict, `idle session closed: ${code} ${reason}`);
        };
      },
      this.cfg.localAddresses,
    );
    return { sessions: this.#established };
  }

  start(): void {}

  counters(): Record<string, number> {
    return { sessions: this.#established - this.#verdict.errors };
  }

  measure(): void {}

  async stop(): Promise<PeerResult> {
    return { verdict: this.#verdict, info: { sessions: this.#established } };
  }

  close(): void {
    this.#closing = true;
    for (const p of this.#peers) p.ws.close();
  }
}
