/**
 * Counts the typed arrays, ArrayBuffers and DataViews constructed while `fn` runs, by swapping
 * the global constructors for counting proxies (code looks them up on the global at each `new`).
 * Views made by subarray() are not seen (they use the original class): this counts new memory
 * and new wrappers made with `new`, which is what a per-frame path must not do.
 */
const NAMES = ["ArrayBuffer", "DataView", "Int16Array", "Uint8Array", "Float32Array", "Int32Array", "Float64Array"] as const;

export function countAllocations(fn: () => void): Record<string, number> {
  const g = globalThis as unknown as Record<string, unknown>;
  const saved = NAMES.map((n) => g[n]);
  const counts: Record<string, number> = {};
  NAMES.forEach((name, i) => {
    g[name] = new Proxy(saved[i] as new (...a: unknown[]) => object, {
      construct(target, args, newTarget) {
        counts[name] = (counts[name] ?? 0) + 1;
        return Reflect.construct(target, args, newTarget === g[name] ? target : newTarget);
      },
    });
  });
  try {
    fn();
  } finally {
    NAMES.forEach((name, i) => (g[name] = saved[i]));
  }
  return counts;
}
