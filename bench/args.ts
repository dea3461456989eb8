// The flags every end-to-end benchmark takes: --runs N, --seconds S and a comma-separated
// list of the variants to run (its flag name and values are the benchmark's own).

import { parseArgs } from 'node:util';

export interface BenchArgs<T extends string> {
  runs: number;
  seconds: number;
  selected: T[];
}

export function parseBenchArgs<T extends string>(argv: readonly string[], list: { flag: string; all: readonly T[]; usage: string }): BenchArgs<T> {
  const { values } = parseArgs({
    args: [...argv],
    options: { runs: { type: 'string' }, seconds: { type: 'string' }, [list.flag]: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values['help']) {
    console.log(list.usage);
    process.exit(0);
  }
  const selected = values[list.flag] === undefined ? [...list.all] : String(values[list.flag]).split(',').map((v) => {
    if (!(list.all as readonly string[]).includes(v)) throw new Error(`Unknown ${list.flag} value ${v}: use ${list.all.join(', ')}`);
    return v as T;
  });
  return { runs: positiveInt(values['runs'], '--runs', 3), seconds: positiveInt(values['seconds'], '--seconds', 5), selected };
}

function positiveInt(text: unknown, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} needs a positive integer, got ${String(text)}`);
  return n;
}
