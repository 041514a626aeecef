/* seal.c - ECDH P-256 + HKDF-SHA256 + AES-256-GCM, then the verifier's
 * signature: docs/FORMAT.md 10.2, nothing more. OpenSSL does every
 * primitive; this file only wires them in the order the format fixes. */
#include "config.h"
#include "format/seal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "secmem.h"
#include "format/sig.h"

#define SEAL_KEY_LEN 32

/* Z and K: the only secrets here, in wiped memory. */
typedef struct seal_secrets {
	uint8_t z[32];
	uint8_t k[SEAL_KEY_LEN];
} seal_secrets_t;

static int seal_fail(ofp_fmt_error_t *err, ofp_fmt_rc_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int seal_fail(ofp_fmt_error_t *err, ofp_fmt_rc_t code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
	va_end(ap);
	return -1;
}

static void seal_ok(ofp_fmt_error_t *err)
{
	if (err != NULL) {
		err->code = OFP_FMT_OK;
		err->reason[0] = '\0';
	}
}

/* K = HKDF-SHA256(IKM = Z, salt = "offpass-seal-v1",
 *                 info = E compressed || S uncompressed). */
static bool seal_kdf(seal_secrets_t *sec, const uint8_t eph[OFP_P256_COMPRESSED_LEN],
		     const uint8_t sealing_pub[OFP_P256_UNCOMPRESSED_LEN])
{
	uint8_t info[OFP_P256_COMPRESSED_LEN + OFP_P256_UNCOMPRESSED_LEN];
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf == NULL ? NULL : EVP_KDF_CTX_new(kdf);
	OSSL_PARAM params[5];
	bool ok;

	memcpy(info, eph, OFP_P256_COMPRESSED_LEN);
	memcpy(info + OFP_P256_COMPRESSED_LEN, sealing_pub, OFP_P256_UNCOMPRESSED_LEN);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, sec->z, sizeof(sec->z));
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (char *)OFP_SEAL_HKDF_SALT,
						      strlen(OFP_SEAL_HKDF_SALT));
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof(info));
	params[4] = OSSL_PARAM_construct_end();
	ok = ctx != NULL && EVP_KDF_derive(ctx, sec->k, sizeof(sec->k), params) == 1;
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return ok;
}

/* AES-256-GCM over the whole batch; on decryption the tag is checked.
 * EVP takes int lengths: a batch is at most OFP_BATCH_MAX (32 MB). */
static bool seal_gcm(bool encrypt, const seal_secrets_t *sec, const uint8_t nonce[OFP_GCM_NONCE_LEN],
		     const uint8_t aad[OFP_SEALED_BATCH_AAD_LEN], const uint8_t *in, size_t len, uint8_t *out,
		     uint8_t tag[OFP_GCM_TAG_LEN])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0;
	bool ok = false;

	if (ctx == NULL || len > OFP_BATCH_MAX ||
	    EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, sec->k, nonce, encrypt ? 1 : 0) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, aad, OFP_SEALED_BATCH_AAD_LEN) != 1 ||
	    EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
		goto out;
	if (!encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, OFP_GCM_TAG_LEN, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + n, &fin) != 1)
		goto out;
	ok = encrypt ? EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, OFP_GCM_TAG_LEN, tag) == 1 : true;
out:
	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

/* Key id of an EVP_PKEY's public half. */
static bool pkey_kid(EVP_PKEY *key, unsigned alg, uint8_t kid[OFP_KEY_ID_LEN])
{
	uint8_t pub[OFP_TRUST_KEY_MAX];
	size_t len;

	return ofp_sig_public_raw(key, alg, pub, &len) && ofp_key_id(alg, pub, len, kid, NULL) == OFP_FMT_OK;
}

/* The sealing key: a valid P-256 point whose key id the envelope names. */
static int check_sealing_key(const uint8_t sealing_pub[OFP_P256_UNCOMPRESSED_LEN],
			     const uint8_t kid[OFP_KEY_ID_LEN], EVP_PKEY **key, ofp_fmt_error_t *err)
{
	uint8_t want[OFP_KEY_ID_LEN];

	*key = ofp_sig_public_key(OFP_ALG_P256, sealing_pub, OFP_P256_UNCOMPRESSED_LEN);
	if (*key == NULL)
		return seal_fail(err, OFP_FMT_EVALUE, "sealing key: not an uncompressed P-256 point on the curve");
	if (ofp_key_id(OFP_ALG_P256, sealing_pub, OFP_P256_UNCOMPRESSED_LEN, want, err) != OFP_FMT_OK)
		return -1;
	if (memcmp(want, kid, OFP_KEY_ID_LEN) != 0)
		return seal_fail(err, OFP_FMT_EMISMATCH,
				 "sealed_batch.sealing_key_id: %02x%02x%02x%02x is not the sealing key's id "
				 "%02x%02x%02x%02x",
				 kid[0], kid[1], kid[2], kid[3], want[0], want[1], want[2], want[3]);
	return 0;
}

