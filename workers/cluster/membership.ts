/**
 * Cluster membership (docs/cluster.md, "Membership and failures"). Every realm worker's NATS
 * connection is one member: it announces itself on `cwx.hb` every HEARTBEAT_MS and hears the
 * others there. A member not heard for DEAD_AFTER_MS is declared dead (`down`), so a node killed
 * without a word (SIGKILL, power loss, cut off from NATS) is gone for the others within
 * DEAD_AFTER_MS + SWEEP_MS of its last heartbeat. A node shutting down says so at once (`left`):
 * the others stop routing new work to it but let what is in flight finish; once its drain is over
 * it says it is gone (`g`, on close), and the others drop it at once (`down`) instead of waiting
 * for its silence.
 *
 * Each member also listens on its own subject `cwx.d.<member id>` for messages meant for it alone
 * (directory snapshots, invocations and their results: workers/cluster/rpc.ts).
 *
 * `cwx.` is not a realm's subject root (realms use `cw.<realm>.`, workers/cluster.ts).
 */
import type { NatsConnection, Subscription } from 'nats';
import type { Logger } from '../../src/shared/log.js';
import { msgpackSerializer } from '../../src/shared/serializers/msgpack.js';
import type { ClusterLink, LinkWatcher } from '../cluster.js';
import { BATCH, clusterUnpack } from './wire.js';

/** How often a member says it is alive, and after how long without a word it is dead. */
export const HEARTBEAT_MS = 1000;
export const DEAD_AFTER_MS = 3000;
/** How often silent members are looked for. */
const SWEEP_MS = 250;

const HB_SUBJECT = 'cwx.hb';
/** The subject a member hears its direct messages on. */
export const directSubject = (member: string): string => `cwx.d.${member}`;

interface Peer {
  node: string;
  at: number;
  /** `Membership.tick` when its last heartbeat was heard. */
  tick: number;
  /** It said it is shutting down: no new work goes to it. */
  left: boolean;
}

export interface MembershipEvents {
  /** A member was heard for the first time (or again after it was declared dead). */
  up(member: string): void;
  /** A member is shutting down: it serves what it has in flight, takes nothing new. */
  left(member: string): void;
  /** A member died (not heard for DEAD_AFTER_MS) or is gone after leaving; `heard`: the tick of its last heartbeat. */
  down(member: string, heard: number): void;
  /** A message for this member alone, from `from`. */
  direct(from: string, msg: unknown[]): void;
  /** The NATS connection is up (first time): subscribe what you need. */
  connected(nc: NatsConnection): void;
  /** The NATS connection is back after a loss: what was sent to this member meanwhile is lost. */
  rejoined(): void;
}

export class Membership implements LinkWatcher {
  readonly #peers = new Map<string, Peer>();
  readonly listeners: MembershipEvents[] = [];
  #nc: NatsConnection | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #sweep: NodeJS.Timeout | null = null;
  #subs: Subscription[] = [];
  /** Since when the connection is up (0: it is not): until DEAD_AFTER_MS later, not every live member may have been heard. */
  #upSince = 0;
  #leaving = false;
  #tick = 0;

  constructor(
    readonly link: ClusterLink,
    readonly log: Logger,
  ) {
    link.watchers.push(this);
  }

  /** This member's id (its connection's unique queue group name). */
  get id(): string {
    return this.link.id;
  }

  /**
   * Counts the heartbeats heard. Messages of one connection arrive in the order NATS sent them, so a
   * member first heard (on any subject) at tick t was subscribed to the heartbeats before any
   * heartbeat heard here after t: it heard that one too.
   */
  get tick(): number {
    return this.#tick;
  }

  /** Whether `member` is heard and not shutting down. */
  alive(member: string): boolean {
    const p = this.#peers.get(member);
    return p !== undefined && !p.left;
  }

  /** Whether `member` said it is shutting down (and is not gone yet). */
  isLeaving(member: string): boolean {
    return this.#peers.get(member)?.left === true;
  }

