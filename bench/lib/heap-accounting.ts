/**
 * Heap bytes allocated and time spent in garbage collection over a measured stretch of code, on
 * the calling thread, from `v8.GCProfiler`: allocation is the used heap's growth between
 * collections (before each GC − after the previous one), summed, plus the growth after the last.
 */
import * as v8 from 'node:v8';

/** What {@link startHeapAccounting}'s stop function returns. */
export interface HeapAccount {
  allocatedBytes: number;
  gcMicros: number;
}

/** Start accounting now; call the returned function at the end of the measured stretch. */
export function startHeapAccounting(): () => HeapAccount {
  const profiler = new v8.GCProfiler();
  profiler.start();
  const heap0 = v8.getHeapStatistics().used_heap_size;
  return () => {
    const heap1 = v8.getHeapStatistics().used_heap_size;
    const gcs = profiler.stop()?.statistics ?? [];
    let allocatedBytes = 0;
    let last = heap0;
    let gcMicros = 0;
    for (const g of gcs) {
      allocatedBytes += g.beforeGC.heapStatistics.usedHeapSize - last;
      last = g.afterGC.heapStatistics.usedHeapSize;
      gcMicros += g.cost;
    }
    allocatedBytes += heap1 - last;
    return { allocatedBytes, gcMicros };
  };
}
