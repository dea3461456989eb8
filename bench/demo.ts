// The vxmesh overlay demo: `npm run demo` (as root).
//
// Builds a small swarm-like world on this one machine out of network namespaces, starts a
// vxmesh agent per host, shows traffic moving through the overlay (same host, across hosts,
// IPv6, and to a host that speaks VXLAN with the Linux kernel's own driver), a short iperf3,
// the agents' counters, and then removes everything it created.

import { iperf3, neighbours, ping, type PingResult } from '../src/lab/netns.js';
import { KERNEL_VXLAN_DEV, NETWORK_MTU, OverlayTopology, VNI, missingAgentPieces, type AgentStats } from '../src/lab/overlay-topology.js';

function say(text = ''): void {
  console.log(text);
}

function step(title: string, explanation: string): void {
  say(`\n== ${title} ==`);
  for (const line of explanation.split('\n')) say(`   ${line}`);
}

function pingLine(label: string, r: PingResult): string {
  const ok = r.received === r.sent && r.sent > 0;
  const rtts = r.rtts.map((x) => `${x.toFixed(3)}`).join(', ');
  return `   ${ok ? 'ok  ' : 'FAIL'} ${label}: ${r.received}/${r.sent} replies${rtts ? `, RTT ms: ${rtts}` : ''}${ok ? '' : `\n${r.output.trim().replace(/^/gm, '        ')}`}`;
}

function statsLine(host: string, s: AgentStats): string {
  const c = s.counters ?? {};
  const drops = Object.entries(s.drops ?? {}).filter(([, n]) => n > 0);
  return [
    `   ${host}: from tasks ${c.tun_rx_packets ?? '?'} packets (${c.tun_rx_bytes ?? '?'} B), to tasks ${c.tun_tx_packets ?? '?'}, ` +
      `VXLAN out ${c.udp_tx_packets ?? '?'}, VXLAN in ${c.udp_rx_datagrams ?? '?'}, same-host ${c.local_forward ?? '?'}`,
    `        ARP replies ${c.arp_replies ?? '?'}, ND replies ${c.nd_replies ?? '?'}, ICMP errors sent ${c.icmp_errors_sent ?? '?'}, ` +
      `drops ${drops.length ? drops.map(([k, n]) => `${k}=${n}`).join(' ') : 'none'}`,
  ].join('\n');
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    say('The demo creates network namespaces and TUN devices, which needs root. Run it with sudo: sudo npm run demo');
    process.exitCode = 1;
    return;
  }
  const missing = missingAgentPieces();
  if (missing) {
    say(`The demo needs the vxmesh agent: ${missing}.`);
    process.exitCode = 1;
    return;
  }

  step(
    'What this is',
    `vxmesh rebuilds Docker swarm's overlay network in userspace. Every "host" below is a network
namespace, and so is every "task" (a container). A vxmesh agent runs on each host: it gives each task
a TUN device, reads the packets the task sends, wraps them in VXLAN (UDP port 4789, VNI ${VNI}) and sends
them over the underlay to the right host, whose agent unwraps them into the destination task.
One extra host, "kh", does not run vxmesh at all: it uses the Linux kernel's own vxlan driver, to show
that vxmesh speaks standard VXLAN.`,
  );

  step(
    'Building the lab',
    `A Linux bridge in its own namespace plays the physical switch (the "underlay"); each host gets a
virtual cable (veth pair) into it. Task namespaces start empty: the agents will wire them.`,
  );
  const topology = await OverlayTopology.build({ hosts: 2, tasksPerHost: 2, kernelHost: true, log: (m) => say(`   - ${m}`) });
  try {
    step('The topology', `All names below start with this run's prefix "${topology.lab.prefix}"; nothing outside them is touched.`);
    say(topology.diagram());

    step(
      'Starting the agents',
      `One "vxmesh dataplane" process per host, each with a config file listing its tasks and where every
other overlay address lives. The agent creates the TUN devices, moves them into the task namespaces and
sets their addresses and MTU (${NETWORK_MTU}: 1500 minus 50 bytes of VXLAN headers).`,
    );
    await topology.startAgents();
    for (const agent of topology.agents) say(`   ${agent.host.name}: agent pid ${agent.pid} is ready, config ${agent.host.configPath}`);

    const lab = topology.lab;
    const h1t0 = topology.task(0, 0);
    const h1t1 = topology.task(0, 1);
    const h2t0 = topology.task(1, 0);
    const h2t1 = topology.task(1, 1);
    const kh = topology.kernelHost!;

    step('Pings', 'Each line is a real ping run inside a task namespace.');
    say(pingLine(`same host     ${h1t0.name} → ${h1t1.name} (${h1t1.ipv4}): never leaves h1, the agent hands it from one TUN to the other`, await ping(lab, h1t0.ns, h1t1.ipv4)));
    say(pingLine(`across hosts  ${h1t0.name} → ${h2t0.name} (${h2t0.ipv4}): VXLAN from 198.51.100.11 to 198.51.100.12`, await ping(lab, h1t0.ns, h2t0.ipv4)));
    say(pingLine(`IPv6          ${h1t0.name} → ${h2t1.name} (${h2t1.ipv6}): the same tunnel carries IPv6`, await ping(lab, h1t0.ns, h2t1.ipv6, { v6: true })));
    say(pingLine(`kernel interop kh → ${h1t0.name} (${h1t0.ipv4}): the kernel asks "who has ${h1t0.ipv4}?" over VXLAN and the agent answers`, await ping(lab, kh.overlayNs, h1t0.ipv4)));
    say(pingLine(`kernel interop ${h2t1.name} → kh (${kh.ipv4})`, await ping(lab, h2t1.ns, kh.ipv4)));
    say(pingLine(`kernel interop kh → ${h2t1.name} (${h2t1.ipv6}) over IPv6`, await ping(lab, kh.overlayNs, h2t1.ipv6, { v6: true })));

    step('What the kernel host learned', `No neighbour entries were configured on kh: these were learned from ARP/ND answers sent by vxmesh.`);
    for (const n of await neighbours(lab, kh.overlayNs, KERNEL_VXLAN_DEV)) say(`   ${n.dst.padEnd(12)} → ${n.lladdr ?? '?'} (${n.state.join(',')})`);

    step('Throughput', `iperf3 for 3 seconds from ${h1t0.name} to ${h2t0.name}, one TCP stream through both agents.`);
    try {
      const r = await iperf3(lab, { serverNs: h2t0.ns, clientNs: h1t0.ns, address: h2t0.ipv4, seconds: 3 });
      say(`   ${(r.bitsPerSecond / 1e9).toFixed(2)} Gbit/s received (${(r.bytes / 1e6).toFixed(0)} MB), ${r.retransmits ?? 0} retransmits`);
      say('   (for the kernel\'s own VXLAN on the same machine, run: npm run bench:overlay)');
    } catch (error) {
      say(`   iperf3 failed: ${(error as Error).message}`);
    }

    step('The agents\' counters', 'Asked with SIGUSR2: the agent prints its counters as one JSON line and keeps running.');
    for (const agent of topology.agents) say(statsLine(agent.host.name, await agent.stats()));

    step('Stopping', 'SIGTERM to each agent: it prints its final counters and removes its TUN devices.');
    for (const [host, s] of await topology.stopAgents()) say(s ? statsLine(host, s) : `   ${host}: no final stats line`);
  } finally {
    await topology.destroy();
    say(`\n== Cleaned up ==\n   Every namespace named ${topology.lab.prefix}-* is gone, and every process the demo started has exited.`);
  }
}

main().catch((error: unknown) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
