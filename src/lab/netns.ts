// A network lab on one machine: network namespaces as hosts and containers, veth pairs into a
// bridge namespace as the underlay, and helpers that drive real tools (ping, iperf3, socat)
// inside them. Modelled on wireguard-go's tests/netns.sh: every run owns a unique name prefix,
// creates everything under it, and deletes exactly what it created, by name, even on failure.
//
// Safety contract (DESIGN.md section 8):
//   - every namespace this module creates is named `${prefix}-${short}`, the prefix being
//     unique per Lab (process id + random bytes), so two runs never touch each other;
//   - interfaces are created directly inside those namespaces (`ip -n NS link add ... netns`),
//     never in the caller's namespace, so no name can collide with the machine's own links;
//   - every process is started through `ip netns exec` with an argv array (no shell), has a
//     lifetime bound, and is killed by the PID we got from spawn;
//   - destroy() is idempotent, and a process 'exit'/SIGINT/SIGTERM hook runs a synchronous
//     destroy for every Lab still alive.
//
// Nothing here sends traffic by itself: callers pass addresses, and the helpers only run
// inside namespaces of this Lab.

import { spawn as spawnChild, spawnSync, execFile, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// ── errors ─────────────────────────────────────────────────────────────────────────────────

/** A lab command failed (non-zero exit, timeout, or unexpected output). */
export class LabCommandError extends Error {
  readonly code = 'VXM_ERR_LAB_COMMAND';
  constructor(
    message: string,
    readonly argv: readonly string[],
    readonly result?: ExecResult,
  ) {
    super(message);
    this.name = 'LabCommandError';
  }
}

/** waitForLine gave up: the line did not come in time or the process exited first. */
export class LabWaitError extends Error {
  readonly code = 'VXM_ERR_LAB_WAIT';
  constructor(message: string) {
    super(message);
    this.name = 'LabWaitError';
  }
}

// ── plain command execution ────────────────────────────────────────────────────────────────

export interface ExecResult {
  /** Exit code, or null when the process died from a signal (see `signal`). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when our timeout killed it. */
  timedOut: boolean;
}

export interface ExecOptions {
  /** Kill the command (SIGKILL) after this long. Default 30 s. */
  timeoutMs?: number;
  /** Written to the command's stdin, then stdin is closed. */
  input?: string | Buffer;
}

/** Default bound for one command: every command we run is bounded in time. */
const DEFAULT_EXEC_TIMEOUT_MS = 30_000;
/** Captured output per stream; iperf3 -J of a long -P 4 run is well under this. */
const MAX_CAPTURE_BYTES = 32 * 1024 * 1024;

/** Runs argv (no shell) and resolves with its exit status and output; never rejects on a non-zero exit. */
export function run(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
  return new Promise((resolve) => {
    const child = execFile(
      argv[0]!,
      argv.slice(1),
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: MAX_CAPTURE_BYTES, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const err = error as (NodeJS.ErrnoException & { killed?: boolean; signal?: NodeJS.Signals | null }) | null;
        if (err && (err.code === 'ENOENT' || err.code === 'EACCES')) {
          // The program could not be started: report exit 127 like a shell would.
          resolve({ code: 127, signal: null, stdout: stdout ?? '', stderr: `${stderr ?? ''}${err.message}`, timedOut: false });
          return;
        }
        resolve({
          code: child.exitCode,
          signal: child.signalCode,
          stdout: stdout ?? '',
          stderr: stderr ?? '',
          timedOut: Boolean(err?.killed) && child.signalCode === 'SIGKILL',
        });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** Like run(), but rejects with LabCommandError unless the command exits 0. */
export async function runOk(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  const result = await run(argv, options);
  if (result.code !== 0) {
    const why = result.timedOut ? `timed out after ${options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS} ms` : `exit ${result.code ?? result.signal}`;
    throw new LabCommandError(`Command failed (${why}): ${argv.join(' ')}: ${result.stderr.trim() || result.stdout.trim()}`, argv, result);
  }
  return result;
}

// ── spawned processes ──────────────────────────────────────────────────────────────────────

export interface SpawnOptions {
  /** SIGKILL the process after this long no matter what (bounds every traffic generator). Default 15 min. */
  lifetimeMs?: number;
  /**
   * Capture stdout as text lines (default). With false, stdout is left as a raw stream on
   * `handle.child.stdout` (binary data such as a socat receiver's payload).
   */
  captureStdout?: boolean;
  /** Keep stdin open as a pipe (`handle.child.stdin`); default: stdin is /dev/null. */
  stdinPipe?: boolean;
  /** Extra environment variables. */
  env?: Record<string, string>;
}

export type LineStream = 'stdout' | 'stderr';
export type LinePredicate = (line: string, stream: LineStream) => boolean;

export interface WaitOptions {
  /** Only consider lines with index >= since (see `lineCount`). Default 0: all lines so far. */
  since?: number;
}

interface Waiter {
  predicate: LinePredicate;
  since: number;
  resolve: (line: string) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** A process started inside a namespace. Lines from stdout and stderr are kept in order. */
export class LabProcess {
  readonly pid: number;
  /** Every complete line seen so far, both streams, in arrival order. */
  readonly lines: { stream: LineStream; text: string }[] = [];
  stdout = '';
  stderr = '';
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  #partial: Record<LineStream, string> = { stdout: '', stderr: '' };
  #waiters = new Set<Waiter>();
  #done = false;
  #lifetimeTimer: NodeJS.Timeout;

  constructor(
    readonly child: ChildProcess,
    readonly label: string,
    lifetimeMs: number,
    captureStdout: boolean,
  ) {
    // Without a listener a spawn error would be thrown from the event loop.
    child.on('error', (error) => {
      this.stderr += `spawn error: ${error.message}\n`;
    });
    if (child.pid === undefined) throw new LabCommandError(`Spawn failed: ${label}`, [label]);
    this.pid = child.pid;
    if (captureStdout) child.stdout?.setEncoding('utf8').on('data', (chunk: string) => this.#onData('stdout', chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => this.#onData('stderr', chunk));
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        this.#flushPartial();
        this.exitCode = code;
        this.exitSignal = signal;
        this.#done = true;
        clearTimeout(this.#lifetimeTimer);
        for (const waiter of this.#waiters) {
          clearTimeout(waiter.timer);
          waiter.reject(new LabWaitError(`${this.label} exited (${code ?? signal}) before the awaited line; stderr: ${tail(this.stderr)}`));
        }
        this.#waiters.clear();
        resolve({ code, signal });
      });
    });
    // The lifetime bound is a safety net, not a control path: unref so it never holds the loop.
    this.#lifetimeTimer = setTimeout(() => this.kill('SIGKILL'), lifetimeMs);
    this.#lifetimeTimer.unref();
  }

  get running(): boolean {
    return !this.#done;
  }

  /** Number of complete lines so far; pass it as `since` to wait only for newer lines. */
  get lineCount(): number {
    return this.lines.length;
  }

  /** Sends a signal to this process (by PID). Ignores a process that is already gone. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.#done) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // ESRCH: already gone.
    }
  }

  /** Resolves with the first line (index >= since) matching predicate; rejects on timeout or exit. */
  waitForLine(predicate: LinePredicate, timeoutMs: number, options: WaitOptions = {}): Promise<string> {
    const since = options.since ?? 0;
    for (let i = since; i < this.lines.length; i++) {
      const line = this.lines[i]!;
      if (predicate(line.text, line.stream)) return Promise.resolve(line.text);
    }
    if (this.#done) {
      return Promise.reject(new LabWaitError(`${this.label} exited (${this.exitCode ?? this.exitSignal}) before the awaited line; stderr: ${tail(this.stderr)}`));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        since,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(new LabWaitError(`${this.label}: awaited line did not come within ${timeoutMs} ms; stdout: ${tail(this.stdout)} stderr: ${tail(this.stderr)}`));
        }, timeoutMs),
      };
      this.#waiters.add(waiter);
    });
  }

  /** SIGTERM, then SIGKILL if it has not exited after graceMs. Resolves when it has exited. */
  async stop(graceMs = 3000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.#done) return { code: this.exitCode, signal: this.exitSignal };
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  #onData(stream: LineStream, chunk: string): void {
    if (stream === 'stdout') {
      if (this.stdout.length < MAX_CAPTURE_BYTES) this.stdout += chunk;
    } else if (this.stderr.length < MAX_CAPTURE_BYTES) this.stderr += chunk;
    const text = this.#partial[stream] + chunk;
    const parts = text.split('\n');
    this.#partial[stream] = parts.pop()!;
    for (const part of parts) this.#pushLine(stream, part.replace(/\r$/, ''));
  }

  #flushPartial(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.#partial[stream] !== '') {
        this.#pushLine(stream, this.#partial[stream]);
        this.#partial[stream] = '';
      }
    }
  }

  #pushLine(stream: LineStream, text: string): void {
    const index = this.lines.length;
    this.lines.push({ stream, text });
    for (const waiter of this.#waiters) {
      if (index >= waiter.since && waiter.predicate(text, stream)) {
        clearTimeout(waiter.timer);
        this.#waiters.delete(waiter);
        waiter.resolve(text);
      }
    }
  }
}

