/* keygen.c - key generation and the EVP_PKEY -> attribute encodings.
 *
 * Attribute formats (PKCS#11 v3.0 section 2.3):
 *   CKA_VALUE       EC: the big-endian scalar, order size; Ed25519: the
 *                   32-byte seed (RFC 8032 private key).
 *   RSA             unsigned big-endian integers.
 *
 * The SubjectPublicKeyInfo of a named-curve key is a fixed prefix followed
 * by the point; writing it directly spares key generation a round through
 * OpenSSL's encoder machinery, which costs more than the P-256 key
 * generation itself on OpenSSL 3.0. The test suite checks it against
 * i2d_PUBKEY. */
#include "config.h"
#include "p11/crypto/internal.h"

#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include "secmem.h"

/* ---- EVP_PKEY -> attributes ---------------------------------------------- */

/* The raw public point of an EC or Ed25519 key (04||X||Y or 32 bytes). */
static CK_RV pub_point(const curve_t *c, const EVP_PKEY *pkey, CK_BYTE buf[POINT_MAX], size_t *len)
{
	size_t want = crypto_point_len(c);

	*len = POINT_MAX;
	if (c->key_type != CKK_EC) { /* Ed25519, X25519: the raw 32 bytes */
		if (EVP_PKEY_get_raw_public_key(pkey, buf, len) != 1)
			return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	} else if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, buf, POINT_MAX, len) != 1) {
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	}
	return *len == want && (c->key_type != CKK_EC || buf[0] == 0x04) ? CKR_OK : CKR_FUNCTION_FAILED;
}

/* CKA_PUBLIC_KEY_INFO of any key (c NULL for RSA). */
CK_RV crypto_set_spki(attr_list_t *l, const curve_t *c, const EVP_PKEY *pkey)
{
	CK_BYTE pt[POINT_MAX];
	size_t plen;
	unsigned char *p = NULL;
	int n;
	CK_RV rv;

	if (c == NULL) { /* RSA */
		n = i2d_PUBKEY(pkey, &p);
		if (n <= 0)
			return crypto_ossl_fail(CKR_FUNCTION_FAILED);
		rv = attr_list_set(l, CKA_PUBLIC_KEY_INFO, p, (CK_ULONG)n);
		OPENSSL_free(p);
		return rv;
	}
	rv = pub_point(c, pkey, pt, &plen);
	return rv == CKR_OK ? crypto_spki_from_point(l, c, pt, plen) : rv;
}

/* CKA_EC_POINT: DER OCTET STRING of the point (short form: at most 97 bytes). */
static CK_RV set_ec_point(attr_list_t *l, const CK_BYTE *pt, size_t plen)
{
	CK_BYTE der[2 + POINT_MAX];

	der[0] = 0x04;
	der[1] = (CK_BYTE)plen;
	memcpy(der + 2, pt, plen);
	return attr_list_set(l, CKA_EC_POINT, der, (CK_ULONG)(plen + 2));
}

/* A BIGNUM parameter as big-endian bytes: padded to pad bytes, or minimal
 * when pad is 0. The copy on the way passes through wiped memory only. */
static CK_RV set_bn_param(attr_list_t *l, CK_ATTRIBUTE_TYPE type, const EVP_PKEY *pkey,
			  const char *param, size_t pad)
{
	BIGNUM *bn = NULL;
	CK_BYTE *buf = NULL;
	size_t len = 0;
	CK_RV rv = CKR_FUNCTION_FAILED;

	if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1) {
		rv = crypto_ossl_fail(CKR_FUNCTION_FAILED);
		goto out;
	}
	len = pad != 0 ? pad : (size_t)BN_num_bytes(bn);
	if (len == 0)
		len = 1;
	buf = secmem_alloc(len);
	if (buf == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if (BN_bn2binpad(bn, buf, (int)len) < 0)
		goto out;
	rv = attr_list_set(l, type, buf, (CK_ULONG)len);
out:
	secmem_free(buf, len);
	BN_clear_free(bn);
	return rv;
}

