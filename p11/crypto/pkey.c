/* pkey.c - attributes -> EVP_PKEY: an object's key material made into a
 * key OpenSSL can use, checked on the way (point on the curve, RSA sizes
 * and factors), with a ready operation context attached to EC and Ed25519
 * keys (the operation templates below). */
#include "config.h"
#include "p11/crypto/internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include "secmem.h"

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

EVP_PKEY *crypto_pkey_fromdata(const char *keytype, int selection, OSSL_PARAM *params)
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

	if (c->key_type != CKK_EC) { /* Ed25519, X25519 */
		pkey = EVP_PKEY_new_raw_public_key_ex(NULL, c->keytype, NULL, pt, len);
	} else {
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
							     (char *)c->group, 0);
		params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pt, len);
		params[2] = OSSL_PARAM_construct_end();
		pkey = crypto_pkey_fromdata(c->keytype, EVP_PKEY_PUBLIC_KEY, params);
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
	if (*plen == crypto_point_len(c))
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
	*out = crypto_pkey_fromdata(c->keytype, EVP_PKEY_KEYPAIR, params);
	rv = *out != NULL ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
out:
	if (rv != CKR_OK)
		ERR_clear_error();
	OSSL_PARAM_free(params); /* secure memory for the scalar: cleared */
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(d);
	return rv;
}

/* Ed25519 and X25519: the 32 raw private bytes (RFC 8032 seed, RFC 7748 scalar). */
static CK_RV raw_private(const attr_list_t *attrs, CK_KEY_TYPE kt, EVP_PKEY **out)
{
	const attr_t *v = attr_list_find(attrs, CKA_VALUE);
	const curve_t *c;
	CK_RV rv = curve_of_attrs(attrs, kt, &c);

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
	*out = crypto_pkey_fromdata(KEYTYPE_RSA, private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params);
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
	if (klass == CKO_SECRET_KEY)
		return crypto_secret_pkey(attrs, out);
	if (klass != CKO_PUBLIC_KEY && klass != CKO_PRIVATE_KEY)
		return CKR_KEY_TYPE_INCONSISTENT;
	if (!attr_list_get_ulong(attrs, CKA_KEY_TYPE, &kt))
		return CKR_TEMPLATE_INCOMPLETE;
	switch (kt) {
	case CKK_EC:
		rv = private ? ec_private(attrs, out) : ec_public(attrs, kt, out);
		break;
	case CKK_EC_EDWARDS:
	case CKK_EC_MONTGOMERY:
		rv = private ? raw_private(attrs, kt, out) : ec_public(attrs, kt, out);
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