function tail(text: string, max = 2000): string {
  const trimmed = text.trim();
  return trimmed.length > max ? `…${trimmed.slice(-max)}` : trimmed;
}

// ── the safety net ─────────────────────────────────────────────────────────────────────────
// Process-wide by nature: signal and exit hooks belong to the process, so the set of live
// Labs is the one piece of module state. Hooks are installed while at least one Lab lives.

const liveLabs = new Set<Lab>();
let hooksInstalled = false;

function onExit(): void {
  for (const lab of liveLabs) lab.destroySync();
}

function onSignal(signal: NodeJS.Signals): void {
  onExit();
  removeHooks();
  // Re-raise with the default disposition so the exit status says what happened.
  process.kill(process.pid, signal);
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', onExit);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
}

function removeHooks(): void {
  if (!hooksInstalled) return;
  hooksInstalled = false;
  process.off('exit', onExit);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('SIGHUP', onSignal);
}

// ── the lab ────────────────────────────────────────────────────────────────────────────────

export interface UnderlayLink {
  /** Full namespace name of the host. */
  ns: string;
  /** Interface name inside the host namespace (eth0, eth1, ...). */
  dev: string;
  /** The host's underlay IPv4 address (no prefix length). */
  address: string;
  /** The bridge port's name inside the switch namespace. */
  switchPort: string;
}

