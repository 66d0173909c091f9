// Interop with Autobahn|Python's Twisted RawSocket client (Debian's python3-autobahn, run by
// Debian's /usr/bin/python3; its asyncio RawSocket client in 22.7 is broken upstream):
// test/interop/python_rawsocket.py joins realm1 over RawSocket (tcp and unix, json and msgpack)
// and calls/registers, publishes/subscribes against an AutobahnJS WebSocket peer in the same
// realm, with byte strings and a 2**40 integer in the payloads. (Autobahn|Python 22.7 has no
// CBOR serializer; CBOR over RawSocket is covered by rawsocket.test.ts.)
//
// Missing packages fail this file unless CROSSWIRE_SKIP_PYTHON_INTEROP=1 is set.
import '../helpers/quiet.js'; // before 'autobahn'
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import autobahn from 'autobahn';
import { connect, type SerializerName } from '../helpers/client.js';
import { startRouter } from '../helpers/router.js';
import { Inbox, within } from '../helpers/wait.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../../../test/interop/python_rawsocket.py', import.meta.url));

function pythonProblem(): string | undefined {
  if (!existsSync(SCRIPT)) return `${SCRIPT} is missing`;
  const r = spawnSync(PYTHON, ['-c', 'import autobahn, msgpack, twisted; from autobahn.twisted.rawsocket import WampRawSocketClientFactory'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.error) return `${PYTHON} cannot run: ${r.error.message}`;
  if (r.status !== 0) return `${PYTHON} cannot import autobahn, msgpack and twisted (${r.stderr.trim().split('\n').pop()})`;
  return undefined;
}

const problem = pythonProblem();
const skip = problem !== undefined && process.env.CROSSWIRE_SKIP_PYTHON_INTEROP === '1' ? `CROSSWIRE_SKIP_PYTHON_INTEROP=1 and ${problem}` : false;

interface Py {
  child: ChildProcess;
  lines: string[];
  err: () => string;
  exited: Promise<number | null>;
}

function spawnPython(target: string, ser: SerializerName, role: string): Py {
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' };
  const child = spawn(PYTHON, [SCRIPT, target, ser, role], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const lines: string[] = [];
  let err = '';
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts.map((l) => l.trimEnd()));
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', (e) => {
      err += `spawn error: ${e.message}\n`;
      resolve(null);
    });
    child.on('close', (code) => resolve(code));
  });
  return { child, lines, err: () => err, exited };
}

/** Waits for `p`; if the Python peer exits first, fails with its output. */
async function orPyExit<T>(py: Py, p: Promise<T>, what: string, ms = 15_000): Promise<T> {
  const died = py.exited.then(async (code) => {
    await within(p, 2000, what).catch(() => {
      throw new Error(`python exited (${code}) before ${what}; stdout ${JSON.stringify(py.lines)}; stderr:\n${py.err()}`);
    });
    return p;
  });
  return within(Promise.race([p, died]), ms, `${what} (python stdout ${JSON.stringify(py.lines)}, stderr ${py.err()})`);
}

async function lineFrom(py: Py, text: string): Promise<void> {
  const seen = new Promise<void>((resolve) => {
    const t = setInterval(() => {
      if (py.lines.includes(text)) {
        clearInterval(t);
        resolve();
      }
    }, 10);
    void py.exited.then(() => setTimeout(() => clearInterval(t), 2500));
  });
  await orPyExit(py, seen, `the line ${text}`);
}

async function exitsCleanly(py: Py): Promise<void> {
  const code = await within(py.exited, 15_000, 'python to exit');
  assert.equal(code, 0, `python exited with ${code}; stdout ${JSON.stringify(py.lines)}; stderr:\n${py.err()}`);
}

/** Bytes as an AutobahnJS peer with serializer `js` sends and receives them (see python-interop.test.ts). */
function wire(js: SerializerName, bytes: number[]): string | Uint8Array {
  return js === 'json' ? `\u0000${Buffer.from(bytes).toString('base64')}` : new Uint8Array(bytes);
}

function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

