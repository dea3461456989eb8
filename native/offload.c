/*
 * Offloads done in userspace:
 *   - TUN writes, with TCP coalescing (GRO in reverse: many plain segments become one
 *     virtio-net GSO super-packet and one writev, payloads never copied);
 *   - UDP sends: plain sendmmsg batches, partial checksum completion, and the TSO/USO split of a
 *     super-packet into segments with their own headers and full checksums, sent with
 *     UDP_SEGMENT (one syscall for up to 64 segments) or sendmmsg when GSO is off.
 *
 * The coalescing rules follow the kernel's tcp_gro_receive (and wireguard-go's tun/offload_linux.go,
 * which follows the kernel's GRO selftests): same flow, contiguous sequence numbers, equal
 * payload sizes with a shorter last one, identical TCP options, equal ACK number and window,
 * only ACK or ACK|PSH, equal TOS/TTL/DF (IPv4) or traffic class/flow label/hop limit (IPv6).
 */
#include <arpa/inet.h>
#include "vxmesh.h"

#include <errno.h>
#include <netinet/in.h>
#include <unistd.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#define PROTO_TCP 6
#define PROTO_UDP 17
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80

/* Resolves entry i of the vector to the inner packet (after PV_INNER). 0 if it is in bounds. */
static int entry_packet(uint8_t *buf, size_t buflen, const int32_t *vec, size_t nvec, int32_t i, const int32_t **ep,
                        uint8_t **pkt, int *len) {
  if (i < 0 || (size_t)i >= nvec / PV_STRIDE) return -1;
  const int32_t *e = vec + (size_t)i * PV_STRIDE;
  int32_t off = e[PV_OFF], l = e[PV_LEN], inner = e[PV_INNER];
  if (off < 0 || l < 0 || inner < 0 || inner > l || (size_t)off + (size_t)l > buflen) return -1;
  *ep = e;
  *pkt = buf + off + inner;
  *len = l - inner;
  return 0;
}

/* ======================================================================================== */
/* TUN write                                                                                */
/* ======================================================================================== */

static int do_writev(vxm_inst *in, int fd, struct iovec *iov, int cnt) {
  for (;;) {
    ssize_t r = writev(fd, iov, cnt);
    vxm_count(in, NS_TUN_WRITES, 1);
    if (r >= 0) return 0;
    if (errno == EINTR) continue;
    return -errno;
  }
}

/* Writes one packet with the given virtio-net header (from a scratch copy, so the slab's
 * headroom is neither needed nor touched). */
static int write_one(vxm_inst *in, int fd, uint8_t *pkt, int len, const vnet_hdr_t *h) {
  vnet_hdr_t hdr = *h;
  struct iovec iov[2] = {{&hdr, VNET_HDR_LEN}, {pkt, (size_t)len}};
  return do_writev(in, fd, iov, 2);
}

/* The virtio-net header for a packet from its vector entry. hdr_len 0 with GSO is derived from
 * the packet (the kernel uses it to size the linear part). */
static void entry_vnet_hdr(const int32_t *e, const uint8_t *pkt, int len, vnet_hdr_t *h) {
  memset(h, 0, sizeof *h);
  int gso = e[PV_GSO_TYPE] & 0x7f;
  h->flags = (uint8_t)(e[PV_VFLAGS] & (VF_NEEDS_CSUM | VF_DATA_VALID));
  h->gso_type = (uint8_t)(gso | ((e[PV_VFLAGS] & VF_ECN) ? GSO_ECN_BIT : 0));
  h->gso_size = (uint16_t)e[PV_GSO_SIZE];
  h->csum_start = (uint16_t)e[PV_CSUM_START];
  h->csum_offset = (uint16_t)e[PV_CSUM_OFF];
  h->hdr_len = (uint16_t)e[PV_HDR_LEN];
  if (gso != GSO_NONE && h->hdr_len == 0) {
    int l4 = h->csum_start;
    if (l4 == 0 && len >= 20) l4 = (pkt[0] >> 4) == 6 ? 40 : (pkt[0] & 15) * 4;
    if (gso == GSO_UDP_L4 || gso == GSO_UDP) {
      if (l4 + 8 <= len) h->hdr_len = (uint16_t)(l4 + 8);
    } else if (l4 + 20 <= len) {
      int thl = (pkt[l4 + 12] >> 4) * 4;
      if (l4 + thl <= len) h->hdr_len = (uint16_t)(l4 + thl);
    }
  }
}

typedef struct {
  int v6, proto, iphl, thl, plen, keylen, candidate;
  int frag; /* an IPv4 fragment: cannot be keyed by ports */
  uint32_t seq;
  uint8_t flags;
  uint8_t key[36];
} tcp_info;

/* Parses an IPv4/IPv6 TCP packet, or a UDP one when `udp` is set. Returns 0 if it is not a
 * flow we can key (written as it is, outside the flow table; ti->frag says whether it is an
 * IPv4 fragment), 1 if it is (ti->candidate says whether it may be merged). For UDP, ti->seq is
 * the IPv4 ID (0 for IPv6), ti->thl 8 and ti->plen the datagram's payload. */