/* Key type from the mechanism; a template that named another is inconsistent. */
static CK_RV set_key_type(attr_list_t *l, CK_KEY_TYPE kt)
{
	CK_ULONG have;

	if (attr_list_find(l, CKA_KEY_TYPE) != NULL) {
		if (!attr_list_get_ulong(l, CKA_KEY_TYPE, &have) || have != kt)
			return CKR_TEMPLATE_INCONSISTENT;
	}
	return attr_list_set_ulong(l, CKA_KEY_TYPE, kt);
}

static CK_RV ec_export(const curve_t *c, const EVP_PKEY *pkey, attr_list_t *pub, attr_list_t *priv)
{
	CK_BYTE seed[32], pt[POINT_MAX];
	size_t slen = sizeof(seed), plen;
	/* One export of the point for three attributes: each export converts
	 * it to affine coordinates, a field inversion (a fifth of a P-256 key
	 * generation). */
	CK_RV rv = pub_point(c, pkey, pt, &plen);

	if (rv == CKR_OK)
		rv = set_ec_point(pub, pt, plen);
	if (rv == CKR_OK)
		rv = crypto_spki_from_point(pub, c, pt, plen);
	if (rv == CKR_OK)
		rv = crypto_spki_from_point(priv, c, pt, plen);
	if (rv != CKR_OK)
		return rv;
	if (c->key_type == CKK_EC)
		return set_bn_param(priv, CKA_VALUE, pkey, OSSL_PKEY_PARAM_PRIV_KEY, c->order_len);
	if (EVP_PKEY_get_raw_private_key(pkey, seed, &slen) != 1 || slen != sizeof(seed))
		rv = crypto_ossl_fail(CKR_FUNCTION_FAILED);
	else
		rv = attr_list_set(priv, CKA_VALUE, seed, sizeof(seed));
	secmem_wipe(seed, sizeof(seed));
	return rv;
}

static const struct {
	CK_ATTRIBUTE_TYPE type;
	const char *param;
} rsa_priv_params[] = {
	{ CKA_MODULUS, OSSL_PKEY_PARAM_RSA_N },
	{ CKA_PUBLIC_EXPONENT, OSSL_PKEY_PARAM_RSA_E },
	{ CKA_PRIVATE_EXPONENT, OSSL_PKEY_PARAM_RSA_D },
	{ CKA_PRIME_1, OSSL_PKEY_PARAM_RSA_FACTOR1 },
	{ CKA_PRIME_2, OSSL_PKEY_PARAM_RSA_FACTOR2 },
	{ CKA_EXPONENT_1, OSSL_PKEY_PARAM_RSA_EXPONENT1 },
	{ CKA_EXPONENT_2, OSSL_PKEY_PARAM_RSA_EXPONENT2 },
	{ CKA_COEFFICIENT, OSSL_PKEY_PARAM_RSA_COEFFICIENT1 },
};

static CK_RV rsa_export(const EVP_PKEY *pkey, attr_list_t *pub, attr_list_t *priv)
{
	CK_RV rv = set_bn_param(pub, CKA_MODULUS, pkey, OSSL_PKEY_PARAM_RSA_N, 0);

	if (rv == CKR_OK)
		rv = set_bn_param(pub, CKA_PUBLIC_EXPONENT, pkey, OSSL_PKEY_PARAM_RSA_E, 0);
	for (size_t i = 0; rv == CKR_OK && i < OFP_ARRAY_LEN(rsa_priv_params); i++)
		rv = set_bn_param(priv, rsa_priv_params[i].type, pkey, rsa_priv_params[i].param, 0);
	if (rv == CKR_OK)
		rv = crypto_set_spki(pub, NULL, pkey);
	if (rv == CKR_OK)
		rv = crypto_set_spki(priv, NULL, pkey);
	return rv;
}


