/* seal.h - sealing a batch of journal records to the issuer (claim 20):
 * ECDH P-256 with an ephemeral key + HKDF-SHA256 + AES-256-GCM, exactly as
 * docs/FORMAT.md specifies, then signed by the verifier's key.
 * Internal to offpass (the gate seals, the issuer opens). */
#ifndef OFFPASS_VERIFIER_SEAL_H
#define OFFPASS_VERIFIER_SEAL_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include "compiler.h"
#include "format/format.h"

/* ECDH of the issuer's sealing private key with the ephemeral public point
 * (65 bytes uncompressed): the 32-byte shared x coordinate. The issuer
 * implements it with PKCS#11 (CKM_ECDH1_DERIVE); tests with OpenSSL.
 * Returns 0 or -1. */
typedef int (*ofp_seal_ecdh_fn)(void *ctx, const uint8_t eph_pub[OFP_P256_UNCOMPRESSED_LEN],
				uint8_t shared[32]);

/* Seal an encoded batch (ofp_batch_encode) for the sealing key
 * (uncompressed P-256 point from the trust list), sign with the verifier
 * key: a malloc'ed sealed-batch artifact. env carries the envelope fields
 * (verifier id, sequence, period, count, key ids). Returns 0 or -1 with err. */
int ofp_seal(const ofp_sealed_batch_t *env, const uint8_t *batch, size_t batch_len,
	     const uint8_t sealing_pub[OFP_P256_UNCOMPRESSED_LEN], EVP_PKEY *verifier_key,
	     unsigned verifier_alg, uint8_t **out, size_t *out_len, ofp_fmt_error_t *err) OFP_WUR;

/* Open a sealed batch: decode, check the verifier signature with
 * verifier_pub (caller looks it up by env.verifier_key_id), derive with
 * ecdh, decrypt and check the batch against the envelope (ofp_batch_check).
 * sealing_pub is the issuer's sealing public key (uncompressed, as in the
 * trust list; its key id must be env.sealing_key_id): the HKDF info of
 * docs/FORMAT.md 10.2 contains it, and the ECDH output alone cannot give
 * it back. *batch is malloc'ed plaintext (free it). */
int ofp_unseal(const uint8_t *in, size_t len, EVP_PKEY *verifier_pub, unsigned verifier_alg,
	       const uint8_t sealing_pub[OFP_P256_UNCOMPRESSED_LEN], ofp_seal_ecdh_fn ecdh, void *ecdh_ctx,
	       ofp_sealed_batch_t *env, uint8_t **batch, size_t *batch_len, ofp_fmt_error_t *err) OFP_WUR;

#endif
