/* bench-issuerd.c - offpass-issuerd under load, on loopback only: a
 * libcurl multi driver playing newcomers that enroll (POST /token with
 * the pre-authorized code and the enrollment code as tx_code, POST /nonce,
 * POST /credential with the bearer token and a proof JWT), holders that
 * refresh (POST /nonce, then POST /credential with a proof JWT and the
 * current credential) and gates that upload sealed batches
 * (POST /gate/batch), against one and two issuerd processes on one
 * ledger. Prints requests/s and p50/p99 latency per operation, and the
 * settlement records/s the uploads reached, beside the goals (refresh >=
 * 2,000/s with p99 < 50 ms; settlement >= 12,000 records/s).
 *
 * Bounded: BENCH_ISSUERD_ENROLLEES enrollments (2,000; each code once),
 * BENCH_ISSUERD_HOLDERS refreshes (each holder once: a holder
 * gets the next window once), BENCH_ISSUERD_BATCHES batches of
 * BENCH_ISSUERD_RECORDS records from BENCH_ISSUERD_GATES gates (4, taking
 * turns: a gate's batches apply one after the other, gates' at once), BENCH_ISSUERD_INFLIGHT requests in flight
 * (16; at most 32, issuerd's connection limit per address: a load test uses
 * the fewest connections that keep the service busy, more only queue),
 * and every run stops after BENCH_ISSUERD_SECONDS whatever is left. The
 * driver signs proofs in software (OpenSSL, P-256) on the same two cores as
 * the service: the figures include that cost. The CPU each operation cost
 * the service and the driver (from /proc) is printed too: unlike the rates
 * it does not depend on what else runs on the machine.
 *
 *   bench-issuerd --module offpass-p11.so --issuerd PATH [--ledger URL
 *                 [--service-ledger URL] [--ledger-label NAME]]
 *
 * --service-ledger: the issuerds reach the database by this URL instead
 * (bench/run-bench.sh passes one through bench/delay-relay.c, the database
 * a network hop away), the rows call it NAME and print no goals (they are
 * for the database on these cores). Each run ends with the scaling: the
 * rate with two processes over the rate with one.
 *
 * The ledger is SQLite (ledger.db in the temp dir), or with --ledger the
 * empty PostgreSQL database URL names (bench/run-bench.sh starts a private
 * cluster with scripts/pg.sh and runs this once per backend); the rows say
 * which in their ledger column. */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "b64url.h"
#include "format/sig.h"
#include "issuer/issuer.h"
#include "issuer/test-kit.h"
#include "tests/kit/test-token.h"

#define TOKEN_LABEL "bench-issuerd"
#define SO_PIN "12345678"
#define USER_PIN "123456"
#define MAX_PROCS 2

typedef struct cfg {
	const char *module, *issuerd;
	const char *ledger; /* a PostgreSQL URL, NULL: SQLite */
	/* What the issuerds reach the same database by (NULL: ledger), and
	 * what the rows call it: bench/run-bench.sh gives them one through
	 * delay-relay, the database a network hop away; the setup goes
	 * straight to it. */
	const char *service_ledger, *label;
	unsigned long holders, enrollees, batches, records, inflight, gates;
	double seconds;
} cfg_t;

typedef struct holder {
	tk_holder_t h;
	uint8_t cred[OFP_CREDENTIAL_MAX];
	size_t cred_len;
	/* What every proof of this holder repeats, made once: the header
	 * (with its jwk) in base64url and the credential in base64url. A
	 * wallet would keep them too; the driver's CPU is the service's. */
	char *header_b64;
	char cred_b64[B64URL_LEN(OFP_CREDENTIAL_MAX) + 1];
} holder_t;

typedef struct world {
	char root[256], dir[320];
	holder_t *holders;
	holder_t *enrollees; /* an account and a code each, their key not enrolled yet */
	uint8_t **batches;
	size_t *batch_len;
	pid_t pids[MAX_PROCS];
	char urls[MAX_PROCS][64];
	unsigned nprocs;
} world_t;

typedef struct stats {
	double *lat; /* ms */
	unsigned long n, ok, failed;
	double seconds;
	double service_cpu, driver_cpu; /* seconds of CPU over the run */
	double machine_cpu;             /* the whole machine's busy CPU seconds */
	double switches;                /* the whole machine's context switches */
	/* What the issuerd processes' ledger handles did over their life
	 * (their last line on stderr): transactions the database refused
	 * for a concurrent one and ran again, statements, round trips. */
	unsigned long long conflicts, statements, round_trips;
	unsigned long long groups, units; /* the committers' */
} stats_t;

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* CPU seconds (user + system) a process has used: on a shared machine
 * the CPU per operation is the figure that does not depend on the load. */