static int tcp_parse(const uint8_t *p, int len, tcp_info *ti, int udp) {
  ti->candidate = 0;
  ti->frag = 0;
  if (len < 20) return 0;
  int ver = p[0] >> 4;
  if (ver == 4) {
    int ihl = (p[0] & 15) * 4;
    int frag = vxm_be16(p + 6) & 0x3fff; /* MF + fragment offset */
    if (frag != 0) ti->frag = 1;
    if (ihl < 20 || ihl + 20 > len) return 0;
    if (p[9] == PROTO_UDP) {
      if (!udp || frag != 0) return 0;
    } else if (p[9] != PROTO_TCP) {
      return 0;
    }
    ti->v6 = 0;
    ti->proto = p[9];
    ti->iphl = ihl;
    memcpy(ti->key, p + 12, 8);
    memcpy(ti->key + 8, p + ihl, 4);
    ti->keylen = 12;
    if (ihl != 20 || frag != 0 || vxm_be16(p + 2) != len) return 1;
  } else if (ver == 6) {
    if (len < 60 || (p[6] != PROTO_TCP && (p[6] != PROTO_UDP || !udp))) return 0;
    ti->v6 = 1;
    ti->proto = p[6];
    ti->iphl = 40;
    memcpy(ti->key, p + 8, 32);
    memcpy(ti->key + 32, p + 40, 4);
    ti->keylen = 36;
    if (vxm_be16(p + 4) + 40 != len) return 1;
  } else {
    return 0;
  }
  const uint8_t *t = p + ti->iphl;
  if (ti->proto == PROTO_UDP) {
    /* a datagram whose UDP length matches the IP payload and that has a checksum (a zero
     * IPv4 checksum means none: the merged packet would get one) */
    ti->thl = 8;
    ti->flags = 0;
    ti->seq = ti->v6 ? 0 : vxm_be16(p + 4);
    ti->plen = len - ti->iphl - 8;
    if (len > 65535 || vxm_be16(t + 4) != len - ti->iphl || ti->plen <= 0) return 1;
    if (t[6] == 0 && t[7] == 0) return 1;
    ti->candidate = 1;
    return 1;
  }
  ti->thl = (t[12] >> 4) * 4;
  ti->flags = t[13];
  ti->seq = vxm_be32(t + 4);
  if (ti->thl < 20 || ti->iphl + ti->thl > len || len > 65535) return 1;
  ti->plen = len - ti->iphl - ti->thl;
  if (ti->plen <= 0) return 1;
  if (ti->flags != TCP_ACK && ti->flags != (TCP_ACK | TCP_PSH)) return 1;
  ti->candidate = 1;
  return 1;
}

/* Whether the L4 checksum field of a TCP/UDP packet holds just its pseudo-header sum (folded,
 * not complemented): the checksum a sending kernel leaves for offload (CHECKSUM_PARTIAL). A
 * kernel vxlan peer behind a veth sends inner packets like that, since no NIC ever fills the
 * field in. A real checksum equals that value with probability 2^-16; marking such a packet
 * NEEDS_CSUM is then harmless. Sets the virtio csum_start/csum_offset for it. */
static int l4_csum_partial(uint8_t *p, int len, int *csum_start, int *csum_off) {
  if (len < 20) return 0;
  int v6 = (p[0] >> 4) == 6, iphl, proto;
  if (v6) {
    if (len < 48) return 0;
    iphl = 40;
    proto = p[6];
    if (vxm_be16(p + 4) + 40 != len) return 0;
  } else if ((p[0] >> 4) == 4) {
    iphl = (p[0] & 15) * 4;
    proto = p[9];
    if (iphl < 20 || (vxm_be16(p + 6) & 0x3fff) != 0 || vxm_be16(p + 2) != len) return 0;
  } else {
    return 0;
  }
  int off = proto == PROTO_TCP ? 16 : proto == PROTO_UDP ? 6 : -1;
  if (off < 0 || iphl + off + 2 > len) return 0;
  int l4len = len - iphl;
  const uint8_t *addrs = p + (v6 ? 8 : 12);
  uint16_t full = vxm_csum_fold(vxm_pseudo_sum(addrs, v6 ? 16 : 4, proto, (uint32_t)l4len));
  uint16_t field; /* the sums are in native byte order ("native view"), so read it that way */
  memcpy(&field, p + iphl + off, 2);
  if (field != full) {
    /* GSO_PARTIAL chunks (what a TSO-capable veth passes on) carry the pseudo-header sum for
     * ONE segment (header + MSS), not for the chunk. Recover the length the sender summed:
     * field - sum(addresses, protocol) in ones' complement, compared in network order. */
    if (proto != PROTO_TCP) return 0;
    uint32_t base = ntohs(vxm_csum_fold(vxm_pseudo_sum(addrs, v6 ? 16 : 4, proto, 0)));
    int32_t used = (int32_t)ntohs(field) - (int32_t)base;
    if (used <= 0) used += 0xffff;
    int thl = (p[iphl + 12] >> 4) * 4;
    int seg = used - thl, payload = l4len - thl;
    if (thl < 20 || seg <= 0 || payload <= seg || payload % seg != 0) return 0;
    memcpy(p + iphl + off, &full, 2); /* now the standard partial sum for the whole packet */
  }
  *csum_start = iphl;
  *csum_off = off;
  return 1;
}

/* Verifies the IPv4 header checksum (if any) and the TCP or UDP checksum of a whole packet; a
 * partial checksum (see l4_csum_partial) is accepted: the merged packet goes up as NEEDS_CSUM. */
