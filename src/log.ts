import { pino, type Logger } from 'pino';

/** The process-wide logger: JSON lines on stdout (pino), level from config or CROSSWIRE_LOG_LEVEL. */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { ...bindings }, timestamp: pino.stdTimeFunctions.isoTime });
}

export type { Logger } from 'pino';
