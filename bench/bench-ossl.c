/* bench-ossl.c - the reference column: plain OpenSSL 3 EVP, doing per
 * operation what an application that holds the key itself would do.
 *
 *   P-256 sign    a fresh EVP_PKEY_CTX from the key, EVP_PKEY_sign_init,
 *                 EVP_PKEY_sign of the 32-byte hash (DER out: an OpenSSL
 *                 application has no use for PKCS#11's r||s, so that
 *                 conversion is counted against the tokens);
 *   P-256 verify  the same with EVP_PKEY_verify_init / EVP_PKEY_verify;
 *   Ed25519       a fresh EVP_MD_CTX, EVP_DigestSignInit_ex with no digest,
 *                 one-shot EVP_DigestSign (EVP_DigestVerify);
 *   keygen        EVP_PKEY_Q_keygen (a fresh EVP_PKEY_CTX each time) and
 *                 EVP_PKEY_free.
 * Both threads share one EVP_PKEY, as the token's sessions share one key. */
#include "config.h"
#include "bench/bench.h"

#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>

typedef struct ossl_ctx {
	bench_alg_t alg;
	EVP_PKEY *key;
	unsigned char msg[BENCH_ED25519_MSG_LEN];
	size_t msg_len;
	unsigned char sig[128];
	size_t sig_len;
} ossl_ctx_t;

static int ossl_fail(const char *what)
{
	fprintf(stderr, "openssl: %s failed\n", what);
	ERR_print_errors_fp(stderr);
	return -1;
}

static EVP_PKEY *keygen(bench_alg_t alg)
{
	if (alg == ALG_P256)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
}

static int pkey_sign(ossl_ctx_t *c, unsigned char *sig, size_t *sig_len)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, c->key, NULL);
	int ok = pctx != NULL && EVP_PKEY_sign_init(pctx) == 1 &&
		 EVP_PKEY_sign(pctx, sig, sig_len, c->msg, c->msg_len) == 1;

	EVP_PKEY_CTX_free(pctx);
	return ok ? 0 : ossl_fail("EVP_PKEY_sign");
}

static int pkey_verify(ossl_ctx_t *c)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, c->key, NULL);
	int ok = pctx != NULL && EVP_PKEY_verify_init(pctx) == 1 &&
		 EVP_PKEY_verify(pctx, c->sig, c->sig_len, c->msg, c->msg_len) == 1;

	EVP_PKEY_CTX_free(pctx);
	return ok ? 0 : ossl_fail("EVP_PKEY_verify");
}

static int md_sign(ossl_ctx_t *c, unsigned char *sig, size_t *sig_len)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	int ok = mctx != NULL &&
		 EVP_DigestSignInit_ex(mctx, NULL, NULL, NULL, NULL, c->key, NULL) == 1 &&
		 EVP_DigestSign(mctx, sig, sig_len, c->msg, c->msg_len) == 1;

	EVP_MD_CTX_free(mctx);
	return ok ? 0 : ossl_fail("EVP_DigestSign");
}

static int md_verify(ossl_ctx_t *c)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	int ok = mctx != NULL &&
		 EVP_DigestVerifyInit_ex(mctx, NULL, NULL, NULL, NULL, c->key, NULL) == 1 &&
		 EVP_DigestVerify(mctx, c->sig, c->sig_len, c->msg, c->msg_len) == 1;

	EVP_MD_CTX_free(mctx);
	return ok ? 0 : ossl_fail("EVP_DigestVerify");
}

static int sign_into(ossl_ctx_t *c, unsigned char *sig, size_t *sig_len)
{
	return c->alg == ALG_P256 ? pkey_sign(c, sig, sig_len) : md_sign(c, sig, sig_len);
}

static int op_sign(void *arg)
{
	ossl_ctx_t *c = arg;
	unsigned char sig[sizeof(c->sig)];
	size_t sig_len = sizeof(sig);

	return sign_into(c, sig, &sig_len);
}

static int op_verify(void *arg)
{
	ossl_ctx_t *c = arg;

	return c->alg == ALG_P256 ? pkey_verify(c) : md_verify(c);
}

static int op_keygen(void *arg)
{
	ossl_ctx_t *c = arg;
	EVP_PKEY *k = keygen(c->alg);

	if (k == NULL)
		return ossl_fail("EVP_PKEY_Q_keygen");
	EVP_PKEY_free(k);
	return 0;
}

static int bench_alg(const bench_cfg_t *cfg, bench_alg_t alg, bench_result_t *r)
{
	static const bench_op_fn ops[OP_COUNT] = { op_sign, op_verify, op_keygen };
	ossl_ctx_t c = { .alg = alg };
	void *ctx[BENCH_THREADS_MAX];
	int rc = -1;

	c.msg_len = alg == ALG_P256 ? BENCH_P256_MSG_LEN : BENCH_ED25519_MSG_LEN;
	memset(c.msg, 0xa5, c.msg_len);
	c.key = keygen(alg);
	if (c.key == NULL) {
		ossl_fail("EVP_PKEY_Q_keygen");
		goto out;
	}
	c.sig_len = sizeof(c.sig);
	if (sign_into(&c, c.sig, &c.sig_len) != 0)
		goto out;
	/* The contexts are read-only during the loops: one serves both threads. */
	for (int t = 0; t < BENCH_THREADS_MAX; t++)
		ctx[t] = &c;
	for (int o = 0; o < OP_COUNT; o++)
		for (unsigned n = 1; n <= BENCH_THREADS_MAX; n++)
			if (bench_timed(cfg, ops[o], ctx, n, &r->rate[alg][o][n - 1]) != 0)
				goto out;
	rc = 0;
out:
	EVP_PKEY_free(c.key);
	return rc;
}

int bench_openssl(const bench_cfg_t *cfg, bench_result_t *r)
{
	for (int a = 0; a < ALG_COUNT; a++)
		if (bench_alg(cfg, (bench_alg_t)a, r) != 0)
			return -1;
	if (bench_sym_openssl(cfg, r) != 0)
		return -1;
	snprintf(r->note, sizeof(r->note), "%s", OpenSSL_version(OPENSSL_VERSION));
	r->measured = true;
	return 0;
}
