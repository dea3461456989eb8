// Raft benchmark: three vxmesh managers against a three-member etcd 3.4 cluster (Debian's
// etcd-server), same namespaces, same disk, same client, same run, through each one's HTTP
// JSON API (vxmesh's /v1/kv, etcd's v3 JSON gateway /v3/kv/put and /v3/kv/range):
//
//   npm run bench:raft -- [--runs N] [--seconds S] [--systems vxmesh,etcd]
//
//   sequential put latency p50/p99 (one client, 1000 puts after 1000 untimed ones, each waits for the last),
//   put throughput with 16 concurrent clients for S seconds,
//   linearizable read latency p50/p99, 1000 reads after 1000 untimed (vxmesh: ReadIndex; etcd: its default linearizable range).
//
// Both fsync their logs (vxmesh fdatasyncs every Ready that must sync; etcd its WAL). Clients
// talk to the leader directly in both systems, with keep-alive connections. Ratios are
// vxmesh/etcd; targets: p50 commit latency <= etcd's, throughput >= etcd's. Table + JSON.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, type LabProcess } from '../src/lab/netns.js';
import { AGENT_MAIN, missingAgentPieces } from '../src/lab/overlay-topology.js';
import { parseBenchArgs } from './args.js';
import { cell, resultsFile, summarize } from './stats.js';

type System = 'vxmesh' | 'etcd';
const ALL: readonly System[] = ['vxmesh', 'etcd'];
const addr = (i: number) => `198.51.100.${81 + i}`;
const CLIENT_ADDR = '198.51.100.99';

// The client, run in its own namespace: argv kind, host, port, phase, n-or-seconds, concurrency.
const CLIENT = `const [kind, host, port, phase, amount, conc] = process.argv.slice(1); const http = require('http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const b64 = (s) => Buffer.from(s).toString('base64');
function req(method, path, body) { return new Promise((ok, fail) => {
  const q = http.request({ host, port: Number(port), method, path, agent, headers: { 'content-type': 'application/json' } }, (r) => {
    let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => (r.statusCode === 200 ? ok(b) : fail(new Error(r.statusCode + ' ' + b)))); });
  q.on('error', fail); q.end(body); }); }
const put = (k, v) => kind === 'etcd' ? req('POST', '/v3/kv/put', JSON.stringify({ key: b64(k), value: b64(v) })) : req('PUT', '/v1/kv/' + k, v);
const get = (k) => kind === 'etcd' ? req('POST', '/v3/kv/range', JSON.stringify({ key: b64(k) })) : req('GET', '/v1/kv/' + k);
const value = 'x'.repeat(100);
const WARM = 1000;
(async () => {
  if (phase === 'seq' || phase === 'read') {
    const lat = []; const n = Number(amount);
    for (let i = 0; i < 50; i++) await put('warm' + i, value);
    // Untimed warm-up to steady state: V8 optimizes vxmesh's hot paths over the first ~1000
    // requests (the first 500 timed puts ran ~25% slower than the next 1000); etcd is compiled.
    for (let i = 0; i < WARM; i++) await (phase === 'seq' ? put('w' + i, value) : get('warm' + (i % 50)));
    for (let i = 0; i < n; i++) { const t = process.hrtime.bigint(); await (phase === 'seq' ? put('s' + i, value) : get('warm' + (i % 50))); lat.push(Number(process.hrtime.bigint() - t) / 1e6); }
    console.log(JSON.stringify({ lat }));
  } else {
    const end = Date.now() + Number(amount) * 1000; let done = 0; let errors = 0;
    await Promise.all(Array.from({ length: Number(conc) }, async (_, c) => { let i = 0;
      while (Date.now() < end) { try { await put('t' + c + '-' + (i++), value); done++; } catch { errors++; } } }));
    console.log(JSON.stringify({ opsPerSec: done / Number(amount), errors }));
  }
})().catch((e) => { console.error(String(e)); process.exit(1); });`;

interface RunResult {
  system: System;
  putP50: number;
  putP99: number;
  readP50: number;
  readP99: number;
  opsPerSec: number;
  errors: number;
}

