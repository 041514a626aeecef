/* keys.c - key generation and the EVP_PKEY <-> attribute encodings.
 *
 * Attribute formats (PKCS#11 v3.0 section 2.3):
 *   CKA_EC_PARAMS   DER OID (P-256, P-384, Ed25519) or the DER
 *                   PrintableString "edwards25519"; kept as given.
 *   CKA_EC_POINT    DER OCTET STRING of 04||X||Y, of the 32 raw bytes for
 *                   Ed25519; the bare form is accepted on input.
 *   CKA_VALUE       EC: the big-endian scalar, order size; Ed25519: the
 *                   32-byte seed (RFC 8032 private key).
 *   RSA             unsigned big-endian integers.
 * Only uncompressed Weierstrass points are accepted (no CKF_EC_COMPRESS).
 *
 * The SubjectPublicKeyInfo of a named-curve key is a fixed prefix followed
 * by the point; writing it directly spares key generation a round through
 * OpenSSL's encoder machinery, which costs more than the P-256 key
 * generation itself on OpenSSL 3.0. The test suite checks it against
 * i2d_PUBKEY. */
#include "config.h"
#include "p11/crypto/internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include "secmem.h"

/* Key types by OID, not by name: an application that made an ENGINE the
 * default (openssl -engine pkcs11, libp11) has "EC" and "RSA" bound to the
 * engine's legacy methods, and EVP_PKEY_fromdata then fails inside this
 * module. The OID names always reach the provider implementations. */
#define KEYTYPE_EC "1.2.840.10045.2.1"
#define KEYTYPE_RSA "1.2.840.113549.1.1.1"

/* ---- Curves ------------------------------------------------------------ */

typedef struct curve_entry {
	curve_t c;
	const CK_BYTE *oid; /* DER, tag and length included */
	size_t oid_len;
	const CK_BYTE *spki; /* SPKI DER up to the BIT STRING's unused-bits byte */
	size_t spki_len;
} curve_entry_t;

static const CK_BYTE oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const CK_BYTE oid_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const CK_BYTE oid_ed25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
static const CK_BYTE name_ed25519[] = "edwards25519";

/* SEQUENCE { SEQUENCE { id-ecPublicKey, curve }, BIT STRING { 00 point } } */
static const CK_BYTE spki_p256[] = {
	0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
};
static const CK_BYTE spki_p384[] = {
	0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
};
/* RFC 8410: SEQUENCE { SEQUENCE { id-Ed25519 }, BIT STRING { 00 key } } */
static const CK_BYTE spki_ed25519[] = {
	0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
};

static const curve_entry_t curves[] = {
	{ { "prime256v1", KEYTYPE_EC, NID_X9_62_prime256v1, 32, 32, CKK_EC },
	  oid_p256, sizeof(oid_p256), spki_p256, sizeof(spki_p256) },
	{ { "secp384r1", KEYTYPE_EC, NID_secp384r1, 48, 48, CKK_EC },
	  oid_p384, sizeof(oid_p384), spki_p384, sizeof(spki_p384) },
	{ { NULL, "ED25519", NID_ED25519, 32, 32, CKK_EC_EDWARDS },
	  oid_ed25519, sizeof(oid_ed25519), spki_ed25519, sizeof(spki_ed25519) },
};
#define ED25519_ENTRY (&curves[2])

static const curve_entry_t *entry_of(const curve_t *c)
{
	return (const curve_entry_t *)c; /* c is the first member */
}

/* One whole DER TLV with a minimally encoded definite length. */
static bool der_tlv(const CK_BYTE *in, size_t len, CK_BYTE *tag, const CK_BYTE **val, size_t *vlen)
{
	size_t hdr, n;

	if (in == NULL || len < 2)
		return false;
	if (in[1] < 0x80) {
		n = in[1];
		hdr = 2;
	} else if (in[1] == 0x81 && len >= 3 && in[2] >= 0x80) {
		n = in[2];
		hdr = 3;
	} else if (in[1] == 0x82 && len >= 4 && in[2] != 0) {
		n = ((size_t)in[2] << 8) | in[3];
		hdr = 4;
	} else {
		return false;
	}
	if (len - hdr != n)
		return false;
	*tag = in[0];
	*val = in + hdr;
	*vlen = n;
	return true;
}

