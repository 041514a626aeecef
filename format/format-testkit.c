/* format-testkit.c - see format-testkit.h. Test code: keys are public. */
#include "config.h"
#include "format/format-testkit.h"
#include "format/sig.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>

static EVP_PKEY *p256_from_params(const uint8_t *priv, const uint8_t *pub, size_t pub_len)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *pkey = NULL;
	BIGNUM *d = priv == NULL ? NULL : BN_bin2bn(priv, 32, NULL);

	if (bld == NULL || ctx == NULL || (priv != NULL && d == NULL))
		goto out;
	if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, pub_len) ||
	    (d != NULL && !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d)))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	if (params == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, d != NULL ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_clear_free(d);
	return pkey;
}

/* Q = d*G, uncompressed. */
static bool p256_public(const uint8_t priv[32], uint8_t pub[OFP_P256_UNCOMPRESSED_LEN])
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	EC_POINT *q = g == NULL ? NULL : EC_POINT_new(g);
	BIGNUM *d = BN_bin2bn(priv, 32, NULL);
	bool ok = false;

	if (q == NULL || d == NULL || BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(g)) >= 0)
		goto out;
	ok = EC_POINT_mul(g, q, d, NULL, NULL, NULL) == 1 &&
	     EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, pub, OFP_P256_UNCOMPRESSED_LEN, NULL) ==
		     OFP_P256_UNCOMPRESSED_LEN;
out:
	BN_clear_free(d);
	EC_POINT_free(q);
	EC_GROUP_free(g);
	return ok;
}

bool ofp_tk_key_from_private(ofp_tk_key_t *k, const char *name, unsigned alg, const uint8_t priv[32])
{
	size_t len = OFP_ED25519_KEY_LEN;

	memset(k, 0, sizeof(*k));
	snprintf(k->name, sizeof(k->name), "%s", name);
	k->alg = alg;
	memcpy(k->priv, priv, 32);
	if (alg == OFP_ALG_P256) {
		k->pub_len = OFP_P256_UNCOMPRESSED_LEN;
		if (!p256_public(priv, k->pub) || ofp_p256_compress(k->pub, k->holder_pub, NULL) != OFP_FMT_OK)
			return false;
		k->pkey = p256_from_params(priv, k->pub, k->pub_len);
	} else if (alg == OFP_ALG_ED25519) {
		k->pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, 32);
		if (k->pkey == NULL || EVP_PKEY_get_raw_public_key(k->pkey, k->pub, &len) != 1 ||
		    len != OFP_ED25519_KEY_LEN)
			return false;
		k->pub_len = len;
		memcpy(k->holder_pub, k->pub, len);
	}
	return k->pkey != NULL && ofp_key_id(alg, k->pub, k->pub_len, k->kid, NULL) == OFP_FMT_OK;
}

bool ofp_tk_key_derive(ofp_tk_key_t *k, const char *name, unsigned alg)
{
	char label[64];
	uint8_t priv[32];

	snprintf(label, sizeof(label), "offpass test key %s", name);
	return ofp_sha256(label, strlen(label), priv) && ofp_tk_key_from_private(k, name, alg, priv);
}

void ofp_tk_key_free(ofp_tk_key_t *k)
{
	EVP_PKEY_free(k->pkey);
	k->pkey = NULL;
}

bool ofp_tk_sign(const ofp_tk_key_t *k, const uint8_t *msg, size_t len, uint8_t sig[OFP_SIG_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t der[80];
	const uint8_t *p = der;
	size_t der_len = sizeof(der);
	ECDSA_SIG *es = NULL;
	bool ok = false;

	if (ctx == NULL ||
	    EVP_DigestSignInit(ctx, NULL, k->alg == OFP_ALG_P256 ? EVP_sha256() : NULL, NULL, k->pkey) != 1)
		goto out;
	if (k->alg == OFP_ALG_ED25519) {
		size_t n = OFP_SIG_LEN;

		ok = EVP_DigestSign(ctx, sig, &n, msg, len) == 1 && n == OFP_SIG_LEN;
		goto out;
	}
	if (EVP_DigestSign(ctx, der, &der_len, msg, len) != 1)
		goto out;
	es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	ok = es != NULL && BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) == 32 &&
	     BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) == 32;