/* Only curves the token knows: crypto_curve_of_pkey goes by size alone,
 * which a foreign 256-bit curve (secp256k1) would pass. */
static bool known_group(const curve_t *c, const EVP_PKEY *pkey)
{
	char name[64];

	if (c->group == NULL)
		return true; /* Ed25519: the key type says it all */
	return EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name), NULL) == 1 &&
	       strcmp(name, c->group) == 0;
}

CK_RV crypto_export_private(const EVP_PKEY *pkey, attr_list_t *priv)
{
	const curve_t *c = crypto_curve_of_pkey(pkey);
	const CK_BYTE *oid;
	size_t oid_len;
	attr_list_t pub;
	CK_RV rv;

	attr_list_init(&pub);
	if (c != NULL && known_group(c, pkey)) {
		oid = crypto_curve_oid(c, &oid_len);
		rv = set_key_type(priv, c->key_type);
		if (rv == CKR_OK)
			rv = attr_list_set(priv, CKA_EC_PARAMS, oid, (CK_ULONG)oid_len);
		if (rv == CKR_OK)
			rv = ec_export(c, pkey, &pub, priv);
	} else if (EVP_PKEY_get_id(pkey) == EVP_PKEY_RSA) {
		rv = set_key_type(priv, CKK_RSA);
		if (rv == CKR_OK)
			rv = rsa_export(pkey, &pub, priv);
	} else {
		rv = CKR_WRAPPED_KEY_INVALID;
	}
	attr_list_clear(&pub);
	ERR_clear_error();
	return rv;
}

/* ---- Key generation -------------------------------------------------- */

