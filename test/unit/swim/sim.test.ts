// A small in-test simulation (the real deterministic simulator lives elsewhere): 10 cores on a
// lossless network with one 10 ms hop per step. One node crashes; every survivor must declare
// it dead within the bound the configuration implies, with Lifeguard on and off.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SwimCore, type Outbound } from '../../../src/control/swim/core.js';
import { resolveConfig, suspicionTimeoutMs, type SwimConfig } from '../../../src/control/swim/config.js';

function rng(seed: number): { next(): number } {
  let x = (seed * 2654435761) >>> 0 || 1;
  return { next: () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), x >>> 0) };
}

interface SimNode { name: string; addr: string; core: SwimCore; crashed: boolean }

function simulate(n: number, config: Partial<SwimConfig>, crashAt: number, runMs: number, seed: number) {
  const STEP = 10;
  const nodes: SimNode[] = [];
  const byAddr = new Map<string, SimNode>();
  for (let i = 0; i < n; i++) {
    const name = `n${i}`;
    const node: SimNode = { name, addr: `${name}:7946`, crashed: false, core: new SwimCore({ name, addr: `${name}:7946`, meta: { role: 'worker', addrs: [], labels: {} }, config, rng: rng(seed * 1000 + i), now: 0 }) };
    nodes.push(node);
    byAddr.set(node.addr, node);
  }
  for (const nd of nodes.slice(1)) nd.core.join(0, [nodes[0]!.addr]);
  const victim = nodes[n - 1]!;
  const deadAt = new Map<string, number>();
  const falseDeaths: string[] = [];
  let pending: { from: SimNode; out: Outbound }[] = [];
  const conns = new Map<number, { client: SimNode; stream: number }>();
  let nextConn = 1;
  for (let now = 0; now <= runMs; now += STEP) {
    if (now === crashAt) victim.crashed = true;
    // deliver what was sent during the previous step (one hop = one step)
    const batch = pending;
    pending = [];
    for (const { from, out } of batch) {
      if (out.transport === 'tcp' && out.replyTo !== undefined) {
        const c = conns.get(out.replyTo);
        conns.delete(out.replyTo);
        if (c !== undefined && !c.client.crashed) c.client.core.step(now, { from: from.addr, transport: 'tcp', bytes: out.bytes, stream: c.stream });
        continue;
      }
      const to = byAddr.get(out.to);
      if (to === undefined || to.crashed) {
        if (out.transport === 'tcp' && out.stream !== undefined) from.core.tcpFailed(now, out.stream);
        continue;
      }
      if (out.transport === 'tcp') {
        const id = nextConn++;
        conns.set(id, { client: from, stream: out.stream! });
        to.core.step(now, { from: from.addr, transport: 'tcp', bytes: out.bytes, stream: id });
      } else {
        to.core.step(now, { from: from.addr, transport: 'udp', bytes: out.bytes });
      }
    }
    for (const nd of nodes) {
      if (nd.crashed) continue;
      nd.core.tick(now);
      if (!nd.core.hasReady()) continue;
      const rd = nd.core.ready();
      nd.core.advance();
      for (const out of rd.messages) pending.push({ from: nd, out });
      for (const e of rd.events) {
        if (e.type !== 'dead') continue;
        if (e.member.name === victim.name) {
          if (!deadAt.has(nd.name)) deadAt.set(nd.name, e.at);
        } else {
          falseDeaths.push(`${nd.name} declared ${e.member.name} dead at ${e.at}`);
        }
      }
    }
  }
  const survivors = nodes.filter((x) => x !== victim);
  return { deadAt, survivors, falseDeaths, nodes };
}

for (const lifeguard of [true, false]) {
  test(`sim: 10 nodes, one crashes, all survivors mark it dead within the bound (lifeguard=${lifeguard})`, (t) => {
    const n = 10;
    const config: Partial<SwimConfig> = { lifeguard, pushPullIntervalMs: 30_000 };
    const cfg = resolveConfig(config);
    const crashAt = 5_000;
    const min = suspicionTimeoutMs(cfg.suspicionMult, n, cfg.probeIntervalMs);
    const maxSuspicion = lifeguard ? cfg.suspicionMaxTimeoutMult * min : min;
    // first failed probe within two round-robin passes (a reshuffle can put the victim last,
    // then first), + the probe period itself, + the suspicion timeout, + 2 s of gossip.
    const bound = 2 * (n - 1) * cfg.probeIntervalMs + cfg.probeIntervalMs + maxSuspicion + 2_000;
    const { deadAt, survivors, falseDeaths, nodes } = simulate(n, config, crashAt, crashAt + bound + 1_000, lifeguard ? 11 : 12);
    assert.deepEqual(falseDeaths, []);
    for (const s of survivors) {
      const t = deadAt.get(s.name);
      assert.ok(t !== undefined, `${s.name} never declared the victim dead`);
      assert.ok(t - crashAt <= bound, `${s.name} took ${t - crashAt} ms > bound ${bound} ms`);
      const v = s.core.member(nodes[n - 1]!.name);
      assert.ok(v === undefined || v.state === 'dead', 'dead, or already reaped'); 
      assert.equal(s.core.numAlive(), n - 1);
    }
    const worst = Math.max(...[...deadAt.values()].map((t) => t - crashAt));
    const first = Math.min(...[...deadAt.values()].map((t) => t - crashAt));
    t.diagnostic(`lifeguard=${lifeguard}: victim declared dead after ${first}..${worst} ms (bound ${bound} ms)`);
  });
}
