/*
 * Threads: a small pool that splits a loop of independent items (attention heads, blocks of rows of a
 * product) over the native kernels' threads; blas.c's setThreads sets its size (kernels/addon.ts
 * `blasThreads`) and keeps OpenBLAS at one thread, so that no second set of threads competes.
 *
 * The pool has n - 1 workers; the calling thread (Node's main thread) takes shares too. Workers
 * wait on a generation counter, briefly spinning and then yielding the core, before sleeping on a
 * condition variable, so the back-to-back kernels of one training step wake them in microseconds,
 * while an idle process sleeps. Every share runs with denormals flushed to zero, as the caller does (addon.c).
 */
#include <pthread.h>
#include <sched.h>
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

/* Waiting threads pause PAUSE_ROUNDS times, then yield the core up to YIELD_ROUNDS times (so that on a
   machine with fewer free cores than threads a waiting thread does not hold the core the thread it
   waits for needs), and idle workers then sleep. */
enum { MAX_POOL = 64, PAUSE_ROUNDS = 1000, YIELD_ROUNDS = 200, MAX_SHARES = 4096 };

static inline void relax(int round) {
  if (round < PAUSE_ROUNDS) CPU_RELAX();
  else sched_yield();
}

typedef struct {
  optlab_task_fn fn;
  void *ctx;
  int64_t n;
} Job;

/*
 * Shares are claimed, not assigned: the caller and every awake worker take the next unclaimed share
 * until none is left, so a worker that the OS does not schedule (a machine busy with other
 * processes) costs nothing: the caller runs its shares itself. `claim` packs the job's generation
 * (high 32 bits), its share count and the next share (16 bits each); a claim is a compare-and-swap
 * that fails once the caller has posted another job, so a late worker never runs a share with the
 * fields of the wrong job.
 */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_wake = PTHREAD_COND_INITIALIZER;
static pthread_t workers[MAX_POOL];
static int n_workers = 0;           /* started workers */
static int pool_threads = 1;        /* threads a parallel loop uses, the caller included */
static Job job;
static atomic_long generation = 0;  /* bumped once per job */
static _Atomic uint64_t claim = 0;
static atomic_int done = 0;         /* shares of the current job finished */
static long start_generation[MAX_POOL + 1];

#define CLAIM(g, shares, next) (((uint64_t)(uint32_t)(g) << 32) | ((uint64_t)(shares) << 16) | (uint64_t)(next))

/* The next share of job `g`, or -1 when it has none left or another job was posted. */
static int claim_share(long g) {
  uint64_t c = atomic_load(&claim);
  for (;;) {
    if ((uint32_t)(c >> 32) != (uint32_t)g) return -1;
    int shares = (int)((c >> 16) & 0xffff), next = (int)(c & 0xffff);
    if (next >= shares) return -1;
    if (atomic_compare_exchange_weak(&claim, &c, c + 1)) return next;
  }
}

static void run_shares(long g, optlab_task_fn fn, void *ctx, int64_t n) {
  int share;
  while ((share = claim_share(g)) >= 0) {
    int shares = (int)((atomic_load(&claim) >> 16) & 0xffff);
    int64_t begin = n * share / shares, end = n * (share + 1) / shares;
    if (begin < end) fn(ctx, begin, end);
    atomic_fetch_add(&done, 1);
  }
}