static double proc_cpu(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long utime = 0, stime = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* after the command name, which may hold spaces */
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
		return 0;
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Busy CPU seconds of the whole machine so far (/proc/stat: user, nice,
 * system, irq, softirq; not idle, iowait or steal): everything a phase
 * costs, the database server's processes included, which neither the
 * service's nor the driver's own figure holds. */
static double machine_cpu(void)
{
	unsigned long long user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0;
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (f == NULL)
		return 0;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle, &iowait, &irq, &softirq);
	fclose(f);
	if (n != 7)
		return 0;
	return (double)(user + nice + sys + irq + softirq) / (double)sysconf(_SC_CLK_TCK);
}

/* Context switches of the whole machine so far (/proc/stat ctxt). */
static double machine_switches(void)
{
	char line[256];
	unsigned long long n = 0;
	FILE *f = fopen("/proc/stat", "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "ctxt %llu", &n) == 1)
			break;
	fclose(f);
	return (double)n;
}

static double service_cpu(const struct world *w);

static int fail(const char *what, const char *why)
{
	fprintf(stderr, "bench-issuerd: %s: %s\n", what, why);
	return -1;
}

static unsigned long env_ul(const char *name, unsigned long dflt)
{
	const char *v = getenv(name);
	return v != NULL && *v != '\0' ? strtoul(v, NULL, 10) : dflt;
}

/* ---- fixtures: the issuer, holders with credentials, a gate's batches -------------------------- */

static int issuer_setup(const cfg_t *c, world_t *w, ofp_issuer_t **iss)
{
	ofp_issuer_config_t ic;
	ofp_issuer_args_t a;
	char tokens[400], err[1024] = "";

	snprintf(tokens, sizeof(tokens), "%s/tokens", w->root);
	snprintf(w->dir, sizeof(w->dir), "%s/issuer", w->root);
	if (mkdir(tokens, 0700) != 0 || ofp_test_token_offpass_env(tokens) != 0)
		return fail(tokens, strerror(errno));
	if (ofp_test_token_init(c->module, TOKEN_LABEL, SO_PIN, USER_PIN, err, sizeof(err)) != 0)
		return fail("token", err);
	ofp_issuer_config_defaults(&ic);
	snprintf(ic.module, sizeof(ic.module), "%s", c->module);
	snprintf(ic.token_label, sizeof(ic.token_label), "%s", TOKEN_LABEL);
	memset(&a, 0, sizeof(a));
	a.dir = w->dir;
	a.now = (uint32_t)time(NULL);
	a.pin = USER_PIN;
	a.ledger = c->ledger;
	if (ofp_issuer_init(&a, &ic, iss, err, sizeof(err)) != OFP_ISSUER_OK)
		return fail("issuer init", err);
	return 0;
}

static char *b64_text(const char *s);

/* The proof header of h: typ, ES256 and the jwk of its key. */
static char *proof_header(const holder_t *h)
{
	uint8_t raw[65];
	size_t raw_len = 0;
	char x[48], y[48], *hj, *out = NULL;
	json_t *hdr;

	if (!ofp_sig_public_raw(h->h.key, OFP_ALG_P256, raw, &raw_len) || raw_len != sizeof(raw))
		return NULL;
	b64url_encode(raw + 1, 32, x);
	b64url_encode(raw + 33, 32, y);
	hdr = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "typ", "openid4vci-proof+jwt", "alg", "ES256", "jwk",
			"kty", "EC", "crv", "P-256", "x", x, "y", y);
	hj = hdr != NULL ? json_dumps(hdr, JSON_COMPACT) : NULL;
	if (hj != NULL)
		out = b64_text(hj);
	free(hj);
	json_decref(hdr);
	return out;
}

static int holder_setup(ofp_issuer_t *iss, holder_t *h, unsigned long i)
{
	ofp_ledger_t *l = ofp_issuer_ledger(iss);
	uint8_t req[OFP_ENROLLMENT_MAX], code[OFP_ENROLL_CODE_LEN];
	size_t req_len = 0;
	uint32_t expires;
	ofp_account_t a;
	char name[32];

	snprintf(name, sizeof(name), "rider-%06lu", i);
	if (ofp_issuer_account_open(iss, name, &a, code, &expires) != OFP_ISSUER_OK ||
	    ofp_ledger_credit(l, name, 1000000000LL, (uint32_t)time(NULL), NULL) != OFP_LEDGER_OK)
		return fail(name, ofp_issuer_error(iss));
	if (!tk_holder_new(&h->h, OFP_ALG_P256, a.holder_id, NULL))
		return fail(name, "holder key");
	h->h.has_code = true;
	memcpy(h->h.code, code, sizeof(code));
	if (!tk_enrollment(&h->h, (uint32_t)time(NULL), req, &req_len))
		return fail(name, "enrollment request");
	if (ofp_issuer_issue(iss, req, req_len, NULL, h->cred, &h->cred_len, NULL) != OFP_ISSUER_OK)
		return fail(name, ofp_issuer_error(iss));
	b64url_encode(h->cred, h->cred_len, h->cred_b64);
	h->header_b64 = proof_header(h);
	return h->header_b64 != NULL ? 0 : fail(name, "proof header");
}

