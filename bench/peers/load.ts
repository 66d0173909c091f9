/**
 * A load generator process, forked by the harness. It runs one role (see bench/lib/ipc.ts) and
 * answers the harness over the IPC channel. Nothing here writes to stdout.
 */
import type { FromPeer, PeerSetup, ToPeer } from '../lib/ipc.js';
import { Fanin, Fanout } from './pubsub.js';
import { type Role, Unsupported } from './role.js';
import { Callees, Callers } from './rpc.js';
import { Idle, Join } from './sessions.js';
import { HttpPublish } from './http.js';

function reply(m: FromPeer): void {
  process.send!(m);
}

function makeRole(s: PeerSetup): Role {
  switch (s.cfg.role) {
    case 'callers':
      return new Callers(s, s.cfg);
    case 'callees':
      return new Callees(s, s.cfg);
    case 'fanout':
      return new Fanout(s, s.cfg);
    case 'fanin':
      return new Fanin(s, s.cfg);
    case 'join':
      return new Join(s, s.cfg);
    case 'idle':
      return new Idle(s, s.cfg);
    case 'http-publish':
      return new HttpPublish(s, s.cfg);
  }
}

let role: Role | null = null;

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

async function onMessage(m: ToPeer): Promise<void> {
  switch (m.k) {
    case 'setup':
      try {
        role = makeRole(m.setup);
        reply({ k: 'ready', info: await role.setup() });
      } catch (e) {
        if (e instanceof Unsupported) reply({ k: 'unsupported', reason: e.message });
        else reply({ k: 'failed', error: (e as Error).message });
      }
      return;
    case 'start':
      role!.start();
      return;
    case 'mark':
      if (m.phase === 'begin') role!.measure(true);
      if (m.phase === 'end') role!.measure(false);
      reply({ k: 'marked', mark: { t: performance.now(), counters: role!.counters(), cpuUs: cpuUs() } });
      return;
    case 'stop':
      reply({ k: 'result', result: await role!.stop(m.drainMs) });
      return;
    case 'exit':
      role?.close();
      // Give the close frames one turn to be written, then leave.
      setImmediate(() => setImmediate(() => process.exit(0)));
      return;
  }
}

process.on('message', (m: ToPeer) => {
  onMessage(m).catch((e: unknown) => {
    reply({ k: 'failed', error: (e as Error).stack ?? String(e) });
  });
});
process.on('disconnect', () => process.exit(0));
