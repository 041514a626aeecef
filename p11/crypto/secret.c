/* secret.c - secret keys: AES, DES3, generic and HMAC secrets.
 *
 * A secret key object reaches the operations as an EVP_PKEY, like every
 * other key, so that the module's object cache and key look-up serve it
 * unchanged: an OpenSSL "HMAC" key holding CKA_VALUE, with the key bytes
 * also kept in wiped memory in the key's ex_data (reading them back through
 * EVP_PKEY_get_raw_private_key would cost a provider round trip on every
 * C_EncryptInit). The ciphers and MACs are fetched once per process.
 *
 * CKA_CHECK_VALUE (v3.0 2.8, 2.9, 2.11): the first three bytes of the ECB
 * encryption of one zero block under an AES or DES3 key, of the SHA-1 of
 * the value for generic and HMAC secrets. The token computes it for every
 * key it makes and checks a given one on import. DES3 keys get odd parity
 * when generated, as v3.0 2.14 requires; single DES is not offered. */
#include "config.h"
#include "p11/crypto/internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include "secmem.h"

#define KCV_LEN 3
#define SECRET_MAX 512 /* the largest generic secret, in bytes */

/* ---- Ciphers and MACs, fetched once ------------------------------------ */

static const struct {
	CK_KEY_TYPE kt;
	sym_mode_t mode;
	size_t key_len;
	const char *name;
} cipher_names[] = {
	{ CKK_AES, SYM_ECB, 16, "AES-128-ECB" },
	{ CKK_AES, SYM_ECB, 24, "AES-192-ECB" },
	{ CKK_AES, SYM_ECB, 32, "AES-256-ECB" },
	{ CKK_AES, SYM_CBC, 16, "AES-128-CBC" },
	{ CKK_AES, SYM_CBC, 24, "AES-192-CBC" },
	{ CKK_AES, SYM_CBC, 32, "AES-256-CBC" },
	{ CKK_AES, SYM_CTR, 16, "AES-128-CTR" },
	{ CKK_AES, SYM_CTR, 24, "AES-192-CTR" },
	{ CKK_AES, SYM_CTR, 32, "AES-256-CTR" },
	{ CKK_AES, SYM_GCM, 16, "AES-128-GCM" },
	{ CKK_AES, SYM_GCM, 24, "AES-192-GCM" },
	{ CKK_AES, SYM_GCM, 32, "AES-256-GCM" },
	{ CKK_AES, SYM_KW, 16, "AES-128-WRAP" },
	{ CKK_AES, SYM_KW, 24, "AES-192-WRAP" },
	{ CKK_AES, SYM_KW, 32, "AES-256-WRAP" },
	{ CKK_AES, SYM_KWP, 16, "AES-128-WRAP-PAD" },
	{ CKK_AES, SYM_KWP, 24, "AES-192-WRAP-PAD" },
	{ CKK_AES, SYM_KWP, 32, "AES-256-WRAP-PAD" },
	{ CKK_DES3, SYM_ECB, 24, "DES-EDE3-ECB" },
	{ CKK_DES3, SYM_CBC, 24, "DES-EDE3-CBC" },
};

static EVP_CIPHER *cipher_cache[OFP_ARRAY_LEN(cipher_names)];
static EVP_MAC *mac_hmac, *mac_cmac;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

/* Kept for the life of the process, as the digests are. */
static void fetch_init(void)
{
	for (size_t i = 0; i < OFP_ARRAY_LEN(cipher_names); i++)
		cipher_cache[i] = EVP_CIPHER_fetch(NULL, cipher_names[i].name, NULL);
	mac_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	mac_cmac = EVP_MAC_fetch(NULL, "CMAC", NULL);
	ERR_clear_error();
}

/* The index of a cipher in cipher_names, or -1. */
static int cipher_index(CK_KEY_TYPE kt, sym_mode_t mode, size_t key_len)
{
	sym_mode_t m = mode == SYM_CBC_PAD ? SYM_CBC : mode;

	for (size_t i = 0; i < OFP_ARRAY_LEN(cipher_names); i++)
		if (cipher_names[i].kt == kt && cipher_names[i].mode == m && cipher_names[i].key_len == key_len)
			return (int)i;
	return -1;
}

const EVP_CIPHER *crypto_cipher(CK_KEY_TYPE kt, sym_mode_t mode, size_t key_len)
{
	int i = cipher_index(kt, mode, key_len);

	(void)pthread_once(&fetch_once, fetch_init);
	return i >= 0 ? cipher_cache[i] : NULL;
}

EVP_MAC *crypto_mac(mech_alg_t alg)
{
	(void)pthread_once(&fetch_once, fetch_init);
	return alg == ALG_HMAC ? mac_hmac : alg == ALG_CMAC ? mac_cmac : NULL;
}

/* ---- Key sizes and check values ------------------------------------------ */

