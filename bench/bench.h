/* bench.h - the offpass benchmark: what one provider measures, and the
 * pieces bench-p11.c puts together.
 *
 * Each provider (a PKCS#11 module loaded by path, or plain OpenSSL) runs in
 * its own child process and hands a bench_result_t back through a pipe, so
 * that no provider's global OpenSSL state (SoftHSM2 installs an RDRAND
 * engine as the default RAND method, for one) leaks into another's figures. */
#ifndef OFFPASS_BENCH_H
#define OFFPASS_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include "common/pkcs11.h"

#define BENCH_THREADS_MAX 2

typedef enum { ALG_P256, ALG_ED25519, ALG_COUNT } bench_alg_t;
typedef enum { OP_SIGN, OP_VERIFY, OP_KEYGEN, OP_COUNT } bench_op_t;
/* Secret-key figures (bench-sym.c): AES-256-GCM encryption of 4 KiB
 * messages in MB/s, HMAC-SHA256 of 64 bytes in ops/s. */
typedef enum { SYM_GCM, SYM_HMAC, SYM_COUNT } bench_sym_t;

/* The message each sign and verify covers: a SHA-256 hash for ECDSA, an
 * authorization digest for Ed25519 (the DESIGN's 32..64 bytes). */
#define BENCH_P256_MSG_LEN 32
#define BENCH_ED25519_MSG_LEN 64

typedef struct bench_cfg {
	double seconds;          /* BENCH_SECONDS: each timed figure */
	double warmup;           /* before each timed figure, per thread */
	unsigned long objects;   /* BENCH_OBJECTS: token objects for the look-up */
	unsigned long lookups;   /* BENCH_LOOKUPS: look-ups timed among them, */
	double lookup_seconds;   /* BENCH_LOOKUP_SECONDS: or for this long */
} bench_cfg_t;

typedef struct bench_result {
	bool measured;
	/* ops/s, indexed [alg][op][threads - 1]; < 0 when not supported. */
	double rate[ALG_COUNT][OP_COUNT][BENCH_THREADS_MAX];
	double sym[SYM_COUNT];   /* < 0 when not supported */
	bool have_find;
	unsigned long objects;   /* token objects created for the look-up */
	double create_s;         /* wall time to create them */
	unsigned long lookups;   /* look-ups timed */
	double find_median_us, find_p99_us, find_max_us;
	char note[160];          /* why a figure is missing, or how it was made */
} bench_result_t;

/* One operation of a timed loop, on its thread's own context: 0 or -1. */
typedef int (*bench_op_fn)(void *ctx);

/* Run op on n threads (ctx[i] for thread i) for cfg->seconds after
 * cfg->warmup; *rate = completed operations per second over all threads.
 * -1 when an operation failed (it has said why on stderr). */
int bench_timed(const bench_cfg_t *cfg, bench_op_fn op, void *const ctx[], unsigned n,
		double *rate);

double bench_now(void);
void bench_result_init(bench_result_t *r);

/* The providers; each fills r and returns 0, or says why on stderr and
 * returns -1. */
int bench_openssl(const bench_cfg_t *cfg, bench_result_t *r);
int bench_pkcs11(const char *name, const char *module_path, const bench_cfg_t *cfg,
		 bench_result_t *r);

/* The secret-key figures of a module (on a user session s of slot) and of
 * OpenSSL, into r->sym. */
int bench_sym_pkcs11(const char *name, CK_FUNCTION_LIST_PTR f, CK_SLOT_ID slot, CK_SESSION_HANDLE s,
		     const bench_cfg_t *cfg, bench_result_t *r);
int bench_sym_openssl(const bench_cfg_t *cfg, bench_result_t *r);

#endif
