// An independent DNS message decoder for the tests (slow, allocating, strict): it follows
// compression pointers with its own rules so the codec under test is not checking itself.

export interface DecodedRR {
  name: string;
  type: number;
  class: number;
  ttl: number;
  /** A/AAAA address text, PTR target, SRV "prio weight port target", OPT "" */
  data: string;
  rdata: Buffer;
}

export interface Decoded {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  rcode: number;
  question: { name: string; type: number; class: number }[];
  answer: DecodedRR[];
  authority: DecodedRR[];
  additional: DecodedRR[];
  /** Offsets every compression pointer pointed at (each checked to be a name start we read). */
  pointers: number[];
}

export function decodeName(b: Buffer, off: number, pointers: number[]): { name: string; end: number } {
  const labels: string[] = [];
  let p = off;
  let end = -1;
  let hops = 0;
  for (;;) {
    if (p >= b.length) throw new Error(`name runs past the end at ${p}`);
    const n = b[p];
    if (n === 0) {
      if (end < 0) end = p + 1;
      break;
    }
    if ((n & 0xc0) === 0xc0) {
      const t = ((n & 0x3f) << 8) | b[p + 1];
      if (t >= p) throw new Error(`forward pointer at ${p} to ${t}`);
      if (++hops > 50) throw new Error('pointer loop');
      pointers.push(t);
      if (end < 0) end = p + 2;
      p = t;
      continue;
    }
    if (n > 63) throw new Error(`bad label length ${n}`);
    labels.push(b.subarray(p + 1, p + 1 + n).toString('latin1'));
    p += 1 + n;
  }
  return { name: labels.join('.'), end };
}

function ip6(r: Buffer): string {
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(r.readUInt16BE(i).toString(16));
  return g.join(':');
}

export function decode(b: Buffer): Decoded {
  const pointers: number[] = [];
  const u16 = (o: number) => b.readUInt16BE(o);
  const flags = u16(2);
  const counts = [u16(4), u16(6), u16(8), u16(10)];
  let p = 12;
  const question: Decoded['question'] = [];
  for (let i = 0; i < counts[0]; i++) {
    const n = decodeName(b, p, pointers);
    question.push({ name: n.name, type: u16(n.end), class: u16(n.end + 2) });
    p = n.end + 4;
  }
  const sections: DecodedRR[][] = [[], [], []];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]; i++) {
      const n = decodeName(b, p, pointers);
      p = n.end;
      const type = u16(p);
      const cls = u16(p + 2);
      const ttl = b.readUInt32BE(p + 4);
      const rdlen = u16(p + 8);
      p += 10;
      if (p + rdlen > b.length) throw new Error('rdata past the end');
      const rdata = b.subarray(p, p + rdlen);
      let data = '';
      if (type === 1) data = [...rdata].join('.');
      else if (type === 28) data = ip6(rdata);
      else if (type === 12) {
        const t = decodeName(b, p, pointers);
        if (t.end !== p + rdlen) throw new Error('PTR rdlength mismatch');
        data = t.name;
      } else if (type === 33) {
        const t = decodeName(b, p + 6, pointers);
        if (t.end !== p + rdlen) throw new Error('SRV rdlength mismatch');
        data = `${u16(p)} ${u16(p + 2)} ${u16(p + 4)} ${t.name}`;
      }
      sections[s].push({ name: n.name, type, class: cls, ttl, data, rdata: Buffer.from(rdata) });
      p += rdlen;
    }
  }
  if (p !== b.length) throw new Error(`${b.length - p} trailing bytes`);
  return {
    id: u16(0), qr: (flags & 0x8000) !== 0, opcode: (flags >> 11) & 0xf, aa: (flags & 0x400) !== 0,
    tc: (flags & 0x200) !== 0, rd: (flags & 0x100) !== 0, ra: (flags & 0x80) !== 0, rcode: flags & 0xf,
    question, answer: sections[0], authority: sections[1], additional: sections[2], pointers,
  };
}

/** Builds a query (uncompressed) the way dig does; edns: the UDP size, or undefined for none. */
export function buildQuery(id: number, name: string, type: number, edns?: number, opts: { cls?: number; flags?: number; ednsVersion?: number } = {}): Buffer {
  const parts: Buffer[] = [];
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(opts.flags ?? 0x0100, 2);
  h.writeUInt16BE(1, 4);
  h.writeUInt16BE(edns === undefined ? 0 : 1, 10);
  parts.push(h);
  for (const l of name === '' ? [] : name.split('.')) {
    parts.push(Buffer.from([l.length]), Buffer.from(l, 'latin1'));
  }
  const q = Buffer.alloc(5);
  q.writeUInt16BE(type, 1);
  q.writeUInt16BE(opts.cls ?? 1, 3);
  parts.push(q);
  if (edns !== undefined) {
    const o = Buffer.alloc(11);
    o.writeUInt16BE(41, 1);
    o.writeUInt16BE(edns, 3);
    o[6] = opts.ednsVersion ?? 0;
    parts.push(o);
  }
  return Buffer.concat(parts);
}

/** A seeded PRNG (mulberry32) for deterministic shuffles. */
export { mulberry32 as seeded } from '../../util/seeded.js';
