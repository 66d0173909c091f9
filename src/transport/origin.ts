import { BlockList, isIPv4, isIPv6 } from 'node:net';

const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: '80', https: '443', ws: '80', wss: '443' };

/** A Crossbar origin pattern (`*` = any characters, anchored) as a RegExp. */
function patternRegExp(p: string): RegExp {
  return new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');
}

/**
 * `allowed_origins` / `allow_null_origin`. Crossbar matches each pattern against the origin
 * normalised to `scheme://host:port` with the port always written out, so its docs' own
 * `https://*.example.com` never matches `https://app.example.com` (Autobahn|Python's WebSocket server; docs/websocket.md).
 * Here a pattern is tried against both forms: with the explicit port and, for an origin on
 * its scheme's default port, without it. So `https://*.example.com` matches
 * `https://app.example.com` and `https://app.example.com:443`, not `https://app.example.com:8443`;
 * `https://*.example.com:*` still matches any port, as in Crossbar.
 */
export class OriginPolicy {
  readonly #patterns: RegExp[];
  readonly #any: boolean;

  constructor(
    patterns: readonly string[],
    readonly allowNull: boolean,
  ) {
    this.#any = patterns.includes('*');
    this.#patterns = patterns.map(patternRegExp);
  }

  /** True when a handshake with this `Origin` header value ('' = none) may proceed. */
  allows(origin: string): boolean {
    if (origin === '') return true; // no Origin header: not a browser, nothing to check (as in Crossbar)
    if (origin === 'null') return this.allowNull;
    if (this.#any) return true;
    const forms = normalise(origin);
    if (forms === null) return false;
    return this.#patterns.some((re) => forms.some((f) => re.test(f)));
  }
}

/** `scheme://host:port`, plus `scheme://host` when the port is the scheme's default. */
function normalise(origin: string): string[] | null {
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    return null;
  }
  const scheme = u.protocol.slice(0, -1).toLowerCase();
  const def = Object.hasOwn(DEFAULT_PORTS, scheme) ? DEFAULT_PORTS[scheme] : undefined; // "constructor:" is no scheme of ours
  const port = u.port !== '' ? u.port : def;
  if (port === undefined) return null;
  const withPort = `${scheme}://${u.hostname}:${port}`;
  return port === def ? [withPort, `${scheme}://${u.hostname}`] : [withPort];
}

/**
 * The real client address behind trusted proxies: X-Forwarded-For is read from the right, and
 * each entry is believed only while the hop that appended it is a trusted proxy. With no
 * trusted proxies the header is ignored (anyone can send it).
 */
export class ProxyPolicy {
  readonly #trusted = new BlockList();
  readonly enabled: boolean;

  constructor(trusted: readonly string[]) {
    this.enabled = trusted.length > 0;
    for (const t of trusted) {
      const [addr, bits] = t.split('/') as [string, string | undefined];
      const family = isIPv4(addr) ? 'ipv4' : 'ipv6';
      if (bits === undefined) this.#trusted.addAddress(addr, family);
      else this.#trusted.addSubnet(addr, Number(bits), family);
    }
  }

  #isTrusted(addr: string): boolean {
    if (isIPv4(addr)) return this.#trusted.check(addr, 'ipv4');
    if (!isIPv6(addr)) return false;
    const mapped = /^(?:0{0,4}:){0,5}(?:0{0,4}:)?ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
    if (mapped && this.#trusted.check(mapped[1]!, 'ipv4')) return true;
    return this.#trusted.check(addr, 'ipv6');
  }

  /** The client address for a connection from `socketAddr` carrying `xff` ('' = no header). */
  clientAddress(socketAddr: string, xff: string): string {
    if (!this.enabled || xff === '') return socketAddr;
    let addr = socketAddr;
    const hops = xff.split(',');
    for (let i = hops.length - 1; i >= 0 && this.#isTrusted(addr); i--) {
      const hop = hops[i]!.trim();
      if (!isIPv4(hop) && !isIPv6(hop)) break; // garbage: stop believing at the last good hop
      addr = hop;
    }
    return addr;
  }
}