static int tcp_csum_ok(vxm_inst *in, uint8_t *p, int len, const tcp_info *ti) {
  if (!ti->v6 && vxm_csum_fold(vxm_csum_add(p, (size_t)ti->iphl, 0)) != 0xffff) return 0;
  int alen = ti->v6 ? 16 : 4;
  const uint8_t *src = p + (ti->v6 ? 8 : 12);
  uint64_t s = vxm_pseudo_sum(src, alen, ti->proto, (uint32_t)(len - ti->iphl));
  s = vxm_csum_add(p + ti->iphl, (size_t)(len - ti->iphl), s);
  if (vxm_csum_fold(s) == 0xffff) return 1;
  int cs, co;
  if (l4_csum_partial(p, len, &cs, &co)) {
    vxm_count(in, NS_CSUM_PARTIAL_IN, 1);
    return 1;
  }
  return 0;
}

static vxm_run *run_find(vxm_inst *in, const tcp_info *ti) {
  for (int r = 0; r < VXM_RUNS; r++) {
    vxm_run *run = &in->runs[r];
    if (run->active && run->v6 == ti->v6 && run->proto == ti->proto && memcmp(run->key, ti->key, (size_t)ti->keylen) == 0)
      return run;
  }
  return NULL;
}

/* Whether segment q (parsed as ti) continues run `run`. */
static int run_accepts(const vxm_run *run, const uint8_t *q, const tcp_info *ti) {
  const uint8_t *h = run->head;
  if (ti->thl != run->thl || ti->seq != (run->proto == PROTO_UDP && !run->v6 ? run->next_seq & 0xffff : run->next_seq) ||
      ti->plen > run->gso_size)
    return 0;
  if (run->count >= VXM_MAX_SEGS || run->total + ti->plen > 65535) return 0;
  if (run->has_psh) return 0;
  if (ti->proto == PROTO_TCP) {
    const uint8_t *ht = h + run->iphl, *qt = q + ti->iphl;
    /* ACK number (8..11) and window (14..15) equal, options byte for byte */
    if (memcmp(ht + 8, qt + 8, 4) != 0 || memcmp(ht + 14, qt + 14, 2) != 0) return 0;
    if (ti->thl > 20 && memcmp(ht + 20, qt + 20, (size_t)ti->thl - 20) != 0) return 0;
  }
  /* UDP: IPv4 IDs must follow each other (next_seq), since the kernel's segmentation numbers
   * the datagrams it cuts from the first one's ID; sizes as for TCP (equal, the last may be
   * shorter). So every datagram comes out of the task's kernel byte for byte as it was sent. */
  if (ti->v6) {
    if (memcmp(h, q, 4) != 0 || h[7] != q[7]) return 0; /* class, flow label; hop limit */
  } else {
    if (h[1] != q[1] || h[8] != q[8] || (h[6] & 0xe0) != (q[6] & 0xe0)) return 0; /* TOS, TTL, DF */
  }
  return 1;
}

/* Writes a plain packet (no virtio metadata of its own): with a NEEDS_CSUM header when its
 * checksum was left for offload (l4_csum_partial), else with a zero header. Every path that
 * writes a packet as it came goes through here, so a lone partial segment is never handed up
 * unfinished. Returns 1 when written. */
static int write_plain(vxm_inst *in, int fd, uint8_t *p, int len) {
  vnet_hdr_t h;
  memset(&h, 0, sizeof h);
  int cs, co;
  if (l4_csum_partial(p, len, &cs, &co)) {
    h.flags = VF_NEEDS_CSUM;
    h.csum_start = (uint16_t)cs;
    h.csum_offset = (uint16_t)co;
    vxm_count(in, NS_CSUM_PARTIAL_IN, 1);
  }
  if (write_one(in, fd, p, len, &h) == 0) return 1;
  vxm_count(in, NS_TUN_WRITE_DROPS, 1);
  return 0;
}

