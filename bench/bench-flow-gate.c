/* bench-flow-gate.c - checks per second at the gate, through the public API
 * (offpass_verifier_check), beside raw OpenSSL verify and a bare journal
 * append + fdatasync in the same run.
 *
 * A figure is one fresh verifier (its own state directory, the software
 * issuer's trust list installed) fed presentations made before the clock
 * starts, one pool per thread:
 *   cold  every presentation a different credential (serial and holder id
 *         never seen), so the issuer signature is verified each time;
 *   warm  one credential per thread, a fresh authorization (counter) each
 *         time: after the first, only the holder signature is verified.
 * The pools are made once and shown to every figure's verifier: a fresh
 * verifier has seen none of them. Their size is a bound, not a guess: a
 * thread cannot check faster than OpenSSL verifies (warm: one verify a
 * check, cold: two), so a pool holds what one thread's OpenSSL verify
 * rate, measured first, would get through in the warm-up and measuring
 * time, with a margin. A pool that runs out all the same ends its thread
 * early, and the figure is marked. Every presentation must be OPERATE:
 * anything else means the bench is wrong, and fails it. */
#include "config.h"
#include "bench/bench-flow.h"
#include "verifier/offpass-verifier.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#define HOLDER_KEYS 16	  /* cold credentials take turns among these keys */
#define POOL_MAX 100000	  /* presentations per thread, warm; cold: half */
#define POOL_MARGIN 2.0 /* the OpenSSL rate may be measured under a passing load */
#define GEN_THREADS 2	  /* making the pools */
/* Room for every holder of a cold figure: no live replay entry is evicted. */
#define REPLAY_CAPACITY 131072u
_Static_assert(REPLAY_CAPACITY >= BENCH_THREADS_MAX * (POOL_MAX / 2), "replay capacity");
/* A journal record holding a 213-byte presentation (docs/FORMAT.md 8). */
#define RECORD_LEN (OFP_JOURNAL_RECORD_MIN + OFP_PRESENTATION_QR_P256)

static const char *const fs_label[FS_COUNT] = { "disk", "tmpfs" };
static const char *const cache_label[CACHE_COUNT] = { "cold", "warm" };

typedef struct item {
	uint16_t len;
	uint8_t bytes[OFP_PRESENTATION_MAX];
} item_t;

/* What one thread checks. Item i is a function of (stream, i) alone, so
 * any thread can make any item. */
typedef struct stream {
	bool cold;
	uint64_t first;		     /* cold: serial and holder id of item 0 */
	const tk_holder_t *holder;   /* warm: the credential's holder */
	ofp_credential_t cred;	     /* warm: the one credential */
	unsigned key_base;	     /* cold: its own HOLDER_KEYS / 2 keys */
	item_t *items;
	size_t n;
} stream_t;

typedef struct gate_ctx {
	const flow_cfg_t *cfg;
	flow_issuer_t iss;
	tk_holder_t holders[HOLDER_KEYS];
	uint64_t next_id; /* serials and holder ids */
	unsigned next_cold; /* cold streams made: which half of the keys */
	stream_t pool[CACHE_COUNT][BENCH_THREADS_MAX];
	bool have_pools;
} gate_ctx_t;

/* ---- making presentations -------------------------------------------------- */

static int make_item(const gate_ctx_t *g, const stream_t *s, size_t i, item_t *it)
{
	ofp_credential_t c;
	size_t len = 0;
	int rc;

	if (s->cold) {
		/* Replay state is per holder key: each key of the stream counts
		 * up on its own, and no other stream of the figure uses it. */
		uint64_t id = s->first + i;
		const tk_holder_t *h = &g->holders[s->key_base + i % (HOLDER_KEYS / 2)];

		rc = flow_credential(&g->iss, h, id, id, &c);
		if (rc == 0)
			rc = flow_present(&c, h, (uint32_t)(i / (HOLDER_KEYS / 2)) + 1, NULL, 0, it->bytes, &len);
	} else {
		rc = flow_present(&s->cred, s->holder, (uint32_t)i + 1, NULL, 0, it->bytes, &len);
	}
	it->len = (uint16_t)len;
	return rc;
}

typedef struct gen_job {
	const gate_ctx_t *g;
	stream_t *const *s;
	unsigned ns, k;
	int rc;
} gen_job_t;

