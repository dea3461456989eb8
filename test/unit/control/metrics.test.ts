import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agentRegistry } from '../../../src/control/agent/metrics.js';
import type { AgentStats } from '../../../src/control/agent/overlay-agent.js';

function stats(dropsMalformed: number, flows: number): AgentStats {
  return {
    counters: { tun_rx_packets: 10 }, drops: { malformed: dropsMalformed }, native: { tun_reads: 3 },
    eventLoopDelayMs: { p50: 1, p99: 4, max: 9 }, underlay: { gro: true, gso: true, rcvbuf: 1, sndbuf: 1 }, tunOffloads: {},
    lb: { new_flows: 5, conntrack_flows: flows }, dns: { answered: 2 },
  };
}

test('metrics mirror the typed-array counters as Prometheus counters, levels as gauges, on scrape only', async () => {
  let s = stats(2, 7);
  let reads = 0;
  const reg = agentRegistry(() => (reads++, s), 'h1');
  assert.equal(reads, 0, 'nothing is read before a scrape');
  const first = await reg.metrics();
  assert.match(first, /^vxmesh_dataplane_drops_total\{reason="malformed",node="h1"\} 2$/m);
  assert.match(first, /^vxmesh_lb_events_total\{name="new_flows",node="h1"\} 5$/m);
  assert.doesNotMatch(first, /name="conntrack_flows"/, 'a level is not exported as a counter');
  assert.match(first, /^vxmesh_lb_flows\{table="conntrack",node="h1"\} 7$/m);
  assert.match(first, /^vxmesh_event_loop_delay_seconds\{quantile="0.99",node="h1"\} 0.004$/m);
  assert.ok(reads <= 2, `stats() read ${reads} times for one scrape`);
  // The source counts on; the counter follows. A reset (agent restart of the source) never goes backwards.
  s = stats(9, 3);
  await new Promise((r) => setTimeout(r, 120));
  assert.match(await reg.metrics(), /^vxmesh_dataplane_drops_total\{reason="malformed",node="h1"\} 9$/m);
  s = stats(1, 3);
  await new Promise((r) => setTimeout(r, 120));
  assert.match(await reg.metrics(), /^vxmesh_dataplane_drops_total\{reason="malformed",node="h1"\} 10$/m);
});