export interface LabOptions {
  /** Override the generated prefix (tests of the lab itself); must be short and unique. */
  prefix?: string;
}

/** The underlay subnet (RFC 5737 TEST-NET-2): never routed anywhere, only inside our namespaces. */
export const UNDERLAY_PREFIX_LENGTH = 24;
export const UNDERLAY_SUBNET = '198.51.100.0/24';

export class Lab {
  /** Unique per run: `vx` + pid in base 36 + 4 random hex digits (≤ 11 chars). */
  readonly prefix: string;
  /** Full namespace names this Lab created, in creation order. */
  readonly namespaces: string[] = [];
  readonly processes = new Set<LabProcess>();
  readonly tempDirs: string[] = [];
  /** The switch namespace once addBridgeUnderlay() ran. */
  switchNs: string | undefined;
  readonly bridge = 'br0';

  #destroyed = false;
  #switchPorts = 0;
  #linksPerNs = new Map<string, number>();

  constructor(options: LabOptions = {}) {
    this.prefix = options.prefix ?? `vx${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
    liveLabs.add(this);
    installHooks();
  }

  /** Full name of the namespace `short` (whether or not it exists). */
  nsName(short: string): string {
    return `${this.prefix}-${short}`;
  }

  /** Creates namespace `${prefix}-${short}` with lo up; returns its full name. */
  async addNamespace(short: string): Promise<string> {
    this.#assertAlive();
    if (!/^[a-z0-9-]+$/i.test(short)) throw new LabCommandError(`Invalid namespace name: ${short}`, [short]);
    const name = this.nsName(short);
    await runOk(['ip', 'netns', 'add', name]);
    this.namespaces.push(name);
    await this.ip(name, ['link', 'set', 'lo', 'up']);
    return name;
  }

  /** Creates the switch namespace ("sw") with bridge br0 up: the shared underlay segment. */
  async addBridgeUnderlay(): Promise<string> {
    if (this.switchNs !== undefined) return this.switchNs;
    const sw = await this.addNamespace('sw');
    await this.ip(sw, ['link', 'add', this.bridge, 'type', 'bridge']);
    // No STP forwarding delay: ports forward as soon as they are up.
    await this.ip(sw, ['link', 'set', this.bridge, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0']);
    await this.ip(sw, ['link', 'set', this.bridge, 'up']);
    this.switchNs = sw;
    return sw;
  }

  /**
   * Connects namespace `ns` to the underlay bridge with a veth pair created directly inside
   * the two namespaces, and gives the host side `address`/24 (an address of 198.51.100.0/24).
   */
  async connectHost(ns: string, address: string, options: { mtu?: number } = {}): Promise<UnderlayLink> {
    this.#assertOwned(ns);
    if (this.switchNs === undefined) await this.addBridgeUnderlay();
    const sw = this.switchNs!;
    if (!address.startsWith('198.51.100.')) throw new LabCommandError(`Underlay address must be in ${UNDERLAY_SUBNET}: ${address}`, [address]);
    const index = this.#linksPerNs.get(ns) ?? 0;
    this.#linksPerNs.set(ns, index + 1);
    const dev = `eth${index}`;
    const switchPort = `p${this.#switchPorts++}`;
    await this.ip(sw, ['link', 'add', switchPort, 'type', 'veth', 'peer', 'name', dev, 'netns', ns]);
    await this.ip(sw, ['link', 'set', switchPort, 'master', this.bridge]);
    if (options.mtu !== undefined) {
      await this.ip(sw, ['link', 'set', switchPort, 'mtu', String(options.mtu)]);
      await this.ip(ns, ['link', 'set', dev, 'mtu', String(options.mtu)]);
    }
    await this.ip(sw, ['link', 'set', switchPort, 'up']);
    await this.ip(ns, ['addr', 'add', `${address}/${UNDERLAY_PREFIX_LENGTH}`, 'dev', dev]);
    await this.ip(ns, ['link', 'set', dev, 'up']);
    return { ns, dev, address, switchPort };
  }

  /** `ip -n ns ARGS`, rejecting on failure. */
  async ip(ns: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    this.#assertOwned(ns);
    return runOk(['ip', '-n', ns, ...args], options);
  }

  /** `bridge -n ns ARGS`, rejecting on failure. */
  async bridgeCmd(ns: string, args: readonly string[]): Promise<ExecResult> {
    this.#assertOwned(ns);
    return runOk(['bridge', '-n', ns, ...args]);
  }

  /** Sets a sysctl inside ns (`key` like net.ipv4.ip_forward). */
  async sysctl(ns: string, key: string, value: string): Promise<void> {
    await this.execOk(ns, ['sysctl', '-q', '-w', `${key}=${value}`]);
  }

  /** Runs argv inside ns; resolves with code/stdout/stderr (never rejects on a non-zero exit). */
  async exec(ns: string, argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    this.#assertOwned(ns);
    return run(['ip', 'netns', 'exec', ns, ...argv], options);
  }

  /** Like exec() but rejects unless the command exits 0. */
  async execOk(ns: string, argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    this.#assertOwned(ns);
    return runOk(['ip', 'netns', 'exec', ns, ...argv], options);
  }

  /**
   * Starts argv inside ns in the background. `ip netns exec` enters the namespace and then
   * exec()s argv, so the PID we get is argv's own process: stop() and destroy() signal it
   * directly.
   */
  spawn(ns: string, argv: readonly string[], options: SpawnOptions = {}): LabProcess {
    this.#assertAlive();
    this.#assertOwned(ns);
    const captureStdout = options.captureStdout ?? true;
    const child = spawnChild('ip', ['netns', 'exec', ns, ...argv], {
      stdio: [options.stdinPipe ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: options.env ? { ...process.env, ...options.env } : process.env,
    });
    const handle = new LabProcess(child, `${ns}: ${argv.join(' ')}`, options.lifetimeMs ?? 15 * 60_000, captureStdout);
    this.processes.add(handle);
    void handle.exited.then(() => this.processes.delete(handle));
    return handle;
  }

  /** ping from inside ns (see the ping() function below). */
  ping(ns: string, addr: string, options: PingOptions = {}): Promise<PingResult> {
    return ping(this, ns, addr, options);
  }

  /** An iperf3 server/client pair (see iperf3() below). */
  iperf3(options: Iperf3Options): Promise<Iperf3Result> {
    return iperf3(this, options);
  }

  /** N MiB of random bytes over TCP, sha256 compared on both ends (see sha256Transfer() below). */
  sha256Transfer(options: TransferOptions): Promise<TransferResult> {
    return sha256Transfer(this, options);
  }

  /** A temporary directory removed by destroy(). */
  makeTempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), `${this.prefix}-`));
    this.tempDirs.push(dir);
    return dir;
  }

  /**
   * Stops every process this Lab spawned (SIGTERM, SIGKILL after graceMs), kills whatever is
   * still running inside this Lab's namespaces (only our own children can be there), deletes
   * the namespaces by name (already gone is fine) and the temp dirs. Idempotent.
   */
  async destroy(graceMs = 2000): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    await Promise.all([...this.processes].map((p) => p.stop(graceMs)));
    for (const ns of [...this.namespaces].reverse()) {
      const pids = await run(['ip', 'netns', 'pids', ns], { timeoutMs: 5000 });
      for (const pid of parsePids(pids.stdout)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await run(['ip', 'netns', 'del', ns], { timeoutMs: 10_000 });
    }
    this.namespaces.length = 0;
    this.#removeTempDirs();
    this.#forget();
  }

  /** Synchronous destroy for the exit/signal hooks: SIGKILL by PID, delete by name. */
  destroySync(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const p of this.processes) p.kill('SIGKILL');
    for (const ns of [...this.namespaces].reverse()) {
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5000 });
      for (const pid of parsePids(pids.stdout ?? '')) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000 });
    }
    this.namespaces.length = 0;
    this.#removeTempDirs();
    this.#forget();
  }

  #removeTempDirs(): void {
    for (const dir of this.tempDirs) rmSync(dir, { recursive: true, force: true });
    this.tempDirs.length = 0;
  }

  #forget(): void {
    liveLabs.delete(this);
    if (liveLabs.size === 0) removeHooks();
  }

  #assertAlive(): void {
    if (this.#destroyed) throw new LabCommandError(`Lab ${this.prefix} is destroyed`, []);
  }

  #assertOwned(ns: string): void {
    // Every command goes into a namespace of this Lab: the guard that keeps a typo from
    // configuring the machine's own namespace or another run's.
    if (!this.namespaces.includes(ns)) throw new LabCommandError(`Namespace ${ns} does not belong to lab ${this.prefix}`, [ns]);
  }
}

