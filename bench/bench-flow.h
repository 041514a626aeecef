/* bench-flow.h - the offline flow's figures in `make bench` (issue 3):
 * presentation sizes and QR versions, checks per second at the gate, and
 * settlement records per second at the issuer. bench-flow.c says what is
 * measured and prints it; the parts measure. */
#ifndef OFFPASS_BENCH_FLOW_H
#define OFFPASS_BENCH_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "bench/bench.h"
#include "issuer/test-kit.h"
#include "format/format.h"

/* Every clock in the flow bench (2026-01-01): the API takes the time as an
 * argument, so the figures do not depend on the day they are made. */
#define FLOW_NOW 1767229200u
/* What every authorization carries, and the gate charges. */
#define FLOW_AMOUNT 250u

/* Where gate state goes: the default file system, and tmpfs. */
enum { FS_DISK, FS_TMPFS, FS_COUNT };
enum { CACHE_COLD, CACHE_WARM, CACHE_COUNT };

typedef struct flow_cfg {
	bench_cfg_t run;	    /* BENCH_SECONDS, BENCH_WARMUP */
	unsigned rounds;	    /* BENCH_ROUNDS: the best round counts */
	const char *dir[FS_COUNT];  /* parents of the state directories; NULL: skipped */
	const char *module;	    /* offpass-p11.so for the issuer; NULL: no settlement */
	unsigned long settle_records;
	unsigned long settle_holders;
	bool settle_only;	    /* --only settle: no gate checks, the OpenSSL reference stays */
} flow_cfg_t;

typedef struct flow_gate_result {
	/* checks/s, [fs][cache][threads - 1]; < 0 when not measured */
	double check[FS_COUNT][CACHE_COUNT][BENCH_THREADS_MAX];
	double ossl[BENCH_THREADS_MAX]; /* EVP_DigestVerify/s, P-256 */
	double fsync[FS_COUNT];		/* record-sized append + fdatasync/s */
	/* A pool ran out before the time in some round: a shorter run. */
	bool ran_out[FS_COUNT][CACHE_COUNT][BENCH_THREADS_MAX];
} flow_gate_result_t;

typedef struct flow_settle_result {
	bool measured;
	unsigned long records, holders;
	size_t batch_bytes;
	double best_s;	  /* the fastest ofp_issuer_settle of one batch */
	double best_cpu_s; /* the least CPU time (all threads) one took */
	double setup_s;	  /* token, issuer, accounts and credentials */
	unsigned rounds;
} flow_settle_result_t;

/* ---- a software issuer (bench-flow-kit.c) and holders --------------------- */

/* The holders are the issuer tests' software holders: tk_holder_new and
 * tk_holder_free (issuer/test-kit.h), with any holder id. */

typedef struct flow_issuer {
	EVP_PKEY *sign; /* P-256 credential-signing key */
	EVP_PKEY *seal; /* P-256 sealing key, in the trust list only */
	uint8_t sign_kid[OFP_KEY_ID_LEN];
	uint8_t trust[OFP_TRUST_LIST_MAX]; /* version 1, signed by sign */
	size_t trust_len;
} flow_issuer_t;

int flow_issuer_new(flow_issuer_t *iss);
void flow_issuer_free(flow_issuer_t *iss);
/* A credential for h signed by iss: valid a month around FLOW_NOW,
 * resource 1, a grant that FLOW_AMOUNT fits millions of times. holder_id
 * is written big-endian; serial and holder_id make the credential unique. */
int flow_credential(const flow_issuer_t *iss, const tk_holder_t *h, uint64_t serial, uint64_t holder_id,
		    ofp_credential_t *c);
/* A presentation of c authorized by h at FLOW_NOW for FLOW_AMOUNT (type 3
 * when challenge_len > 0); out holds OFP_PRESENTATION_MAX bytes. */
int flow_present(const ofp_credential_t *c, const tk_holder_t *h, uint32_t counter, const uint8_t *challenge,
		 size_t challenge_len, uint8_t *out, size_t *len);

/* ---- the parts ----------------------------------------------------------- */

/* Gate figures, best of cfg->rounds; r is filled as far as it got. 0 or -1. */
int flow_gate(const flow_cfg_t *cfg, flow_gate_result_t *r);
/* Settlement on a fresh offpass-p11 token and issuer under cfg->dir[FS_DISK]. */
int flow_settle(const flow_cfg_t *cfg, flow_settle_result_t *r);

/* A fresh directory "<parent>/<prefix>.XXXXXX" into out; 0 or -1. */
int flow_mkdtemp(const char *parent, const char *prefix, char *out, size_t cap);
/* Remove a directory made by flow_mkdtemp and everything in it. */
void flow_rmtree(const char *dir);

#endif