static bool is_generic(CK_KEY_TYPE kt)
{
	switch (kt) {
	case CKK_GENERIC_SECRET:
	case CKK_SHA_1_HMAC:
	case CKK_SHA224_HMAC:
	case CKK_SHA256_HMAC:
	case CKK_SHA384_HMAC:
	case CKK_SHA512_HMAC:
		return true;
	default:
		return false;
	}
}

bool crypto_secret_len_ok(CK_KEY_TYPE kt, size_t len)
{
	if (kt == CKK_AES)
		return len == 16 || len == 24 || len == 32;
	if (kt == CKK_DES3)
		return len == 24;
	return is_generic(kt) && len >= 1 && len <= SECRET_MAX;
}

static CK_RV check_value(CK_KEY_TYPE kt, const CK_BYTE *key, size_t len, CK_BYTE kcv[KCV_LEN])
{
	CK_BYTE block[16] = { 0 }, out[32];
	unsigned char md[EVP_MAX_MD_SIZE];
	EVP_CIPHER_CTX *ctx;
	const EVP_CIPHER *c;
	int n = 0;
	CK_RV rv = CKR_FUNCTION_FAILED;

	if (is_generic(kt)) {
		if (EVP_Digest(key, len, md, NULL, crypto_md(HASH_SHA1), NULL) != 1)
			return crypto_ossl_fail(CKR_FUNCTION_FAILED);
		memcpy(kcv, md, KCV_LEN);
		return CKR_OK;
	}
	c = crypto_cipher(kt, SYM_ECB, len);
	ctx = EVP_CIPHER_CTX_new();
	if (c == NULL || ctx == NULL)
		goto out;
	if (EVP_EncryptInit_ex2(ctx, c, key, NULL, NULL) == 1 && EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
	    EVP_EncryptUpdate(ctx, out, &n, block, EVP_CIPHER_get_block_size(c)) == 1 && n >= KCV_LEN) {
		memcpy(kcv, out, KCV_LEN);
		rv = CKR_OK;
	}
out:
	if (rv != CKR_OK)
		ERR_clear_error();
	EVP_CIPHER_CTX_free(ctx);
	return rv;
}

/* ---- The EVP_PKEY carrier ------------------------------------------------- */

/* Keyed contexts made on first use, one per cipher and direction and one
 * per MAC, from which operations start with a copy: initialising a context
 * with a key costs OpenSSL 3.0 more than encrypting 4 KiB (parameter
 * handling, the key schedule, GHASH's table), copying one a memcpy. They
 * are published with a compare-and-swap and only read afterwards, as the
 * asymmetric keys' operation templates are. */
#define CIPHER_SLOTS (OFP_ARRAY_LEN(cipher_names) * 2)
#define MAC_SLOTS (HASH_COUNT_ + 1) /* HMAC per hash, then CMAC */

typedef struct secret_data {
	CK_KEY_TYPE kt;
	CK_BYTE *value; /* secmem */
	size_t len;
	_Atomic(EVP_CIPHER_CTX *) cipher[CIPHER_SLOTS];
	_Atomic(EVP_MAC_CTX *) mac[MAC_SLOTS];
	/* One finished context per slot, handed back by the last operation and
	 * taken (atomic exchange) by the next: what an application that keeps
	 * its EVP_CIPHER_CTX does, without a lock between sessions. */
	_Atomic(EVP_CIPHER_CTX *) spare_cipher[CIPHER_SLOTS];
	_Atomic(EVP_MAC_CTX *) spare_mac[MAC_SLOTS];
} secret_data_t;

static int secret_index = -1;
static pthread_once_t secret_once = PTHREAD_ONCE_INIT;

static void secret_destroy(secret_data_t *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < CIPHER_SLOTS; i++) {
		EVP_CIPHER_CTX_free(atomic_load(&d->cipher[i]));
		EVP_CIPHER_CTX_free(atomic_load(&d->spare_cipher[i]));
	}
	for (size_t i = 0; i < MAC_SLOTS; i++) {
		EVP_MAC_CTX_free(atomic_load(&d->mac[i]));
		EVP_MAC_CTX_free(atomic_load(&d->spare_mac[i]));
	}
	secmem_free(d->value, d->len);
	free(d);
}

static void secret_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	secret_destroy(ptr);
}

/* A duplicate of the key (EVP_PKEY_dup) carries no secret data of ours. */
static int secret_dup_cb(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx,
			 long argl, void *argp)
{
	(void)to, (void)from, (void)idx, (void)argl, (void)argp;
	*from_d = NULL;
	return 1;
}

static void secret_init(void)
{
	secret_index = EVP_PKEY_get_ex_new_index(0, NULL, NULL, secret_dup_cb, secret_free_cb);
}