/* X.690 8.19: at least one subidentifier, none with a leading 0x80 octet,
 * the last one complete. */
static bool oid_well_formed(const CK_BYTE *v, size_t n)
{
	bool start = true;

	if (n == 0 || (v[n - 1] & 0x80) != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (start && v[i] == 0x80)
			return false;
		start = (v[i] & 0x80) == 0;
	}
	return true;
}

CK_RV crypto_curve_from_params(const CK_BYTE *der, CK_ULONG len, const curve_t **out)
{
	CK_BYTE tag;
	const CK_BYTE *val;
	size_t vlen;

	if (!der_tlv(der, len, &tag, &val, &vlen))
		return CKR_DOMAIN_PARAMS_INVALID;
	if (tag == 0x06) {
		if (!oid_well_formed(val, vlen))
			return CKR_DOMAIN_PARAMS_INVALID;
		for (size_t i = 0; i < OFP_ARRAY_LEN(curves); i++) {
			if (curves[i].oid_len == len && memcmp(curves[i].oid, der, len) == 0) {
				*out = &curves[i].c;
				return CKR_OK;
			}
		}
		return CKR_CURVE_NOT_SUPPORTED;
	}
	/* PrintableString: the curve name OpenSC's pkcs11-tool sends. */
	if (tag == 0x13 && vlen == sizeof(name_ed25519) - 1 && memcmp(val, name_ed25519, vlen) == 0) {
		*out = &ED25519_ENTRY->c;
		return CKR_OK;
	}
	/* Other names, explicit parameters, implicitlyCA: well-formed, unsupported. */
	return CKR_CURVE_NOT_SUPPORTED;
}

const curve_t *crypto_curve_of_pkey(const EVP_PKEY *pkey)
{
	/* Both are plain field reads on OpenSSL 3.0; a group-name lookup would
	 * cost a provider round trip on every operation. Keys reach this layer
	 * only from crypto_pkey_from_attrs or key generation, which admit no
	 * other 256- or 384-bit curve. */
	switch (EVP_PKEY_get_id(pkey)) {
	case EVP_PKEY_EC:
		switch (EVP_PKEY_get_bits(pkey)) {
		case 256: return &curves[0].c;
		case 384: return &curves[1].c;
		default: return NULL;
		}
	case EVP_PKEY_ED25519:
		return &ED25519_ENTRY->c;
	default:
		return NULL;
	}
}

static size_t point_len(const curve_t *c)
{
	return c->key_type == CKK_EC ? 1 + 2 * c->field_len : c->field_len;
}

static bool point_form_ok(const curve_t *c, const CK_BYTE *p, size_t len)
{
	return len == point_len(c) && (c->key_type != CKK_EC || p[0] == 0x04);
}

CK_RV crypto_ec_point_unwrap(const curve_t *c, const CK_BYTE *in, CK_ULONG len,
			     const CK_BYTE **point, size_t *plen)
{
	CK_BYTE tag;
	const CK_BYTE *val;
	size_t vlen;

	if (in == NULL)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	/* The bare form is two bytes shorter than the wrapped one, so the
	 * length alone tells them apart. */
	if (point_form_ok(c, in, len)) {
		*point = in;
		*plen = len;
		return CKR_OK;
	}
	if (der_tlv(in, len, &tag, &val, &vlen) && tag == 0x04 && point_form_ok(c, val, vlen)) {
		*point = val;
		*plen = vlen;
		return CKR_OK;
	}
	return CKR_ATTRIBUTE_VALUE_INVALID;
}

