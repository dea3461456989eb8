// Load-balancer benchmark: a client, a balancer and three nginx backends in network namespaces
// (src/lab/lb-lab.ts), with the balancer's VIP implemented several ways, measured in the same
// run with wrk.
//
//   npm run bench:lb -- [--runs N (3)] [--seconds S (5)] [--variants direct,nftables,haproxy,vxmesh]
//
//   client ──── balancer (ip_forward) ──┬── backend 1  nginx :80
//   .2/28      .1/28                     ├── backend 2
//              VIPs .100 / .101 / .102   └── backend 3
//
// Variants: direct (wrk straight to backend 1 through the balancer's plain forwarding: the
// ceiling), nftables (numgen round-robin DNAT, kube-proxy nftables style), HAProxy (mode tcp,
// roundrobin, nbthread 1), vxmesh (one agent in the balancer namespace, TUNs in the client and
// backend namespaces, a round-robin VIP: see startVxmeshVip in lb-lab.ts).
// Metrics per variant and run: new connections/s (wrk -t2 -c50 -H 'Connection: close'), keep-alive
// requests/s (wrk -t2 -c50), and wrk's latency p50/p99 of both. Runs interleave the variants
// (run 1: a b c, run 2: a b c, ...) so drift hits them alike; each variant's VIP is set up
// before and torn down after its measurements, so nothing (conntrack, HAProxy) lingers into the
// next one. The table shows medians with [min–max] and ratios vs nftables and vs HAProxy; the
// same goes to bench/results/lb-<ISO time>.json.
//
// Everything lives in namespaces named after this run's prefix and is deleted at the end, also
// on failure or Ctrl-C (see src/lab/netns.ts); traffic only goes to addresses in them, and every
// wrk is bounded by -d (and killed after -d + 20 s).

import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { readMachineCpu } from '../src/lab/netns.js';
import {
  LB_CONNTRACK_TIME_WAIT_S,
  LB_PORT,
  LB_SYSCTLS_ALL,
  LB_SYSCTLS_BALANCER,
  VxmeshVipNotImplementedError,
  buildLbLab,
  destroyLbLab,
  spreadOverBackends,
  startHaproxyVip,
  startNftablesVip,
  startVxmeshVip,
  type LbLab,
  type LbVip,
} from '../src/lab/lb-lab.js';
import { parseBenchArgs } from './args.js';
import { summarize, fmt, resultsFile } from './stats.js';

type Variant = 'direct' | 'nftables' | 'haproxy' | 'vxmesh';
const ALL_VARIANTS: readonly Variant[] = ['direct', 'nftables', 'haproxy', 'vxmesh'];
const TITLE: Record<Variant, string> = { direct: 'direct', nftables: 'nftables', haproxy: 'HAProxy', vxmesh: 'vxmesh' };
const BASELINES: readonly Variant[] = ['nftables', 'haproxy'];
const WRK_THREADS = 2;
const WRK_CONNECTIONS = 50;

interface Args {
  runs: number;
  seconds: number;
  variants: Variant[];
}

function parseArgs(argv: readonly string[]): Args {
  const a = parseBenchArgs<Variant>(argv, { flag: 'variants', all: ALL_VARIANTS, usage: 'usage: npm run bench:lb -- [--runs N (3)] [--seconds S (5)] [--variants direct,nftables,haproxy,vxmesh]' });
  return { runs: a.runs, seconds: a.seconds, variants: a.selected };
}

// ── wrk ────────────────────────────────────────────────────────────────────────────────────

export interface WrkResult {
  requestsPerSecond: number;
  requests: number;
  seconds: number;
  /** Latency percentiles in ms from --latency. */
  p50: number;
  p75: number;
  p90: number;
  p99: number;
  errors: { connect: number; read: number; write: number; timeout: number; non2xx: number };
  /** Machine-wide busy CPU seconds during the run (every namespace, softirq included). */
  machineCpuSeconds: number;
  /** /proc/loadavg's 1-minute figure right after the run: above ~4 on 2 CPUs, something else was running too. */
  loadAverage1m: number;
}