static const secret_data_t *secret_of(const EVP_PKEY *pkey)
{
	if (pkey == NULL || secret_index < 0)
		return NULL;
	return EVP_PKEY_get_ex_data(pkey, secret_index);
}

const CK_BYTE *crypto_secret_bytes(const EVP_PKEY *pkey, size_t *len)
{
	const secret_data_t *d = secret_of(pkey);

	if (d == NULL)
		return NULL;
	*len = d->len;
	return d->value;
}

CK_KEY_TYPE crypto_secret_key_type(const EVP_PKEY *pkey)
{
	const secret_data_t *d = secret_of(pkey);

	return d != NULL ? d->kt : CK_UNAVAILABLE_INFORMATION;
}

CK_RV crypto_secret_pkey(const attr_list_t *attrs, EVP_PKEY **out)
{
	const attr_t *v = attr_list_find(attrs, CKA_VALUE);
	secret_data_t *d = NULL;
	EVP_PKEY *pkey = NULL;
	CK_KEY_TYPE kt;
	CK_RV rv = CKR_HOST_MEMORY;

	if (!attr_list_get_ulong(attrs, CKA_KEY_TYPE, &kt) || v == NULL)
		return CKR_TEMPLATE_INCOMPLETE;
	if (!crypto_secret_len_ok(kt, v->len))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if (pthread_once(&secret_once, secret_init) != 0 || secret_index < 0)
		return CKR_FUNCTION_FAILED;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		goto out;
	d->value = secmem_alloc(v->len);
	if (d->value == NULL)
		goto out;
	memcpy(d->value, v->value, v->len);
	d->len = v->len;
	d->kt = kt;
	pkey = EVP_PKEY_new_raw_private_key_ex(NULL, "HMAC", NULL, v->value, v->len);
	if (pkey == NULL || EVP_PKEY_set_ex_data(pkey, secret_index, d) != 1) {
		rv = crypto_ossl_fail(CKR_FUNCTION_FAILED);
		goto out;
	}
	d = NULL; /* the key owns it */
	*out = pkey;
	pkey = NULL;
	rv = CKR_OK;
out:
	secret_destroy(d);
	EVP_PKEY_free(pkey);
	return rv;
}

/* ---- Keyed templates ------------------------------------------------------ */

static secret_data_t *secret_mut(const EVP_PKEY *pkey)
{
	return (secret_data_t *)secret_of(pkey);
}

/* The slot of a cipher and direction; -1 when the key has none. */
static int cipher_slot(const secret_data_t *d, sym_mode_t mode, int enc)
{
	int i = d != NULL ? cipher_index(d->kt, mode, d->len) : -1;

	return i < 0 ? -1 : 2 * i + (enc ? 1 : 0);
}

void crypto_secret_cipher_done(const EVP_PKEY *key, sym_mode_t mode, int enc, EVP_CIPHER_CTX *ctx)
{
	secret_data_t *d = secret_mut(key);
	int i = cipher_slot(d, mode, enc);
	EVP_CIPHER_CTX *none = NULL;

	if (ctx == NULL)
		return;
	if (i < 0 || !atomic_compare_exchange_strong(&d->spare_cipher[i], &none, ctx))
		EVP_CIPHER_CTX_free(ctx);
}

void crypto_secret_mac_done(const EVP_PKEY *key, mech_alg_t alg, crypto_hash_t h, EVP_MAC_CTX *ctx)
{
	secret_data_t *d = secret_mut(key);
	size_t i = alg == ALG_HMAC ? (size_t)h : HASH_COUNT_;
	EVP_MAC_CTX *none = NULL;

	if (ctx == NULL)
		return;
	if (d == NULL || i >= MAC_SLOTS || !atomic_compare_exchange_strong(&d->spare_mac[i], &none, ctx))
		EVP_MAC_CTX_free(ctx);
}

EVP_CIPHER_CTX *crypto_secret_cipher_ctx(const EVP_PKEY *key, sym_mode_t mode, int enc, bool *reused)
{
	secret_data_t *d = secret_mut(key);
	EVP_CIPHER_CTX *have, *mine = NULL, *copy;
	const EVP_CIPHER *c;
	int i = cipher_slot(d, mode, enc);

	*reused = false;
	if (i < 0 || (c = crypto_cipher(d->kt, mode, d->len)) == NULL)
		return NULL;
	copy = atomic_exchange(&d->spare_cipher[i], NULL);
	if (copy != NULL) {
		*reused = true;
		return copy;
	}
	_Atomic(EVP_CIPHER_CTX *) *slot = &d->cipher[i];
	have = atomic_load_explicit(slot, memory_order_acquire);
	if (have == NULL) {
		mine = EVP_CIPHER_CTX_new();
		if (mine == NULL || EVP_CipherInit_ex2(mine, c, d->value, NULL, enc, NULL) != 1) {
			EVP_CIPHER_CTX_free(mine);
			return NULL;
		}
		if (atomic_compare_exchange_strong_explicit(slot, &have, mine, memory_order_acq_rel,
							    memory_order_acquire))
			have = mine;
		else
			EVP_CIPHER_CTX_free(mine);
	}
	copy = EVP_CIPHER_CTX_new();
	if (copy != NULL && EVP_CIPHER_CTX_copy(copy, have) != 1) {
		EVP_CIPHER_CTX_free(copy);
		copy = NULL;
	}
	return copy;
}

