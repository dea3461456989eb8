// A small pcap reader for test fixtures (the classic libpcap format, not pcapng):
// a 24-byte global header, then per packet a 16-byte record header and the captured bytes.
//
//   global header: magic u32 | version major u16 | minor u16 | thiszone i32 | sigfigs u32 |
//                  snaplen u32 | network (link type) u32
//   record header: ts_sec u32 | ts_usec (or ts_nsec) u32 | incl_len u32 | orig_len u32
//
// The magic tells the byte order (a1b2c3d4 microseconds, a1b23c4d nanoseconds, either order).
// Fixtures live in ../shared/fixtures beside the repository (CI clones main with shared/ next
// to it); fixturePath finds them from the package root, wherever the compiled test runs from.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Link type 1: Ethernet (LINKTYPE_ETHERNET). */
export const LINKTYPE_ETHERNET = 1;

export interface PcapRecord {
  /** Capture time, seconds since the epoch. */
  tsSec: number;
  /** Sub-second part of the capture time, in nanoseconds (converted from µs when needed). */
  tsNsec: number;
  /** Length of the packet on the wire; data.length is less when the capture was truncated. */
  origLen: number;
  /** The captured bytes: a copy, safe to modify. */
  data: Buffer;
}

export interface PcapFile {
  linkType: number;
  snapLen: number;
  records: PcapRecord[];
}

/** Parses a whole pcap file. Throws an Error naming the problem on a malformed file. */
export function parsePcap(file: Buffer, name = 'pcap'): PcapFile {
  if (file.length < 24) throw new Error(`read ${name}: ${file.length} bytes is shorter than the 24-byte pcap header`);
  const magicLE = file.readUInt32LE(0);
  let le: boolean;
  let nanos: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) {
    le = true;
    nanos = magicLE === 0xa1b23c4d;
  } else {
    const magicBE = file.readUInt32BE(0);
    if (magicBE !== 0xa1b2c3d4 && magicBE !== 0xa1b23c4d) {
      throw new Error(`read ${name}: magic 0x${magicLE.toString(16)} is not a pcap file (pcapng is not supported)`);
    }
    le = false;
    nanos = magicBE === 0xa1b23c4d;
  }
  const u32 = (o: number) => (le ? file.readUInt32LE(o) : file.readUInt32BE(o));
  const snapLen = u32(16);
  const linkType = u32(20);
  const records: PcapRecord[] = [];
  let o = 24;
  while (o < file.length) {
    if (o + 16 > file.length) throw new Error(`read ${name}: record ${records.length} header cut at byte ${o}`);
    const tsSec = u32(o);
    const frac = u32(o + 4);
    const inclLen = u32(o + 8);
    const origLen = u32(o + 12);
    if (o + 16 + inclLen > file.length) {
      throw new Error(`read ${name}: record ${records.length} wants ${inclLen} bytes, file ends after ${file.length - o - 16}`);
    }
    records.push({
      tsSec,
      tsNsec: nanos ? frac : frac * 1000,
      origLen,
      data: Buffer.from(file.subarray(o + 16, o + 16 + inclLen)),
    });
    o += 16 + inclLen;
  }
  return { linkType, snapLen, records };
}

/** Reads a pcap file with all its metadata. */
export function readPcapFile(path: string): PcapFile {
  return parsePcap(readFileSync(path), path);
}

/**
 * The frames of an Ethernet (link type 1) pcap file, each a fresh Buffer starting at the
 * Ethernet header. Throws when the link type is not Ethernet or a frame was cut by the snap
 * length, since every fixture test assumes whole frames.
 */
export function readPcap(path: string): Buffer[] {
  const f = readPcapFile(path);
  if (f.linkType !== LINKTYPE_ETHERNET) throw new Error(`read ${path}: link type ${f.linkType}, expected 1 (Ethernet)`);
  return f.records.map((r, i) => {
    if (r.data.length !== r.origLen) throw new Error(`read ${path}: frame ${i} truncated to ${r.data.length} of ${r.origLen} bytes`);
    return r.data;
  });
}

let root: string | undefined;

/**
 * The directory whose package.json has name "vxmesh", found by walking up from this file
 * (test/util/pcap.ts, or dist/test/util/pcap.js once compiled).
 */
export function packageRoot(): string {
  if (root !== undefined) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (pkg.name === 'vxmesh') return (root = dir);
    } catch {
      // no package.json here (or not JSON): keep walking
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`find package root: no package.json named "vxmesh" above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** Absolute path of a shared fixture: <package root>/../shared/fixtures/<name>. */
export function fixturePath(name: string): string {
  return join(packageRoot(), '..', 'shared', 'fixtures', name);
}