  /** How long until `settled` (at least a little: a caller waits this long and looks again). */
  settleMs(): number {
    return Math.max(50, DEAD_AFTER_MS - (this.#upSince > 0 ? Date.now() - this.#upSince : 0));
  }

  /** Whether the connection has been up long enough that every live member has been heard. */
  get settled(): boolean {
    return this.#upSince > 0 && Date.now() - this.#upSince >= DEAD_AFTER_MS;
  }

  /** The members heard and alive (not this one). */
  get peers(): number {
    let n = 0;
    for (const p of this.#peers.values()) if (!p.left) n++;
    return n;
  }

  /** Direct subjects by member (bounded by the members heard: dropped when one is declared dead). */
  readonly #subjects = new Map<string, string>();

  /**
   * Sends `msg` to `member` alone, batched with the others of this turn (workers/cluster/wire.ts;
   * best effort: lost if either side is cut off). False when it cannot be sent (not connected, too big).
   */
  send(member: string, msg: unknown[]): boolean {
    if (this.#nc === null) return false;
    let subject = this.#subjects.get(member);
    if (subject === undefined) {
      subject = directSubject(member);
      if (this.#peers.has(member)) this.#subjects.set(member, subject);
    }
    return this.link.direct(subject, msg);
  }

  /** Direct messages from another member: a batch (workers/cluster/wire.ts) or one message. */
  #direct(data: Uint8Array): void {
    const msg = clusterUnpack(data);
    if (!Array.isArray(msg) || typeof msg[1] !== 'string') throw new Error('malformed direct message');
    const from = msg[1];
    this.#touch(from);
    if (msg[0] !== BATCH) {
      for (const l of this.listeners) l.direct(from, msg);
      return;
    }
    for (let i = 2; i < msg.length; i++) {
      const r = msg[i] as unknown;
      if (!Array.isArray(r)) continue;
      // One bad record costs that record only.
      try {
        for (const l of this.listeners) l.direct(from, r);
      } catch (e) {
        this.log.warn({ err: String(e) }, 'cluster: cannot handle a message from another node');
      }
    }
  }

  connected(nc: NatsConnection): void {
    this.#nc = nc;
    this.#upSince = Date.now();
    this.#subs.push(
      nc.subscribe(HB_SUBJECT, { callback: (err, m) => err === null && this.#safely(() => this.#heard(msgpackSerializer.decode(m.data) as unknown[])) }),
      nc.subscribe(directSubject(this.id), {
        callback: (err, m) => {
          if (err !== null) return;
          this.#safely(() => this.#direct(m.data));
        },
      }),
    );
    for (const l of this.listeners) l.connected(nc);
    this.#beat();
    this.#heartbeat = setInterval(() => this.#beat(), HEARTBEAT_MS);
    this.#heartbeat.unref();
    this.#sweep = setInterval(() => this.#sweepSilent(), SWEEP_MS);
    this.#sweep.unref();
  }

  disconnected(): void {
    this.#upSince = 0;
  }

  reconnected(): void {
    this.#upSince = Date.now();
    this.#beat();
    for (const l of this.listeners) l.rejoined();
  }

  /** The members heard and not shutting down. */
  *alivePeers(): Iterable<string> {
    for (const [member, p] of this.#peers) if (!p.left) yield member;
  }

  /** Graceful shutdown: the others stop sending new work here at once. */
  leaving(): void {
    if (this.#leaving) return;
    this.#leaving = true;
    this.#publish(['l', this.id, this.link.cfg.nodeId]);
  }

  /** The node is done (its drain is over): the others drop this member now, not DEAD_AFTER_MS later. */
  close(): void {
    this.leaving();
    this.#publish(['g', this.id, this.link.cfg.nodeId]);
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
    if (this.#sweep !== null) clearInterval(this.#sweep);
    for (const s of this.#subs) s.unsubscribe();
  }

  #beat(): void {
    this.#publish([this.#leaving ? 'l' : 'h', this.id, this.link.cfg.nodeId]);
  }

  #publish(msg: unknown[]): void {
    try {
      this.link.flushDirect();
      this.#nc?.publish(HB_SUBJECT, msgpackSerializer.encode(msg));
    } catch (e) {
      this.log.debug({ err: String(e) }, 'cluster: heartbeat not sent');
    }
  }

  #safely(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log.warn({ err: String(e) }, 'cluster: cannot handle a message from another node');
    }
  }

  #heard(msg: unknown[]): void {
    const [kind, member, node] = msg;
    if (typeof member !== 'string' || member === this.id) return;
    if (kind === 'g' && !this.#peers.has(member)) return; // never heard, or dropped already
    const p = this.#touch(member, typeof node === 'string' ? node : '?');
    p.tick = ++this.#tick;
    if ((kind === 'l' || kind === 'g') && !p.left) {
      p.left = true;
      this.log.info({ member, node: p.node }, 'cluster: a node is shutting down');
      for (const l of this.listeners) l.left(member);
    }
    if (kind === 'g') this.#drop(member, p, 0);
  }

  /** `member` was heard now; a member not known yet is up. */
  #touch(member: string, node = '?'): Peer {
    let p = this.#peers.get(member);
    if (p !== undefined) {
      p.at = Date.now();
      if (node !== '?') p.node = node;
      return p;
    }
    p = { node, at: Date.now(), tick: this.#tick, left: false };
    this.#peers.set(member, p);
    this.log.info({ member, node }, 'cluster: a node joined');
    for (const l of this.listeners) l.up(member);
    return p;
  }

  #sweepSilent(): void {
    const now = Date.now();
    for (const [member, p] of this.#peers) if (now - p.at > DEAD_AFTER_MS) this.#drop(member, p, now - p.at);
  }

  #drop(member: string, p: Peer, silentMs: number): void {
    this.#peers.delete(member);
    this.#subjects.delete(member);
    this.log[p.left ? 'info' : 'warn']({ member, node: p.node, silentMs }, p.left ? 'cluster: a node left' : 'cluster: a node is gone (no heartbeat)');
    for (const l of this.listeners) l.down(member, p.tick);
  }
}