const UNIT_TO_MS: Record<string, number> = { us: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };

function durationMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  return m ? Number(m[1]) * UNIT_TO_MS[m[2]!]! : Number.NaN;
}

export function parseWrk(output: string): Omit<WrkResult, 'machineCpuSeconds' | 'loadAverage1m'> {
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(output);
    return m ? durationMs(m[1]!) : Number.NaN;
  };
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(output);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  if (!rps) throw new Error(`wrk gave no Requests/sec: ${output.trim().slice(-500)}`);
  return {
    requestsPerSecond: Number(rps[1]),
    requests: total ? Number(total[1]) : Number.NaN,
    seconds: total ? durationMs(`${total[2]}${total[3]}`) / 1e3 : Number.NaN,
    p50: pct('50'),
    p75: pct('75'),
    p90: pct('90'),
    p99: pct('99'),
    errors: {
      connect: sock ? Number(sock[1]) : 0,
      read: sock ? Number(sock[2]) : 0,
      write: sock ? Number(sock[3]) : 0,
      timeout: sock ? Number(sock[4]) : 0,
      non2xx: non2xx ? Number(non2xx[1]) : 0,
    },
  };
}

async function wrk(lb: LbLab, address: string, seconds: number, close: boolean): Promise<WrkResult> {
  const argv = ['wrk', `-t${WRK_THREADS}`, `-c${WRK_CONNECTIONS}`, `-d${seconds}s`, '--latency', '--timeout', '2s'];
  if (close) argv.push('-H', 'Connection: close');
  argv.push(`http://${address}:${LB_PORT}/`);
  const cpu0 = readMachineCpu();
  const result = await lb.lab.exec(lb.clientNs, argv, { timeoutMs: (seconds + 20) * 1000 });
  const cpu1 = readMachineCpu();
  if (result.code !== 0) throw new Error(`wrk exit ${result.code ?? result.signal}${result.timedOut ? ' (timed out)' : ''}: ${(result.stderr || result.stdout).trim().slice(-500)}`);
  return { ...parseWrk(result.stdout), machineCpuSeconds: cpu1.busy - cpu0.busy, loadAverage1m: loadAverage1m() };
}

// ── variants ───────────────────────────────────────────────────────────────────────────────

/** Brings a variant up; resolves with the target address and a stop(). */
async function startVariant(lb: LbLab, variant: Variant): Promise<LbVip> {
  switch (variant) {
    case 'direct':
      return { kind: 'direct', address: lb.backends[0]!.address, port: LB_PORT, pids: [], stop: async () => undefined };
    case 'nftables':
      return startNftablesVip(lb);
    case 'haproxy':
      return startHaproxyVip(lb);
    case 'vxmesh':
      return startVxmeshVip(lb, lb.backends.map((b) => b.address));
  }
}

// ── the table ──────────────────────────────────────────────────────────────────────────────

type MetricKey = 'connRate' | 'connP50' | 'connP99' | 'kaRate' | 'kaP50' | 'kaP99';

interface Row {
  key: MetricKey;
  metric: string;
  unit: string;
  higherIsBetter: boolean;
  values: Partial<Record<Variant, number[]>>;
}



function ratio(row: Row, variant: Variant, baseline: Variant): number | undefined {
  const a = summarize(row.values[variant]);
  const b = summarize(row.values[baseline]);
  if (!a || !b || b.median === 0) return undefined;
  return a.median / b.median;
}

