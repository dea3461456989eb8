#!/usr/bin/env node
// The `vxmesh` command. Today: `vxmesh dataplane --config FILE` runs a node's overlay
// dataplane from a config file. Swarm's verbs (swarm init/join, node, network, service) come
// with the control plane.

import { Command, CommanderError } from 'commander';
import { VxmeshError } from '../../errors.js';
import { loadAgentConfig } from '../agent/config.js';
import { OverlayAgent } from '../agent/overlay-agent.js';
import { runGossip, type GossipCliOptions } from './gossip.js';
import { runManager, type ManagerCliOptions } from './manager.js';

// A reader that went away (`vxmesh dataplane ... | head -1`) must not kill the agent.
process.stdout.on('error', () => {});

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function fail(err: unknown): never {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown };
  const code = err instanceof VxmeshError ? err.code : typeof e.code === 'string' ? e.code : 'VXM_ERR_INTERNAL';
  const message = err instanceof Error ? err.message : String(err);
  emit({ event: 'error', code, message });
  process.stderr.write(`vxmesh: ${message}\n`);
  process.exit(1);
}

async function runDataplane(opts: { config: string }): Promise<void> {
  // Signals first: a stop during setup (ip commands can take seconds) still cleans up.
  let stopRequested = false;
  let wake: () => void = () => {};
  const stop = (): void => {
    stopRequested = true;
    wake();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  let agent: OverlayAgent | undefined;
  process.on('SIGUSR2', () => agent && emit({ event: 'stats', ...agent.stats() }));
  // SIGHUP: re-read the config file and apply what can change live (service backends).
  process.on('SIGHUP', () => {
    if (!agent) return;
    try {
      emit({ event: 'reloaded', ...agent.reload(loadAgentConfig(opts.config)) });
    } catch (err) {
      const code = err instanceof VxmeshError ? err.code : 'VXM_ERR_INTERNAL';
      emit({ event: 'reload-failed', code, message: err instanceof Error ? err.message : String(err) });
    }
  });
  process.on('uncaughtException', (err) => {
    agent?.close();
    fail(err);
  });

  const config = loadAgentConfig(opts.config);
  agent = new OverlayAgent(config);
  agent.dataplane.onDeviceError = (device, code) => emit({ event: 'device-error', device, code });
  agent.onPeer = (c) => emit({ event: 'peer', ...c, at: Date.now() });
  agent.start();
  try {
    await agent.listen();
  } catch (err) {
    agent.close();
    throw err;
  }
  emit({ event: 'ready', node: config.node, endpoints: agent.describeEndpoints(), underlay: agent.stats().underlay });
  if (!stopRequested) await new Promise<void>((resolve) => (wake = resolve));
  await agent.leave();
  const stats = agent.stats();
  agent.close();
  emit({ event: 'stats', final: true, ...stats });
  process.exit(0);
}

const program = new Command('vxmesh')
  .description('Userspace routing mesh: VXLAN overlay on TUN devices with kernel offloads')
  .exitOverride();

program
  .command('dataplane')
  .description('run this node\'s overlay dataplane from a config file (tasks\' namespaces must exist)')
  .requiredOption('-c, --config <file>', 'agent config (JSON): networks, local endpoints, peers')
  .action(async (opts: { config: string }) => {
    try {
      await runDataplane(opts);
    } catch (err) {
      fail(err);
    }
  });

program
  .command('gossip')
  .description('run one SWIM gossip member (UDP and TCP) and print membership changes as JSON lines')
  .requiredOption('--name <name>', 'this node\'s unique name')
  .requiredOption('--bind <address>', 'address to bind UDP and TCP on')
  .option('--port <port>', 'gossip port (swarm: 7946)', '7946')
  .option('--advertise <address>', 'address others reach this node at (default: --bind)')
  .option('--join <addrs>', 'comma-separated seeds, address[:port]')
  .option('--role <role>', 'role in the node metadata', 'worker')
  .option('--seal <mode>', 'none, auth (authenticated) or encrypt (AES-GCM)', 'none')
  .option('--key-file <file>', 'cluster keys, one per line (hex or base64), first = primary')
  .option('--cluster-label <label>', 'bind every message to this label, so clusters sharing a key stay apart')
  .option('--swim <json>', 'SWIM config overrides as JSON, e.g. {"probeIntervalMs":500}')
  .option('--compress', 'deflate packets and push-pull state when it makes them smaller')
  .action(async (opts: GossipCliOptions) => {
    try {
      await runGossip(opts, emit);
      process.exit(0);
    } catch (err) {
      fail(err);
    }
  });

program
  .command('manager')
  .description('run one Raft manager (TCP 2377) with the replicated key-value map and its HTTP API')
  .requiredOption('--id <n>', 'this manager\'s id (unique, never reused)')
  .requiredOption('--data-dir <dir>', 'where the WAL and snapshots live')
  .requiredOption('--peers <list>', 'every manager of the cluster as id=address, e.g. 1=10.0.0.1,2=10.0.0.2,3=10.0.0.3 (with --join: this one and the managers already running)')
  .option('--cluster-id <n>', 'cluster identity: managers of other clusters are refused', '1')
  .option('--raft-port <port>', 'raft port (swarm: 2377)', '2377')
  .option('--api-port <port>', 'HTTP API port', '2378')
  .option('--tick-ms <ms>', 'raft tick (default 25: election timeout 250-500 ms)')
  .option('--force-new-cluster', 'come back as the only voter from this manager\'s state (quorum lost for good)')
  .option('--join', 'a new manager for a running cluster: wait to be added (POST /v1/members on the leader) instead of bootstrapping')
  .action(async (opts: ManagerCliOptions) => {
    try {
      await runManager(opts, emit);
      process.exit(0);
    } catch (err) {
      fail(err);
    }
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  fail(err);
}
