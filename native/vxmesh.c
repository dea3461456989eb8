/*
 * vxmesh native addon: module init, per-environment instance state, argument helpers, errors,
 * and the small exports (init, close, checksum).
 */
#include "vxmesh.h"

#include <sys/mman.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- errno names ------------------------------------------------------------------------- */

typedef struct {
  int err;
  const char *name;
  const char *msg;
} errno_entry;

static const errno_entry errno_table[] = {
    {EPERM, "EPERM", "operation not permitted"},
    {ENOENT, "ENOENT", "no such file or directory"},
    {ESRCH, "ESRCH", "no such process"},
    {EINTR, "EINTR", "interrupted system call"},
    {EIO, "EIO", "input/output error"},
    {ENXIO, "ENXIO", "no such device or address"},
    {E2BIG, "E2BIG", "argument list too long"},
    {EBADF, "EBADF", "bad file descriptor"},
    {EAGAIN, "EAGAIN", "resource temporarily unavailable"},
    {ENOMEM, "ENOMEM", "cannot allocate memory"},
    {EACCES, "EACCES", "permission denied"},
    {EFAULT, "EFAULT", "bad address"},
    {EBUSY, "EBUSY", "device or resource busy"},
    {EEXIST, "EEXIST", "file exists"},
    {ENODEV, "ENODEV", "no such device"},
    {ENOTDIR, "ENOTDIR", "not a directory"},
    {EINVAL, "EINVAL", "invalid argument"},
    {ENFILE, "ENFILE", "too many open files in system"},
    {EMFILE, "EMFILE", "too many open files"},
    {ENOTTY, "ENOTTY", "inappropriate ioctl for device"},
    {ENOSPC, "ENOSPC", "no space left on device"},
    {EPIPE, "EPIPE", "broken pipe"},
    {ERANGE, "ERANGE", "numerical result out of range"},
    {ENOSYS, "ENOSYS", "function not implemented"},
    {ENOTSOCK, "ENOTSOCK", "socket operation on non-socket"},
    {EDESTADDRREQ, "EDESTADDRREQ", "destination address required"},
    {EMSGSIZE, "EMSGSIZE", "message too long"},
    {EPROTOTYPE, "EPROTOTYPE", "protocol wrong type for socket"},
    {ENOPROTOOPT, "ENOPROTOOPT", "protocol not available"},
    {EPROTONOSUPPORT, "EPROTONOSUPPORT", "protocol not supported"},
    {EOPNOTSUPP, "EOPNOTSUPP", "operation not supported"},
    {EAFNOSUPPORT, "EAFNOSUPPORT", "address family not supported by protocol"},
    {EADDRINUSE, "EADDRINUSE", "address already in use"},
    {EADDRNOTAVAIL, "EADDRNOTAVAIL", "cannot assign requested address"},
    {ENETDOWN, "ENETDOWN", "network is down"},
    {ENETUNREACH, "ENETUNREACH", "network is unreachable"},
    {ECONNRESET, "ECONNRESET", "connection reset by peer"},
    {ENOBUFS, "ENOBUFS", "no buffer space available"},
    {EISCONN, "EISCONN", "transport endpoint is already connected"},
    {ENOTCONN, "ENOTCONN", "transport endpoint is not connected"},
    {ETIMEDOUT, "ETIMEDOUT", "connection timed out"},
    {ECONNREFUSED, "ECONNREFUSED", "connection refused"},
    {EHOSTDOWN, "EHOSTDOWN", "host is down"},
    {EHOSTUNREACH, "EHOSTUNREACH", "no route to host"},
    {EBADFD, "EBADFD", "file descriptor in bad state"},
    {ENAMETOOLONG, "ENAMETOOLONG", "file name too long"},
};

static const errno_entry *errno_lookup(int err) {
  for (size_t i = 0; i < sizeof(errno_table) / sizeof(errno_table[0]); i++)
    if (errno_table[i].err == err) return &errno_table[i];
  return NULL;
}

const char *vxm_errno_name(int err, char *buf, size_t cap) {
  const errno_entry *e = errno_lookup(err);
  if (e) return e->name;
  snprintf(buf, cap, "E%d", err);
  return buf;
}

