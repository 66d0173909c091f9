import { getHeapStatistics } from 'node:v8';
import { type Limit, LIMITS } from '../shared/labels.js';
import type { RealmLimits } from './schema.js';

const MiB = 1024 * 1024;

/**
 * The byte budgets whose default (null) follows the realm worker's heap limit: a fraction of it,
 * with a ceiling. They count frame bytes, and decoded values can take several times their wire
 * size on the heap (a msgpack small integer: 1 byte on the wire, 8 in an array), hence the
 * small fractions (docs/limits.md).
 */
const FROM_HEAP: Partial<Record<Limit, { divisor: number; ceiling: number }>> = {
  max_retained_bytes: { divisor: 32, ceiling: 64 * MiB },
  max_event_history_bytes: { divisor: 64, ceiling: 16 * MiB },
  max_held_bytes_per_session: { divisor: 64, ceiling: 16 * MiB },
  max_queued_call_bytes: { divisor: 32, ceiling: 64 * MiB },
  max_queued_bytes_per_session: { divisor: 64, ceiling: 16 * MiB },
};

/**
 * A realm's limits as its worker applies them: every value a number (0 = no limit). `heapMb` is
 * crosswire.worker_max_heap_mb; 0 means V8's own limit, the same for a worker thread as for this
 * one (V8 flags such as --max-old-space-size apply to the whole process).
 */
export function resolveLimits(options: RealmLimits, heapMb: number): Record<Limit, number> {
  const heap = heapMb > 0 ? heapMb * MiB : getHeapStatistics().heap_size_limit;
  const out = {} as Record<Limit, number>;
  for (const k of LIMITS) {
    const v = options[k];
    const auto = FROM_HEAP[k];
    out[k] = v !== null ? v : auto !== undefined ? Math.min(auto.ceiling, Math.floor(heap / auto.divisor)) : 0;
  }
  return out;
}