out:
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* r||s -> DER, for EVP_DigestVerify. */
static int raw_to_der(const uint8_t sig[OFP_SIG_LEN], uint8_t **der)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
	int n = -1;

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

bool ofp_tk_verify(unsigned alg, const uint8_t *pub, size_t pub_len, const uint8_t *msg, size_t len,
		   const uint8_t sig[OFP_SIG_LEN])
{
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t *der = NULL;
	int der_len;
	bool ok = false;

	if (alg == OFP_ALG_P256)
		pkey = p256_from_params(NULL, pub, pub_len);
	else if (alg == OFP_ALG_ED25519 && pub_len == OFP_ED25519_KEY_LEN && ofp_ed25519_point_ok(pub) &&
		 ofp_ed25519_point_ok(sig))
		pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, pub_len);
	if (ctx == NULL || pkey == NULL ||
	    EVP_DigestVerifyInit(ctx, NULL, alg == OFP_ALG_P256 ? EVP_sha256() : NULL, NULL, pkey) != 1)
		goto out;
	if (alg == OFP_ALG_ED25519) {
		ok = EVP_DigestVerify(ctx, sig, OFP_SIG_LEN, msg, len) == 1;
		goto out;
	}
	der_len = raw_to_der(sig, &der);
	ok = der_len > 0 && EVP_DigestVerify(ctx, der, (size_t)der_len, msg, len) == 1;
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return ok;
}

/* The signature over tbs by k, or OFP_FMT_EINTERNAL. */
static ofp_fmt_rc_t sign_tbs(const ofp_tk_key_t *k, const char *what, const uint8_t *tbs, size_t len,
			     uint8_t sig[OFP_SIG_LEN], ofp_fmt_error_t *err)
{
	if (ofp_tk_sign(k, tbs, len, sig))
		return OFP_FMT_OK;
	if (err != NULL) {
		err->code = OFP_FMT_EINTERNAL;
		snprintf(err->reason, sizeof(err->reason), "%s: signing with key '%s' failed (OpenSSL)", what,
			 k->name);
	}
	return OFP_FMT_EINTERNAL;
}

ofp_fmt_rc_t ofp_tk_sign_credential(ofp_credential_t *c, const ofp_tk_key_t *issuer, ofp_fmt_error_t *err)
{
	uint8_t tbs[OFP_TBS_MAX];
	size_t len;
	ofp_fmt_rc_t rc;

	memcpy(c->issuer_kid, issuer->kid, OFP_KEY_ID_LEN);
	rc = ofp_credential_tbs(c, tbs, sizeof(tbs), &len, err);
	return rc != OFP_FMT_OK ? rc : sign_tbs(issuer, "credential", tbs, len, c->issuer_sig, err);
}

ofp_fmt_rc_t ofp_tk_sign_authorization(ofp_presentation_t *p, const ofp_tk_key_t *holder, ofp_fmt_error_t *err)
{
	uint8_t tbs[OFP_TBS_MAX];
	size_t len;
	ofp_fmt_rc_t rc = ofp_authorization_tbs(&p->cred, &p->auth, tbs, sizeof(tbs), &len, err);

	return rc != OFP_FMT_OK ? rc : sign_tbs(holder, "authorization", tbs, len, p->auth.holder_sig, err);
}

ofp_fmt_rc_t ofp_tk_sign_trust_list(ofp_trust_list_t *t, const ofp_tk_key_t *issuer, ofp_fmt_error_t *err)
{
	uint8_t tbs[OFP_TRUST_LIST_MAX + 32]; /* a domain prefix and the list less its signature */
	size_t len;
	ofp_fmt_rc_t rc;

	memcpy(t->signer_kid, issuer->kid, OFP_KEY_ID_LEN);
	ofp_trust_list_sort(t);
	rc = ofp_trust_list_tbs(t, tbs, sizeof(tbs), &len, err);
	return rc != OFP_FMT_OK ? rc : sign_tbs(issuer, "trust_list", tbs, len, t->issuer_sig, err);
}

