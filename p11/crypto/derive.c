/* derive.c - ECDH key agreement and the random number generator.
 *
 * CKM_ECDH1_DERIVE with CKD_NULL gives the shared x-coordinate Z (field
 * size); a shorter CKA_VALUE_LEN keeps its rightmost bytes, as NSS and
 * SoftHSM2 do. CKD_SHA*_KDF is the ANSI X9.63 KDF over Z with the
 * mechanism's shared data, which is what PKCS#11 names by these
 * constants; OpenSSL's ECDH exchange implements it. The peer's point is
 * validated (on the curve) before use. */
#include "config.h"
#include "p11/crypto/internal.h"

#include <limits.h>
#include <string.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include "secmem.h"

/* Upper bound of a KDF output: the largest generic secret. */
#define KDF_OUT_MAX 512

static crypto_hash_t kdf_hash(CK_ULONG kdf)
{
	switch (kdf) {
	case CKD_SHA1_KDF: return HASH_SHA1;
	case CKD_SHA224_KDF: return HASH_SHA224;
	case CKD_SHA256_KDF: return HASH_SHA256;
	case CKD_SHA384_KDF: return HASH_SHA384;
	case CKD_SHA512_KDF: return HASH_SHA512;
	default: return HASH_NONE;
	}
}

static CK_RV check_params(const CK_MECHANISM *mech, const CK_ECDH1_DERIVE_PARAMS **out, crypto_hash_t *h)
{
	const CK_ECDH1_DERIVE_PARAMS *p = mech->pParameter;

	if (p == NULL || mech->ulParameterLen != sizeof(*p))
		return CKR_MECHANISM_PARAM_INVALID;
	if (p->pPublicData == NULL || p->ulPublicDataLen == 0)
		return CKR_MECHANISM_PARAM_INVALID;
	if (p->ulSharedDataLen != 0 && p->pSharedData == NULL)
		return CKR_MECHANISM_PARAM_INVALID;
	*h = kdf_hash(p->kdf);
	if (p->kdf == CKD_NULL) {
		/* No KDF means no shared data to feed it. */
		if (p->ulSharedDataLen != 0)
			return CKR_MECHANISM_PARAM_INVALID;
	} else if (*h == HASH_NONE || crypto_md(*h) == NULL) {
		return CKR_MECHANISM_PARAM_INVALID;
	} else if (p->ulSharedDataLen > ATTR_VALUE_MAX) {
		return CKR_MECHANISM_PARAM_INVALID;
	}
	*out = p;
	return CKR_OK;
}

/* The length the template asks for (CKA_VALUE_LEN), else the field size. */
static CK_RV value_len(const attr_list_t *derived, const curve_t *c, crypto_hash_t h, size_t *len)
{
	CK_ULONG want;
	size_t max = h == HASH_NONE ? c->field_len : KDF_OUT_MAX;

	if (!attr_list_get_ulong(derived, CKA_VALUE_LEN, &want)) {
		*len = c->field_len;
		return CKR_OK;
	}
	if (want == 0 || want > max)
		return CKR_KEY_SIZE_RANGE;
	*len = want;
	return CKR_OK;
}

static CK_RV set_kdf(EVP_PKEY_CTX *ctx, const CK_ECDH1_DERIVE_PARAMS *p, crypto_hash_t h, size_t len)
{
	void *ukm = NULL;

	if (EVP_PKEY_CTX_set_ecdh_kdf_type(ctx, EVP_PKEY_ECDH_KDF_X9_63) != 1 ||
	    EVP_PKEY_CTX_set_ecdh_kdf_md(ctx, crypto_md(h)) != 1 ||
	    EVP_PKEY_CTX_set_ecdh_kdf_outlen(ctx, (int)len) != 1)
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	if (p->ulSharedDataLen == 0)
		return CKR_OK;
	ukm = OPENSSL_memdup(p->pSharedData, p->ulSharedDataLen);
	if (ukm == NULL)
		return CKR_HOST_MEMORY;
	/* set0: the context owns ukm from here on. */
	if (EVP_PKEY_CTX_set0_ecdh_kdf_ukm(ctx, ukm, (int)p->ulSharedDataLen) != 1)
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	return CKR_OK;
}

/* Z (CKD_NULL, field size) or the KDF output (len bytes) into secret. */
static CK_RV agree(EVP_PKEY *base, EVP_PKEY *peer, const CK_ECDH1_DERIVE_PARAMS *p, crypto_hash_t h,
		   CK_BYTE *secret, size_t *len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, base, NULL);
	CK_RV rv = CKR_FUNCTION_FAILED;

	if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1)
		goto out;
	if (h != HASH_NONE) {
		rv = set_kdf(ctx, p, h, *len);
		if (rv != CKR_OK)
			goto out;
		rv = CKR_FUNCTION_FAILED;
	}
	/* set_peer validates the peer key against the base key's group. */
	if (EVP_PKEY_derive_set_peer(ctx, peer) != 1) {
		rv = CKR_MECHANISM_PARAM_INVALID;
		goto out;
	}
	if (EVP_PKEY_derive(ctx, secret, len) != 1)
		goto out;
	rv = CKR_OK;
