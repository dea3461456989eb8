// The dataplane host: owns the batches and the read routines, and runs the pipeline on the
// event loop of the thread it lives on.
//
// Event-loop integration (the decision, see DESIGN.md section 3 note): every fd is watched
// with a level-triggered uv_poll; a readiness callback moves at most ONE batch (128 packets,
// or 128 GRO super-datagrams) and returns. If more is pending, libuv calls again on the next
// loop iteration, after timers and other I/O have had their turn, so gossip and raft timers
// on the same thread are never starved by a flood (smoltcp's poll_ingress_single, bounded
// work per turn). The agent measures the resulting timer lag (event-loop delay) and reports it.

import { C_DEVICE_ERRORS, C_TUN_RX_PACKETS, DataplaneCounters } from './counters.js';
import { BATCH, newPacketBatch, type PacketBatch } from './io/packet-vec.js';
import type { TunDevice, UdpBind } from './io/types.js';
import { Pipeline, type PipelineOptions } from './pipeline.js';
import { OverlayTables } from './tables.js';

export class Dataplane {
  readonly tables = new OverlayTables();
  readonly counters = new DataplaneCounters();
  readonly pipeline: Pipeline;
  readonly udp: UdpBind;
  readonly #tunBatch: PacketBatch;
  readonly #udpBatch: PacketBatch;
  #started = false;
  #closed = false;
  /**
   * Told when a device can no longer be polled (a task's namespace was deleted and its TUN
   * with it, say). The device is no longer read; the endpoint stays in the tables until the
   * control plane removes it.
   */
  onDeviceError: (device: string, code: string) => void = () => {};

  constructor(udp: UdpBind, options: PipelineOptions) {
    this.udp = udp;
    this.pipeline = new Pipeline(this.tables, udp, this.counters, options);
    this.#tunBatch = newPacketBatch(BATCH);
    this.#udpBatch = newPacketBatch(BATCH);
  }

  /** Starts the routines: the underlay socket now, each TUN as it is attached. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.udp.start(() => this.routineReadFromUdp(), (code) => this.#deviceError('underlay', code));
    this.tables.tuns.forEach((tun, i) => tun && this.#watch(tun, i));
  }

  /** Starts reading a TUN that was just added through the tables (addLocalEndpoint). */
  attach(tunIndex: number): void {
    const tun = this.tables.tuns[tunIndex];
    if (tun && this.#started) this.#watch(tun, tunIndex);
  }

  /** One batch from one task TUN; called by the poll when it is readable. */
  routineReadFromTun(tun: TunDevice, tunIndex: number): void {
    // A TUN removed from the tables (its index maybe reused already) is not read any more.
    if (this.#closed || this.tables.tuns[tunIndex] !== tun) return;
    const n = tun.read(this.#tunBatch, 0, BATCH);
    if (n > 0) this.pipeline.fromTun(tunIndex, this.#tunBatch, n);
  }

  /** One batch from the underlay socket. */
  routineReadFromUdp(): void {
    if (this.#closed) return;
    const n = this.udp.recv(this.#udpBatch, 0, BATCH);
    if (n > 0) this.pipeline.fromUdp(this.#udpBatch, n);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const tun of this.tables.tuns) tun?.close();
    this.udp.close();
  }

  get packetsFromTasks(): number {
    return this.counters.counters[C_TUN_RX_PACKETS]!;
  }

  #watch(tun: TunDevice, tunIndex: number): void {
    tun.start(() => this.routineReadFromTun(tun, tunIndex), (code) => this.#deviceError(tun.name, code));
  }

  #deviceError(device: string, code: string): void {
    this.counters.counters[C_DEVICE_ERRORS]!++;
    this.onDeviceError(device, code);
  }
}
