/* bench-flow.c - `make bench`, part two: the offline flow's figures that
 * issue 3 asks for, printed after the token table.
 *
 *   bench-flow [--state DIR] [--tmpfs DIR] [--module MODULE] [--only settle]
 *
 * 1. Presentation bytes and QR version: P-256 and Ed25519 holders, with
 *    and without a challenge, encoded by the wire format and drawn by
 *    ofp_qr_encode (holder/qr.h: libqrencode, byte mode, level M), exactly
 *    as `offpass-holder present` does.
 * 2. Checks per second at the gate through offpass_verifier_check, with a
 *    cold and a warm credential cache, 1 and 2 threads, beside OpenSSL
 *    ECDSA P-256 verify (EVP_DigestVerify) and a bare journal-sized append
 *    + fdatasync, all in this run (bench-flow-gate.c). The gate's state is
 *    in a new directory under --state (default $TMPDIR, else /tmp: the
 *    default file system, where the journal's fdatasync per decision, part
 *    of the contract, costs what it costs) and again under --tmpfs (e.g.
 *    /dev/shm: the flush is free, what remains is the CPU cost).
 * 3. Settlement records per second: ofp_issuer_settle of a sealed batch on
 *    a real issuer whose keys are on a fresh offpass-p11 token (--module,
 *    default $OFFPASS_P11_MODULE; without one, n/a), ledger under --state,
 *    or in the empty PostgreSQL database BENCH_LEDGER names (a URL;
 *    scripts/pg.sh start DIR prints one) (bench-flow-settle.c).
 *    `--only settle`: this part alone, after the OpenSSL verify reference
 *    of part 2 (the ceiling it is compared with).
 *
 * Environment: BENCH_SECONDS (1), BENCH_WARMUP (0.2) and BENCH_ROUNDS (3) as
 * for the token bench; BENCH_SETTLE_RECORDS (10000, at most 100000: one
 * batch) and BENCH_SETTLE_HOLDERS (100). Every temporary directory is made
 * under the directories given and removed. The exit status is 0 unless
 * something failed. */
#include "config.h"
#include "bench/bench-flow.h"
#include "holder/qr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The target: a P-256 presentation in QR version 10 at level M. */
#define TARGET_QR_VERSION 10

static const char *const fs_title[FS_COUNT] = { "default file system", "tmpfs" };

static double env_double(const char *name, double def, double min, double max)
{
	const char *s = getenv(name);
	char *end;
	double v;

	if (s == NULL || *s == '\0')
		return def;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !(v >= min) || !(v <= max)) {
		fprintf(stderr, "bench-flow: ignoring %s=%s\n", name, s);
		return def;
	}
	return v;
}

/* ---- where the state goes ---------------------------------------------------- */

/* The type of the file system holding dir, from the mount with the longest
 * mount point that contains it (/proc/self/mountinfo); "?" when unknown. */
