// Puts a task's TUN into the task's network namespace and configures it there, with iproute2.
// This runs at setup time only (one `ip` call per step), never on the data path.

import { execFileSync } from 'node:child_process';
import { SetupError } from '../../errors.js';
import { formatIPv4, formatIPv6, type EndpointConfig } from './config.js';

export function ip(args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new SetupError(`ip ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}: check that the namespace exists and that you are root`, { cause: err });
  }
}

/**
 * Moves the (already open) TUN into the endpoint's namespace, sets its addresses and MTU and
 * brings it up. The fd stays attached across the move, so the agent keeps reading it.
 */
export function placeTaskTun(ep: EndpointConfig, mtu: number): void {
  ip(['link', 'set', 'dev', ep.tun, 'netns', ep.netns]);
  const inNs = (args: string[]): string => ip(['-n', ep.netns, ...args]);
  inNs(['link', 'set', 'dev', ep.tun, 'mtu', String(mtu)]);
  inNs(['addr', 'add', `${formatIPv4(ep.ipv4)}/${ep.prefix4}`, 'dev', ep.tun]);
  if (ep.ipv6) inNs(['-6', 'addr', 'add', `${formatIPv6(ep.ipv6)}/${ep.prefix6}`, 'dev', ep.tun, 'nodad']);
  inNs(['link', 'set', 'dev', ep.tun, 'up']);
}