/* ---- EVP_PKEY -> attributes ---------------------------------------------- */

#define POINT_MAX (1 + 2 * 48)

/* The raw public point of an EC or Ed25519 key (04||X||Y or 32 bytes). */
static CK_RV pub_point(const curve_t *c, const EVP_PKEY *pkey, CK_BYTE buf[POINT_MAX], size_t *len)
{
	size_t want = point_len(c);

	*len = POINT_MAX;
	if (c->key_type == CKK_EC_EDWARDS) {
		if (EVP_PKEY_get_raw_public_key(pkey, buf, len) != 1)
			return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	} else if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, buf, POINT_MAX, len) != 1) {
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	}
	return point_form_ok(c, buf, *len) && *len == want ? CKR_OK : CKR_FUNCTION_FAILED;
}

/* CKA_PUBLIC_KEY_INFO of a curve key from its raw point: the curve's fixed
 * prefix and the point. */
static CK_RV spki_from_point(attr_list_t *l, const curve_t *c, const CK_BYTE *pt, size_t plen)
{
	const curve_entry_t *e = entry_of(c);
	CK_BYTE der[sizeof(spki_p384) + POINT_MAX];

	memcpy(der, e->spki, e->spki_len);
	memcpy(der + e->spki_len, pt, plen);
	return attr_list_set(l, CKA_PUBLIC_KEY_INFO, der, (CK_ULONG)(e->spki_len + plen));
}

/* CKA_PUBLIC_KEY_INFO of any key (c NULL for RSA). */
static CK_RV set_spki(attr_list_t *l, const curve_t *c, const EVP_PKEY *pkey)
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
	return rv == CKR_OK ? spki_from_point(l, c, pt, plen) : rv;
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
		rv = spki_from_point(pub, c, pt, plen);
	if (rv == CKR_OK)
		rv = spki_from_point(priv, c, pt, plen);
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
		rv = set_spki(pub, NULL, pkey);
	if (rv == CKR_OK)
		rv = set_spki(priv, NULL, pkey);
	return rv;
}

/* ---- Key generation -------------------------------------------------- */

static EVP_PKEY *pkey_fromdata(const char *keytype, int selection, OSSL_PARAM *params);

/* Each Weierstrass curve's domain parameters as an EVP_PKEY, made on first
 * use and kept until crypto_release. Generating from a context made on it
 * copies its group, where a context made by key type and group name builds
 * the group anew (precomputation, Montgomery constants) and fetches the
 * key manager: 140,000 instructions of a P-256 generation's 317,000.
 * Published once with a compare-and-swap (a losing racer frees its copy)
 * and only read afterwards, as the operation templates are. */
static _Atomic(EVP_PKEY *) curve_params[OFP_ARRAY_LEN(curves)];

static EVP_PKEY *curve_params_of(const curve_t *c)
{
	_Atomic(EVP_PKEY *) *slot = &curve_params[entry_of(c) - curves];
	EVP_PKEY *have = atomic_load_explicit(slot, memory_order_acquire), *mine;
	OSSL_PARAM p[2];

	if (have != NULL)
		return have;
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)c->group, 0);
	p[1] = OSSL_PARAM_construct_end();
	mine = pkey_fromdata(c->keytype, EVP_PKEY_KEY_PARAMETERS, p);
	if (mine == NULL)
		return NULL;
	if (atomic_compare_exchange_strong_explicit(slot, &have, mine, memory_order_acq_rel,
						    memory_order_acquire))
		return mine;
	EVP_PKEY_free(mine);
	return have;
}

void crypto_release(void)
{
	for (size_t i = 0; i < OFP_ARRAY_LEN(curve_params); i++)
		EVP_PKEY_free(atomic_exchange(&curve_params[i], NULL));
}

