// Overlay benchmark: the Linux kernel's VXLAN against vxmesh, on the same underlay bridge in
// the same run, with real tools (iperf3, ping) inside network namespaces.
//
//   npm run bench:overlay -- [--runs N] [--seconds S] [--modes kernel,vxmesh,vxmesh-nooffload]
//                            [--metrics tcp1,tcp4,udp64,ping]
//
//            bridge br0 in <prefix>-sw (198.51.100.0/24)
//   ┌──────────────┬──────────────┬──────────────┬──────────────┐
//   h1 .11         h2 .12         k1 .21         k2 .22
//   vxmesh agent   vxmesh agent   kernel vxlan   kernel vxlan      VNI 4097 (vxmesh) / 4200 (kernel)
//   └ h1t0         └ h2t0         └ k1t0         └ k2t0            tasks: the client and server ends
//     10.0.1.2       10.0.1.12      10.0.1.201     10.0.1.202
//
// With the kernel and one vxmesh mode, the runs are interleaved (run r: each metric through the
// kernel, then through vxmesh) so that the shared machine's other load weighs on both sides of a
// ratio alike; with several vxmesh modes they run one mode after the other.
// Per mode and run: iperf3 TCP 1 stream, TCP 4 streams, UDP 64-byte datagrams at full speed
// (delivered packets/s = what the receiver got), and ping latency (500 probes 2 ms apart,
// p50/p99 of the per-packet RTTs). CPU: busy seconds of the whole machine from /proc/stat
// around each run (iperf3, softirq, agents: everything the transfer cost), and the agents' own
// utime+stime; both are reported per GB moved. The table shows medians with [min–max] and the
// ratio vxmesh/kernel; the same goes to bench/results/overlay-<ISO time>.json.
//
// Everything lives in namespaces named after this run's prefix and is deleted at the end,
// also on failure or Ctrl-C (see src/lab/netns.ts).

import { writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { iperf3, ping, quantile, readMachineCpu, type Iperf3Result } from '../src/lab/netns.js';
import { OverlayTopology, missingAgentPieces, type AgentStats } from '../src/lab/overlay-topology.js';
import { parseBenchArgs } from './args.js';
import { summarize, fmt, cell, resultsFile } from './stats.js';

type Mode = 'kernel' | 'vxmesh' | 'vxmesh-nooffload';
const ALL_MODES: readonly Mode[] = ['kernel', 'vxmesh', 'vxmesh-nooffload'];
const MODE_TITLE: Record<Mode, string> = { kernel: 'kernel', vxmesh: 'vxmesh', 'vxmesh-nooffload': 'vxmesh (offloads off)' };

interface Args {
  runs: number;
  seconds: number;
  modes: Mode[];
  metrics: Metric[];
}

function parseArgs(argv: readonly string[]): Args {
  // --metrics picks the measurements (all by default): e.g. only udp64 while tuning small packets.
  const rest = [...argv];
  let metrics: Metric[] = [...METRICS];
  const at = rest.findIndex((a) => a === '--metrics' || a.startsWith('--metrics='));
  if (at >= 0) {
    const arg = rest[at]!;
    const text = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : rest[at + 1];
    rest.splice(at, arg.includes('=') ? 1 : 2);
    metrics = String(text ?? '').split(',').map((m) => {
      if (!(METRICS as readonly string[]).includes(m)) throw new Error(`Unknown --metrics value ${m}: use ${METRICS.join(', ')}`);
      return m as Metric;
    });
  }
  const a = parseBenchArgs<Mode>(rest, { flag: 'modes', all: ALL_MODES, usage: 'usage: npm run bench:overlay -- [--runs N (3)] [--seconds S (5)] [--modes kernel,vxmesh,vxmesh-nooffload] [--metrics tcp1,tcp4,udp64,ping]' });
  return { runs: a.runs, seconds: a.seconds, modes: a.selected, metrics };
}

// ── one measurement ────────────────────────────────────────────────────────────────────────

interface Endpoints {
  clientNs: string;
  serverNs: string;
  address: string;
  /** PIDs whose CPU we account separately (the agents); empty for the kernel. */
  agentPids: () => number[];
  agentCpu: () => number;
}

interface Sample {
  /** The headline value: Gbit/s, delivered packets/s, or RTT µs. */
  value: number;
  unit: string;
  bytes?: number;
  machineCpuSeconds?: number;
  agentCpuSeconds?: number;
  extra?: Record<string, number | undefined>;
}

type Metric = 'tcp1' | 'tcp4' | 'udp64' | 'ping';
const METRICS: readonly Metric[] = ['tcp1', 'tcp4', 'udp64', 'ping'];

async function measure(topology: OverlayTopology, ep: Endpoints, metric: Metric, seconds: number): Promise<Sample[]> {
  const lab = topology.lab;
  if (metric === 'ping') {
    const result = await ping(lab, ep.clientNs, ep.address, { count: 500, intervalS: 0.002, waitS: 1, deadlineS: 20 });
    const rtts = result.rtts.map((ms) => ms * 1000);
    return [
      { value: quantile(rtts, 0.5), unit: 'µs', extra: { sent: result.sent, received: result.received } },
      { value: quantile(rtts, 0.99), unit: 'µs' },
    ];
  }
  const cpu0 = readMachineCpu();
  const agent0 = ep.agentCpu();
  let r: Iperf3Result;
  if (metric === 'udp64') {
    r = await iperf3(lab, { serverNs: ep.serverNs, clientNs: ep.clientNs, address: ep.address, seconds, udp: true, length: 64, bitrate: '0' });
  } else {
    r = await iperf3(lab, { serverNs: ep.serverNs, clientNs: ep.clientNs, address: ep.address, seconds, parallel: metric === 'tcp4' ? 4 : undefined });
  }
  const cpu1 = readMachineCpu();
  const agentCpuSeconds = ep.agentPids().length ? ep.agentCpu() - agent0 : undefined;
  const machineCpuSeconds = cpu1.busy - cpu0.busy;
  const extra: Record<string, number | undefined> = { retransmits: r.retransmits, hostCpuPercent: r.cpu?.hostTotal, remoteCpuPercent: r.cpu?.remoteTotal };
  if (metric === 'udp64') {
    const pps = (r.udp?.receivedPackets ?? 0) / (r.seconds || seconds);
    Object.assign(extra, { packetsSent: r.udp?.packets, packetsReceived: r.udp?.receivedPackets, lostPercent: r.udp?.lostPercent });
    return [{ value: pps, unit: 'pkt/s', bytes: r.bytes, machineCpuSeconds, agentCpuSeconds, extra }];
  }
  return [{ value: r.bitsPerSecond / 1e9, unit: 'Gbit/s', bytes: r.bytes, machineCpuSeconds, agentCpuSeconds, extra }];
}

// ── the table ──────────────────────────────────────────────────────────────────────────────

interface Row {
  metric: string;
  unit: string;
  /** true when a larger value is better (throughput), false for latency and CPU cost. */
  higherIsBetter: boolean;
  values: Partial<Record<Mode, number[]>>;
}




function ratio(row: Row, mode: Mode): number | undefined {
  const a = summarize(row.values[mode]);
  const k = summarize(row.values.kernel);
  if (!a || !k || k.median === 0) return undefined;
  return a.median / k.median;
}

function renderTable(rows: readonly Row[], modes: readonly Mode[]): string {
  const header = ['metric', ...modes.map((m) => `${MODE_TITLE[m]} median [min–max]`)];
  for (const m of modes) if (m !== 'kernel' && modes.includes('kernel')) header.push(`${MODE_TITLE[m]}/kernel`);
  const body = rows.map((row) => {
    const line = [`${row.metric} (${row.unit})`, ...modes.map((m) => cell(row.values[m]))];
    for (const m of modes) {
      if (m === 'kernel' || !modes.includes('kernel')) continue;
      const r = ratio(row, m);
      line.push(r === undefined ? 'n/a' : `${r.toFixed(3)}×`);
    }
    return line;
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const render = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [render(header), widths.map((w) => '─'.repeat(w)).join('  '), ...body.map(render)].join('\n');
}

// ── main ───────────────────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('The overlay bench needs root (network namespaces, TUN devices): run it with sudo');
  const startedAt = new Date();
  const missing = missingAgentPieces();
  let modes = args.modes;
  if (missing && modes.some((m) => m !== 'kernel')) {
    console.log(`NOTE: ${missing}; measuring the kernel baseline only.`);
    modes = modes.filter((m) => m === 'kernel');
  }
  // CPU figures are for the whole machine: anything else running skews them (and throughput).
  const quiet0 = readMachineCpu();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const quiet1 = readMachineCpu();
  const busyBeforeStart = (quiet1.busy - quiet0.busy) / Math.max(1e-9, quiet1.busy - quiet0.busy + quiet1.idle - quiet0.idle);
  if (busyBeforeStart > 0.1) {
    console.log(`WARNING: the machine was ${(busyBeforeStart * 100).toFixed(0)} % busy before the bench started; throughput and CPU figures will be skewed (see top).`);
  }
  console.log(`overlay bench: modes ${modes.join(', ')}; ${args.runs} run(s) of ${args.seconds} s per metric; ${cpus().length} CPUs, Linux ${release()}, Node ${process.version}`);

  const topology = await OverlayTopology.build({ hosts: 2, tasksPerHost: 1, kernelBaseline: true });
  const rows: Row[] = [
    { metric: 'TCP 1 stream', unit: 'Gbit/s', higherIsBetter: true, values: {} },
    { metric: 'TCP 1 stream machine CPU', unit: 's/GB', higherIsBetter: false, values: {} },
    { metric: 'TCP 1 stream agent CPU', unit: 's/GB', higherIsBetter: false, values: {} },
    { metric: 'TCP 4 streams', unit: 'Gbit/s', higherIsBetter: true, values: {} },
    { metric: 'TCP 4 streams machine CPU', unit: 's/GB', higherIsBetter: false, values: {} },
    { metric: 'TCP 4 streams agent CPU', unit: 's/GB', higherIsBetter: false, values: {} },
    { metric: 'UDP 64 B delivered', unit: 'pkt/s', higherIsBetter: true, values: {} },
    { metric: 'UDP 64 B machine CPU', unit: 's/GB', higherIsBetter: false, values: {} },
    { metric: 'ping RTT p50', unit: 'µs', higherIsBetter: false, values: {} },
    { metric: 'ping RTT p99', unit: 'µs', higherIsBetter: false, values: {} },
  ];
  const push = (metric: string, mode: Mode, value: number | undefined): void => {
    if (value === undefined || !Number.isFinite(value)) return;
    const row = rows.find((r) => r.metric === metric)!;
    (row.values[mode] ??= []).push(value);
  };
  const samples: Record<string, unknown[]> = {};
  const agentStats: Record<string, Record<string, AgentStats | undefined>> = {};
  const failures: { mode: Mode; run?: number; metric?: string; error: string }[] = [];

  /** One measurement of one metric through one mode: recorded in rows and samples, and printed. */
  const measureOne = async (mode: Mode, ep: Endpoints, run: number, metric: Metric): Promise<void> => {
    try {
      const result = await measure(topology, ep, metric, args.seconds);
      (samples[`${mode}/${metric}`] ??= []).push(...result.map((s) => ({ run, ...s })));
      const s = result[0]!;
      const gb = (s.bytes ?? 0) / 1e9;
      if (metric === 'tcp1' || metric === 'tcp4') {
        const name = metric === 'tcp1' ? 'TCP 1 stream' : 'TCP 4 streams';
        push(name, mode, s.value);
        if (gb > 0) {
          push(`${name} machine CPU`, mode, (s.machineCpuSeconds ?? NaN) / gb);
          if (s.agentCpuSeconds !== undefined) push(`${name} agent CPU`, mode, s.agentCpuSeconds / gb);
        }
      } else if (metric === 'udp64') {
        push('UDP 64 B delivered', mode, s.value);
        if (gb > 0) push('UDP 64 B machine CPU', mode, (s.machineCpuSeconds ?? NaN) / gb);
      } else {
        push('ping RTT p50', mode, result[0]!.value);
        push('ping RTT p99', mode, result[1]!.value);
      }
      const shown = metric === 'ping' ? `p50 ${fmt(result[0]!.value)} µs, p99 ${fmt(result[1]!.value)} µs` : `${fmt(s.value)} ${s.unit}, machine CPU ${fmt(s.machineCpuSeconds ?? NaN)} s${s.agentCpuSeconds !== undefined ? `, agents ${fmt(s.agentCpuSeconds)} s` : ''}`;
      console.log(`  ${MODE_TITLE[mode]} run ${run} ${metric}: ${shown}`);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      console.log(`  ${MODE_TITLE[mode]} run ${run} ${metric}: FAILED ${message}`);
      failures.push({ mode, run, metric, error: message });
    }
  };
  const kernelEndpoints = (): Endpoints => {
    const [a, b] = topology.baseline;
    return { clientNs: a!.overlayNs, serverNs: b!.overlayNs, address: b!.ipv4, agentPids: () => [], agentCpu: () => 0 };
  };
  /** Starts the agents for an agent mode; undefined (and the failure recorded) if they do not start. */
  const startMode = async (mode: Mode): Promise<Endpoints | undefined> => {
    topology.writeConfigs({ offloads: mode === 'vxmesh' });
    try {
      await topology.startAgents();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      console.log(`${MODE_TITLE[mode]}: agents did not start, skipping: ${message}`);
      failures.push({ mode, error: message });
      await topology.stopAgents(2000);
      return undefined;
    }
    return {
      clientNs: topology.task(0, 0).ns,
      serverNs: topology.task(1, 0).ns,
      address: topology.task(1, 0).ipv4,
      agentPids: () => topology.agents.map((a) => a.pid),
      agentCpu: () => topology.agents.reduce((sum, a) => sum + (a.cpuSeconds() ?? 0), 0),
    };
  };
  const stopMode = async (mode: Mode): Promise<void> => {
    const stats = await topology.stopAgents();
    agentStats[mode] = Object.fromEntries(stats);
    for (const [host, s] of stats) {
      const drops = Object.entries(s?.drops ?? {}).filter(([, n]) => n > 0);
      console.log(`  ${MODE_TITLE[mode]} agent ${host} exit: drops ${drops.length ? drops.map(([k, n]) => `${k}=${n}`).join(' ') : 'none'}`);
    }
  };

  try {
    console.log(`namespaces: ${topology.lab.prefix}-*\n${topology.diagram()}\n`);
    const agentModes = modes.filter((m) => m !== 'kernel');
    if (agentModes.length <= 1) {
      // Interleaved: run r measures every metric through the kernel and then through vxmesh, so
      // whatever else the (shared) machine is doing weighs on both sides of a ratio alike. The
      // idle agents stay up during the kernel's turn (no traffic reaches them).
      const eps = new Map<Mode, Endpoints>();
      for (const mode of modes) {
        const ep = mode === 'kernel' ? kernelEndpoints() : await startMode(mode);
        if (!ep) continue;
        // Warm up: resolve neighbours and let the agents settle before anything is timed.
        await ping(topology.lab, ep.clientNs, ep.address, { count: 3, intervalS: 0.1 });
        eps.set(mode, ep);
      }
      for (let run = 1; run <= args.runs; run++) {
        for (const metric of args.metrics) {
          for (const [mode, ep] of eps) await measureOne(mode, ep, run, metric);
        }
      }
      for (const mode of agentModes) if (eps.has(mode)) await stopMode(mode);
    } else {
      // Several agent configurations: one mode after the other (the agents restart per mode).
      for (const mode of modes) {
        const ep = mode === 'kernel' ? kernelEndpoints() : await startMode(mode);
        if (!ep) continue;
        await ping(topology.lab, ep.clientNs, ep.address, { count: 3, intervalS: 0.1 });
        for (let run = 1; run <= args.runs; run++) {
          for (const metric of args.metrics) await measureOne(mode, ep, run, metric);
        }
        if (mode !== 'kernel') await stopMode(mode);
      }
    }
  } finally {
    await topology.destroy();
  }

  console.log(`\n${renderTable(rows, modes)}\n`);
  // Per-run ratios (run r of vxmesh over run r of the kernel): meaningful when the runs were
  // interleaved, and they show how often a target is met, not just the medians'.
  const paired: Record<string, number[]> = {};
  for (const row of rows) {
    if (!row.higherIsBetter || !row.values.kernel) continue;
    for (const m of modes) {
      const v = row.values[m];
      if (m === 'kernel' || !v || v.length !== row.values.kernel.length) continue;
      const r = v.map((x, i) => x / row.values.kernel![i]!);
      paired[`${row.metric} ${m}/kernel`] = r;
      const sorted = [...r].sort((x, y) => x - y);
      console.log(`per-run ${row.metric} ${MODE_TITLE[m]}/kernel: ${r.map((x) => x.toFixed(2)).join(' ')} (median ${sorted[Math.floor((sorted.length - 1) / 2)]!.toFixed(3)}${sorted.length % 2 === 0 ? `–${sorted[sorted.length / 2]!.toFixed(3)}` : ''})`);
    }
  }
  if (failures.length) console.log(`${failures.length} measurement(s) failed; see "failures" in the JSON.`);
  const file = resultsFile('overlay', startedAt);
  const summary = rows.map((row) => ({
    metric: row.metric,
    unit: row.unit,
    higherIsBetter: row.higherIsBetter,
    ...Object.fromEntries(modes.map((m) => [m, { ...summarize(row.values[m]), values: row.values[m] ?? [] }])),
    ...Object.fromEntries(modes.filter((m) => m !== 'kernel').map((m) => [`ratio_${m}_vs_kernel`, ratio(row, m) ?? null])),
  }));
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        startedAt: startedAt.toISOString(),
        machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, kernel: release(), node: process.version },
        busyBeforeStart,
        options: { runs: args.runs, seconds: args.seconds, modes, metrics: args.metrics, requestedModes: args.modes, agentMissing: missing ?? null },
        summary,
        pairedRatios: paired,
        samples,
        agentStats,
        failures,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`results: ${file}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