function quant(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function startVxmesh(lab: Lab, nss: string[], dir: string): Promise<{ procs: LabProcess[]; leaderHost: string }> {
  const peers = nss.map((_, i) => `${i + 1}=${addr(i)}`).join(',');
  const procs = nss.map((ns, i) => lab.spawn(ns, [process.execPath, AGENT_MAIN, 'manager', '--id', String(i + 1), '--data-dir', join(dir, `m${i + 1}`), '--peers', peers], { lifetimeMs: 600_000 }));
  await Promise.all(procs.map((p) => p.waitForLine((l) => l.includes('"event":"ready"'), 20_000)));
  const end = Date.now() + 10_000;
  while (Date.now() < end) {
    for (let i = 0; i < procs.length; i++) {
      const last = procs[i]!.lines.filter((l) => l.text.includes('"event":"role"')).at(-1);
      if (last && last.text.includes('"StateLeader"')) return { procs, leaderHost: addr(i) };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('vxmesh: no leader within 10 s');
}

async function startEtcd(lab: Lab, nss: string[], dir: string, client: string): Promise<{ procs: LabProcess[]; leaderHost: string }> {
  const cluster = nss.map((_, i) => `e${i + 1}=http://${addr(i)}:2380`).join(',');
  const procs = nss.map((ns, i) => lab.spawn(ns, [
    'etcd', '--name', `e${i + 1}`, '--data-dir', join(dir, `e${i + 1}`),
    '--listen-peer-urls', `http://${addr(i)}:2380`, '--initial-advertise-peer-urls', `http://${addr(i)}:2380`,
    '--listen-client-urls', `http://${addr(i)}:2379`, '--advertise-client-urls', `http://${addr(i)}:2379`,
    '--initial-cluster', cluster, '--initial-cluster-state', 'new', '--initial-cluster-token', 'vxmesh-bench',
  ], { lifetimeMs: 600_000 }));
  const end = Date.now() + 30_000;
  while (Date.now() < end) {
    for (let i = 0; i < nss.length; i++) {
      const r = await lab.exec(client, ['curl', '-s', '-m', '2', '-X', 'POST', '-d', '{}', `http://${addr(i)}:2379/v3/maintenance/status`]);
      try {
        const st = JSON.parse(r.stdout) as { header?: { member_id?: string }; leader?: string };
        if (st.leader && st.header?.member_id === st.leader) return { procs, leaderHost: addr(i) };
      } catch {
        // not up yet
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`etcd: no leader within 30 s; stderr of e1: ${procs[0]!.stderr.slice(-500)}`);
}

async function runClient(lab: Lab, client: string, args: string[]): Promise<Record<string, unknown>> {
  const r = await lab.exec(client, ['node', '-e', CLIENT, ...args], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`client ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

async function one(lab: Lab, nss: string[], client: string, system: System, seconds: number): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), `vxm-bench-raft-${system}-`));
  let procs: LabProcess[] = [];
  try {
    const started = system === 'vxmesh' ? await startVxmesh(lab, nss, dir) : await startEtcd(lab, nss, dir, client);
    procs = started.procs;
    const port = system === 'vxmesh' ? '2378' : '2379';
    const seq = (await runClient(lab, client, [system, started.leaderHost, port, 'seq', '1000', '1'])).lat as number[];
    const tput = await runClient(lab, client, [system, started.leaderHost, port, 'tput', String(seconds), '16']);
    const read = (await runClient(lab, client, [system, started.leaderHost, port, 'read', '1000', '1'])).lat as number[];
    seq.sort((a, b) => a - b);
    read.sort((a, b) => a - b);
    return {
      system, putP50: quant(seq, 0.5), putP99: quant(seq, 0.99), readP50: quant(read, 0.5), readP99: quant(read, 0.99),
      opsPerSec: tput['opsPerSec'] as number, errors: tput['errors'] as number,
    };
  } finally {
    for (const p of procs) if (p.running) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2), {
    flag: 'systems', all: ALL,
    usage: 'npm run bench:raft -- [--runs N] [--seconds S] [--systems vxmesh,etcd]',
  });
  const missing = missingAgentPieces();
  if (missing) throw new Error(missing);
  if (args.selected.includes('etcd')) {
    try {
      execFileSync('etcd', ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error('etcd not found: install it with `apt-get install etcd-server` (sudo bash .ci/setup does)');
    }
  }
  const startedAt = new Date();
  const lab = new Lab();
  const results: RunResult[] = [];
  try {
    await lab.addBridgeUnderlay();
    const nss: string[] = [];
    for (let i = 0; i < 3; i++) {
      const ns = await lab.addNamespace(`r${i + 1}`);
      await lab.connectHost(ns, addr(i));
      nss.push(ns);
    }
    const client = await lab.addNamespace('rc');
    await lab.connectHost(client, CLIENT_ADDR);
    for (let run = 0; run < args.runs; run++) {
      // Alternate the order, so neither system always runs on a warmer (or busier) machine.
      const order = run % 2 === 0 ? args.selected : [...args.selected].reverse();
      for (const system of order) {
        const r = await one(lab, nss, client, system, args.seconds);
        results.push(r);
        console.log(`run ${run + 1} ${system}: put p50 ${r.putP50.toFixed(2)} ms p99 ${r.putP99.toFixed(2)} ms, ${r.opsPerSec.toFixed(0)} puts/s (16 clients), read p50 ${r.readP50.toFixed(2)} ms p99 ${r.readP99.toFixed(2)} ms`);
      }
    }
  } finally {
    await lab.destroy();
  }
  const col = (s: System, k: keyof RunResult): number[] => results.filter((r) => r.system === s).map((r) => r[k] as number);
  const rows: [string, keyof RunResult, 'lower' | 'higher'][] = [
    ['put latency p50 (ms)', 'putP50', 'lower'], ['put latency p99 (ms)', 'putP99', 'lower'],
    ['puts/s, 16 clients', 'opsPerSec', 'higher'],
    ['linearizable read p50 (ms)', 'readP50', 'lower'], ['linearizable read p99 (ms)', 'readP99', 'lower'],
  ];
  console.log(`\n3 managers, ${args.runs} run(s); median [min–max]; ratio = vxmesh/etcd`);
  console.log(`${'metric'.padEnd(30)}${'vxmesh'.padEnd(26)}${'etcd 3.4'.padEnd(26)}ratio`);
  const table: Record<string, unknown> = {};
  for (const [name, k, better] of rows) {
    const v = summarize(col('vxmesh', k))?.median, e = summarize(col('etcd', k))?.median;
    const ratio = v !== undefined && e !== undefined && e > 0 ? v / e : undefined;
    console.log(`${name.padEnd(30)}${cell(col('vxmesh', k)).padEnd(26)}${cell(col('etcd', k)).padEnd(26)}${ratio === undefined ? '-' : `${ratio.toFixed(2)}× (${better} is better)`}`);
    table[k] = { vxmesh: col('vxmesh', k), etcd: col('etcd', k), ratio };
  }
  const file = resultsFile('raft', startedAt);
  writeFileSync(file, `${JSON.stringify({ startedAt, runs: args.runs, seconds: args.seconds, results, table }, null, 2)}\n`);
  console.log(`\nJSON: ${file}`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