/* A context ready for EVP_PKEY_generate on curve c. */
static EVP_PKEY_CTX *ec_keygen_ctx(const curve_t *c)
{
	EVP_PKEY *params = NULL;
	EVP_PKEY_CTX *ctx;

	if (c->group != NULL) {
		params = curve_params_of(c);
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
	if (bits < m->info.ulMinKeySize || bits > m->info.ulMaxKeySize)
		return CKR_KEY_SIZE_RANGE;
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

CK_RV crypto_generate_secret(const CK_MECHANISM *mech, attr_list_t *secret)
{
	const mech_def_t *m;
	CK_ULONG len;
	CK_BYTE *buf = NULL;
	CK_RV rv;

	if (mech == NULL || secret == NULL)
		return CKR_ARGUMENTS_BAD;
	m = crypto_mech_find(mech->mechanism);
	if (m == NULL || (m->info.flags & CKF_GENERATE) == 0)
		return CKR_MECHANISM_INVALID;
	if (!mech_param_empty(mech))
		return CKR_MECHANISM_PARAM_INVALID;
	if (!attr_list_get_ulong(secret, CKA_VALUE_LEN, &len))
		return CKR_TEMPLATE_INCOMPLETE;
	if (len < m->info.ulMinKeySize || len > m->info.ulMaxKeySize)
		return CKR_KEY_SIZE_RANGE;
	rv = set_key_type(secret, m->key_type);
	if (rv != CKR_OK)
		return rv;
	buf = secmem_alloc(len);
	if (buf == NULL)
		return CKR_HOST_MEMORY;
	if (RAND_priv_bytes(buf, (int)len) != 1)
		rv = crypto_ossl_fail(CKR_FUNCTION_FAILED);
	else
		rv = attr_list_set(secret, CKA_VALUE, buf, len);
	secmem_free(buf, len);
	return rv;
}

/* ---- Operation templates -------------------------------------------------- *
 *
 * Initialising an EVP_PKEY_CTX or a DigestSign context fetches the
 * algorithm from the provider store on every call (about 2 us on OpenSSL
 * 3.0, 8% of a P-256 signature, and a shared lock between threads);
 * duplicating an initialised one costs 0.1 us. So each EC and Ed25519
 * EVP_PKEY made by crypto_pkey_from_attrs carries, in its ex_data, one
 * initialised context for what the key is for (sign for a private key,
 * verify for a public one), and operations start from a copy.
 *
 * A context holds a reference to its key, so a template on the key itself
 * would keep it alive for ever; the template is made on a duplicate of the
 * key instead, and freed (with the duplicate) when the key is. Templates
 * are written once, before the key is shared, and only read afterwards:
 * no lock. */

typedef struct key_tmpl {
	crypto_op_kind_t kind;
	EVP_PKEY_CTX *pctx; /* ECDSA */
	EVP_MD_CTX *mctx;   /* Ed25519 */
} key_tmpl_t;

static int tmpl_index = -1;
static pthread_once_t tmpl_once = PTHREAD_ONCE_INIT;

static void tmpl_destroy(key_tmpl_t *t)
{
	if (t == NULL)
		return;
	EVP_PKEY_CTX_free(t->pctx);
	EVP_MD_CTX_free(t->mctx);
	free(t);
}

static void tmpl_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	tmpl_destroy(ptr);
}

/* EVP_PKEY_dup copies ex_data pointers: the copy must not share ours. */
static int tmpl_dup_cb(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx, long argl,
		       void *argp)
{
	(void)to, (void)from, (void)idx, (void)argl, (void)argp;
	*from_d = NULL;
	return 1;
}

static void tmpl_init(void)
{
	tmpl_index = EVP_PKEY_get_ex_new_index(0, NULL, NULL, tmpl_dup_cb, tmpl_free_cb);
}

/* Best effort: a key without a template takes the slow path. */
static void tmpl_attach(EVP_PKEY *pkey, bool private)
{
	int id = EVP_PKEY_get_id(pkey);
	key_tmpl_t *t = NULL;
	EVP_PKEY *twin = NULL;
	int r;

	if (id != EVP_PKEY_EC && id != EVP_PKEY_ED25519)
		return;
	if (pthread_once(&tmpl_once, tmpl_init) != 0 || tmpl_index < 0)
		goto fail;
	t = calloc(1, sizeof(*t));
	twin = EVP_PKEY_dup(pkey);
	if (t == NULL || twin == NULL)
		goto fail;
	t->kind = private ? CRYPTO_SIGN : CRYPTO_VERIFY;
	if (id == EVP_PKEY_EC) {
		t->pctx = EVP_PKEY_CTX_new_from_pkey(NULL, twin, NULL);
		r = t->pctx == NULL ? 0 : private ? EVP_PKEY_sign_init(t->pctx) : EVP_PKEY_verify_init(t->pctx);
	} else {
		t->mctx = EVP_MD_CTX_new();
		r = t->mctx == NULL ? 0 :
		    private ? EVP_DigestSignInit_ex(t->mctx, NULL, NULL, NULL, NULL, twin, NULL) :
			      EVP_DigestVerifyInit_ex(t->mctx, NULL, NULL, NULL, NULL, twin, NULL);
	}
	if (r != 1 || EVP_PKEY_set_ex_data(pkey, tmpl_index, t) != 1)
		goto fail;
	EVP_PKEY_free(twin); /* the context holds its own reference */
	return;
fail:
	ERR_clear_error();
	tmpl_destroy(t);
	EVP_PKEY_free(twin);
}

static const key_tmpl_t *tmpl_of(const EVP_PKEY *key, crypto_op_kind_t kind)
{
	const key_tmpl_t *t;

	if (tmpl_index < 0) /* no key has one yet: nothing to look up */
		return NULL;
	t = EVP_PKEY_get_ex_data(key, tmpl_index);
	return t != NULL && t->kind == kind ? t : NULL;
}

EVP_PKEY_CTX *crypto_tmpl_pkey_ctx(const EVP_PKEY *key, crypto_op_kind_t kind)
{
	const key_tmpl_t *t = tmpl_of(key, kind);

	return t != NULL && t->pctx != NULL ? EVP_PKEY_CTX_dup(t->pctx) : NULL;
}

EVP_MD_CTX *crypto_tmpl_md_ctx(const EVP_PKEY *key, crypto_op_kind_t kind)
{
	const key_tmpl_t *t = tmpl_of(key, kind);
	EVP_MD_CTX *c;

	if (t == NULL || t->mctx == NULL)
		return NULL;
	c = EVP_MD_CTX_new();
	if (c != NULL && EVP_MD_CTX_copy_ex(c, t->mctx) != 1) {
		EVP_MD_CTX_free(c);
		ERR_clear_error();
		c = NULL;
	}
	return c;
}

/* ---- Attributes -> EVP_PKEY ---------------------------------------------- */

static EVP_PKEY *pkey_fromdata(const char *keytype, int selection, OSSL_PARAM *params)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, keytype, NULL);
	EVP_PKEY *pkey = NULL;

	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, selection, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/* Point on the curve, not infinity, coordinates in range. OpenSSL already
 * refuses an off-curve point while decoding; the check says so explicitly
 * and costs no scalar multiplication (the curves have cofactor 1). */