/* Batches 1..n of one gate, each `records` operations of holders in turn. */
/* The batches: c->gates gates take turns (batch b is gate b % gates's),
 * each registered with the issuer; a gate's batches are numbered in turn. */
/* An account with an enrollment code and a key pair for it, not enrolled:
 * the driver redeems the code and enrolls the key over HTTP. */
static int enrollee_setup(ofp_issuer_t *iss, holder_t *h, unsigned long i)
{
	uint8_t code[OFP_ENROLL_CODE_LEN];
	uint32_t expires;
	ofp_account_t a;
	char name[32];

	snprintf(name, sizeof(name), "newcomer-%06lu", i);
	if (ofp_issuer_account_open(iss, name, &a, code, &expires) != OFP_ISSUER_OK ||
	    ofp_ledger_credit(ofp_issuer_ledger(iss), name, 1000000000LL, (uint32_t)time(NULL), NULL) != OFP_LEDGER_OK)
		return fail(name, ofp_issuer_error(iss));
	if (!tk_holder_new(&h->h, OFP_ALG_P256, a.holder_id, NULL))
		return fail(name, "holder key");
	h->h.has_code = true;
	memcpy(h->h.code, code, sizeof(code));
	h->header_b64 = proof_header(h);
	return h->header_b64 != NULL ? 0 : fail(name, "proof header");
}

static int batches_setup(const cfg_t *c, world_t *w, ofp_issuer_t *iss)
{
	uint8_t gate_id[OFP_ID_LEN] = { 'B', 'E', 'N', 'C', 'H', 'G', 'T', 0 }, seal[OFP_P256_UNCOMPRESSED_LEN];
	uint8_t pres[OFP_PRESENTATION_MAX], *list = NULL;
	size_t list_len = 0, pres_len;
	uint32_t t = (uint32_t)time(NULL), counter = 0;
	tk_gate_t *g = calloc(c->gates, sizeof(*g));
	unsigned long made = 0;
	bool ok = g != NULL;

	for (; ok && made < c->gates; made++) {
		gate_id[OFP_ID_LEN - 1] = (uint8_t)(made + 1);
		ok = tk_gate_new(&g[made], gate_id, NULL) &&
		     ofp_issuer_gate_add(iss, gate_id, g[made].pub, sizeof(g[made].pub), false, NULL) == OFP_ISSUER_OK;
	}
	ok = ok && ofp_issuer_trust_list(iss, &list, &list_len) == OFP_ISSUER_OK &&
	     tk_trust_sealing_key(list, list_len, seal);
	free(list);
	w->batches = calloc(c->batches, sizeof(*w->batches));
	w->batch_len = calloc(c->batches, sizeof(*w->batch_len));
	ok = ok && w->batches != NULL && w->batch_len != NULL;
	for (unsigned long b = 0; ok && b < c->batches; b++) {
		tk_gate_t *gb = &g[b % c->gates];
		for (unsigned long r = 0; ok && r < c->records; r++) {
			holder_t *h = &w->holders[(b * c->records + r) % c->holders];
			counter++;
			ok = tk_presentation(&h->h, h->cred, h->cred_len, t, counter, 10, pres, &pres_len) &&
			     tk_gate_record(gb, true, 0, t, pres, pres_len);
		}
		ok = ok && tk_gate_seal(gb, 0, seal, t, &w->batches[b], &w->batch_len[b]);
	}
	for (unsigned long i = 0; i < made; i++)
		tk_gate_free(&g[i]);
	free(g);
	return ok ? 0 : fail("batches", "cannot build them");
}

/* ---- the issuerd processes ------------------------------------------------------------------- */

