import { createRequire } from 'node:module';
import { isMainThread } from 'node:worker_threads';
import { type DestinationStream, destination, type Logger, pino, transport as pinoTransport } from 'pino';
import type { LogFormat } from './ipc/protocol.js';

/**
 * `auto`: pretty when stdout is a terminal, JSON lines otherwise (a pipe, a file, a container
 * log driver). Decided once on the main thread and handed to the workers, whose own stdout is
 * never a TTY.
 */
export function resolveLogFormat(setting: 'auto' | LogFormat, stdoutIsTTY = process.stdout.isTTY === true): LogFormat {
  return setting === 'auto' ? (stdoutIsTTY ? 'pretty' : 'json') : setting;
}

/**
 * A logger (pino): JSON lines on stdout, or pino-pretty as a transport (formatting runs in its
 * own thread) for people reading a terminal. Components log through `log.child({ component })`.
 */
export function createLogger(level: string, bindings: Record<string, unknown> = {}, format: LogFormat = 'json'): Logger {
  const options = { level, base: { ...bindings }, timestamp: pino.stdTimeFunctions.isoTime };
  // A worker thread writes its lines synchronously: pino flushes an asynchronous destination at
  // exit only on the main thread, and a worker is terminated (shutdown) or ends the process
  // (a fatal error) with its last lines, the ones that say why, still in the buffer.
  if (format === 'json' || level === 'silent') return isMainThread ? pino(options) : pino(options, destination({ dest: 1, sync: true }));
  // Resolved here, so the transport thread finds pino-pretty whatever the working directory.
  const target = createRequire(import.meta.url).resolve('pino-pretty');
  const transport = pinoTransport({ target, options: { destination: 1, colorize: process.env.NO_COLOR === undefined, ignore: 'pid,hostname' } }) as DestinationStream;
  return pino(options, transport);
}

export type { Logger } from 'pino';
