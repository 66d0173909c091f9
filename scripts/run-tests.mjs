#!/usr/bin/env node
// Runs one group of the test suite from dist/ (compile first: `npm run compile`, or `npm run build`).
//
//   node scripts/run-tests.mjs unit|integration|external [more node --test options]
//
// unit:        test/unit, no router.
// integration: test/integration except the external ones; a real router in the test process
//              or as a child process, real clients.
// external:    tests that need more than npm (Autobahn|Python, nats-server), start container
//              processes or the Dockerfile's command line, or run the benchmark harness for real.
// `npm test` runs all three groups (it is what CI and scripts/test-node-matrix.sh run).
// A compiled test whose .ts source is gone (a renamed or deleted test) is not run.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** test/integration files (without .test.ts) that belong to `external`, each with what it needs. */
export const EXTERNAL = {
  'python-interop': "Debian's python3-autobahn, python3-msgpack (scripts/install-test-deps.sh)",
  'python-auth': "Debian's python3-autobahn, python3-argon2",
  cluster: "Debian's nats-server",
  'cluster-auth': "Debian's nats-server (token, nkey, operator mode, TLS), a test PKI (openssl)",
  'cluster-cookies': "Debian's nats-server",
  'cluster-failure': "Debian's nats-server, router processes",
  'cluster-meta': "Debian's nats-server",
  'cluster-rpc': "Debian's nats-server, router processes",
  'cluster-state': "Debian's nats-server (JetStream)",
  'cluster-wire': "Debian's nats-server",
  'python-components': "Debian's python3-autobahn (component processes)",
  'python-components-config': "Debian's python3-autobahn",
  'python-components-rawsocket': "Debian's python3-autobahn (Twisted RawSocket client)",
  'rawsocket-python': "Debian's python3-autobahn",
  'tls-client-cert': "Debian's python3-autobahn (channel binding), a test PKI (openssl)",
  containers: 'container and guest processes, a test PKI (openssl)',
  'crossbar-config-workers': 'container and guest processes',
  docker: "the Dockerfile's ENTRYPOINT, CMD and HEALTHCHECK run as processes (no Docker needed)",
  bench: 'three real benchmark runs (router, limit servers, generator processes)',
};

function tests(folder, keep) {
  const dir = join(ROOT, 'test', folder);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.test.ts') && keep(f.slice(0, -'.test.ts'.length)))
    .map((f) => join('dist', 'test', folder, f.replace(/\.ts$/, '.js')))
    .sort();
}

const GROUPS = {
  unit: () => tests('unit', () => true),
  integration: () => tests('integration', (name) => !(name in EXTERNAL)),
  external: () => tests('integration', (name) => name in EXTERNAL),
};

const [group, ...options] = process.argv.slice(2);
if (!(group in GROUPS)) {
  process.stderr.write(`usage: node scripts/run-tests.mjs ${Object.keys(GROUPS).join('|')} [node --test options]\n`);
  process.exit(2);
}
for (const name of Object.keys(EXTERNAL)) {
  if (!existsSync(join(ROOT, 'test', 'integration', `${name}.test.ts`))) {
    process.stderr.write(`run-tests: EXTERNAL names test/integration/${name}.test.ts, which does not exist\n`);
    process.exit(2);
  }
}
const files = GROUPS[group]();
const missing = files.filter((f) => !existsSync(join(ROOT, f)));
if (missing.length > 0) {
  process.stderr.write(`run-tests: not compiled (npm run compile): ${missing.join(', ')}\n`);
  process.exit(2);
}
const child = spawn(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=60000', ...options, ...files], { cwd: ROOT, stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
