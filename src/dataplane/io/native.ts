// Loads the native addon (native/*.c built into build/Release/vxmesh.node by
// `npm run build:native`) and checks that it was built against the same packet-vector layout
// and counter set as this TypeScript. Only src/dataplane/io may import this module.
//
// The addon is context-aware: every worker thread that imports this module gets its own
// instance (own scratch memory, own counters once it calls native.init).

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { NS_COUNT, type NativeAddon } from './native-api.js';
import { PV_STRIDE } from './packet-vec.js';

/** An error from loading the addon, with a stable `code`. */
export class NativeLoadError extends Error {
  readonly code: 'VXM_ERR_NATIVE_MISSING' | 'VXM_ERR_NATIVE_ABI' | 'VXM_ERR_NATIVE_ROOT';
  constructor(code: NativeLoadError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NativeLoadError';
    this.code = code;
  }
}

/** The package root: the nearest directory above this file whose package.json is "vxmesh". */
export function findPackageRoot(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        const parsed = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown };
        if (parsed.name === 'vxmesh') return dir;
      } catch {
        // not ours (or unreadable): keep walking up
      }
    }
    const up = dirname(dir);
    if (up === dir) {
      throw new NativeLoadError('VXM_ERR_NATIVE_ROOT', `cannot find the vxmesh package root above ${from}`);
    }
    dir = up;
  }
}

function load(): NativeAddon {
  const root = findPackageRoot();
  const file = join(root, 'build', 'Release', 'vxmesh.node');
  if (!existsSync(file)) {
    throw new NativeLoadError(
      'VXM_ERR_NATIVE_MISSING',
      `the native addon ${file} is missing: run \`npm run build:native\` in ${root}`,
    );
  }
  const require = createRequire(import.meta.url);
  let addon: NativeAddon;
  try {
    addon = require(file) as NativeAddon;
  } catch (err) {
    throw new NativeLoadError(
      'VXM_ERR_NATIVE_MISSING',
      `cannot load the native addon ${file} (${(err as Error).message}): run \`npm run build:native\` in ${root}`,
      { cause: err },
    );
  }
  if (addon.pvStride !== PV_STRIDE || !(addon.statCount >= NS_COUNT)) {
    throw new NativeLoadError(
      'VXM_ERR_NATIVE_ABI',
      `the native addon ${file} does not match this build (addon pvStride ${String(addon.pvStride)}, ` +
        `statCount ${String(addon.statCount)}; expected pvStride ${PV_STRIDE}, statCount >= ${NS_COUNT}): ` +
        'run `npm run build:native`',
    );
  }
  return addon;
}

/** The addon, loaded once per JavaScript environment (main thread or worker). */
export const native: NativeAddon = load();

/**
 * This environment's native counters (NS_* indices of native-api.ts), already given to
 * native.init by the loader so that no data-path call can run without them. Read them on
 * scrape; do not call native.init again unless you mean to move the counters elsewhere.
 */
export const nativeStats: Float64Array = new Float64Array(Math.max(NS_COUNT, native.statCount));
native.init(nativeStats);
