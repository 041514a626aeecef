/* test-kit.h - a software holder and a software gate for the issuer's
 * tests: OpenSSL keys, and the wire format (format/format.h) for every
 * artifact they make. Never part of a library. */
#ifndef OFFPASS_ISSUER_TEST_KIT_H
#define OFFPASS_ISSUER_TEST_KIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include "format/format.h"

typedef struct tk_holder {
	EVP_PKEY *key;
	unsigned alg;
	uint8_t holder_id[OFP_ID_LEN];
	uint8_t holder_key[OFP_HOLDER_KEY_MAX]; /* credential form */
	size_t holder_key_len;
	bool has_code; /* the account's enrollment code, for requests */
	uint8_t code[OFP_ENROLL_CODE_LEN];
} tk_holder_t;

/* A fresh key (P-256 or Ed25519), or key (taken over) when not NULL. */
bool tk_holder_new(tk_holder_t *h, unsigned alg, const uint8_t holder_id[OFP_ID_LEN], EVP_PKEY *key);
void tk_holder_free(tk_holder_t *h);
/* An enrollment request made at time t (OFP_ENROLLMENT_MAX bytes), with
 * the MAC under h->code when h->has_code (else none: a refresh). */
bool tk_enrollment(const tk_holder_t *h, uint32_t t, uint8_t *out, size_t *len);
/* A presentation (type 2) of the credential bytes cred, signed by h. */
bool tk_presentation(const tk_holder_t *h, const uint8_t *cred, size_t cred_len, uint32_t t, uint32_t counter,
		     uint32_t amount, uint8_t *out, size_t *len);

typedef struct tk_gate {
	EVP_PKEY *key; /* P-256 batch-signing key */
	uint8_t id[OFP_ID_LEN];
	uint8_t pub[OFP_P256_UNCOMPRESSED_LEN];
	uint8_t kid[OFP_KEY_ID_LEN];
	uint64_t sequence;	     /* of the last batch sealed */
	uint8_t prev[OFP_HASH_LEN]; /* hash of the last record */
	uint8_t *records;	     /* pending, encoded back to back */
	size_t records_len;
	uint32_t count;
	uint32_t period_start, period_end;
} tk_gate_t;

bool tk_gate_new(tk_gate_t *g, const uint8_t id[OFP_ID_LEN], EVP_PKEY *key);
void tk_gate_free(tk_gate_t *g);
/* Journal one decision on presentation bytes (operate: reason 0). */
bool tk_gate_record(tk_gate_t *g, bool operate, uint8_t reason, uint32_t t, const uint8_t *pres, size_t pres_len);
/* Seal the pending records as the next batch (sequence + 1, or `sequence`
 * when not 0) to the sealing key; *out is malloc'ed. */
bool tk_gate_seal(tk_gate_t *g, uint64_t sequence, const uint8_t sealing_pub[OFP_P256_UNCOMPRESSED_LEN],
		  uint32_t now, uint8_t **out, size_t *len);

/* The sealing key (usage 2) of a trust list. */
bool tk_trust_sealing_key(const uint8_t *list, size_t len, uint8_t pub[OFP_P256_UNCOMPRESSED_LEN]);

/* PEM private key files (0600). */
bool tk_key_write(EVP_PKEY *key, const char *path);
EVP_PKEY *tk_key_read(const char *path);

#endif
