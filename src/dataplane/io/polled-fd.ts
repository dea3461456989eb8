import { getSystemErrorName } from 'node:util';
import { native } from './native.js';
import type { PollHandle } from './native-api.js';

/** The poll-and-close lifecycle every native device shares (TUN devices, the UDP socket). */
export class PolledFd {
  readonly fd: number;
  #poll: PollHandle | undefined;
  #closed = false;

  constructor(fd: number) {
    this.fd = fd;
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