/* Flushes a run: one segment as it is; several as one GSO super-packet. */
static void run_flush(vxm_inst *in, int fd, vxm_run *run, int *sent) {
  int ri = (int)(run - in->runs);
  run->active = 0;
  if (run->count == 1) {
    *sent += write_plain(in, fd, in->run_pkt[ri][0], in->run_len[ri][0]);
    return;
  }
  uint8_t *m = in->merged_hdr;
  const uint8_t *h = run->head;
  int hl = run->iphl + run->thl;
  vnet_hdr_t vh;
  memset(&vh, 0, sizeof vh);
  int udp = run->proto == PROTO_UDP;
  vh.flags = VF_NEEDS_CSUM;
  vh.gso_type = udp ? GSO_UDP_L4 : run->v6 ? GSO_TCPV6 : GSO_TCPV4;
  vh.hdr_len = (uint16_t)hl;
  vh.gso_size = (uint16_t)run->gso_size;
  vh.csum_start = (uint16_t)run->iphl;
  vh.csum_offset = udp ? 6 : 16;
  memcpy(m, &vh, VNET_HDR_LEN);
  uint8_t *ip = m + VNET_HDR_LEN;
  memcpy(ip, h, (size_t)hl);
  if (run->v6) {
    vxm_put16(ip + 4, (uint16_t)(run->total - 40));
  } else {
    vxm_put16(ip + 2, (uint16_t)run->total);
    vxm_ipv4_hdr_csum(ip, run->iphl);
  }
  uint8_t *t = ip + run->iphl;
  if (udp) vxm_put16(t + 4, (uint16_t)(run->total - run->iphl)); /* the UDP length of the whole */
  else if (run->has_psh) t[13] |= TCP_PSH;
  /* With NEEDS_CSUM the kernel (or the device) finishes the checksum from csum_start on, adding
   * what it finds in the field: the folded, not complemented, pseudo-header sum. (UDP GSO
   * segmentation adjusts that sum from the whole's length to each datagram's.) */
  uint16_t ps = vxm_csum_fold(vxm_pseudo_sum(ip + (run->v6 ? 8 : 12), run->v6 ? 16 : 4, run->proto,
                                             (uint32_t)(run->total - run->iphl)));
  vxm_store_csum(t + (udp ? 6 : 16), ps);

  struct iovec *iov = in->wiov;
  iov[0].iov_base = m;
  iov[0].iov_len = (size_t)(VNET_HDR_LEN + hl);
  for (int s = 0; s < run->count; s++) {
    iov[1 + s].iov_base = in->run_pkt[ri][s] + hl;
    iov[1 + s].iov_len = (size_t)(in->run_len[ri][s] - hl);
  }
  int r = do_writev(in, fd, iov, 1 + run->count);
  if (r == 0) {
    *sent += run->count;
    vxm_count(in, NS_COALESCE_IN, run->count);
    vxm_count(in, NS_COALESCE_OUT, 1);
    return;
  }
  if (r == -EINVAL) {
    /* The kernel refused the super-packet: hand over the segments as they came. */
    for (int s = 0; s < run->count; s++) *sent += write_plain(in, fd, in->run_pkt[ri][s], in->run_len[ri][s]);
    return;
  }
  vxm_count(in, NS_TUN_WRITE_DROPS, run->count);
}

/* How far next_seq moves per segment: TCP by its payload, UDP over IPv4 by one IP ID, UDP over
 * IPv6 not at all (no ID). */
static uint32_t seq_step(const tcp_info *ti) {
  if (ti->proto == PROTO_UDP) return ti->v6 ? 0u : 1u;
  return (uint32_t)ti->plen;
}

static vxm_run *run_start(vxm_inst *in, int fd, uint8_t *p, int len, const tcp_info *ti, int *sent) {
  vxm_run *run = NULL, *oldest = NULL;
  for (int r = 0; r < VXM_RUNS; r++) {
    vxm_run *c = &in->runs[r];
    if (!c->active) {
      run = c;
      break;
    }
    if (!oldest || (int32_t)(c->age - oldest->age) < 0) oldest = c;
  }
  if (!run) {
    run_flush(in, fd, oldest, sent);
    run = oldest;
  }
  int ri = (int)(run - in->runs);
  run->active = 1;
  run->v6 = ti->v6;
  run->proto = ti->proto;
  memcpy(run->key, ti->key, (size_t)ti->keylen);
  run->head = p;
  run->iphl = ti->iphl;
  run->thl = ti->thl;
  run->count = 1;
  run->head_verified = 0;
  run->gso_size = ti->plen;
  run->total = len;
  run->next_seq = ti->seq + seq_step(ti);
  run->age = in->run_clock++;
  run->has_psh = (ti->flags & TCP_PSH) != 0;
  in->run_pkt[ri][0] = p;
  in->run_len[ri][0] = len;
  return run;
}

static void run_append(vxm_inst *in, vxm_run *run, uint8_t *p, int len, const tcp_info *ti) {
  int ri = (int)(run - in->runs);
  in->run_pkt[ri][run->count] = p;
  in->run_len[ri][run->count] = len;
  run->count++;
  run->total += ti->plen;
  run->next_seq += seq_step(ti);
  if (ti->flags & TCP_PSH) run->has_psh = 1;
}

