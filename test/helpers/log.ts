import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from '../../src/shared/log.js';
import { within } from './wait.js';

type Line = Record<string, unknown>;

/** A real pino logger whose JSON lines are kept for the test to read (and to wait for). */
export function captureLog(level = 'info'): { log: Logger; lines: Line[]; waitFor(pred: (l: Line) => boolean, ms: number, what: string): Promise<Line> } {
  const lines: Line[] = [];
  const waiters: { pred: (l: Line) => boolean; resolve: (l: Line) => void }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) {
        if (l === '') continue;
        const line = JSON.parse(l) as Line;
        lines.push(line);
        for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i]!.pred(line)) waiters.splice(i, 1)[0]!.resolve(line);
      }
      done();
    },
  });
  const waitFor = (pred: (l: Line) => boolean, ms: number, what: string): Promise<Line> => {
    const seen = lines.find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return within(new Promise<Line>((resolve) => waiters.push({ pred, resolve })), ms, what);
  };
  return { log: pino({ level }, stream), lines, waitFor };
}
