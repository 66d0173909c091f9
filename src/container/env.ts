import type { WorkerEnv } from '../config/components.js';

/**
 * A container or component process's environment from its worker's `options.env`, as Crossbar
 * builds it (crossbar/node/controller.py `create_process_env`): the router's variables
 * (`inherit`: all, none, or the names listed), then `vars` over them.
 */
export function workerEnv(e: WorkerEnv, parent: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  const names = e.inherit === true ? Object.keys(parent) : e.inherit === false ? [] : e.inherit;
  for (const k of names) {
    const v = parent[k];
    if (v !== undefined) out[k] = v;
  }
  Object.assign(out, e.vars);
  return out;
}
