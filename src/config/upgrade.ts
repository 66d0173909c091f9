/**
 * Version-1 node configs (Crossbar.io's format before `"version": 2`; a file without `version`
 * is version 1, as in Crossbar's checkconfig.check_config) and `crosswire upgrade-config FILE`,
 * which applies the rule of `crossbar upgrade` (checkconfig.upgrade_config_file): every role
 * permission `{uri, call, register, publish, subscribe}` becomes `{uri, match, allow: {…},
 * disclose: {caller: false, publisher: false}, cache: true}`, its starred URI converted as
 * autobahn's convert_starred_uri does. Unlike `crossbar upgrade`, a permission already in the
 * version-2 form (it has `allow` or `match`) is kept as it is instead of being reset.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { ConfigError, isObject } from './section.js';

type Json = Record<string, unknown>;

/** The version a parsed config declares: 1 without a `version` key (Crossbar's rule). */
export function configVersion(raw: unknown): unknown {
  return isObject(raw) && 'version' in raw ? raw.version : 1;
}

export const UPGRADE_HINT = 'upgrade it with `crosswire upgrade-config FILE` (the rules of `crossbar upgrade`), then `crosswire check --config FILE`';

/** autobahn's convert_starred_uri: `a.b.*` → prefix `a.b.`, `*` → prefix ``, `a.*.c` → wildcard `a..c`. */
export function convertStarredUri(uri: string): { uri: string; match: 'exact' | 'prefix' | 'wildcard' } {
  const stars = uri.split('*').length - 1;
  if (stars === 0) return { uri, match: 'exact' };
  if (stars === 1 && uri.endsWith('*')) return { uri: uri.slice(0, -1), match: 'prefix' };
  return { uri: uri.replaceAll('*', ''), match: 'wildcard' };
}

function upgradePermission(p: unknown): unknown {
  if (!isObject(p) || 'allow' in p || 'match' in p || typeof p.uri !== 'string') return p;
  const { uri, match } = convertStarredUri(p.uri);
  const flag = (k: string) => p[k] === true;
  return {
    uri,
    match,
    allow: { call: flag('call'), register: flag('register'), publish: flag('publish'), subscribe: flag('subscribe') },
    disclose: { caller: false, publisher: false },
    cache: true,
  };
}

/** The version-2 form of a parsed version-1 config, and how many permissions were rewritten. */
export function upgradeConfig(raw: unknown): { config: Json; permissions: number } {
  if (!isObject(raw)) throw new ConfigError('the top level of the config must be an object');
  let permissions = 0;
  const workers = Array.isArray(raw.workers) ? raw.workers : [];
  for (const w of workers) {
    if (!isObject(w) || w.type !== 'router' || !Array.isArray(w.realms)) continue;
    for (const realm of w.realms) {
      if (!isObject(realm) || !Array.isArray(realm.roles)) continue;
      for (const role of realm.roles) {
        if (!isObject(role) || !Array.isArray(role.permissions)) continue;
        role.permissions = role.permissions.map((p: unknown) => {
          const q = upgradePermission(p);
          if (q !== p) permissions++;
          return q;
        });
      }
    }
  }
  // `version` first, as `crossbar upgrade` writes it.
  const { version: _old, ...rest } = raw;
  return { config: { version: 2, ...rest }, permissions };
}

/** `crosswire upgrade-config FILE`: rewrites FILE in place; returns what was done, for the user. */
export function upgradeConfigFile(file: string): string {
  if (!/\.json$/i.test(file)) throw new ConfigError(`${file}: upgrade-config rewrites JSON files only (a YAML file would lose its comments and layout): upgrade a YAML config by hand (docs/configuration.md)`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`${file}: cannot read it as JSON: ${(e as Error).message}`);
  }
  const version = configVersion(raw);
  if (version === 2) return `${file} already is version 2: nothing to upgrade`;
  if (version !== 1) throw new ConfigError(`${file}: version ${JSON.stringify(version)} is not a config version (1 or 2)`);
  const { config, permissions } = upgradeConfig(raw);
  writeFileSync(file, `${JSON.stringify(config, null, 4)}\n`);
  return `${file} upgraded from version 1 to version 2 (${permissions} permission${permissions === 1 ? '' : 's'} rewritten); now run: crosswire check --config ${file}`;
}
