/* format.h - the offpass wire format: the one encoder and decoder of every
 * artifact (credential, presentation, enrollment request, journal record,
 * batch, sealed batch, trust list, deny list). docs/FORMAT.md is the
 * normative byte-by-byte description; this header follows it.
 *
 * Conventions for every artifact X:
 *   ofp_X_encode(x, out, cap, &len, err)  deterministic: one struct, one
 *       byte string. out == NULL only measures (*len = size, OFP_FMT_OK);
 *       a short buffer gives OFP_FMT_EBUFFER with *len = the size needed.
 *       The struct is checked by the same rules as decoding, so an encoder
 *       never writes what a decoder refuses.
 *   ofp_X_decode(in, len, &x, err)  strict: no truncation, no trailing
 *       byte, canonical values only. Nothing is allocated. Where a struct
 *       refers to a large region (batch records, deny list entries, sealed
 *       ciphertext) it borrows it from `in`, which must outlive it.
 *   ofp_X_tbs(x, out, cap, &len, err)  the exact message the signer signs
 *       and the verifier verifies: a domain string then the signed bytes.
 *
 * err may be NULL; otherwise it receives the code and a reason naming the
 * field, e.g. "credential.not_after: truncated". Signature checks are not
 * done here: 64 signature bytes are only carried. */
#ifndef OFFPASS_VERIFIER_FORMAT_H
#define OFFPASS_VERIFIER_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "compiler.h"

/* Every artifact starts with one header byte: type << 4 | version. Every
 * type is at version 1 except the enrollment request, at version 2 (it
 * proves an enrollment code); a decoder accepts only the current version
 * of each type. */
#define OFP_FORMAT_VERSION 1u
#define OFP_ENROLLMENT_VERSION 2u
enum {
	OFP_TYPE_CREDENTIAL = 1,
	OFP_TYPE_PRESENTATION = 2,	      /* no challenge (one-way: QR) */
	OFP_TYPE_PRESENTATION_CHALLENGE = 3, /* with challenge (NFC, BLE) */
	OFP_TYPE_ENROLLMENT = 4,
	OFP_TYPE_JOURNAL_RECORD = 5,
	OFP_TYPE_BATCH = 6,
	OFP_TYPE_SEALED_BATCH = 7,
	OFP_TYPE_TRUST_LIST = 8,
	OFP_TYPE_DENY_LIST = 9,
};

/* Key algorithms. P-256 signs with ECDSA over SHA-256 (and is the only
 * sealing algorithm, ECDH); Ed25519 is PureEdDSA. */
enum { OFP_ALG_P256 = 1, OFP_ALG_ED25519 = 2 };

#define OFP_SIG_LEN 64	/* ECDSA r||s (32 bytes each), or Ed25519 */
#define OFP_KEY_ID_LEN 4 /* SHA-256(SubjectPublicKeyInfo DER)[0..4) */
#define OFP_ID_LEN 8	/* holder id, verifier id */
#define OFP_HASH_LEN 32	/* SHA-256 */
#define OFP_P256_COMPRESSED_LEN 33
#define OFP_P256_UNCOMPRESSED_LEN 65
#define OFP_ED25519_KEY_LEN 32
#define OFP_HOLDER_KEY_MAX 33 /* compressed P-256 */
#define OFP_TRUST_KEY_MAX 65  /* uncompressed P-256 */
#define OFP_CHALLENGE_MAX 32
#define OFP_GCM_NONCE_LEN 12
#define OFP_GCM_TAG_LEN 16

/* Sizes (bytes) and bounds; docs/FORMAT.md derives each of them. */
#define OFP_CREDENTIAL_MAX 137
#define OFP_PRESENTATION_QR_P256 213 /* fits QR version 10, level M */
#define OFP_PRESENTATION_MAX 246
#define OFP_ENROLLMENT_MAX 143
#define OFP_JOURNAL_RECORD_MIN 73
#define OFP_JOURNAL_RECORD_MAX 319
#define OFP_BATCH_MAX_RECORDS 100000u
#define OFP_BATCH_MAX (5u + OFP_BATCH_MAX_RECORDS * OFP_JOURNAL_RECORD_MAX)
#define OFP_SEALED_BATCH_AAD_LEN 86 /* bytes before the ciphertext */
#define OFP_SEALED_BATCH_OVERHEAD 166
#define OFP_TRUST_MAX_ENTRIES 32
#define OFP_TRUST_LIST_MAX 2610
#define OFP_DENY_MAX_ENTRIES 1048576u
#define OFP_DENY_ENTRY_LEN 9
#define OFP_TBS_MAX 96 /* credential, authorization, enrollment messages */

