/* sig.c - raw 64-byte signatures (docs/FORMAT.md 3.4) over OpenSSL EVP.
 * ECDSA's DER form never leaves this file: r||s is converted at the edge. */
#include "config.h"
#include "format/sig.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>

#include "format/format.h"

#define P256_GROUP "prime256v1"

/* The prefix byte is checked here: OpenSSL also accepts the hybrid forms
 * (06/07), which the format does not. */
static bool p256_prefix_ok(const uint8_t *pub, size_t len)
{
	if (len == OFP_P256_COMPRESSED_LEN)
		return pub[0] == 0x02 || pub[0] == 0x03;
	return len == OFP_P256_UNCOMPRESSED_LEN && pub[0] == 0x04;
}

/* The P-256 domain parameters, made once per process and never changed
 * after: a public key is a copy of them with its point set. Importing
 * with EVP_PKEY_fromdata builds the curve's group afresh for every key,
 * which is most of an import's cost in OpenSSL 3 (four times the copy's). */
static CRYPTO_ONCE p256_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_PKEY *p256_params;

static void p256_params_make(void)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);

	if (ctx == NULL || EVP_PKEY_paramgen_init(ctx) != 1 || EVP_PKEY_CTX_set_group_name(ctx, P256_GROUP) != 1 ||
	    EVP_PKEY_paramgen(ctx, &p256_params) != 1)
		p256_params = NULL;
	EVP_PKEY_CTX_free(ctx);
}

/* Setting the encoded point decodes it with EC_POINT_oct2point, which
 * refuses points off the curve and X >= p (as EVP_PKEY_fromdata does). */
static EVP_PKEY *p256_public_key(const uint8_t *pub, size_t len)
{
	EVP_PKEY *pkey;

	if (!p256_prefix_ok(pub, len) || CRYPTO_THREAD_run_once(&p256_once, p256_params_make) != 1 ||
	    p256_params == NULL)
		return NULL;
	pkey = EVP_PKEY_dup(p256_params);
	if (pkey != NULL && EVP_PKEY_set1_encoded_public_key(pkey, pub, len) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	return pkey;
}

/* ---- Ed25519 encodings that OpenSSL accepts and the format does not ----
 *
 * A point is encoded as y (255 bits, little-endian) and the sign of x in
 * bit 255 (RFC 8032 5.1.2). OpenSSL decodes y >= p by reducing it, and does
 * not refuse points of small order. With a small-order holder key, R = that
 * point (or the identity) and S = 0 "verify" for every message; so these
 * are refused wherever a key or a signature's R is accepted. */

/* p = 2^255 - 19, little-endian. */
static const uint8_t ed25519_p[32] = { 0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f };

/* L = 2^252 + 27742317777372353535851937790883648493, the group order,
 * little-endian: S must be below it (RFC 8032 5.1.7). */
static const uint8_t ed25519_l[32] = { 0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
				       0xa2, 0xde, 0xf9, 0xde, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
				       0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10 };

/* The y of each of the eight points of order 1, 2, 4 and 8, little-endian
 * (bit 255, the sign of x, is compared apart): the identity (0, 1), the
 * point of order 2 (0, -1), the two of order 4 (+-sqrt(-1), 0), and the four
 * of order 8, whose y is one of two values and its negation. The
 * non-canonical spellings (y + p for y < 19, and x = 0 with the sign bit
 * set) are caught by ed25519_y_canonical and by masking bit 255 here. */
static const uint8_t ed25519_small_order_y[5][32] = {
	/* order 1: y = 1 */
	{ 0x01 },
	/* order 2: y = p - 1 */
	{ 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	/* order 4: y = 0 */
	{ 0x00 },
	/* order 8: y = 0x7a03ac92...706a17c7 */
	{ 0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
	  0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a },
	/* order 8: y = p - 0x7a03ac92...706a17c7 */
	{ 0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
	  0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05 },
};

/* a < b for 256-bit little-endian numbers; mask_top clears a's bit 255. */
static bool le_less(const uint8_t a[32], const uint8_t b[32], bool mask_top)
{
	for (int i = 31; i >= 0; i--) {
		uint8_t x = i == 31 && mask_top ? (uint8_t)(a[i] & 0x7f) : a[i];
		if (x != b[i])
			return x < b[i];
	}
	return false;
}

static bool ed25519_y_canonical(const uint8_t enc[32])
{
	return le_less(enc, ed25519_p, true);
}

static bool ed25519_small_order(const uint8_t enc[32])
{
	for (size_t i = 0; i < OFP_ARRAY_LEN(ed25519_small_order_y); i++) {
		const uint8_t *y = ed25519_small_order_y[i];
		if (memcmp(enc, y, 31) == 0 && (enc[31] & 0x7f) == y[31])
			return true;
	}
	return false;
}

bool ofp_ed25519_point_ok(const uint8_t enc[OFP_ED25519_KEY_LEN])
{
	return enc != NULL && ed25519_y_canonical(enc) && !ed25519_small_order(enc);
}

/* R a canonical point of large order, S < L. */
static bool ed25519_signature_ok(const uint8_t sig[OFP_SIG_LEN])
{
	return ofp_ed25519_point_ok(sig) && le_less(sig + 32, ed25519_l, false);
}

EVP_PKEY *ofp_sig_public_key(unsigned alg, const uint8_t *pub, size_t pub_len)
{
	if (pub == NULL)
		return NULL;
	if (alg == OFP_ALG_P256)
		return p256_public_key(pub, pub_len);
	if (alg == OFP_ALG_ED25519 && pub_len == OFP_ED25519_KEY_LEN && ofp_ed25519_point_ok(pub))
		return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, pub_len);
	return NULL;
}

/* A key of the kind alg names: P-256 for ECDSA, Ed25519 for EdDSA. */
static bool key_matches_alg(EVP_PKEY *key, unsigned alg)
{
	char group[32];
	size_t group_len = 0;

	if (key == NULL)
		return false;
	if (alg == OFP_ALG_ED25519)
		return EVP_PKEY_is_a(key, "ED25519");
	if (alg != OFP_ALG_P256 || !EVP_PKEY_is_a(key, "EC"))
		return false;
	return EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &group_len) ==
		       1 &&
	       strcmp(group, P256_GROUP) == 0;
}

