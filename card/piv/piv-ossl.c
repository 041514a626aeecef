/* piv-ossl.c - EC P-256/P-384 keys, ECDSA, ECDH, 3DES and AES block
 * encryption and randomness for the applet, through OpenSSL 3 EVP. */
#include "config.h"
#include "piv-ossl.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

static const char *curve_name(uint8_t alg)
{
	switch (alg) {
	case PIV_ALG_ECCP256:
		return "P-256";
	case PIV_ALG_ECCP384:
		return "P-384";
	default:
		return NULL;
	}
}

static size_t curve_len(uint8_t alg)
{
	return alg == PIV_ALG_ECCP256 ? 32 : alg == PIV_ALG_ECCP384 ? 48 : 0;
}

int piv_ossl_rand(void *ctx, uint8_t *buf, size_t len)
{
	(void)ctx;
	return len > 0x7fffffff || RAND_bytes(buf, (int)len) != 1 ? -1 : 0;
}

int piv_ossl_ec_generate(void *ctx, uint8_t alg, uint8_t *priv, uint8_t *pub)
{
	const char *curve = curve_name(alg);
	size_t n = curve_len(alg), pub_len = 0;
	EVP_PKEY *pkey = NULL;
	BIGNUM *d = NULL;
	int rv = -1;
	(void)ctx;

	if (curve == NULL)
		return -1;
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	if (pkey == NULL)
		goto out;
	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1 ||
	    BN_bn2binpad(d, priv, (int)n) != (int)n)
		goto out;
	/* The encoded public key of a generated EC key is uncompressed. */
	if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, pub, 2 * n + 1,
					    &pub_len) != 1 ||
	    pub_len != 2 * n + 1 || pub[0] != 0x04)
		goto out;
	rv = 0;
out:
	BN_clear_free(d);
	EVP_PKEY_free(pkey);
	return rv;
}

void *piv_ossl_pkey(uint8_t alg, const uint8_t *priv, const uint8_t *pub, size_t pub_len)
{
	const char *curve = curve_name(alg);
	size_t n = curve_len(alg);
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *d = NULL;

	if (curve == NULL || pub_len != 2 * n + 1 || pub[0] != 0x04)
		return NULL;
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curve, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, pub_len))
		goto out;
	if (priv != NULL) {
		d = BN_secure_new();
		if (d == NULL || BN_bin2bn(priv, (int)n, d) == NULL ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d))
			goto out;
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (params == NULL || pctx == NULL || EVP_PKEY_fromdata_init(pctx) != 1 ||
	    EVP_PKEY_fromdata(pctx, &pkey, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
			      params) != 1)
		pkey = NULL;
out:
	EVP_PKEY_CTX_free(pctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(d);
	return pkey;
}

static size_t point_len(uint8_t alg)
{
	return 2 * curve_len(alg) + 1;
}

int piv_ossl_ec_sign(void *ctx, uint8_t alg, const uint8_t *priv, const uint8_t *pub,
		     const uint8_t *digest, size_t digest_len, uint8_t *sig, size_t *sig_len)
{
	EVP_PKEY *pkey = piv_ossl_pkey(alg, priv, pub, point_len(alg));
	EVP_PKEY_CTX *pctx = NULL;
	int rv = -1;
	(void)ctx;

	if (pkey == NULL)
		return -1;
	/* No digest set: EVP_PKEY_sign signs the input as the hash value. */
	pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (pctx == NULL || EVP_PKEY_sign_init(pctx) != 1 ||
	    EVP_PKEY_sign(pctx, sig, sig_len, digest, digest_len) != 1)
		goto out;
	rv = 0;
out:
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_free(pkey);
	return rv;
}

int piv_ossl_ecdh(void *ctx, uint8_t alg, const uint8_t *priv, const uint8_t *pub,
		  const uint8_t *peer, size_t peer_len, uint8_t *secret)
{
	EVP_PKEY *pkey = piv_ossl_pkey(alg, priv, pub, point_len(alg));
	EVP_PKEY *peer_key = piv_ossl_pkey(alg, NULL, peer, peer_len);
	EVP_PKEY_CTX *pctx = NULL;
	size_t n = curve_len(alg), out_len = n;
	int rv = -1;
	(void)ctx;

	if (pkey == NULL || peer_key == NULL)
		goto out;
	/* derive_set_peer checks the peer key (on the curve, not infinity). */
	pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (pctx == NULL || EVP_PKEY_derive_init(pctx) != 1 ||
	    EVP_PKEY_derive_set_peer(pctx, peer_key) != 1 ||
	    EVP_PKEY_derive(pctx, secret, &out_len) != 1 || out_len != n)
		goto out;
	rv = 0;
out:
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_free(peer_key);
	EVP_PKEY_free(pkey);
	return rv;
}

static const char *cipher_name(uint8_t alg, size_t key_len)
{
	switch (alg) {
	case PIV_ALG_3DES:
		return key_len == 24 ? "DES-EDE3-ECB" : NULL;
	case PIV_ALG_AES128:
		return key_len == 16 ? "AES-128-ECB" : NULL;
	case PIV_ALG_AES192:
		return key_len == 24 ? "AES-192-ECB" : NULL;
	case PIV_ALG_AES256:
		return key_len == 32 ? "AES-256-ECB" : NULL;
	default:
		return NULL;
	}
}

int piv_ossl_block_encrypt(void *ctx, uint8_t alg, const uint8_t *key, size_t key_len,
			   const uint8_t *in, uint8_t *out)
{
	const char *name = cipher_name(alg, key_len);
	EVP_CIPHER *cipher = NULL;
	EVP_CIPHER_CTX *cctx = NULL;
	int len = 0, rv = -1;
	(void)ctx;

	if (name == NULL)
		return -1;
	cipher = EVP_CIPHER_fetch(NULL, name, NULL);
	cctx = EVP_CIPHER_CTX_new();
	if (cipher == NULL || cctx == NULL ||
	    EVP_EncryptInit_ex2(cctx, cipher, key, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_set_padding(cctx, 0) != 1)
		goto out;
	int bl = EVP_CIPHER_get_block_size(cipher);
	if (EVP_EncryptUpdate(cctx, out, &len, in, bl) != 1 || len != bl)
		goto out;
	rv = 0;
out:
	EVP_CIPHER_CTX_free(cctx);
	EVP_CIPHER_free(cipher);
	return rv;
}

void piv_ossl_host(struct piv_host *host)
{
	host->rand = piv_ossl_rand;
	host->ec_generate = piv_ossl_ec_generate;
	host->ec_sign = piv_ossl_ec_sign;
	host->ecdh = piv_ossl_ecdh;
	host->block_encrypt = piv_ossl_block_encrypt;
}
