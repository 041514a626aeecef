/* sig.h - signature checks over the wire format's raw forms, with OpenSSL.
 * Internal to offpass (gate, issuer, tests); not part of the public API. */
#ifndef OFFPASS_VERIFIER_SIG_H
#define OFFPASS_VERIFIER_SIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include "compiler.h"

/* An EVP_PKEY for a public key in any of the format's forms: compressed
 * (33) or uncompressed (65) P-256, raw Ed25519 (32). NULL when invalid
 * (not on the curve, wrong length, unknown alg; Ed25519: non-canonical or
 * of small order, see ofp_ed25519_point_ok). */
EVP_PKEY *ofp_sig_public_key(unsigned alg, const uint8_t *pub, size_t pub_len) OFP_WUR;

/* An Ed25519 public key or signature R as the format accepts it: y < p
 * (canonical) and not one of the eight points of small order, in any
 * spelling (docs/FORMAT.md 3.2). ofp_sig_public_key and ofp_sig_verify
 * apply it; exported for the tests and the vector generator. */
bool ofp_ed25519_point_ok(const uint8_t enc[32]) OFP_WUR;

/* Verify a raw 64-byte signature (P-256: r||s over SHA-256(msg); Ed25519:
 * PureEdDSA over msg, R checked by ofp_ed25519_point_ok and S < L). True
 * only for a valid signature; a malformed key or signature is simply
 * false. */
bool ofp_sig_verify(EVP_PKEY *key, unsigned alg, const uint8_t *msg, size_t msg_len,
		    const uint8_t sig[64]) OFP_WUR;

/* Sign with a software key (the gate's batch key, tests): the same raw form. */
bool ofp_sig_sign(EVP_PKEY *key, unsigned alg, const uint8_t *msg, size_t msg_len,
		  uint8_t sig[64]) OFP_WUR;

/* The public half of key in its trust-list form (65-byte uncompressed
 * P-256 point, 32-byte Ed25519 key; out holds 65 bytes), for key ids and
 * for registering a gate's key. False when key is not of kind alg. */
bool ofp_sig_public_raw(EVP_PKEY *key, unsigned alg, uint8_t out[65], size_t *out_len) OFP_WUR;

#endif
