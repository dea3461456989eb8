import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { arg, runDataDriven } from '../../util/datadriven.js';
import { packageRoot } from '../../util/pcap.js';

function handler(c: Parameters<Parameters<typeof runDataDriven>[1]>[0]): string {
  switch (c.cmd) {
    case 'sum':
      return String((c.args.get('v') ?? []).reduce((a, b) => a + Number(b), 0));
    case 'echo':
      return c.args.has('upper') ? c.input.toUpperCase() : c.input;
    case 'blank':
      return 'line one\n\nline three';
    default:
      throw new Error(`${c.pos}: unknown command ${c.cmd}`);
  }
}

test('datadriven: golden file passes', () => {
  runDataDriven('test/unit/util/testdata/datadriven.txt', handler);
});

test('datadriven: a wrong expectation fails with the case position; VXM_REWRITE fixes it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vxm-dd-'));
  try {
    const file = join(dir, 'x.txt');
    writeFileSync(file, 'sum v=(2,2)\n----\n5\n\necho\nhi\n----\nhi\n');
    const rel = relative(packageRoot(), file);
    assert.throws(() => runDataDriven(rel, handler), (e: Error) => /x\.txt:1: sum/.test(e.message));
    process.env['VXM_REWRITE'] = '1';
    try {
      runDataDriven(rel, handler);
    } finally {
      delete process.env['VXM_REWRITE'];
    }
    assert.equal(readFileSync(file, 'utf8'), 'sum v=(2,2)\n----\n4\n\necho\nhi\n----\nhi\n');
    runDataDriven(rel, handler);
    assert.equal(arg({ pos: 'p', cmd: 'c', args: new Map([['k', ['v']]]), input: '', expected: '' }, 'k'), 'v');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