/* Slice k of GEN_THREADS of every stream. */
static void *gen_main(void *arg)
{
	gen_job_t *j = arg;

	for (unsigned t = 0; t < j->ns && j->rc == 0; t++) {
		stream_t *s = j->s[t];
		size_t from = s->n * j->k / GEN_THREADS, to = s->n * (j->k + 1) / GEN_THREADS;

		for (size_t i = from; i < to && j->rc == 0; i++)
			j->rc = make_item(j->g, s, i, &s->items[i]);
	}
	return NULL;
}

static int fill(const gate_ctx_t *g, stream_t *const s[], unsigned ns)
{
	gen_job_t job[GEN_THREADS];
	pthread_t tid[GEN_THREADS];
	bool started[GEN_THREADS];
	int rc = 0;

	for (unsigned t = 0; t < ns; t++) {
		s[t]->items = calloc(s[t]->n, sizeof(item_t));
		if (s[t]->items == NULL) {
			fprintf(stderr, "bench-flow: out of memory for %zu presentations\n", s[t]->n);
			return -1;
		}
	}
	for (unsigned k = 0; k < GEN_THREADS; k++) {
		job[k] = (gen_job_t){ .g = g, .s = s, .ns = ns, .k = k };
		started[k] = pthread_create(&tid[k], NULL, gen_main, &job[k]) == 0;
		if (!started[k])
			gen_main(&job[k]); /* slower, not wrong */
	}
	for (unsigned k = 0; k < GEN_THREADS; k++) {
		if (started[k])
			pthread_join(tid[k], NULL);
		if (job[k].rc != 0)
			rc = -1;
	}
	return rc;
}

/* A stream of n items; a warm one gets its credential here. */
static int stream_init(gate_ctx_t *g, stream_t *s, bool cold, size_t n)
{
	uint64_t id;

	memset(s, 0, sizeof(*s));
	s->cold = cold;
	s->n = n;
	if (cold) {
		s->first = g->next_id;
		g->next_id += n;
		s->key_base = (g->next_cold++ % 2) * (HOLDER_KEYS / 2);
		return 0;
	}
	id = g->next_id++;
	s->holder = &g->holders[id % HOLDER_KEYS];
	return flow_credential(&g->iss, s->holder, id, id, &s->cred);
}

/* Every thread's pool, cold and warm, sized by one thread's OpenSSL verify
 * rate (ossl1, verifies/s). */
static int make_pools(gate_ctx_t *g, double ossl1)
{
	double warm = ossl1 * (g->cfg->run.warmup + g->cfg->run.seconds) * POOL_MARGIN + 256;
	size_t n[CACHE_COUNT];
	stream_t *all[CACHE_COUNT * BENCH_THREADS_MAX];
	unsigned k = 0;

	n[CACHE_WARM] = warm > POOL_MAX ? POOL_MAX : (size_t)warm;
	n[CACHE_COLD] = n[CACHE_WARM] / 2;
	fprintf(stderr, "bench-flow: making %zu cold and %zu warm presentations per thread\n", n[CACHE_COLD],
		n[CACHE_WARM]);
	for (int c = 0; c < CACHE_COUNT; c++)
		for (int t = 0; t < BENCH_THREADS_MAX; t++) {
			if (stream_init(g, &g->pool[c][t], c == CACHE_COLD, n[c]) != 0)
				return -1;
			all[k++] = &g->pool[c][t];
		}
	g->have_pools = true;
	return fill(g, all, k);
}

static void free_pools(gate_ctx_t *g)
{
	for (int c = 0; c < CACHE_COUNT; c++)
		for (int t = 0; t < BENCH_THREADS_MAX; t++)
			free(g->pool[c][t].items);
}

/* ---- checking ------------------------------------------------------------- */

static int check_one(offpass_verifier_t *v, const item_t *it)
{
	offpass_result_t res;
	offpass_status_t st = offpass_verifier_check(v, it->bytes, it->len, FLOW_AMOUNT, NULL, 0, FLOW_NOW, &res);

	if (st != OFFPASS_STATUS_OK) {
		fprintf(stderr, "bench-flow: offpass_verifier_check: status %d: %s\n", (int)st,
			offpass_verifier_error(v));
		return -1;
	}
	if (res.decision != OFFPASS_OPERATE) {
		fprintf(stderr, "bench-flow: offpass_verifier_check refused a presentation: %s: %s\n",
			res.reason_text, offpass_verifier_error(v));
		return -1;
	}
	return 0;
}