/* Domain-separation strings: the first bytes of each signed message (never
 * on the wire), and the HKDF salt of sealing. No one is a prefix of another. */
#define OFP_DOMAIN_CREDENTIAL "offpass-cred-v1"
#define OFP_DOMAIN_AUTHORIZATION "offpass-auth-v1"
#define OFP_DOMAIN_ENROLLMENT "offpass-enroll-v2"
#define OFP_ENROLL_CODE_HKDF_SALT "offpass-enroll-code-v2"
#define OFP_DOMAIN_SEALED_BATCH "offpass-batch-v1"
#define OFP_DOMAIN_TRUST_LIST "offpass-trust-v1"
#define OFP_DOMAIN_DENY_LIST "offpass-deny-v1"
#define OFP_SEAL_HKDF_SALT "offpass-seal-v1"

typedef enum ofp_fmt_rc {
	OFP_FMT_OK = 0,
	OFP_FMT_ETRUNCATED,    /* the input ends inside a field */
	OFP_FMT_ETRAILING,     /* bytes follow the end of the artifact */
	OFP_FMT_ETYPE,	       /* unknown type, or not the type expected */
	OFP_FMT_EVERSION,      /* known type, unsupported format version */
	OFP_FMT_EVALUE,	       /* value outside its domain (algorithm, usage,
				* kind, decision, reason, empty window...) */
	OFP_FMT_ENONCANONICAL, /* a form the format forbids (point prefix,
				* nonzero field that must be zero...) */
	OFP_FMT_EORDER,	       /* list not strictly ascending (unsorted or
				* duplicate) */
	OFP_FMT_ELIMIT,	       /* count or length over its maximum */
	OFP_FMT_EMISMATCH,     /* fields that must agree do not */
	OFP_FMT_EBUFFER,       /* encode: output buffer too small */
	OFP_FMT_EINTERNAL,     /* SHA-256 failed (OpenSSL) */
} ofp_fmt_rc_t;

typedef struct ofp_fmt_error {
	ofp_fmt_rc_t code;
	char reason[128]; /* "<artifact>.<field>: <what>" */
} ofp_fmt_error_t;

/* "truncated", "trailing", ...: a stable short name of a code. */
const char *ofp_fmt_rc_name(ofp_fmt_rc_t rc);
/* "credential", "presentation", ...; "unknown" otherwise. */
const char *ofp_type_name(unsigned type);

/* Type and version of any artifact from its header byte: OFP_FMT_ETYPE for
 * an unknown type, OFP_FMT_EVERSION for an unsupported version. */
ofp_fmt_rc_t ofp_peek_type(const uint8_t *in, size_t len, unsigned *type, ofp_fmt_error_t *err) OFP_WUR;

/* --- keys ------------------------------------------------------------ */

/* Public key length for alg in a credential or enrollment (compressed
 * P-256, raw Ed25519), and in a trust list (uncompressed P-256); 0 for an
 * unknown alg. */
size_t ofp_holder_key_len(unsigned alg);
size_t ofp_trust_key_len(unsigned alg);
/* Key id of a public key in its trust-list form (65-byte uncompressed
 * P-256 point or 32-byte Ed25519 key): the first 4 bytes of SHA-256 of its
 * SubjectPublicKeyInfo DER, built from a fixed prefix. */
ofp_fmt_rc_t ofp_key_id(unsigned alg, const uint8_t *pub, size_t pub_len, uint8_t kid[OFP_KEY_ID_LEN],
			ofp_fmt_error_t *err) OFP_WUR;
/* The SubjectPublicKeyInfo DER of the same key (91 or 44 bytes); out must
 * hold 91 bytes. For handing keys to OpenSSL (d2i_PUBKEY). */
ofp_fmt_rc_t ofp_spki(unsigned alg, const uint8_t *pub, size_t pub_len, uint8_t *out, size_t *out_len,
		      ofp_fmt_error_t *err) OFP_WUR;
/* 04||X||Y -> 02/03||X (the parity of Y picks the prefix). */
ofp_fmt_rc_t ofp_p256_compress(const uint8_t in[OFP_P256_UNCOMPRESSED_LEN], uint8_t out[OFP_P256_COMPRESSED_LEN],
			       ofp_fmt_error_t *err) OFP_WUR;
