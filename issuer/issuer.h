/* issuer.h - libofpissuer: the issuer of offpass credentials.
 *
 * An issuer is a directory (issuer.conf, ledger.db, trust.bin, deny.bin)
 * and a PKCS#11 token that holds its keys: credential-signing keys
 * ("offpass-issuer-sign-<n>", which also sign the trust and deny lists)
 * and one sealing key ("offpass-issuer-seal", ECDH P-256) that gates
 * encrypt their batches to. The token is opened, and the PIN asked for,
 * only by the operations that use a key.
 *
 * Every function returns OFP_ISSUER_OK, OFP_ISSUER_REFUSED (the input or
 * the policy says no: a malformed or badly signed file, an account under
 * the threshold ...) or OFP_ISSUER_ERROR (the issuer could not do it: the
 * token, the disk, SQLite). The values are the tools' exit codes (0, 3, 1).
 * ofp_issuer_error() then names what is at fault. A refusal or an error
 * changes nothing in the ledger. */
#ifndef OFFPASS_ISSUER_H
#define OFFPASS_ISSUER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "compiler.h"
#include "issuer/conf.h"
#include "issuer/ledger.h"
#include "format/format.h"

typedef enum ofp_issuer_rc {
	OFP_ISSUER_OK = 0,
	OFP_ISSUER_ERROR = 1,
	OFP_ISSUER_REFUSED = 3,
} ofp_issuer_rc_t;

typedef struct ofp_issuer ofp_issuer_t;

/* Files in the issuer directory. */
#define OFP_ISSUER_CONF "issuer.conf"
#define OFP_ISSUER_LEDGER "ledger.db"
#define OFP_ISSUER_TRUST "trust.bin"
#define OFP_ISSUER_DENY "deny.bin"
/* The signed lists as last published, kept in the ledger (blobs). */
#define OFP_ISSUER_BLOB_TRUST "trust_list"
#define OFP_ISSUER_BLOB_DENY "deny_list"
/* Key labels on the token. */
#define OFP_ISSUER_SIGN_LABEL "offpass-issuer-sign-"
#define OFP_ISSUER_SEAL_LABEL "offpass-issuer-seal"

typedef struct ofp_issuer_args {
	const char *dir;
	uint32_t now; /* the issuer's clock: seconds since the epoch */
	/* The token's user PIN; NULL: read from pin_file (first line), else
	 * the variable pin_env, else the URI's pin-value/pin-source, else a
	 * prompt, when a key is first needed. */
	const char *pin;
	const char *pin_file;
	const char *pin_env;
	/* The ledger, overriding issuer.conf's `ledger` (NULL: that one, else
	 * ledger.db in dir): a PostgreSQL URL or an SQLite file. */
	const char *ledger;
} ofp_issuer_args_t;

/* Open an initialised issuer directory. */
ofp_issuer_rc_t ofp_issuer_open(const ofp_issuer_args_t *args, ofp_issuer_t **out, char *err,
				size_t err_len) OFP_WUR;
/* Create the directory (or use an empty one), generate the sealing key
 * and the first signing key on the token cfg names, create the ledger and
 * write issuer.conf (cfg), trust.bin (version 1) and deny.bin (version 1,
 * empty). Refused when the directory or the token already holds an
 * issuer; on failure the keys and files made are removed again. */
ofp_issuer_rc_t ofp_issuer_init(const ofp_issuer_args_t *args, const ofp_issuer_config_t *cfg,
				ofp_issuer_t **out, char *err, size_t err_len) OFP_WUR;
void ofp_issuer_close(ofp_issuer_t *iss);
/* Open the token and log in now rather than at the first key use (a
 * service reads the PIN at start, not in the middle of a request). */
ofp_issuer_rc_t ofp_issuer_unlock(ofp_issuer_t *iss) OFP_WUR;
const char *ofp_issuer_error(const ofp_issuer_t *iss);
ofp_ledger_t *ofp_issuer_ledger(ofp_issuer_t *iss);
/* The settings in use (a test may change them in memory). */
ofp_issuer_config_t *ofp_issuer_config(ofp_issuer_t *iss);
void ofp_issuer_set_now(ofp_issuer_t *iss, uint32_t now);
/* "<dir>/<name>" into buf. */
void ofp_issuer_path(const ofp_issuer_t *iss, const char *name, char *buf, size_t len);

/* ---- keys and the trust list (keys.c) ---------------------------------------- */