static int start_issuerd(const cfg_t *c, world_t *w, unsigned i)
{
	char port_file[400], log_file[400], port[16] = "";
	pid_t pid;

	snprintf(port_file, sizeof(port_file), "%s/port-%u", w->root, i);
	snprintf(log_file, sizeof(log_file), "%s/issuerd-%u.log", w->root, i);
	unlink(port_file);
	pid = fork();
	if (pid < 0)
		return fail("fork", strerror(errno));
	if (pid == 0) {
		char err_file[400];
		int fd;
		snprintf(err_file, sizeof(err_file), "%s/issuerd-%u.err", w->root, i);
		fd = open(err_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
			_exit(127);
		close(fd);
		if (c->service_ledger != NULL)
			execl(c->issuerd, c->issuerd, "--dir", w->dir, "--pin-env", "BENCH_ISSUERD_PIN", "--listen",
			      "127.0.0.1:0", "--port-file", port_file, "--log", log_file, "--ledger", c->service_ledger,
			      (char *)NULL);
		else
			execl(c->issuerd, c->issuerd, "--dir", w->dir, "--pin-env", "BENCH_ISSUERD_PIN", "--listen",
			      "127.0.0.1:0", "--port-file", port_file, "--log", log_file, (char *)NULL);
		_exit(127);
	}
	w->pids[i] = pid;
	for (int tries = 0; tries < 300; tries++) {
		FILE *f = fopen(port_file, "r");
		if (f != NULL) {
			bool got = fgets(port, sizeof(port), f) != NULL;
			fclose(f);
			if (got) {
				port[strcspn(port, "\n")] = '\0';
				snprintf(w->urls[i], sizeof(w->urls[i]), "http://127.0.0.1:%s", port);
				return 0;
			}
		}
		usleep(20000);
	}
	return fail("offpass-issuerd", "did not start (see its log)");
}

static double service_cpu(const world_t *w)
{
	double sum = 0;

	for (unsigned i = 0; i < w->nprocs; i++)
		sum += proc_cpu(w->pids[i]);
	return sum;
}

/* The ledger line issuerd i wrote on stderr when it stopped, added to st. */
static void ledger_figures(const world_t *w, unsigned i, stats_t *st)
{
	unsigned long long tx, commits, conflicts, statements, round_trips, groups, units;
	char path[400], line[512];
	const char *p;
	FILE *f;

	snprintf(path, sizeof(path), "%s/issuerd-%u.err", w->root, i);
	f = fopen(path, "r");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		p = strstr(line, ": ledger: ");
		if (p != NULL && sscanf(p, ": ledger: %llu transactions, %llu committed, %llu refused for a concurrent one "
					   "(run again), %llu statements, %llu round trips; committer: %llu groups, %llu units",
					&tx, &commits, &conflicts, &statements, &round_trips, &groups, &units) == 7) {
			st->conflicts += conflicts;
			st->statements += statements;
			st->round_trips += round_trips;
			st->groups += groups;
			st->units += units;
		}
	}
	fclose(f);
}

/* Stop every issuerd; st (when not NULL) gets their ledger figures. */
static void stop_issuerds(world_t *w, stats_t *st)
{
	for (unsigned i = 0; i < w->nprocs; i++) {
		kill(w->pids[i], SIGTERM);
		waitpid(w->pids[i], NULL, 0);
		if (st != NULL)
			ledger_figures(w, i, st);
	}
	w->nprocs = 0;
}

/* ---- the driver ---------------------------------------------------------------------------------- */

enum { OP_ENROLL, OP_REFRESH, OP_BATCH, N_OPS };
enum { PHASE_TOKEN, PHASE_NONCE, PHASE_CREDENTIAL, PHASE_BATCH };

typedef struct xfer {
	CURL *easy;
	struct curl_slist *hdr;
	char *resp;
	size_t resp_len;
	char *req;
	char bearer[200]; /* "Authorization: Bearer ..." once the code is redeemed */
	int phase;
	unsigned long item;
	unsigned proc;
	double start;
} xfer_t;

typedef struct run {
	const cfg_t *c;
	world_t *w;
	int op;
	unsigned long next, total;
	stats_t *st;
	double deadline;
	CURLM *multi;
} run_t;

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
	xfer_t *x = ctx;
	size_t len = size * n;
	char *q = realloc(x->resp, x->resp_len + len + 1);

	if (q == NULL)
		return 0;
	memcpy(q + x->resp_len, p, len);
	x->resp = q;
	x->resp_len += len;
	q[x->resp_len] = '\0';
	return len;
}

static char *b64_text(const char *s)
{
	char *o = malloc(B64URL_LEN(strlen(s)) + 1);
	if (o != NULL)
		b64url_encode((const uint8_t *)s, strlen(s), o);
	return o;
}

/* The credential request body for holder h over nonce: a fresh payload
 * and signature per request (the nonce is new each time); with the
 * holder's credential for a refresh, without for an enrollment (the
 * bearer token says who). */
static char *credential_body(const holder_t *h, bool refresh, const char *aud, const char *nonce)
{
	uint8_t sig[OFP_SIG_LEN];
	char sig_s[96], *pj, *pb, *jwt, *out = NULL;
	json_t *pl, *body;

	pl = json_pack("{s:s, s:I, s:s}", "aud", aud, "iat", (json_int_t)time(NULL), "nonce", nonce);
	pj = pl != NULL ? json_dumps(pl, JSON_COMPACT) : NULL;
	pb = pj != NULL ? b64_text(pj) : NULL;
	jwt = pb != NULL ? malloc(strlen(h->header_b64) + strlen(pb) + sizeof(sig_s) + 3) : NULL;
	if (jwt != NULL) {
		sprintf(jwt, "%s.%s", h->header_b64, pb);
		if (ofp_sig_sign(h->h.key, OFP_ALG_P256, (const uint8_t *)jwt, strlen(jwt), sig)) {
			b64url_encode(sig, sizeof(sig), sig_s);
			strcat(jwt, ".");
			strcat(jwt, sig_s);
			body = json_pack("{s:s, s:{s:[s]}}", "credential_configuration_id", "offpass", "proofs", "jwt",
					 jwt);
			if (body != NULL && refresh)
				json_object_set_new(body, "offpass_credential", json_string(h->cred_b64));
			out = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
			json_decref(body);
		}
	}
	json_decref(pl);
	free(pj);
	free(pb);
	free(jwt);
	return out;
}

