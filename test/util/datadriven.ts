// Datadriven golden scripts, in the style of etcd-io/raft's testdata/*.txt (cockroachdb's
// datadriven package): a file is a list of cases, each a command line, optional input lines,
// a `----` separator and the expected output, ended by a blank line:
//
//   # a comment
//   tick node=1 n=3
//   ----
//   1 -> 2 MsgHeartbeat term=1
//
// The handler turns each case into text; the test fails on the first case whose text differs,
// naming the file and line. `VXM_REWRITE=1` writes the actual outputs back into the source
// file instead (a readable diff of the golden file is then the review). Cases run in order on
// whatever state the handler keeps, so a file is one scenario.
//
// Outputs must not contain blank lines (the blank line ends a case); the runner replaces them
// with a lone "." line so nothing is lost.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './pcap.js';

export interface DataDrivenCase {
  /** "file:line" of the command line, for messages. */
  readonly pos: string;
  readonly cmd: string;
  /** key=value arguments; `key=(a,b)` gives several values; a bare word gives [''] . */
  readonly args: ReadonlyMap<string, readonly string[]>;
  /** Lines between the command and `----`, joined with \n. */
  readonly input: string;
  readonly expected: string;
}

/** Absolute path of a testdata file given relative to the package root (source tree, not dist/). */
export function testdataPath(rel: string): string {
  return join(packageRoot(), rel);
}

interface ParsedCase extends DataDrivenCase {
  /** Line index (0-based) where the expected output starts, and how many lines it spans. */
  readonly outStart: number;
  readonly outLines: number;
}

function parseArgs(words: string[], pos: string): Map<string, string[]> {
  const args = new Map<string, string[]>();
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq < 0) {
      args.set(w, ['']);
      continue;
    }
    const key = w.slice(0, eq);
    let val = w.slice(eq + 1);
    if (val.startsWith('(')) {
      if (!val.endsWith(')')) throw new Error(`${pos}: unbalanced parentheses in argument ${w}`);
      val = val.slice(1, -1);
      args.set(key, val === '' ? [] : val.split(','));
    } else {
      args.set(key, [val]);
    }
  }
  return args;
}

function parse(file: string, text: string): { lines: string[]; cases: ParsedCase[] } {
  const lines = text.split('\n');
  const cases: ParsedCase[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '' || line.startsWith('#')) {
      i++;
      continue;
    }
    const pos = `${file}:${i + 1}`;
    const words = line.trim().split(/\s+/);
    const cmd = words[0]!;
    const args = parseArgs(words.slice(1), pos);
    i++;
    const input: string[] = [];
    while (i < lines.length && lines[i] !== '----') {
      if (lines[i]!.trim() === '') throw new Error(`${pos}: case has no ---- separator`);
      input.push(lines[i]!);
      i++;
    }
    if (i >= lines.length) throw new Error(`${pos}: case has no ---- separator`);
    i++; // skip ----
    const outStart = i;
    const out: string[] = [];
    while (i < lines.length && lines[i]!.trim() !== '') {
      out.push(lines[i]!);
      i++;
    }
    cases.push({ pos, cmd, args, input: input.join('\n'), expected: out.join('\n'), outStart, outLines: out.length });
  }
  return { lines, cases };
}

function normalize(out: string): string {
  return out
    .replace(/\s+$/, '')
    .split('\n')
    .map((l) => (l.trim() === '' ? '.' : l.replace(/\s+$/, '')))
    .join('\n');
}

/**
 * Run every case of `rel` (a path relative to the package root) through `handler`, in order.
 * Throws an AssertionError at the first mismatch unless VXM_REWRITE=1, which rewrites the file.
 */
export function runDataDriven(rel: string, handler: (c: DataDrivenCase) => string): void {
  const file = testdataPath(rel);
  const { lines, cases } = parse(rel, readFileSync(file, 'utf8'));
  const rewrite = process.env['VXM_REWRITE'] === '1';
  const actuals: string[] = [];
  for (const c of cases) {
    const actual = normalize(handler(c));
    actuals.push(actual);
    if (!rewrite) assert.equal(actual, c.expected, `${c.pos}: ${c.cmd}: output differs (VXM_REWRITE=1 rewrites the golden file)`);
  }
  if (!rewrite) return;
  // Splice actual outputs in from the end so earlier line numbers stay valid.
  const out = lines.slice();
  for (let k = cases.length - 1; k >= 0; k--) {
    const c = cases[k]!;
    const replacement = actuals[k] === '' ? [] : actuals[k]!.split('\n');
    out.splice(c.outStart, c.outLines, ...replacement);
  }
  writeFileSync(file, out.join('\n'));
}

/** One argument's single value, or a clear error naming the case. */
export function arg(c: DataDrivenCase, key: string, fallback?: string): string {
  const v = c.args.get(key);
  if (v === undefined || v.length === 0) {
    if (fallback !== undefined) return fallback;
    throw new Error(`${c.pos}: ${c.cmd} needs ${key}=...`);
  }
  return v[0]!;
}

/** One argument as an integer. */
export function intArg(c: DataDrivenCase, key: string, fallback?: number): number {
  const s = arg(c, key, fallback === undefined ? undefined : String(fallback));
  const n = Number(s);
  if (!Number.isInteger(n)) throw new Error(`${c.pos}: ${c.cmd}: ${key}=${s} is not an integer`);
  return n;
}