static bool ec_public_ok(EVP_PKEY *pkey)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	bool ok = ctx != NULL && EVP_PKEY_public_check_quick(ctx) == 1;

	EVP_PKEY_CTX_free(ctx);
	return ok;
}

CK_RV crypto_ec_pub_from_point(const curve_t *c, const CK_BYTE *pt, size_t len, EVP_PKEY **out)
{
	OSSL_PARAM params[3];
	EVP_PKEY *pkey;

	if (c->key_type == CKK_EC_EDWARDS) {
		pkey = EVP_PKEY_new_raw_public_key_ex(NULL, c->keytype, NULL, pt, len);
	} else {
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
							     (char *)c->group, 0);
		params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pt, len);
		params[2] = OSSL_PARAM_construct_end();
		pkey = pkey_fromdata(c->keytype, EVP_PKEY_PUBLIC_KEY, params);
		if (pkey != NULL && !ec_public_ok(pkey)) {
			EVP_PKEY_free(pkey);
			pkey = NULL;
		}
	}
	if (pkey == NULL)
		return crypto_ossl_fail(CKR_ATTRIBUTE_VALUE_INVALID);
	*out = pkey;
	return CKR_OK;
}

static CK_RV curve_of_attrs(const attr_list_t *attrs, CK_KEY_TYPE kt, const curve_t **c)
{
	const attr_t *a = attr_list_find(attrs, CKA_EC_PARAMS);
	CK_RV rv;

	if (a == NULL)
		return CKR_TEMPLATE_INCOMPLETE;
	rv = crypto_curve_from_params(a->value, a->len, c);
	if (rv == CKR_OK && (*c)->key_type != kt)
		rv = CKR_CURVE_NOT_SUPPORTED;
	return rv;
}

