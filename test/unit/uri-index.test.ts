import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UriIndex } from '../../workers/match/uri-index.js';

describe('UriIndex', () => {
  const idx = new UriIndex<string>();
  idx.set('com.a.b', 'exact', 'E');
  idx.set('com.a', 'prefix', 'P-com.a');
  idx.set('com.a.b', 'prefix', 'P-com.a.b');
  idx.set('com', 'prefix', 'P-com');
  idx.set('com..b', 'wildcard', 'W-com..b');
  idx.set('com.a.', 'wildcard', 'W-com.a.');
  idx.set('..b', 'wildcard', 'W-..b');
  idx.set('com.a..d', 'wildcard', 'W-com.a..d');
  idx.set('com..c.d', 'wildcard', 'W-com..c.d');

  test('matchAll finds every matching pattern (exact, all prefixes, all wildcards)', () => {
    assert.deepEqual(idx.matchAll('com.a.b').sort(), ['E', 'P-com', 'P-com.a', 'P-com.a.b', 'W-..b', 'W-com..b', 'W-com.a.'].sort());
    // string prefix: com.a matches com.ax too
    assert.deepEqual(idx.matchAll('com.ax').sort(), ['P-com', 'P-com.a']);
    assert.deepEqual(idx.matchAll('org.x.b'), ['W-..b']);
    assert.deepEqual(idx.matchAll('org'), []);
  });

  test('matchBest: exact, then longest prefix, then the most specific wildcard', () => {
    assert.equal(idx.matchBest('com.a.b'), 'E');
    assert.equal(idx.matchBest('com.a.b.c'), 'P-com.a.b');
    assert.equal(idx.matchBest('com.ax'), 'P-com.a');
    const w = new UriIndex<string>();
    w.set('com.a..d', 'wildcard', 'a..d');
    w.set('com..c.d', 'wildcard', '..c.d');
    w.set('...d', 'wildcard', '...d');
    // longest literal run before the first wildcard wins
    assert.equal(w.matchBest('com.a.c.d'), 'a..d');
    assert.equal(w.matchBest('com.x.c.d'), '..c.d');
    assert.equal(w.matchBest('org.x.c.d'), '...d');
    assert.equal(w.matchBest('org.x.c'), undefined);
  });

  test('delete removes exactly one pattern and prunes', () => {
    const d = new UriIndex<number>();
    d.set('a..c', 'wildcard', 1);
    d.set('a.b.', 'wildcard', 2);
    d.set('a', 'prefix', 3);
    d.set('ab', 'prefix', 4);
    d.delete('a..c', 'wildcard');
    assert.deepEqual(d.matchAll('a.b.c'), [3, 2]);
    d.delete('a.b.', 'wildcard');
    d.delete('a', 'prefix');
    assert.deepEqual(d.matchAll('a.b.c'), []);
    assert.deepEqual(d.matchAll('abc'), [4]);
    assert.equal(d.size, 1);
  });
});

describe('UriIndex against a brute-force oracle (deterministic random patterns)', () => {
  let seed = 7;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const w = () => ['a', 'b', 'c', 'd'][rnd(4)]! + rnd(3);
  const topic = () => ['x', w(), w(), w()].slice(0, 2 + rnd(3)).join('.');
  const pats = new Map<string, { uri: string; match: 'exact' | 'prefix' | 'wildcard' }>();
  for (let i = 0; i < 3000; i++) {
    const match = (['exact', 'prefix', 'wildcard'] as const)[rnd(3)]!;
    let parts = ['x', w(), w(), w()].slice(0, 2 + rnd(3));
    if (match === 'wildcard') parts = parts.map((p) => (rnd(3) === 0 ? '' : p));
    let uri = parts.join('.');
    if (match === 'prefix' && rnd(2)) uri = uri.slice(0, Math.max(0, uri.length - rnd(3)));
    pats.set(`${match} ${uri}`, { uri, match });
  }
  const idx = new UriIndex<string>();
  for (const [k, p] of pats) idx.set(p.uri, p.match, k);
  const matches = (p: { uri: string; match: string }, t: string) =>
    p.match === 'exact'
      ? p.uri === t
      : p.match === 'prefix'
        ? t.startsWith(p.uri)
        : p.uri.split('.').length === t.split('.').length && p.uri.split('.').every((c, i) => c === '' || c === t.split('.')[i]);
  /** Most specific wildcard: at the first position where they differ, a literal beats a wildcard. */
  const moreSpecific = (a: string, b: string) => {
    const A = a.split('.');
    const B = b.split('.');
    for (let j = 0; j < A.length; j++) if ((A[j] === '') !== (B[j] === '')) return A[j] === '' ? 1 : -1;
    return 0;
  };
  const check = (n: number) => {
    for (let i = 0; i < n; i++) {
      const t = topic();
      const want = [...pats].filter(([, p]) => matches(p, t)).map(([k]) => k).sort();
      assert.deepEqual(idx.matchAll(t, []).sort(), want, t);
      const prefix = [...pats.values()].filter((p) => p.match === 'prefix' && t.startsWith(p.uri)).sort((a, b) => b.uri.length - a.uri.length)[0];
      const wild = [...pats.values()].filter((p) => p.match === 'wildcard' && matches(p, t)).sort((a, b) => moreSpecific(a.uri, b.uri))[0];
      const best = pats.has(`exact ${t}`) ? `exact ${t}` : prefix ? `prefix ${prefix.uri}` : wild ? `wildcard ${wild.uri}` : undefined;
      assert.equal(idx.matchBest(t), best, t);
    }
  };
  test('matchAll and matchBest agree with the oracle', () => check(2000));
  test('... and still after deleting half of the patterns', () => {
    for (const [k, p] of [...pats].filter((_, i) => i % 2 === 0)) {
      idx.delete(p.uri, p.match);
      pats.delete(k);
    }
    assert.equal(idx.size, pats.size);
    check(2000);
  });
});
