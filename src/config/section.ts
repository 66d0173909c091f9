import convict, { type Schema } from 'convict';

/** A config that cannot run. The message names every offending key. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validate `value` against a sub-schema; every message is prefixed with `path`. */
export function section<T>(schema: Schema<T>, value: unknown, path: string): T {
  if (!isObject(value)) throw new ConfigError(`${path}: must be an object`);
  const c = convict(schema);
  try {
    c.load(value);
    c.validate({ allowed: 'strict' });
  } catch (e) {
    throw new ConfigError(rewrite((e as Error).message, path));
  }
  return c.getProperties() as T;
}

/** convict's messages, with the full path of each key and a plain word for unknown keys. */
export function rewrite(message: string, path: string): string {
  const p = path === '' ? '' : `${path}.`;
  return message
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const unknown = /^configuration param '(.+)' not declared in the schema$/.exec(l);
      if (unknown) return `${p}${unknown[1]}: unknown key, or a feature Crosswire does not implement yet`;
      return `${p}${l}`;
    })
    .join('\n');
}