/* The workers start together once all have warmed up; a worker that could
 * not be created makes the others give up instead of waiting forever. */
typedef struct runner {
	offpass_verifier_t *v;
	const bench_cfg_t *run;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned ready;
	bool go, abort;
	atomic_bool stop, failed;
	atomic_uint finished;
} runner_t;

typedef struct worker {
	runner_t *r;
	const stream_t *s;
	size_t next;
	unsigned long done;
	double end;
	bool ran_out;
} worker_t;

static bool wait_for_start(runner_t *r)
{
	bool go;

	pthread_mutex_lock(&r->mu);
	r->ready++;
	pthread_cond_broadcast(&r->cv);
	while (!r->go && !r->abort)
		pthread_cond_wait(&r->cv, &r->mu);
	go = r->go;
	pthread_mutex_unlock(&r->mu);
	return go;
}

static void *worker_main(void *arg)
{
	worker_t *w = arg;
	runner_t *r = w->r;
	double warm_end = bench_now() + r->run->warmup;

	while (w->next < w->s->n && bench_now() < warm_end && !atomic_load(&r->failed))
		if (check_one(r->v, &w->s->items[w->next++]) != 0)
			atomic_store(&r->failed, true);
	if (wait_for_start(r)) {
		while (!atomic_load_explicit(&r->stop, memory_order_relaxed) &&
		       !atomic_load_explicit(&r->failed, memory_order_relaxed)) {
			if (w->next == w->s->n) {
				w->ran_out = true;
				break;
			}
			if (check_one(r->v, &w->s->items[w->next++]) != 0) {
				atomic_store(&r->failed, true);
				break;
			}
			w->done++;
		}
	}
	w->end = bench_now();
	atomic_fetch_add(&r->finished, 1);
	return NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Start the workers together, stop them after the measuring time (or when
 * every pool is used up); *rate = checks/s over all threads. */
static int run(const flow_cfg_t *cfg, offpass_verifier_t *v, const stream_t *s, unsigned n, double *rate,
	       bool *ran_out)
{
	runner_t r = { .v = v, .run = &cfg->run };
	worker_t w[BENCH_THREADS_MAX];
	pthread_t tid[BENCH_THREADS_MAX];
	unsigned started = 0;
	unsigned long total = 0;
	double t0, end = 0;

	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.cv, NULL);
	for (unsigned i = 0; i < n; i++) {
		w[i] = (worker_t){ .r = &r, .s = &s[i] };
		if (pthread_create(&tid[i], NULL, worker_main, &w[i]) != 0)
			break;
		started++;
	}
	pthread_mutex_lock(&r.mu);
	while (started == n && r.ready < n)
		pthread_cond_wait(&r.cv, &r.mu);
	r.go = started == n;
	r.abort = !r.go;
	pthread_cond_broadcast(&r.cv);
	pthread_mutex_unlock(&r.mu);
	t0 = bench_now();
	while (r.go && bench_now() - t0 < cfg->run.seconds && atomic_load(&r.finished) < n)
		sleep_ms(10);
	atomic_store(&r.stop, true);
	*ran_out = false;
	for (unsigned i = 0; i < started; i++) {
		pthread_join(tid[i], NULL);
		total += w[i].done;
		end = w[i].end > end ? w[i].end : end;
		*ran_out = *ran_out || w[i].ran_out;
	}
	pthread_cond_destroy(&r.cv);
	pthread_mutex_destroy(&r.mu);
	if (started < n)
		fprintf(stderr, "bench-flow: pthread_create failed\n");
	if (started < n || atomic_load(&r.failed))
		return -1;
	*rate = end > t0 ? (double)total / (end - t0) : 0.0;
	return 0;
}

static int open_gate(const gate_ctx_t *g, const char *state, offpass_verifier_t **v)
{
	offpass_verifier_config_t vc;
	char err[512] = "";

	offpass_verifier_config_init(&vc);
	vc.state_dir = state;
	memcpy(vc.verifier_id, "BENCHGAT", OFP_ID_LEN);
	vc.resource_class = 1;
	vc.replay_capacity = REPLAY_CAPACITY;
	vc.fare_mode = OFFPASS_FARE_TILL; /* each check charges FLOW_AMOUNT */
	if (offpass_verifier_open(&vc, v, err, sizeof(err)) != OFFPASS_STATUS_OK) {
		fprintf(stderr, "bench-flow: offpass_verifier_open %s: %s\n", state, err);
		return -1;
	}
	if (offpass_verifier_install_trust_list(*v, g->iss.trust, g->iss.trust_len, FLOW_NOW) != OFFPASS_STATUS_OK) {
		fprintf(stderr, "bench-flow: install trust list: %s\n", offpass_verifier_error(*v));
		return -1;
	}
	return 0;
}