function renderTable(rows: readonly Row[], variants: readonly Variant[], unavailable: ReadonlyMap<Variant, string>): string {
  const baselines = BASELINES.filter((b) => variants.includes(b));
  const ratioCols: [Variant, Variant][] = [];
  for (const b of baselines) for (const v of variants) if (v !== b) ratioCols.push([v, b]);
  const header = ['metric', ...variants.map((v) => `${TITLE[v]} median [min–max]`), ...ratioCols.map(([v, b]) => `${TITLE[v]}/${TITLE[b]}`)];
  const body = rows.map((row) => [
    `${row.metric} (${row.unit})`,
    ...variants.map((v) => {
      const s = summarize(row.values[v]);
      if (s) return `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]`;
      return unavailable.get(v) ?? 'n/a';
    }),
    ...ratioCols.map(([v, b]) => {
      const r = ratio(row, v, b);
      return r === undefined ? 'n/a' : `${r.toFixed(2)}×`;
    }),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const render = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [render(header), widths.map((w) => '─'.repeat(w)).join('  '), ...body.map(render)].join('\n');
}

// ── main ───────────────────────────────────────────────────────────────────────────────────

/** Fraction of the machine busy over one second, from /proc/stat (as bench/overlay.ts does). */
async function busyFraction(): Promise<number> {
  const a = readMachineCpu();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const b = readMachineCpu();
  return (b.busy - a.busy) / Math.max(1e-9, b.busy - a.busy + b.idle - a.idle);
}

function loadAverage1m(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('The lb bench needs root (network namespaces): run it with sudo');
  const startedAt = new Date();
  const busyBeforeStart = await busyFraction();
  const busyWarning = busyBeforeStart > 0.1 ? `the machine was ${(busyBeforeStart * 100).toFixed(0)} % busy before the bench started; rates and latencies will be skewed (see top)` : null;
  if (busyWarning) console.log(`WARNING: ${busyWarning}.`);
  console.log(
    `lb bench: variants ${args.variants.join(', ')}; ${args.runs} run(s) of ${args.seconds} s per metric; wrk -t${WRK_THREADS} -c${WRK_CONNECTIONS}; ${cpus().length} CPUs, Linux ${release()}, Node ${process.version}`,
  );

  const rows: Row[] = [
    { key: 'connRate', metric: 'new connections/s', unit: 'conn/s', higherIsBetter: true, values: {} },
    { key: 'connP50', metric: 'Connection: close latency p50', unit: 'ms', higherIsBetter: false, values: {} },
    { key: 'connP99', metric: 'Connection: close latency p99', unit: 'ms', higherIsBetter: false, values: {} },
    { key: 'kaRate', metric: 'keep-alive requests/s', unit: 'req/s', higherIsBetter: true, values: {} },
    { key: 'kaP50', metric: 'keep-alive latency p50', unit: 'ms', higherIsBetter: false, values: {} },
    { key: 'kaP99', metric: 'keep-alive latency p99', unit: 'ms', higherIsBetter: false, values: {} },
  ];
  const push = (key: MetricKey, variant: Variant, value: number): void => {
    if (!Number.isFinite(value)) return;
    (rows.find((r) => r.key === key)!.values[variant] ??= []).push(value);
  };
  const samples: Record<string, unknown[]> = {};
  const spread: Record<string, Record<string, number>> = {};
  const unavailable = new Map<Variant, string>();
  const failures: { variant: Variant; run?: number; metric?: string; error: string }[] = [];

  const lb = await buildLbLab({ backends: 3 });
  try {
    console.log(`namespaces: ${lb.lab.prefix}-* (client ${lb.clientNs}, balancer ${lb.balancerNs}, backends ${lb.backends.map((b) => `${b.ns} ${b.address}`).join(', ')})\n`);
    for (let run = 1; run <= args.runs; run++) {
      for (const variant of args.variants) {
        if (unavailable.has(variant)) continue;
        let vip: LbVip;
        try {
          vip = await startVariant(lb, variant);
        } catch (error) {
          if (error instanceof VxmeshVipNotImplementedError) {
            unavailable.set(variant, 'n/a (vxmesh VIP not implemented yet)');
            console.log(`  ${TITLE[variant]}: n/a (vxmesh VIP not implemented yet)`);
          } else {
            const message = error instanceof Error ? error.message : String(error);
            console.log(`  ${TITLE[variant]} run ${run}: did not start: ${message}`);
            failures.push({ variant, run, error: message });
          }
          continue;
        }
        try {
          // Warm-up and sanity: every answer must come from a backend, and a VIP must use them all.
          const hits = await spreadOverBackends(lb, vip.address, 6, vip.port);
          if (run === 1) spread[variant] = Object.fromEntries([...hits].map(([k, n]) => [k === 0 ? 'none' : `backend${k}`, n]));
          if (hits.get(0)) throw new Error(`${hits.get(0)} of 6 probe requests to ${vip.address} got no backend answer`);
          for (const close of [true, false]) {
            const metric = close ? 'close' : 'keepalive';
            try {
              const r = await wrk(lb, vip.address, args.seconds, close);
              (samples[`${variant}/${metric}`] ??= []).push({ run, ...r });
              push(close ? 'connRate' : 'kaRate', variant, r.requestsPerSecond);
              push(close ? 'connP50' : 'kaP50', variant, r.p50);
              push(close ? 'connP99' : 'kaP99', variant, r.p99);
              const errs = Object.entries(r.errors).filter(([, n]) => n > 0);
              console.log(
                `  ${TITLE[variant]} run ${run} ${metric}: ${fmt(r.requestsPerSecond)}/s, p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms, machine CPU ${fmt(r.machineCpuSeconds)} s, load ${r.loadAverage1m.toFixed(1)}${errs.length ? `, errors ${errs.map(([k, n]) => `${k}=${n}`).join(' ')}` : ''}`,
              );
            } catch (error) {
              const message = error instanceof Error ? error.message : String(error);
              console.log(`  ${TITLE[variant]} run ${run} ${metric}: FAILED ${message}`);
              failures.push({ variant, run, metric, error: message });
            }
          }
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          console.log(`  ${TITLE[variant]} run ${run}: FAILED ${message}`);
          failures.push({ variant, run, error: message });
        } finally {
          await vip.stop();
        }
      }
    }
  } finally {
    await destroyLbLab(lb);
  }

  // Something that started during the bench (another build, another bench) shows up here.
  const busyAfterEnd = await busyFraction();
  const busyAfterWarning = busyAfterEnd > 0.1 ? `the machine was ${(busyAfterEnd * 100).toFixed(0)} % busy right after the bench ended: something else may have run during it` : null;
  console.log(`\n${renderTable(rows, args.variants, unavailable)}\n`);
  if (busyWarning) console.log(`WARNING: ${busyWarning}.`);
  if (busyAfterWarning) console.log(`WARNING: ${busyAfterWarning}.`);
  if (failures.length) console.log(`${failures.length} measurement(s) failed; see "failures" in the JSON.`);
  const file = resultsFile('lb', startedAt);
  const summary = rows.map((row) => ({
    metric: row.metric,
    unit: row.unit,
    higherIsBetter: row.higherIsBetter,
    ...Object.fromEntries(args.variants.map((v) => [v, unavailable.has(v) ? { unavailable: unavailable.get(v) } : { ...summarize(row.values[v]), values: row.values[v] ?? [] }])),
    ...Object.fromEntries(
      BASELINES.filter((b) => args.variants.includes(b)).flatMap((b) => args.variants.filter((v) => v !== b).map((v) => [`ratio_${v}_vs_${b}`, ratio(row, v, b) ?? null])),
    ),
  }));
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        startedAt: startedAt.toISOString(),
        machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, kernel: release(), node: process.version },
        busyBeforeStart,
        busyWarning,
        busyAfterEnd,
        busyAfterWarning,
        options: {
          runs: args.runs,
          seconds: args.seconds,
          variants: args.variants,
          wrk: { threads: WRK_THREADS, connections: WRK_CONNECTIONS },
          sysctls: { all: LB_SYSCTLS_ALL, balancer: LB_SYSCTLS_BALANCER, balancerConntrackTimeWaitS: LB_CONNTRACK_TIME_WAIT_S },
          backends: 3,
        },
        unavailable: Object.fromEntries(unavailable),
        summary,
        spread,
        samples,
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