static CK_RV ec_public(const attr_list_t *attrs, CK_KEY_TYPE kt, EVP_PKEY **out)
{
	const attr_t *a = attr_list_find(attrs, CKA_EC_POINT);
	const curve_t *c;
	const CK_BYTE *pt;
	size_t plen;
	CK_RV rv = curve_of_attrs(attrs, kt, &c);

	if (rv != CKR_OK)
		return rv;
	if (a == NULL)
		return CKR_TEMPLATE_INCOMPLETE;
	rv = crypto_ec_point_unwrap(c, a->value, a->len, &pt, &plen);
	if (rv != CKR_OK)
		return rv;
	return crypto_ec_pub_from_point(c, pt, plen, out);
}

/* d * G as an uncompressed point, after checking 0 < d < n. */
static CK_RV ec_derive_public(const curve_t *c, const BIGNUM *d, CK_BYTE pt[POINT_MAX], size_t *plen)
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(c->nid);
	EC_POINT *p = NULL;
	CK_RV rv = CKR_FUNCTION_FAILED;

	if (g == NULL)
		goto out;
	if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(g)) >= 0) {
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
		goto out;
	}
	p = EC_POINT_new(g);
	if (p == NULL || EC_POINT_mul(g, p, d, NULL, NULL, NULL) != 1)
		goto out;
	*plen = EC_POINT_point2oct(g, p, POINT_CONVERSION_UNCOMPRESSED, pt, POINT_MAX, NULL);
	if (*plen == point_len(c))
		rv = CKR_OK;
out:
	if (rv != CKR_OK)
		ERR_clear_error();
	EC_POINT_free(p);
	EC_GROUP_free(g);
	return rv;
}

static CK_RV ec_private(const attr_list_t *attrs, EVP_PKEY **out)
{
	const attr_t *v = attr_list_find(attrs, CKA_VALUE);
	const curve_t *c;
	BIGNUM *d = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	CK_BYTE pt[POINT_MAX];
	size_t plen = 0;
	CK_RV rv = curve_of_attrs(attrs, CKK_EC, &c);

	if (rv != CKR_OK)
		return rv;
	if (v == NULL)
		return CKR_TEMPLATE_INCOMPLETE;
	/* Some applications strip leading zero bytes: accept shorter. */
	if (v->len == 0 || v->len > c->order_len)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	d = BN_secure_new();
	if (d == NULL || BN_bin2bn(v->value, (int)v->len, d) == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	rv = ec_derive_public(c, d, pt, &plen);
	if (rv != CKR_OK)
		goto out;
	rv = CKR_HOST_MEMORY;
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, c->group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, plen) != 1)
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	if (params == NULL)
		goto out;
	*out = pkey_fromdata(c->keytype, EVP_PKEY_KEYPAIR, params);
	rv = *out != NULL ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
out:
	if (rv != CKR_OK)
		ERR_clear_error();
	OSSL_PARAM_free(params); /* secure memory for the scalar: cleared */
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(d);
	return rv;
}