static void *worker_main(void *arg) {
  int id = (int)(intptr_t)arg;
  FTZ_ON();
  /* The generation when this worker was created, not when it first runs: a job posted in between is still its to help with. */
  long seen = start_generation[id];
  for (;;) {
    int spins = 0;
    while (atomic_load_explicit(&generation, memory_order_acquire) == seen && spins < PAUSE_ROUNDS + YIELD_ROUNDS) relax(spins++);
    if (atomic_load_explicit(&generation, memory_order_acquire) == seen) {
      pthread_mutex_lock(&pool_lock);
      while (atomic_load(&generation) == seen) pthread_cond_wait(&pool_wake, &pool_lock);
      pthread_mutex_unlock(&pool_lock);
    }
    seen = atomic_load_explicit(&generation, memory_order_acquire);
    Job j = job; /* valid for job `seen` only if a claim below succeeds */
    run_shares(seen, j.fn, j.ctx, j.n);
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
  /* Up to four shares per thread: a share of a worker that is descheduled holds back less. */
  int64_t want = 4 * (int64_t)pool_threads;
  int shares = (int)(most < want ? (most < 1 ? 1 : most) : want);
  if (shares > MAX_SHARES) shares = MAX_SHARES;
  if (pool_threads <= 1 || shares <= 1) {
    if (n > 0) fn(ctx, 0, n);
    return;
  }
  long g = atomic_load(&generation) + 1;
  /* Close claims before the fields change (a late worker's claim on the old job then fails). */
  atomic_store(&claim, CLAIM(g, 0, 0));
  atomic_thread_fence(memory_order_seq_cst);
  job = (Job){fn, ctx, n};
  atomic_store(&done, 0);
  atomic_store(&claim, CLAIM(g, shares, 0));
  pthread_mutex_lock(&pool_lock);
  atomic_store_explicit(&generation, g, memory_order_release);
  pthread_cond_broadcast(&pool_wake);
  pthread_mutex_unlock(&pool_lock);
  run_shares(g, fn, ctx, n);
  for (int spins = 0; atomic_load_explicit(&done, memory_order_acquire) < shares; spins++) relax(spins);
}

/*
 * Parallel products: sgemm calls split over the pool, OpenBLAS itself at one thread (setThreads),
 * so one set of threads serves products, attention heads and loops alike. A batch of products with
 * at least one per thread is split by products; otherwise each product is split into one block of
 * rows of C per thread (columns when C is wider than tall), each block one sgemm on a view of the
 * operands: for op(A) = A^T, rows of op(A) are columns of A, at A + first row, same leading dimension.
 * Products under 2^18 multiply-adds (OpenBLAS's own threshold for threads) run on the caller.
 */
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };
extern void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha,
                        const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

typedef struct {
  int ta, tb, m, n, k, lda, ldb, ldc, shares, by_rows;
  float alpha, beta;
  const float *a, *b;
  float *c;
  int64_t a_stride, b_stride, c_stride;
} Gemm;

static void gemm_items(void *ctx, int64_t begin, int64_t end) {
  const Gemm *g = ctx;
  for (int64_t item = begin; item < end; item++) {
    int64_t i = item / g->shares, share = item % g->shares;
    const float *a = g->a + i * g->a_stride, *b = g->b + i * g->b_stride;
    float *c = g->c + i * g->c_stride;
    int m = g->m, n = g->n;
    if (g->shares > 1 && g->by_rows) {
      int r0 = (int)((int64_t)g->m * share / g->shares), r1 = (int)((int64_t)g->m * (share + 1) / g->shares);
      a += g->ta == CBLAS_TRANS ? r0 : (int64_t)r0 * g->lda;
      c += (int64_t)r0 * g->ldc;
      m = r1 - r0;
    } else if (g->shares > 1) {
      int c0 = (int)((int64_t)g->n * share / g->shares), c1 = (int)((int64_t)g->n * (share + 1) / g->shares);
      b += g->tb == CBLAS_TRANS ? (int64_t)c0 * g->ldb : c0;
      c += c0;
      n = c1 - c0;
    }
    if (m > 0 && n > 0) cblas_sgemm(CBLAS_ROW_MAJOR, g->ta, g->tb, m, n, g->k, g->alpha, a, g->lda, b, g->ldb, g->beta, c, g->ldc);
  }
}

void optlab_sgemm_batch(int64_t batch, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, int64_t a_stride,
                        const float *b, int ldb, int64_t b_stride, float beta, float *c, int ldc, int64_t c_stride) {
  Gemm g = {ta ? CBLAS_TRANS : CBLAS_NO_TRANS, tb ? CBLAS_TRANS : CBLAS_NO_TRANS, m, n, k, lda, ldb, ldc, 1, 1, alpha, beta, a, b, c, a_stride, b_stride, c_stride};
  int threads = optlab_pool_threads();
  double work = (double)m * n * k;
  if (threads > 1 && work >= 262144.0 && batch < threads) {
    g.by_rows = m >= n;
    int span = g.by_rows ? m : n;
    /* Two blocks per thread (claimed as they come: threads.c), at least 16 rows (columns) each:
       OpenBLAS's microkernels are 16 wide. */
    int blocks = 2 * threads;
    g.shares = blocks < span / 16 ? blocks : (span / 16 > 1 ? span / 16 : 1);
  }
  int64_t items = batch * g.shares;
  if (threads > 1 && work * batch >= 262144.0 && items > 1) optlab_parallel_for(items, 1, gemm_items, &g);
  else gemm_items(&g, 0, items);
}
