import { Piscina } from 'piscina';
import type { VerifyTask } from '../verify/task.js';

const TASK = new URL('../verify/task.js', import.meta.url).href;

/**
 * The verification pool of one realm worker: Ed25519 checks and PBKDF2 run in Piscina threads so
 * a flood of logins never stalls routing; the worker awaits the answer and routes meanwhile.
 * Started on first use (a router without cryptosign or password-mode WAMP-CRA never starts it);
 * its threads end with the realm worker that owns them.
 */
export class VerifyPool {
  #pool: Piscina | null = null;
  /** Tasks run, for metrics. */
  tasks = 0;

  constructor(readonly threads: number) {}

  ed25519(pubkey: string, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    return this.#run({ op: 'ed25519', pubkey, message, signature }) as Promise<boolean>;
  }

  pbkdf2(password: string, salt: string, iterations: number, keylen: number): Promise<string> {
    return this.#run({ op: 'pbkdf2', password, salt, iterations, keylen }) as Promise<string>;
  }

  #run(task: VerifyTask): Promise<unknown> {
    this.tasks++;
    this.#pool ??= new Piscina({ filename: TASK, minThreads: 1, maxThreads: this.threads, idleTimeout: 60_000 });
    return this.#pool.run(task);
  }
}