function parsePids(text: string): number[] {
  return text
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number)
    .filter((pid) => pid > 1 && pid !== process.pid);
}

// ── ping ───────────────────────────────────────────────────────────────────────────────────

export interface PingOptions {
  count?: number;
  /** ICMP payload size (-s). */
  size?: number;
  /** true: -M do (set DF, no local fragmentation); false: -M dont; undefined: ping's default. */
  df?: boolean;
  v6?: boolean;
  /** Seconds between probes (-i); below 0.2 needs root, which the lab has. Default 0.2. */
  intervalS?: number;
  /** Seconds to wait for each reply (-W). Default 1. */
  waitS?: number;
  /** Hard deadline in seconds (-w); default count*interval + wait + 2. */
  deadlineS?: number;
  /** Suppress per-packet lines (-q): only the summary is parsed. */
  quiet?: boolean;
}

export interface PingResult {
  sent: number;
  received: number;
  /** Per-reply RTTs in milliseconds, in arrival order. */
  rtts: number[];
  /** Lines reporting errors: "From X icmp_seq=N Frag needed ...", "ping: local error ...". */
  errors: string[];
  /** An MTU reported back by ICMP "Frag needed"/"Packet too big" or a local EMSGSIZE, if any. */
  mtu: number | undefined;
  code: number | null;
  output: string;
}

