import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cookieValue } from '../../src/transport/cookies.js';
import { hostPort } from '../../src/transport/http.js';
import { OriginPolicy, ProxyPolicy } from '../../src/transport/origin.js';

describe('allowed_origins', () => {
  test("Crossbar's matching, without its default-port trap", () => {
    const p = new OriginPolicy(['https://*.example.com', 'http://localhost:*', 'https://exact.org:8443'], true);
    for (const o of ['https://app.example.com', 'https://app.example.com:443', 'https://a.b.example.com', 'HTTPS://APP.EXAMPLE.COM', 'http://localhost:3000', 'http://localhost', 'https://exact.org:8443']) {
      assert.ok(p.allows(o), o);
    }
    for (const o of ['https://app.example.com:8443', 'http://app.example.com', 'https://example.com.evil.org', 'https://exact.org', 'not a url', 'file:///x']) {
      assert.ok(!p.allows(o), o);
    }
    assert.ok(p.allows(''), 'no Origin header is not checked');
    assert.ok(p.allows('null'));
    assert.ok(!new OriginPolicy(['*'], false).allows('null'));
    assert.ok(new OriginPolicy(['*'], false).allows('https://anything.org'));
    assert.ok(new OriginPolicy(['https://*.example.com:*'], true).allows('https://app.example.com:8443'));
    // A scheme without a default port needs one written out; "constructor" is no exception.
    const anyScheme = new OriginPolicy(['*.example.com'], true);
    assert.deepEqual(['foo://a.example.com', 'constructor://a.example.com', 'https://a.example.com'].map((o) => anyScheme.allows(o)), [false, false, true]);
  });
});

describe('trusted_proxies', () => {
  const p = new ProxyPolicy(['10.0.0.0/8', '192.0.2.1', 'fd00::/8']);
  test('X-Forwarded-For is read from the right while the hop is trusted', () => {
    assert.equal(p.clientAddress('10.1.1.1', '203.0.113.7'), '203.0.113.7');
    assert.equal(p.clientAddress('10.1.1.1', '203.0.113.7, 192.0.2.1'), '203.0.113.7');
    assert.equal(p.clientAddress('10.1.1.1', '1.1.1.1, 203.0.113.7, 10.2.2.2'), '203.0.113.7', 'a forged entry left of an untrusted hop is ignored');
    assert.equal(p.clientAddress('198.51.100.9', '203.0.113.7'), '198.51.100.9', 'an untrusted peer cannot set it');
    assert.equal(p.clientAddress('10.1.1.1', ''), '10.1.1.1');
    assert.equal(p.clientAddress('10.1.1.1', 'garbage, 203.0.113.7'), '203.0.113.7', 'garbage stops the walk at the last good hop');
    assert.equal(p.clientAddress('::ffff:10.1.1.1', '203.0.113.7'), '203.0.113.7', 'IPv4-mapped IPv6 peers');
    assert.equal(p.clientAddress('fd00::1', '2001:db8::5'), '2001:db8::5');
    assert.equal(new ProxyPolicy([]).clientAddress('10.1.1.1', '203.0.113.7'), '10.1.1.1', 'no trusted proxies: ignored');
  });
});

describe('headers', () => {
  test('Host ports and cookies', () => {
    assert.deepEqual(['h', 'h:80', '[::1]', '[::1]:8080', '1.2.3.4:443'].map(hostPort), [null, 80, null, 8080, 443]);
    assert.equal(cookieValue('a=1; cbtid=Xy+/z; b=2', 'cbtid'), 'Xy+/z');
    assert.equal(cookieValue('cbtidx=1', 'cbtid'), null);
    assert.equal(cookieValue('', 'cbtid'), null);
  });
});