/* A context ready for EVP_PKEY_generate on curve c. */
static EVP_PKEY_CTX *ec_keygen_ctx(const curve_t *c)
{
	EVP_PKEY *params = NULL;
	EVP_PKEY_CTX *ctx;

	if (c->group != NULL) {
		params = crypto_curve_params(c);
		ctx = params != NULL ? EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL) : NULL;
	} else {
		ctx = EVP_PKEY_CTX_new_from_name(NULL, c->keytype, NULL);
	}
	if (ctx != NULL && EVP_PKEY_keygen_init(ctx) != 1) {
		EVP_PKEY_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

static bool mech_param_empty(const CK_MECHANISM *mech)
{
	return mech->ulParameterLen == 0;
}

static CK_RV gen_ec(CK_KEY_TYPE want, attr_list_t *pub, attr_list_t *priv)
{
	const attr_t *params = attr_list_find(pub, CKA_EC_PARAMS);
	const attr_t *pparams = attr_list_find(priv, CKA_EC_PARAMS);
	const curve_t *c = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	CK_RV rv;

	if (params == NULL)
		return CKR_TEMPLATE_INCOMPLETE;
	rv = crypto_curve_from_params(params->value, params->len, &c);
	if (rv != CKR_OK)
		return rv;
	if (c->key_type != want)
		return CKR_CURVE_NOT_SUPPORTED;
	if (pparams != NULL &&
	    (pparams->len != params->len || memcmp(pparams->value, params->value, params->len) != 0))
		return CKR_TEMPLATE_INCONSISTENT;
	rv = set_key_type(pub, want);
	if (rv == CKR_OK)
		rv = set_key_type(priv, want);
	if (rv != CKR_OK)
		return rv;
	/* Setting an attribute moves the list's entries: look again. */
	params = attr_list_find(pub, CKA_EC_PARAMS);

	rv = CKR_FUNCTION_FAILED;
	ctx = ec_keygen_ctx(c);
	if (ctx == NULL || EVP_PKEY_generate(ctx, &pkey) != 1)
		goto out;
	rv = attr_list_set(priv, CKA_EC_PARAMS, params->value, params->len);
	if (rv == CKR_OK)
		rv = ec_export(c, pkey, pub, priv);
out:
	if (rv == CKR_FUNCTION_FAILED)
		ERR_clear_error();
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	return rv;
}

/* CKA_PUBLIC_EXPONENT of a generate template: odd, at least 3, at most 64
 * bits (OpenSSL's limit for fast public operations is far above that;
 * nobody uses more). Absent: 65537. */
static CK_RV rsa_pubexp(const attr_list_t *pub, BIGNUM **out)
{
	const attr_t *a = attr_list_find(pub, CKA_PUBLIC_EXPONENT);
	BIGNUM *e = BN_new();

	if (e == NULL)
		return CKR_HOST_MEMORY;
	if (a == NULL) {
		if (BN_set_word(e, RSA_F4) != 1)
			goto bad;
	} else if (a->len == 0 || a->len > 8 || BN_bin2bn(a->value, (int)a->len, e) == NULL) {
		goto bad;
	}
	if (!BN_is_odd(e) || BN_cmp(e, BN_value_one()) <= 0 || BN_num_bits(e) > 64)
		goto bad;
	*out = e;
	return CKR_OK;
bad:
	BN_free(e);
	return CKR_ATTRIBUTE_VALUE_INVALID;
}

static CK_RV gen_rsa(const mech_def_t *m, attr_list_t *pub, attr_list_t *priv)
{
	CK_ULONG bits;
	BIGNUM *e = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	CK_RV rv;

	if (!attr_list_get_ulong(pub, CKA_MODULUS_BITS, &bits))
		return CKR_TEMPLATE_INCOMPLETE;
	/* CKR_KEY_SIZE_RANGE is not among C_GenerateKeyPair's return values
	 * (v3.0 5.14): a modulus size the token does not make is an invalid
	 * CKA_MODULUS_BITS. */
	if (bits < m->info.ulMinKeySize || bits > m->info.ulMaxKeySize)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	rv = rsa_pubexp(pub, &e);
	if (rv == CKR_OK)
		rv = set_key_type(pub, CKK_RSA);
	if (rv == CKR_OK)
		rv = set_key_type(priv, CKK_RSA);
	if (rv != CKR_OK)
		goto out;

	rv = CKR_FUNCTION_FAILED;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, KEYTYPE_RSA, NULL);
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) != 1 ||
	    EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e) != 1 ||
	    EVP_PKEY_generate(ctx, &pkey) != 1)
		goto out;
	rv = rsa_export(pkey, pub, priv);
out:
	if (rv == CKR_FUNCTION_FAILED)
		ERR_clear_error();
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	BN_free(e);
	return rv;
}

CK_RV crypto_generate_key_pair(const CK_MECHANISM *mech, attr_list_t *pub, attr_list_t *priv)
{
	const mech_def_t *m;

	if (mech == NULL || pub == NULL || priv == NULL)
		return CKR_ARGUMENTS_BAD;
	m = crypto_mech_find(mech->mechanism);
	if (m == NULL || (m->info.flags & CKF_GENERATE_KEY_PAIR) == 0)
		return CKR_MECHANISM_INVALID;
	if (!mech_param_empty(mech))
		return CKR_MECHANISM_PARAM_INVALID;
	if (m->key_type == CKK_RSA)
		return gen_rsa(m, pub, priv);
	return gen_ec(m->key_type, pub, priv);
}

/* The key type a secret key generation makes: the one the template (the
 * module's policy-built list) names when the mechanism can make it, else
 * the mechanism's own. */
static CK_RV secret_key_type(const mech_def_t *m, attr_list_t *secret, CK_KEY_TYPE *kt)
{
	CK_ULONG have;

	*kt = m->key_type;
	if (attr_list_get_ulong(secret, CKA_KEY_TYPE, &have) && have != m->key_type) {
		/* CKM_GENERIC_SECRET_KEY_GEN also makes the HMAC key types. */
		if (m->key_type != CKK_GENERIC_SECRET || !crypto_secret_len_ok(have, 1))
			return CKR_TEMPLATE_INCONSISTENT;
		*kt = have;
		return CKR_OK;
	}
	return set_key_type(secret, m->key_type);
}