/* One figure: a fresh verifier under dir checks the pools s[0..threads). */
static int gate_figure(gate_ctx_t *g, const char *dir, const stream_t *s, unsigned threads, double *rate,
		       bool *ran_out)
{
	offpass_verifier_t *v = NULL;
	char state[600];
	int rc = -1;

	snprintf(state, sizeof(state), "%s/state", dir);
	if (open_gate(g, state, &v) == 0)
		rc = run(g->cfg, v, s, threads, rate, ran_out);
	offpass_verifier_close(v);
	return rc;
}

/* ---- the references: OpenSSL verify, append + fdatasync ---------------------- */

typedef struct ossl_ref {
	EVP_PKEY *key;
	uint8_t msg[OFP_TBS_MAX];
	size_t msg_len;
	uint8_t der[80];
	size_t der_len;
} ossl_ref_t;

/* What ofp_sig_verify does for P-256, less the r||s to DER conversion. */
static int op_ossl_verify(void *arg)
{
	const ossl_ref_t *o = arg;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, o->key) == 1 &&
		 EVP_DigestVerify(ctx, o->der, o->der_len, o->msg, o->msg_len) == 1;

	EVP_MD_CTX_free(ctx);
	if (!ok) {
		fprintf(stderr, "bench-flow: EVP_DigestVerify failed\n");
		ERR_print_errors_fp(stderr);
	}
	return ok ? 0 : -1;
}

/* A P-256 holder's key and the message it signs for a presentation (an
 * authorization's to-be-signed bytes), signed once in DER. */
static int ossl_ref_init(const gate_ctx_t *g, ossl_ref_t *o)
{
	ofp_credential_t c;
	ofp_authorization_t a;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	memset(o, 0, sizeof(*o));
	memset(&a, 0, sizeof(a));
	a.time = FLOW_NOW;
	a.counter = 1;
	a.amount = FLOW_AMOUNT;
	o->key = g->holders[0].key;
	o->der_len = sizeof(o->der);
	ok = ctx != NULL && flow_credential(&g->iss, &g->holders[0], 1, 1, &c) == 0 &&
	     ofp_authorization_tbs(&c, &a, o->msg, sizeof(o->msg), &o->msg_len, NULL) == OFP_FMT_OK &&
	     EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, o->key) == 1 &&
	     EVP_DigestSign(ctx, o->der, &o->der_len, o->msg, o->msg_len) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		fprintf(stderr, "bench-flow: OpenSSL reference signature failed\n");
	return ok ? 0 : -1;
}

typedef struct append_ref {
	int fd;
	uint8_t record[RECORD_LEN];
} append_ref_t;

static int op_append(void *arg)
{
	append_ref_t *a = arg;
	ssize_t w = write(a->fd, a->record, sizeof(a->record));

	if (w != (ssize_t)sizeof(a->record) || fdatasync(a->fd) != 0) {
		perror("bench-flow: append + fdatasync");
		return -1;
	}
	return 0;
}

/* What the journal adds to a check at least: one record-sized append and
 * fdatasync, alone, in a file under dir. */
static int append_figure(const flow_cfg_t *cfg, const char *dir, double *rate)
{
	append_ref_t a;
	void *ctx[1] = { &a };
	char path[600];
	int rc;

	memset(&a, 0, sizeof(a));
	memset(a.record, 0x5a, sizeof(a.record));
	snprintf(path, sizeof(path), "%s/append.bin", dir);
	a.fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (a.fd < 0) {
		perror(path);
		return -1;
	}
	rc = bench_timed(&cfg->run, op_append, ctx, 1, rate);
	close(a.fd);
	return rc;
}

/* ---- all figures -------------------------------------------------------------- */

static void keep_max(double *into, double v)
{
	if (v > *into)
		*into = v;
}

