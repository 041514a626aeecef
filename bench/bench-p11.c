/* bench-p11.c - `make bench`: offpass-p11.so against SoftHSM2 and raw
 * OpenSSL, side by side, with the targets marked PASS or MISS.
 *
 *   bench-p11 [--offpass MODULE] [--softhsm MODULE]
 *
 * A column whose module is not given is shown as n/a. Each provider runs
 * in a child process of its own (see bench.h). Environment:
 *   BENCH_SECONDS         timed seconds per figure (1)
 *   BENCH_WARMUP          warm-up seconds before each figure (0.2)
 *   BENCH_ROUNDS          rounds; each figure is the best of them (3)
 *   BENCH_OBJECTS         token objects for the look-up figure (10000; 0: none)
 *   BENCH_LOOKUPS         look-ups timed among them (1000), but no more than
 *   BENCH_LOOKUP_SECONDS  fit in this many seconds (10; SoftHSM2 needs it)
 * The providers take turns, round after round, and each figure is the best
 * round's: on a shared machine other work only ever lowers a rate, and
 * taking turns spreads a busy spell over every column. The token objects
 * for the look-up are made in the last round only.
 * The modules find their token directories in OFFPASS_P11_DIR and
 * SOFTHSM2_CONF (run-bench.sh makes both). The exit status is 0 unless
 * something failed: a missed target is information, not an error. */
#include "config.h"
#include "bench/bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { COL_OFFPASS, COL_SOFTHSM, COL_OPENSSL, COL_COUNT };

static const char *const col_name[COL_COUNT] = { "offpass", "SoftHSM2", "OpenSSL" };
static const char *const alg_name[ALG_COUNT] = { "P-256", "Ed25519" };
static const char *const op_name[OP_COUNT] = { "sign", "verify", "keygen" };

/* The targets. */
#define TARGET_P256_SIGN 0.90
#define TARGET_ED25519_SIGN 0.85
#define TARGET_SCALING 1.9
#define TARGET_LOOKUP_US 1000.0
#define TARGET_GCM 0.90

static double env_double(const char *name, double def, double min)
{
	const char *s = getenv(name);
	char *end;
	double v;

	if (s == NULL || *s == '\0')
		return def;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !(v >= min)) {
		fprintf(stderr, "bench: ignoring %s=%s\n", name, s);
		return def;
	}
	return v;
}

/* ---- Running the providers --------------------------------------------- */

static int child(int col, const char *module, const bench_cfg_t *cfg, int fd)
{
	bench_result_t r;
	const char *p = (const char *)&r;
	size_t left = sizeof(r);
	int rc;

	bench_result_init(&r);
	if (col == COL_OPENSSL)
		rc = bench_openssl(cfg, &r);
	else
		rc = bench_pkcs11(col_name[col], module, cfg, &r);
	if (rc != 0)
		return 1;
	while (left > 0) {
		ssize_t w = write(fd, p, left);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return 1;
		p += w;
		left -= (size_t)w;
	}
	return 0;
}

