/* internal.h - what the libofpissuer files share: the handle's layout,
 * error helpers and token access. */
#ifndef OFFPASS_ISSUER_INTERNAL_H
#define OFFPASS_ISSUER_INTERNAL_H

#include <limits.h>
#include <openssl/evp.h>
#include "issuer/issuer.h"
#include "p11client.h"

#define ISS_ERR_LEN 1024
#define ISS_PATH_MAX 1024

typedef struct iss_cred_cache iss_cred_cache_t;

/* Keys the handle found or parsed once (a ledger key's bytes never
 * change under its kid): the token's object handles for signing, the
 * parsed public keys for verifying credentials. */
#define ISS_KEY_CACHE 8

typedef struct iss_token_key_cache {
	uint8_t kid[OFP_KEY_ID_LEN];
	ofp_p11_key_t key;
} iss_token_key_cache_t;

typedef struct iss_verify_key_cache {
	uint8_t kid[OFP_KEY_ID_LEN];
	unsigned alg;
	uint8_t pub[OFP_TRUST_KEY_MAX];
	size_t pub_len;
	EVP_PKEY *pkey;
} iss_verify_key_cache_t;

struct ofp_issuer {
	char dir[ISS_PATH_MAX - 64]; /* room for "/<file name>" in a path */
	ofp_issuer_config_t cfg;
	ofp_ledger_t *ledger;
	ofp_p11_t *p11; /* opened and logged in on first use */
	uint32_t now;
	char *pin; /* secmem copy, or NULL */
	size_t pin_len;
	const char *pin_file; /* the caller's strings; live as long as the handle */
	const char *pin_env;
	/* Settlement (settle.c): credentials whose issuer signature verified,
	 * kept across batches (made on the first settlement); how many
	 * threads verify a batch (0: one per online CPU, at most
	 * ISS_SETTLE_THREADS_MAX). */
	iss_cred_cache_t *creds;
	size_t cred_cache_slots; /* 0: ISS_CRED_CACHE_SLOTS */
	unsigned settle_threads;
	const char *ledger_arg; /* args->ledger: overrides the cfg's */
	char err[ISS_ERR_LEN];
	iss_token_key_cache_t token_keys[ISS_KEY_CACHE]; /* valid while p11 is open */
	unsigned token_keys_n;
	iss_verify_key_cache_t verify_keys[ISS_KEY_CACHE];
	unsigned verify_keys_n;
};

/* Where the ledger is: args->ledger, else issuer.conf's ledger, else
 * <dir>/ledger.db. */
void iss_ledger_target(const ofp_issuer_t *iss, char *buf, size_t len);

/* ---- the credential cache (credcache.c) --------------------------------------------
 *
 * Credentials whose issuer signature verified, by digest (SHA-256 of all
 * their bytes, the signature included: equal digests are equal
 * credentials), with the holder key parsed: a rider's next rides, in this
 * batch or a later one, cost one verify (the holder's) instead of two.
 * Direct-mapped, a fixed number of slots: a collision evicts, the memory is
 * bounded. An entry remembers the issuer key that verified it and counts
 * only while the ledger still has that key (same key id, same public key):
 * a key removed from the ledger takes its credentials' verdicts with it.
 * Safe for the settlement's verify threads; a credential that two threads
 * meet at once is verified by one of them, the other waits for it. */
#define ISS_CRED_CACHE_SLOTS 8192u
#define ISS_SETTLE_THREADS_MAX 4u

typedef struct iss_cred_cache_stats {
	uint64_t hits;	     /* verdicts taken from the cache */
	uint64_t verifies;   /* issuer signatures verified through it (misses) */
	size_t entries;	     /* credentials held now */
	size_t slots;	     /* the bound */
} iss_cred_cache_stats_t;

iss_cred_cache_t *iss_cred_cache_new(size_t slots);
void iss_cred_cache_free(iss_cred_cache_t *c);
/* The holder key of credential digest if the cache holds it as verified
 * by the issuer public key pub (the ledger's key today for the
 * credential's key id): a reference the caller frees. Else NULL, and
 * *reserved true: the caller verifies and must then call
 * iss_cred_cache_fill (verified) or iss_cred_cache_release (not), others
 * asking for it wait meanwhile; false: the slot is another credential's,
 * being verified: verify without the cache. */
EVP_PKEY *iss_cred_cache_get(iss_cred_cache_t *c, const uint8_t digest[OFP_HASH_LEN], const uint8_t *pub,
			     size_t pub_len, bool *reserved);
/* Fill a reserved slot: the cache takes its own reference to holder. */
void iss_cred_cache_fill(iss_cred_cache_t *c, const uint8_t digest[OFP_HASH_LEN], const uint8_t *pub, size_t pub_len,
			 EVP_PKEY *holder);
void iss_cred_cache_release(iss_cred_cache_t *c, const uint8_t digest[OFP_HASH_LEN]);
void iss_cred_cache_stats(iss_cred_cache_t *c, iss_cred_cache_stats_t *out);


