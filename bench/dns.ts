// npm run bench:dns -- [--runs N (3)] [--seconds S (5)] [--variants dnsmasq,vxmesh]
//
// dnsperf from a task namespace against (a) dnsmasq in that same namespace on 127.0.0.53 and
// (b) vxmesh's embedded resolver on the network gateway 10.0.1.1, reached through the task's
// TUN and answered by the agent's pipeline; both serve the same names (a VIP service, a dnsrr
// service, tasks.<service>, AAAA). Variants alternate within each run. A benchmark, not a test:
// it prints a table of medians [min–max] and the ratio vxmesh/dnsmasq, and writes the same as
// JSON to bench/results/. Everything runs inside namespaces this run creates.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { median } from '../src/lab/netns.js';
import { OverlayTopology } from '../src/lab/overlay-topology.js';
import { parseBenchArgs } from './args.js';
import { resultsFile } from './stats.js';

type Variant = 'dnsmasq' | 'vxmesh';
const ALL: readonly Variant[] = ['dnsmasq', 'vxmesh'];

const QUERIES = ['web.mesh A', 'web.mesh AAAA', 'api.mesh A', 'tasks.web.mesh A', 'tasks.api.mesh A'];
const API_TASKS = ['10.0.1.4', '10.0.1.5', '10.0.1.6'];
const WEB_TASKS = ['10.0.1.7', '10.0.1.8'];

async function main(): Promise<void> {
  const args = parseBenchArgs<Variant>(process.argv.slice(2), {
    flag: 'variants', all: ALL, usage: 'usage: npm run bench:dns -- [--runs N (3)] [--seconds S (5)] [--variants dnsmasq,vxmesh]',
  });
  const topo = await OverlayTopology.build({
    hosts: 1, tasksPerHost: 1,
    services: [
      { name: 'web', network: 'demo', vip: '10.0.1.200', vip6: 'fd00:1::c8', ports: [{ protocol: 'tcp', port: 80 }],
        backends: WEB_TASKS.map((ip, i) => ({ name: `web.${i + 1}`, ipv4: ip, ipv6: `fd00:1::${7 + i}` })) },
      { name: 'api', network: 'demo', mode: 'dnsrr', backends: API_TASKS.map((ip, i) => ({ name: `api.${i + 1}`, ipv4: ip })) },
    ],
  });
  const samples: Record<Variant, number[]> = { dnsmasq: [], vxmesh: [] };
  try {
    await topo.startAgents({ readyTimeoutMs: 30_000 });
    const ns = topo.task(0, 0).ns;
    const queryFile = join(topo.configDir, 'queries.txt');
    writeFileSync(queryFile, `${QUERIES.join('\n')}\n`);
    // dnsmasq with the same records, in the client's own namespace (loopback: its best case).
    const records = [
      '--host-record=web.mesh,10.0.1.200,fd00:1::c8',
      ...API_TASKS.map((ip) => `--host-record=api.mesh,${ip}`),
      ...WEB_TASKS.map((ip) => `--host-record=tasks.web.mesh,${ip}`),
      ...API_TASKS.map((ip) => `--host-record=tasks.api.mesh,${ip}`),
    ];
    const dnsmasq = topo.lab.spawn(ns, [
      'dnsmasq', '--keep-in-foreground', '--no-resolv', '--no-hosts', '--bind-interfaces', '--listen-address=127.0.0.53',
      '--port=53', '--cache-size=0', '--log-facility=-', '--user=root', ...records,
    ], { lifetimeMs: 3_600_000 });
    await new Promise((r) => setTimeout(r, 500));
    const target: Record<Variant, string> = { dnsmasq: '127.0.0.53', vxmesh: '10.0.1.1' };
    for (let run = 1; run <= args.runs; run++) {
      for (const v of args.selected) {
        const r = await topo.lab.exec(ns, ['dnsperf', '-s', target[v], '-d', queryFile, '-l', String(args.seconds), '-c', '4', '-q', '200', '-t', '2'], {
          timeoutMs: (args.seconds + 30) * 1000,
        });
        const qps = /Queries per second:\s+([0-9.]+)/.exec(r.stdout);
        const lost = /Queries lost:\s+(\d+)/.exec(r.stdout);
        const rcodes = /Response codes:\s+(.*)/.exec(r.stdout)?.[1] ?? '?';
        if (!qps) throw new Error(`dnsperf against ${v} printed no rate: ${r.stdout}${r.stderr}`);
        // A rate of wrong answers is no rate: every query here has an answer.
        if (!/^NOERROR \d+ \(100\.00%\)$/.test(rcodes.trim())) throw new Error(`${v} answered ${rcodes}, expected only NOERROR`);
        samples[v].push(Number(qps[1]));
        console.log(`  ${v} run ${run}: ${Number(qps[1]).toFixed(0)} queries/s, lost ${lost?.[1] ?? '?'}, ${rcodes}`);
      }
    }
    await dnsmasq.stop();
    const agentStats = await topo.stopAgents();
    const row = (v: Variant): string => {
      const s = samples[v];
      if (s.length === 0) return 'n/a';
      return `${median(s).toFixed(0)} [${Math.min(...s).toFixed(0)}–${Math.max(...s).toFixed(0)}]`;
    };
    const ratio = samples.dnsmasq.length && samples.vxmesh.length ? median(samples.vxmesh) / median(samples.dnsmasq) : undefined;
    console.log('\nmetric               dnsmasq median [min–max]   vxmesh median [min–max]   vxmesh/dnsmasq');
    console.log(`queries/s            ${row('dnsmasq').padEnd(26)} ${row('vxmesh').padEnd(25)} ${ratio === undefined ? 'n/a' : `${ratio.toFixed(3)}×`}`);
    const file = resultsFile('dns', new Date());
    writeFileSync(file, `${JSON.stringify({ startedAt: new Date().toISOString(), options: args, queries: QUERIES, samples, ratio, agentStats: Object.fromEntries(agentStats) }, null, 2)}\n`);
    console.log(`results: ${file}`);
  } finally {
    await topo.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
