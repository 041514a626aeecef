/* format-testkit.h - OpenSSL helpers for test artifacts: fixed test keys,
 * raw 64-byte signatures, signed credentials, presentations and lists, the
 * sealing construction of docs/FORMAT.md, hex files. Shared by
 * format/gen-vectors (which writes tests/vectors/), the verifier, gate
 * and holder tests and their fixture programs; compiled into each, never
 * part of a library. Written apart from the real signers and the sealing
 * module (format/sig.c, format/seal.c), so that the tests check those
 * against a second implementation. */
#ifndef OFFPASS_VERIFIER_FORMAT_TESTKIT_H
#define OFFPASS_VERIFIER_FORMAT_TESTKIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "format/format.h"

typedef struct ofp_tk_key {
	char name[32];
	unsigned alg;			   /* OFP_ALG_* */
	uint8_t priv[32];		   /* P-256 scalar or Ed25519 seed */
	uint8_t pub[OFP_TRUST_KEY_MAX];	   /* trust-list form */
	size_t pub_len;			   /* 65 or 32 */
	uint8_t holder_pub[OFP_HOLDER_KEY_MAX]; /* credential form */
	uint8_t kid[OFP_KEY_ID_LEN];
	EVP_PKEY *pkey;
} ofp_tk_key_t;

/* The private key is SHA-256("offpass test key " || name). */
bool ofp_tk_key_derive(ofp_tk_key_t *k, const char *name, unsigned alg);
bool ofp_tk_key_from_private(ofp_tk_key_t *k, const char *name, unsigned alg, const uint8_t priv[32]);
void ofp_tk_key_free(ofp_tk_key_t *k);

/* ECDSA P-256 (SHA-256; r||s) or Ed25519 over msg. */
bool ofp_tk_sign(const ofp_tk_key_t *k, const uint8_t *msg, size_t len, uint8_t sig[OFP_SIG_LEN]);
/* pub: 33 or 65 bytes for P-256, 32 for Ed25519. An Ed25519 key or R of
 * small order, or not canonical, is refused as the format requires
 * (ofp_ed25519_point_ok); everything else is OpenSSL's own check. */
bool ofp_tk_verify(unsigned alg, const uint8_t *pub, size_t pub_len, const uint8_t *msg, size_t len,
		   const uint8_t sig[OFP_SIG_LEN]);

/* Sign an artifact whose other fields are set: compute its to-be-signed
 * bytes (format/format.h) and set the signature and the signer's key id
 * (a credential's issuer_kid, a list's signer_kid). A trust list is sorted
 * first. The authorization of p is signed by holder, which tests may make
 * another key than the credential's. OFP_FMT_OK, the format's code for
 * fields it refuses, or OFP_FMT_EINTERNAL when OpenSSL fails; err (may be
 * NULL) says which. */
ofp_fmt_rc_t ofp_tk_sign_credential(ofp_credential_t *c, const ofp_tk_key_t *issuer, ofp_fmt_error_t *err);
ofp_fmt_rc_t ofp_tk_sign_authorization(ofp_presentation_t *p, const ofp_tk_key_t *holder, ofp_fmt_error_t *err);
ofp_fmt_rc_t ofp_tk_sign_trust_list(ofp_trust_list_t *t, const ofp_tk_key_t *issuer, ofp_fmt_error_t *err);
ofp_fmt_rc_t ofp_tk_sign_deny_list(ofp_deny_list_t *d, const ofp_tk_key_t *issuer, ofp_fmt_error_t *err);

/* Whether a signature verifies: a credential's with the issuer key pub
 * (trust-list form), an authorization's with its credential's holder key,
 * an enrollment request's with the holder key it carries. false also when
 * the format refuses the fields. */
bool ofp_tk_credential_verifies(const ofp_credential_t *c, unsigned alg, const uint8_t *pub, size_t pub_len);
bool ofp_tk_authorization_verifies(const ofp_presentation_t *p);
bool ofp_tk_enrollment_verifies(const ofp_enrollment_t *e);

/* The enrollment code of the vectors (tests/vectors/README.md): the bytes
 * 1, 2, ..., 20. */
extern const uint8_t ofp_tk_enroll_code[OFP_ENROLL_CODE_LEN];
/* Set e->code_mac under ofp_tk_enroll_code for e's holder id; false when
 * OpenSSL or the format fails. */
bool ofp_tk_enroll_code_mac(ofp_enrollment_t *e);
/* Whether e->code_mac is the MAC under ofp_tk_enroll_code. */
bool ofp_tk_enroll_code_verifies(const ofp_enrollment_t *e);

/* A trust-list entry for k: its key id, algorithm and key, this usage and
 * validity window. */
void ofp_tk_trust_entry(ofp_trust_entry_t *e, const ofp_tk_key_t *k, unsigned usage, uint32_t not_before,
			uint32_t not_after);

/* ECDH of the P-256 key ctx (a const ofp_tk_key_t *) with a 65-byte
 * uncompressed point: 0 and the 32-byte shared x, or -1. An ofp_unseal
 * callback (format/seal.h): the issuer's side of a sealed batch. */
int ofp_tk_ecdh(void *ctx, const uint8_t eph_pub[OFP_P256_UNCOMPRESSED_LEN], uint8_t shared[32]);

/* The AES-256 key of a sealed batch: HKDF-SHA256(ECDH(priv, peer)) with
 * the salt and info of docs/FORMAT.md. */
bool ofp_tk_seal_key(const ofp_tk_key_t *priv, const uint8_t *peer_pub, size_t peer_len,
		     const uint8_t eph_pub[OFP_P256_COMPRESSED_LEN],
		     const uint8_t recipient_pub[OFP_P256_UNCOMPRESSED_LEN], uint8_t key[32]);
/* AES-256-GCM; on decryption tag is read and checked. */
bool ofp_tk_gcm(bool encrypt, const uint8_t key[32], const uint8_t nonce[OFP_GCM_NONCE_LEN], const uint8_t *aad,
		size_t aad_len, const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[OFP_GCM_TAG_LEN]);

/* Hex files: whitespace ignored; *out is malloc'd. */
bool ofp_tk_hex_read(const char *path, uint8_t **out, size_t *len);
bool ofp_tk_hex_parse(const char *hex, uint8_t *out, size_t cap, size_t *len);
/* 32 bytes (64 digits) a line. */
bool ofp_tk_hex_write(const char *path, const uint8_t *data, size_t len);

#endif