/* SHA-256 (OpenSSL); false only when OpenSSL fails. */
bool ofp_sha256(const void *data, size_t len, uint8_t out[OFP_HASH_LEN]) OFP_WUR;

/* --- credential (issuer-signed) -------------------------------------- */

typedef struct ofp_grant {
	uint16_t resource_class;
	uint32_t per_op_max;	/* largest amount of one operation */
	uint32_t offline_total; /* sum of amounts over the credential's life */
} ofp_grant_t;

typedef struct ofp_credential {
	uint8_t holder_alg;
	uint8_t issuer_kid[OFP_KEY_ID_LEN];
	uint64_t serial;
	uint8_t holder_id[OFP_ID_LEN];
	uint8_t holder_key[OFP_HOLDER_KEY_MAX]; /* ofp_holder_key_len() bytes */
	uint32_t not_before;
	uint32_t not_after; /* > not_before */
	ofp_grant_t grant;
	uint8_t issuer_sig[OFP_SIG_LEN];
} ofp_credential_t;

ofp_fmt_rc_t ofp_credential_encode(const ofp_credential_t *c, uint8_t *out, size_t cap, size_t *len,
				   ofp_fmt_error_t *err) OFP_WUR;
ofp_fmt_rc_t ofp_credential_decode(const uint8_t *in, size_t len, ofp_credential_t *c, ofp_fmt_error_t *err) OFP_WUR;
/* "offpass-cred-v1" || the credential bytes before issuer_sig. */
ofp_fmt_rc_t ofp_credential_tbs(const ofp_credential_t *c, uint8_t *out, size_t cap, size_t *len,
				ofp_fmt_error_t *err) OFP_WUR;
/* SHA-256 of the whole encoded credential (signature included): what an
 * authorization binds, and a cache key for verified credentials. */
ofp_fmt_rc_t ofp_credential_digest(const ofp_credential_t *c, uint8_t out[OFP_HASH_LEN], ofp_fmt_error_t *err) OFP_WUR;

/* --- authorization and presentation (holder-signed) ------------------ */

typedef struct ofp_authorization {
	uint32_t time;
	uint32_t counter;
	uint32_t amount;
	uint8_t challenge_len; /* 0 (QR) .. OFP_CHALLENGE_MAX */
	uint8_t challenge[OFP_CHALLENGE_MAX];
	uint8_t holder_sig[OFP_SIG_LEN];
} ofp_authorization_t;

typedef struct ofp_presentation {
	ofp_credential_t cred;
	ofp_authorization_t auth;
} ofp_presentation_t;

/* Type 2 when auth.challenge_len is 0, type 3 otherwise. */
ofp_fmt_rc_t ofp_presentation_encode(const ofp_presentation_t *p, uint8_t *out, size_t cap, size_t *len,
				     ofp_fmt_error_t *err) OFP_WUR;
/* Accepts both presentation types. */
ofp_fmt_rc_t ofp_presentation_decode(const uint8_t *in, size_t len, ofp_presentation_t *p,
				     ofp_fmt_error_t *err) OFP_WUR;
/* "offpass-auth-v1" || SHA-256(credential) || time || counter || amount ||
 * challenge_len || challenge: the holder signs this (C_Sign). */
ofp_fmt_rc_t ofp_authorization_tbs(const ofp_credential_t *c, const ofp_authorization_t *a, uint8_t *out,
				   size_t cap, size_t *len, ofp_fmt_error_t *err) OFP_WUR;

/* --- enrollment request (holder-signed proof of possession) ---------- */

typedef struct ofp_enrollment {
	uint8_t holder_alg;
	uint8_t holder_id[OFP_ID_LEN];
	uint8_t holder_key[OFP_HOLDER_KEY_MAX];
	uint32_t time;
	uint8_t holder_sig[OFP_SIG_LEN];
	/* HMAC-SHA256 under the enrollment code's key over the same message
	 * as holder_sig: the holder knows the code the operator gave for this
	 * holder id. All zero in a request for a key already enrolled. */
	uint8_t code_mac[OFP_HASH_LEN];
} ofp_enrollment_t;

ofp_fmt_rc_t ofp_enrollment_encode(const ofp_enrollment_t *e, uint8_t *out, size_t cap, size_t *len,
				   ofp_fmt_error_t *err) OFP_WUR;
ofp_fmt_rc_t ofp_enrollment_decode(const uint8_t *in, size_t len, ofp_enrollment_t *e, ofp_fmt_error_t *err) OFP_WUR;
/* "offpass-enroll-v2" || the request bytes before holder_sig. */
ofp_fmt_rc_t ofp_enrollment_tbs(const ofp_enrollment_t *e, uint8_t *out, size_t cap, size_t *len,
				ofp_fmt_error_t *err) OFP_WUR;