EVP_MAC_CTX *crypto_secret_mac_ctx(const EVP_PKEY *key, mech_alg_t alg, crypto_hash_t h)
{
	secret_data_t *d = secret_mut(key);
	EVP_MAC_CTX *have, *mine;
	OSSL_PARAM p[2];
	size_t i = alg == ALG_HMAC ? (size_t)h : HASH_COUNT_;

	if (d == NULL || i >= MAC_SLOTS || crypto_mac(alg) == NULL)
		return NULL;
	/* A spare starts over with its key: EVP_MAC_init without one. */
	mine = atomic_exchange(&d->spare_mac[i], NULL);
	if (mine != NULL) {
		if (EVP_MAC_init(mine, NULL, 0, NULL) == 1)
			return mine;
		EVP_MAC_CTX_free(mine);
		ERR_clear_error();
	}
	if (alg == ALG_HMAC) {
		const EVP_MD *md = crypto_md(h);
		if (md == NULL)
			return NULL;
		p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)EVP_MD_get0_name(md), 0);
	} else {
		const EVP_CIPHER *c = crypto_cipher(CKK_AES, SYM_CBC, d->len);
		if (c == NULL || d->kt != CKK_AES)
			return NULL;
		p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, (char *)EVP_CIPHER_get0_name(c), 0);
	}
	p[1] = OSSL_PARAM_construct_end();
	have = atomic_load_explicit(&d->mac[i], memory_order_acquire);
	if (have == NULL) {
		mine = EVP_MAC_CTX_new(crypto_mac(alg));
		if (mine == NULL || EVP_MAC_init(mine, d->value, d->len, p) != 1) {
			EVP_MAC_CTX_free(mine);
			return NULL;
		}
		if (atomic_compare_exchange_strong_explicit(&d->mac[i], &have, mine, memory_order_acq_rel,
							    memory_order_acquire))
			have = mine;
		else
			EVP_MAC_CTX_free(mine);
	}
	return EVP_MAC_CTX_dup(have);
}

/* For C_CreateObject, and after generation, derivation and unwrapping: the
 * value's length fits the key type; CKA_CHECK_VALUE is computed when empty
 * and must match when given. */
CK_RV crypto_complete_secret(attr_list_t *attrs)
{
	const attr_t *v = attr_list_find(attrs, CKA_VALUE), *given;
	CK_BYTE kcv[KCV_LEN];
	CK_KEY_TYPE kt;
	CK_RV rv;

	if (!attr_list_get_ulong(attrs, CKA_KEY_TYPE, &kt) || v == NULL)
		return CKR_TEMPLATE_INCOMPLETE;
	if (!crypto_secret_len_ok(kt, v->len))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	rv = check_value(kt, v->value, v->len, kcv);
	if (rv != CKR_OK)
		return rv;
	given = attr_list_find(attrs, CKA_CHECK_VALUE);
	if (given != NULL && given->len != 0)
		return given->len == KCV_LEN && memcmp(given->value, kcv, KCV_LEN) == 0 ?
			       CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
	return attr_list_set(attrs, CKA_CHECK_VALUE, kcv, KCV_LEN);
}

/* ---- Generation ------------------------------------------------------------ */

/* Odd parity in every byte (the DES key schedule ignores the low bit). */
static void des_odd_parity(CK_BYTE *k, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		CK_BYTE b = k[i] & 0xfe;
		int ones = __builtin_popcount(b);

		k[i] = (CK_BYTE)(b | (ones % 2 == 0 ? 1 : 0));
	}
}

/* Three distinct keys: with K1 = K2 or K2 = K3 DES3 collapses to single DES. */
static bool des3_distinct(const CK_BYTE *k)
{
	return memcmp(k, k + 8, 8) != 0 && memcmp(k + 8, k + 16, 8) != 0;
}

/* The bytes a key generation makes: len random bytes, DES3 with parity. */
CK_RV crypto_secret_random(CK_KEY_TYPE kt, CK_BYTE *buf, size_t len)
{
	do {
		if (RAND_priv_bytes(buf, (int)len) != 1)
			return crypto_ossl_fail(CKR_FUNCTION_FAILED);
		if (kt == CKK_DES3)
			des_odd_parity(buf, len);
	} while (kt == CKK_DES3 && !des3_distinct(buf));
	return CKR_OK;
}
