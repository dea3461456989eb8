// Golden transcripts for the SWIM core: 2-5 cores wired through a tiny deterministic router.
// Run with VXM_REWRITE=1 to regenerate test/unit/swim/testdata/*.txt, then review the diff.
//
// Commands (a file is one scenario; time only moves forward):
//   add-nodes n=3 [lifeguard=false] [tcp=false] [pushpull=ms]   create n1..nN (addr nK:7946)
//   join x seeds=(a,b)         x push-pulls with the seeds' addresses (nothing delivered yet)
//   tick [t=ms]                advance time by t, tick every live node; prints nothing
//   deliver [all]              deliver every queued packet once (all: until quiet), one line each
//   run t=ms [log=events|msgs|none] [from=x] [only=(types)]  10 ms steps of tick + deliver-all
//   drop from=x to=y [tcp]     drop x->y packets (udp only unless tcp) until `undrop`
//   crash x / partition x / heal x
//   members x / events x / health x / user x / counters x keys=(a,b)
//   broadcast x key=k payload=s / leave x / update-meta x role=r
//   probe-order x              where x's next probes go (from its round-robin list)

import { test } from 'node:test';
import { arg, intArg, runDataDriven, type DataDrivenCase } from '../../util/datadriven.js';
import { decodePacket, describeMessage } from '../../../src/control/swim/codec.js';
import { SwimCore, type Inbound, type MemberEvent, type Outbound, type SwimDelegate } from '../../../src/control/swim/core.js';
import type { SwimConfig } from '../../../src/control/swim/config.js';

/** mulberry32: a tiny seeded uint32 generator. */
function rng(seed: number): { next(): number } {
  let a = seed >>> 0;
  return {
    next(): number {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return (t ^ (t >>> 14)) >>> 0;
    },
  };
}

interface Node {
  name: string;
  addr: string;
  core: SwimCore;
  events: MemberEvent[];
  user: string[];
  crashed: boolean;
  partitioned: boolean;
}

interface Packet { from: Node; out: Outbound }

class Harness {
  now = 0;
  nodes = new Map<string, Node>();
  byAddr = new Map<string, Node>();
  pending: Packet[] = [];
  drops: { from: string; to: string; tcp: boolean }[] = [];
  /** router connection id -> the client side of a tcp exchange */
  conns = new Map<number, { client: Node; stream: number }>();
  nextConn = 100;

  node(c: DataDrivenCase, name?: string): Node {
    const n = name ?? [...c.args.keys()].find((k) => this.nodes.has(k));
    const node = n === undefined ? undefined : this.nodes.get(n);
    if (node === undefined) throw new Error(`${c.pos}: no such node ${n ?? '(none named)'}`);
    return node;
  }

  addNodes(c: DataDrivenCase): string {
    const n = intArg(c, 'n');
    const cfg: Partial<SwimConfig> = {
      lifeguard: arg(c, 'lifeguard', 'true') === 'true',
      tcpFallback: arg(c, 'tcp', 'true') === 'true',
      pushPullIntervalMs: intArg(c, 'pushpull', 0),
    };
    const start = this.nodes.size;
    for (let i = start + 1; i <= start + n; i++) {
      const name = `n${i}`;
      const node: Node = { name, addr: `${name}:7946`, core: undefined!, events: [], user: [], crashed: false, partitioned: false };
      const delegate: SwimDelegate = {
        localState: () => new TextEncoder().encode(`state-of-${name}`),
        mergeRemoteState: (_now, from, state) => node.user.push(`merge from=${from} ${new TextDecoder().decode(state)}`),
        notifyUser: (_now, from, payload) => node.user.push(`user from=${from} ${new TextDecoder().decode(payload)}`),
      };
      node.core = new SwimCore({ name, addr: node.addr, meta: { role: 'worker', addrs: [`10.0.0.${i}`], labels: {} }, config: cfg, rng: rng(i), delegate, now: this.now });
      this.nodes.set(name, node);
      this.byAddr.set(node.addr, node);
    }
    this.collect();
    return [...this.nodes.keys()].join(' ');
  }

