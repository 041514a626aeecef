/* test-util.h - building blocks of the verifier's Check suites: test keys,
 * signed trust and deny lists, credentials and presentations made with
 * OpenSSL (format-testkit.h), scratch state directories. Test code only. */
#ifndef OFFPASS_VERIFIER_TEST_UTIL_H
#define OFFPASS_VERIFIER_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/format-testkit.h"
#include "format/format.h"
#include "verifier/offpass-verifier.h"

/* Times: credentials are valid [T_NOW - 1 h, T_NOW + 1 day], list keys
 * [2025-01-01, 2030-01-01]; the trust list is issued at T_NOW - 60. */
#define T_NOW 1767229200u
#define T_LIST_FROM 1735689600u
#define T_LIST_UNTIL 1893456000u
#define T_FARE 250u

enum {
	TK_ISSUER,	   /* P-256 credential-signing key, in the trust list */
	TK_ISSUER2,	   /* P-256, added by a rollover */
	TK_ISSUER_ED25519, /* Ed25519 credential-signing key, in the trust list */
	TK_ROGUE,	   /* P-256, never trusted */
	TK_SEALING,	   /* P-256 sealing key */
	TK_HOLDER,	   /* P-256 holder */
	TK_HOLDER2,	   /* P-256 holder */
	TK_HOLDER_ED25519,
	TK_N
};

extern ofp_tk_key_t tu_keys[TK_N];

/* Derive every key (once). */
void tu_keys_init(void);
/* Extra P-256 holder keys, n = 1..TU_EXTRA_KEYS, derived when first used:
 * one per holder where a test needs many holders. */
#define TU_EXTRA_KEYS 2048u
const ofp_tk_key_t *tu_extra_key(unsigned n);

/* A trust-list entry for key k. */
void tu_trust_entry(ofp_trust_entry_t *e, unsigned k, unsigned usage, uint32_t not_before, uint32_t not_after);
/* A signed trust list of the given entries (sorted here), signed by key
 * `signer`; returns its length into out (OFP_TRUST_LIST_MAX). */
size_t tu_trust_list(uint8_t *out, uint64_t version, unsigned signer, const ofp_trust_entry_t *entries,
		     unsigned count);
/* The same, issued at issued_at. */
size_t tu_trust_list_at(uint8_t *out, uint64_t version, unsigned signer, const ofp_trust_entry_t *entries,
			unsigned count, uint32_t issued_at);
/* The usual list: TK_SEALING, TK_ISSUER, TK_ISSUER_ED25519, signed by
 * TK_ISSUER. */
size_t tu_default_trust(uint8_t *out, uint64_t version);
/* A signed deny list of `count` 9-byte entries, issued at T_NOW - 60;
 * *out malloc'ed. */
size_t tu_deny_list(uint8_t **out, uint64_t version, unsigned signer, const uint8_t *entries, uint32_t count);
/* The same, issued at issued_at. */
size_t tu_deny_list_at(uint8_t **out, uint64_t version, unsigned signer, const uint8_t *entries, uint32_t count,
		       uint32_t issued_at);

typedef struct tu_cred_spec {
	unsigned issuer, holder;
	unsigned extra_key; /* n > 0: holder key tu_extra_key(n) instead of holder */
	uint64_t serial;
	char holder_id[OFP_ID_LEN + 1];
	uint32_t not_before, not_after;
	uint16_t resource_class;
	uint32_t per_op_max, offline_total;
	bool bad_issuer_sig; /* flip a bit of the issuer signature */
} tu_cred_spec_t;

/* issuer TK_ISSUER, holder TK_HOLDER, serial 1001, "HOLDER01", the usual
 * window, resource 1, per_op_max 250, offline_total 1000. */
void tu_cred_default(tu_cred_spec_t *s);

typedef struct tu_auth_spec {
	uint32_t time, counter, amount;
	const uint8_t *challenge;
	uint8_t challenge_len;
	int signer; /* -1: the credential's holder */
	bool bad_holder_sig;
} tu_auth_spec_t;

void tu_auth_default(tu_auth_spec_t *a, uint32_t counter);

/* A presentation into out (OFP_PRESENTATION_MAX); its length. */
size_t tu_presentation(uint8_t *out, const tu_cred_spec_t *c, const tu_auth_spec_t *a);
/* Default credential, default authorization with this counter. */
size_t tu_simple(uint8_t *out, uint32_t counter);

/* A fresh empty directory (mkdtemp); tu_rmdir removes it and its files. */
void tu_tmpdir(char *out, size_t cap);
void tu_rmdir(const char *dir);

/* Config with the defaults, this dir, verifier id "GATE0001". */
void tu_config(offpass_verifier_config_t *cfg, const char *dir);
/* Open and install the default trust list (version 1); fails the test
 * when anything goes wrong. */
offpass_verifier_t *tu_open(const offpass_verifier_config_t *cfg);
offpass_verifier_t *tu_open_trusted(const offpass_verifier_config_t *cfg);

/* Check and expect OFFPASS_STATUS_OK; the decision's reason. The
 * config of tu_config is a till gate: fare is this check's charge, and
 * 0 here means "the amount the presentation carries" (test shorthand). */
offpass_reason_t tu_check(offpass_verifier_t *v, const uint8_t *p, size_t len, uint32_t fare,
			  const uint8_t *challenge, size_t challenge_len, uint32_t now, offpass_result_t *res);

/* ECDH with TK_SEALING's private key (the issuer's side in tests). */
int tu_ecdh(void *ctx, const uint8_t eph_pub[OFP_P256_UNCOMPRESSED_LEN], uint8_t shared[32]);

/* Read/write a whole file; *out malloc'ed. */
bool tu_read(const char *path, uint8_t **out, size_t *len);
bool tu_write(const char *path, const uint8_t *data, size_t len);

#endif