/* The enrollment code: OFP_ENROLL_CODE_LEN random bytes (160 bits), shown
 * to a person as 32 base32 characters (RFC 4648 alphabet) in 8 groups of 4
 * joined by '-'. */
#define OFP_ENROLL_CODE_LEN 20
#define OFP_ENROLL_CODE_TEXT_LEN 39 /* 32 characters + 7 dashes */
/* code -> "ABCD-EFGH-...", NUL-terminated (OFP_ENROLL_CODE_TEXT_LEN + 1). */
void ofp_enroll_code_text(const uint8_t code[OFP_ENROLL_CODE_LEN], char out[OFP_ENROLL_CODE_TEXT_LEN + 1]);
/* Text -> code: case, spaces and '-' do not matter; 0, 1 and 8 read as O, I
 * and B. OFP_FMT_EVALUE for another character or another length. */
ofp_fmt_rc_t ofp_enroll_code_parse(const char *text, uint8_t code[OFP_ENROLL_CODE_LEN], ofp_fmt_error_t *err) OFP_WUR;
/* The MAC key of a code for one holder id: HKDF-SHA256 (RFC 5869) with
 * salt "offpass-enroll-code-v2", IKM the 20 code bytes, info the holder id,
 * 32 bytes. The issuer keeps only this key (a one-way function of the
 * code), never the code. */
ofp_fmt_rc_t ofp_enroll_code_key(const uint8_t code[OFP_ENROLL_CODE_LEN], const uint8_t holder_id[OFP_ID_LEN],
				 uint8_t key[OFP_HASH_LEN], ofp_fmt_error_t *err) OFP_WUR;
/* HMAC-SHA256(key, ofp_enrollment_tbs(e)) into mac. */
ofp_fmt_rc_t ofp_enrollment_mac(const ofp_enrollment_t *e, const uint8_t key[OFP_HASH_LEN], uint8_t mac[OFP_HASH_LEN],
				ofp_fmt_error_t *err) OFP_WUR;

/* --- journal record (verifier) --------------------------------------- */

enum { OFP_DECISION_OPERATE = 1, OFP_DECISION_REFUSE = 2 };

/* Reason codes on the wire (journal records); the verifier API reports
 * the same numbers. */
enum {
	OFP_REASON_OK = 0,
	OFP_REASON_MALFORMED = 1,
	OFP_REASON_UNKNOWN_ISSUER = 2,
	OFP_REASON_BAD_ISSUER_SIGNATURE = 3,
	OFP_REASON_NOT_YET_VALID = 4,
	OFP_REASON_EXPIRED = 5,
	OFP_REASON_DENIED = 6,
	OFP_REASON_BAD_HOLDER_SIGNATURE = 7,
	OFP_REASON_STALE = 8,
	OFP_REASON_FUTURE = 9,
	OFP_REASON_CHALLENGE = 10,
	OFP_REASON_REPLAY = 11,
	OFP_REASON_OVER_OPERATION_MAX = 12,
	OFP_REASON_OVER_OFFLINE_TOTAL = 13,
	OFP_REASON_WRONG_RESOURCE = 14,
	OFP_REASON_WRONG_AMOUNT = 15,
	OFP_REASON_CLOCK_BACK = 16,
	OFP_REASON_REPLAY_FULL = 17,
	OFP_REASON_DENY_LIST_STALE = 18,
};
#define OFP_REASON_LAST OFP_REASON_DENY_LIST_STALE
/* "ok", "malformed", ...; "unknown" otherwise. */
const char *ofp_reason_name(unsigned reason);

typedef struct ofp_journal_record {
	uint8_t decision;
	uint8_t reason; /* OFP_REASON_OK iff decision is operate */
	uint32_t time;
	uint8_t verifier_id[OFP_ID_LEN];
	/* Copied from the presentation; all zero when reason is malformed. */
	uint8_t holder_id[OFP_ID_LEN];
	uint32_t counter;
	uint32_t amount;
	uint64_t serial;
	uint8_t prev_hash[OFP_HASH_LEN]; /* SHA-256 of the previous record */
	/* The bytes as received (a malformed input: its first
	 * OFP_PRESENTATION_MAX bytes), so the issuer can re-verify. */
	uint16_t presentation_len;
	uint8_t presentation[OFP_PRESENTATION_MAX];
} ofp_journal_record_t;

