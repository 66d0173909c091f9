/**
 * The files and directories a config names, opened the way `start` will use them, so that
 * `crosswire check` refuses what `start` would fail on (and `start` fails before it listens):
 * TLS keys and certificates (readable PEM, the key belongs to the certificate), DH parameters, component modules,
 * client TLS files of connecting transports, guest working and watched directories. A static web
 * directory that does not exist is only a warning: the service answers 404 until it exists (as in
 * Crossbar). Runs on a config that buildConfig has already accepted, so its shape is known.
 */
import { constants, accessSync, readFileSync, statSync } from 'node:fs';
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { delimiter, join, resolve } from 'node:path';
import { checkNatsFiles, NatsOptionError } from '../shared/nats-options.js';
import { readDhparam } from './dhparam.js';
import type { RouterConfig } from './load.js';
import { ConfigError, isObject } from './section.js';
import { MAX_PATH_NESTING } from './web.js';

type Json = Record<string, unknown>;

function readPem(file: string, key: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${key}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return text;
}

function certificate(file: string, key: string): X509Certificate {
  try {
    return new X509Certificate(readPem(file, key));
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`${key}: ${file} is not a PEM certificate (${(e as Error).message})`);
  }
}

function privateKey(file: string, key: string): KeyObject {
  try {
    return createPrivateKey(readPem(file, key));
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`${key}: ${file} is not an unencrypted PEM private key (${(e as Error).message})`);
  }
}