static void xfer_prepare(run_t *r, xfer_t *x, const char *path, const char *ctype, const void *body, size_t len)
{
	char url[128], ct[80];

	free(x->resp);
	x->resp = NULL;
	x->resp_len = 0;
	curl_slist_free_all(x->hdr);
	snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
	x->hdr = curl_slist_append(curl_slist_append(NULL, ct), "Expect:");
	if (x->bearer[0] != '\0' && strcmp(path, "/credential") == 0)
		x->hdr = curl_slist_append(x->hdr, x->bearer);
	snprintf(url, sizeof(url), "%s%s", r->w->urls[x->proc], path);
	curl_easy_reset(x->easy);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->easy, CURLOPT_URL, url);
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdr);
	curl_easy_setopt(x->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_multi_add_handle(r->multi, x->easy);
}

/* The token request of enrollee h: its holder id as the pre-authorized
 * code, its enrollment code as the tx_code (what a wallet sends). */
static char *token_form(const holder_t *h)
{
	char hex[2 * OFP_ID_LEN + 1], text[OFP_ENROLL_CODE_TEXT_LEN + 1], *form = malloc(256);

	if (form == NULL)
		return NULL;
	for (size_t i = 0; i < OFP_ID_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", h->h.holder_id[i]);
	ofp_enroll_code_text(h->h.code, text);
	snprintf(form, 256,
		 "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Apre-authorized_code"
		 "&pre-authorized_code=%s&tx_code=%s",
		 hex, text);
	return form;
}

/* Start the next operation on x; false when none is left. */
static bool op_start(run_t *r, xfer_t *x)
{
	if (r->next >= r->total || now_s() > r->deadline)
		return false;
	x->item = r->next++;
	x->proc = (unsigned)(x->item % r->w->nprocs);
	x->start = now_s();
	x->bearer[0] = '\0';
	if (r->op == OP_ENROLL) {
		x->phase = PHASE_TOKEN;
		free(x->req);
		x->req = token_form(&r->w->enrollees[x->item]);
		if (x->req == NULL)
			return false;
		xfer_prepare(r, x, "/token", "application/x-www-form-urlencoded", x->req, strlen(x->req));
	} else if (r->op == OP_REFRESH) {
		x->phase = PHASE_NONCE;
		xfer_prepare(r, x, "/nonce", "application/x-www-form-urlencoded", "", 0);
	} else {
		x->phase = PHASE_BATCH;
		xfer_prepare(r, x, "/gate/batch", "application/octet-stream", r->w->batches[x->item],
			     r->w->batch_len[x->item]);
	}
	return true;
}

static void op_done(run_t *r, xfer_t *x, bool ok)
{
	r->st->lat[r->st->n++] = (now_s() - x->start) * 1e3;
	if (ok)
		r->st->ok++;
	else
		r->st->failed++;
}

/* A transfer finished: the next phase, or the operation's end. */
static void on_finished(run_t *r, xfer_t *x, CURLcode rc)
{
	long status = 0;
	json_t *o;

	curl_multi_remove_handle(r->multi, x->easy);
	if (rc == CURLE_OK)
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	if (x->phase == PHASE_TOKEN && status == 200) {
		o = json_loads(x->resp, 0, NULL);
		if (json_is_string(json_object_get(o, "access_token")))
			snprintf(x->bearer, sizeof(x->bearer), "Authorization: Bearer %s",
				 json_string_value(json_object_get(o, "access_token")));
		json_decref(o);
		if (x->bearer[0] != '\0') {
			x->phase = PHASE_NONCE;
			xfer_prepare(r, x, "/nonce", "application/x-www-form-urlencoded", "", 0);
			return;
		}
	}
	if (x->phase == PHASE_NONCE && status == 200) {
		const holder_t *h = r->op == OP_ENROLL ? &r->w->enrollees[x->item] : &r->w->holders[x->item];
		o = json_loads(x->resp, 0, NULL);
		free(x->req);
		x->req = json_is_string(json_object_get(o, "c_nonce"))
				 ? credential_body(h, r->op == OP_REFRESH, r->w->urls[x->proc],
						   json_string_value(json_object_get(o, "c_nonce")))
				 : NULL;
		json_decref(o);
		if (x->req != NULL) {
			x->phase = PHASE_CREDENTIAL;
			xfer_prepare(r, x, "/credential", "application/json", x->req, strlen(x->req));
			return;
		}
	}
	if (status != 200 && r->st->failed < 3)
		fprintf(stderr, "bench-issuerd: HTTP %ld: %.200s\n", status, x->resp != NULL ? x->resp : "");
	op_done(r, x, status == 200);
	op_start(r, x);
}

/* Operations first..first+count-1 (holders or batches), each once. */
static int drive(const cfg_t *c, world_t *w, int op, unsigned long first, unsigned long count, stats_t *st)
{
	run_t r = { c, w, op, first, first + count, st, 0, curl_multi_init() };
	xfer_t *xs = calloc(c->inflight, sizeof(*xs));
	int running = 0, left;
	bool progressed;
	double t0;
	CURLMsg *m;

	st->lat = calloc(count + 1, sizeof(double));
	if (r.multi == NULL || xs == NULL || st->lat == NULL)
		return fail("driver", "out of memory");
	t0 = now_s();
	st->service_cpu = -service_cpu(w);
	st->driver_cpu = -self_cpu();
	st->machine_cpu = -machine_cpu();
	st->switches = -machine_switches();
	r.deadline = t0 + c->seconds;
	for (unsigned long i = 0; i < c->inflight; i++) {
		xs[i].easy = curl_easy_init();
		if (xs[i].easy == NULL)
			return fail("driver", "curl_easy_init");
		op_start(&r, &xs[i]);
	}
	/* Until nothing runs and no finished transfer is left unread (the
	 * last perform may finish transfers whose next phase starts here). */
	do {
		curl_multi_perform(r.multi, &running);
		progressed = false;
		while ((m = curl_multi_info_read(r.multi, &left)) != NULL) {
			xfer_t *x = NULL;
			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			on_finished(&r, x, m->data.result);
			progressed = true;
		}
		if (running > 0 && !progressed)
			curl_multi_poll(r.multi, NULL, 0, 100, NULL);
	} while (running > 0 || progressed);
	st->seconds = now_s() - t0;
	st->service_cpu += service_cpu(w);
	st->driver_cpu += self_cpu();
	st->machine_cpu += machine_cpu();
	st->switches += machine_switches();
	for (unsigned long i = 0; i < c->inflight; i++) {
		curl_easy_cleanup(xs[i].easy);
		curl_slist_free_all(xs[i].hdr);
		free(xs[i].resp);
		free(xs[i].req);
	}
	free(xs);
	curl_multi_cleanup(r.multi);
	return 0;
}

/* ---- figures -------------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(const stats_t *s, double p)
{
	size_t i;

	if (s->n == 0)
		return 0;
	i = (size_t)(p * (double)(s->n - 1) + 0.5);
	return s->lat[i];
}

static void print_row(const char *what, const char *ledger, unsigned procs, const stats_t *s, double per_op)
{
	qsort(s->lat, s->n, sizeof(double), cmp_double);
	printf("%-22s %-10s %5u  %8lu %6lu %9.0f %9.1f %9.1f", what, ledger, procs, s->ok, s->failed,
	       s->seconds > 0 ? (double)s->ok / s->seconds : 0, pct(s, 0.5), pct(s, 0.99));
	printf(" %11.0f", per_op > 0 && s->seconds > 0 ? (double)s->ok * per_op / s->seconds : 0);
	printf(" %8.3f %8.3f", s->ok > 0 ? s->service_cpu * 1e3 / (double)s->ok : 0,
	       s->ok > 0 ? s->driver_cpu * 1e3 / (double)s->ok : 0);
	printf(" %7llu %8.1f %8.1f", s->conflicts, s->ok > 0 ? (double)s->statements / (double)s->ok : 0,
	       s->ok > 0 ? (double)s->round_trips / (double)s->ok : 0);
	printf(" %6.1f", s->groups > 0 ? (double)s->units / (double)s->groups : 0);
	printf(" %6.1f", s->ok > 0 ? s->switches / (double)s->ok : 0);
	printf(" %8.3f %5.0f%%\n", s->ok > 0 ? s->machine_cpu * 1e3 / (double)s->ok : 0,
	       s->seconds > 0 ? s->machine_cpu * 100 / s->seconds / (double)sysconf(_SC_NPROCESSORS_ONLN) : 0);
}

/* What the CPU figures allow when the driver and the service have the
 * machine's cores to themselves (the rate above depends on what else
 * runs: the load average says how much did). */
/* Operations (or records, per_op of them each) per second. */
static double rate(const stats_t *s, double per_op)
{
	return s->seconds > 0 ? (double)s->ok * per_op / s->seconds : 0;
}

/* Two processes against one, per operation: what a second process on the
 * same database bought. */
static void print_scaling(const stats_t one[N_OPS], const stats_t two[N_OPS], bool goal)
{
	static const char *const what[N_OPS] = { "enrollment", "refresh", "batch upload" };

	for (int op = 0; op < N_OPS; op++) {
		double x = rate(&one[op], 1) > 0 ? rate(&two[op], 1) / rate(&one[op], 1) : 0;
		printf("scaling: %s, 2 processes / 1 process: x%.2f%s\n", what[op], x,
		       !goal ? "" : x > 1.05 ? " (goal: scale with processes: met)" : " (goal: scale with processes: NOT met)");
	}
}

static void print_ceiling(const stats_t *s)
{
	double per = s->ok > 0 ? (s->service_cpu + s->driver_cpu) / (double)s->ok : 0, load[1] = { 0 };
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	if (getloadavg(load, 1) != 1)
		load[0] = -1;
	printf("svc/drv cpu: CPU ms per operation of the issuerd processes / of this driver\n");
	printf("retries: transactions the ledger refused for a concurrent one and ran again; stmts, rtts: ledger "
	       "statements and round trips to the database per operation (each phase on issuerds of its own); group: "
	       "units per grouped commit\n");
	printf("switch: context switches of the whole machine per operation (each round trip to another process costs "
	       "two)\n");
	printf("mach cpu: busy CPU ms of the whole machine per operation (the database server included); busy: of all "
	       "cores over the phase (near 100%%: the machine, not the service, was the limit)\n");
	if (per > 0)
		printf("refresh CPU (1 process): %.3f ms service + %.3f ms driver: at most %.0f/s on %ld idle cores "
		       "(load average now %.2f)\n",
		       s->service_cpu * 1e3 / (double)s->ok, s->driver_cpu * 1e3 / (double)s->ok,
		       (double)cores / per, cores, load[0]);
	if (s->ok > 0 && s->machine_cpu > 0)
		printf("refresh CPU of the whole machine (1 process): %.3f ms: at most %.0f/s on %ld cores\n",
		       s->machine_cpu * 1e3 / (double)s->ok, (double)cores * (double)s->ok / s->machine_cpu, cores);
}

static int parse(int argc, char **argv, cfg_t *c)
{
	static const struct option opts[] = { { "module", required_argument, NULL, 'm' },
					      { "issuerd", required_argument, NULL, 'i' },
					      { "ledger", required_argument, NULL, 'l' },
					      { "service-ledger", required_argument, NULL, 's' },
					      { "ledger-label", required_argument, NULL, 'n' }, { 0 } };
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'm')
			c->module = optarg;
		else if (o == 'i')
			c->issuerd = optarg;
		else if (o == 'l')
			c->ledger = optarg;
		else if (o == 's')
			c->service_ledger = optarg;
		else if (o == 'n')
			c->label = optarg;
		else
			return -1;
	}
	c->holders = env_ul("BENCH_ISSUERD_HOLDERS", 4000); /* 2,000 refreshes per column: a second or more each */
	c->enrollees = env_ul("BENCH_ISSUERD_ENROLLEES", 2000); /* accounts with a code, their keys not enrolled */
	c->batches = env_ul("BENCH_ISSUERD_BATCHES", 40);
	c->records = env_ul("BENCH_ISSUERD_RECORDS", 500);
	c->inflight = env_ul("BENCH_ISSUERD_INFLIGHT", 16);
	c->gates = env_ul("BENCH_ISSUERD_GATES", 4); /* each settles its batches in order, gates at once */
	c->seconds = (double)env_ul("BENCH_ISSUERD_SECONDS", 30);
	if (c->module == NULL || c->issuerd == NULL || c->holders < 2 || c->enrollees < 2 || c->batches < 2 ||
	    c->records == 0 ||
	    c->inflight == 0 || c->inflight > 32 || c->gates == 0 || c->gates > 200 || (c->service_ledger != NULL && c->ledger == NULL))
		return -1;
	return 0;
}