ofp_fmt_rc_t ofp_journal_record_encode(const ofp_journal_record_t *r, uint8_t *out, size_t cap, size_t *len,
				       ofp_fmt_error_t *err) OFP_WUR;
ofp_fmt_rc_t ofp_journal_record_decode(const uint8_t *in, size_t len, ofp_journal_record_t *r,
				       ofp_fmt_error_t *err) OFP_WUR;
/* Size of the record that starts at in, from its first 3 bytes (header and
 * length) only: for reading records one by one from a journal file. */
ofp_fmt_rc_t ofp_journal_record_peek_len(const uint8_t *in, size_t len, size_t *record_len,
					 ofp_fmt_error_t *err) OFP_WUR;
/* Fill holder_id, counter, amount and serial from a decoded presentation
 * and copy its bytes into r->presentation. */
ofp_fmt_rc_t ofp_journal_record_set_presentation(ofp_journal_record_t *r, const uint8_t *pres, size_t pres_len,
						 ofp_fmt_error_t *err) OFP_WUR;

/* --- batch: the plaintext list of records of one period -------------- */

typedef struct ofp_batch {
	uint32_t count;
	const uint8_t *records; /* borrowed: count encoded records back to back */
	size_t records_len;
} ofp_batch_t;

typedef struct ofp_batch_iter {
	const uint8_t *p;
	size_t left;
} ofp_batch_iter_t;

/* records holds count encoded records back to back; each is checked. */
ofp_fmt_rc_t ofp_batch_encode(const ofp_batch_t *b, uint8_t *out, size_t cap, size_t *len,
			      ofp_fmt_error_t *err) OFP_WUR;
ofp_fmt_rc_t ofp_batch_decode(const uint8_t *in, size_t len, ofp_batch_t *b, ofp_fmt_error_t *err) OFP_WUR;
void ofp_batch_iter_init(ofp_batch_iter_t *it, const ofp_batch_t *b);
/* The next record of a decoded batch (and its bytes when raw is not NULL);
 * false at the end. */
bool ofp_batch_next(ofp_batch_iter_t *it, ofp_journal_record_t *r, const uint8_t **raw, size_t *raw_len) OFP_WUR;

/* --- sealed batch (verifier-signed envelope) ------------------------- */

typedef struct ofp_sealed_batch {
	uint8_t verifier_id[OFP_ID_LEN];
	uint8_t verifier_kid[OFP_KEY_ID_LEN]; /* the key that signs */
	uint64_t sequence;		      /* 1, 2, 3... per verifier */
	uint32_t period_start;
	uint32_t period_end; /* >= period_start */
	uint32_t record_count;
	uint8_t sealing_kid[OFP_KEY_ID_LEN]; /* the issuer key sealed to */
	uint8_t ephemeral_key[OFP_P256_COMPRESSED_LEN];
	uint8_t nonce[OFP_GCM_NONCE_LEN];
	const uint8_t *ciphertext; /* borrowed; as long as the batch */
	uint32_t ciphertext_len;
	uint8_t tag[OFP_GCM_TAG_LEN];
	uint8_t verifier_sig[OFP_SIG_LEN];
} ofp_sealed_batch_t;

ofp_fmt_rc_t ofp_sealed_batch_encode(const ofp_sealed_batch_t *s, uint8_t *out, size_t cap, size_t *len,
				     ofp_fmt_error_t *err) OFP_WUR;
ofp_fmt_rc_t ofp_sealed_batch_decode(const uint8_t *in, size_t len, ofp_sealed_batch_t *s,
				     ofp_fmt_error_t *err) OFP_WUR;
/* The AES-GCM associated data: the envelope's first 86 bytes. */
ofp_fmt_rc_t ofp_sealed_batch_aad(const ofp_sealed_batch_t *s, uint8_t out[OFP_SEALED_BATCH_AAD_LEN],
				  ofp_fmt_error_t *err) OFP_WUR;
/* "offpass-batch-v1" || the envelope bytes before verifier_sig. */
ofp_fmt_rc_t ofp_sealed_batch_tbs(const ofp_sealed_batch_t *s, uint8_t *out, size_t cap, size_t *len,
				  ofp_fmt_error_t *err) OFP_WUR;
/* A decrypted batch against its envelope: the counts agree, every record
 * is from this verifier and inside the period, and each record's prev_hash
 * is the hash of the one before it. first_prev and last_hash (either may
 * be NULL) link consecutive batches; all zero for an empty batch. */