static void set_str(napi_env env, napi_value obj, const char *key, const char *val) {
  napi_value v;
  if (napi_create_string_utf8(env, val, NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, obj, key, v);
}

static void set_int(napi_env env, napi_value obj, const char *key, int64_t val) {
  napi_value v;
  if (napi_create_int64(env, val, &v) == napi_ok) napi_set_named_property(env, obj, key, v);
}

void vxm_throw_errno(napi_env env, const char *fn, int err, const char *syscall, const char *key1,
                     const char *sval1, const char *key2, int ival2, int has_ival2) {
  char namebuf[16], msgbuf[64], text[512];
  const errno_entry *e = errno_lookup(err);
  const char *name = vxm_errno_name(err, namebuf, sizeof namebuf);
  const char *msg = e ? e->msg : NULL;
  if (!msg) {
    snprintf(msgbuf, sizeof msgbuf, "error %d", err);
    msg = msgbuf;
  }
  int n = snprintf(text, sizeof text, "%s: %s: %s", fn, name, msg);
  if (key1 && sval1 && key2 && has_ival2)
    snprintf(text + n, sizeof text - (size_t)n, " (%s %s, %s %d)", key1, sval1, key2, ival2);
  else if (key1 && sval1)
    snprintf(text + n, sizeof text - (size_t)n, " (%s %s)", key1, sval1);
  else if (key2 && has_ival2)
    snprintf(text + n, sizeof text - (size_t)n, " (%s %d)", key2, ival2);

  napi_value code, message, error;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  set_int(env, error, "errno", err);
  set_str(env, error, "syscall", syscall);
  if (key1 && sval1) set_str(env, error, key1, sval1);
  if (key2 && has_ival2) set_int(env, error, key2, ival2);
  napi_throw(env, error);
}

/* ---- argument helpers -------------------------------------------------------------------- */

static int type_error(napi_env env, const char *what, const char *expected) {
  char text[160];
  snprintf(text, sizeof text, "%s must be %s", what, expected);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", text);
  return -1;
}

int vxm_arg_int32(napi_env env, napi_value v, const char *what, int32_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return type_error(env, what, "a number");
  if (napi_get_value_int32(env, v, out) != napi_ok) return type_error(env, what, "a number");
  return 0;
}

int vxm_arg_bool(napi_env env, napi_value v, const char *what, int *out) {
  bool b;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_boolean) return type_error(env, what, "a boolean");
  napi_get_value_bool(env, v, &b);
  *out = b ? 1 : 0;
  return 0;
}

int vxm_arg_string(napi_env env, napi_value v, const char *what, char *out, size_t cap, size_t *len) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) return type_error(env, what, "a string");
  size_t full = 0, copied = 0;
  /* the full length first, so that the caller can refuse an over-long string (len >= cap)
   * rather than use a truncated one */
  napi_get_value_string_utf8(env, v, NULL, 0, &full);
  napi_get_value_string_utf8(env, v, out, cap, &copied);
  *len = full;
  return 0;
}

static int typed_array(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return -1;
  napi_typedarray_type t;
  size_t length, offset;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &t, &length, data, &ab, &offset) != napi_ok) return -1;
  if (t != want) return -1;
  *len = length;
  return 0;
}

int vxm_arg_bytes(napi_env env, napi_value v, const char *what, uint8_t **data, size_t *len) {
  void *d = NULL;
  if (typed_array(env, v, napi_uint8_array, &d, len)) return type_error(env, what, "a Buffer or Uint8Array");
  *data = d;
  return 0;
}

int vxm_arg_i32array(napi_env env, napi_value v, const char *what, int32_t **data, size_t *len) {
  void *d = NULL;
  if (typed_array(env, v, napi_int32_array, &d, len)) return type_error(env, what, "an Int32Array");
  *data = d;
  return 0;
}

int vxm_arg_f64array(napi_env env, napi_value v, const char *what, double **data, size_t *len) {
  void *d = NULL;
  if (typed_array(env, v, napi_float64_array, &d, len)) return type_error(env, what, "a Float64Array");
  *data = d;
  return 0;
}

napi_value vxm_undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

napi_value vxm_int(napi_env env, int64_t v) {
  napi_value r;
  napi_create_int64(env, v, &r);
  return r;
}

/* ---- instance state ---------------------------------------------------------------------- */

vxm_inst *vxm_get_inst(napi_env env) {
  void *d = NULL;
  napi_get_instance_data(env, &d);
  return d;
}

static void inst_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  vxm_inst *in = data;
  /* stats_ref belongs to the environment being torn down: it frees it. */
  free(in->gso_off);
  free(in);
}

int vxm_gso_is_off(vxm_inst *in, int fd) {
  for (size_t i = 0; i < in->gso_off_len; i++)
    if (in->gso_off[i] == fd) return 1;
  return 0;
}

void vxm_gso_set_off(vxm_inst *in, int fd) {
  if (vxm_gso_is_off(in, fd)) return;
  if (in->gso_off_len == in->gso_off_cap) {
    size_t cap = in->gso_off_cap ? in->gso_off_cap * 2 : 8;
    int *p = realloc(in->gso_off, cap * sizeof(int));
    if (!p) return; /* GSO stays on; sends then fall back per packet */
    in->gso_off = p;
    in->gso_off_cap = cap;
  }
  in->gso_off[in->gso_off_len++] = fd;
}

void vxm_gso_forget(vxm_inst *in, int fd) {
  for (size_t i = 0; i < in->gso_off_len; i++)
    if (in->gso_off[i] == fd) {
      in->gso_off[i] = in->gso_off[--in->gso_off_len];
      return;
    }
}

/* ---- small exports ----------------------------------------------------------------------- */