/* A handle with no ledger and no token yet (init builds it step by step). */
ofp_issuer_rc_t iss_handle_new(const ofp_issuer_args_t *args, ofp_issuer_t **out, char *err, size_t err_len) OFP_WUR;
/* Set the error; returns rc. */
ofp_issuer_rc_t iss_fail(ofp_issuer_t *iss, ofp_issuer_rc_t rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The ledger's error as the issuer's: OK stays OK, REFUSED and NOT_FOUND
 * become REFUSED, anything else ERROR. */
ofp_issuer_rc_t iss_ledger_fail(ofp_issuer_t *iss, int ledger_rc);
/* Begin, body, commit; on failure roll back, and when the database refused
 * the transaction for a concurrent one (ofp_ledger_retryable) run it all
 * again, at most OFP_LEDGER_TRIES times with a jittered backoff. body must
 * be re-runnable: it starts each try from the state before the first. */
ofp_issuer_rc_t iss_transact(ofp_issuer_t *iss, ofp_issuer_rc_t (*body)(ofp_issuer_t *iss, void *ctx),
			     void *ctx) OFP_WUR;
/* The same, begun behind the other writers of queue (ofp_ledger_begin_queued). */
ofp_issuer_rc_t iss_transact_queued(ofp_issuer_t *iss, ofp_ledger_queue_t queue,
				    ofp_issuer_rc_t (*body)(ofp_issuer_t *iss, void *ctx), void *ctx) OFP_WUR;

/* Open the token and log in (once). */
ofp_issuer_rc_t iss_token(ofp_issuer_t *iss) OFP_WUR;
/* The token's key for a ledger key, checked to be the same public key. */
ofp_issuer_rc_t iss_token_key(ofp_issuer_t *iss, const ofp_ledger_key_t *lk, ofp_p11_key_t *out) OFP_WUR;
/* The parsed public key of a ledger key (cached in the handle; do not
 * free it), NULL when it is not a valid key. */
EVP_PKEY *iss_verify_key(ofp_issuer_t *iss, const ofp_ledger_key_t *lk);
/* Sign msg with a ledger key (through the token). */
ofp_issuer_rc_t iss_sign(ofp_issuer_t *iss, const ofp_ledger_key_t *lk, const uint8_t *msg, size_t len,
			 uint8_t sig[OFP_SIG_LEN]) OFP_WUR;
/* The key that signs lists: the oldest signing key valid now. */
ofp_issuer_rc_t iss_list_signer(ofp_issuer_t *iss, ofp_ledger_key_t *out) OFP_WUR;
/* Write data to "<dir>/<name>" atomically (0644: lists are public). */
ofp_issuer_rc_t iss_write_file(ofp_issuer_t *iss, const char *name, const uint8_t *data, size_t len) OFP_WUR;
/* Build, sign and store (in the open transaction) deny list version
 * `version` from the ledger's entries; the encoding in *out (malloc'ed). */
ofp_issuer_rc_t iss_deny_publish(ofp_issuer_t *iss, uint64_t version, uint8_t **out, size_t *len) OFP_WUR;
/* Build, sign and store (in the open transaction) trust list `version`. */
ofp_issuer_rc_t iss_trust_publish(ofp_issuer_t *iss, uint64_t version, uint8_t **out, size_t *len) OFP_WUR;

/* Issue for a holder whose possession of holder_key the caller has
 * checked (an enrollment request's signature, an online proof): the
 * account by e->holder_id, its rights, the enrollment code rule (an
 * online refresh proves a key the issuer enrolled: no code), the exposure
 * and window rules, then sign, store, deliver and record in one
 * transaction. e->time and e->holder_sig are not used; opts may be NULL. */
ofp_issuer_rc_t iss_issue_checked(ofp_issuer_t *iss, const ofp_enrollment_t *e, const ofp_issue_opts_t *opts,
				  uint8_t *out, size_t *out_len, ofp_credential_t *cred) OFP_WUR;
/* Whom e's holder key is enrolled to, as read already with the account
 * (ofp_ledger_holder_standing); NULL below: read it from the ledger. */
typedef struct iss_key_owner {
	bool enrolled;
	int64_t account;
} iss_key_owner_t;

/* The enrollment code rule for a request of account a (enroll.c): OK
 * when its key is enrolled to a (*needs_code false) or the request's MAC
 * matches the account's usable code (*needs_code true: the caller spends
 * the code in the issuing transaction). */
ofp_issuer_rc_t iss_enroll_check(ofp_issuer_t *iss, const ofp_enrollment_t *e, const ofp_account_t *a,
				 const iss_key_owner_t *known, bool *needs_code) OFP_WUR;

/* The code rule when the code was proven online (opts->code_tag): OK
 * with *needs_code false for a key enrolled to a, true for a new key. */
ofp_issuer_rc_t iss_enroll_proven(ofp_issuer_t *iss, const ofp_enrollment_t *e, const ofp_account_t *a,
				  const iss_key_owner_t *known, bool *needs_code) OFP_WUR;
/* (In a transaction.) a's code is usable and still the one of tag. */
ofp_issuer_rc_t iss_code_tag_current(ofp_issuer_t *iss, const ofp_account_t *a,
				     const uint8_t tag[OFP_CODE_TAG_LEN]) OFP_WUR;

/* now + span, at most UINT32_MAX. */
uint32_t iss_time_add(uint32_t now, uint32_t span);
/* Lower-case hex of an id (2 * len + 1 bytes). */
void iss_hex(char *out, const uint8_t *id, size_t len);

#endif
