/* bench-run.c - a fixed-time, multi-threaded loop around one operation.
 *
 * Every thread warms up on its own (caches, lazily built keys, first-use
 * fetches), then all start together at a barrier; the main thread sleeps
 * for the measuring time and raises a stop flag. The rate is the sum of
 * completed operations over the time from the barrier to the last thread's
 * return, so an operation still running at the stop is counted and its
 * time with it. */
#include "config.h"
#include "bench/bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct worker {
	bench_op_fn op;
	void *ctx;
	const bench_cfg_t *cfg;
	pthread_barrier_t *start;
	atomic_bool *stop;
	atomic_bool *failed;
	unsigned long done;
	double end;
} worker_t;

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bench_result_init(bench_result_t *r)
{
	memset(r, 0, sizeof(*r));
	for (int a = 0; a < ALG_COUNT; a++)
		for (int o = 0; o < OP_COUNT; o++)
			for (int t = 0; t < BENCH_THREADS_MAX; t++)
				r->rate[a][o][t] = -1.0;
	for (int k = 0; k < SYM_COUNT; k++)
		r->sym[k] = -1.0;
}

static void sleep_for(double seconds)
{
	struct timespec ts = { .tv_sec = (time_t)seconds };

	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void *worker_main(void *arg)
{
	worker_t *w = arg;
	double warm_end = bench_now() + w->cfg->warmup;

	do {
		if (w->op(w->ctx) != 0) {
			atomic_store(w->failed, true);
			break;
		}
	} while (bench_now() < warm_end);
	/* Waited on even after a failure, or the others would wait forever. */
	pthread_barrier_wait(w->start);
	while (!atomic_load_explicit(w->stop, memory_order_relaxed) &&
	       !atomic_load_explicit(w->failed, memory_order_relaxed)) {
		if (w->op(w->ctx) != 0) {
			atomic_store(w->failed, true);
			break;
		}
		w->done++;
	}
	w->end = bench_now();
	return NULL;
}

int bench_timed(const bench_cfg_t *cfg, bench_op_fn op, void *const ctx[], unsigned n,
		double *rate)
{
	worker_t w[BENCH_THREADS_MAX];
	pthread_t tid[BENCH_THREADS_MAX];
	pthread_barrier_t start;
	atomic_bool stop = false, failed = false;
	unsigned started = 0;
	unsigned long total = 0;
	double t0, end = 0;

	if (n == 0 || n > BENCH_THREADS_MAX)
		return -1;
	if (pthread_barrier_init(&start, NULL, n + 1) != 0)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		w[i] = (worker_t){ .op = op, .ctx = ctx[i], .cfg = cfg, .start = &start,
				   .stop = &stop, .failed = &failed };
		if (pthread_create(&tid[i], NULL, worker_main, &w[i]) != 0)
			break;
		started++;
	}
	if (started < n) {
		/* Cannot happen with two threads short of ENOMEM; the barrier
		 * would never open, so give up loudly rather than hang. */
		fprintf(stderr, "bench: pthread_create failed\n");
		return -1;
	}
	pthread_barrier_wait(&start);
	t0 = bench_now();
	sleep_for(cfg->seconds);
	atomic_store(&stop, true);
	for (unsigned i = 0; i < n; i++) {
		pthread_join(tid[i], NULL);
		total += w[i].done;
		if (w[i].end > end)
			end = w[i].end;
	}
	pthread_barrier_destroy(&start);
	if (atomic_load(&failed))
		return -1;
	*rate = end > t0 ? (double)total / (end - t0) : 0.0;
	return 0;
}
