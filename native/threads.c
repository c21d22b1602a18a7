/*
 * Threads: a small pool that splits a loop of independent items (attention heads, blocks of an
 * elementwise loop) over the native kernels' threads, and the one thread setting of the addon:
 * setThreads(n) sets both this pool and OpenBLAS (kernels/addon.ts `blasThreads`).
 *
 * The pool has n - 1 workers; the calling thread (Node's main thread) runs the first share itself.
 * Workers spin briefly on a generation counter before sleeping on a condition variable, so the
 * back-to-back kernels of one training step wake them in microseconds, while an idle process
 * sleeps. Every share runs with denormals flushed to zero, as the caller does (addon.c), and with
 * OpenBLAS at one thread: products inside a share must not start threads of their own.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include "optlab_native.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <xmmintrin.h>
#define CPU_RELAX() _mm_pause()
#define FTZ_ON() _mm_setcsr(_mm_getcsr() | 0x8040u)
#else
#define CPU_RELAX() ((void)0)
#define FTZ_ON() ((void)0)
#endif

enum { MAX_POOL = 64, SPIN_ROUNDS = 20000 };

typedef struct {
  optlab_task_fn fn;
  void *ctx;
  int64_t n;
  int shares;
} Job;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_wake = PTHREAD_COND_INITIALIZER;
static pthread_t workers[MAX_POOL];
static int n_workers = 0;           /* started workers */
static int pool_threads = 1;        /* threads a parallel loop uses, the caller included */
static Job job;
static atomic_long generation = 0;  /* bumped once per job */
static atomic_int pending = 0;      /* shares not finished yet */

static void run_share(int share) {
  int64_t begin = job.n * share / job.shares, end = job.n * (share + 1) / job.shares;
  if (begin < end) job.fn(job.ctx, begin, end);
}

static long start_generation[MAX_POOL + 1];

static void *worker_main(void *arg) {
  int id = (int)(intptr_t)arg; /* 1-based: share 0 is the caller's */
  FTZ_ON();
  /* The generation when this worker was created, not when it first runs: a job posted in between
     counts on it. */
  long seen = start_generation[id];
  for (;;) {
    int spins = 0;
    while (atomic_load_explicit(&generation, memory_order_acquire) == seen && spins < SPIN_ROUNDS) {
      CPU_RELAX();
      spins++;
    }
    if (atomic_load_explicit(&generation, memory_order_acquire) == seen) {
      pthread_mutex_lock(&pool_lock);
      while (atomic_load(&generation) == seen) pthread_cond_wait(&pool_wake, &pool_lock);
      pthread_mutex_unlock(&pool_lock);
    }
    seen = atomic_load_explicit(&generation, memory_order_acquire);
    if (id < job.shares) run_share(id);
    atomic_fetch_sub_explicit(&pending, 1, memory_order_acq_rel);
  }
  return NULL;
}

int optlab_pool_threads(void) { return pool_threads; }

/* Starts workers up to n - 1 (they are never stopped: a lower setting leaves the extra ones asleep). */
int optlab_pool_set_threads(int n) {
  if (n < 1) n = 1;
  if (n > MAX_POOL) n = MAX_POOL;
  pthread_mutex_lock(&pool_lock);
  while (n_workers < n - 1) {
    start_generation[n_workers + 1] = atomic_load(&generation);
    if (pthread_create(&workers[n_workers], NULL, worker_main, (void *)(intptr_t)(n_workers + 1)) != 0) break;
    pthread_detach(workers[n_workers]);
    n_workers++;
  }
  pool_threads = n_workers + 1 < n ? n_workers + 1 : n;
  pthread_mutex_unlock(&pool_lock);
  return pool_threads;
}

void optlab_parallel_for(int64_t n, int64_t min_per_share, optlab_task_fn fn, void *ctx) {
  int64_t most = min_per_share > 0 ? n / min_per_share : n;
  int shares = pool_threads < most ? pool_threads : (int)(most < 1 ? 1 : most);
  if (shares <= 1) {
    if (n > 0) fn(ctx, 0, n);
    return;
  }
  job = (Job){fn, ctx, n, shares};
  /* Every started worker wakes per job (those beyond `shares` just count down): one counter, no
     per-worker bookkeeping. */
  atomic_store(&pending, n_workers);
  pthread_mutex_lock(&pool_lock);
  atomic_fetch_add_explicit(&generation, 1, memory_order_acq_rel);
  pthread_cond_broadcast(&pool_wake);
  pthread_mutex_unlock(&pool_lock);
  run_share(0);
  while (atomic_load_explicit(&pending, memory_order_acquire) > 0) CPU_RELAX();
}