function directory(dir: string, key: string): void {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (e) {
    throw new ConfigError(`${key}: ${dir} does not exist (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!isDir) throw new ConfigError(`${key}: ${dir} is not a directory`);
}

function listening(tls: Json, path: string, baseDir: string): void {
  const f = (v: unknown) => resolve(baseDir, v as string);
  const k = privateKey(f(tls.key), `${path}.key`);
  const cert = certificate(f(tls.certificate), `${path}.certificate`);
  if (!cert.checkPrivateKey(k)) throw new ConfigError(`${path}.key: does not belong to the certificate in ${path}.certificate`);
  for (const [i, c] of ((tls.chain_certificates ?? []) as string[]).entries()) certificate(f(c), `${path}.chain_certificates[${i}]`);
  for (const [i, c] of ((tls.ca_certificates ?? []) as string[]).entries()) certificate(f(c), `${path}.ca_certificates[${i}]`);
  // Refused wherever it is named: Node.js's TLS would drop a bad file silently, and on uWS
  // transports (which cannot use it) Crossbar would fail to start on it all the same.
  if (typeof tls.dhparam === 'string') readDhparam(f(tls.dhparam), `${path}.dhparam`, (m) => new ConfigError(m));
}

function connecting(tls: Json, path: string, baseDir: string): void {
  const f = (v: unknown) => resolve(baseDir, v as string);
  for (const [i, c] of ((tls.ca_certificates ?? []) as string[]).entries()) certificate(f(c), `${path}.ca_certificates[${i}]`);
  if (typeof tls.certificate === 'string' && typeof tls.key === 'string') {
    const k = privateKey(f(tls.key), `${path}.key`);
    if (!certificate(f(tls.certificate), `${path}.certificate`).checkPrivateKey(k)) {
      throw new ConfigError(`${path}.key: does not belong to the certificate in ${path}.certificate`);
    }
  }
}

/** Where a guest's `executable` is found: a name with a slash relative to its workdir, else on PATH (as spawn does). */
function executable(name: string, workdir: string, pathVar: string | undefined, key: string): void {
  const candidates = name.includes('/') ? [resolve(workdir, name)] : (pathVar ?? '').split(delimiter).filter((d) => d !== '').map((d) => join(d, name));
  for (const c of candidates) {
    try {
      if (statSync(c).isFile()) {
        accessSync(c, constants.X_OK);
        return;
      }
    } catch {
      // not this one
    }
  }
  throw new ConfigError(`${key}: '${name}' is not an executable file${name.includes('/') ? '' : ' on PATH'}`);
}

/** The static directories of `paths` and of the `path` services nested in it (bounded as web.ts bounds them). */
function staticDirectories(paths: Json, at: string, baseDir: string, warnings: string[], depth: number): void {
  for (const [key, svc] of Object.entries(paths)) {
    if (!isObject(svc)) continue;
    const here = `${at}.paths.${key === '/' ? '"/"' : key}`;
    if (svc.type === 'path' && isObject(svc.paths) && depth < MAX_PATH_NESTING) staticDirectories(svc.paths, here, baseDir, warnings, depth + 1);
    if (svc.type !== 'static' || typeof svc.directory !== 'string') continue;
    try {
      directory(resolve(baseDir, svc.directory), `${here}.directory`);
    } catch (e) {
      warnings.push(`${(e as Error).message}: the path answers 404 until it exists`);
    }
  }
}

/**
 * Opens every file the (already validated) config `raw` names. Throws ConfigError naming the
 * first key whose file `start` could not use; returns warnings for what start tolerates.
 */
export function checkFiles(raw: unknown, baseDir: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const warnings: string[] = [];
  const workers = isObject(raw) && Array.isArray(raw.workers) ? raw.workers : [];
  for (const [i, w] of workers.entries()) {
    if (!isObject(w)) continue;
    const wp = `workers[${i}]`;
    if (w.type === 'router' || w.type === 'container' || w.type === undefined) {
      // Python components' sys.path entries (Crossbar: relative to the node directory).
      const o = (isObject(w.options) ? w.options : {}) as Json;
      for (const [k, d] of ((Array.isArray(o.pythonpath) ? o.pythonpath : []) as string[]).entries()) directory(resolve(baseDir, d), `${wp}.options.pythonpath[${k}]`);
    }
    if (w.type === 'router' || w.type === undefined) {
      for (const [j, t] of ((w.transports ?? []) as Json[]).entries()) {
        const tp = `${wp}.transports[${j}]`;
        const ep = t.endpoint as Json | undefined;
        if (isObject(ep) && (ep.type ?? 'tcp') === 'tcp' && isObject(ep.tls)) listening(ep.tls, `${tp}.endpoint.tls`, baseDir);
        // A web transport's paths, or a universal transport's web part's.
        const web = t.type === 'web' ? { paths: t.paths, at: tp } : t.type === 'universal' && isObject(t.web) ? { paths: t.web.paths, at: `${tp}.web` } : null;
        if (web === null || !isObject(web.paths)) continue;
        staticDirectories(web.paths, web.at, baseDir, warnings, 0);
      }
    } else if (w.type === 'container') {
      for (const [j, c] of ((w.components ?? []) as Json[]).entries()) {
        const cp = `${wp}.components[${j}]`;
        if (c.type === 'class') {
          const tr = c.transport as Json;
          const tls = isObject(tr.endpoint) ? tr.endpoint.tls : undefined;
          if (isObject(tls)) connecting(tls, `${cp}.transport.endpoint.tls`, baseDir);
          continue;
        }
        const module = resolve(baseDir, c.module as string);
        let isFile = false;
        try {
          isFile = statSync(module).isFile();
        } catch (e) {
          throw new ConfigError(`${cp}.module: cannot read ${module}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        if (!isFile) throw new ConfigError(`${cp}.module: ${module} is not a file`);
        const tr = c.transport as Json;
        const tls = isObject(tr.endpoint) ? tr.endpoint.tls : undefined;
        if (isObject(tls)) connecting(tls, `${cp}.transport.endpoint.tls`, baseDir);
      }
    } else if (w.type === 'guest') {
      const o = (isObject(w.options) ? w.options : {}) as Json;
      const workdir = resolve(baseDir, (o.workdir as string | undefined) ?? '.');
      directory(workdir, `${wp}.options.workdir`);
      const e = (isObject(o.env) ? o.env : {}) as Json;
      const vars = (isObject(e.vars) ? e.vars : {}) as Record<string, string>;
      const pathVar = vars.PATH ?? (e.inherit === false ? undefined : env.PATH);
      executable(w.executable as string, workdir, pathVar, `${wp}.executable`);
      const watch = (isObject(o.watch) ? o.watch : {}) as Json;
      for (const [k, d] of ((watch.directories ?? []) as string[]).entries()) directory(resolve(baseDir, d), `${wp}.options.watch.directories[${k}]`);
    }
  }
  return warnings;
}

/** Opens the files of crosswire.cluster.nats (NKey seed, .creds, TLS CA, client certificate and key). */
export function checkClusterFiles(config: RouterConfig): void {
  if (config.cluster === null) return;
  try {
    checkNatsFiles(config.cluster);
  } catch (e) {
    if (e instanceof NatsOptionError) throw new ConfigError(e.message);
    throw e;
  }
}