static int setup(const cfg_t *c, world_t *w)
{
	ofp_issuer_t *iss = NULL;
	double t0 = now_s();
	int rc;

	w->holders = calloc(c->holders, sizeof(*w->holders));
	w->enrollees = calloc(c->enrollees, sizeof(*w->enrollees));
	if (w->holders == NULL || w->enrollees == NULL)
		return fail("setup", "out of memory");
	rc = issuer_setup(c, w, &iss);
	for (unsigned long i = 0; rc == 0 && i < c->holders; i++)
		rc = holder_setup(iss, &w->holders[i], i);
	for (unsigned long i = 0; rc == 0 && i < c->enrollees; i++)
		rc = enrollee_setup(iss, &w->enrollees[i], i);
	if (rc == 0)
		rc = batches_setup(c, w, iss);
	ofp_issuer_close(iss);
	if (rc == 0)
		fprintf(stderr,
			"bench-issuerd: %lu holders with credentials, %lu with a code, %lu batches of %lu records from %lu "
			"gates in %.1f s\n",
			c->holders, c->enrollees, c->batches, c->records, c->gates, now_s() - t0);
	return rc;
}

/* The holders' and the batches' first half with one issuerd, the second
 * half with two (a holder refreshes once, a batch settles once). */
static int measure(const cfg_t *c, world_t *w)
{
	static const char *const rows[N_OPS] = { "enrollment (3 reqs)", "refresh (nonce+cred)", "batch upload" };
	stats_t st[2][N_OPS];
	int rc = 0;
	const char *ledger = c->label != NULL ? c->label : c->ledger != NULL ? "postgresql" : "sqlite";

	memset(st, 0, sizeof(st));
	printf("\noffpass-issuerd on loopback, %s ledger, %lu requests in flight\n", ledger, c->inflight);
	printf("%-22s %-10s %5s  %8s %6s %9s %9s %9s %11s %8s %8s %7s %8s %8s %6s %6s %8s %6s\n", "operation", "ledger",
	       "procs", "done", "failed", "per s", "p50 ms", "p99 ms", "records/s", "svc cpu", "drv cpu", "retries", "stmts",
	       "rtts", "group", "switch", "mach cpu", "busy");
	for (unsigned procs = 1; rc == 0 && procs <= MAX_PROCS; procs++) {
		unsigned long half[N_OPS] = { c->enrollees / 2, c->holders / 2, c->batches / 2 };
		/* Each phase on processes of its own: their ledger figures
		 * are the phase's. */
		for (int op = 0; rc == 0 && op < N_OPS; op++) {
			stats_t *s = &st[procs - 1][op];
			w->nprocs = 0;
			for (unsigned i = 0; rc == 0 && i < procs; i++, w->nprocs++)
				rc = start_issuerd(c, w, i);
			if (rc == 0)
				rc = drive(c, w, op, (procs - 1) * half[op], half[op], s);
			stop_issuerds(w, rc == 0 ? s : NULL);
		}
		if (rc == 0) {
			for (int op = 0; op < N_OPS; op++)
				print_row(rows[op], ledger, procs, &st[procs - 1][op], op == OP_BATCH ? (double)c->records : 0);
		}
	}
	if (rc == 0)
		print_scaling(st[0], st[1], c->ledger != NULL);
	if (rc == 0 && c->label == NULL) { /* the goals are for the database on these cores */
		double refresh = rate(&st[0][OP_REFRESH], 1);
		double records = rate(&st[0][OP_BATCH], (double)c->records);
		/* The rates' goals are SQLite's; PostgreSQL's is to scale. */
		const char *what = c->ledger == NULL ? "goal" : "SQLite's goal, for comparison";
		printf("%s: refresh >= 2000/s, p99 < 50 ms (1 process, %s): %.0f/s, p99 %.1f ms: %s\n", what, ledger,
		       refresh, pct(&st[0][OP_REFRESH], 0.99),
		       refresh >= 2000 && pct(&st[0][OP_REFRESH], 0.99) < 50 ? "met" : "NOT met");
		printf("%s: settlement >= 12000 records/s (1 process, %s): %.0f/s: %s\n", what, ledger, records,
		       records >= 12000 ? "met" : "NOT met");
		print_ceiling(&st[0][OP_REFRESH]);
	}
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < N_OPS; j++)
			free(st[i][j].lat);
	return rc;
}

