/*
 * vxmesh native addon: shared declarations.
 *
 * The addon makes no protocol decisions: it does syscalls and per-byte work (checksums, TSO
 * split, TCP coalescing) over a slab and a packet vector that JavaScript owns (see
 * src/dataplane/io/packet-vec.ts and native-api.ts, the contract this code implements).
 *
 * State: everything mutable lives in a per-environment `vxm_inst` (napi_set_instance_data), so
 * each worker thread that loads the addon gets its own scratch, counters and poll handles.
 * There are no mutable C globals.
 */
#ifndef VXMESH_H
#define VXMESH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/socket.h>
#include <node_api.h>

/* ---- packet vector (packet-vec.ts) ------------------------------------------------------- */
enum {
  PV_OFF = 0, PV_LEN = 1, PV_ADDR = 2, PV_PORT = 3, PV_GSO_TYPE = 4, PV_GSO_SIZE = 5,
  PV_CSUM_START = 6, PV_CSUM_OFF = 7, PV_HDR_LEN = 8, PV_VFLAGS = 9, PV_INNER = 10, PV_SEG = 11,
  PV_STRIDE = 12
};

/* virtio-net header values (include/uapi/linux/virtio_net.h) */
#define GSO_NONE 0
#define GSO_TCPV4 1
#define GSO_UDP 3
#define GSO_TCPV6 4
#define GSO_UDP_L4 5
#define GSO_ECN_BIT 0x80
#define VF_NEEDS_CSUM 1
#define VF_DATA_VALID 2
#define VF_ECN 0x100 /* ours, not virtio's: gso_type carried GSO_ECN */
#define VNET_HDR_LEN 10

/* struct virtio_net_hdr (legacy, native endian: we never set TUNSETVNETLE/BE). */
typedef struct __attribute__((packed)) {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
} vnet_hdr_t;

/* ---- native counters (native-api.ts NS_*) ------------------------------------------------ */
enum {
  NS_TUN_READS = 0, NS_TUN_WRITES, NS_TUN_WRITE_DROPS, NS_COALESCE_IN, NS_COALESCE_OUT,
  NS_COALESCE_BAD_CSUM, NS_TSO_SPLITS, NS_SEGMENTS_OUT, NS_UDP_SENDS, NS_UDP_GSO_SENDS,
  NS_UDP_GSO_FALLBACK, NS_UDP_SEND_DROPS, NS_UDP_RECVS, NS_UDP_GRO_SEGMENTS, NS_CSUM_COMPLETED,
  NS_BAD_OFFLOAD, NS_CSUM_PARTIAL_IN, NS_UDP_GSO_GROUPED, NS_COUNT
};

/* ---- limits (implementation choices) ----------------------------------------------------- */
/* Segments per super-packet, both for coalescing (kernel GRO's MAX_GRO_SKBS-like cap) and for a
 * UDP GSO send (UDP_MAX_SEGMENTS was 64 before Linux 6.9: stay portable). */
#define VXM_MAX_SEGS 64
/* Largest UDP payload one IPv4 sendmsg may carry (65535 - 20 - 8). */
#define VXM_MAX_UDP_PAYLOAD 65507
/* Largest prefix (PV_INNER) repeated in front of split segments: VXLAN + Ethernet is 22, an
 * outer IPv6/VLAN stack still fits. */
#define VXM_MAX_PREFIX 192
/* Per-segment header scratch: prefix + IP header (IPv4 with options: up to 60) + TCP (up to 60) */
#define VXM_SEG_HDR_MAX (VXM_MAX_PREFIX + 60 + 60)
/* Flows with an open coalescing run within one tunWrite call. */
#define VXM_RUNS 16
/* Messages per sendmmsg/recvmmsg call (wireguard-go's IdealBatchSize). */
#define VXM_BATCH 128

