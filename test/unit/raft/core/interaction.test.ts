// Golden transcripts (testdata/*.txt), one scenario per file, run through InteractionEnv.
// VXM_REWRITE=1 rewrites them; review the diff.

import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { runDataDriven, testdataPath } from '../../../util/datadriven.js';
import { InteractionEnv } from './interaction-env.js';

const dir = 'test/unit/raft/core/testdata';
for (const f of readdirSync(testdataPath(dir)).filter((n) => n.endsWith('.txt')).sort()) {
  test(`raft interaction ${f}`, () => {
    const env = new InteractionEnv();
    runDataDriven(`${dir}/${f}`, (c) => env.handle(c));
  });
}
