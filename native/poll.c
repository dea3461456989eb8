/*
 * Readiness: a uv_poll_t (UV_READABLE, level-triggered) on the environment's own loop that calls
 * a JS function. The handle keeps the loop alive until pollStop.
 *
 * Lifetime: the C struct has two owners, the JS handle object (napi_wrap) and the libuv handle
 * (from uv_poll_init until its close callback). It is freed when both have let go:
 *   - pollStop: removes the wrap (owner 1 gone) and uv_close()s (owner 2 gone in the callback);
 *   - the JS object collected without pollStop: the wrap finalizer lets go of owner 1, polling
 *     continues (the function stays referenced) until the environment is torn down;
 *   - environment teardown (process exit, worker termination): an async cleanup hook closes the
 *     uv handle so the loop can close; references belong to the dying env and are not touched.
 */
#include "vxmesh.h"

#include <stdlib.h>
#include <uv.h>

typedef struct vxm_poll {
  uv_poll_t h;
  napi_env env;
  napi_ref fn;
  napi_async_context actx;
  napi_async_cleanup_hook_handle cleanup;
  int fd;
  int owners; /* wrap + uv handle */
  int closing;
} vxm_poll;

static void poll_release(vxm_poll *p) {
  if (--p->owners == 0) free(p);
}

static void on_close(uv_handle_t *h) {
  vxm_poll *p = h->data;
  if (p->cleanup) {
    napi_remove_async_cleanup_hook(p->cleanup);
    p->cleanup = NULL;
  }
  poll_release(p);
}

static void on_teardown(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle;
  vxm_poll *p = arg;
  /* on_close removes the hook: that is how Node learns the async cleanup finished */
  if (!p->closing) {
    p->closing = 1;
    uv_poll_stop(&p->h);
    uv_close((uv_handle_t *)&p->h, on_close);
  }
}

static void on_wrap_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  poll_release(data);
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  vxm_poll *p = h->data;
  if (p->closing) return;
  napi_env env = p->env;
  if (status < 0) uv_poll_stop(h); /* e.g. EBADF: do not spin; the callback still runs once */
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, result;
  if (napi_get_reference_value(env, p->fn, &fn) == napi_ok && fn) {
    /* napi_make_callback wants an object as `this` (undefined throws) */
    napi_get_global(env, &recv);
    /* status: 0, or a negative errno (libuv) after which the poll has stopped */
    napi_value arg;
    napi_create_int32(env, status, &arg);
    napi_status st = napi_make_callback(env, p->actx, recv, fn, 1, &arg, &result);
    bool pending = false;
    if (st != napi_ok && napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      /* an exception from onReadable: report it like any uncaught exception */
      napi_value err;
      if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
}

/* poll(fd, onReadable) -> { fd } */
napi_value vxm_js_poll(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  napi_valuetype t = napi_undefined;
  if (argc < 2) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "poll(fd, onReadable)");
    return NULL;
  }
  if (vxm_arg_int32(env, argv[0], "fd", &fd)) return NULL;
  napi_typeof(env, argv[1], &t);
  if (t != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "onReadable must be a function");
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    napi_throw_error(env, NULL, "poll: no event loop");
    return NULL;
  }
  vxm_poll *p = calloc(1, sizeof *p);
  if (!p) {
    napi_throw_error(env, "ENOMEM", "poll: out of memory");
    return NULL;
  }
  int r = uv_poll_init(loop, &p->h, fd);
  if (r < 0) {
    free(p); /* a failed uv_poll_init leaves nothing to close */
    vxm_throw_errno(env, "poll", -r, "uv_poll_init", NULL, NULL, "fd", fd, 1);
    return NULL;
  }
  p->h.data = p;
  p->env = env;
  p->fd = fd;
  p->owners = 1; /* the uv handle */

  napi_value handle, v, name;
  napi_create_object(env, &handle);
  napi_create_int32(env, fd, &v);
  napi_property_descriptor d = {"fd", NULL, NULL, NULL, NULL, v, napi_enumerable, NULL};
  napi_define_properties(env, handle, 1, &d);
  napi_create_string_utf8(env, "vxmesh.poll", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, handle, name, &p->actx);
  napi_create_reference(env, argv[1], 1, &p->fn);
  if (napi_wrap(env, handle, p, on_wrap_finalize, NULL, NULL) == napi_ok) p->owners++;
  napi_add_async_cleanup_hook(env, on_teardown, p, &p->cleanup);

  r = uv_poll_start(&p->h, UV_READABLE, on_readable);
  if (r < 0) {
    void *unused;
    if (napi_remove_wrap(env, handle, &unused) == napi_ok) p->owners--;
    napi_delete_reference(env, p->fn);
    p->fn = NULL;
    napi_async_destroy(env, p->actx);
    p->closing = 1;
    uv_close((uv_handle_t *)&p->h, on_close);
    vxm_throw_errno(env, "poll", -r, "uv_poll_start", NULL, NULL, "fd", fd, 1);
    return NULL;
  }
  return handle;
}

/* pollStop(handle): idempotent */
napi_value vxm_js_poll_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_valuetype t = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t);
  if (t != napi_object) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "pollStop(handle): handle must be a poll handle");
    return NULL;
  }
  void *data = NULL;
  if (napi_remove_wrap(env, argv[0], &data) != napi_ok || !data) {
    /* already stopped (or not one of ours): nothing to do */
    bool pending;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value e;
      napi_get_and_clear_last_exception(env, &e);
    }
    return vxm_undefined(env);
  }
  vxm_poll *p = data;
  if (p->fn) {
    napi_delete_reference(env, p->fn);
    p->fn = NULL;
  }
  napi_async_destroy(env, p->actx);
  p->actx = NULL;
  if (!p->closing) {
    p->closing = 1;
    uv_poll_stop(&p->h);
    uv_close((uv_handle_t *)&p->h, on_close);
  }
  poll_release(p); /* the wrap's share */
  return vxm_undefined(env);
}
