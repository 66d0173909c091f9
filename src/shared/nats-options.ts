/**
 * The authentication and TLS options of a NATS connection (crosswire.cluster.nats, docs/cluster.md),
 * shared by the realm workers' cluster link (workers/cluster.ts) and the main thread's `nats` cookie
 * store (src/transport/cookies-nats.ts), and the checks `crosswire check` and start run on them.
 * Errors name the config key and the file, never a secret's value.
 * NATS authentication: https://docs.nats.io/running-a-nats-service/configuration/securing_nats/auth_intro
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { connect, type ConnectionOptions, credsAuthenticator, type NatsConnection, nkeyAuthenticator, nkeys, type TlsOptions } from 'nats';
import type { ClusterConfig, NatsSecret, NatsTls } from './ipc/protocol.js';

export const NATS_KEYS = {
  nkey: 'crosswire.cluster.nats.nkey',
  creds: 'crosswire.cluster.nats.creds',
  ca: 'crosswire.cluster.nats.tls.ca',
  cert: 'crosswire.cluster.nats.tls.cert',
  key: 'crosswire.cluster.nats.tls.key',
} as const;

/** An error naming a config key (the config layer turns it into a ConfigError). */
export class NatsOptionError extends Error {}

function readText(file: string, key: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new NatsOptionError(`${key}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** The secret's text, and how to name where it came from in an error (never the value). */
function secretText(s: NatsSecret, key: string): { text: string; from: string } {
  if ('value' in s) return { text: s.value, from: 'the value of its environment variable' };
  return { text: readText(s.file, key), from: s.file };
}

/** A user NKey pair from a seed's text (its first non-empty line, as `nk -gen user` writes it). */
function userKeyPair(text: string, key: string, from: string): { seed: Uint8Array; publicKey: string } {
  const line = text.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
  const seed = new TextEncoder().encode(line);
  let publicKey: string;
  try {
    publicKey = nkeys.fromSeed(seed).getPublicKey();
  } catch (e) {
    throw new NatsOptionError(`${key}: ${from} is not an NKey seed (${(e as Error).message})`);
  }
  if (!publicKey.startsWith('U')) throw new NatsOptionError(`${key}: ${from} is the seed of an NKey that is not a user's (a user seed starts with SU)`);
  return { seed, publicKey };
}

// As the nats client parses a .creds file: the first armored block is the JWT, the second the seed.
const CREDS_BLOCK = /\s*(?:(?:[-]{3,}[^\n]*[-]{3,}\n)(.+)(?:\n\s*[-]{3,}[^\n]*[-]{3,}\n))/gi;

/** Checks a .creds text: a user JWT (not expired) and the seed of the user the JWT names. */
function checkCreds(text: string, key: string, from: string): void {
  const blocks = [...text.matchAll(CREDS_BLOCK)].map((m) => m[1]!.trim());
  if (blocks.length < 2) throw new NatsOptionError(`${key}: ${from} is not a NATS credentials file (a user JWT block, then an NKey seed block)`);
  const [jwt, seedText] = blocks as [string, string];
  const { publicKey } = userKeyPair(seedText, key, `the seed in ${from}`);
  const parts = jwt.split('.');
  let claims: unknown = null;
  try {
    if (parts.length === 3) claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  } catch {
    claims = null;
  }
  if (claims === null || typeof claims !== 'object') throw new NatsOptionError(`${key}: the JWT in ${from} is not a JWT`);
  const { sub, exp } = claims as { sub?: unknown; exp?: unknown };
  if (sub !== publicKey) throw new NatsOptionError(`${key}: the JWT in ${from} is not for the user of the seed in it`);
  if (typeof exp === 'number' && exp * 1000 <= Date.now()) {
    throw new NatsOptionError(`${key}: the JWT in ${from} expired at ${new Date(exp * 1000).toISOString()}`);
  }
}

function certificate(file: string, key: string): X509Certificate {
  const text = readText(file, key);
  try {
    return new X509Certificate(text);
  } catch (e) {
    throw new NatsOptionError(`${key}: ${file} is not a PEM certificate (${(e as Error).message})`);
  }
}

function privateKey(file: string, key: string): KeyObject {
  const text = readText(file, key);
  try {
    return createPrivateKey(text);
  } catch (e) {
    throw new NatsOptionError(`${key}: ${file} is not an unencrypted PEM private key (${(e as Error).message})`);
  }
}

/** Checks the secrets given inline (from the environment): run when the config is built. */
export function checkInlineSecrets(cfg: Pick<ClusterConfig, 'nkey' | 'creds'>): void {
  if (cfg.nkey !== null && 'value' in cfg.nkey) userKeyPair(cfg.nkey.value, NATS_KEYS.nkey, 'the value of its environment variable');
  if (cfg.creds !== null && 'value' in cfg.creds) checkCreds(cfg.creds.value, NATS_KEYS.creds, 'the value of its environment variable');
}

/** Opens and checks every file the NATS options name (`crosswire check` and start). */
export function checkNatsFiles(cfg: ClusterConfig): void {
  if (cfg.nkey !== null) {
    const { text, from } = secretText(cfg.nkey, NATS_KEYS.nkey);
    userKeyPair(text, NATS_KEYS.nkey, from);
  }
  if (cfg.creds !== null) {
    const { text, from } = secretText(cfg.creds, NATS_KEYS.creds);
    checkCreds(text, NATS_KEYS.creds, from);
  }
  const t = cfg.tls;
  if (t === null) return;
  if (t.ca !== null) certificate(t.ca, NATS_KEYS.ca);
  if (t.cert !== null && t.key !== null) {
    const k = privateKey(t.key, NATS_KEYS.key);
    if (!certificate(t.cert, NATS_KEYS.cert).checkPrivateKey(k)) throw new NatsOptionError(`${NATS_KEYS.key}: ${t.key} does not belong to the certificate ${t.cert}`);
  }
}

function tlsOptions(t: NatsTls): TlsOptions {
  return {
    ...(t.ca !== null ? { ca: readText(t.ca, NATS_KEYS.ca) } : {}),
    ...(t.cert !== null ? { cert: readText(t.cert, NATS_KEYS.cert) } : {}),
    ...(t.key !== null ? { key: readText(t.key, NATS_KEYS.key) } : {}),
    ...(t.handshakeFirst ? { handshakeFirst: true } : {}),
  };
}

/**
 * The credentials and TLS options for the nats client's connect(): files are read now (the
 * checks above ran at start). Throws NatsOptionError naming the key of a file it cannot use.
 */
export function natsAuthOptions(cfg: ClusterConfig): Partial<ConnectionOptions> {
  const out: Partial<ConnectionOptions> = {};
  if (cfg.user !== null) Object.assign(out, { user: cfg.user, pass: cfg.password ?? '' });
  if (cfg.token !== null) out.token = cfg.token;
  if (cfg.nkey !== null) {
    const { text, from } = secretText(cfg.nkey, NATS_KEYS.nkey);
    out.authenticator = nkeyAuthenticator(userKeyPair(text, NATS_KEYS.nkey, from).seed);
  }
  if (cfg.creds !== null) {
    const { text, from } = secretText(cfg.creds, NATS_KEYS.creds);
    checkCreds(text, NATS_KEYS.creds, from);
    out.authenticator = credsAuthenticator(new TextEncoder().encode(text));
  }
  if (cfg.tls !== null) out.tls = tlsOptions(cfg.tls);
  return out;
}

/** An error as one line for the log and /ready (the nats client's errors name the cause, not secrets). */
export function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const c = (e as { code?: unknown }).code;
  if (c === 'SERVER_OPT_NA' && e.message === 'tls') return 'the server does not offer TLS, which crosswire.cluster.nats.tls or a tls:// URL requires';
  // Also what a server that refuses this node's TLS client certificate looks like to the nats client.
  if (c === 'TIMEOUT') return `no connection within ${CONNECT_TIMEOUT_MS / 1000} s (TIMEOUT)`;
  // NatsError's code says more than some of its messages (`tls`: SERVER_OPTION_NOT_AVAILABLE).
  const code = (e as { code?: unknown }).code;
  const said = (x: string) => x.toLowerCase().replace(/[^a-z0-9]/g, '');
  return typeof code === 'string' && !said(e.message).includes(said(code)) ? `${e.message} (${code})` : e.message;
}