int vxm_tun_write(vxm_inst *in, int fd, uint8_t *buf, size_t buflen, const int32_t *vec, size_t nvec,
                  const int32_t *idx, int n, int coalesce) {
  int sent = 0;
  for (int r = 0; r < VXM_RUNS; r++) in->runs[r].active = 0;
  in->run_clock = 0;

  for (int k = 0; k < n; k++) {
    const int32_t *e;
    uint8_t *p;
    int len;
    if (entry_packet(buf, buflen, vec, nvec, idx[k], &e, &p, &len) || len == 0) {
      vxm_count(in, NS_BAD_OFFLOAD, 1);
      vxm_count(in, NS_TUN_WRITE_DROPS, 1);
      continue;
    }
    vnet_hdr_t h;
    int has_virtio = e[PV_GSO_TYPE] != GSO_NONE || (e[PV_VFLAGS] & VF_NEEDS_CSUM);
    tcp_info ti;
    vxm_run *run = NULL;
    if (coalesce && tcp_parse(p, len, &ti, coalesce & VXM_COALESCE_UDP)) {
      run = run_find(in, &ti);
      if (!has_virtio && ti.candidate) {
        if (run && run_accepts(run, p, &ti)) {
          if (!run->head_verified) {
            int ri = (int)(run - in->runs);
            tcp_info hi;
            tcp_parse(run->head, in->run_len[ri][0], &hi, 1);
            if (!tcp_csum_ok(in, run->head, in->run_len[ri][0], &hi)) {
              vxm_count(in, NS_COALESCE_BAD_CSUM, 1);
              run_flush(in, fd, run, &sent);
              run = NULL;
            } else {
              run->head_verified = 1;
            }
          }
          if (run) {
            if (!tcp_csum_ok(in, p, len, &ti)) {
              vxm_count(in, NS_COALESCE_BAD_CSUM, 1);
              run_flush(in, fd, run, &sent);
              goto write_single;
            }
            run_append(in, run, p, len, &ti);
            run->age = in->run_clock++;
            /* a shorter segment or PSH ends the run */
            if (ti.plen < run->gso_size || run->has_psh || run->count >= VXM_MAX_SEGS) run_flush(in, fd, run, &sent);
            continue;
          }
        } else if (run) {
          run_flush(in, fd, run, &sent);
        }
        if (ti.flags & TCP_PSH) goto write_single; /* nothing can follow it */
        run_start(in, fd, p, len, &ti, &sent);
        continue;
      }
      /* TCP that cannot be merged (SYN, FIN, pure ACK, already offloaded...): keep the flow's
       * order by writing what is pending first. */
      if (run) run_flush(in, fd, run, &sent);
    } else if (coalesce && (ti.frag || (len >= 40 && (p[0] >> 4) == 6 &&
                                       (p[6] == 0 || p[6] == 43 || p[6] == 44 || p[6] == 51 || p[6] == 60)))) {
      /* IPv6 with extension headers (hop-by-hop 0, routing 43, fragment 44, AH 51, destination
       * options 60) and IPv4 fragments cannot be keyed: they may belong to an open run, so write
       * every open run first to keep each flow in order (rare, so the cost does not matter). */
      for (int r = 0; r < VXM_RUNS; r++)
        if (in->runs[r].active) run_flush(in, fd, &in->runs[r], &sent);
    }
  write_single:
    if (!has_virtio) {
      sent += write_plain(in, fd, p, len);
      continue;
    }
    entry_vnet_hdr(e, p, len, &h);
    /* A super-packet carrying a one-segment partial sum (a tunnel GSO_PARTIAL frame) gets the
     * full-length sum, so the kernel can still segment it correctly if it forwards it. */
    if ((h.flags & VF_NEEDS_CSUM) && h.gso_type != GSO_NONE) {
      int cs, co;
      (void)l4_csum_partial(p, len, &cs, &co);
    }
    if (write_one(in, fd, p, len, &h) == 0) sent++;
    else vxm_count(in, NS_TUN_WRITE_DROPS, 1);
  }

  /* flush what is still open, oldest first */
  for (;;) {
    vxm_run *oldest = NULL;
    for (int r = 0; r < VXM_RUNS; r++) {
      vxm_run *c = &in->runs[r];
      if (c->active && (!oldest || (int32_t)(c->age - oldest->age) < 0)) oldest = c;
    }
    if (!oldest) break;
    run_flush(in, fd, oldest, &sent);
  }
  return sent;
}

/* ======================================================================================== */
/* UDP send                                                                                 */
/* ======================================================================================== */

static void set_dest(struct sockaddr_storage *ss, const int32_t *e) {
  struct sockaddr_in *sin = (struct sockaddr_in *)ss;
  memset(sin, 0, sizeof *sin);
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = htonl((uint32_t)e[PV_ADDR]);
  sin->sin_port = htons((uint16_t)e[PV_PORT]);
}

/* sendmmsg of in->msgs[0..cnt): returns the number sent; counts each datagram not sent in
 * NS_UDP_SEND_DROPS when count_drops (a split counts its packet once instead). */
static int send_batch(vxm_inst *in, int fd, int cnt, int count_drops) {
  int i = 0, sent = 0;
  while (i < cnt) {
    int r = sendmmsg(fd, in->msgs + i, (unsigned)(cnt - i), MSG_DONTWAIT);
    vxm_count(in, NS_UDP_SENDS, 1);
    if (r > 0) {
      sent += r;
      i += r;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      /* the socket buffer is full: it will not drain within this call */
      if (count_drops) vxm_count(in, NS_UDP_SEND_DROPS, cnt - i);
      break;
    }
    /* ENOBUFS, EMSGSIZE, EINVAL...: skip the datagram the kernel refused */
    if (count_drops) vxm_count(in, NS_UDP_SEND_DROPS, 1);
    i++;
  }
  return sent;
}

/* Completes a partial checksum (NEEDS_CSUM without GSO) in place: the field holds the pseudo
 * header sum, so summing from csum_start to the end and complementing gives the checksum. */
static int complete_csum(uint8_t *p, int len, const int32_t *e) {
  int start = e[PV_CSUM_START], off = e[PV_CSUM_OFF];
  /* virtio fields are 16-bit: anything else is a bad entry, refused before any arithmetic */
  if (start < 0 || off < 0 || start > 0xffff || off > 0xffff || (int64_t)start + off + 2 > len) return -1;
  uint16_t c = (uint16_t)~vxm_csum_fold(vxm_csum_add(p + start, (size_t)(len - start), 0));
  if (off == 6 && c == 0) c = 0xffff; /* UDP (csum_offset 6): zero means "no checksum" */
  vxm_store_csum(p + start + off, c);
  return 0;
}