/* Every key the ledger records (signing keys by number, then sealing), in
 * a malloc'ed array. */
ofp_issuer_rc_t ofp_issuer_keys(ofp_issuer_t *iss, ofp_ledger_key_t **out, size_t *n) OFP_WUR;
/* The signing key new credentials get: the newest one valid now. */
ofp_issuer_rc_t ofp_issuer_current_signing_key(ofp_issuer_t *iss, ofp_ledger_key_t *out) OFP_WUR;
/* Generate the next signing key and publish a trust list (version + 1)
 * with it and every key not yet past its not_after, signed by the oldest
 * signing key valid now (so that a verifier holding only the old list
 * accepts it). trust.bin is rewritten. */
ofp_issuer_rc_t ofp_issuer_rollover(ofp_issuer_t *iss, ofp_ledger_key_t *new_key) OFP_WUR;
/* The current signed trust list (malloc'ed): the stored one, or a new
 * version when a key has expired since (trust.bin is then rewritten). */
ofp_issuer_rc_t ofp_issuer_trust_list(ofp_issuer_t *iss, uint8_t **out, size_t *len) OFP_WUR;

/* ---- accounts and enrollment codes (enroll.c) --------------------------------- */

/* Open an account (a new random holder id) with its first enrollment code,
 * in one transaction. code gets the code to show the holder once (wipe it
 * after: OPENSSL_cleanse); the ledger keeps only its key. *expires: until
 * when it works (enrollment_code_lifetime). */
ofp_issuer_rc_t ofp_issuer_account_open(ofp_issuer_t *iss, const char *name, ofp_account_t *out,
					uint8_t code[OFP_ENROLL_CODE_LEN], uint32_t *expires) OFP_WUR;
/* A new enrollment code for an account (a lost key, an expired or locked
 * code): the previous one stops working. */
ofp_issuer_rc_t ofp_issuer_enroll_code(ofp_issuer_t *iss, const char *name, ofp_account_t *out,
				       uint8_t code[OFP_ENROLL_CODE_LEN], uint32_t *expires) OFP_WUR;

/* The tag of an enrollment code: its first OFP_CODE_TAG_LEN bytes of
 * SHA-256(code key), what an online access token binds. */
#define OFP_CODE_TAG_LEN 8

/* The token endpoint's check (OpenID4VCI pre-authorized code with tx_code):
 * the account of holder_id has a usable code whose key is code_key (a try
 * is counted, committed before the comparison, and given back on a
 * match). tag gets the code's tag; a (may be NULL) the account. */
ofp_issuer_rc_t ofp_issuer_code_check(ofp_issuer_t *iss, const uint8_t holder_id[OFP_ID_LEN],
				      const uint8_t code_key[OFP_HASH_LEN], uint8_t tag[OFP_CODE_TAG_LEN],
				      ofp_account_t *a) OFP_WUR;
/* Issue to holder_id for a holder key whose possession the caller checked
 * (an online proof), the code proven as tag says (opts->code_tag is set
 * from it); every other rule as ofp_issuer_issue. */
ofp_issuer_rc_t ofp_issuer_issue_online(ofp_issuer_t *iss, const uint8_t holder_id[OFP_ID_LEN], unsigned alg,
					const uint8_t *key, size_t key_len, const uint8_t tag[OFP_CODE_TAG_LEN],
					uint8_t *out, size_t *out_len, ofp_credential_t *cred) OFP_WUR;
/* The same inside the caller's transaction (a grouped commit). */
ofp_issuer_rc_t ofp_issuer_issue_online_in_tx(ofp_issuer_t *iss, const uint8_t holder_id[OFP_ID_LEN], unsigned alg,
					      const uint8_t *key, size_t key_len, const uint8_t tag[OFP_CODE_TAG_LEN],
					      uint8_t *out, size_t *out_len, ofp_credential_t *cred) OFP_WUR;

/* ---- issuance (issue.c) -------------------------------------------------------- */

