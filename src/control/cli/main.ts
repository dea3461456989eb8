#!/usr/bin/env node
// The `vxmesh` command. Today: `vxmesh dataplane --config FILE` runs a node's overlay
// dataplane from a config file. Swarm's verbs (swarm init/join, node, network, service) come
// with the control plane.

import { Command, CommanderError } from 'commander';
import { VxmeshError } from '../../errors.js';
import { loadAgentConfig } from '../agent/config.js';
import { OverlayAgent } from '../agent/overlay-agent.js';

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function fail(err: unknown): never {
  const code = err instanceof VxmeshError ? err.code : ((err as { code?: string }).code ?? 'VXM_ERR_INTERNAL');
  const message = err instanceof Error ? err.message : String(err);
  emit({ event: 'error', code, message });
  process.stderr.write(`vxmesh: ${message}\n`);
  process.exit(1);
}

async function runDataplane(opts: { config: string }): Promise<void> {
  const config = loadAgentConfig(opts.config);
  const agent = new OverlayAgent(config);
  agent.start();
  emit({ event: 'ready', node: config.node, endpoints: agent.describeEndpoints(), underlay: agent.stats().underlay });
  process.on('SIGUSR2', () => emit({ event: 'stats', ...agent.stats() }));
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
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

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  fail(err);
}