/* A fresh ephemeral key pair; E compressed for the envelope. */
static EVP_PKEY *ephemeral_key(uint8_t eph[OFP_P256_COMPRESSED_LEN])
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	uint8_t pub[OFP_P256_UNCOMPRESSED_LEN];
	size_t len;

	if (key == NULL || !ofp_sig_public_raw(key, OFP_ALG_P256, pub, &len) ||
	    ofp_p256_compress(pub, eph, NULL) != OFP_FMT_OK) {
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

static bool ecdh_derive(EVP_PKEY *priv, EVP_PKEY *peer, uint8_t z[32])
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
	size_t len = 32;
	bool ok;

	ok = ctx != NULL && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
	     EVP_PKEY_derive(ctx, z, &len) == 1 && len == 32;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

/* The batch must be one the issuer will accept (ofp_batch_check): a
 * sender that seals what the receiver refuses loses the records. */
static int check_plain_batch(const ofp_sealed_batch_t *env, const uint8_t *batch, size_t len, ofp_fmt_error_t *err)
{
	ofp_batch_t b;

	if (ofp_batch_decode(batch, len, &b, err) != OFP_FMT_OK ||
	    ofp_batch_check(env, &b, NULL, NULL, err) != OFP_FMT_OK)
		return -1;
	return 0;
}

/* Sign "offpass-batch-v1" || envelope-before-signature, then encode. */
static int sign_and_encode(ofp_sealed_batch_t *s, EVP_PKEY *key, unsigned alg, uint8_t **out, size_t *out_len,
			   ofp_fmt_error_t *err)
{
	size_t cap = (size_t)s->ciphertext_len + OFP_SEALED_BATCH_OVERHEAD + 32, n;
	uint8_t *tbs = malloc(cap), *enc = NULL;
	int rv = -1;

	if (tbs == NULL) {
		seal_fail(err, OFP_FMT_EINTERNAL, "sealed_batch: out of memory");
		goto out;
	}
	if (ofp_sealed_batch_tbs(s, tbs, cap, &n, err) != OFP_FMT_OK)
		goto out;
	if (!ofp_sig_sign(key, alg, tbs, n, s->verifier_sig)) {
		seal_fail(err, OFP_FMT_EINTERNAL, "sealed_batch.verifier_signature: signing failed");
		goto out;
	}
	enc = malloc(cap);
	if (enc == NULL) {
		seal_fail(err, OFP_FMT_EINTERNAL, "sealed_batch: out of memory");
		goto out;
	}
	if (ofp_sealed_batch_encode(s, enc, cap, &n, err) != OFP_FMT_OK)
		goto out;
	*out = enc;
	*out_len = n;
	enc = NULL;
	rv = 0;
out:
	free(enc);
	free(tbs);
	return rv;
}

/* What the envelope claims, against the keys and the batch it goes with. */
static int check_seal_inputs(const ofp_sealed_batch_t *env, const uint8_t *batch, size_t batch_len,
			     const uint8_t sealing_pub[OFP_P256_UNCOMPRESSED_LEN], EVP_PKEY *verifier_key,
			     unsigned verifier_alg, EVP_PKEY **recipient, ofp_fmt_error_t *err)
{
	uint8_t kid[OFP_KEY_ID_LEN];

	if (batch == NULL || batch_len > OFP_BATCH_MAX)
		return seal_fail(err, OFP_FMT_ELIMIT, "batch: missing or over %u bytes", (unsigned)OFP_BATCH_MAX);
	if (!pkey_kid(verifier_key, verifier_alg, kid) || memcmp(kid, env->verifier_kid, OFP_KEY_ID_LEN) != 0)
		return seal_fail(err, OFP_FMT_EMISMATCH, "sealed_batch.verifier_key_id: not the id of the signing key");
	if (check_sealing_key(sealing_pub, env->sealing_kid, recipient, err) != 0)
		return -1;
	return check_plain_batch(env, batch, batch_len, err);
}

/* Steps 1-5 of FORMAT.md 10.2: ephemeral key, Z, K, nonce, AES-GCM. */
static int encrypt_batch(ofp_sealed_batch_t *s, const uint8_t *batch, size_t batch_len,
			 const uint8_t sealing_pub[OFP_P256_UNCOMPRESSED_LEN], EVP_PKEY *recipient, uint8_t *ct,
			 ofp_fmt_error_t *err)
{
	seal_secrets_t *sec = secmem_alloc(sizeof(*sec));
	EVP_PKEY *eph = ephemeral_key(s->ephemeral_key);
	uint8_t aad[OFP_SEALED_BATCH_AAD_LEN];
	int rv = -1;

	if (sec == NULL || eph == NULL || !ecdh_derive(eph, recipient, sec->z) ||
	    !seal_kdf(sec, s->ephemeral_key, sealing_pub) || RAND_bytes(s->nonce, OFP_GCM_NONCE_LEN) != 1) {
		seal_fail(err, OFP_FMT_EINTERNAL, "seal: key agreement failed (OpenSSL)");
		goto out;
	}
	s->ciphertext_len = (uint32_t)batch_len;
	s->ciphertext = ct;
	if (ofp_sealed_batch_aad(s, aad, err) != OFP_FMT_OK)
		goto out;
	if (!seal_gcm(true, sec, s->nonce, aad, batch, batch_len, ct, s->tag)) {
		seal_fail(err, OFP_FMT_EINTERNAL, "seal: AES-256-GCM failed (OpenSSL)");
		goto out;
	}
	rv = 0;
out:
	EVP_PKEY_free(eph);
	secmem_free(sec, sizeof(*sec));
	return rv;
}

int ofp_seal(const ofp_sealed_batch_t *env, const uint8_t *batch, size_t batch_len,
	     const uint8_t sealing_pub[OFP_P256_UNCOMPRESSED_LEN], EVP_PKEY *verifier_key, unsigned verifier_alg,
	     uint8_t **out, size_t *out_len, ofp_fmt_error_t *err)
{
	ofp_sealed_batch_t s = *env;
	EVP_PKEY *recipient = NULL;
	uint8_t *ct = NULL;
	int rv = -1;

	*out = NULL;
	*out_len = 0;
	if (check_seal_inputs(&s, batch, batch_len, sealing_pub, verifier_key, verifier_alg, &recipient, err) != 0)
		goto out;
	ct = malloc(batch_len + 1);
	if (ct == NULL) {
		seal_fail(err, OFP_FMT_EINTERNAL, "seal: out of memory");
		goto out;
	}
	if (encrypt_batch(&s, batch, batch_len, sealing_pub, recipient, ct, err) != 0)
		goto out;
	rv = sign_and_encode(&s, verifier_key, verifier_alg, out, out_len, err);
	if (rv == 0)
		seal_ok(err);
out:
	free(ct);
	EVP_PKEY_free(recipient);
	return rv;
}

/* 02/03||X -> 04||X||Y for the ECDH callback (PKCS#11 takes the
 * uncompressed point); the decoding also puts the point on the curve. */
static bool decompress(const uint8_t in[OFP_P256_COMPRESSED_LEN], uint8_t out[OFP_P256_UNCOMPRESSED_LEN])
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	EC_POINT *p = g == NULL ? NULL : EC_POINT_new(g);
	bool ok;

	ok = p != NULL && EC_POINT_oct2point(g, p, in, OFP_P256_COMPRESSED_LEN, NULL) == 1 &&
	     EC_POINT_point2oct(g, p, POINT_CONVERSION_UNCOMPRESSED, out, OFP_P256_UNCOMPRESSED_LEN, NULL) ==
		     OFP_P256_UNCOMPRESSED_LEN;
	EC_POINT_free(p);
	EC_GROUP_free(g);
	return ok;
}