/* One open coalescing run (offload.c). */
typedef struct {
  int active;
  int v6;
  int proto; /* 6 (TCP) or 17 (UDP) */
  uint8_t key[36]; /* src addr, dst addr, src port, dst port (IPv4 uses the first 12 bytes) */
  uint8_t *head;   /* first segment's packet (IP header) in the slab */
  int iphl, thl;
  int count;         /* segments in the run */
  int head_verified; /* head's checksums checked (done lazily, when a second one comes) */
  int gso_size;      /* payload length of the first segment */
  int total;         /* IP total length of the merged packet */
  uint32_t next_seq; /* TCP: next sequence number; UDP over IPv4: next IP ID */
  uint32_t age; /* for eviction of the least recently used run when the table is full */
  int has_psh;
} vxm_run;

typedef struct vxm_inst {
  double *stats;
  napi_ref stats_ref;
  double dummy_stats[NS_COUNT]; /* counts go here until init() gives us the real array */

  /* GSO turned off per UDP fd (after EIO, or UDP_SEGMENT probe failed). A small unordered set. */
  int *gso_off;
  size_t gso_off_len, gso_off_cap;

  /* Scratch, allocated once with the instance. */
  struct mmsghdr msgs[VXM_BATCH];
  struct iovec iovs[VXM_BATCH];
  struct sockaddr_storage names[VXM_BATCH];
  /* control buffers: CMSG_SPACE(sizeof(int)) is 24 on LP64; 32 leaves room */
  uint8_t ctrl[VXM_BATCH][32];
  /* plain sends: datagrams per message (a UDP_SEGMENT group carries several) */
  int msg_pkts[VXM_BATCH];
  /* split: per-segment headers, an iovec pair each, and the UDP_SEGMENT cmsg */
  uint8_t seg_hdr[VXM_MAX_SEGS][VXM_SEG_HDR_MAX];
  struct iovec seg_iov[VXM_MAX_SEGS * 2];
  uint8_t gso_ctrl[32];
  /* coalescing: runs, their member segments, and the merged header being written */
  vxm_run runs[VXM_RUNS];
  uint8_t *run_pkt[VXM_RUNS][VXM_MAX_SEGS];
  int run_len[VXM_RUNS][VXM_MAX_SEGS];
  uint32_t run_clock;
  uint8_t merged_hdr[VNET_HDR_LEN + 60 + 60];
  struct iovec wiov[VXM_MAX_SEGS + 1];
  /* slabs already given the huge-page advice (vxm_advise_slab); replaced round-robin */
  const uint8_t *advised[16];
  unsigned advised_next;
} vxm_inst;

/* ---- helpers (vxmesh.c) ------------------------------------------------------------------ */
vxm_inst *vxm_get_inst(napi_env env);
static inline void vxm_count(vxm_inst *in, int i, double v) { in->stats[i] += v; }

/* Arguments. On failure these throw a TypeError and return non-zero. */
int vxm_arg_int32(napi_env env, napi_value v, const char *what, int32_t *out);
int vxm_arg_bool(napi_env env, napi_value v, const char *what, int *out);
int vxm_arg_string(napi_env env, napi_value v, const char *what, char *out, size_t cap, size_t *len);
int vxm_arg_bytes(napi_env env, napi_value v, const char *what, uint8_t **data, size_t *len);
int vxm_arg_i32array(napi_env env, napi_value v, const char *what, int32_t **data, size_t *len);
int vxm_arg_f64array(napi_env env, napi_value v, const char *what, double **data, size_t *len);
napi_value vxm_undefined(napi_env env);
napi_value vxm_int(napi_env env, int64_t v);

/* Throws an Error whose code is the errno name, with errno, syscall, and extra string or number
 * properties (key1/val1 and key2/val2; pass NULL keys to omit; a NULL sval with an int uses the
 * number). */
void vxm_throw_errno(napi_env env, const char *fn, int err, const char *syscall, const char *key1,
                     const char *sval1, const char *key2, int ival2, int has_ival2);
const char *vxm_errno_name(int err, char *buf, size_t cap);