test(`Autobahn|Python's Twisted RawSocket client is importable by ${PYTHON}`, { skip }, () => {
  if (problem !== undefined) assert.fail(`${problem}: run scripts/install-test-deps.sh (or set CROSSWIRE_SKIP_PYTHON_INTEROP=1)`);
});

const COMBOS = [
  { endpoint: 'tcp', py: 'json', js: 'msgpack' },
  { endpoint: 'tcp', py: 'msgpack', js: 'json' },
  { endpoint: 'unix', py: 'json', js: 'json' },
  { endpoint: 'unix', py: 'msgpack', js: 'msgpack' },
] as const;

for (const { endpoint, py: pySer, js: jsSer } of problem === undefined || skip ? COMBOS : []) {
  describe(`Autobahn|Python RawSocket ${endpoint} ${pySer} <-> AutobahnJS WebSocket ${jsSer}`, { skip }, () => {
    test('JS calls the Python callee, JS publishes to the Python subscriber; Python calls the JS callee and publishes to JS', async () => {
      const path = join(tmpdir(), `crosswire-rspy-${process.pid}-${pySer}.sock`);
      rmSync(path, { force: true });
      const rsEndpoint = endpoint === 'unix' ? { type: 'unix', path } : { type: 'tcp', port: 0, interface: '127.0.0.1' };
      const r = await startRouter({
        transports: [
          { id: 'wsock', type: 'websocket', endpoint: { type: 'tcp', port: 0, interface: '127.0.0.1' } },
          { id: 'rsock', type: 'rawsocket', endpoint: rsEndpoint, serializers: [pySer] },
        ],
      });
      const target = endpoint === 'unix' ? `unix:${path}` : `tcp:127.0.0.1:${r.router.listeners[1]!.port}`;
      const js = await connect(`ws://127.0.0.1:${r.port}/ws`, jsSer);
      const pys: Py[] = [];
      try {
        const fromPy = new Inbox<unknown[]>();
        await js.session.subscribe('com.rs.from_python', (args) => fromPy.push(args!));
        const callee = spawnPython(target, pySer, 'callee-subscriber');
        pys.push(callee);
        await lineFrom(callee, 'READY');

        const args = [wire(jsSer, [0, 1, 254, 255]), 2 ** 40, 'text'];
        const res = (await orPyExit(callee, js.session.call('com.rs.echo', args, { k: wire(jsSer, [9]) }), 'the echo result')) as InstanceType<typeof autobahn.Result>;
        assert.deepEqual(plain(res.args), plain(args));
        assert.deepEqual(plain(res.kwargs.k), plain(wire(jsSer, [9])));

        await js.session.publish('com.rs.to_python', [wire(jsSer, [0xde, 0xad]), 2 ** 40], {}, { acknowledge: true });
        const [ev] = await orPyExit(callee, fromPy.waitFor(1, 15_000), 'the event on com.rs.from_python');
        assert.deepEqual(plain(ev), plain([wire(jsSer, [0xde, 0xad]), 2 ** 40]));
        await exitsCleanly(callee);

        const echoed = new Inbox<unknown[]>();
        await js.session.register('com.rs.js_echo', (a) => {
          echoed.push(a!);
          return new autobahn.Result(a);
        });
        const fromPy2 = new Inbox<unknown[]>();
        await js.session.subscribe('com.rs.from_python_2', (a) => fromPy2.push(a!));
        const caller = spawnPython(target, pySer, 'caller-publisher');
        pys.push(caller);
        const [ev2] = await orPyExit(caller, fromPy2.waitFor(1, 15_000), 'the event on com.rs.from_python_2');
        assert.deepEqual(plain(ev2), plain([wire(jsSer, [0x10, 0x20])]));
        await lineFrom(caller, 'OK');
        await exitsCleanly(caller);
        assert.deepEqual(plain(echoed.items[0]), plain([wire(jsSer, [0, 1, 254, 255]), 2 ** 40, 'text']));
      } finally {
        for (const p of pys) p.child.kill('SIGKILL');
        await js.close();
        await r.stop();
      }
    });
  });
}