/* Splits the super-packet (prefix + IP + TCP/UDP + payload) into gso_size segments and sends
 * them. Returns 1 when every segment went out, 0 otherwise (counted as one drop). */
static int split_send(vxm_inst *in, int fd, uint8_t *p, int len, const int32_t *e) {
  int prefix = e[PV_INNER], gso = e[PV_GSO_TYPE] & 0x7f, mss = e[PV_GSO_SIZE];
  uint8_t *ip = p + prefix;
  int il = len - prefix;
  if (prefix < 0 || prefix > VXM_MAX_PREFIX || mss <= 0 || mss > 0xffff || il < 20) return -1;
  int v6 = (ip[0] >> 4) == 6, iphl, proto;
  if (v6) {
    if (il < 40) return -1;
    iphl = 40;
    proto = ip[6];
  } else {
    if ((ip[0] >> 4) != 4) return -1;
    iphl = (ip[0] & 15) * 4;
    proto = ip[9];
    if (iphl < 20) return -1;
  }
  int l4hl;
  if (gso == GSO_TCPV4 || gso == GSO_TCPV6) {
    if (proto != PROTO_TCP || iphl + 20 > il) return -1;
    l4hl = (ip[iphl + 12] >> 4) * 4;
    if (l4hl < 20) return -1;
  } else { /* GSO_UDP_L4 */
    if (proto != PROTO_UDP) return -1;
    l4hl = 8;
  }
  int hdrlen = iphl + l4hl;
  if (hdrlen > il) return -1;
  int payload = il - hdrlen;
  int nseg = payload == 0 ? 1 : (payload + mss - 1) / mss;
  int seghdr = prefix + hdrlen;
  int segsize = seghdr + mss;
  int per_send = segsize > VXM_MAX_UDP_PAYLOAD ? 1 : VXM_MAX_UDP_PAYLOAD / segsize;
  if (per_send > VXM_MAX_SEGS) per_send = VXM_MAX_SEGS;

  int alen = v6 ? 16 : 4;
  uint64_t addr_sum = vxm_csum_add(ip + (v6 ? 8 : 12), (size_t)alen * 2, 0);
  uint16_t id0 = v6 ? 0 : vxm_be16(ip + 4);
  uint32_t seq0 = proto == PROTO_TCP ? vxm_be32(ip + iphl + 4) : 0;
  uint8_t flags0 = proto == PROTO_TCP ? ip[iphl + 13] : 0;
  const uint8_t *data = ip + hdrlen;
  struct sockaddr_storage dest;
  set_dest(&dest, e);
  int use_gso = !vxm_gso_is_off(in, fd);
  int ok = 1;

  vxm_count(in, NS_TSO_SPLITS, 1);
  vxm_count(in, NS_SEGMENTS_OUT, nseg);
  for (int first = 0; first < nseg; first += per_send) {
    int cnt = nseg - first < per_send ? nseg - first : per_send;
    for (int j = 0; j < cnt; j++) {
      int g = first + j;
      int chunk = payload - g * mss < mss ? payload - g * mss : mss;
      uint8_t *h = in->seg_hdr[j];
      memcpy(h, p, (size_t)seghdr);
      uint8_t *ih = h + prefix, *th = ih + iphl;
      if (v6) {
        vxm_put16(ih + 4, (uint16_t)(l4hl + chunk));
      } else {
        vxm_put16(ih + 2, (uint16_t)(hdrlen + chunk));
        vxm_put16(ih + 4, (uint16_t)(id0 + g));
        vxm_ipv4_hdr_csum(ih, iphl);
      }
      uint8_t tail[8] = {0, 0, 0, 0, 0, 0, 0, (uint8_t)proto};
      vxm_put32(tail, (uint32_t)(l4hl + chunk));
      uint64_t s = vxm_csum_add(tail, 8, addr_sum);
      if (proto == PROTO_TCP) {
        vxm_put32(th + 4, seq0 + (uint32_t)g * (uint32_t)mss);
        uint8_t f = flags0;
        if (g != nseg - 1) f &= (uint8_t) ~(TCP_FIN | TCP_PSH);
        if (g != 0) f &= (uint8_t)~TCP_CWR;
        th[13] = f;
        th[16] = th[17] = 0;
        s = vxm_csum_add(th, (size_t)l4hl, s);
        s = vxm_csum_add(data + (size_t)g * (size_t)mss, (size_t)chunk, s);
        vxm_store_csum(th + 16, (uint16_t)~vxm_csum_fold(s));
      } else {
        vxm_put16(th + 4, (uint16_t)(8 + chunk));
        th[6] = th[7] = 0;
        s = vxm_csum_add(th, 8, s);
        s = vxm_csum_add(data + (size_t)g * (size_t)mss, (size_t)chunk, s);
        uint16_t c = (uint16_t)~vxm_csum_fold(s);
        vxm_store_csum(th + 6, c == 0 ? 0xffff : c);
      }
      in->seg_iov[2 * j].iov_base = h;
      in->seg_iov[2 * j].iov_len = (size_t)seghdr;
      in->seg_iov[2 * j + 1].iov_base = (void *)(data + (size_t)g * (size_t)mss);
      in->seg_iov[2 * j + 1].iov_len = (size_t)chunk;
    }

    int done = 0;
    if (use_gso && cnt > 1) {
      struct msghdr mh;
      memset(&mh, 0, sizeof mh);
      mh.msg_name = &dest;
      mh.msg_namelen = sizeof(struct sockaddr_in);
      mh.msg_iov = in->seg_iov;
      mh.msg_iovlen = (size_t)(2 * cnt);
      memset(in->gso_ctrl, 0, sizeof in->gso_ctrl);
      mh.msg_control = in->gso_ctrl;
      mh.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
      struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t gs = (uint16_t)segsize;
      memcpy(CMSG_DATA(c), &gs, sizeof gs);
      for (;;) {
        ssize_t r = sendmsg(fd, &mh, MSG_DONTWAIT);
        vxm_count(in, NS_UDP_SENDS, 1);
        if (r >= 0) {
          vxm_count(in, NS_UDP_GSO_SENDS, 1);
          done = 1;
          break;
        }
        if (errno == EINTR) continue;
        if (errno == EIO || errno == ENOPROTOOPT || errno == EOPNOTSUPP) {
          /* no checksum offload on the route's device (or no UDP GSO): stop trying on this fd */
          vxm_gso_set_off(in, fd);
          vxm_count(in, NS_UDP_GSO_FALLBACK, 1);
          use_gso = 0;
        } else if (errno == EINVAL || errno == EMSGSIZE) {
          /* e.g. a segment larger than the route's MTU: this packet goes out datagram by
           * datagram (fragmented: we do not set DF); GSO stays on for the fd, as the next
           * destination may be fine */
          use_gso = 0;
        } else {
          ok = 0; /* EAGAIN, ENOBUFS...: drop */
          done = 1;
        }
        break;
      }
    }
    if (!done) {
      for (int j = 0; j < cnt; j++) {
        struct mmsghdr *m = &in->msgs[j];
        memset(&m->msg_hdr, 0, sizeof m->msg_hdr);
        m->msg_hdr.msg_name = &dest;
        m->msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
        m->msg_hdr.msg_iov = &in->seg_iov[2 * j];
        m->msg_hdr.msg_iovlen = 2;
        m->msg_len = 0;
      }
      if (send_batch(in, fd, cnt, 0) != cnt) ok = 0; /* the caller counts the packet once */
    }
    if (!ok) break;
  }
  return ok;
}

