// `vxmesh gossip`: one SWIM member on the gossip port, printing membership as JSON lines:
//   {"event":"ready",...}  {"event":"member","type":"dead","name":"n3",...}
// SIGUSR2 prints {"event":"members",...} (the view, health score, counters); SIGTERM leaves
// the cluster (a "left" broadcast) and exits. Standalone today; the daemon embeds the same
// GossipNode once the control plane exists.

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { ConfigError } from '../../errors.js';
import { Keyring, Sealer, type SealMode } from '../seal/index.js';
import type { SwimConfig } from '../swim/config.js';
import { GossipNode, formatAddr, parseAddr } from '../swim/driver/gossip-node.js';

export interface GossipCliOptions {
  name: string;
  bind: string;
  port: string;
  advertise?: string;
  join?: string;
  role: string;
  seal: string;
  keyFile?: string;
  clusterLabel?: string;
  swim?: string;
  compress?: boolean;
}

/** Keys from a file: one per line, hex (32/48/64 digits) or base64; the first is the primary. */
export function readKeys(path: string): Uint8Array[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError('--key-file', `cannot read ${path}: ${(e as Error).message}`);
  }
  const keys = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')).map((l, i) => {
    const k = /^[0-9a-f]+$/i.test(l) ? Buffer.from(l, 'hex') : Buffer.from(l, 'base64');
    if (![16, 24, 32].includes(k.length)) throw new ConfigError('--key-file', `line ${i + 1}: a key is 16, 24 or 32 bytes (hex or base64), got ${k.length}`);
    return new Uint8Array(k);
  });
  if (keys.length === 0) throw new ConfigError('--key-file', `${path} has no key: write one 32-byte key in hex (openssl rand -hex 32)`);
  return keys;
}

export async function runGossip(o: GossipCliOptions, emit: (e: Record<string, unknown>) => void): Promise<void> {
  const port = Number(o.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError('--port', `${o.port} is not a port number`);
  if (isIP(o.bind) === 0) throw new ConfigError('--bind', `${o.bind} is not an IP address`);
  const mode = o.seal as SealMode;
  if (!['none', 'auth', 'encrypt'].includes(mode)) throw new ConfigError('--seal', 'must be one of none, auth, encrypt');
  if (mode !== 'none' && !o.keyFile) throw new ConfigError('--key-file', `--seal ${mode} needs the cluster keys: --key-file FILE`);
  let swim: Partial<SwimConfig> = {};
  if (o.swim) {
    try {
      swim = JSON.parse(o.swim) as Partial<SwimConfig>;
    } catch (e) {
      throw new ConfigError('--swim', `not JSON: ${(e as Error).message}`);
    }
  }
  const sealer = new Sealer({ mode, maxPlainBytes: 16 << 20, compress: o.compress ?? false, ...(o.keyFile ? { keyring: new Keyring(readKeys(o.keyFile)) } : {}) });
  const node = new GossipNode({
    name: o.name, bindAddress: o.bind, port, sealer, config: swim,
    ...(o.advertise ? { advertiseAddress: o.advertise } : {}),
    ...(o.clusterLabel ? { label: o.clusterLabel } : {}),
    meta: { role: o.role, addrs: [o.advertise ?? o.bind], labels: {} },
    seeds: o.join ? o.join.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
      if (parseAddr(s)) return s;
      if (isIP(s) === 0) throw new ConfigError('--join', `${s} is not an address or address:port`);
      return formatAddr(s, port);
    }) : [],
    onEvent: (e) => emit({ event: 'member', type: e.type, name: e.member.name, addr: e.member.addr, incarnation: e.member.incarnation, state: e.member.state }),
  });
  const view = (): Record<string, unknown> => ({
    members: node.core.members().map((m) => ({ name: m.name, addr: m.addr, state: m.state, incarnation: m.incarnation })),
    health: node.core.healthScore(), counters: node.core.counters, driver: node.counters,
    sealDrops: sealer.drops,
  });
  let wake: () => void = () => {};
  let stopping = false;
  process.once('SIGTERM', () => { stopping = true; wake(); });
  process.once('SIGINT', () => { stopping = true; wake(); });
  process.on('SIGUSR2', () => emit({ event: 'members', ...view() }));
  await node.start();
  emit({ event: 'ready', name: o.name, addr: node.addr });
  if (!stopping) await new Promise<void>((r) => (wake = r));
  await node.leave();
  emit({ event: 'left', final: true, ...view() });
}
