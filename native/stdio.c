/*
 * Muting the process's standard error around a library load: libtensorflow (the tfjs-node backend)
 * writes absl and oneDNN start-up lines straight to file descriptor 2 while it loads, before any of
 * its logging settings apply (TF_CPP_MIN_LOG_LEVEL does not reach them), and Node has no dup2.
 * kernels/backend.ts calls stderrMute() before loading tfjs-node and stderrRestore() right after.
 */
#include "optlab_native.h"
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static int saved_stderr = -1;

/* stderrMute(): points fd 2 at /dev/null, keeping a copy of the original. Returns false if it could not. */
napi_value optlab_stderr_mute(napi_env env, napi_callback_info info) {
  (void)info;
  bool ok = false;
  if (saved_stderr < 0) {
    fflush(stderr);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) {
      saved_stderr = dup(2);
      if (saved_stderr >= 0 && dup2(devnull, 2) >= 0) ok = true;
      close(devnull);
    }
  }
  napi_value r;
  CHECK(napi_get_boolean(env, ok, &r));
  return r;
}

/* stderrRestore(): puts the original fd 2 back (a no-op when nothing is muted). */
napi_value optlab_stderr_restore(napi_env env, napi_callback_info info) {
  (void)info;
  if (saved_stderr >= 0) {
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    saved_stderr = -1;
  }
  napi_value r;
  CHECK(napi_get_undefined(env, &r));
  return r;
}
