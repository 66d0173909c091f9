// Interop with Autobahn|Python (Debian's python3-autobahn, run by Debian's /usr/bin/python3):
// test/interop/python_client.py joins realm1 with one serializer and calls/registers,
// publishes/subscribes against an AutobahnJS peer, on every {Python, JS} × {json, msgpack} pair,
// with byte strings and a 2**40 integer in the payloads.
//
// Byte strings on the wire (WAMP spec, "Binary support"): msgpack carries them as `bin`; JSON
// as a string "\u0000" + base64. The router converts between the two. Autobahn|Python's JSON
// serializer does that conversion itself, so Python code always sees `bytes`. AutobahnJS 22's
// JSONSerializer does not (plain JSON.parse/stringify), so a JSON AutobahnJS peer sends and
// receives the "\u0000<base64>" string itself; an msgpack AutobahnJS peer sends Uint8Array and
// receives Buffer. `wire()` below is what the JS peer sends and must get back, per serializer.
//
// Needs scripts/install-test-deps.sh (apt: python3-autobahn python3-msgpack). Missing packages
// fail this file, unless CROSSWIRE_SKIP_PYTHON_INTEROP=1 is set: then it is skipped.
import '../helpers/quiet.js'; // before 'autobahn'
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import autobahn from 'autobahn';
import { type Client, connect, SERIALIZERS, type SerializerName } from '../helpers/client.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { Inbox, within } from '../helpers/wait.js';

const PYTHON = '/usr/bin/python3';
// dist/test/integration/ -> repository root (tsc does not copy .py files)
const SCRIPT = fileURLToPath(new URL('../../../test/interop/python_client.py', import.meta.url));
const INSTALL_HINT = 'run scripts/install-test-deps.sh as root (apt-get installs python3-autobahn and python3-msgpack)';

