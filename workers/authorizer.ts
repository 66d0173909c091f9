import type { PermissionConfig, RoleConfig } from '../src/shared/ipc/protocol.js';
import type { Action, Grant, Permissions } from './session.js';

// The role's contract lives with the session it decides for (workers/session.ts).
export type { Action, Grant, Permissions } from './session.js';

/**
 * How much of what a pattern (prefix or wildcard) can match a role allows: every URI, some, or
 * none. 'all' and 'none' are sure; 'some' may also be returned when the role in fact allows all
 * or none of it (the delivery check then decides each URI, which is always right).
 */
export type Coverage = 'all' | 'some' | 'none';

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
  readonly decidesPerSession = false;
  #exact = new Map<string, Rule>();
  #prefix: Rule[] = [];
  #wildcard: Rule[] = [];
  #default: Grant;
  /** Decisions by URI, one map per action (no key string built per check); bounded together. */
  #cache: Record<Action, Map<string, Grant>> = { call: new Map(), register: new Map(), publish: new Map(), subscribe: new Map() };
  #cached = 0;
  /** Coverage of patterns by `${action} ${match} ${pattern}`; bounded. */
  #coverage = new Map<string, Coverage>();

  constructor(
    cfg: RoleConfig,
    /** Decisions on longer URIs are not cached (workers/limits.ts maxCachedUri). */
    readonly maxCachedUri = 4096,
  ) {
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
      if (uri.length > this.maxCachedUri) return g;
      if (this.#cached >= 10000) {
        for (const m of Object.values(this.#cache)) m.clear();
        this.#cached = 0;
      }
      cache.set(uri, g);
      this.#cached++;
    }
    return g;
  }

  receives(uri: string, action: 'subscribe' | 'register'): boolean {
    return this.check(uri, action).allow;
  }

  /**
   * Whether the role allows `action` on every URI the pattern matches, on some, or on none. Every
   * rule that can decide some URI of the pattern is looked at (#ruleFor's precedence says which
   * cannot: a prefix rule shorter than the longest one covering the whole pattern, a wildcard rule
   * whose literal head is not longer than that prefix, the default once a rule covers the whole
   * pattern); the answer is 'all' when each of them allows, 'none' when none does.
   */
  coverage(pattern: string, match: 'prefix' | 'wildcard', action: Action): Coverage {
    const key = `${action} ${match} ${pattern}`;
    let c = this.#coverage.get(key);
    if (c === undefined) {
      c = this.#computeCoverage(pattern, match, action);
      if (this.#coverage.size >= 10000) this.#coverage.clear();
      this.#coverage.set(key, c);
    }
    return c;
  }

  #computeCoverage(pattern: string, match: 'prefix' | 'wildcard', action: Action): Coverage {
    const set = new PatternSet(pattern, match);
    let allowed = false;
    let denied = false;
    const note = (allow: boolean) => {
      if (allow) allowed = true;
      else denied = true;
    };
    for (const r of this.#exact.values()) if (set.contains(r.uri)) note(r.allow[action]);
    // The longest prefix rule that every URI of the pattern starts with: it decides whatever no
    // narrower rule decides. Longer prefix rules that only some URIs start with are noted as such.
    let base: Rule | undefined;
    for (const r of this.#prefix) {
      if (set.common.startsWith(r.uri)) {
        base ??= r; // sorted longest first: the first is the longest
      } else if (set.meetsPrefix(r.uri)) note(r.allow[action]);
    }
    let wholeWildcard = false;
    for (const r of this.#wildcard) {
      if (base !== undefined && r.head! <= base.uri.length) continue; // the prefix rule wins (#ruleFor)
      if (set.meetsWildcard(r.parts!)) {
        note(r.allow[action]);
        if (set.withinWildcard(r.parts!)) wholeWildcard = true;
      }
    }
    // A wildcard rule matching the whole pattern with a longer head overrides the base everywhere.
    if (!wholeWildcard) note(base !== undefined ? base.allow[action] : this.#default.allow);
    return allowed ? (denied ? 'some' : 'all') : 'none';
  }
}

/**
 * The URIs a prefix or wildcard pattern matches, for coverage tests. The tests may answer "meets"
 * for a set that holds only invalid URIs (never the other way round): coverage stays sure.
 */
class PatternSet {
  /** The literal text every URI of the set starts with. */
  readonly common: string;
  readonly #parts: string[];
  constructor(
    readonly pattern: string,
    readonly match: 'prefix' | 'wildcard',
  ) {
    this.#parts = pattern.split('.');
    if (match === 'prefix') this.common = pattern;
    else {
      const first = this.#parts.indexOf('');
      this.common = first === -1 ? pattern : first === 0 ? '' : `${this.#parts.slice(0, first).join('.')}.`;
    }
  }

  contains(uri: string): boolean {
    if (this.match === 'prefix') return uri.startsWith(this.pattern);
    return wildcardMatches(this.#parts, uri.split('.'));
  }

  /** Whether some URI of the set starts with `prefix`. */
  meetsPrefix(prefix: string): boolean {
    if (this.match === 'prefix') return prefix.startsWith(this.pattern) || this.pattern.startsWith(prefix);
    return componentsMeet(this.#parts, prefix.split('.'));
  }

  /** Whether some URI of the set matches the wildcard rule `rule`. */
  meetsWildcard(rule: string[]): boolean {
    if (this.match === 'prefix') return componentsMeet(rule, this.pattern.split('.'));
    if (rule.length !== this.#parts.length) return false;
    for (let i = 0; i < rule.length; i++) {
      const r = rule[i]!;
      const p = this.#parts[i]!;
      if (r !== '' && p !== '' && r !== p) return false;
    }
    return true;
  }

  /** Whether every URI of the set matches the wildcard rule `rule` (never, for a prefix). */
  withinWildcard(rule: string[]): boolean {
    if (this.match === 'prefix' || rule.length !== this.#parts.length) return false;
    for (let i = 0; i < rule.length; i++) if (rule[i] !== '' && rule[i] !== this.#parts[i]) return false;
    return true;
  }
}

/**
 * Whether a URI exists that matches the wildcard components `wild` (each '' = any one component,
 * exactly wild.length components) and starts with the string prefix whose components are `head`
 * (its last component possibly partial).
 */
function componentsMeet(wild: string[], head: string[]): boolean {
  const k = head.length - 1;
  if (wild.length < k + 1) return false;
  for (let i = 0; i < k; i++) if (wild[i] !== '' && wild[i] !== head[i]) return false;
  return wild[k] === '' || wild[k]!.startsWith(head[k]!);
}

function wildcardMatches(pattern: string[], parts: string[]): boolean {
  if (pattern.length !== parts.length) return false;
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p !== '' && p !== parts[i]) return false;
  }
  return true;
}