out:
	if (rv != CKR_OK)
		ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	return rv;
}

static CK_RV set_derived(attr_list_t *derived, const CK_BYTE *value, size_t len)
{
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_RV rv;

	if (attr_list_find(derived, CKA_KEY_TYPE) == NULL)
		rv = attr_list_set_ulong(derived, CKA_KEY_TYPE, kt);
	else if (!attr_list_get_ulong(derived, CKA_KEY_TYPE, &kt))
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	else
		rv = CKR_OK;
	if (rv == CKR_OK)
		rv = attr_list_set(derived, CKA_VALUE, value, (CK_ULONG)len);
	/* Variable-length key types carry their length. */
	if (rv == CKR_OK && (kt == CKK_GENERIC_SECRET || kt == CKK_AES) &&
	    attr_list_find(derived, CKA_VALUE_LEN) == NULL)
		rv = attr_list_set_ulong(derived, CKA_VALUE_LEN, (CK_ULONG)len);
	return rv;
}

CK_RV crypto_derive(const CK_MECHANISM *mech, EVP_PKEY *base, attr_list_t *derived)
{
	const CK_ECDH1_DERIVE_PARAMS *p = NULL;
	const curve_t *c;
	crypto_hash_t h = HASH_NONE;
	const CK_BYTE *pt;
	size_t plen, len = 0, got;
	EVP_PKEY *peer = NULL;
	CK_BYTE *secret = NULL;
	size_t secret_cap = 0;
	CK_RV rv;

	if (mech == NULL || base == NULL || derived == NULL)
		return CKR_ARGUMENTS_BAD;
	if (mech->mechanism != CKM_ECDH1_DERIVE)
		return CKR_MECHANISM_INVALID;
	rv = check_params(mech, &p, &h);
	if (rv != CKR_OK)
		return rv;
	c = crypto_curve_of_pkey(base);
	if (c == NULL || (c->key_type != CKK_EC && c->key_type != CKK_EC_MONTGOMERY))
		return CKR_KEY_TYPE_INCONSISTENT;
	/* OpenSSL's X25519 exchange has no X9.63 KDF: raw Z only. */
	if (c->key_type == CKK_EC_MONTGOMERY && h != HASH_NONE)
		return CKR_MECHANISM_PARAM_INVALID;
	rv = value_len(derived, c, h, &len);
	if (rv != CKR_OK)
		return rv;
	if (crypto_ec_point_unwrap(c, p->pPublicData, p->ulPublicDataLen, &pt, &plen) != CKR_OK ||
	    crypto_ec_pub_from_point(c, pt, plen, &peer) != CKR_OK)
		return CKR_MECHANISM_PARAM_INVALID;

	secret_cap = h == HASH_NONE ? c->field_len : len;
	got = secret_cap;
	secret = secmem_alloc(secret_cap);
	if (secret == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	rv = agree(base, peer, p, h, secret, &got);
	if (rv != CKR_OK)
		goto out;
	if (h == HASH_NONE && got != c->field_len) {
		rv = CKR_FUNCTION_FAILED;
		goto out;
	}
	/* CKD_NULL truncation keeps the rightmost (least significant) bytes. */
	rv = set_derived(derived, secret + (got - len), len);
out:
	secmem_free(secret, secret_cap);
	EVP_PKEY_free(peer);
	return rv;
}

CK_RV crypto_random(CK_BYTE *out, CK_ULONG len)
{
	if (out == NULL && len != 0)
		return CKR_ARGUMENTS_BAD;
	while (len > 0) {
		int n = len > INT_MAX ? INT_MAX : (int)len;
		if (RAND_bytes(out, n) != 1)
			return crypto_ossl_fail(CKR_FUNCTION_FAILED);
		out += n;
		len -= (CK_ULONG)n;
	}
	return CKR_OK;
}

/* Mixed into OpenSSL's DRBG as additional input; it can only add entropy. */
CK_RV crypto_seed(const CK_BYTE *seed, CK_ULONG len)
{
	if (seed == NULL && len != 0)
		return CKR_ARGUMENTS_BAD;
	while (len > 0) {
		int n = len > INT_MAX ? INT_MAX : (int)len;
		RAND_seed(seed, n);
		seed += n;
		len -= (CK_ULONG)n;
	}
	return CKR_OK;
}
