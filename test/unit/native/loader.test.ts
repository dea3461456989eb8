// src/dataplane/io/native.ts: finds the package root, loads build/Release/vxmesh.node, checks
// the packet-vector stride and counter count, and fails with stable codes otherwise.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { findPackageRoot, native, nativeStats } from '../../../src/dataplane/io/native.js';
import { NS_COUNT } from '../../../src/dataplane/io/native-api.js';
import { PV_STRIDE } from '../../../src/dataplane/io/packet-vec.js';

const ioDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'src', 'dataplane', 'io');

test('loader: the addon matches this build and has its counters', () => {
  assert.equal(native.pvStride, PV_STRIDE);
  assert.ok(native.statCount >= NS_COUNT);
  assert.ok(nativeStats instanceof Float64Array && nativeStats.length >= NS_COUNT);
  const root = findPackageRoot();
  assert.equal(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).name, 'vxmesh');
});

/** A fake package (name vxmesh) holding a copy of the loader, optionally with a built addon. */
function fakePackage(withAddon: boolean, stride: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'vxm-loader-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'vxmesh', type: 'module' }));
  const io = join(dir, 'io');
  mkdirSync(io);
  for (const f of ['native.js', 'native-api.js']) copyFileSync(join(ioDir, f), join(io, f));
  writeFileSync(join(io, 'packet-vec.js'), readFileSync(join(ioDir, 'packet-vec.js'), 'utf8').replace(/export const PV_STRIDE = \d+;/, `export const PV_STRIDE = ${stride};`));
  if (withAddon) {
    mkdirSync(join(dir, 'build', 'Release'), { recursive: true });
    copyFileSync(join(findPackageRoot(), 'build', 'Release', 'vxmesh.node'), join(dir, 'build', 'Release', 'vxmesh.node'));
  }
  return dir;
}

function importError(dir: string): Promise<{ code: string; message: string }> {
  const code = `import(${JSON.stringify(join(dir, 'io', 'native.js'))}).then(() => console.log(JSON.stringify({ code: 'loaded' })), (e) => console.log(JSON.stringify({ code: e.code, message: e.message })))`;
  return new Promise((resolve, reject) =>
    execFile(process.execPath, ['--input-type=module', '-e', code], { timeout: 10_000 }, (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout)))),
  );
}

test('loader: a missing addon says to run npm run build:native', async () => {
  const dir = fakePackage(false, PV_STRIDE);
  try {
    const r = await importError(dir);
    assert.equal(r.code, 'VXM_ERR_NATIVE_MISSING');
    assert.match(r.message, /npm run build:native/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loader: a stride mismatch is refused with VXM_ERR_NATIVE_ABI', async () => {
  const dir = fakePackage(true, PV_STRIDE + 1);
  try {
    const r = await importError(dir);
    assert.equal(r.code, 'VXM_ERR_NATIVE_ABI');
    assert.match(r.message, /pvStride 12/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
