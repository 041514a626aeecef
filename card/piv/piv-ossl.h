/* piv-ossl.h - the applet's crypto and randomness hooks with OpenSSL 3, for
 * hosts that run it on a general-purpose machine (offpass-vcard, tests).
 *
 * piv_ossl_host() fills the crypto and rand hooks of a struct piv_host;
 * the host adds its own save hook and ctx (the OpenSSL hooks ignore ctx). */
#ifndef OFFPASS_PIV_OSSL_H
#define OFFPASS_PIV_OSSL_H

#include "piv.h"

void piv_ossl_host(struct piv_host *host);

int piv_ossl_rand(void *ctx, uint8_t *buf, size_t len);
int piv_ossl_ec_generate(void *ctx, uint8_t alg, uint8_t *priv, uint8_t *pub);
int piv_ossl_ec_sign(void *ctx, uint8_t alg, const uint8_t *priv, const uint8_t *pub,
		     const uint8_t *digest, size_t digest_len, uint8_t *sig, size_t *sig_len);
int piv_ossl_ecdh(void *ctx, uint8_t alg, const uint8_t *priv, const uint8_t *pub,
		  const uint8_t *peer, size_t peer_len, uint8_t *secret);
int piv_ossl_block_encrypt(void *ctx, uint8_t alg, const uint8_t *key, size_t key_len,
			   const uint8_t *in, uint8_t *out);

/* An EVP_PKEY (as void *, so that this header needs no OpenSSL) for the
 * key pair or, with priv NULL, the public key; NULL on failure. */
void *piv_ossl_pkey(uint8_t alg, const uint8_t *priv, const uint8_t *pub, size_t pub_len);

#endif