static void fs_type(const char *dir, char *out, size_t cap)
{
	char path[4096], line[4096], best[64] = "?";
	size_t best_len = 0;
	FILE *f;

	snprintf(out, cap, "?");
	if (realpath(dir, path) == NULL || (f = fopen("/proc/self/mountinfo", "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char mnt[4096], type[64];
		const char *sep = strstr(line, " - ");
		size_t n;

		if (sep == NULL || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
		    sscanf(sep + 3, "%63s", type) != 1)
			continue;
		n = strlen(mnt);
		if (strncmp(path, mnt, n) != 0 || (path[n] != '/' && path[n] != '\0' && n != 1))
			continue;
		if (n >= best_len) {
			best_len = n;
			snprintf(best, sizeof(best), "%s", type);
		}
	}
	fclose(f);
	snprintf(out, cap, "%s", best);
}

/* ---- 1. sizes ------------------------------------------------------------------ */

static int size_row(const flow_issuer_t *iss, unsigned alg, size_t challenge_len, bool *target_ok)
{
	static const uint8_t no_id[OFP_ID_LEN]; /* flow_credential sets the holder id */
	tk_holder_t h;
	ofp_credential_t c;
	uint8_t pres[OFP_PRESENTATION_MAX], challenge[OFP_CHALLENGE_MAX];
	size_t len = 0;
	ofp_qr_t qr;
	char err[256], what[64];
	int rc = -1;

	memset(challenge, 0xc5, sizeof(challenge));
	memset(&qr, 0, sizeof(qr));
	if (!tk_holder_new(&h, alg, no_id, NULL)) {
		fprintf(stderr, "bench-flow: holder key\n");
		tk_holder_free(&h);
		return -1;
	}
	if (flow_credential(iss, &h, 1001, 0x484f4c4445523031ull, &c) != 0 ||
	    flow_present(&c, &h, 1, challenge, challenge_len, pres, &len) != 0)
		goto out;
	if (ofp_qr_encode(pres, len, &qr, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench-flow: %s\n", err);
		goto out;
	}
	if (challenge_len == 0)
		snprintf(what, sizeof(what), "one-way (QR), no challenge");
	else
		snprintf(what, sizeof(what), "two-way, %zu-byte challenge", challenge_len);
	printf("%-9s %-30s %5zu %11d %8d\n", alg == OFP_ALG_P256 ? "P-256" : "Ed25519", what, len, qr.version,
	       qr.width);
	if (alg == OFP_ALG_P256 && challenge_len == 0)
		*target_ok = len <= OFP_PRESENTATION_QR_P256 && qr.version <= TARGET_QR_VERSION;
	rc = 0;
out:
	ofp_qr_free(&qr);
	tk_holder_free(&h);
	return rc;
}

static int print_sizes(void)
{
	static const size_t challenges[] = { 0, 16, OFP_CHALLENGE_MAX };
	static const unsigned algs[] = { OFP_ALG_P256, OFP_ALG_ED25519 };
	flow_issuer_t iss;
	bool target_ok = false;
	int rc = 0;

	if (flow_issuer_new(&iss) != 0)
		return -1;
	printf("1. Presentation size and QR code: encoded by format/format.h, drawn by ofp_qr_encode\n"
	       "(holder/qr.h: libqrencode, byte mode, level M, the smallest version that holds it),\n"
	       "as `offpass-holder present` draws it. The issuer signs with P-256; the rows differ in\n"
	       "the holder's key and the challenge.\n");
	printf("%-9s %-30s %5s %11s %8s\n", "holder", "channel", "bytes", "QR version", "modules");
	for (size_t a = 0; a < OFP_ARRAY_LEN(algs) && rc == 0; a++)
		for (size_t c = 0; c < OFP_ARRAY_LEN(challenges) && rc == 0; c++)
			rc = size_row(&iss, algs[a], challenges[c], &target_ok);
	if (rc == 0)
		printf("Target: a P-256 QR presentation in at most %d bytes, QR version %d at level M: %s\n\n",
		       OFP_PRESENTATION_QR_P256, TARGET_QR_VERSION, target_ok ? "PASS" : "MISS");
	flow_issuer_free(&iss);
	return rc;
}

/* ---- 2. the gate --------------------------------------------------------------- */

static void put_rate(double v)
{
	if (v < 0)
		printf(" %9s", "n/a");
	else
		printf(" %9.0f", v);
}

static void put_check(double v, bool ran_out)
{
	if (v < 0)
		printf(" %9s ", "n/a");
	else
		printf(" %9.0f%c", v, ran_out ? '*' : ' ');
}

/* The check's rate against OpenSSL verify: a share, and the check's time
 * in verifies. */
static void put_ratio(double check, double ossl)
{
	if (check <= 0 || ossl <= 0)
		printf(" %7s %8s", "-", "-");
	else
		printf(" %6.1f%% %8.2f", 100.0 * check / ossl, ossl / check);
}

static void print_gate_table(const flow_cfg_t *cfg, const flow_gate_result_t *g, char types[FS_COUNT][64])
{
	static const char *const cache[CACHE_COUNT] = { "cold", "warm" };

	printf("%-17s", "checks/s");
	for (int fs = 0; fs < FS_COUNT; fs++)
		printf("  %-26s", cfg->dir[fs] != NULL ? types[fs] : "(not run)");
	printf("\n%-17s", "");
	for (int fs = 0; fs < FS_COUNT; fs++)
		printf("  %9s %7s %8s", "checks/s", "of OSSL", "verifies");
	putchar('\n');
	for (int c = 0; c < CACHE_COUNT; c++) {
		for (int t = 0; t < BENCH_THREADS_MAX; t++) {
			printf("%-5s %-11s", t == 0 ? cache[c] : "", t == 0 ? "1 thread" : "2 threads");
			for (int fs = 0; fs < FS_COUNT; fs++) {
				put_check(g->check[fs][c][t], g->ran_out[fs][c][t]);
				put_ratio(g->check[fs][c][t], g->ossl[t]);
			}
			putchar('\n');
		}
		printf("%-5s %-11s", "", "2/1");
		for (int fs = 0; fs < FS_COUNT; fs++) {
			double one = g->check[fs][c][0], two = g->check[fs][c][1];

			if (one > 0 && two >= 0)
				printf(" %9.2fx %16s", two / one, "");
			else
				printf(" %10s %16s", "-", "");
		}
		putchar('\n');
	}
	printf("%-17s", "OpenSSL verify/s");
	for (int t = 0; t < BENCH_THREADS_MAX; t++) {
		printf(" %d thread%s", t + 1, t ? "s" : "");
		put_rate(g->ossl[t]);
	}
	printf("\n%-17s", "append+fdatasync");
	for (int fs = 0; fs < FS_COUNT; fs++) {
		if (cfg->dir[fs] == NULL)
			continue;
		printf(" %s", types[fs]);
		put_rate(g->fsync[fs]);
		if (g->fsync[fs] >= 0)
			printf("/s");
	}
	putchar('\n');
}

static double us(double rate)
{
	return rate > 0 ? 1e6 / rate : -1;
}

/* One thread's check time taken apart: the verifies (OpenSSL's time), the
 * rest of the CPU work (tmpfs check - verifies), and what the disk adds
 * (check on disk - the same check on tmpfs): the journal's flush. */
static void print_split(const flow_cfg_t *cfg, const flow_gate_result_t *g, char types[FS_COUNT][64])
{
	double verify = us(g->ossl[0]), sync = us(g->fsync[FS_DISK]);

	if (verify < 0 || cfg->dir[FS_TMPFS] == NULL)
		return;
	printf("Where one check's time goes (1 thread, us): the verifies, the rest of the CPU work\n"
	       "(tmpfs check - verifies), and what the disk adds (%s check - tmpfs check):\n", types[FS_DISK]);
	printf("       %8s %8s  = %-18s %8s   %-22s\n", types[FS_DISK], "tmpfs", "verifies", "CPU rest",
	       "disk adds (share)");
	for (int c = 0; c < CACHE_COUNT; c++) {
		double disk = us(g->check[FS_DISK][c][0]), mem = us(g->check[FS_TMPFS][c][0]);
		double nv = c == CACHE_COLD ? 2 : 1;
		char v[32];

		if (mem < 0)
			continue;
		snprintf(v, sizeof(v), "%g x %.1f = %.1f", nv, verify, nv * verify);
		printf("%-6s", c == CACHE_COLD ? "cold" : "warm");
		if (disk > 0)
			printf(" %8.1f", disk);
		else
			printf(" %8s", "n/a");
		printf(" %8.1f  = %-18s %8.1f", mem, v, mem - nv * verify);
		if (disk > 0)
			printf("   %8.1f (%4.1f%%)", disk - mem, 100.0 * (disk - mem) / disk);
		putchar('\n');
	}
	if (sync > 0)
		printf("Append + fdatasync alone on %s: %.1f us.\n", types[FS_DISK], sync);
}

static void print_gate(const flow_cfg_t *cfg, const flow_gate_result_t *g)
{
	char types[FS_COUNT][64];
	bool any_short = false;

	printf("2. Checks per second at the gate: offpass_verifier_check (the public API), P-256 issuer\n"
	       "and holders, one-way presentations, fare %u; a fresh verifier per figure, presentations\n"
	       "made before the clock starts, every one of them OPERATE.\n"
	       "   cold: every presentation a different credential: issuer + holder signature verified;\n"
	       "   warm: one credential per thread, a fresh authorization each time: the credential cache\n"
	       "         hit, only the holder signature verified.\n"
	       "Every decision is written to the journal and fdatasync'ed before check returns: that is\n"
	       "the contract (durable before OPERATE), so on a disk every check waits for a flush (the\n"
	       "split below says how much of its time that is). 2 threads share one verifier: their\n"
	       "signatures in parallel, their journal writes one at a time.\n",
	       FLOW_AMOUNT);
	for (int fs = 0; fs < FS_COUNT; fs++) {
		char t[32];

		if (cfg->dir[fs] == NULL) {
			snprintf(types[fs], sizeof(types[fs]), "n/a");
			printf("   state on the %s: not run\n", fs_title[fs]);
			continue;
		}
		fs_type(cfg->dir[fs], t, sizeof(t));
		snprintf(types[fs], sizeof(types[fs]), "%s", t);
		printf("   state on the %s: %s (%s)\n", fs_title[fs], cfg->dir[fs], t);
	}
	printf("\"of OSSL\": checks/s as a share of OpenSSL ECDSA P-256 verify/s with as many threads (a\n"
	       "fresh EVP_MD_CTX + EVP_DigestVerifyInit(SHA-256) + EVP_DigestVerify of an authorization,\n"
	       "DER signature, one shared key); \"verifies\": one check's time in OpenSSL verifies (cold\n"
	       "is 2 verifies + the journal, warm 1 + the journal). append+fdatasync: a %u-byte record\n"
	       "appended and fdatasync'ed alone, 1 thread: the floor the journal puts under a check.\n",
	       (unsigned)(OFP_JOURNAL_RECORD_MIN + OFP_PRESENTATION_QR_P256));
	print_gate_table(cfg, g, types);
	print_split(cfg, g, types);
	for (int fs = 0; fs < FS_COUNT; fs++)
		for (int c = 0; c < CACHE_COUNT; c++)
			for (int t = 0; t < BENCH_THREADS_MAX; t++)
				any_short = any_short || g->ran_out[fs][c][t];
	if (any_short)
		printf("*: a thread used up its prepared presentations before the time in some round (a\n"
		       "   shorter run: the rate stands)\n");
	putchar('\n');
}

/* ---- 3. settlement ------------------------------------------------------------- */

/* The goal on this 2-core machine (issue 9). */
#define SETTLE_GOAL 12000.0

static void print_settle(const flow_cfg_t *cfg, const flow_settle_result_t *s, const flow_gate_result_t *g,
			 bool failed)
{
	char type[32] = "?";
	double rate, two = g->ossl[BENCH_THREADS_MAX - 1];

	printf("3. Settlement at the issuer: ofp_issuer_settle of one sealed batch of %lu operate records\n"
	       "from %lu holders (P-256), built as a gate builds it (records chained by hash, sealed with\n"
	       "ofp_seal to the issuer's sealing key); issuer keys on a fresh offpass-p11 token, ledger\n"
	       "(SQLite) beside it. Per batch: the gate's signature, ECDH on the token, AES-256-GCM; the\n"
	       "verify phase on one thread per CPU (%ld online, at most 4): the holder's signature of\n"
	       "every record, the issuer's once per credential (cached across batches); then one\n"
	       "transaction: the ledger rows.\n",
	       cfg->settle_records, cfg->settle_holders, sysconf(_SC_NPROCESSORS_ONLN));
	if (cfg->module == NULL) {
		printf("records/s: n/a (no offpass-p11 module: --module or OFFPASS_P11_MODULE)\n");
		return;
	}
	if (!s->measured) {
		printf("records/s: n/a (%s)\n", failed ? "failed, see above" : "not run");
		return;
	}
	fs_type(cfg->dir[FS_DISK], type, sizeof(type));
	rate = (double)s->records / s->best_s;
	printf("   issuer directory under %s (%s); token, issuer and accounts set up in %.1f s\n",
	       cfg->dir[FS_DISK], type, s->setup_s);
	printf("records/s %10.0f   (best of %u batches: %.3f s for %lu records, %.2f MB sealed)\n", rate, s->rounds,
	       s->best_s, s->records, (double)s->batch_bytes / 1e6);
	printf("CPU       %10.0f   records per CPU-second (the least CPU time of a batch, all threads: %.3f s)\n",
	       (double)s->records / s->best_cpu_s, s->best_cpu_s);
	printf("goal      %10.0f   %s\n", SETTLE_GOAL, rate >= SETTLE_GOAL ? "met" : "MISSED");
	if (two > 0)
		printf("ceiling   %10.0f   OpenSSL P-256 verify/s, %d threads (one verify per record): settlement at "
		       "%.0f%% of it\n",
		       two, BENCH_THREADS_MAX, 100.0 * rate / two);
	if (g->ossl[0] > 0)
		printf("per record %8.1f us = %.2f OpenSSL P-256 verifies on one thread\n", 1e6 * s->best_s / (double)s->records,
		       s->best_s / (double)s->records * g->ossl[0]);
}

/* ---- main ------------------------------------------------------------------------ */

static int usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [--state DIR] [--tmpfs DIR] [--module MODULE] [--only settle]\n", argv0);
	return 2;
}

int main(int argc, char **argv)
{
	flow_cfg_t cfg;
	flow_gate_result_t gate;
	flow_settle_result_t settle;
	const char *tmp = getenv("TMPDIR");
	double load[2][3] = { { -1, -1, -1 }, { -1, -1, -1 } };
	int failed = 0;

	memset(&cfg, 0, sizeof(cfg));
	memset(&settle, 0, sizeof(settle));
	cfg.dir[FS_DISK] = tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp";
	cfg.module = getenv("OFFPASS_P11_MODULE");
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			return usage(argv[0]);
		if (strcmp(argv[i], "--state") == 0)
			cfg.dir[FS_DISK] = argv[++i];
		else if (strcmp(argv[i], "--tmpfs") == 0)
			cfg.dir[FS_TMPFS] = argv[++i];
		else if (strcmp(argv[i], "--module") == 0)
			cfg.module = argv[++i];
		else if (strcmp(argv[i], "--only") == 0 && strcmp(argv[i + 1], "settle") == 0) {
			cfg.settle_only = true;
			i++;
		}
		else
			return usage(argv[0]);
	}
	if (cfg.module != NULL && cfg.module[0] == '\0')
		cfg.module = NULL;
	cfg.run.seconds = env_double("BENCH_SECONDS", 1.0, 0.01, 3600);
	cfg.run.warmup = env_double("BENCH_WARMUP", 0.2, 0.0, 3600);
	cfg.rounds = (unsigned)env_double("BENCH_ROUNDS", 3, 1, 100);
	cfg.settle_records = (unsigned long)env_double("BENCH_SETTLE_RECORDS", 10000, 1, OFP_BATCH_MAX_RECORDS);
	cfg.settle_holders = (unsigned long)env_double("BENCH_SETTLE_HOLDERS", 100, 1, 100000);

	(void)getloadavg(load[0], 3);
	if (flow_gate(&cfg, &gate) != 0)
		failed = 1;
	if (cfg.module != NULL && flow_settle(&cfg, &settle) != 0)
		failed = 1;
	(void)getloadavg(load[1], 3);
	if (failed)
		fprintf(stderr, "bench-flow: FAILED; the figures below are incomplete\n");

	printf("\noffpass offline flow (issue 3): each rate the best of %u rounds of %.2g s after %.2g s\n"
	       "warm-up; %ld CPUs online; load average %.2f before, %.2f after (a load from other work\n"
	       "makes the 2-thread figures unreliable); every clock fixed at %u (the API takes the time).\n\n",
	       cfg.rounds, cfg.run.seconds, cfg.run.warmup, sysconf(_SC_NPROCESSORS_ONLN), load[0][0], load[1][0],
	       FLOW_NOW);
	if (!cfg.settle_only && print_sizes() != 0)
		failed = 1;
	if (!cfg.settle_only)
		print_gate(&cfg, &gate);
	if (cfg.settle_only)
		printf("OpenSSL verify/s  1 thread %9.0f   %d threads %9.0f\n\n", gate.ossl[0], BENCH_THREADS_MAX,
		       gate.ossl[BENCH_THREADS_MAX - 1]);
	print_settle(&cfg, &settle, &gate, failed);
	return failed;
}
