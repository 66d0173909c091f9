// A realm worker's log lines reach stdout even when the process ends right after them (a
// shutdown terminating the worker, a fatal error ending the process): pino flushes an
// asynchronous destination at exit only on the main thread, so a worker thread's logger
// (src/shared/log.ts) writes synchronously.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { within } from '../helpers/wait.js';

const LOG = new URL('../../src/shared/log.js', import.meta.url).href;

test("a worker thread's last log lines are on stdout when the process exits right after them", async () => {
  const N = 300;
  // The worker logs N lines, then tells the main thread, which exits at once.
  const worker = `import(${JSON.stringify(LOG)}).then(({ createLogger }) => {
    const log = createLogger('info', { component: 'realm' }, 'json');
    for (let i = 0; i < ${N}; i++) log.info({ i }, 'line');
    require('node:worker_threads').parentPort.postMessage('done');
  });`;
  const main = `const { Worker } = require('node:worker_threads');
    const w = new Worker(${JSON.stringify(worker)}, { eval: true });
    w.on('message', () => process.exit(0));`;
  const child = spawn(process.execPath, ['-e', main], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await within(new Promise<number | null>((resolve) => child.on('close', resolve)), 20_000, 'the process to exit');
  assert.equal(code, 0);
  const lines = out.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, N, `${lines.length} of ${N} lines reached stdout`);
  assert.deepEqual(JSON.parse(lines.at(-1)!).i, N - 1);
});