typedef struct ofp_issue_opts {
	/* Issue from now over live credentials, all of which must be on the
	 * deny list (a lost key); they still count as exposure until they end. */
	bool replace;
	/* Called with the signed credential inside the transaction, before the
	 * commit: non-zero (with err) rolls back, so nothing is issued and no
	 * serial spent when the credential cannot be written. */
	int (*deliver)(void *ctx, const uint8_t *cred, size_t len, char *err, size_t err_len);
	void *ctx;
	/* Online enrollment (offpass-issuerd): the enrollment code was proven
	 * at the token endpoint, and this is the tag of the code it proved
	 * (ofp_issuer_code_check): a key not enrolled yet spends the code if it
	 * is still that code, unused and unexpired. NULL: the request's MAC
	 * proves the code. */
	const uint8_t *code_tag;
	/* A grouped commit (issuer/committer.h): the caller has begun the
	 * transaction and wrapped this issuance in a savepoint; issue inside
	 * it, neither begin nor commit, and leave the undo of a failure to the
	 * caller (rollback to the savepoint). */
	bool in_transaction;
} ofp_issue_opts_t;

/* Check an enrollment request (strict decoding, proof of possession, age,
 * account, deny list, revoked key), its enrollment code when the key is
 * not enrolled yet (a wrong one counts a try, committed before the MAC is
 * compared; the right one is spent with the issuance), and the account's
 * exposure: balance + credit line - the unsettled offline totals of its
 * other credentials must reach the threshold, and caps the new offline
 * total. The credential's window follows the account's live one (a
 * refresh) or starts now; a window already covered is refused. Signed
 * with the current signing key. out holds OFP_CREDENTIAL_MAX bytes; cred
 * (may be NULL) gets the decoded form; opts may be NULL. */
ofp_issuer_rc_t ofp_issuer_issue(ofp_issuer_t *iss, const uint8_t *request, size_t len, const ofp_issue_opts_t *opts,
				 uint8_t *out, size_t *out_len, ofp_credential_t *cred) OFP_WUR;

/* ---- refresh (refresh.c) ------------------------------------------------------- */

/* Decode a credential and check that this issuer issued it (the same
 * bytes as the ledger's copy of its serial; where the ledger kept no copy,
 * a signing key of the ledger signed it), that it has not expired and that
 * its serial is not denied. */
ofp_issuer_rc_t ofp_issuer_check_credential(ofp_issuer_t *iss, const uint8_t *cred, size_t len,
					    ofp_credential_t *c) OFP_WUR;
/* The next credential for the holder of c, a credential that
 * ofp_issuer_check_credential accepted (checked once, before this).
 * The caller has checked that the requester holds c's holder key (the
 * online proof of possession against a fresh nonce); the account's rights
 * decide as for ofp_issuer_issue. */
ofp_issuer_rc_t ofp_issuer_refresh(ofp_issuer_t *iss, const ofp_credential_t *c, uint8_t *out, size_t *out_len,
				   ofp_credential_t *next) OFP_WUR;
/* The same inside the caller's transaction (opts->in_transaction). */
ofp_issuer_rc_t ofp_issuer_refresh_opts(ofp_issuer_t *iss, const ofp_credential_t *c, const ofp_issue_opts_t *opts,
					uint8_t *out, size_t *out_len, ofp_credential_t *next) OFP_WUR;

/* ---- gates (gates.c) ------------------------------------------------------------- */

/* A gate's batch-signing public key from a file's bytes: 65 (P-256
 * uncompressed), 33 (compressed) or 32 (Ed25519) raw bytes, or PEM / DER
 * SubjectPublicKeyInfo. REFUSED with the reason otherwise. */
ofp_issuer_rc_t ofp_issuer_parse_gate_key(ofp_issuer_t *iss, const uint8_t *data, size_t len, ofp_gate_t *out) OFP_WUR;
/* Register (or, with replace, re-key) a gate. */
ofp_issuer_rc_t ofp_issuer_gate_add(ofp_issuer_t *iss, const uint8_t verifier_id[OFP_ID_LEN], const uint8_t *key,
				    size_t key_len, bool replace, ofp_gate_t *out) OFP_WUR;

/* ---- settlement (settle.c) ------------------------------------------------------ */

typedef enum ofp_settle_note_kind {
	OFP_SETTLE_GAP = 1,	     /* sequence numbers missing below this batch */
	OFP_SETTLE_CHAIN,	     /* journal chain broken between two batches */
	OFP_SETTLE_REJECTED,	     /* a record failed re-verification: not charged */
	OFP_SETTLE_DOUBLE_USE,	     /* the same signed authorization again: not charged again */
	OFP_SETTLE_UNKNOWN_HOLDER,   /* no account for the holder id: not charged */
	OFP_SETTLE_COUNTER_REUSE,    /* the key's counter over other contents: charged, flagged */
} ofp_settle_note_kind_t;

