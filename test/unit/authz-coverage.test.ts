import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PermissionConfig, RoleConfig } from '../../src/shared/ipc/protocol.js';
import { type Coverage, RolePermissions } from '../../workers/authorizer.js';
import { patternMatches } from '../../workers/broker.js';

const role = (permissions: PermissionConfig[], allowByDefault = false): RolePermissions =>
  new RolePermissions({ name: 'r', permissions, 'allow-by-default': allowByDefault } as RoleConfig);
const sub = { subscribe: true };

describe('RolePermissions.coverage', () => {
  test("issue 20's role: the leaking patterns are partly covered, the rules' own patterns fully", () => {
    const r = role([
      { uri: 'com.example.news', match: 'exact', allow: sub },
      { uri: 'com.example.feed.', match: 'prefix', allow: sub },
      { uri: 'com.example.feed.secret', match: 'exact', allow: {} },
      { uri: 'com.example.api.add', match: 'exact', allow: { register: true } },
      { uri: 'com.example..public', match: 'wildcard', allow: sub },
    ]);
    assert.equal(r.coverage('com.example.news', 'prefix', 'subscribe'), 'some');
    assert.equal(r.coverage('com.example.feed.', 'prefix', 'subscribe'), 'some');
    assert.equal(r.coverage('com.example.x.public', 'prefix', 'subscribe'), 'some');
    assert.equal(r.coverage('com.example.api.add', 'prefix', 'register'), 'some');
    assert.equal(r.coverage('com.example.feed.open', 'prefix', 'subscribe'), 'all');
    assert.equal(r.coverage('com.example..public', 'wildcard', 'subscribe'), 'all');
    assert.equal(r.coverage('com.example.feed.', 'wildcard', 'subscribe'), 'some');
    assert.equal(r.coverage('com.example.feed.x.', 'wildcard', 'subscribe'), 'all');
    assert.equal(r.coverage('com.example.api.', 'prefix', 'subscribe'), 'some'); // com.example.api.public
    assert.equal(r.coverage('com.example.x..private', 'wildcard', 'subscribe'), 'none');
    assert.equal(r.coverage('com.example.api.', 'prefix', 'register'), 'some');
    assert.equal(r.coverage('com.example.api.', 'prefix', 'call'), 'none');
    assert.equal(r.coverage('com.example.api.add', 'prefix', 'subscribe'), 'none');
  });

  test('a wider or equal rule covers a pattern; a narrower deny inside it does not', () => {
    const r = role([
      { uri: 'com.', match: 'prefix', allow: sub },
      { uri: 'com.a.secret', match: 'exact', allow: {} },
      { uri: 'org..x', match: 'wildcard', allow: sub },
    ]);
    assert.equal(r.coverage('com.b', 'prefix', 'subscribe'), 'all');
    assert.equal(r.coverage('com.b..c', 'wildcard', 'subscribe'), 'all');
    assert.equal(r.coverage('com.a', 'prefix', 'subscribe'), 'some');
    assert.equal(r.coverage('com..secret', 'wildcard', 'subscribe'), 'some');
    assert.equal(r.coverage('org..x', 'wildcard', 'subscribe'), 'all');
    assert.equal(r.coverage('org.y.x', 'wildcard', 'subscribe'), 'all');
    assert.equal(r.coverage('org..', 'wildcard', 'subscribe'), 'some');
    assert.equal(r.coverage('org.', 'prefix', 'subscribe'), 'some');
    assert.equal(r.coverage('', 'prefix', 'subscribe'), 'some');
  });

  test('precedence: a wildcard rule with a head no longer than the covering prefix rule cannot decide', () => {
    const r = role([
      { uri: 'a.b.', match: 'prefix', allow: sub },
      { uri: 'a..c', match: 'wildcard', allow: {} },
      { uri: 'a.b..d', match: 'wildcard', allow: {} },
      { uri: 'a.b.x..d', match: 'wildcard', allow: {} },
    ]);
    assert.equal(r.check('a.b.c', 'subscribe').allow, true);
    assert.equal(r.check('a.b.y.d', 'subscribe').allow, true);
    assert.equal(r.check('a.b.x.y.d', 'subscribe').allow, false); // head 'a.b.x' is longer than 'a.b.'
    assert.equal(r.coverage('a.b..', 'wildcard', 'subscribe'), 'all');
    assert.equal(r.coverage('a.b.y', 'prefix', 'subscribe'), 'all');
    assert.equal(r.coverage('a.b.', 'prefix', 'subscribe'), 'some');
    assert.equal(r.coverage('a.b.x..', 'wildcard', 'subscribe'), 'some');
    assert.equal(r.coverage('a.b.x..d', 'wildcard', 'subscribe'), 'none');
  });

  test('allow-by-default: covered unless a deny rule reaches into the pattern', () => {
    const r = role([{ uri: 'x.secret', match: 'exact', allow: {} }], true);
    assert.equal(r.coverage('y.', 'prefix', 'subscribe'), 'all');
    assert.equal(r.coverage('x.', 'prefix', 'subscribe'), 'some');
    assert.equal(r.coverage('.secret', 'wildcard', 'subscribe'), 'some');
    assert.equal(r.coverage('..', 'wildcard', 'subscribe'), 'all');
  });

  // A brute-force oracle: random roles and patterns over a small alphabet; every URI of up to four
  // components is decided by RolePermissions.check. 'all' must mean every matched URI is allowed,
  // 'none' that none is (coverage may say 'some' for either; it must never be wrong the other way).
  test('never wrong against a brute-force oracle (deterministic random roles and patterns)', () => {
    let seed = 20;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const comps = ['a', 'b', 'ab', 'ba'];
    const universe: string[] = [];
    const grow = (prefix: string[], depth: number) => {
      for (const c of comps) {
        const parts = [...prefix, c];
        universe.push(parts.join('.'));
        if (depth > 1) grow(parts, depth - 1);
      }
    };
    grow([], 4);
    const randomUri = (wild: boolean, max = 3) => {
      const n = 1 + rnd(max);
      const parts: string[] = [];
      for (let i = 0; i < n; i++) parts.push(wild && rnd(3) === 0 ? '' : comps[rnd(comps.length)]!);
      return parts.join('.');
    };
    const randomPrefix = () => {
      const u = rnd(6) === 0 ? '' : randomUri(false);
      return rnd(2) === 0 ? u : u === '' ? u : rnd(2) === 0 ? `${u}.` : u.slice(0, Math.max(0, u.length - 1));
    };
    const counts: Record<Coverage, number> = { all: 0, some: 0, none: 0 };
    for (let trial = 0; trial < 300; trial++) {
      const permissions: PermissionConfig[] = [];
      for (let i = 1 + rnd(5); i > 0; i--) {
        const kind = rnd(3);
        const allow = rnd(3) === 0 ? {} : sub;
        if (kind === 0) permissions.push({ uri: randomUri(false), match: 'exact', allow });
        else if (kind === 1) permissions.push({ uri: randomPrefix(), match: 'prefix', allow });
        else permissions.push({ uri: randomUri(true), match: 'wildcard', allow });
      }
      const r = role(permissions, rnd(4) === 0);
      for (let j = 0; j < 8; j++) {
        const match = rnd(2) === 0 ? 'prefix' : 'wildcard';
        const pattern = match === 'prefix' ? randomPrefix() : randomUri(true);
        const c = r.coverage(pattern, match, 'subscribe');
        counts[c]++;
        const matched = universe.filter((u) => patternMatches(pattern, match, u));
        const allowed = matched.filter((u) => r.check(u, 'subscribe').allow);
        const what = `${match} '${pattern}' under ${JSON.stringify(permissions)}`;
        if (c === 'all') assert.equal(allowed.length, matched.length, `'all' but a URI is denied: ${what}`);
        if (c === 'none') assert.equal(allowed.length, 0, `'none' but ${allowed[0]} is allowed: ${what}`);
      }
    }
    // The oracle exercised every answer (the test would prove nothing if coverage always said 'some').
    assert.ok(counts.all > 100 && counts.none > 100, JSON.stringify(counts));
  });
});
