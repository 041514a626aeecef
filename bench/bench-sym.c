/* bench-sym.c - the secret-key figures: AES-256-GCM encryption of 4 KiB
 * messages (MB/s of plaintext) and HMAC-SHA256 of 64 bytes (ops/s), one
 * thread.
 *
 *   PKCS#11  per message C_EncryptInit (CKM_AES_GCM, a fresh 12-byte IV,
 *            128-bit tag) + C_Encrypt; per MAC C_SignInit (CKM_SHA256_HMAC)
 *            + C_Sign; session keys (CKA_TOKEN FALSE) made by C_GenerateKey.
 *   OpenSSL  what an application holding the key does: one EVP_CIPHER_CTX
 *            keyed once, per message a new IV (EVP_EncryptInit_ex with no
 *            cipher and no key), EVP_EncryptUpdate, EVP_EncryptFinal_ex and
 *            the tag; per MAC a fresh EVP_MAC_CTX from a MAC fetched once,
 *            EVP_MAC_init with the key and digest, update, final. */
#include "config.h"
#include "bench/bench.h"

#include <stdio.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#define GCM_MSG 4096
#define MAC_MSG 64

typedef struct sym_p11 {
	const char *name;
	CK_FUNCTION_LIST_PTR f;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	CK_BYTE iv[12];
	unsigned long counter;
	CK_BYTE in[GCM_MSG], out[GCM_MSG + 16];
} sym_p11_t;

static int p11_fail(const sym_p11_t *c, const char *what, CK_RV rv)
{
	fprintf(stderr, "%s: %s: 0x%08lx\n", c->name, what, (unsigned long)rv);
	return -1;
}

/* A fresh IV per message, as GCM requires: a counter in the last bytes. */
static void next_iv(CK_BYTE iv[12], unsigned long *counter)
{
	unsigned long n = ++*counter;

	for (int i = 11; i >= 4; i--, n >>= 8)
		iv[i] = (CK_BYTE)n;
}

static int p11_gcm(void *arg)
{
	sym_p11_t *c = arg;
	CK_GCM_PARAMS p = { c->iv, sizeof(c->iv), 8 * sizeof(c->iv), NULL, 0, 128 };
	CK_MECHANISM m = { CKM_AES_GCM, &p, sizeof(p) };
	CK_ULONG n = sizeof(c->out);
	CK_RV rv;

	next_iv(c->iv, &c->counter);
	rv = c->f->C_EncryptInit(c->s, &m, c->key);
	if (rv != CKR_OK)
		return p11_fail(c, "C_EncryptInit(AES-GCM)", rv);
	rv = c->f->C_Encrypt(c->s, c->in, GCM_MSG, c->out, &n);
	return rv == CKR_OK ? 0 : p11_fail(c, "C_Encrypt(AES-GCM)", rv);
}

static int p11_hmac(void *arg)
{
	sym_p11_t *c = arg;
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	CK_ULONG n = sizeof(c->out);
	CK_RV rv = c->f->C_SignInit(c->s, &m, c->key);

	if (rv != CKR_OK)
		return p11_fail(c, "C_SignInit(HMAC)", rv);
	rv = c->f->C_Sign(c->s, c->in, MAC_MSG, c->out, &n);
	return rv == CKR_OK ? 0 : p11_fail(c, "C_Sign(HMAC)", rv);
}

static bool offers(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID slot, CK_MECHANISM_TYPE m, CK_FLAGS need)
{
	CK_MECHANISM_INFO mi;

	return f->C_GetMechanismInfo(slot, m, &mi) == CKR_OK && (mi.flags & need) == need;
}

static int p11_key(sym_p11_t *c, CK_MECHANISM_TYPE gen, CK_ULONG len, CK_ATTRIBUTE_TYPE usage)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_MECHANISM m = { gen, NULL, 0 };
	CK_ATTRIBUTE t[] = { { CKA_VALUE_LEN, &len, sizeof(len) }, { CKA_TOKEN, &no, sizeof(no) },
			     { usage, &yes, sizeof(yes) } };
	CK_RV rv = c->f->C_GenerateKey(c->s, &m, t, 3, &c->key);

	return rv == CKR_OK ? 0 : p11_fail(c, "C_GenerateKey", rv);
}

