// Summaries and number formatting shared by the end-to-end benchmarks' tables.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { median } from '../src/lab/netns.js';
import { REPO_ROOT } from '../src/lab/overlay-topology.js';

export interface Summary {
  median: number;
  min: number;
  max: number;
}

/** Median and min–max of the finite samples, or undefined when there are none. */
export function summarize(values: readonly number[] | undefined): Summary | undefined {
  const finite = (values ?? []).filter((v) => Number.isFinite(v));
  if (finite.length === 0) return undefined;
  return { median: median(finite), min: Math.min(...finite), max: Math.max(...finite) };
}

/** Three significant figures or so, with k/M for large values. */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return '-';
  const abs = Math.abs(n);
  if (abs >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (abs >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  if (abs >= 100) return n.toFixed(0);
  if (abs >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

/** "median [min–max]", or n/a. */
export function cell(values: readonly number[] | undefined): string {
  const s = summarize(values);
  return s ? `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]` : 'n/a';
}

/** The JSON file for a benchmark run: bench/results/<name>-<ISO time>.json (created as needed). */
export function resultsFile(name: string, startedAt: Date): string {
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  return join(dir, `${name}-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
}