export function pingArgv(addr: string, options: PingOptions = {}): string[] {
  const count = options.count ?? 3;
  const intervalS = options.intervalS ?? 0.2;
  const waitS = options.waitS ?? 1;
  const deadlineS = options.deadlineS ?? Math.ceil(count * intervalS + waitS + 2);
  const argv = ['ping', options.v6 ? '-6' : '-4', '-n', '-c', String(count), '-i', String(intervalS), '-W', String(waitS), '-w', String(deadlineS)];
  if (options.size !== undefined) argv.push('-s', String(options.size));
  if (options.df !== undefined) argv.push('-M', options.df ? 'do' : 'dont');
  if (options.quiet) argv.push('-q');
  argv.push(addr);
  return argv;
}

/** Parses iputils ping output. */
export function parsePing(output: string, code: number | null): PingResult {
  const rtts: number[] = [];
  const errors: string[] = [];
  let sent = 0;
  let received = 0;
  let mtu: number | undefined;
  for (const line of output.split('\n')) {
    const rtt = /bytes from .* time[=<]([\d.]+) ms/.exec(line);
    if (rtt) rtts.push(Number(rtt[1]));
    const summary = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(line);
    if (summary) {
      sent = Number(summary[1]);
      received = Number(summary[2]);
    }
    if (/^From |^ping: |local error|Frag needed|too big|Unreachable|unreachable/i.test(line) && !/ statistics/.test(line)) errors.push(line.trim());
    const m = /mtu\s*[=:]\s*(\d+)/i.exec(line);
    if (m) mtu = Number(m[1]);
  }
  return { sent, received, rtts, errors, mtu, code, output };
}