int bench_sym_pkcs11(const char *name, CK_FUNCTION_LIST_PTR f, CK_SLOT_ID slot, CK_SESSION_HANDLE s,
		     const bench_cfg_t *cfg, bench_result_t *r)
{
	static sym_p11_t c; /* 8 KiB of buffers: not on the stack */
	void *ctx[1] = { &c };

	memset(&c, 0, sizeof(c));
	c.name = name;
	c.f = f;
	c.s = s;
	memset(c.in, 0x5a, sizeof(c.in));
	if (offers(f, slot, CKM_AES_GCM, CKF_ENCRYPT) && offers(f, slot, CKM_AES_KEY_GEN, CKF_GENERATE)) {
		if (p11_key(&c, CKM_AES_KEY_GEN, 32, CKA_ENCRYPT) != 0 ||
		    bench_timed(cfg, p11_gcm, ctx, 1, &r->sym[SYM_GCM]) != 0)
			return -1;
		r->sym[SYM_GCM] *= GCM_MSG / 1e6;
	}
	if (offers(f, slot, CKM_SHA256_HMAC, CKF_SIGN) &&
	    offers(f, slot, CKM_GENERIC_SECRET_KEY_GEN, CKF_GENERATE)) {
		if (p11_key(&c, CKM_GENERIC_SECRET_KEY_GEN, 32, CKA_SIGN) != 0 ||
		    bench_timed(cfg, p11_hmac, ctx, 1, &r->sym[SYM_HMAC]) != 0)
			return -1;
	}
	return 0;
}

/* ---- OpenSSL ---------------------------------------------------------------- */

typedef struct sym_ossl {
	EVP_CIPHER_CTX *gcm;
	EVP_MAC *mac;
	unsigned char key[32], iv[12], tag[16];
	unsigned long counter;
	unsigned char in[GCM_MSG], out[GCM_MSG];
} sym_ossl_t;

static int ossl_fail(const char *what)
{
	fprintf(stderr, "openssl: %s failed\n", what);
	ERR_print_errors_fp(stderr);
	return -1;
}

static int ossl_gcm(void *arg)
{
	sym_ossl_t *c = arg;
	int n = 0, m = 0;

	next_iv(c->iv, &c->counter);
	if (EVP_EncryptInit_ex(c->gcm, NULL, NULL, NULL, c->iv) != 1 ||
	    EVP_EncryptUpdate(c->gcm, c->out, &n, c->in, GCM_MSG) != 1 ||
	    EVP_EncryptFinal_ex(c->gcm, c->out + n, &m) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c->gcm, EVP_CTRL_AEAD_GET_TAG, 16, c->tag) != 1)
		return ossl_fail("AES-256-GCM");
	return 0;
}

static int ossl_hmac(void *arg)
{
	sym_ossl_t *c = arg;
	OSSL_PARAM p[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
			   OSSL_PARAM_construct_end() };
	EVP_MAC_CTX *m = EVP_MAC_CTX_new(c->mac);
	size_t n = 0;
	int ok = m != NULL && EVP_MAC_init(m, c->key, sizeof(c->key), p) == 1 &&
		 EVP_MAC_update(m, c->in, MAC_MSG) == 1 && EVP_MAC_final(m, c->out, &n, sizeof(c->out)) == 1;

	EVP_MAC_CTX_free(m);
	return ok ? 0 : ossl_fail("HMAC-SHA256");
}

int bench_sym_openssl(const bench_cfg_t *cfg, bench_result_t *r)
{
	static sym_ossl_t c;
	void *ctx[1] = { &c };
	EVP_CIPHER *aes = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	int rc = -1;

	memset(&c, 0, sizeof(c));
	memset(c.in, 0x5a, sizeof(c.in));
	memset(c.key, 0x11, sizeof(c.key));
	c.gcm = EVP_CIPHER_CTX_new();
	c.mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (aes == NULL || c.gcm == NULL || c.mac == NULL ||
	    EVP_EncryptInit_ex(c.gcm, aes, NULL, c.key, c.iv) != 1) {
		ossl_fail("setup");
		goto out;
	}
	if (bench_timed(cfg, ossl_gcm, ctx, 1, &r->sym[SYM_GCM]) != 0 ||
	    bench_timed(cfg, ossl_hmac, ctx, 1, &r->sym[SYM_HMAC]) != 0)
		goto out;
	r->sym[SYM_GCM] *= GCM_MSG / 1e6;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(c.gcm);
	EVP_MAC_free(c.mac);
	EVP_CIPHER_free(aes);
	return rc;
}
