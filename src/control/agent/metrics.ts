// Prometheus metrics for the agent, on scrape only: the dataplane counts in typed arrays with a
// plain increment, and this registry reads them when Prometheus asks (never a prom-client call
// per packet). Served on 127.0.0.1:9323 by default (Docker's metrics-addr port).
//
// Monotonic counters are mirrored as Prometheus counters (rate() works); levels (flows in the
// tables, event-loop lag) as gauges. Names: vxmesh_<area>_<what>_total, labelled by reason,
// direction or device where the source is an array of named counters.

import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { SetupError } from '../../errors.js';
import type { AgentStats } from './overlay-agent.js';

/** Protocol (ours): Docker's `metrics-addr` port, so existing scrape configs find us. */
export const DEFAULT_METRICS_PORT = 9323;

/** Counters whose value is a level, not a running total. */
const LEVELS = new Set(['conntrack_flows', 'return_paths_flows']);

/**
 * A counter mirrored from an external running total: on each scrape it advances by the
 * difference since the last one (a value that went down means the source was reset: it
 * restarts from there without going backwards).
 */
class MirroredCounter {
  readonly #last = new Map<string, number>();
  readonly counter: Counter<string>;

  constructor(registry: Registry, name: string, help: string, labelNames: string[], read: () => [Record<string, string>, number][]) {
    const last = this.#last;
    this.counter = new Counter({
      name, help, labelNames, registers: [registry],
      collect() {
        for (const [labels, value] of read()) {
          const key = JSON.stringify(labels);
          const prev = last.get(key) ?? 0;
          const delta = value >= prev ? value - prev : value;
          last.set(key, value);
          if (delta > 0) this.inc(labels, delta);
          else this.inc(labels, 0); // the series exists from the first scrape on
        }
      },
    });
  }
}

/** The registry for one agent; `stats` is read once per scrape. */
export function agentRegistry(stats: () => AgentStats, node: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ node });
  collectDefaultMetrics({ register: registry, prefix: 'vxmesh_process_' });
  let snapshot: AgentStats | undefined;
  let takenAt = -1;
  // One stats() per scrape, shared by every collector of that scrape.
  const s = (): AgentStats => {
    const now = Date.now();
    if (!snapshot || now - takenAt > 100) {
      snapshot = stats();
      takenAt = now;
    }
    return snapshot;
  };
  const named = (rec: Record<string, number> | undefined, label: string): [Record<string, string>, number][] =>
    Object.entries(rec ?? {}).map(([k, v]) => [{ [label]: k }, v]);

  new MirroredCounter(registry, 'vxmesh_dataplane_events_total', 'Dataplane counters (packets, bytes, batches, replies) by name', ['name'], () => named(s().counters, 'name'));
  new MirroredCounter(registry, 'vxmesh_dataplane_drops_total', 'Packets dropped by the pipeline, by reason', ['reason'], () => named(s().drops, 'reason'));
  new MirroredCounter(registry, 'vxmesh_native_events_total', 'Native addon counters (syscalls, splits, coalescing, GSO fallbacks) by name', ['name'], () => named(s().native, 'name'));
  new MirroredCounter(registry, 'vxmesh_dns_events_total', 'Embedded resolver counters by name', ['name'], () => named(s().dns, 'name'));
  new MirroredCounter(registry, 'vxmesh_lb_events_total', 'Load balancing and conntrack counters by name', ['name'], () =>
    named(Object.fromEntries(Object.entries(s().lb ?? {}).filter(([k]) => !LEVELS.has(k))), 'name'));
  new Gauge({
    name: 'vxmesh_lb_flows', help: 'Flows in the connection tracking tables', labelNames: ['table'], registers: [registry],
    collect() {
      const lb = s().lb ?? {};
      this.set({ table: 'conntrack' }, lb['conntrack_flows'] ?? 0);
      this.set({ table: 'return_paths' }, lb['return_paths_flows'] ?? 0);
    },
  });
  new Gauge({
    name: 'vxmesh_event_loop_delay_seconds', help: 'Timer lag on the agent event loop (what gossip and raft timers feel)', labelNames: ['quantile'], registers: [registry],
    collect() {
      const d = s().eventLoopDelayMs;
      this.set({ quantile: '0.5' }, d.p50 / 1000);
      this.set({ quantile: '0.99' }, d.p99 / 1000);
      this.set({ quantile: '1' }, d.max / 1000);
    },
  });
  return registry;
}

/** Serves `registry` on GET /metrics at address:port; resolves once listening. */
export async function serveMetrics(registry: Registry, address: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: scrape /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics: ${String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new SetupError(`metrics: listen on ${address}:${port}: ${e.message}: pick another metrics.port or free it`, { cause: e })));
    server.listen(port, address, () => resolve());
  });
  return server;
}
