import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as UWS from 'uWebSockets.js';

export type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, us_socket_context_t, WebSocket } from 'uWebSockets.js';

/*
 * Every difference between the uWebSockets.js builds Crosswire runs on is handled in this file.
 * The types are 20.57's (the package `uWebSockets.js`); what both binaries have but 20.57's
 * typings leave out is declared here.
 */
declare module 'uWebSockets.js' {
  interface WebSocket<UserData> {
    /** A message sent as several frames (both binaries have these; 20.57's typings dropped them). */
    sendFirstFragment(message: RecognizedString, isBinary?: boolean, compress?: boolean): boolean;
    sendFragment(message: RecognizedString, compress?: boolean): boolean;
    sendLastFragment(message: RecognizedString, compress?: boolean): boolean;
  }
  interface TemplatedApp {
    /** host, port and ListenOptions (both builds parse this form; the typings only have it without host). */
    listen(host: RecognizedString, port: number, options: ListenOptions, cb: (listenSocket: us_listen_socket | false) => void | Promise<void>): TemplatedApp;
  }
}

/**
 * uSockets' listen options (uWS `ListenOptions`): without LIBUS_LISTEN_EXCLUSIVE_PORT it sets
 * SO_REUSEPORT, so a second process listening on the same port succeeds and takes a share of
 * the connections. Both builds.
 */
export const LISTEN_SHARED = 0;
export const LISTEN_EXCLUSIVE_PORT = 1;

/**
 * Routes every request method on `pattern` to `handler`, ranked like a GET route. 20.57's router
 * tries `any` routes only after every method-specific route (so a static file service's GET `/*`
 * would answer a GET for a redirect's ANY `/home`); 20.30's ranks routes by how specific the
 * pattern is. Registering the methods one by one gives the same order on both; `any` still
 * catches the rest. Register a `ws` route on the same pattern first: its GET yields to this one
 * for a request that is no upgrade.
 */
export function allMethods(app: UWS.TemplatedApp, pattern: string, handler: (res: UWS.HttpResponse, req: UWS.HttpRequest) => void): void {
  app.get(pattern, handler).head(pattern, handler).post(pattern, handler).put(pattern, handler);
  app.del(pattern, handler).patch(pattern, handler).options(pattern, handler).any(pattern, handler);
}

const require = createRequire(import.meta.url);

/** Thrown when no native uWebSockets.js build loads and its pure-JS fallback was not allowed. */
export class UwsFallbackError extends Error {
  override name = 'UwsFallbackError';
}

/**
 * The builds Crosswire can run on, preferred first. uWebSockets.js is published only on GitHub
 * (https://github.com/uNetworking/uWebSockets.js, binaries per release); these npm packages are
 * third-party republishes of it (see docs/platforms.md for why these two). Each ships one binary
 * per platform, arch and Node ABI; `glibc` is the newest glibc symbol version its Linux x64
 * binaries need (objdump -T), which test/integration/uws-build.test.ts checks against what loads.
 */
export const UWS_BUILDS = [
  { version: '20.57.0', module: 'uWebSockets.js', npm: '@btc-vision/uwebsockets.js@20.57.0', glibc: '2.38', binaryDir: '.', readLoop: true },
  { version: '20.30.0', module: 'uWebSockets.js-20.30', npm: '@trufflesuite/uws-js-unofficial@20.30.0-unofficial.0', glibc: '2.27', binaryDir: '../binaries', readLoop: false },
] as const;

/*
 * `readLoop`: how a readable socket is read. Both builds read at most READ_SIZE bytes per recv().
 * 20.30's uSockets reads once per readiness event. 20.57's reads again at once as long as a
 * recv() filled the whole buffer (uSockets commit 833497e, "Always read again immediately after
 * reading a full recv buffer", in the binary: `cmp $0x80000` after the on_data call in
 * us_internal_dispatch_ready_poll), and checks only that the socket is still open, not whether
 * it was paused meanwhile. So a pause (src/transport/throttle.ts) made while that loop runs takes
 * effect only when a recv() returns less than READ_SIZE: when the kernel has less than that queued
 * for the socket. Where the kernel never queues that much for one TCP socket (its receive buffer,
 * at most net.ipv4.tcp_rmem's maximum, is no larger), the loop never repeats.
 */

/** The most uSockets reads from a socket with one recv() (LIBUS_RECV_BUFFER_LENGTH), both builds. */
export const READ_SIZE = 512 * 1024;

/**
 * The largest receive buffer the kernel gives a TCP socket (the maximum of net.ipv4.tcp_rmem, in
 * this process's network namespace), or null where it cannot be read (not Linux).
 */
export function tcpReceiveBufferMax(): number | null {
  try {
    const max = Number(readFileSync('/proc/sys/net/ipv4/tcp_rmem', 'utf8').trim().split(/\s+/)[2]);
    return Number.isFinite(max) && max > 0 ? max : null;
  } catch {
    return null;
  }
}

/**
 * Whether pausing a socket of `version` stops its reads within the read that paused it (true), or
 * only once the kernel's queue for it falls below one read (false: 20.57 where a TCP receive
 * buffer may exceed READ_SIZE; see `readLoop`).
 */