static CK_RV ed_private(const attr_list_t *attrs, EVP_PKEY **out)
{
	const attr_t *v = attr_list_find(attrs, CKA_VALUE);
	const curve_t *c;
	CK_RV rv = curve_of_attrs(attrs, CKK_EC_EDWARDS, &c);

	if (rv != CKR_OK)
		return rv;
	if (v == NULL)
		return CKR_TEMPLATE_INCOMPLETE;
	if (v->len != c->order_len)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	*out = EVP_PKEY_new_raw_private_key_ex(NULL, c->keytype, NULL, v->value, v->len);
	return *out != NULL ? CKR_OK : crypto_ossl_fail(CKR_FUNCTION_FAILED);
}

/* An RSA integer attribute; NULL when absent. Private ones go to secure BNs. */
static CK_RV rsa_bn(const attr_list_t *attrs, CK_ATTRIBUTE_TYPE type, bool secret, BIGNUM **out)
{
	const attr_t *a = attr_list_find(attrs, type);

	*out = NULL;
	if (a == NULL)
		return CKR_OK;
	if (a->len == 0 || a->len > 2048)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	*out = secret ? BN_secure_new() : BN_new();
	if (*out == NULL || BN_bin2bn(a->value, (int)a->len, *out) == NULL)
		return CKR_HOST_MEMORY;
	return CKR_OK;
}

enum { RSA_N, RSA_E, RSA_D, RSA_P, RSA_Q, RSA_DP, RSA_DQ, RSA_QINV, RSA_NPARAMS };

/* Cheap sanity: sizes the token can use, e odd > 1, and p*q == n when the
 * CRT factors are given (a corrupt factor would otherwise only surface as
 * OpenSSL's fallback to the slow path). */