typedef struct ofp_settle_note {
	ofp_settle_note_kind_t kind;
	uint32_t record; /* index in the batch (records) */
	uint8_t holder_id[OFP_ID_LEN];
	uint32_t counter;
	uint32_t amount;
	uint64_t gap_from, gap_to;		 /* GAP */
	uint8_t first_verifier_id[OFP_ID_LEN]; /* DOUBLE_USE: the charge that stands */
	uint64_t first_sequence;
	char text[512]; /* the whole note as one line */
} ofp_settle_note_t;

typedef void (*ofp_settle_note_fn)(void *ctx, const ofp_settle_note_t *note);

typedef struct ofp_settle_report {
	uint8_t verifier_id[OFP_ID_LEN];
	uint64_t sequence;
	bool already_settled; /* the same batch before: nothing done */
	uint32_t records;     /* in the batch */
	uint32_t refused;     /* records of refusals: nothing to charge */
	uint32_t charged;
	uint32_t rejected;
	uint32_t double_uses;	 /* copies: not charged */
	uint32_t counter_reuses; /* charged and flagged */
	uint32_t unknown_holders;
	uint32_t gaps, chain_breaks;
	uint64_t amount_charged;
} ofp_settle_report_t;

/* Settle one sealed batch: decode, find the gate by verifier id and check
 * its key id, check the gate's signature, decrypt with the sealing key on
 * the token, check the batch against its envelope; re-check every operate
 * record (issuer and holder signatures, the record's fields against the
 * presentation, validity and freshness at the record's time, the
 * per-operation maximum) on a few threads; then in ONE transaction:
 * refuse a different batch under a settled sequence, report the same
 * batch again as already settled (nothing debited), and debit each
 * record that re-checked, within the credential's offline total at this
 * gate, once per signed authorization (docs/FORMAT.md, "Settlement";
 * docs/ISSUER.md, "Settlement pipeline"). note (may be NULL) hears of
 * gaps, chain breaks, rejected records, copies and counter reuses. Not
 * for two threads at once on one handle (no call on a handle is). */
ofp_issuer_rc_t ofp_issuer_settle(ofp_issuer_t *iss, const uint8_t *sealed, size_t len, ofp_settle_note_fn note,
				  void *ctx, ofp_settle_report_t *report) OFP_WUR;

/* ---- deny list (deny.c) ---------------------------------------------------------- */

/* Deny a holder (account name, or 16 hex digits of holder id) or a
 * credential serial (one this issuer issued; its holder key also gets no
 * new credential). A new list is signed (version + 1), kept in the ledger
 * and written to deny.bin. An entry already there: OK, *added false, no
 * new version. *version (may be NULL) gets the list's version. */
ofp_issuer_rc_t ofp_issuer_deny_holder(ofp_issuer_t *iss, const char *who, bool *added, uint64_t *version) OFP_WUR;
ofp_issuer_rc_t ofp_issuer_deny_serial(ofp_issuer_t *iss, uint64_t serial, bool *added, uint64_t *version) OFP_WUR;
/* The current signed deny list (malloc'ed). One issued OFP_ISSUER_DENY_REISSUE or more
 * before now is first re-signed under the next version with the same
 * entries (gates refuse once their deny list is too old, VERIFIER.md
 * 3.5); when that fails, the stored one. */
#define OFP_ISSUER_DENY_REISSUE 3600u
/* A stored list issued more than this after now (a clock that ran ahead
 * and was set right) is re-signed too: gates refuse a list from their
 * future (VERIFIER.md 3.5). Less is another process's clock, served. */
#define OFP_ISSUER_DENY_AHEAD 60u
ofp_issuer_rc_t ofp_issuer_deny_list(ofp_issuer_t *iss, uint8_t **out, size_t *len) OFP_WUR;

/* ---- moving the ledger (migrate.c) ---------------------------------------------- */

/* Copy the issuer's ledger into the empty PostgreSQL database at url
 * (ofp_ledger_migrate: REFUSED when it holds anything), then make it the
 * issuer's ledger: issuer.conf gets `ledger = url` (atomically; the old
 * file stays as it was, a backup). A URL with a password is refused:
 * issuer.conf would keep it (use ~/.pgpass or PGPASSFILE). */
ofp_issuer_rc_t ofp_issuer_migrate(ofp_issuer_t *iss, const char *url, ofp_ledger_migration_t *out) OFP_WUR;

#endif