ofp_fmt_rc_t ofp_tk_sign_deny_list(ofp_deny_list_t *d, const ofp_tk_key_t *issuer, ofp_fmt_error_t *err)
{
	uint8_t *tbs = NULL;
	size_t len = 0;
	ofp_fmt_rc_t rc;

	memcpy(d->signer_kid, issuer->kid, OFP_KEY_ID_LEN);
	/* Measured first: a full list is megabytes, too much for the stack. */
	if ((rc = ofp_deny_list_tbs(d, NULL, 0, &len, err)) != OFP_FMT_OK)
		return rc;
	if ((tbs = malloc(len)) == NULL) {
		if (err != NULL) {
			err->code = OFP_FMT_EINTERNAL;
			snprintf(err->reason, sizeof(err->reason), "deny_list: out of memory");
		}
		return OFP_FMT_EINTERNAL;
	}
	rc = ofp_deny_list_tbs(d, tbs, len, &len, err);
	if (rc == OFP_FMT_OK)
		rc = sign_tbs(issuer, "deny_list", tbs, len, d->issuer_sig, err);
	free(tbs);
	return rc;
}

bool ofp_tk_credential_verifies(const ofp_credential_t *c, unsigned alg, const uint8_t *pub, size_t pub_len)
{
	uint8_t tbs[OFP_TBS_MAX];
	size_t len;

	return ofp_credential_tbs(c, tbs, sizeof(tbs), &len, NULL) == OFP_FMT_OK &&
	       ofp_tk_verify(alg, pub, pub_len, tbs, len, c->issuer_sig);
}

bool ofp_tk_authorization_verifies(const ofp_presentation_t *p)
{
	uint8_t tbs[OFP_TBS_MAX];
	size_t len;

	return ofp_authorization_tbs(&p->cred, &p->auth, tbs, sizeof(tbs), &len, NULL) == OFP_FMT_OK &&
	       ofp_tk_verify(p->cred.holder_alg, p->cred.holder_key, ofp_holder_key_len(p->cred.holder_alg), tbs, len,
			     p->auth.holder_sig);
}

bool ofp_tk_enrollment_verifies(const ofp_enrollment_t *e)
{
	uint8_t tbs[OFP_TBS_MAX];
	size_t len;

	return ofp_enrollment_tbs(e, tbs, sizeof(tbs), &len, NULL) == OFP_FMT_OK &&
	       ofp_tk_verify(e->holder_alg, e->holder_key, ofp_holder_key_len(e->holder_alg), tbs, len,
			     e->holder_sig);
}

const uint8_t ofp_tk_enroll_code[OFP_ENROLL_CODE_LEN] = { 1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
							   11, 12, 13, 14, 15, 16, 17, 18, 19, 20 };

bool ofp_tk_enroll_code_mac(ofp_enrollment_t *e)
{
	uint8_t key[OFP_HASH_LEN];

	return ofp_enroll_code_key(ofp_tk_enroll_code, e->holder_id, key, NULL) == OFP_FMT_OK &&
	       ofp_enrollment_mac(e, key, e->code_mac, NULL) == OFP_FMT_OK;
}

bool ofp_tk_enroll_code_verifies(const ofp_enrollment_t *e)
{
	uint8_t key[OFP_HASH_LEN], mac[OFP_HASH_LEN];

	return ofp_enroll_code_key(ofp_tk_enroll_code, e->holder_id, key, NULL) == OFP_FMT_OK &&
	       ofp_enrollment_mac(e, key, mac, NULL) == OFP_FMT_OK && memcmp(mac, e->code_mac, OFP_HASH_LEN) == 0;
}

void ofp_tk_trust_entry(ofp_trust_entry_t *e, const ofp_tk_key_t *k, unsigned usage, uint32_t not_before,
			uint32_t not_after)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->kid, k->kid, OFP_KEY_ID_LEN);
	e->alg = (uint8_t)k->alg;
	e->usage = (uint8_t)usage;
	e->not_before = not_before;
	e->not_after = not_after;
	memcpy(e->key, k->pub, k->pub_len);
}

int ofp_tk_ecdh(void *ctx, const uint8_t eph_pub[OFP_P256_UNCOMPRESSED_LEN], uint8_t shared[32])
{
	const ofp_tk_key_t *k = ctx;
	EVP_PKEY *peer = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	size_t n = 32;
	int rv = -1;

	if (k->alg != OFP_ALG_P256 || eph_pub[0] != 0x04)
		return -1;
	peer = p256_from_params(NULL, eph_pub, OFP_P256_UNCOMPRESSED_LEN);
	pctx = EVP_PKEY_CTX_new(k->pkey, NULL);
	if (peer != NULL && pctx != NULL && EVP_PKEY_derive_init(pctx) == 1 &&
	    EVP_PKEY_derive_set_peer(pctx, peer) == 1 && EVP_PKEY_derive(pctx, shared, &n) == 1 && n == 32)
		rv = 0;
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_free(peer);
	return rv;
}