/* r||s -> DER. r and s must be in 1..n-1 (FORMAT.md 3.4); OpenSSL would
 * refuse them too, but the rule is ours to state. */
static int raw_to_der(const uint8_t sig[OFP_SIG_LEN], uint8_t **der)
{
	static const uint8_t order[32] = { 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
					   0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
					   0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51 };
	static const uint8_t zero[32];
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	int n = -1;

	for (int half = 0; half < 2; half++)
		if (memcmp(sig + 32 * half, zero, 32) == 0 || memcmp(sig + 32 * half, order, 32) >= 0)
			return -1;
	es = ECDSA_SIG_new();
	r = BN_bin2bn(sig, 32, NULL);
	s = BN_bin2bn(sig + 32, 32, NULL);
	if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		goto out;
	}
	n = i2d_ECDSA_SIG(es, der);
out:
	ECDSA_SIG_free(es);
	return n;
}

bool ofp_sig_verify(EVP_PKEY *key, unsigned alg, const uint8_t *msg, size_t msg_len, const uint8_t sig[64])
{
	EVP_MD_CTX *ctx = NULL;
	uint8_t *der = NULL;
	int der_len;
	bool ok = false;

	if (msg == NULL || sig == NULL || !key_matches_alg(key, alg))
		return false;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, alg == OFP_ALG_P256 ? EVP_sha256() : NULL, NULL, key) != 1)
		goto out;
	if (alg == OFP_ALG_ED25519) {
		ok = ed25519_signature_ok(sig) && EVP_DigestVerify(ctx, sig, OFP_SIG_LEN, msg, msg_len) == 1;
		goto out;
	}
	der_len = raw_to_der(sig, &der);
	ok = der_len > 0 && EVP_DigestVerify(ctx, der, (size_t)der_len, msg, msg_len) == 1;
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	return ok;
}

static bool der_to_raw(const uint8_t *der, size_t der_len, uint8_t sig[OFP_SIG_LEN])
{
	const uint8_t *p = der;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	bool ok;

	ok = es != NULL && BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) == 32 &&
	     BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) == 32;
	ECDSA_SIG_free(es);
	return ok;
}

bool ofp_sig_sign(EVP_PKEY *key, unsigned alg, const uint8_t *msg, size_t msg_len, uint8_t sig[64])
{
	EVP_MD_CTX *ctx = NULL;
	uint8_t der[80];
	size_t der_len = sizeof(der), n = OFP_SIG_LEN;
	bool ok = false;

	if (msg == NULL || sig == NULL || !key_matches_alg(key, alg))
		return false;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, alg == OFP_ALG_P256 ? EVP_sha256() : NULL, NULL, key) != 1)
		goto out;
	if (alg == OFP_ALG_ED25519)
		ok = EVP_DigestSign(ctx, sig, &n, msg, msg_len) == 1 && n == OFP_SIG_LEN;
	else
		ok = EVP_DigestSign(ctx, der, &der_len, msg, msg_len) == 1 && der_to_raw(der, der_len, sig);
out:
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* X and Y rather than the encoded point: the encoding follows the key's
 * conversion form, which may be compressed. */
static bool p256_public_raw(EVP_PKEY *key, uint8_t out[OFP_P256_UNCOMPRESSED_LEN])
{
	BIGNUM *x = NULL, *y = NULL;
	bool ok;

	ok = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
	     EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1 && BN_bn2binpad(x, out + 1, 32) == 32 &&
	     BN_bn2binpad(y, out + 33, 32) == 32;
	out[0] = 0x04;
	BN_free(x);
	BN_free(y);
	return ok;
}

bool ofp_sig_public_raw(EVP_PKEY *key, unsigned alg, uint8_t out[OFP_TRUST_KEY_MAX], size_t *out_len)
{
	size_t len = OFP_ED25519_KEY_LEN;

	*out_len = 0;
	if (!key_matches_alg(key, alg))
		return false;
	if (alg == OFP_ALG_P256) {
		if (!p256_public_raw(key, out))
			return false;
		len = OFP_P256_UNCOMPRESSED_LEN;
	} else if (EVP_PKEY_get_raw_public_key(key, out, &len) != 1 || len != OFP_ED25519_KEY_LEN) {
		return false;
	}
	*out_len = len;
	return true;
}
