import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import autobahn from 'autobahn';
import type { ComponentConfig } from '../config/components.js';

/**
 * AutobahnJS connection options for a component's connecting transport. The endpoint decides
 * where the socket goes (tcp host/port, TLS with verification, or a unix socket) through an HTTP
 * agent, while the URL still gives the Host header and path, as in Crossbar.
 */
export function connectionOptions(c: ComponentConfig): Record<string, unknown> {
  const t = c.transport;
  const e = t.endpoint;
  const timeoutMs = e.timeout * 1000;
  const withTimeout = (s: Socket, event: 'connect' | 'secureConnect'): Socket => {
    s.setTimeout(timeoutMs, () => s.destroy(new Error(`connect timeout after ${e.timeout} s`)));
    s.once(event, () => s.setTimeout(0));
    return s;
  };
  let agent: HttpAgent;
  if (e.type === 'unix') {
    agent = new HttpAgent();
    agent.createConnection = () => withTimeout(netConnect({ path: e.path }), 'connect');
  } else if (e.tls !== null) {
    const tls = e.tls;
    const ca = tls.ca_certificates.length > 0 ? tls.ca_certificates.map((f) => readFileSync(f)) : undefined;
    const cert = tls.certificate !== null ? readFileSync(tls.certificate) : undefined;
    const key = tls.key !== null ? readFileSync(tls.key) : undefined;
    agent = new HttpsAgent();
    // The server certificate is verified against `ca_certificates` (or the platform's roots) for `hostname`.
    agent.createConnection = () =>
      withTimeout(tlsConnect({ host: e.host, port: e.port, family: e.version, servername: tls.hostname, ca, cert, key, rejectUnauthorized: true } as unknown as import('node:tls').ConnectionOptions), 'secureConnect');
  } else {
    agent = new HttpAgent();
    agent.createConnection = () => withTimeout(netConnect({ host: e.host, port: e.port, family: e.version }), 'connect');
  }
  const serializers = t.serializers.map((s) => (s === 'json' ? new autobahn.serializer.JSONSerializer() : new autobahn.serializer.MsgpackSerializer()));
  const r = t.reconnect;
  const options: Record<string, unknown> = {
    url: t.url,
    realm: c.realm,
    serializers,
    // AutobahnJS hands only a transport entry's own keys to its WebSocket: the agent goes there.
    transports: [{ type: 'websocket', url: t.url, agent, serializers }],
    use_es6_promises: true,
    max_retries: r.max_retries,
    initial_retry_delay: r.initial_retry_delay,
    max_retry_delay: r.max_retry_delay,
    retry_delay_growth: r.retry_delay_growth,
    retry_delay_jitter: r.retry_delay_jitter,
    retry_if_unreachable: true,
  };
  const auth = c.auth;
  if (auth !== null) {
    options.authmethods = [auth.method];
    options.authid = auth.authid;
    if (auth.authrole !== null) options.authrole = auth.authrole;
    options.onchallenge = (_session: unknown, method: string, extra: Record<string, unknown>): string => {
      if (method !== auth.method) throw new Error(`the router asked for ${method}, this component is configured for ${auth.method}`);
      if (method === 'ticket') return auth.secret;
      if (method === 'wampcra') {
        const a = (autobahn as unknown as { auth_cra: { derive_key(s: string, salt: string, i?: number, k?: number): string; sign(k: string, c: string): string } }).auth_cra;
        const key = typeof extra.salt === 'string' ? a.derive_key(auth.secret, extra.salt, extra.iterations as number, extra.keylen as number) : auth.secret;
        return a.sign(key, extra.challenge as string);
      }
      const cs = (autobahn as unknown as { auth_cryptosign: { load_private_key(seed: string): unknown; sign_challenge(key: unknown, extra: unknown): string } }).auth_cryptosign;
      return cs.sign_challenge(cs.load_private_key(auth.secret), extra);
    };
  }
  return options;
}