export function pauseStopsWithinOneRead(version: UwsBuild['version'], rmemMax = tcpReceiveBufferMax()): boolean {
  const build = UWS_BUILDS.find((b) => b.version === version);
  return build === undefined || !build.readLoop || (rmemMax !== null && rmemMax <= READ_SIZE);
}

export type UwsBuild = (typeof UWS_BUILDS)[number];

export interface LoadedUws {
  uws: typeof UWS;
  native: boolean;
  /** e.g. "20.57.0 (@btc-vision/uwebsockets.js@20.57.0)", or "… pure-JS fallback". */
  build: string;
  /** The build that was loaded (its binary, or for the fallback the package that carries it). */
  version: UwsBuild['version'];
}

const BINARY = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;

/** glibc's version at run time, or null (musl, macOS, Windows). */
export function glibcRuntime(): string | null {
  const header = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
  return header?.glibcVersionRuntime ?? null;
}

/** Where `build`'s module lives, or null when it is not installed (the 20.30 one is optional). */
function packageDir(build: UwsBuild): string | null {
  try {
    return dirname(require.resolve(build.module));
  } catch {
    return null;
  }
}

/** The Node ABIs a build has binaries for on this platform and arch (for the error message). */
function abisOf(dir: string): string[] {
  const prefix = `uws_${process.platform}_${process.arch}_`;
  try {
    return readdirSync(dir)
      .filter((f) => f.startsWith(prefix) && f.endsWith('.node'))
      .map((f) => f.slice(prefix.length, -'.node'.length))
      .sort((a, b) => Number(a) - Number(b));
  } catch {
    return [];
  }
}

/** Loads one build's native binary; throws with the reason it cannot load here. */
function loadBuild(build: UwsBuild): typeof UWS {
  const dir = packageDir(build);
  if (dir === null) throw new Error(`not installed (npm package ${build.npm})`);
  const binaries = join(dir, build.binaryDir);
  const abis = abisOf(binaries);
  if (!abis.includes(process.versions.modules)) {
    throw new Error(`has no binary for ${process.platform}-${process.arch} Node ABI ${process.versions.modules} (only ABI ${abis.join(', ') || 'none'})`);
  }
  try {
    // The binary itself, not the package's entry point: 20.30's silently falls back to pure JS,
    // and 20.57's wraps the loader's error in a paragraph about supported versions.
    return require(join(binaries, BINARY)) as typeof UWS;
  } catch (e) {
    throw new Error((e as Error).message.split('\n')[0]!);
  }
}

const truthy = (v: string | undefined) => v !== undefined && ['1', 'true'].includes(v.toLowerCase());

/**
 * Loads the newest uWebSockets.js build whose native binary loads on this Node and libc, and
 * checks it is native. Without one, uWS's slow pure-JS fallback (20.30's, on `ws`) runs only if
 * allowed: a production router must not run on that by accident. `UWS_USE_FALLBACK=1` (20.30's
 * switch) asks for the fallback.
 */
export function loadUws(allowFallback: boolean, env: NodeJS.ProcessEnv = process.env): LoadedUws {
  const reasons: string[] = [];
  const wantsFallback = truthy(env.UWS_USE_FALLBACK);
  if (!wantsFallback) {
    for (const build of UWS_BUILDS) {
      try {
        const uws = loadBuild(build);
        return { uws, native: true, build: `${build.version} (${build.npm})`, version: build.version };
      } catch (e) {
        reasons.push(`  ${build.version} (${build.npm}): ${(e as Error).message}`);
      }
    }
  }
  const glibc = glibcRuntime();
  const here = `Node ${process.version} (ABI ${process.versions.modules}) on ${process.platform}-${process.arch}${glibc === null ? '' : ` with glibc ${glibc}`}`;
  if (!allowFallback) {
    const why = wantsFallback
      ? `UWS_USE_FALLBACK is set, so uWebSockets.js fell back to its slow pure-JS implementation (${here}).`
      : `No native uWebSockets.js build loads on ${here}:\n${reasons.join('\n')}\n` +
        'Native builds load on Node 20, 22 and 24 with glibc >= 2.38 (Debian 13, Ubuntu 24.04, RHEL 10) ' +
        'and on Node 20 with glibc >= 2.27 (Debian 12); see docs/platforms.md.';
    throw new UwsFallbackError(
      `${why} Refusing to start on the slow pure-JS fallback: set CROSSWIRE_ALLOW_UWS_FALLBACK=true to start on it anyway ` +
        '(for diagnosis only: it leaves WebSocket handshakes unanswered).',
    );
  }
  const legacy = UWS_BUILDS[1];
  const dir = packageDir(legacy);
  if (dir === null) {
    throw new UwsFallbackError(`No native uWebSockets.js build loads on ${here}, and the pure-JS fallback comes with ${legacy.npm}, which is not installed:\n${reasons.join('\n')}`);
  }
  const uws = require(join(dir, '../dist/index.js')) as typeof UWS;
  return { uws, native: false, build: `${legacy.version} (${legacy.npm}) pure-JS fallback`, version: legacy.version };
}
