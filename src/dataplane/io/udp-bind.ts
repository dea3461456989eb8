import { getSystemErrorName } from 'node:util';
import { native } from './native.js';
import type { PollHandle, UdpOpenResult } from './native-api.js';
import { HEADROOM, SLOT_SIZE, type PacketBatch } from './packet-vec.js';
import type { UdpBind } from './types.js';

/** Implementation: 16 MiB socket buffers; smaller ones dropped datagrams with 4 TCP streams. */
export const DEFAULT_SOCKET_BUFFER = 16 << 20;

/** The data-path UDP socket (port 4789 by default, like swarm's --data-path-port). */
export class NativeUdpBind implements UdpBind {
  readonly fd: number;
  readonly port: number;
  readonly info: UdpOpenResult;
  #poll: PollHandle | undefined;
  #closed = false;

  constructor(opened: UdpOpenResult) {
    this.info = opened;
    this.fd = opened.fd;
    this.port = opened.port;
  }

  static open(address: string, port: number, bufferBytes = DEFAULT_SOCKET_BUFFER): NativeUdpBind {
    return new NativeUdpBind(native.udpOpen(address, port, bufferBytes, bufferBytes));
  }

  recv(batch: PacketBatch, first: number, max: number): number {
    return native.udpRecv(this.fd, batch.buf, SLOT_SIZE, HEADROOM, batch.vec, first, max);
  }

  send(buf: Buffer, vec: Int32Array, idx: Int32Array, n: number): number {
    return native.udpSend(this.fd, buf, vec, idx, n);
  }

  start(onReadable: () => void, onError?: (code: string) => void): void {
    if (this.#poll || this.#closed) return;
    this.#poll = native.poll(this.fd, (status) => {
      if (status >= 0) onReadable();
      else onError?.(getSystemErrorName(status));
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#poll) native.pollStop(this.#poll);
    this.#poll = undefined;
    native.close(this.fd);
  }
}