/* Plain sends are collected as messages in in->msgs: each is one datagram, or a UDP_SEGMENT
 * group of several consecutive datagrams to the same destination whose lengths are equal (the
 * last may be shorter). Their iovecs are consecutive entries of in->iovs (one per datagram). */
typedef struct {
  int nmsg;     /* messages collected */
  int niov;     /* iovecs (datagrams) used */
  int seg;      /* open group: datagram size; 0 when the last message cannot grow */
  int bytes;    /* open group: payload bytes so far */
} plain_batch;

/* Sends message i's datagrams one at a time (a group the kernel refused as a whole). */
static int send_group_singly(vxm_inst *in, int fd, struct msghdr *mh) {
  int sent = 0;
  for (size_t j = 0; j < mh->msg_iovlen; j++) {
    struct msghdr one;
    memset(&one, 0, sizeof one);
    one.msg_name = mh->msg_name;
    one.msg_namelen = mh->msg_namelen;
    one.msg_iov = &mh->msg_iov[j];
    one.msg_iovlen = 1;
    for (;;) {
      ssize_t r = sendmsg(fd, &one, MSG_DONTWAIT);
      vxm_count(in, NS_UDP_SENDS, 1);
      if (r >= 0) sent++;
      else if (errno == EINTR) continue;
      else vxm_count(in, NS_UDP_SEND_DROPS, 1);
      break;
    }
  }
  return sent;
}

/* sendmmsg of the collected plain messages; returns the number of datagrams sent and counts
 * the others in NS_UDP_SEND_DROPS. */
static int plain_flush(vxm_inst *in, int fd, plain_batch *pb) {
  int i = 0, sent = 0, cnt = pb->nmsg;
  while (i < cnt) {
    int r = sendmmsg(fd, in->msgs + i, (unsigned)(cnt - i), MSG_DONTWAIT);
    vxm_count(in, NS_UDP_SENDS, 1);
    if (r > 0) {
      for (int j = i; j < i + r; j++) {
        sent += in->msg_pkts[j];
        if (in->msg_pkts[j] > 1) vxm_count(in, NS_UDP_GSO_GROUPED, in->msg_pkts[j]);
      }
      i += r;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      /* the socket buffer is full: it will not drain within this call */
      for (int j = i; j < cnt; j++) vxm_count(in, NS_UDP_SEND_DROPS, in->msg_pkts[j]);
      break;
    }
    if (in->msg_pkts[i] > 1) {
      /* a group refused as a whole: EIO (no checksum offload on the route's device) turns GSO
       * off for this fd as in split_send; EINVAL/EMSGSIZE (e.g. a route MTU below the segment)
       * only for this group. Either way its datagrams go one by one. */
      if (errno == EIO || errno == ENOPROTOOPT || errno == EOPNOTSUPP) {
        vxm_gso_set_off(in, fd);
        vxm_count(in, NS_UDP_GSO_FALLBACK, 1);
      }
      sent += send_group_singly(in, fd, &in->msgs[i].msg_hdr);
    } else {
      /* ENOBUFS, EMSGSIZE, EINVAL...: skip the datagram the kernel refused */
      vxm_count(in, NS_UDP_SEND_DROPS, 1);
    }
    i++;
  }
  pb->nmsg = 0;
  pb->niov = 0;
  pb->seg = 0;
  return sent;
}

