/**
 * http-publish: `connections` keep-alive HTTP connections each POST one publication at a time to
 * the router's HTTP bridge publisher (docs/http-bridge.md), and one WAMP subscriber counts the
 * EVENTs. A request counts when it is answered 200 {"id": …}; at stop every answered publication
 * must have reached the subscriber (else it is lost).
 */
import { Agent, request } from 'node:http';
import { HTTP_PUBLISH_PATH, type PeerResult, type PeerSetup, type RoleConfig, TOPIC } from '../lib/ipc.js';
import { addError, Histogram, newVerdict } from '../lib/stats.js';
import { T, WampPeer } from '../lib/wamp-peer.js';
import { codecOf, Drain, type Role, Unsupported } from './role.js';

type HttpCfg = Extract<RoleConfig, { role: 'http-publish' }>;

export class HttpPublish implements Role {
  #sub: WampPeer | null = null;
  #agent: Agent;
  #running = false;
  #measuring = false;
  #requests = 0;
  #events = 0;
  #inFlight = 0;
  #verdict = newVerdict();
  #hist = new Histogram();
  #drain = new Drain(() => this.#inFlight === 0 && this.#events >= this.#requests);
  readonly #body: Buffer;

  constructor(
    readonly s: PeerSetup,
    readonly cfg: HttpCfg,
  ) {
    this.#agent = new Agent({ keepAlive: true, maxSockets: cfg.connections });
    this.#body = Buffer.from(JSON.stringify({ topic: TOPIC, args: ['hello', 23], kwargs: { n: 1 } }));
  }

  async setup(): Promise<Record<string, unknown> | undefined> {
    if (this.s.target === 'limit') throw new Unsupported('no raw uWS limit for HTTP requests');
    const sub = await WampPeer.open({ ...this.s.endpoint, path: '/ws' }, codecOf(this.s));
    await sub.join();
    await sub.expect([T.SUBSCRIBE, 1, {}, TOPIC], T.SUBSCRIBED);
    sub.onMsg = (m) => {
      if (m[0] === T.EVENT) this.#events++;
      else addError(this.#verdict, `subscriber got ${JSON.stringify(m).slice(0, 160)}`);
      this.#drain.poke();
    };
    sub.onClose = (code, reason) => addError(this.#verdict, `subscriber closed: ${code} ${reason}`);
    this.#sub = sub;
    // One request first: the bridge is there and answers as expected.
    const first = await this.#post();
    if (first.status !== 200) throw new Error(`the HTTP publisher answered ${first.status}: ${first.body.slice(0, 200)}`);
    this.#requests++;
    return undefined;
  }

  #post(): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        { host: this.s.endpoint.host, port: this.s.endpoint.port, path: HTTP_PUBLISH_PATH, method: 'POST', agent: this.#agent, headers: { 'content-type': 'application/json', 'content-length': this.#body.length } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(this.#body);
    });
  }

  start(): void {
    this.#running = true;
    for (let i = 0; i < this.cfg.connections; i++) void this.#loop();
  }

  async #loop(): Promise<void> {
    while (this.#running) {
      this.#inFlight++;
      const t0 = performance.now();
      try {
        const r = await this.#post();
        if (r.status === 200 && r.body.startsWith('{"id":')) {
          this.#requests++;
          if (this.#measuring) this.#hist.record((performance.now() - t0) * 1000);
        } else addError(this.#verdict, `HTTP ${r.status}: ${r.body.slice(0, 160)}`);
      } catch (e) {
        addError(this.#verdict, `request failed: ${(e as Error).message}`);
      }
      this.#inFlight--;
      this.#drain.poke();
    }
  }

  counters(): Record<string, number> {
    return { requests: this.#requests, events: this.#events };
  }

  measure(on: boolean): void {
    this.#measuring = on;
  }

  async stop(drainMs: number): Promise<PeerResult> {
    this.#running = false;
    await this.#drain.wait(drainMs);
    const v = this.#verdict;
    v.lost += Math.max(0, this.#requests - this.#events);
    if (this.#events > this.#requests) addError(v, `${this.#events - this.#requests} more events than answered publications`);
    return { verdict: v, hist: this.#hist.toJSON(), info: {} };
  }

  close(): void {
    this.#agent.destroy();
    this.#sub?.ws.close();
  }
}
