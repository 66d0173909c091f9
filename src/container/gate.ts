import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PythonComponentConfig } from '../config/components.js';
import type { PrivatePath } from './python.js';

/** The identity the router assigns to a router component's session. */
export interface ComponentIdentity {
  component: string;
  realm: string;
  role: string;
  authid: string;
}

const PREFIX = 'crosswire-components-';

/**
 * Removes the socket directories of routers of this user that died without cleaning up (a
 * SIGKILL): the directory's name carries its router's pid, and a pid no process has is stale. A
 * directory whose pid was reused by another process stays (it is empty but for a dead socket).
 */
export function sweepStale(base: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return removed;
  }
  const uid = process.getuid?.();
  for (const name of names) {
    const m = /^crosswire-components-(\d+)-/.exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    const dir = join(base, name);
    try {
      if (uid !== undefined && statSync(dir).uid !== uid) continue;
      process.kill(Number(m[1]), 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') continue;
      rmSync(dir, { recursive: true, force: true });
      removed.push(dir);
    }
  }
  return removed;
}

/**
 * The private path of router components into the router (Crossbar runs them inside the router
 * worker, where nobody else can claim their role). Two locks, both needed to join with a
 * component's role:
 *
 * - a unix socket in a directory created with mode 0700 (mkdtemp): only the router's own user
 *   (and root) can connect to it at all; it is no TCP port, and it has no other authentication
 *   method, so anything else that connects is refused;
 * - a one-time token per component process: 32 random bytes, handed to that process on its
 *   stdin pipe (never argv, environment or a file, which other processes can read), valid for
 *   one HELLO on this socket, for the component's realm, and revoked when the process exits.
 *   The router, not the client, decides realm, role and authid from the token.
 *
 * Network clients and other local users cannot get past the first lock; processes of the
 * router's own user are trusted (they could read the router's memory as well).
 */
export class ComponentGate implements PrivatePath {
  readonly dir: string;
  readonly socket: string;
  #tokens = new Map<string, ComponentIdentity>();

  constructor(base = tmpdir()) {
    sweepStale(base);
    this.dir = mkdtempSync(join(base, `${PREFIX}${process.pid}-`));
    this.socket = join(this.dir, 'router.sock');
  }

  issue(c: PythonComponentConfig): string {
    const token = randomBytes(32).toString('base64url');
    this.#tokens.set(token, { component: c.id, realm: c.realm, role: c.role, authid: c.authid ?? crypto.randomUUID() });
    return token;
  }

  revoke(token: string): void {
    this.#tokens.delete(token);
  }

  /** The identity for a HELLO's token (used up), or why it is refused. */
  claim(token: unknown, realm: string): ComponentIdentity | string {
    if (typeof token !== 'string' || token === '') return 'this socket admits only the router\'s own components (HELLO.Details.authextra.crosswire_component_token is missing)';
    const id = this.#tokens.get(token);
    if (id === undefined) return 'unknown, revoked or already used component token';
    if (id.realm !== realm) return `the component token is not for realm '${realm}'`;
    this.#tokens.delete(token);
    return id;
  }

  close(): void {
    this.#tokens.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