static napi_value js_init(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  vxm_inst *in = vxm_get_inst(env);
  double *d;
  size_t len;
  if (argc < 1) {
    type_error(env, "stats", "a Float64Array");
    return NULL;
  }
  if (vxm_arg_f64array(env, argv[0], "stats", &d, &len)) return NULL;
  if (len < NS_COUNT) {
    char text[96];
    snprintf(text, sizeof text, "stats must have at least %d entries", NS_COUNT);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", text);
    return NULL;
  }
  if (in->stats_ref) napi_delete_reference(env, in->stats_ref);
  /* The reference keeps the array (and so the memory behind `d`) alive. */
  napi_create_reference(env, argv[0], 1, &in->stats_ref);
  in->stats = d;
  return vxm_undefined(env);
}

void vxm_advise_slab(vxm_inst *in, const uint8_t *buf, size_t len) {
  const size_t huge = (size_t)2 << 20;
  if (len < 2 * huge) return;
  for (unsigned i = 0; i < sizeof in->advised / sizeof in->advised[0]; i++)
    if (in->advised[i] == buf) return;
  in->advised[in->advised_next++ % (sizeof in->advised / sizeof in->advised[0])] = buf;
#ifdef MADV_HUGEPAGE
  uintptr_t start = ((uintptr_t)buf + huge - 1) & ~(uintptr_t)(huge - 1);
  uintptr_t end = ((uintptr_t)buf + len) & ~(uintptr_t)(huge - 1);
  if (end > start) (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
#endif
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  if (argc < 1) {
    type_error(env, "fd", "a number");
    return NULL;
  }
  if (vxm_arg_int32(env, argv[0], "fd", &fd)) return NULL;
  vxm_gso_forget(vxm_get_inst(env), fd);
  if (fd >= 0) close(fd); /* errors (EBADF) are not interesting to the caller */
  return vxm_undefined(env);
}

static napi_value js_checksum(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint8_t *data;
  size_t len;
  int32_t off, n;
  double initial = 0;
  if (argc < 3) {
    type_error(env, "checksum(buf, off, len, initial)", "called with at least 3 arguments");
    return NULL;
  }
  if (vxm_arg_bytes(env, argv[0], "buf", &data, &len) || vxm_arg_int32(env, argv[1], "off", &off) ||
      vxm_arg_int32(env, argv[2], "len", &n))
    return NULL;
  if (argc >= 4) {
    napi_valuetype t;
    napi_typeof(env, argv[3], &t);
    if (t == napi_number) napi_get_value_double(env, argv[3], &initial);
    else if (t != napi_undefined) {
      type_error(env, "initial", "a number");
      return NULL;
    }
  }
  if (off < 0 || n < 0 || (size_t)off + (size_t)n > len) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "checksum: off/len outside the buffer");
    return NULL;
  }
  /* `initial` is a network-order partial sum (any size up to 2^53): fold it to 16 bits and turn
   * it into the native view before adding. */
  uint64_t init = initial > 0 ? (uint64_t)initial : 0;
  uint16_t f = vxm_csum_fold(init);
  uint16_t native_init;
  uint8_t be[2] = {(uint8_t)(f >> 8), (uint8_t)f};
  memcpy(&native_init, be, 2);
  uint16_t r = (uint16_t)~vxm_csum_fold(vxm_csum_add(data + off, (size_t)n, native_init));
  uint8_t out[2];
  memcpy(out, &r, 2);
  return vxm_int(env, (out[0] << 8) | out[1]);
}

/* ---- module init ------------------------------------------------------------------------- */

static void add_fn(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn);
  napi_set_named_property(env, exports, name, fn);
}

NAPI_MODULE_INIT() {
  vxm_inst *in = calloc(1, sizeof(vxm_inst));
  if (!in) {
    napi_throw_error(env, "ENOMEM", "vxmesh: cannot allocate instance state");
    return NULL;
  }
  in->stats = in->dummy_stats;
  if (napi_set_instance_data(env, in, inst_finalize, NULL) != napi_ok) {
    free(in);
    napi_throw_error(env, NULL, "vxmesh: napi_set_instance_data failed");
    return NULL;
  }
  napi_value v;
  napi_create_int32(env, PV_STRIDE, &v);
  napi_set_named_property(env, exports, "pvStride", v);
  napi_create_int32(env, NS_COUNT, &v);
  napi_set_named_property(env, exports, "statCount", v);
  add_fn(env, exports, "init", js_init);
  add_fn(env, exports, "tunOpen", vxm_js_tun_open);
  add_fn(env, exports, "tunRead", vxm_js_tun_read);
  add_fn(env, exports, "tunWrite", vxm_js_tun_write);
  add_fn(env, exports, "udpOpen", vxm_js_udp_open);
  add_fn(env, exports, "udpRecv", vxm_js_udp_recv);
  add_fn(env, exports, "udpSend", vxm_js_udp_send);
  add_fn(env, exports, "poll", vxm_js_poll);
  add_fn(env, exports, "pollStop", vxm_js_poll_stop);
  add_fn(env, exports, "close", js_close);
  add_fn(env, exports, "checksum", js_checksum);
  return exports;
}
