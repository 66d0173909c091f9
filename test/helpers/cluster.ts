// Several Crosswire nodes joined through one real nats-server (docs/cluster.md), for the cluster
// tests: nodes in this process (each its own main thread, realm worker thread and NATS connection)
// and nodes in child processes (which a test can kill), on the same realms; clients on any of them.
//
// Needs Debian's nats-server (scripts/install-test-deps.sh installs it).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Client, connect, type SerializerName } from './client.js';
import { type Nats, startNats, stopAllNats } from './nats.js';
import { type RouterProcess, spawnRouter } from './process.js';
import { RawPeer, type RawSer } from './raw.js';
import { startRouter, type TestRouter } from './router.js';
import { within } from './wait.js';

type Json = Record<string, unknown>;

/** One node: its WebSocket URL and the base URL of its operations endpoints (/metrics, /ready). */
export interface ClusterNode {
  id: string;
  url: string;
  http: string;
  /** Set for a node in a child process. */
  process?: RouterProcess;
}

export class TestCluster {
  readonly nodes: ClusterNode[] = [];
  readonly #inProcess: TestRouter[] = [];
  readonly #children: RouterProcess[] = [];
  readonly #clients: Client[] = [];
  readonly #raws: RawPeer[] = [];

  private constructor(
    readonly nats: Nats,
    readonly realms: Json[],
    readonly dir: string,
  ) {}

  /**
   * Starts a nats-server and the nodes named `inProcess` (in this process) and `spawned` (child
   * processes), in that order in `nodes`, with one realm thread each; `transport`: keys of the
   * in-process nodes' WebSocket transport (auth, …) beside the defaults.
   */
  static async start(opts: { realms: Json[]; inProcess: string[]; spawned?: string[]; transport?: Json }): Promise<TestCluster> {
    const nats = await startNats();
    const c = new TestCluster(nats, opts.realms, mkdtempSync(join(tmpdir(), 'crosswire-cluster-')));
    const started = await Promise.all(
      opts.inProcess.map((id) =>
        startRouter({ realms: opts.realms, transport: opts.transport, crosswire: { realm_threads: 1, cluster: { nats: { servers: [nats.url] }, node_id: id } } }),
      ),
    );
    c.#inProcess.push(...started);
    for (const [i, id] of opts.inProcess.entries()) c.nodes.push({ id, url: started[i]!.url, http: started[i]!.http });
    for (const id of opts.spawned ?? []) await c.spawn(id);
    return c;
  }

  /** A node in a child process (killable), on the same NATS and realms; added to `nodes`. */
  async spawn(id: string): Promise<ClusterNode> {
    const file = join(this.dir, `${id}.json`);
    const config = {
      version: 2,
      workers: [{ type: 'router', realms: this.realms, transports: [{ type: 'websocket', endpoint: { type: 'tcp', port: 0, interface: '127.0.0.1' } }] }],
      crosswire: { realm_threads: 1, shutdown_timeout: 5000 },
    };
    writeFileSync(file, JSON.stringify(config));
    const p = await spawnRouter(['--config', file], { CROSSWIRE_CLUSTER_NATS: this.nats.url, CROSSWIRE_NODE_ID: id, CROSSWIRE_LOG_LEVEL: 'info' });
    this.#children.push(p);
    const node = { id, url: `ws://127.0.0.1:${p.port}/ws`, http: `http://127.0.0.1:${p.port}`, process: p };
    this.nodes.push(node);
    return node;
  }

  /** A client on `node` (or its index in `nodes`), closed by stop(); `extra`: AutobahnJS connection options. */
  async client(node: number | ClusterNode, ser: SerializerName = 'json', realm = 'realm1', extra: Record<string, unknown> = {}): Promise<Client> {
    const c = await connect((typeof node === 'number' ? this.nodes[node]! : node).url, ser, realm, extra);
    this.#clients.push(c);
    return c;
  }

  /**
   * A raw peer on node `node`, joined to `realm` with caller, callee, publisher and subscriber
   * announcing `features`; closed by stop(). Resolves with the peer and its session id.
   */
  async raw(node: number, ser: RawSer, features: string[] = [], realm = 'realm1'): Promise<{ peer: RawPeer; id: number }> {
    const peer = await RawPeer.open(this.nodes[node]!.url, ser);
    this.#raws.push(peer);
    const f = { features: Object.fromEntries(features.map((x) => [x, true])) };
    const welcome = await peer.join(realm, { roles: { caller: f, callee: f, publisher: f, subscriber: f } });
    return { peer, id: welcome[1] as number };
  }

  /** Closes the clients, stops the nodes (a child process still running is killed) and nats-server. */
  async stop(): Promise<void> {
    for (const r of this.#raws) r.close();
    await Promise.all(this.#clients.map((c) => c.close().catch(() => undefined)));
    await Promise.all(this.#inProcess.map((n) => n.stop()));
    for (const p of this.#children) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(this.#children.map((p) => within(p.exited, 10_000, 'a node process to exit')));
    await stopAllNats();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
