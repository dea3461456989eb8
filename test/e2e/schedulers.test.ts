// Each scheduler, end to end: three HTTP backends on two hosts behind a VIP, one client task,
// short connections (Connection: close), distribution as a user would check it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OverlayTopology } from '../../src/lab/overlay-topology.js';
import { CLIENT, SERVER } from './http-lab.js';

const skip = process.getuid?.() !== 0 ? 'scheduler e2e needs root (network namespaces and TUN devices): run as root' : false;

async function distribution(service: Record<string, unknown>, requests: number): Promise<Map<string, number>> {
  const topo = await OverlayTopology.build({
    hosts: 2, tasksPerHost: 2,
    services: [{
      name: 'web', network: 'demo', vip: '10.0.1.200', ports: [{ protocol: 'tcp', port: 80, targetPort: 8080 }], ...service,
    }],
  });
  try {
    await topo.startAgents({ readyTimeoutMs: 30_000 });
    for (const [h, t, name] of [[0, 1, 'web.1'], [1, 0, 'web.2'], [1, 1, 'web.3']] as const) {
      const p = topo.lab.spawn(topo.task(h, t).ns, ['node', '-e', SERVER, name, '8080'], { lifetimeMs: 120_000 });
      await p.waitForLine((l) => l.includes('listening'), 10_000);
    }
    const r = await topo.lab.exec(topo.task(0, 0).ns, ['node', '-e', CLIENT, '10.0.1.200', String(requests)], { timeoutMs: 90_000 });
    assert.equal(r.code, 0, `client failed: ${r.stderr}`);
    const counts = new Map<string, number>();
    for (const body of JSON.parse(r.stdout.trim().split('\n').pop()!) as string[]) {
      const name = body.split(' ')[0]!;
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    return counts;
  } finally {
    await topo.destroy();
  }
}

const backends = (weights: number[] = [1, 1, 1]) => [
  { name: 'web.1', ipv4: '10.0.1.3', weight: weights[0] },
  { name: 'web.2', ipv4: '10.0.1.12', weight: weights[1] },
  { name: 'web.3', ipv4: '10.0.1.13', weight: weights[2] },
];

test('wrr: 120 connections split in proportion to weights 1:2:3', { skip, timeout: 90_000 }, async () => {
  const c = await distribution({ scheduler: 'wrr', backends: backends([1, 2, 3]) }, 120);
  assert.deepEqual([c.get('web.1'), c.get('web.2'), c.get('web.3')], [20, 40, 60]);
});

for (const scheduler of ['sh', 'maglev'] as const) {
  test(`${scheduler}: every connection of one client goes to the same backend`, { skip, timeout: 90_000 }, async () => {
    const c = await distribution({ scheduler, backends: backends() }, 60);
    assert.equal(c.size, 1, `one client reached ${[...c.keys()].join(', ')}`);
  });
}

test('lc: with short connections the load spreads over all backends', { skip, timeout: 90_000 }, async () => {
  const c = await distribution({ scheduler: 'lc', backends: backends() }, 60);
  assert.equal(c.size, 3);
});

test('rr with ClientIP affinity: the client stays on one backend', { skip, timeout: 90_000 }, async () => {
  const c = await distribution({ scheduler: 'rr', affinitySeconds: 300, backends: backends() }, 60);
  assert.deepEqual([...c.values()], [60]);
});

test('a backend marked down gets no connection; a draining one gets no new connection', { skip, timeout: 90_000 }, async () => {
  const c = await distribution({
    scheduler: 'rr', backends: [
      { name: 'web.1', ipv4: '10.0.1.3', state: 'down' },
      { name: 'web.2', ipv4: '10.0.1.12', state: 'draining' },
      { name: 'web.3', ipv4: '10.0.1.13' },
    ],
  }, 30);
  assert.deepEqual([...c.entries()], [['web.3', 30]]);
});