ofp_fmt_rc_t ofp_batch_check(const ofp_sealed_batch_t *s, const ofp_batch_t *b, uint8_t first_prev[OFP_HASH_LEN],
			     uint8_t last_hash[OFP_HASH_LEN], ofp_fmt_error_t *err) OFP_WUR;

/* --- trust list (issuer-signed) -------------------------------------- */

enum { OFP_USAGE_CREDENTIAL_SIGNING = 1, OFP_USAGE_SEALING = 2 };

typedef struct ofp_trust_entry {
	uint8_t kid[OFP_KEY_ID_LEN]; /* must be ofp_key_id(alg, key) */
	uint8_t alg;
	uint8_t usage; /* sealing keys are P-256 */
	uint32_t not_before;
	uint32_t not_after;
	uint8_t key[OFP_TRUST_KEY_MAX]; /* ofp_trust_key_len() bytes */
} ofp_trust_entry_t;

typedef struct ofp_trust_list {
	uint64_t version; /* >= 1; a verifier accepts only a higher one */
	uint32_t issued_at;
	uint8_t signer_kid[OFP_KEY_ID_LEN];
	uint8_t count; /* 1..OFP_TRUST_MAX_ENTRIES */
	ofp_trust_entry_t entries[OFP_TRUST_MAX_ENTRIES]; /* kid ascending */
	uint8_t issuer_sig[OFP_SIG_LEN];
} ofp_trust_list_t;

ofp_fmt_rc_t ofp_trust_list_encode(const ofp_trust_list_t *t, uint8_t *out, size_t cap, size_t *len,
				   ofp_fmt_error_t *err) OFP_WUR;
ofp_fmt_rc_t ofp_trust_list_decode(const uint8_t *in, size_t len, ofp_trust_list_t *t, ofp_fmt_error_t *err) OFP_WUR;
/* "offpass-trust-v1" || the list bytes before issuer_sig. */
ofp_fmt_rc_t ofp_trust_list_tbs(const ofp_trust_list_t *t, uint8_t *out, size_t cap, size_t *len,
				ofp_fmt_error_t *err) OFP_WUR;
/* Put entries in kid order (for building a list). */
void ofp_trust_list_sort(ofp_trust_list_t *t);
/* The entry with this key id, or NULL. */
const ofp_trust_entry_t *ofp_trust_list_find(const ofp_trust_list_t *t, const uint8_t kid[OFP_KEY_ID_LEN]);

/* --- deny list (issuer-signed) --------------------------------------- */

enum { OFP_DENY_HOLDER = 1, OFP_DENY_SERIAL = 2 };

typedef struct ofp_deny_list {
	uint64_t version; /* >= 1 */
	uint32_t issued_at;
	uint8_t signer_kid[OFP_KEY_ID_LEN];
	uint32_t count;
	/* count entries of 9 bytes (kind, 8-byte value), strictly ascending;
	 * borrowed from the input on decode. */
	const uint8_t *entries;
	uint8_t issuer_sig[OFP_SIG_LEN];
} ofp_deny_list_t;

ofp_fmt_rc_t ofp_deny_list_encode(const ofp_deny_list_t *d, uint8_t *out, size_t cap, size_t *len,
				  ofp_fmt_error_t *err) OFP_WUR;
ofp_fmt_rc_t ofp_deny_list_decode(const uint8_t *in, size_t len, ofp_deny_list_t *d, ofp_fmt_error_t *err) OFP_WUR;
/* "offpass-deny-v1" || the list bytes before issuer_sig. */
ofp_fmt_rc_t ofp_deny_list_tbs(const ofp_deny_list_t *d, uint8_t *out, size_t cap, size_t *len,
			       ofp_fmt_error_t *err) OFP_WUR;
/* One entry: a holder id as is, a serial as a big-endian u64. */
void ofp_deny_entry_holder(uint8_t out[OFP_DENY_ENTRY_LEN], const uint8_t holder_id[OFP_ID_LEN]);
void ofp_deny_entry_serial(uint8_t out[OFP_DENY_ENTRY_LEN], uint64_t serial);
/* Sort count entries in place and drop duplicates; returns the new count. */
size_t ofp_deny_entries_normalize(uint8_t *entries, size_t count);
/* Binary search of a decoded (or normalized) list. */
bool ofp_deny_list_contains(const ofp_deny_list_t *d, const uint8_t entry[OFP_DENY_ENTRY_LEN]);

#endif