/** Pings addr from inside ns; bounded by -c and -w. */
export async function ping(lab: Lab, ns: string, addr: string, options: PingOptions = {}): Promise<PingResult> {
  const argv = pingArgv(addr, options);
  const deadlineS = Number(argv[argv.indexOf('-w') + 1]);
  const result = await lab.exec(ns, argv, { timeoutMs: (deadlineS + 5) * 1000 });
  return parsePing(`${result.stdout}\n${result.stderr}`, result.code);
}

// ── iperf3 ─────────────────────────────────────────────────────────────────────────────────

export interface Iperf3Options {
  serverNs: string;
  clientNs: string;
  /** The server's address as seen from the client. */
  address: string;
  seconds?: number;
  port?: number;
  udp?: boolean;
  /** -l: UDP datagram payload / TCP write size in bytes. */
  length?: number;
  /** -b: target bitrate ("0" = unlimited for UDP). */
  bitrate?: string;
  /** -P: parallel streams. */
  parallel?: number;
  /** -R: the server sends. */
  reverse?: boolean;
  /** Extra seconds allowed beyond the test duration before everything is killed. */
  slackS?: number;
}

export interface Iperf3Result {
  /** Receiver-side goodput. */
  bitsPerSecond: number;
  /** Bytes the receiver got. */
  bytes: number;
  senderBitsPerSecond: number;
  senderBytes: number;
  seconds: number;
  /** TCP retransmits as reported by the sender (TCP only). */
  retransmits: number | undefined;
  /** UDP only: datagrams sent, lost and delivered (delivered = packets - lost, receiver side). */
  udp: { packets: number; lostPackets: number; receivedPackets: number; lostPercent: number; jitterMs: number } | undefined;
  cpu: { hostTotal: number; hostUser: number; hostSystem: number; remoteTotal: number; remoteUser: number; remoteSystem: number } | undefined;
  raw: unknown;
}

let nextIperfPort = 5201 + Math.floor(Math.random() * 1000);

/**
 * Runs an iperf3 server (one-off `-1`, foreground) in serverNs and a client with `-J` in
 * clientNs; returns the parsed client report. Both processes are bounded in time and stopped
 * whatever happens.
 */
export async function iperf3(lab: Lab, options: Iperf3Options): Promise<Iperf3Result> {
  const seconds = options.seconds ?? 3;
  const port = options.port ?? nextIperfPort++;
  const slackS = options.slackS ?? 20;
  const lifetimeMs = (seconds + slackS) * 1000;
  // --forceflush: stdout is a pipe, and "Server listening" must arrive before the client starts.
  const server = lab.spawn(options.serverNs, ['iperf3', '-s', '-1', '--forceflush', '-p', String(port)], { lifetimeMs: lifetimeMs + 5000 });
  try {
    await server.waitForLine((line) => line.includes('Server listening'), 10_000);
    const argv = ['iperf3', '-c', options.address, '-p', String(port), '-t', String(seconds), '-J', '--connect-timeout', '5000'];
    if (options.udp) argv.push('-u');
    if (options.length !== undefined) argv.push('-l', String(options.length));
    if (options.bitrate !== undefined) argv.push('-b', options.bitrate);
    if (options.parallel !== undefined) argv.push('-P', String(options.parallel));
    if (options.reverse) argv.push('-R');
    const result = await lab.exec(options.clientNs, argv, { timeoutMs: lifetimeMs });
    let json: IperfJson;
    try {
      json = JSON.parse(result.stdout) as IperfJson;
    } catch {
      throw new LabCommandError(`iperf3 client gave no JSON (exit ${result.code}, timed out: ${result.timedOut}): ${tail(result.stdout)} ${tail(result.stderr)}; server: ${tail(server.stdout)} ${tail(server.stderr)}`, argv, result);
    }
    if (json.error) throw new LabCommandError(`iperf3 failed: ${json.error}; server: ${tail(server.stdout)} ${tail(server.stderr)}`, argv, result);
    return parseIperf3(json, Boolean(options.udp));
  } finally {
    await server.stop(2000);
  }
}

