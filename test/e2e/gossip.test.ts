// SWIM gossip end to end: five `vxmesh gossip` processes in their own namespaces on one
// underlay bridge, default LAN settings, UDP and TCP 7946, every packet encrypted with the
// cluster key (AES-GCM) and compressed. One is killed (SIGKILL), one frozen (SIGSTOP) and
// resumed, one cut off by an nftables rule inside its own namespace; a node with another key
// is never admitted.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Lab, type LabProcess } from '../../src/lab/netns.js';
import { AGENT_MAIN, missingAgentPieces } from '../../src/lab/overlay-topology.js';

const skip = process.getuid?.() !== 0 ? 'gossip e2e needs root (network namespaces, nftables): run as root' : false;
const N = 5;
const addr = (i: number) => `198.51.100.${61 + i}`;

let lab: Lab | undefined;
let keyFile = '';
const nodes: { name: string; ns: string; proc: LabProcess }[] = [];

before(async () => {
  if (skip) return;
  const missing = missingAgentPieces();
  if (missing) throw new Error(missing);
  lab = new Lab();
  const dir = lab.makeTempDir();
  keyFile = join(dir, 'cluster.key');
  writeFileSync(keyFile, 'a3f1c2d4e5b60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90\n');
  await lab.addBridgeUnderlay();
  for (let i = 0; i < N; i++) {
    const ns = await lab.addNamespace(`g${i + 1}`);
    await lab.connectHost(ns, addr(i));
    const proc = lab.spawn(ns, [process.execPath, AGENT_MAIN, 'gossip', '--name', `n${i + 1}`, '--bind', addr(i), '--join', addr(0), '--seal', 'encrypt', '--key-file', keyFile, '--compress'], { lifetimeMs: 300_000 });
    nodes.push({ name: `n${i + 1}`, ns, proc });
  }
  await Promise.all(nodes.map((n) => n.proc.waitForLine((l) => l.includes('"event":"ready"'), 20_000)));
  // Everyone sees everyone alive.
  const deadline = Date.now() + 20_000;
  for (const n of nodes) {
    for (const other of nodes) {
      if (other === n) continue;
      await n.proc.waitForLine((l) => memberEvent(l, other.name, ['join', 'alive']), Math.max(1, deadline - Date.now()));
    }
  }
}, { timeout: 60_000 });

after(async () => {
  for (const n of nodes) if (n.proc.running) n.proc.kill('SIGKILL');
  await lab?.destroy();
});

function memberEvent(line: string, name: string, types: string[]): boolean {
  try {
    const e = JSON.parse(line) as { event?: string; type?: string; name?: string };
    return e.event === 'member' && e.name === name && types.includes(e.type ?? '');
  } catch {
    return false;
  }
}

/** Waits until every listed node reports `name` in one of `types`; returns the slowest time in ms. */
async function allSee(watchers: typeof nodes, name: string, types: string[], timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  const since = new Map(watchers.map((w) => [w, w.proc.lineCount]));
  const times = await Promise.all(watchers.map(async (w) => {
    await w.proc.waitForLine((l) => memberEvent(l, name, types), timeoutMs, { since: since.get(w)! });
    return Date.now() - t0;
  }));
  return Math.max(...times);
}

test('a killed node (SIGKILL) is declared dead by every other member within 15 s', { skip, timeout: 60_000 }, async () => {
  const victim = nodes[4]!;
  const others = nodes.slice(0, 4);
  const since = new Map(others.map((w) => [w, w.proc.lineCount]));
  victim.proc.kill('SIGKILL');
  const ms = await allSee(others, victim.name, ['dead'], 15_000);
  process.stdout.write(`# SIGKILL: ${victim.name} declared dead by all ${others.length} members after ${ms} ms\n`);
  void since;
});