  /** Move every core's ready() output into the network. */
  collect(): void {
    for (const n of this.nodes.values()) {
      if (!n.core.hasReady()) continue;
      const rd = n.core.ready();
      n.core.advance();
      n.events.push(...rd.events);
      if (n.crashed) continue;
      for (const out of rd.messages) this.pending.push({ from: n, out });
    }
  }

  describe(p: Packet, dropped: boolean): string {
    const to = this.byAddr.get(p.out.to)?.name ?? p.out.to;
    const dec = decodePacket(p.out.bytes);
    const body = dec.ok ? dec.msgs.map(describeMessage).join(' | ') : `<bad ${dec.reason}>`;
    const tr = p.out.transport === 'udp' ? '' : p.out.replyTo !== undefined ? ' tcp-reply' : ' tcp';
    return `${p.from.name} -> ${to}${tr} ${body}${dropped ? '  (dropped)' : ''}`;
  }

  blocked(from: Node, to: Node | undefined, tcp: boolean): boolean {
    if (to === undefined || to.crashed || to.partitioned || from.partitioned) return true;
    return this.drops.some((d) => d.from === from.name && d.to === to.name && (!tcp || d.tcp));
  }

  /** Deliver the packets queued now; what they cause waits for the next round. Returns lines. */
  deliverRound(lines: string[] | undefined, filter?: (p: Packet) => boolean): number {
    const batch = this.pending;
    this.pending = [];
    for (const p of batch) {
      const o = p.out;
      let to = this.byAddr.get(o.to);
      let inbound: Inbound;
      if (o.transport === 'tcp' && o.replyTo !== undefined) {
        const conn = this.conns.get(o.replyTo);
        this.conns.delete(o.replyTo);
        if (conn === undefined) continue;
        to = conn.client;
        inbound = { from: p.from.addr, transport: 'tcp', bytes: o.bytes, stream: conn.stream };
      } else if (o.transport === 'tcp') {
        const id = this.nextConn++;
        this.conns.set(id, { client: p.from, stream: o.stream! });
        inbound = { from: p.from.addr, transport: 'tcp', bytes: o.bytes, stream: id };
      } else {
        inbound = { from: p.from.addr, transport: 'udp', bytes: o.bytes };
      }
      const dropped = this.blocked(p.from, to, o.transport === 'tcp');
      if (lines !== undefined && (filter === undefined || filter(p))) lines.push(this.describe(p, dropped));
      if (dropped) {
        if (o.transport === 'tcp' && o.stream !== undefined && !p.from.crashed) p.from.core.tcpFailed(this.now, o.stream);
        if (o.transport === 'tcp' && o.replyTo === undefined) this.conns.delete(this.nextConn - 1);
        continue;
      }
      to!.core.step(this.now, inbound);
    }
    this.collect();
    return batch.length;
  }

  tickAll(dt: number): void {
    this.now += dt;
    for (const n of this.nodes.values()) if (!n.crashed) n.core.tick(this.now);
    this.collect();
  }

  run(c: DataDrivenCase): string {
    const total = intArg(c, 't');
    const log = arg(c, 'log', 'events');
    const from = c.args.get('from')?.[0];
    const only = c.args.get('only');
    const lines: string[] = [];
    const end = this.now + total;
    const seen = new Map<Node, number>();
    for (const n of this.nodes.values()) seen.set(n, n.events.length);
    while (this.now < end) {
      this.tickAll(10);
      const ml: string[] = [];
      for (let r = 0; r < 20 && this.pending.length > 0; r++) {
        this.deliverRound(log === 'msgs' ? ml : undefined, (p) => {
          if (from !== undefined && p.from.name !== from) return false;
          if (only === undefined) return true;
          const d = decodePacket(p.out.bytes);
          return d.ok && d.msgs.some((m) => only.includes(m.type));
        });
      }
      for (const l of ml) lines.push(`t=${this.now} ${l}`);
      if (log === 'events') {
        for (const n of this.nodes.values()) {
          const k = seen.get(n)!;
          for (const e of n.events.slice(k)) lines.push(`t=${e.at} ${n.name}: ${e.type} ${e.member.name} inc=${e.member.incarnation}`);
          seen.set(n, n.events.length);
        }
      }
    }
    lines.push(`now=${this.now}`);
    return lines.join('\n');
  }