static int check_signature(const ofp_sealed_batch_t *s, EVP_PKEY *key, unsigned alg, ofp_fmt_error_t *err)
{
	size_t cap = (size_t)s->ciphertext_len + OFP_SEALED_BATCH_OVERHEAD + 32, n;
	uint8_t *tbs = malloc(cap);
	int rv = -1;

	if (tbs == NULL) {
		seal_fail(err, OFP_FMT_EINTERNAL, "sealed_batch: out of memory");
		goto out;
	}
	if (ofp_sealed_batch_tbs(s, tbs, cap, &n, err) != OFP_FMT_OK)
		goto out;
	if (!ofp_sig_verify(key, alg, tbs, n, s->verifier_sig)) {
		seal_fail(err, OFP_FMT_EMISMATCH,
			  "sealed_batch.verifier_signature: does not verify with the verifier's key");
		goto out;
	}
	rv = 0;
out:
	free(tbs);
	return rv;
}

/* Z from the caller's ECDH (the token), then K, then the plaintext. */
static int open_ciphertext(const ofp_sealed_batch_t *s, const uint8_t sealing_pub[OFP_P256_UNCOMPRESSED_LEN],
			   ofp_seal_ecdh_fn ecdh, void *ecdh_ctx, uint8_t *plain, ofp_fmt_error_t *err)
{
	seal_secrets_t *sec = secmem_alloc(sizeof(*sec));
	uint8_t eph[OFP_P256_UNCOMPRESSED_LEN], aad[OFP_SEALED_BATCH_AAD_LEN], tag[OFP_GCM_TAG_LEN];
	int rv = -1;

	memcpy(tag, s->tag, sizeof(tag));
	if (sec == NULL) {
		seal_fail(err, OFP_FMT_EINTERNAL, "unseal: out of secure memory");
		goto out;
	}
	if (!decompress(s->ephemeral_key, eph)) {
		seal_fail(err, OFP_FMT_EVALUE, "sealed_batch.ephemeral_key: not a point on P-256");
		goto out;
	}
	if (ecdh(ecdh_ctx, eph, sec->z) != 0) {
		seal_fail(err, OFP_FMT_EINTERNAL, "unseal: ECDH with the sealing key failed");
		goto out;
	}
	if (!seal_kdf(sec, s->ephemeral_key, sealing_pub)) {
		seal_fail(err, OFP_FMT_EINTERNAL, "unseal: HKDF failed (OpenSSL)");
		goto out;
	}
	if (ofp_sealed_batch_aad(s, aad, err) != OFP_FMT_OK)
		goto out;
	if (!seal_gcm(false, sec, s->nonce, aad, s->ciphertext, s->ciphertext_len, plain, tag)) {
		seal_fail(err, OFP_FMT_EMISMATCH, "sealed_batch.tag: the ciphertext does not authenticate");
		goto out;
	}
	rv = 0;
out:
	secmem_free(sec, sizeof(*sec));
	return rv;
}