interface IperfSum {
  seconds?: number;
  bytes?: number;
  bits_per_second?: number;
  retransmits?: number;
  packets?: number;
  lost_packets?: number;
  lost_percent?: number;
  jitter_ms?: number;
}

interface IperfJson {
  error?: string;
  end?: {
    sum?: IperfSum;
    sum_sent?: IperfSum;
    sum_received?: IperfSum;
    cpu_utilization_percent?: {
      host_total: number;
      host_user: number;
      host_system: number;
      remote_total: number;
      remote_user: number;
      remote_system: number;
    };
  };
}

export function parseIperf3(json: unknown, udp: boolean): Iperf3Result {
  const end = (json as IperfJson).end ?? {};
  const sent = end.sum_sent ?? end.sum ?? {};
  const received = end.sum_received ?? end.sum ?? {};
  const cpu = end.cpu_utilization_percent;
  let udpStats: Iperf3Result['udp'];
  if (udp) {
    // iperf3 ≥ 3.x: sum_received.packets is the receiver's count of expected datagrams
    // (highest sequence seen), lost_packets the gaps in it; delivered is the difference.
    const report = end.sum_received ?? end.sum ?? {};
    const packets = report.packets ?? 0;
    const lost = report.lost_packets ?? 0;
    udpStats = {
      packets: sent.packets ?? packets,
      lostPackets: lost,
      receivedPackets: Math.max(0, packets - lost),
      lostPercent: report.lost_percent ?? 0,
      jitterMs: report.jitter_ms ?? 0,
    };
  }
  return {
    bitsPerSecond: received.bits_per_second ?? 0,
    bytes: received.bytes ?? 0,
    senderBitsPerSecond: sent.bits_per_second ?? 0,
    senderBytes: sent.bytes ?? 0,
    seconds: received.seconds ?? sent.seconds ?? 0,
    retransmits: sent.retransmits,
    udp: udpStats,
    cpu: cpu && {
      hostTotal: cpu.host_total,
      hostUser: cpu.host_user,
      hostSystem: cpu.host_system,
      remoteTotal: cpu.remote_total,
      remoteUser: cpu.remote_user,
      remoteSystem: cpu.remote_system,
    },
    raw: json,
  };
}

// ── sha256 transfer ────────────────────────────────────────────────────────────────────────

export interface TransferOptions {
  fromNs: string;
  toNs: string;
  /** The receiver's address as seen from the sender (IPv4 or IPv6). */
  address: string;
  mebibytes: number;
  port?: number;
  /** Kill everything after this long. Default 120 s. */
  timeoutMs?: number;
}

export interface TransferResult {
  bytesSent: number;
  bytesReceived: number;
  sentSha256: string;
  receivedSha256: string;
  /** Same byte count and same digest on both sides. */
  ok: boolean;
  seconds: number;
  senderExit: number | null;
  receiverExit: number | null;
  senderStderr: string;
  receiverStderr: string;
}

let nextTransferPort = 40000 + Math.floor(Math.random() * 1000);

/**
 * Sends `mebibytes` MiB of random bytes over one TCP connection from fromNs to a socat
 * listener in toNs, hashing on both sides in this process (sender: the bytes we write into
 * socat's stdin; receiver: the bytes socat writes to its stdout).
 */