/* CKA_VALUE_LEN: required except for DES3 (24 when given). */
static CK_RV secret_len(const mech_def_t *m, CK_KEY_TYPE kt, const attr_list_t *secret, CK_ULONG *len)
{
	bool given = attr_list_get_ulong(secret, CKA_VALUE_LEN, len);

	if (kt == CKK_DES3) {
		if (given && *len != 24)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		*len = 24;
		return CKR_OK;
	}
	if (!given)
		return CKR_TEMPLATE_INCOMPLETE;
	if (*len < m->info.ulMinKeySize || *len > m->info.ulMaxKeySize)
		return CKR_KEY_SIZE_RANGE;
	return crypto_secret_len_ok(kt, *len) ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
}

CK_RV crypto_generate_secret(const CK_MECHANISM *mech, attr_list_t *secret)
{
	const mech_def_t *m;
	CK_KEY_TYPE kt;
	CK_ULONG len = 0;
	CK_BYTE *buf = NULL;
	CK_RV rv;

	if (mech == NULL || secret == NULL)
		return CKR_ARGUMENTS_BAD;
	m = crypto_mech_find(mech->mechanism);
	if (m == NULL || (m->info.flags & CKF_GENERATE) == 0)
		return CKR_MECHANISM_INVALID;
	if (!mech_param_empty(mech))
		return CKR_MECHANISM_PARAM_INVALID;
	rv = secret_key_type(m, secret, &kt);
	if (rv == CKR_OK)
		rv = secret_len(m, kt, secret, &len);
	if (rv != CKR_OK)
		return rv;
	buf = secmem_alloc(len);
	if (buf == NULL)
		return CKR_HOST_MEMORY;
	rv = crypto_secret_random(kt, buf, len);
	if (rv == CKR_OK)
		rv = attr_list_set(secret, CKA_VALUE, buf, len);
	/* A check value, if any, is of the new value. */
	if (rv == CKR_OK)
		rv = attr_list_set(secret, CKA_CHECK_VALUE, NULL, 0);
	if (rv == CKR_OK)
		rv = crypto_complete_secret(secret);
	secmem_free(buf, len);
	return rv;
}

CK_RV crypto_complete_imported(CK_OBJECT_CLASS klass, attr_list_t *attrs)
{
	EVP_PKEY *pkey = NULL;
	attr_list_t tmp;
	const attr_t *given, *made;
	CK_RV rv;

	if (klass == CKO_SECRET_KEY)
		return crypto_complete_secret(attrs);
	if (klass != CKO_PUBLIC_KEY && klass != CKO_PRIVATE_KEY)
		return CKR_OK;
	rv = crypto_pkey_from_attrs(klass, attrs, &pkey);
	if (rv != CKR_OK)
		return rv;
	attr_list_init(&tmp);
	rv = crypto_set_spki(&tmp, crypto_curve_of_pkey(pkey), pkey);
	if (rv != CKR_OK)
		goto out;
	/* An SPKI that names another key would let an application find the
	 * wrong private key by its public key. */
	given = attr_list_find(attrs, CKA_PUBLIC_KEY_INFO);
	made = attr_list_find(&tmp, CKA_PUBLIC_KEY_INFO);
	if (given != NULL && given->len != 0) {
		if (given->len != made->len || memcmp(given->value, made->value, made->len) != 0)
			rv = CKR_TEMPLATE_INCONSISTENT;
		goto out;
	}
	rv = attr_list_set(attrs, CKA_PUBLIC_KEY_INFO, made->value, made->len);
out:
	attr_list_clear(&tmp);
	EVP_PKEY_free(pkey);
	return rv;
}