int ofp_unseal(const uint8_t *in, size_t len, EVP_PKEY *verifier_pub, unsigned verifier_alg,
	       const uint8_t sealing_pub[OFP_P256_UNCOMPRESSED_LEN], ofp_seal_ecdh_fn ecdh, void *ecdh_ctx,
	       ofp_sealed_batch_t *env, uint8_t **batch, size_t *batch_len, ofp_fmt_error_t *err)
{
	ofp_sealed_batch_t s;
	EVP_PKEY *recipient = NULL;
	uint8_t *plain = NULL;
	ofp_batch_t b;
	int rv = -1;

	*batch = NULL;
	*batch_len = 0;
	if (in == NULL || ecdh == NULL || sealing_pub == NULL) {
		seal_fail(err, OFP_FMT_EVALUE, "unseal: missing input, ECDH function or sealing key");
		goto out;
	}
	if (ofp_sealed_batch_decode(in, len, &s, err) != OFP_FMT_OK)
		goto out;
	if (check_signature(&s, verifier_pub, verifier_alg, err) != 0 ||
	    check_sealing_key(sealing_pub, s.sealing_kid, &recipient, err) != 0)
		goto out;
	plain = malloc((size_t)s.ciphertext_len + 1);
	if (plain == NULL) {
		seal_fail(err, OFP_FMT_EINTERNAL, "unseal: out of memory");
		goto out;
	}
	if (open_ciphertext(&s, sealing_pub, ecdh, ecdh_ctx, plain, err) != 0 ||
	    ofp_batch_decode(plain, s.ciphertext_len, &b, err) != OFP_FMT_OK ||
	    ofp_batch_check(&s, &b, NULL, NULL, err) != OFP_FMT_OK)
		goto out;
	if (env != NULL)
		*env = s;
	*batch = plain;
	*batch_len = s.ciphertext_len;
	plain = NULL;
	seal_ok(err);
	rv = 0;
out:
	free(plain);
	EVP_PKEY_free(recipient);
	return rv;
}