  handle(c: DataDrivenCase): string {
    switch (c.cmd) {
      case 'add-nodes':
        return this.addNodes(c);
      case 'join': {
        const n = this.node(c);
        const seeds = (c.args.get('seeds') ?? []).map((s) => this.nodes.get(s)!.addr);
        n.core.join(this.now, seeds);
        this.collect();
        return 'ok';
      }
      case 'tick':
        this.tickAll(intArg(c, 't', 0));
        return `now=${this.now}`;
      case 'deliver': {
        const lines: string[] = [];
        const rounds = c.args.has('all') ? 50 : 1;
        for (let r = 0; r < rounds && this.pending.length > 0; r++) this.deliverRound(lines);
        return lines.length === 0 ? '(nothing)' : lines.join('\n');
      }
      case 'run':
        return this.run(c);
      case 'drop':
        this.drops.push({ from: arg(c, 'from'), to: arg(c, 'to'), tcp: c.args.has('tcp') });
        return 'ok';
      case 'undrop':
        this.drops = [];
        return 'ok';
      case 'crash':
        this.node(c).crashed = true;
        return 'ok';
      case 'partition':
        this.node(c).partitioned = true;
        return 'ok';
      case 'heal':
        this.node(c).partitioned = false;
        return 'ok';
      case 'members':
        return this.node(c)
          .core.members()
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((m) => `${m.name} ${m.state} inc=${m.incarnation} role=${m.meta.role}`)
          .join('\n');
      case 'events': {
        const n = this.node(c);
        const out = n.events.map((e) => `t=${e.at} ${e.type} ${e.member.name} inc=${e.member.incarnation} ${e.member.state}`);
        n.events = [];
        return out.length === 0 ? '(none)' : out.join('\n');
      }
      case 'user': {
        const n = this.node(c);
        const out = n.user;
        n.user = [];
        return out.length === 0 ? '(none)' : out.join('\n');
      }
      case 'health': {
        const n = this.node(c);
        const k = n.core.counters;
        return `score=${n.core.healthScore()} probes=${k['probes']} failures=${k['probe_failures']} refutes=${k['refutes']} next-deadline=${n.core.nextDeadline()}`;
      }
      case 'counters': {
        const n = this.node(c);
        return (c.args.get('keys') ?? []).map((k) => `${k}=${n.core.counters[k] ?? 0}`).join(' ');
      }
      case 'broadcast': {
        const n = this.node(c);
        n.core.broadcastUser(arg(c, 'key'), new TextEncoder().encode(arg(c, 'payload')));
        this.collect();
        return 'ok';
      }
      case 'leave': {
        const n = this.node(c);
        n.core.leave(this.now);
        this.collect();
        return `leave-complete=${n.core.leaveComplete}`;
      }
      case 'leave-complete':
        return `leave-complete=${this.node(c).core.leaveComplete}`;
      case 'update-meta': {
        const n = this.node(c);
        n.core.updateMeta(this.now, { role: arg(c, 'role'), addrs: [], labels: {} });
        this.collect();
        return `inc=${n.core.member(n.name)!.incarnation}`;
      }
      default:
        throw new Error(`${c.pos}: unknown command ${c.cmd}`);
    }
  }
}

const files = [
  'probe-ack', 'indirect-nack', 'suspect-dead', 'refute', 'buddy', 'tcp-fallback', 'leave', 'push-pull-join',
  'user-broadcast', 'awareness', 'plain-swim',
];

for (const f of files) {
  test(`swim transcript: ${f}`, () => {
    const h = new Harness();
    runDataDriven(`test/unit/swim/testdata/${f}.txt`, (c) => h.handle(c));
  });
}
