// Summaries for simulation commands: percentiles and a plain-text table.

/**
 * The p-th percentile (0 <= p <= 100) of an ascending-sorted array, linearly interpolated between
 * the two closest ranks (Hyndman & Fan type 7, what numpy.percentile and R's default do).
 * Empty input gives NaN. The caller sorts (numbers: `a.sort((x, y) => x - y)` or a Float64Array's
 * sort()), because callers usually want several percentiles of one sort.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile: p must be in [0, 100], got ${p}`);
  const h = (n - 1) * (p / 100);
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  const a = sorted[lo]!, b = sorted[hi]!;
  return a + (b - a) * (h - lo);
}

/** count, mean, min, p50, p90, p99, max of unsorted values (copied, not mutated). */
export function summarize(values: ArrayLike<number>): { count: number; mean: number; min: number; p50: number; p90: number; p99: number; max: number } {
  const s = Float64Array.from(values).sort();
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += s[i]!;
  return {
    count: s.length,
    mean: s.length ? sum / s.length : NaN,
    min: s.length ? s[0]! : NaN,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: s.length ? s[s.length - 1]! : NaN,
  };
}

function cell(v: unknown): string {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return String(v);
    if (Number.isInteger(v)) return String(v);
    return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);
  }
  return String(v);
}

/**
 * A fixed-width text table: numbers right-aligned (integers as is, others to 2-3 significant
 * places), everything else left-aligned. Deterministic output, suitable for golden files.
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const text = rows.map((r) => headers.map((_, c) => cell(r[c])));
  const numeric = headers.map((_, c) => rows.length > 0 && rows.every((r) => typeof r[c] === 'number'));
  const width = headers.map((h, c) => Math.max(h.length, ...text.map((r) => r[c]!.length)));
  const line = (cells: readonly string[]): string =>
    cells.map((v, c) => (numeric[c] ? v.padStart(width[c]!) : v.padEnd(width[c]!))).join('  ').trimEnd();
  return [line(headers), line(width.map((w) => '-'.repeat(w))), ...text.map(line)].join('\n');
}