/** Why Autobahn|Python cannot run here, or undefined when it can; with its versions. */
function pythonStatus(): { problem?: string; versions?: string } {
  if (!existsSync(SCRIPT)) return { problem: `${SCRIPT} is missing` };
  const r = spawnSync(
    PYTHON,
    [
      '-c',
      'import autobahn, msgpack, sys; from autobahn.wamp.serializer import JsonSerializer, MsgPackSerializer; ' +
        'print("python", sys.version.split()[0], "autobahn", autobahn.__version__, "msgpack", ".".join(map(str, msgpack.version)))',
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  if (r.error) return { problem: `${PYTHON} cannot run: ${r.error.message}` };
  if (r.status !== 0) {
    const last = r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`;
    return { problem: `${PYTHON} cannot import autobahn and msgpack (${last})` };
  }
  return { versions: r.stdout.trim() };
}

const status = pythonStatus();
const skip =
  status.problem !== undefined && process.env.CROSSWIRE_SKIP_PYTHON_INTEROP === '1'
    ? `CROSSWIRE_SKIP_PYTHON_INTEROP=1 and ${status.problem}`
    : false;

// ---------------------------------------------------------------------------------------------
// The Python peer as a child process

interface PythonPeer {
  child: ChildProcess;
  label: string;
  lines: string[];
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Called after each chunk of stdout lines. */
  onLine: (() => void)[];
}

const running = new Set<PythonPeer>();

function spawnPython(url: string, ser: SerializerName, role: 'callee-subscriber' | 'caller-publisher'): PythonPeer {
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' };
  delete env.AUTOBAHN_USE_UJSON;
  const child = spawn(PYTHON, [SCRIPT, url, ser, role], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const lines: string[] = [];
  let err = '';
  let buf = '';
  const onLine: (() => void)[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, nl).trimEnd());
      buf = buf.slice(nl + 1);
    }
    for (const f of onLine) f();
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('error', (e) => {
      err += `spawn error: ${e.message}\n`;
      resolve({ code: null, signal: null });
    });
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  const peer: PythonPeer = { child, label: `python_client.py ${ser} ${role}`, lines, stderr: () => err, exited, onLine };
  running.add(peer);
  void exited.then(() => running.delete(peer));
  return peer;
}

function describeExit(py: PythonPeer, e: { code: number | null; signal: NodeJS.Signals | null }): string {
  return `${py.label} exited (code ${e.code}, signal ${e.signal}); stdout: ${JSON.stringify(py.lines)}; stderr:\n${py.stderr()}`;
}

/**
 * Waits (at most `ms`) for `p`, failing early with Python's stderr if the Python peer exits first.
 * The peer may exit right after sending what is awaited, so its exit still allows 2 s for `p`.
 */
async function fromPython<T>(py: PythonPeer, p: Promise<T>, ms: number, what: string): Promise<T> {
  const died = py.exited.then(async (e) => {
    try {
      return await within(p, 2000, what);
    } catch {
      throw new Error(`${describeExit(py, e)}\n(while waiting for ${what})`);
    }
  });
  try {
    return await within(Promise.race([p, died]), ms, what);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('timed out')) {
      throw new Error(`${err.message}; ${py.label} stdout: ${JSON.stringify(py.lines)}; stderr:\n${py.stderr()}`);
    }
    throw err;
  }
}

function line(py: PythonPeer, text: string, ms = 10_000): Promise<void> {
  const seen = new Promise<void>((resolve) => {
    const check = () => {
      if (py.lines.includes(text)) resolve();
    };
    py.onLine.push(check);
    check();
  });
  return fromPython(py, seen, ms, `the line ${JSON.stringify(text)} from ${py.label}`);
}

async function exitsCleanly(py: PythonPeer, ms = 12_000): Promise<void> {
  const e = await within(py.exited, ms, `${py.label} to exit`).catch((err: Error) => {
    throw new Error(`${err.message}; stdout: ${JSON.stringify(py.lines)}; stderr:\n${py.stderr()}`);
  });
  assert.equal(e.code, 0, describeExit(py, e));
}

async function killAll(): Promise<void> {
  for (const py of running) {
    py.child.kill('SIGKILL');
    await within(py.exited, 5000, `${py.label} to die`);
  }
}

// ---------------------------------------------------------------------------------------------
// Payload helpers

/** Bytes as the AutobahnJS peer with serializer `js` puts them on (and gets them off) the wire. */
function wire(js: SerializerName, bytes: number[]): string | Uint8Array {
  return js === 'json' ? `\u0000${Buffer.from(bytes).toString('base64')}` : new Uint8Array(bytes);
}

/** Buffer → plain Uint8Array (recursively), so deepStrictEqual compares bytes, not prototypes. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

function asResult(v: unknown): { args: unknown[]; kwargs: Record<string, unknown> } {
  assert.ok(v instanceof autobahn.Result, `expected a multi-value result (autobahn.Result), got ${String(v)}`);
  return { args: plain(v.args) as unknown[], kwargs: plain(v.kwargs) as Record<string, unknown> };
}

type Ev = { args: unknown[]; kwargs: Record<string, unknown> };

// ---------------------------------------------------------------------------------------------

test(`Autobahn|Python with msgpack is importable by ${PYTHON}`, { skip }, (t) => {
  if (status.problem !== undefined) {
    assert.fail(`${status.problem}: ${INSTALL_HINT} (or set CROSSWIRE_SKIP_PYTHON_INTEROP=1 to skip these tests)`);
  }
  t.diagnostic(status.versions!);
});

after(killAll);

const combos = SERIALIZERS.flatMap((py) => SERIALIZERS.map((js) => ({ py, js })));

for (const { py: pySer, js: jsSer } of status.problem === undefined || skip ? combos : []) {
  describe(`Autobahn|Python ${pySer} <-> AutobahnJS ${jsSer}`, { skip }, () => {
    let r: TestRouter;
    let js: Client;
    let callee: PythonPeer;
    const fromPy = new Inbox<Ev>();

    before(async () => {
      r = await startRouter();
      js = await connect(r.url, jsSer);
      await js.session.subscribe('com.interop.from_python', (args, kwargs) => fromPy.push({ args, kwargs }));
      callee = spawnPython(r.url, pySer, 'callee-subscriber');
      await line(callee, 'READY');
    });
    after(async () => {
      await killAll();
      await js?.close();
      await r?.stop();
    });

    test('JS call -> Python callee com.interop.echo: bytes, 2**40 and text come back exactly', async () => {
      const args = [wire(jsSer, [0, 1, 254, 255]), 2 ** 40, 'text'];
      const kwargs = { blob: wire(jsSer, [0xff, 0x00]), empty: wire(jsSer, []), nested: [{ x: wire(jsSer, [2]) }] };
      const res = asResult(await fromPython(callee, js.session.call('com.interop.echo', args, kwargs), 5000, 'the echo result'));
      assert.deepEqual(res.args, [wire(jsSer, [0, 1, 254, 255]), 2 ** 40, 'text']);
      assert.deepEqual(res.kwargs, { blob: wire(jsSer, [0xff, 0x00]), empty: wire(jsSer, []), nested: [{ x: wire(jsSer, [2]) }] });
    });

    test('a 64 KiB byte string survives the round trip through the Python callee', async () => {
      const big = Array.from({ length: 65536 + 3 }, (_, i) => (i * 7 + (i >> 8)) & 0xff);
      const res = await fromPython(callee, js.session.call('com.interop.echo', [wire(jsSer, big)]), 5000, 'the echo result');
      assert.deepEqual(plain(res), wire(jsSer, big));
    });

    test('the Python callee receives bytes as bytes, integers as int, floats as float', async () => {
      const args = [wire(jsSer, [0, 1, 254, 255]), 2 ** 40, -(2 ** 40), 2 ** 53 - 1, 7, 'text', 1.5];
      const kwargs = { blob: wire(jsSer, [0xff]), empty: wire(jsSer, []), nested: [{ x: wire(jsSer, [2]) }] };
      const res = asResult(await fromPython(callee, js.session.call('com.interop.types', args, kwargs), 5000, 'the types result'));
      assert.deepEqual(res.args, [
        'bytes:0001feff',
        'int:1099511627776',
        'int:-1099511627776',
        'int:9007199254740991',
        'int:7',
        'str:text',
        'float:1.5',
      ]);
      assert.deepEqual(res.kwargs, { blob: 'bytes:ff', empty: 'bytes:', nested: [{ x: 'bytes:02' }] });
    });

    test('com.interop.add2: 2**40 + 2 computed on Python ints; a float is refused', async () => {
      assert.equal(await fromPython(callee, js.session.call('com.interop.add2', [2 ** 40, 2]), 5000, 'add2'), 2 ** 40 + 2);
      assert.equal(await fromPython(callee, js.session.call('com.interop.add2', [-5, 7]), 5000, 'add2'), 2);
      await assert.rejects(fromPython(callee, js.session.call('com.interop.add2', [0.5, 2]), 5000, 'add2 error'), (e: unknown) => {
        assert.equal((e as { error?: string }).error, 'com.interop.error.not_int');
        return true;
      });
    });

    test('JS publish -> Python subscriber -> Python publish -> JS: bytes stay bytes', async () => {
      const args = [wire(jsSer, [0xde, 0xad, 0x00, 0xbe, 0xef]), 2 ** 40, 'text'];
      await js.session.publish('com.interop.to_python', args, { blob: wire(jsSer, [1, 2, 3]) }, { acknowledge: true });
      const [ev] = await fromPython(callee, fromPy.waitFor(1, 10_000), 10_000, 'the event on com.interop.from_python');
      assert.deepEqual(plain(ev!.args), [wire(jsSer, [0xde, 0xad, 0x00, 0xbe, 0xef]), 2 ** 40, 'text']);
      assert.deepEqual(plain(ev!.kwargs), {
        kwargs: { blob: wire(jsSer, [1, 2, 3]) },
        types: [['bytes:dead00beef', 'int:1099511627776', 'str:text'], { blob: 'bytes:010203' }],
      });
      await exitsCleanly(callee);
    });

    test('Python call -> JS callee, Python publish -> JS, JS publish -> Python: Python checks print OK', async () => {
      const echoed = new Inbox<Ev>();
      await js.session.register('com.interop.js_echo', (args, kwargs) => {
        echoed.push({ args, kwargs });
        return new autobahn.Result(args, kwargs);
      });
      const fromPy2 = new Inbox<Ev>();
      await js.session.subscribe('com.interop.from_python_2', (args, kwargs) => fromPy2.push({ args, kwargs }));

      const caller = spawnPython(r.url, pySer, 'caller-publisher');
      const [ev] = await fromPython(caller, fromPy2.waitFor(1, 10_000), 10_000, 'the event on com.interop.from_python_2');
      assert.deepEqual(plain(ev!.args), [wire(jsSer, [0x10, 0x20])]);
      assert.deepEqual(ev!.kwargs, {});
      await js.session.publish('com.interop.to_python_2', [wire(jsSer, [0x30, 0x40]), 2 ** 40], {}, { acknowledge: true });
      await line(caller, 'OK');
      await exitsCleanly(caller);

      // What the JS callee received from the Python caller.
      assert.equal(echoed.items.length, 1);
      assert.deepEqual(plain(echoed.items[0]!.args), [wire(jsSer, [0, 1, 254, 255]), 2 ** 40, 'text']);
      assert.deepEqual(plain(echoed.items[0]!.kwargs), { blob: wire(jsSer, [0xff]) });
    });
  });
}