int main(int argc, char **argv)
{
	cfg_t c = { 0 };
	world_t w;
	char cmd[400];
	int rc;

	memset(&w, 0, sizeof(w));
	if (parse(argc, argv, &c) != 0) {
		fprintf(stderr, "usage: bench-issuerd --module MODULE --issuerd PATH [--ledger URL "
				"[--service-ledger URL] [--ledger-label NAME]] (BENCH_ISSUERD_* in the environment)\n");
		return 2;
	}
	snprintf(w.root, sizeof(w.root), "%s/offpass-bench-issuerd.XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(w.root) == NULL || setenv("BENCH_ISSUERD_PIN", USER_PIN, 1) != 0 ||
	    setenv("OFFPASS_PKCS11_MODULE", c.module, 1) != 0)
		return fail("temp dir", strerror(errno)) != 0;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = setup(&c, &w);
	if (rc == 0)
		rc = measure(&c, &w);
	stop_issuerds(&w, NULL);
	for (unsigned long i = 0; w.holders != NULL && i < c.holders; i++) {
		tk_holder_free(&w.holders[i].h);
		free(w.holders[i].header_b64);
	}
	for (unsigned long i = 0; w.enrollees != NULL && i < c.enrollees; i++) {
		OPENSSL_cleanse(w.enrollees[i].h.code, sizeof(w.enrollees[i].h.code));
		tk_holder_free(&w.enrollees[i].h);
		free(w.enrollees[i].header_b64);
	}
	free(w.enrollees);
	for (unsigned long b = 0; w.batches != NULL && b < c.batches; b++)
		free(w.batches[b]);
	free(w.batches);
	free(w.batch_len);
	free(w.holders);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w.root);
	if (system(cmd) != 0)
		fprintf(stderr, "bench-issuerd: could not remove %s\n", w.root);
	curl_global_cleanup();
	return rc == 0 ? 0 : 1;
}