static CK_RV rsa_check(BIGNUM *bn[RSA_NPARAMS], bool private, bool crt)
{
	BN_CTX *bctx = NULL;
	BIGNUM *t = NULL;
	CK_RV rv = CKR_ATTRIBUTE_VALUE_INVALID;
	int bits = BN_num_bits(bn[RSA_N]);

	if (bits < 512 || bits > 16384 || !BN_is_odd(bn[RSA_N]))
		return rv;
	if (!BN_is_odd(bn[RSA_E]) || BN_cmp(bn[RSA_E], BN_value_one()) <= 0 ||
	    BN_cmp(bn[RSA_E], bn[RSA_N]) >= 0)
		return rv;
	if (private && (BN_is_zero(bn[RSA_D]) || BN_cmp(bn[RSA_D], bn[RSA_N]) >= 0))
		return rv;
	if (!crt)
		return CKR_OK;
	bctx = BN_CTX_secure_new();
	t = BN_secure_new();
	if (bctx == NULL || t == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if (BN_mul(t, bn[RSA_P], bn[RSA_Q], bctx) == 1 && BN_cmp(t, bn[RSA_N]) == 0)
		rv = CKR_OK;
out:
	BN_clear_free(t);
	BN_CTX_free(bctx);
	return rv;
}

static const struct {
	CK_ATTRIBUTE_TYPE type;
	const char *param;
	bool secret;
} rsa_attrs[RSA_NPARAMS] = {
	[RSA_N] = { CKA_MODULUS, OSSL_PKEY_PARAM_RSA_N, false },
	[RSA_E] = { CKA_PUBLIC_EXPONENT, OSSL_PKEY_PARAM_RSA_E, false },
	[RSA_D] = { CKA_PRIVATE_EXPONENT, OSSL_PKEY_PARAM_RSA_D, true },
	[RSA_P] = { CKA_PRIME_1, OSSL_PKEY_PARAM_RSA_FACTOR1, true },
	[RSA_Q] = { CKA_PRIME_2, OSSL_PKEY_PARAM_RSA_FACTOR2, true },
	[RSA_DP] = { CKA_EXPONENT_1, OSSL_PKEY_PARAM_RSA_EXPONENT1, true },
	[RSA_DQ] = { CKA_EXPONENT_2, OSSL_PKEY_PARAM_RSA_EXPONENT2, true },
	[RSA_QINV] = { CKA_COEFFICIENT, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, true },
};

static CK_RV rsa_key(const attr_list_t *attrs, bool private, EVP_PKEY **out)
{
	BIGNUM *bn[RSA_NPARAMS] = { NULL };
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	int last = private ? RSA_QINV : RSA_E;
	bool crt = private;
	CK_RV rv = CKR_OK;

	for (int i = 0; rv == CKR_OK && i <= last; i++)
		rv = rsa_bn(attrs, rsa_attrs[i].type, rsa_attrs[i].secret, &bn[i]);
	if (rv != CKR_OK)
		goto out;
	if (bn[RSA_N] == NULL || bn[RSA_E] == NULL || (private && bn[RSA_D] == NULL)) {
		rv = CKR_TEMPLATE_INCOMPLETE;
		goto out;
	}
	/* CRT only when complete; n, e, d alone are a usable (slower) key. */
	for (int i = RSA_P; private && i <= RSA_QINV; i++)
		crt = crt && bn[i] != NULL;
	rv = rsa_check(bn, private, crt);
	if (rv != CKR_OK)
		goto out;
	rv = CKR_HOST_MEMORY;
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL)
		goto out;
	for (int i = 0; i <= last; i++) {
		if (i >= RSA_P && !crt)
			break;
		if (OSSL_PARAM_BLD_push_BN(bld, rsa_attrs[i].param, bn[i]) != 1)
			goto out;
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	if (params == NULL)
		goto out;
	*out = pkey_fromdata(KEYTYPE_RSA, private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params);
	rv = *out != NULL ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
out:
	if (rv != CKR_OK)
		ERR_clear_error();
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	for (int i = 0; i < RSA_NPARAMS; i++)
		BN_clear_free(bn[i]);
	return rv;
}

CK_RV crypto_pkey_from_attrs(CK_OBJECT_CLASS klass, const attr_list_t *attrs, EVP_PKEY **out)
{
	CK_KEY_TYPE kt;
	bool private = klass == CKO_PRIVATE_KEY;
	CK_RV rv;

	if (attrs == NULL || out == NULL)
		return CKR_ARGUMENTS_BAD;
	*out = NULL;
	if (klass != CKO_PUBLIC_KEY && klass != CKO_PRIVATE_KEY)
		return CKR_KEY_TYPE_INCONSISTENT;
	if (!attr_list_get_ulong(attrs, CKA_KEY_TYPE, &kt))
		return CKR_TEMPLATE_INCOMPLETE;
	switch (kt) {
	case CKK_EC:
		rv = private ? ec_private(attrs, out) : ec_public(attrs, kt, out);
		break;
	case CKK_EC_EDWARDS:
		rv = private ? ed_private(attrs, out) : ec_public(attrs, kt, out);
		break;
	case CKK_RSA:
		return rsa_key(attrs, private, out);
	default:
		return CKR_KEY_TYPE_INCONSISTENT;
	}
	if (rv == CKR_OK)
		tmpl_attach(*out, private);
	return rv;
}

CK_RV crypto_complete_imported(CK_OBJECT_CLASS klass, attr_list_t *attrs)
{
	EVP_PKEY *pkey = NULL;
	attr_list_t tmp;
	const attr_t *given, *made;
	CK_RV rv;

	if (klass != CKO_PUBLIC_KEY && klass != CKO_PRIVATE_KEY)
		return CKR_OK;
	rv = crypto_pkey_from_attrs(klass, attrs, &pkey);
	if (rv != CKR_OK)
		return rv;
	attr_list_init(&tmp);
	rv = set_spki(&tmp, crypto_curve_of_pkey(pkey), pkey);
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