/** A NATS server's TLS alert, for a person: what it means for this node's config. */
function tlsAlert(err: Error, withCert: boolean): string {
  // OpenSSL's text, e.g. "…:ssl3_read_bytes:tlsv13 alert certificate required:…:SSL alert number 116".
  const m = /(?:sslv3|tlsv1|tlsv13) alert ([a-z0-9 ]+)/i.exec(err.message);
  const alert = (m?.[1] ?? '').trim().toLowerCase();
  // Without a certificate of ours, a refusal means one is wanted (TLS 1.2 servers say "bad certificate").
  if (alert === 'certificate required' || (!withCert && (alert === 'bad certificate' || alert === 'handshake failure'))) return `the NATS server requires a client certificate (TLS alert "certificate required"): set ${NATS_KEYS.cert} and ${NATS_KEYS.key}`;
  if (alert === 'bad certificate' || alert === 'unknown ca' || alert === 'certificate unknown' || alert === 'unsupported certificate' || alert === 'certificate expired' || alert === 'certificate revoked') {
    return `the NATS server refused this node's client certificate (TLS alert "${alert}"): ${NATS_KEYS.cert} must be valid and signed by a CA the server trusts`;
  }
  return m !== null ? `the NATS server ended the TLS connection (TLS alert "${alert}")` : `the TLS connection to the NATS server failed: ${err.message.trim()}`;
}