/* Slot/vector argument checks shared by the read and write calls (tun.c); throw RangeError. */
/* The arguments of a slot-reading call (tunRead, udpRecv). */
typedef struct {
  int32_t fd, slot_size, headroom, first, max;
  uint8_t *buf;
  size_t buflen, veclen;
  int32_t *vec;
} vxm_read_call;
int vxm_read_args(napi_env env, napi_callback_info info, const char *fn, int min_headroom, vxm_read_call *c);
int vxm_check_slots(napi_env env, const char *fn, size_t buflen, int32_t slot_size, int32_t headroom,
                    size_t veclen, int32_t first, int32_t max, int32_t min_headroom);
int vxm_write_args(napi_env env, napi_value *argv, uint8_t **buf, size_t *buflen, int32_t **vec, size_t *veclen,
                   int32_t **idx, int32_t *n);

/* Advises the kernel to back a large slab with transparent huge pages (MADV_HUGEPAGE) the first
 * time a read call sees it: 64-byte packets land one per 64 KiB slot, a new 4 KiB page each, so
 * with small pages every packet costs TLB misses. Advice only: failures are ignored. */
void vxm_advise_slab(vxm_inst *in, const uint8_t *buf, size_t len);

/* GSO-off set. */
int vxm_gso_is_off(vxm_inst *in, int fd);
void vxm_gso_set_off(vxm_inst *in, int fd);
void vxm_gso_forget(vxm_inst *in, int fd);

/* ---- checksums (csum.c) ------------------------------------------------------------------ */
/* Ones' complement partial sum of p[0..len) added to `sum`, in the CPU's byte order ("native
 * view": store a folded result with memcpy and the bytes land in network order). `p` must start
 * at an even position of the checksummed range; its memory alignment does not matter. */
uint64_t vxm_csum_add(const uint8_t *p, size_t len, uint64_t sum);
/* Folds to 16 bits (native view), not complemented. */
static inline uint16_t vxm_csum_fold(uint64_t s) {
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return (uint16_t)s;
}
/* Pseudo-header sum (native view) for IPv4 (alen 4) or IPv6 (alen 16): addresses at `src` and
 * `src + alen`, protocol and L4 length. */
uint64_t vxm_pseudo_sum(const uint8_t *src, int alen, int proto, uint32_t l4len);
static inline uint16_t vxm_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t vxm_be32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void vxm_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void vxm_put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
/* Stores a native-view 16-bit sum at p (network order). */
static inline void vxm_store_csum(uint8_t *p, uint16_t native) { memcpy(p, &native, 2); }
/* Sets an IPv4 header's checksum (header of ihl bytes at p). */
void vxm_ipv4_hdr_csum(uint8_t *p, int ihl);

/* ---- offload.c ---------------------------------------------------------------------------- */
/* tunWrite's coalesce mask: which flows may be merged into super-packets. */
#define VXM_COALESCE_TCP 1
#define VXM_COALESCE_UDP 2 /* only for a TUN the kernel gave USO (GSO_UDP_L4 writes) */
/* tunWrite's engine: writes packets to a TUN fd, coalescing what `coalesce` (a mask) allows. */
int vxm_tun_write(vxm_inst *in, int fd, uint8_t *buf, size_t buflen, const int32_t *vec, size_t nvec,
                  const int32_t *idx, int n, int coalesce);
/* udpSend's engine. */
int vxm_udp_send(vxm_inst *in, int fd, uint8_t *buf, size_t buflen, int32_t *vec, size_t nvec,
                 const int32_t *idx, int n);

/* ---- exported functions ------------------------------------------------------------------ */
napi_value vxm_js_tun_open(napi_env env, napi_callback_info info);
napi_value vxm_js_tun_read(napi_env env, napi_callback_info info);
napi_value vxm_js_tun_write(napi_env env, napi_callback_info info);
napi_value vxm_js_udp_open(napi_env env, napi_callback_info info);
napi_value vxm_js_udp_recv(napi_env env, napi_callback_info info);
napi_value vxm_js_udp_send(napi_env env, napi_callback_info info);
napi_value vxm_js_poll(napi_env env, napi_callback_info info);
napi_value vxm_js_poll_stop(napi_env env, napi_callback_info info);

#endif
