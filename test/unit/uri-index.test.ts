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
