import type { PermissionConfig, RoleConfig } from '../src/ipc/protocol.js';
import type { Dict } from '../src/wamp/messages.js';
import type { Session } from './session.js';

export type Action = 'call' | 'register' | 'publish' | 'subscribe';

export interface Grant {
  allow: boolean;
  discloseCaller: boolean;
  disclosePublisher: boolean;
}

/**
 * What a session's role decides: a Grant, or null when the decision must first be fetched from
 * a dynamic authorizer (workers/auth/dynamic-role.ts).
 */
export interface Permissions {
  readonly name: string;
  check(uri: string, action: Action, s?: Session, options?: Dict): Grant | null;
}

const DENY: Grant = Object.freeze({ allow: false, discloseCaller: false, disclosePublisher: false });

interface Rule {
  uri: string;
  allow: Readonly<Record<Action, boolean>>;
  discloseCaller: boolean;
  disclosePublisher: boolean;
  /** For wildcard rules: the components ('' = any one component). */
  parts?: string[];
  /** For wildcard rules: length of the literal text before the first wildcard component. */
  head?: number;
}

/**
 * Static permissions of one realm role (Crossbar's `roles[].permissions`). A URI is decided by
 * the rule that matches it most specifically: an exact rule, else the longest prefix rule; a
 * wildcard rule with a longer literal head than that prefix overrides it. No rule: deny (or
 * `allow-by-default`). Rules may use Crossbar's starred syntax when `match` is absent.
 */
export class RolePermissions implements Permissions {
  readonly name: string;
  #exact = new Map<string, Rule>();
  #prefix: Rule[] = [];
  #wildcard: Rule[] = [];
  #default: Grant;
  /** Decisions by URI, one map per action (no key string built per check); bounded together. */
  #cache: Record<Action, Map<string, Grant>> = { call: new Map(), register: new Map(), publish: new Map(), subscribe: new Map() };
  #cached = 0;

  constructor(cfg: RoleConfig) {
    this.name = cfg.name;
    const all = cfg['allow-by-default'] === true;
    this.#default = { allow: all, discloseCaller: false, disclosePublisher: false };
    for (const p of cfg.permissions ?? []) this.#add(p);
    this.#prefix.sort((a, b) => b.uri.length - a.uri.length);
    this.#wildcard.sort((a, b) => b.head! - a.head!);
  }

  #add(p: PermissionConfig): void {
    let { uri } = p;
    let match = p.match;
    if (match === undefined) {
      // Crossbar's starred syntax: "a.b.*" = prefix "a.b.", "*" = everything, "a.*.c" = wildcard "a..c".
      if (!uri.includes('*')) match = 'exact';
      else if (uri.indexOf('*') === uri.length - 1) {
        match = 'prefix';
        uri = uri.slice(0, -1);
      } else {
        match = 'wildcard';
        uri = uri.replaceAll('*', '');
      }
    }
    const a = p.allow ?? {};
    const rule: Rule = {
      uri,
      allow: { call: a.call === true, register: a.register === true, publish: a.publish === true, subscribe: a.subscribe === true },
      discloseCaller: p.disclose?.caller === true,
      disclosePublisher: p.disclose?.publisher === true,
    };
    if (match === 'exact') this.#exact.set(uri, rule);
    else if (match === 'prefix') this.#prefix.push(rule);
    else {
      rule.parts = uri.split('.');
      const first = rule.parts.indexOf('');
      rule.head = rule.parts.slice(0, first === -1 ? undefined : first).join('.').length;
      this.#wildcard.push(rule);
    }
  }

  #ruleFor(uri: string): Rule | undefined {
    const exact = this.#exact.get(uri);
    if (exact !== undefined) return exact;
    let best: Rule | undefined;
    for (const r of this.#prefix) {
      if (uri.startsWith(r.uri)) {
        best = r;
        break;
      }
    }
    const parts = uri.split('.');
    for (const r of this.#wildcard) {
      if (best !== undefined && r.head! <= best.uri.length) break;
      if (wildcardMatches(r.parts!, parts)) return r;
    }
    return best;
  }

  /** The decision for `action` on `uri`. Decisions are cached per role (bounded). */
  check(uri: string, action: Action): Grant {
    const cache = this.#cache[action];
    let g = cache.get(uri);
    if (g === undefined) {
      const r = this.#ruleFor(uri);
      g =
        r === undefined
          ? this.#default
          : r.allow[action]
            ? { allow: true, discloseCaller: r.discloseCaller, disclosePublisher: r.disclosePublisher }
            : DENY;
      if (this.#cached >= 10000) {
        for (const m of Object.values(this.#cache)) m.clear();
        this.#cached = 0;
      }
      cache.set(uri, g);
      this.#cached++;
    }
    return g;
  }
}

function wildcardMatches(pattern: string[], parts: string[]): boolean {
  if (pattern.length !== parts.length) return false;
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p !== '' && p !== parts[i]) return false;
  }
  return true;
}