test('a frozen node (SIGSTOP) is declared dead, and after SIGCONT it refutes and is alive again everywhere', { skip, timeout: 90_000 }, async () => {
  const frozen = nodes[3]!;
  const others = nodes.slice(0, 3);
  frozen.proc.kill('SIGSTOP');
  const dead = await allSee(others, frozen.name, ['dead'], 20_000);
  const since = others.map((w) => w.proc.lineCount);
  frozen.proc.kill('SIGCONT');
  const t0 = Date.now();
  await Promise.all(others.map((w, i) => w.proc.waitForLine((l) => memberEvent(l, frozen.name, ['alive', 'join']), 20_000, { since: since[i]! })));
  process.stdout.write(`# SIGSTOP: ${frozen.name} dead everywhere after ${dead} ms; alive again ${Date.now() - t0} ms after SIGCONT\n`);
  // It refuted with a higher incarnation and sees the others alive.
  const line = await frozen.proc.waitForLine((l) => l.includes('"event":"members"'), 5000, { since: (frozen.proc.kill('SIGUSR2'), frozen.proc.lineCount) });
  const view = JSON.parse(line) as { members: { name: string; state: string; incarnation: number }[] };
  const self = view.members.find((m) => m.name === frozen.name)!;
  assert.ok(self.incarnation > 0, 'the frozen node bumped its incarnation to refute');
  for (const o of others) assert.equal(view.members.find((m) => m.name === o.name)?.state, 'alive', `${frozen.name} sees ${o.name} alive`);
});

test('a node cut off by an nftables rule in its namespace is declared dead, and rejoins when the rule goes', { skip, timeout: 120_000 }, async () => {
  const cut = nodes[2]!;
  const others = [nodes[0]!, nodes[1]!, nodes[3]!];
  const rules = `table inet vxm_cut {
  chain in { type filter hook input priority 0; policy accept; udp dport 7946 drop; tcp dport 7946 drop; udp sport 7946 drop; tcp sport 7946 drop; }
  chain out { type filter hook output priority 0; policy accept; udp dport 7946 drop; tcp dport 7946 drop; udp sport 7946 drop; tcp sport 7946 drop; }
}`;
  const r = await lab!.exec(cut.ns, ['nft', '-f', '-'], { input: rules });
  assert.equal(r.code, 0, r.stderr);
  const dead = await allSee(others, cut.name, ['dead'], 20_000);
  const since = others.map((w) => w.proc.lineCount);
  await lab!.exec(cut.ns, ['nft', 'delete', 'table', 'inet', 'vxm_cut']);
  const t0 = Date.now();
  await Promise.all(others.map((w, i) => w.proc.waitForLine((l) => memberEvent(l, cut.name, ['alive', 'join']), 45_000, { since: since[i]! })));
  process.stdout.write(`# partition: ${cut.name} dead everywhere after ${dead} ms; back ${Date.now() - t0} ms after the rule went\n`);
});

test('a node with another cluster key is never admitted; its packets are counted and dropped', { skip, timeout: 30_000 }, async () => {
  const other = join(lab!.makeTempDir(), 'other.key');
  writeFileSync(other, '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n');
  const ns = await lab!.addNamespace('g9');
  await lab!.connectHost(ns, addr(9));
  const intruder = lab!.spawn(ns, [process.execPath, AGENT_MAIN, 'gossip', '--name', 'n9', '--bind', addr(9), '--join', addr(0), '--seal', 'encrypt', '--key-file', other], { lifetimeMs: 60_000 });
  await intruder.waitForLine((l) => l.includes('"event":"ready"'), 10_000);
  await new Promise((r) => setTimeout(r, 3000));
  const seed = nodes[0]!;
  assert.ok(!seed.proc.lines.some((l) => memberEvent(l.text, 'n9', ['join', 'alive'])), 'n1 admitted a node with another key');
  const since = seed.proc.lineCount;
  seed.proc.kill('SIGUSR2');
  const line = await seed.proc.waitForLine((l) => l.includes('"event":"members"'), 5000, { since });
  const view = JSON.parse(line) as { sealDrops: { unknownKey: number; auth: number }; members: { name: string }[] };
  assert.ok(view.sealDrops.unknownKey + view.sealDrops.auth > 0, `no sealed-packet drops counted: ${JSON.stringify(view.sealDrops)}`);
  assert.ok(!view.members.some((m) => m.name === 'n9'));
  intruder.kill('SIGKILL');
});