/**
 * Connects to each of `servers` (at most three) as the nats client does (plain TCP and the
 * server's INFO line, then TLS; or TLS first), sends CONNECT and PING, and returns what ended
 * the first connection the server closed with a TLS error, or null when none did (then the
 * timeout has another cause). Bounded: 3 s per server.
 */
export async function tlsProbe(servers: string | string[], tlsOpts: TlsOptions): Promise<string | null> {
  for (const server of (Array.isArray(servers) ? servers : [servers]).slice(0, 3)) {
    let url: URL;
    try {
      url = new URL(server.includes('://') ? server : `nats://${server}`);
    } catch {
      continue;
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = url.port === '' ? 4222 : Number(url.port);
    const why = await probeOne(host, port, tlsOpts);
    if (why !== null) return why;
  }
  return null;
}

function probeOne(host: string, port: number, t: TlsOptions): Promise<string | null> {
  return new Promise((resolve) => {
    let done = false;
    let raw: net.Socket | null = null;
    let secure: tls.TLSSocket | null = null;
    const finish = (why: string | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      secure?.destroy();
      raw?.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => finish(null), 3000);
    const startTls = (socket?: net.Socket) => {
      const options: tls.ConnectionOptions = {
        ...(socket !== undefined ? { socket } : { host, port }),
        ...(net.isIP(host) === 0 ? { servername: host } : {}),
        ...(t.ca !== undefined ? { ca: t.ca } : {}),
        ...(t.cert !== undefined ? { cert: t.cert } : {}),
        ...(t.key !== undefined ? { key: t.key } : {}),
      };
      secure = tls.connect(options, () => secure!.write('CONNECT {"verbose":false,"pedantic":false,"tls_required":true}\r\nPING\r\n'));
      secure.on('error', (e) => finish(tlsAlert(e, t.cert !== undefined)));
      // The server answered (PONG, or -ERR for something else than TLS): TLS is not the cause.
      secure.on('data', () => finish(null));
      secure.on('close', () => finish(null));
    };
    if (t.handshakeFirst === true) return startTls();
    raw = net.connect({ host, port });
    let info = '';
    raw.on('error', () => finish(null));
    raw.on('close', () => finish(null));
    const onData = (d: Buffer) => {
      info += d.toString('latin1');
      if (info.length > 65536) return finish(null);
      if (!info.includes('\r\n')) return;
      raw!.off('data', onData);
      // From here on the TLS socket reports what happens to the connection.
      raw!.removeAllListeners('close');
      raw!.removeAllListeners('error');
      raw!.on('error', () => {});
      startTls(raw!);
    };
    raw.on('data', onData);
  });
}

/** How long one try to connect may take (TCP, TLS, NATS handshake); the nats client's default is 20 s, nats.go's 2 s. */
export const CONNECT_TIMEOUT_MS = 5000;

/**
 * connect() with `options()` (evaluated again on each try: files are read again), tried again every
 * `waitMs` until it succeeds, or until `stopped()` holds (then null). The nats client's own
 * waitOnFirstConnect retries as long but silently: a certificate the server refuses would show as
 * "connecting" for ever. Here each failure goes to `failed`, with its cause.
 */
export async function connectRetrying(
  options: () => ConnectionOptions,
  failed: (err: unknown) => void,
  stopped: () => boolean,
  waitMs = 1000,
): Promise<NatsConnection | null> {
  for (;;) {
    try {
      const nc = await connect({ timeout: CONNECT_TIMEOUT_MS, ...options(), waitOnFirstConnect: false });
      if (!stopped()) return nc;
      await nc.close();
      return null;
    } catch (e) {
      if (stopped()) return null;
      let cause = e;
      const opts = (e as { code?: unknown }).code === 'TIMEOUT' ? options() : null;
      if (opts?.tls != null) {
        // The nats client reports a server's TLS alert after the handshake (a refused client
        // certificate under TLS 1.3) as a timeout: ask the server once more, ourselves.
        const why = await tlsProbe(opts.servers ?? [], opts.tls);
        if (why !== null) cause = new Error(`${errorText(e)}: ${why}`);
      }
      if (stopped()) return null;
      failed(cause);
    }
    await new Promise((resolve) => setTimeout(resolve, waitMs).unref());
    if (stopped()) return null;
  }
}