/* Run one provider in a child; 0 with *r filled, or -1. */
static int measure(int col, const char *module, const bench_cfg_t *cfg, bench_result_t *r)
{
	int fds[2], status = 0;
	size_t got = 0;
	pid_t pid, waited;

	fflush(NULL);
	if (pipe(fds) != 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		_exit(child(col, module, cfg, fds[1]));
	}
	close(fds[1]);
	while (got < sizeof(*r)) {
		ssize_t n = read(fds[0], (char *)r + got, sizeof(*r) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fds[0]);
	while ((waited = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	if (waited != pid || got != sizeof(*r) || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench: %s failed\n", col_name[col]);
		return -1;
	}
	return 0;
}

/* Keep the better of two rounds' rates; look-up figures come from the one
 * round that made them. */
static void merge(bench_result_t *into, const bench_result_t *r)
{
	bench_result_t keep = *into;

	if (!into->measured) {
		*into = *r;
		return;
	}
	for (int a = 0; a < ALG_COUNT; a++)
		for (int o = 0; o < OP_COUNT; o++)
			for (int t = 0; t < BENCH_THREADS_MAX; t++)
				if (r->rate[a][o][t] > keep.rate[a][o][t])
					keep.rate[a][o][t] = r->rate[a][o][t];
	for (int k = 0; k < SYM_COUNT; k++)
		if (r->sym[k] > keep.sym[k])
			keep.sym[k] = r->sym[k];
	if (r->have_find || r->objects > 0) {
		keep.have_find = r->have_find;
		keep.objects = r->objects;
		keep.create_s = r->create_s;
		keep.lookups = r->lookups;
		keep.find_median_us = r->find_median_us;
		keep.find_p99_us = r->find_p99_us;
		keep.find_max_us = r->find_max_us;
	}
	*into = keep;
}

/* ---- The report ---------------------------------------------------------- */

static void put_rate(double v)
{
	if (v < 0)
		printf(" %10s", "n/a");
	else
		printf(" %10.0f", v);
}

static void put_pct(double num, double den)
{
	if (num < 0 || den <= 0)
		printf(" %13s", "-");
	else
		printf(" %12.1f%%", 100.0 * num / den);
}

static double scaling(const bench_result_t *r, int a, int o)
{
	double one = r->rate[a][o][0], two = r->rate[a][o][1];

	return one > 0 && two >= 0 ? two / one : -1.0;
}

static void print_rates(const bench_result_t res[COL_COUNT])
{
	printf("%-26s %10s %10s %10s %13s %13s\n", "ops/s", col_name[0], col_name[1], col_name[2],
	       "offpass/OSSL", "SoftHSM2/OSSL");
	for (int a = 0; a < ALG_COUNT; a++) {
		for (int o = 0; o < OP_COUNT; o++) {
			for (int t = 0; t < BENCH_THREADS_MAX; t++) {
				double ossl = res[COL_OPENSSL].rate[a][o][t];

				printf("%-8s %-7s %-9s", t == 0 ? alg_name[a] : "",
				       t == 0 ? op_name[o] : "", t == 0 ? "1 thread" : "2 threads");
				for (int c = 0; c < COL_COUNT; c++)
					put_rate(res[c].rate[a][o][t]);
				put_pct(res[COL_OFFPASS].rate[a][o][t], ossl);
				put_pct(res[COL_SOFTHSM].rate[a][o][t], ossl);
				putchar('\n');
			}
			printf("%-8s %-7s %-9s", "", "", "2/1");
			for (int c = 0; c < COL_COUNT; c++) {
				double s = scaling(&res[c], a, o);

				if (s < 0)
					printf(" %10s", "-");
				else
					printf(" %9.2fx", s);
			}
			putchar('\n');
		}
	}
}

static const char *verdict(bool pass);

static void print_sym(const bench_result_t res[COL_COUNT])
{
	static const char *const what[SYM_COUNT] = { "AES-256-GCM 4 KiB  MB/s", "HMAC-SHA256 64 B  ops/s" };
	const double ref_gcm = res[COL_OPENSSL].sym[SYM_GCM];

	printf("\nSecret keys, 1 thread   %10s %10s %10s %13s %13s\n", col_name[0], col_name[1], col_name[2],
	       "offpass/OSSL", "SoftHSM/OSSL");
	for (int k = 0; k < SYM_COUNT; k++) {
		printf("%-24s", what[k]);
		for (int c = 0; c < COL_COUNT; c++)
			put_rate(res[c].sym[k]);
		put_pct(res[COL_OFFPASS].sym[k], res[COL_OPENSSL].sym[k]);
		put_pct(res[COL_SOFTHSM].sym[k], res[COL_OPENSSL].sym[k]);
		putchar('\n');
	}
	printf("AES-GCM encrypt >= %.0f%% of OpenSSL:", 100.0 * TARGET_GCM);
	if (res[COL_OFFPASS].sym[SYM_GCM] <= 0 || ref_gcm <= 0)
		printf(" n/a\n");
	else
		printf(" %.1f%% %s\n", 100.0 * res[COL_OFFPASS].sym[SYM_GCM] / ref_gcm,
		       verdict(res[COL_OFFPASS].sym[SYM_GCM] >= TARGET_GCM * ref_gcm));
}

static void put_us(double us, bool have)
{
	if (!have)
		printf(" %12s", "n/a");
	else if (us >= 1000.0)
		printf(" %9.2f ms", us / 1000.0);
	else
		printf(" %9.1f us", us);
}

static void print_find(const bench_result_t res[COL_COUNT], const bench_cfg_t *cfg)
{
	const bench_result_t *o = &res[COL_OFFPASS], *s = &res[COL_SOFTHSM];

	printf("\nC_FindObjectsInit + C_FindObjects + C_FindObjectsFinal by CKA_ID among %lu token\n"
	       "objects (EC public keys: PKCS#11 gives CKO_DATA no CKA_ID); random look-ups, at\n"
	       "most %lu or %.3g s:\n",
	       cfg->objects, cfg->lookups, cfg->lookup_seconds);
	printf("%-26s %12s %12s\n", "", col_name[0], col_name[1]);
	printf("%-26s", "create all (C_CreateObject)");
	for (int c = 0; c < 2; c++) {
		if (res[c].objects > 0)
			printf(" %10.1f s", res[c].create_s);
		else
			printf(" %12s", "n/a");
	}
	printf("\n%-26s", "  per object");
	for (int c = 0; c < 2; c++)
		put_us(res[c].objects > 0 ? 1e6 * res[c].create_s / (double)res[c].objects : 0,
		       res[c].objects > 0);
	printf("\n%-26s", "look-ups timed");
	for (int c = 0; c < 2; c++) {
		if (res[c].have_find)
			printf(" %12lu", res[c].lookups);
		else
			printf(" %12s", "n/a");
	}
	printf("\n%-26s", "look-up median");
	put_us(o->find_median_us, o->have_find);
	put_us(s->find_median_us, s->have_find);
	printf("\n%-26s", "look-up p99");
	put_us(o->find_p99_us, o->have_find);
	put_us(s->find_p99_us, s->have_find);
	printf("\n%-26s", "look-up max");
	put_us(o->find_max_us, o->have_find);
	put_us(s->find_max_us, s->have_find);
	putchar('\n');
}

static const char *verdict(bool pass)
{
	return pass ? "PASS" : "MISS";
}

static void target_ratio(const bench_result_t res[COL_COUNT], int a, double target)
{
	printf("%-7s sign >= %.0f%% of OpenSSL:", alg_name[a], 100.0 * target);
	for (int t = 0; t < BENCH_THREADS_MAX; t++) {
		double o = res[COL_OFFPASS].rate[a][OP_SIGN][t];
		double ref = res[COL_OPENSSL].rate[a][OP_SIGN][t];

		if (o < 0 || ref <= 0)
			printf("  %d thread%s n/a", t + 1, t ? "s" : " ");
		else
			printf("  %d thread%s %5.1f%% %s", t + 1, t ? "s" : " ", 100.0 * o / ref,
			       verdict(o / ref >= target));
	}
	putchar('\n');
}

static void print_targets(const bench_result_t res[COL_COUNT], const bench_cfg_t *cfg)
{
	const bench_result_t *o = &res[COL_OFFPASS];

	printf("\nTargets for offpass (informational: a MISS does not fail `make bench`)\n");
	target_ratio(res, ALG_P256, TARGET_P256_SIGN);
	target_ratio(res, ALG_ED25519, TARGET_ED25519_SIGN);
	printf("2 threads >= %.1fx 1 thread (OpenSSL itself in brackets):\n", TARGET_SCALING);
	for (int a = 0; a < ALG_COUNT; a++) {
		printf("  %-8s", alg_name[a]);
		for (int op = 0; op < OP_COUNT; op++) {
			double s = scaling(o, a, op), ref = scaling(&res[COL_OPENSSL], a, op);

			if (s < 0)
				printf("  %s n/a", op_name[op]);
			else
				printf("  %s %.2fx [%.2fx] %s", op_name[op], s, ref,
				       verdict(s >= TARGET_SCALING));
		}
		putchar('\n');
	}
	printf("look-up among %lu objects < 1 ms:", cfg->objects);
	if (!o->have_find)
		printf(" n/a\n");
	else
		printf(" median %.1f us %s, p99 %.1f us %s\n", o->find_median_us,
		       verdict(o->find_median_us < TARGET_LOOKUP_US), o->find_p99_us,
		       verdict(o->find_p99_us < TARGET_LOOKUP_US));
}

static void print_header(const bench_cfg_t *cfg, unsigned rounds,
			 const char *const module[COL_COUNT], const bench_result_t res[COL_COUNT],
			 double load[2][3])
{
	printf("offpass PKCS#11 benchmark: each figure the best of %u rounds of %.2g s after\n"
	       "%.2g s warm-up; %ld CPUs online; load average %.2f before, %.2f after (a load\n"
	       "from other work makes the 2-thread figures unreliable)\n",
	       rounds, cfg->seconds, cfg->warmup, sysconf(_SC_NPROCESSORS_ONLN), load[0][0],
	       load[1][0]);
	for (int c = 0; c < COL_COUNT; c++) {
		const char *what = c == COL_OPENSSL ? res[c].note : module[c];

		printf("  %-9s %s", col_name[c], what != NULL ? what : "not given: n/a");
		if (c != COL_OPENSSL && res[c].note[0] != '\0')
			printf(" (%s)", res[c].note);
		putchar('\n');
	}
	printf("Per operation: PKCS#11 sign = C_SignInit + C_Sign with a token private key\n"
	       "(CKM_ECDSA over a %d-byte hash, CKM_EDDSA over %d bytes), verify = C_VerifyInit +\n"
	       "C_Verify, keygen = C_GenerateKeyPair of session objects. OpenSSL: P-256 a fresh\n"
	       "EVP_PKEY_CTX + EVP_PKEY_sign_init + EVP_PKEY_sign (DER, no r||s conversion), Ed25519\n"
	       "a fresh EVP_MD_CTX + EVP_DigestSignInit_ex(no md) + EVP_DigestSign, keygen\n"
	       "EVP_PKEY_Q_keygen + EVP_PKEY_free. 2 threads: a session each, one shared key.\n\n",
	       BENCH_P256_MSG_LEN, BENCH_ED25519_MSG_LEN);
}

int main(int argc, char **argv)
{
	const char *module[COL_COUNT] = { NULL, NULL, NULL };
	bench_result_t res[COL_COUNT];
	bench_cfg_t cfg;
	unsigned rounds;
	double load[2][3] = { { -1, -1, -1 }, { -1, -1, -1 } };
	int failed = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--offpass") == 0 && i + 1 < argc)
			module[COL_OFFPASS] = argv[++i];
		else if (strcmp(argv[i], "--softhsm") == 0 && i + 1 < argc)
			module[COL_SOFTHSM] = argv[++i];
		else {
			fprintf(stderr, "usage: %s [--offpass MODULE] [--softhsm MODULE]\n", argv[0]);
			return 2;
		}
	}
	cfg.seconds = env_double("BENCH_SECONDS", 1.0, 0.01);
	cfg.warmup = env_double("BENCH_WARMUP", 0.2, 0.0);
	cfg.objects = (unsigned long)env_double("BENCH_OBJECTS", 10000, 0);
	cfg.lookups = (unsigned long)env_double("BENCH_LOOKUPS", 1000, 1);
	cfg.lookup_seconds = env_double("BENCH_LOOKUP_SECONDS", 10, 0);
	rounds = (unsigned)env_double("BENCH_ROUNDS", 3, 1);
	/* Token creation only: the user never waits for scrypt in a figure. */
	setenv("OFFPASS_P11_SCRYPT_N", "1024", 0);

	(void)getloadavg(load[0], 3);
	for (int c = 0; c < COL_COUNT; c++)
		bench_result_init(&res[c]);
	for (unsigned k = 0; k < rounds && !failed; k++) {
		bench_cfg_t round = cfg;

		if (k + 1 < rounds)
			round.objects = 0;
		for (int c = 0; c < COL_COUNT && !failed; c++) {
			bench_result_t r;

			if (c != COL_OPENSSL && module[c] == NULL)
				continue;
			fprintf(stderr, "bench: round %u of %u: %s\n", k + 1, rounds, col_name[c]);
			bench_result_init(&r);
			if (measure(c, module[c], &round, &r) != 0)
				failed = 1;
			else
				merge(&res[c], &r);
		}
	}
	(void)getloadavg(load[1], 3);
	if (failed)
		fprintf(stderr, "bench: FAILED; the figures below are incomplete\n");
	print_header(&cfg, rounds, module, res, load);
	print_rates(res);
	print_sym(res);
	print_find(res, &cfg);
	print_targets(res, &cfg);
	return failed;
}