export async function sha256Transfer(lab: Lab, options: TransferOptions): Promise<TransferResult> {
  const port = options.port ?? nextTransferPort++;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const v6 = options.address.includes(':');
  const listen = v6 ? `TCP6-LISTEN:${port},reuseaddr` : `TCP4-LISTEN:${port},reuseaddr`;
  const connect = v6 ? `TCP6:[${options.address}]:${port},connect-timeout=5` : `TCP4:${options.address}:${port},connect-timeout=5`;
  const started = Date.now();

  const receiver = lab.spawn(options.toNs, ['socat', '-d', '-d', '-u', listen, 'STDOUT'], { lifetimeMs: timeoutMs, captureStdout: false });
  const receivedHash = createHash('sha256');
  let bytesReceived = 0;
  receiver.child.stdout!.on('data', (chunk: Buffer) => {
    bytesReceived += chunk.length;
    receivedHash.update(chunk);
  });
  let sender: LabProcess | undefined;
  try {
    await receiver.waitForLine((line) => /listening on/i.test(line), 10_000);
    sender = lab.spawn(options.fromNs, ['socat', '-u', 'STDIN', connect], { lifetimeMs: timeoutMs, stdinPipe: true });
    const stdin = sender.child.stdin!;
    stdin.on('error', () => {
      // EPIPE when socat died: the exit status and the byte count tell the story.
    });
    const sentHash = createHash('sha256');
    let bytesSent = 0;
    const chunkSize = 1024 * 1024;
    let senderGone = false;
    void sender.exited.then(() => {
      senderGone = true;
    });
    for (let i = 0; i < options.mebibytes && !senderGone; i++) {
      const chunk = randomBytes(chunkSize);
      sentHash.update(chunk);
      bytesSent += chunk.length;
      if (!stdin.write(chunk)) {
        await Promise.race([
          new Promise((resolve) => stdin.once('drain', resolve)),
          sender.exited,
          deadline(started + timeoutMs),
        ]);
        if (Date.now() - started > timeoutMs) break;
      }
    }
    stdin.end();
    const senderDone = await Promise.race([sender.exited, deadline(started + timeoutMs).then(() => undefined)]);
    // A sender that failed (connect timeout, reset) will not be followed by the receiver's EOF:
    // give the receiver a moment for what is in flight instead of the whole timeout.
    const receiverDeadline = senderDone?.code === 0 ? started + timeoutMs : Math.min(started + timeoutMs, Date.now() + 2000);
    const receiverDone = await Promise.race([receiver.exited, deadline(receiverDeadline).then(() => undefined)]);
    const sentSha256 = sentHash.digest('hex');
    const receivedSha256 = receivedHash.digest('hex');
    return {
      bytesSent,
      bytesReceived,
      sentSha256,
      receivedSha256,
      ok: bytesSent === options.mebibytes * chunkSize && bytesSent === bytesReceived && sentSha256 === receivedSha256,
      seconds: (Date.now() - started) / 1000,
      senderExit: senderDone?.code ?? null,
      receiverExit: receiverDone?.code ?? null,
      senderStderr: sender.stderr,
      receiverStderr: receiver.stderr,
    };
  } finally {
    await Promise.all([sender?.stop(1000), receiver.stop(1000)]);
  }
}

function deadline(at: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, Math.max(0, at - Date.now()));
    timer.unref();
  });
}

// ── neighbours, CPU accounting ─────────────────────────────────────────────────────────────

export interface Neighbour {
  dst: string;
  dev: string;
  lladdr: string | undefined;
  state: string[];
}

/** `ip -j -n ns neigh show [dev dev]`, parsed. */
export async function neighbours(lab: Lab, ns: string, dev?: string): Promise<Neighbour[]> {
  const args = ['-j', 'neigh', 'show'];
  if (dev) args.push('dev', dev);
  const result = await runOk(['ip', '-n', ns, ...args]);
  const list = JSON.parse(result.stdout || '[]') as { dst: string; dev?: string; lladdr?: string; state?: string[] }[];
  return list.map((n) => ({ dst: n.dst, dev: n.dev ?? dev ?? '', lladdr: n.lladdr, state: n.state ?? [] }));
}

let clockTicks: number | undefined;

/** Kernel clock ticks per second (USER_HZ) used by /proc/stat and /proc/PID/stat. */
export function userHz(): number {
  if (clockTicks === undefined) {
    const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 });
    const n = Number((out.stdout ?? '').trim());
    clockTicks = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return clockTicks;
}

export interface MachineCpu {
  /** Busy CPU seconds summed over all CPUs (user+nice+system+irq+softirq+steal). */
  busy: number;
  /** Idle seconds (idle+iowait) summed over all CPUs. */
  idle: number;
}

/** Reads /proc/stat's aggregate line: the whole machine, every namespace, kernel softirq included. */
export function readMachineCpu(): MachineCpu {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  const hz = userHz();
  return { busy: (user + nice + system + irq + softirq + steal) / hz, idle: (idle + iowait) / hz };
}

/** utime+stime of one process (all its threads) in seconds, or undefined if it is gone. */
export function readProcessCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: split after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / userHz();
  } catch {
    return undefined;
  }
}

// ── small statistics ───────────────────────────────────────────────────────────────────────

/** The q-quantile (0..1) of values by nearest rank; NaN for an empty list. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
