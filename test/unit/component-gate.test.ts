import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { ComponentGate } from '../../src/container/gate.js';
import { within } from '../helpers/wait.js';

const base = mkdtempSync(join(tmpdir(), 'crosswire-gate-test-'));
after(() => rmSync(base, { recursive: true, force: true }));

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await within(new Promise((r) => child.on('exit', r)), 10000, 'a child to exit');
  return child.pid!;
}

test("a router's component socket directory carries its pid; a dead router's is removed at the next start", async () => {
  const dead = join(base, `crosswire-components-${await deadPid()}-abc123`);
  const alive = join(base, `crosswire-components-${process.ppid}-def456`);
  const unrelated = join(base, 'crosswire-components-xyz');
  for (const d of [dead, alive, unrelated]) mkdirSync(d);
  const gate = new ComponentGate(base);
  try {
    assert.equal(dirname(gate.dir), base);
    assert.match(basename(gate.dir), new RegExp(`^crosswire-components-${process.pid}-`));
    assert.equal(existsSync(dead), false, "a dead router's directory is removed");
    assert.equal(existsSync(alive), true, "a live process's directory stays");
    assert.equal(existsSync(unrelated), true, 'a name without a pid is not touched');
  } finally {
    gate.close();
  }
  assert.equal(existsSync(gate.dir), false);
});