static int one_dir_round(gate_ctx_t *g, int fs, unsigned round, flow_gate_result_t *r)
{
	const flow_cfg_t *cfg = g->cfg;

	for (int c = 0; c < CACHE_COUNT; c++) {
		for (unsigned t = 1; t <= BENCH_THREADS_MAX; t++) {
			char dir[512];
			double rate = -1;
			bool ran_out = false;
			int rc;

			fprintf(stderr, "bench-flow: round %u of %u: gate, state on %s, %s cache, %u thread%s\n",
				round, cfg->rounds, fs_label[fs], cache_label[c], t, t > 1 ? "s" : "");
			if (flow_mkdtemp(cfg->dir[fs], "offpass-gate", dir, sizeof(dir)) != 0)
				return -1;
			rc = gate_figure(g, dir, g->pool[c], t, &rate, &ran_out);
			flow_rmtree(dir);
			if (rc != 0)
				return -1;
			keep_max(&r->check[fs][c][t - 1], rate);
			if (ran_out) {
				fprintf(stderr, "bench-flow: (the pool ran out before the time)\n");
				r->ran_out[fs][c][t - 1] = true;
			}
		}
	}
	return 0;
}

static int append_round(const flow_cfg_t *cfg, int fs, unsigned round, flow_gate_result_t *r)
{
	char dir[512];
	double rate = -1;
	int rc;

	fprintf(stderr, "bench-flow: round %u of %u: append + fdatasync on %s\n", round, cfg->rounds, fs_label[fs]);
	if (flow_mkdtemp(cfg->dir[fs], "offpass-append", dir, sizeof(dir)) != 0)
		return -1;
	rc = append_figure(cfg, dir, &rate);
	flow_rmtree(dir);
	if (rc == 0)
		keep_max(&r->fsync[fs], rate);
	return rc;
}

static int one_round(gate_ctx_t *g, ossl_ref_t *o, unsigned round, flow_gate_result_t *r)
{
	const flow_cfg_t *cfg = g->cfg;
	void *ctx[BENCH_THREADS_MAX];

	for (int i = 0; i < BENCH_THREADS_MAX; i++)
		ctx[i] = o; /* one shared key, as the gate's threads share one */
	fprintf(stderr, "bench-flow: round %u of %u: OpenSSL verify\n", round, cfg->rounds);
	for (unsigned t = 1; t <= BENCH_THREADS_MAX; t++) {
		double rate = -1;

		if (bench_timed(&cfg->run, op_ossl_verify, ctx, t, &rate) != 0)
			return -1;
		keep_max(&r->ossl[t - 1], rate);
	}
	if (cfg->settle_only)
		return 0;
	if (!g->have_pools && make_pools(g, r->ossl[0]) != 0)
		return -1;
	for (int fs = 0; fs < FS_COUNT; fs++)
		if (cfg->dir[fs] != NULL &&
		    (one_dir_round(g, fs, round, r) != 0 || append_round(cfg, fs, round, r) != 0))
			return -1;
	return 0;
}

int flow_gate(const flow_cfg_t *cfg, flow_gate_result_t *r)
{
	static const uint8_t no_id[OFP_ID_LEN]; /* flow_credential sets the holder id */
	gate_ctx_t g;
	ossl_ref_t o;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	for (int fs = 0; fs < FS_COUNT; fs++) {
		r->fsync[fs] = -1;
		for (int c = 0; c < CACHE_COUNT; c++)
			for (int t = 0; t < BENCH_THREADS_MAX; t++)
				r->check[fs][c][t] = -1;
	}
	for (int t = 0; t < BENCH_THREADS_MAX; t++)
		r->ossl[t] = -1;
	memset(&g, 0, sizeof(g));
	memset(&o, 0, sizeof(o));
	g.cfg = cfg;
	g.next_id = 1;
	if (flow_issuer_new(&g.iss) != 0)
		goto out;
	for (int i = 0; i < HOLDER_KEYS; i++) {
		if (!tk_holder_new(&g.holders[i], OFP_ALG_P256, no_id, NULL)) {
			fprintf(stderr, "bench-flow: holder key\n");
			goto out;
		}
	}
	if (ossl_ref_init(&g, &o) != 0)
		goto out;
	for (unsigned k = 1; k <= cfg->rounds; k++)
		if (one_round(&g, &o, k, r) != 0)
			goto out;
	rc = 0;
out:
	free_pools(&g);
	for (int i = 0; i < HOLDER_KEYS; i++)
		tk_holder_free(&g.holders[i]);
	flow_issuer_free(&g.iss);
	return rc;
}