/* Adds one plain datagram (bytes p[0..len) to the destination in entry e) to the batch: to the
 * open group when it fits, else as a new message. Flushes when the batch is full. */
static int plain_add(vxm_inst *in, int fd, plain_batch *pb, uint8_t *p, int len, const int32_t *e, int use_gso) {
  int sent = 0;
  if (pb->niov == VXM_BATCH) sent += plain_flush(in, fd, pb);
  int m = pb->nmsg - 1;
  if (use_gso && pb->seg > 0 && m >= 0 && len <= pb->seg && in->msg_pkts[m] < VXM_MAX_SEGS &&
      pb->bytes + len <= VXM_MAX_UDP_PAYLOAD) {
    const struct sockaddr_in *d = (const struct sockaddr_in *)&in->names[m];
    if (d->sin_addr.s_addr == htonl((uint32_t)e[PV_ADDR]) && d->sin_port == htons((uint16_t)e[PV_PORT])) {
      struct iovec *iov = &in->iovs[pb->niov++];
      iov->iov_base = p;
      iov->iov_len = (size_t)len;
      struct msghdr *mh = &in->msgs[m].msg_hdr;
      mh->msg_iovlen++;
      in->msg_pkts[m]++;
      pb->bytes += len;
      if (in->msg_pkts[m] == 2) {
        /* the group's segment size: the first datagram's length */
        memset(in->ctrl[m], 0, sizeof in->ctrl[m]);
        mh->msg_control = in->ctrl[m];
        mh->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
        struct cmsghdr *c = CMSG_FIRSTHDR(mh);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t gs = (uint16_t)pb->seg;
        memcpy(CMSG_DATA(c), &gs, sizeof gs);
      }
      if (len < pb->seg) pb->seg = 0; /* a shorter datagram ends the group */
      return sent;
    }
  }
  if (pb->nmsg == VXM_BATCH) sent += plain_flush(in, fd, pb); /* cannot happen: niov >= nmsg */
  int k = pb->nmsg++;
  struct iovec *iov = &in->iovs[pb->niov++];
  iov->iov_base = p;
  iov->iov_len = (size_t)len;
  set_dest(&in->names[k], e);
  struct mmsghdr *mm = &in->msgs[k];
  memset(&mm->msg_hdr, 0, sizeof mm->msg_hdr);
  mm->msg_hdr.msg_name = &in->names[k];
  mm->msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
  mm->msg_hdr.msg_iov = iov;
  mm->msg_hdr.msg_iovlen = 1;
  mm->msg_len = 0;
  in->msg_pkts[k] = 1;
  pb->seg = len;
  pb->bytes = len;
  return sent;
}

int vxm_udp_send(vxm_inst *in, int fd, uint8_t *buf, size_t buflen, int32_t *vec, size_t nvec, const int32_t *idx,
                 int n) {
  int sent = 0;
  plain_batch pb = {0, 0, 0, 0};
  int use_gso = !vxm_gso_is_off(in, fd);
  for (int k = 0; k < n; k++) {
    const int32_t *e;
    uint8_t *ip;
    int il;
    if (entry_packet(buf, buflen, vec, nvec, idx[k], &e, &ip, &il)) {
      vxm_count(in, NS_BAD_OFFLOAD, 1);
      vxm_count(in, NS_UDP_SEND_DROPS, 1);
      continue;
    }
    uint8_t *p = buf + e[PV_OFF];
    int len = e[PV_LEN];
    int gso = e[PV_GSO_TYPE] & 0x7f;
    if (gso == GSO_NONE) {
      if ((e[PV_VFLAGS] & VF_NEEDS_CSUM)) {
        if (complete_csum(ip, il, e)) {
          vxm_count(in, NS_BAD_OFFLOAD, 1);
          vxm_count(in, NS_UDP_SEND_DROPS, 1);
          continue;
        }
        vxm_count(in, NS_CSUM_COMPLETED, 1);
      }
      sent += plain_add(in, fd, &pb, p, len, e, use_gso);
      continue;
    }
    /* a super-packet: what is queued goes first, to keep the order */
    if (pb.nmsg) sent += plain_flush(in, fd, &pb);
    if (gso != GSO_TCPV4 && gso != GSO_TCPV6 && gso != GSO_UDP_L4) {
      vxm_count(in, NS_BAD_OFFLOAD, 1);
      vxm_count(in, NS_UDP_SEND_DROPS, 1);
      continue;
    }
    int r = split_send(in, fd, p, len, e);
    if (r == 1) {
      sent++;
    } else {
      if (r < 0) vxm_count(in, NS_BAD_OFFLOAD, 1);
      vxm_count(in, NS_UDP_SEND_DROPS, 1);
    }
    use_gso = !vxm_gso_is_off(in, fd);
  }
  if (pb.nmsg) sent += plain_flush(in, fd, &pb);
  return sent;
}