static bool hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
			const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf == NULL ? NULL : EVP_KDF_CTX_new(kdf);
	OSSL_PARAM params[5];
	bool ok;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
	params[4] = OSSL_PARAM_construct_end();
	ok = ctx != NULL && EVP_KDF_derive(ctx, out, out_len, params) == 1;
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return ok;
}

bool ofp_tk_seal_key(const ofp_tk_key_t *priv, const uint8_t *peer_pub, size_t peer_len,
		     const uint8_t eph_pub[OFP_P256_COMPRESSED_LEN],
		     const uint8_t recipient_pub[OFP_P256_UNCOMPRESSED_LEN], uint8_t key[32])
{
	EVP_PKEY *peer = p256_from_params(NULL, peer_pub, peer_len);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(priv->pkey, NULL);
	uint8_t z[32], info[OFP_P256_COMPRESSED_LEN + OFP_P256_UNCOMPRESSED_LEN];
	size_t z_len = sizeof(z);
	bool ok = false;

	if (peer == NULL || ctx == NULL || EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer(ctx, peer) != 1 ||
	    EVP_PKEY_derive(ctx, z, &z_len) != 1 || z_len != sizeof(z))
		goto out;
	memcpy(info, eph_pub, OFP_P256_COMPRESSED_LEN);
	memcpy(info + OFP_P256_COMPRESSED_LEN, recipient_pub, OFP_P256_UNCOMPRESSED_LEN);
	ok = hkdf_sha256(z, sizeof(z), (const uint8_t *)OFP_SEAL_HKDF_SALT, strlen(OFP_SEAL_HKDF_SALT), info,
			 sizeof(info), key, 32);
out:
	OPENSSL_cleanse(z, sizeof(z));
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	return ok;
}

bool ofp_tk_gcm(bool encrypt, const uint8_t key[32], const uint8_t nonce[OFP_GCM_NONCE_LEN], const uint8_t *aad,
		size_t aad_len, const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[OFP_GCM_TAG_LEN])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0;
	bool ok = false;

	if (ctx == NULL || EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce, encrypt ? 1 : 0) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1 ||
	    EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
		goto out;
	if (!encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, OFP_GCM_TAG_LEN, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + n, &fin) != 1)
		goto out;
	ok = !encrypt || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, OFP_GCM_TAG_LEN, tag) == 1;
out:
	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

static int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

bool ofp_tk_hex_parse(const char *hex, uint8_t *out, size_t cap, size_t *len)
{
	int hi = -1;

	*len = 0;
	for (; *hex != '\0'; hex++) {
		int v;

		if (isspace((unsigned char)*hex))
			continue;
		v = hex_digit((unsigned char)*hex);
		if (v < 0)
			return false;
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (*len >= cap)
			return false;
		out[(*len)++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	return hi < 0;
}

bool ofp_tk_hex_read(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	long size;
	bool ok = false;

	*out = NULL;
	*len = 0;
	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		goto out;
	text = malloc((size_t)size + 1);
	*out = malloc((size_t)size / 2 + 1);
	if (text == NULL || *out == NULL || fread(text, 1, (size_t)size, f) != (size_t)size)
		goto out;
	text[size] = '\0';
	ok = ofp_tk_hex_parse(text, *out, (size_t)size / 2 + 1, len);
out:
	if (!ok) {
		free(*out);
		*out = NULL;
	}
	free(text);
	if (f != NULL)
		fclose(f);
	return ok;
}

bool ofp_tk_hex_write(const char *path, const uint8_t *data, size_t len)
{
	FILE *f = fopen(path, "w");
	bool ok;

	if (f == NULL)
		return false;
	for (size_t i = 0; i < len; i++)
		fprintf(f, "%02x%s", data[i], (i % 32 == 31 || i + 1 == len) ? "\n" : "");
	ok = ferror(f) == 0;
	return fclose(f) == 0 && ok;
}
