/* ledger.h - the issuer's books, in SQLite or PostgreSQL: accounts and their history,
 * the issuer's keys, enrollment codes and enrolled holder keys, issued
 * credentials, registered gates, settled batches, charges (one per signed
 * authorization) and the deny list.
 *
 * Every change is one transaction: the account functions below open and
 * commit their own; the functions marked "(in a transaction)" are the
 * pieces settlement and issuance put together between ofp_ledger_begin and
 * ofp_ledger_commit (or ofp_ledger_transact, which also runs them again
 * when the database refused the transaction for a concurrent one).
 * SQLite: WAL, synchronous=FULL, a busy timeout; PostgreSQL: SERIALIZABLE
 * transactions (docs/ISSUER.md). Prepared statements only. Amounts are integers in minor units, bounded by
 * OFP_AMOUNT_MAX (issuer/conf.h); a change that would leave the bounds is
 * refused and changes nothing.
 *
 * Return values: OFP_LEDGER_OK, or one of the codes below with the reason
 * in ofp_ledger_error() ("account 'alice': not found"). A statement that a
 * constraint refused (REFUSED) ends the transaction on PostgreSQL (SQLite
 * undoes only the statement): roll back, or set a savepoint before a
 * statement whose refusal the transaction should survive. */
#ifndef OFFPASS_ISSUER_LEDGER_H
#define OFFPASS_ISSUER_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "compiler.h"
#include "issuer/conf.h"
#include "format/format.h"

typedef struct ofp_ledger ofp_ledger_t;

enum {
	OFP_LEDGER_OK = 0,
	OFP_LEDGER_ERROR = -1,	  /* SQLite or I/O failed */
	OFP_LEDGER_NOT_FOUND = 1, /* no such account, gate, batch ... */
	OFP_LEDGER_REFUSED = 2,	  /* bad name or amount, out of bounds, exists */
};

#define OFP_ACCOUNT_NAME_MAX 64

/* Open target: a PostgreSQL URL (postgresql://... or postgres://...), else
 * an SQLite file. Create the schema only when create is true and the
 * database has none; else a missing file is NOT_FOUND and a database
 * without the ledger's tables an error. Another schema version is refused.
 * On failure *out is NULL and err says why (never a password). */
int ofp_ledger_open(const char *target, bool create, ofp_ledger_t **out, char *err, size_t err_len) OFP_WUR;
void ofp_ledger_close(ofp_ledger_t *l);
const char *ofp_ledger_error(const ofp_ledger_t *l);
/* True for a PostgreSQL URL (postgresql:// or postgres://). */
bool ofp_ledger_is_postgresql(const char *target);
/* "sqlite" or "postgresql". */
const char *ofp_ledger_backend(const ofp_ledger_t *l);

/* Begin (SQLite: BEGIN IMMEDIATE, the write lock now, so two settlements
 * queue rather than fail half way; PostgreSQL: BEGIN ISOLATION LEVEL
 * SERIALIZABLE, reconnecting first when the connection was lost), COMMIT,
 * ROLLBACK. Rollback is a no-op outside one. */
int ofp_ledger_begin(ofp_ledger_t *l) OFP_WUR;
/* Begin, queued behind the other writers of one kind, in every process
 * (PostgreSQL: for issuance and settlement READ COMMITTED and the row
 * locks below, for the barrier a table lock taken before the
 * transaction's snapshot;
 * SQLite: BEGIN IMMEDIATE queues every writer anyway). Under SERIALIZABLE
 * two grouped issuances, or two settlements, read and write the same
 * index pages and would fail each other (serialization failures, the
 * transaction run again from the start); queued, each reads what the
 * one before committed. Readers do not wait. docs/ISSUER.md 9 says why
 * every invariant holds. */
typedef enum ofp_ledger_queue {
	OFP_LEDGER_QUEUE_NONE = 0,
	/* PostgreSQL: READ COMMITTED, no queue between issuances: each
	 * locks the row of its account (ofp_ledger_holder_standing) before
	 * it reads the account's rights, so issuances of different accounts
	 * run at once and two of one account one after the other. */
	OFP_LEDGER_QUEUE_ISSUANCE,
	/* PostgreSQL: READ COMMITTED, no queue between settlements: each
	 * locks its gate's row first (ofp_ledger_gate_lock), then the rows of
	 * the accounts it charges in ascending holder-id order, so batches of
	 * different gates apply at once and two of one gate one after the
	 * other. */
	OFP_LEDGER_QUEUE_SETTLEMENT,
	/* A change to what every issuance reads (the deny list, revoked
	 * keys, the trust list): waits for the issuances in flight and holds
	 * new ones back until it commits (docs/ISSUER.md 9). */
	OFP_LEDGER_QUEUE_ISSUANCE_BARRIER,
	/* PostgreSQL: READ COMMITTED, for a transaction that locks one
	 * account first (ofp_ledger_account_lock) and reads and writes only
	 * that account's rows (an enrollment code's try count): the lock
	 * orders it with every other writer of the account, and under
	 * SERIALIZABLE two of different accounts collided on shared index
	 * pages (docs/ISSUER.md 9). */
	OFP_LEDGER_QUEUE_ACCOUNT,
} ofp_ledger_queue_t;
int ofp_ledger_begin_queued(ofp_ledger_t *l, ofp_ledger_queue_t queue) OFP_WUR;
int ofp_ledger_commit(ofp_ledger_t *l) OFP_WUR;
void ofp_ledger_rollback(ofp_ledger_t *l);

/* Savepoints inside a transaction, so that one unit of a grouped commit
 * (several requests in one transaction, one fsync) can fail alone:
 * savepoint, then release (keep its changes) or rollback_to (undo them,
 * the rest of the transaction stays). One level is enough. */
int ofp_ledger_savepoint(ofp_ledger_t *l) OFP_WUR;
int ofp_ledger_release(ofp_ledger_t *l) OFP_WUR;
int ofp_ledger_rollback_to(ofp_ledger_t *l) OFP_WUR;

/* True when the last failure was the database refusing the transaction
 * for a concurrent one (PostgreSQL: serialization failure or deadlock;
 * SQLite: busy): roll back and run the whole transaction again. */
bool ofp_ledger_retryable(const ofp_ledger_t *l);

/* How often ofp_ledger_transact runs a transaction the database refused
 * for a concurrent one. */
#define OFP_LEDGER_TRIES 16
/* Sleep before retry attempt (0, 1, ...): 1, 2, 4 .. 256 ms, jittered. */
void ofp_ledger_backoff(unsigned attempt);
/* Begin, body, commit; on failure roll back, and when the failure was
 * retryable run it all again (at most OFP_LEDGER_TRIES times, with
 * ofp_ledger_backoff between). body returns OFP_LEDGER_OK to commit, else
 * a ledger code that is returned; it must be re-runnable (keep nothing
 * from a failed try). */
int ofp_ledger_transact(ofp_ledger_t *l, int (*body)(ofp_ledger_t *l, void *ctx), void *ctx) OFP_WUR;

/* What one ledger handle did since it was opened: transactions begun,
 * committed, and refused for a concurrent one (rolled back to be run
 * again: PostgreSQL serialization failures and deadlocks, SQLite busy);
 * statements run (transaction control included) and round trips to the
 * database server (PostgreSQL; 0 on SQLite, which runs in the process). */
typedef struct ofp_ledger_stats {
	uint64_t transactions;
	uint64_t commits;
	uint64_t conflicts;
	uint64_t statements;
	uint64_t round_trips;
} ofp_ledger_stats_t;
void ofp_ledger_stats(const ofp_ledger_t *l, ofp_ledger_stats_t *out);

/* Named counters (trust_version, deny_version) and blobs (the signed lists
 * as last written); absent ones read as 0 / NOT_FOUND. (In a transaction.) */
int ofp_ledger_meta_get(ofp_ledger_t *l, const char *name, int64_t *value) OFP_WUR;
int ofp_ledger_meta_set(ofp_ledger_t *l, const char *name, int64_t value) OFP_WUR;
int ofp_ledger_blob_get(ofp_ledger_t *l, const char *name, uint8_t **value, size_t *len) OFP_WUR;
int ofp_ledger_blob_set(ofp_ledger_t *l, const char *name, const uint8_t *value, size_t len) OFP_WUR;

/* What ofp_ledger_migrate copied: tables, rows, and the money it checked
 * to be the same on both sides. */
typedef struct ofp_ledger_migration {
	size_t tables;
	int64_t rows;
	int64_t accounts, balance_sum;
	int64_t charges, charge_sum;
} ofp_ledger_migration_t;

/* Copy every row of from into to, which must hold the schema and nothing
 * else (REFUSED otherwise): table by table in one transaction on each side
 * (from's is a consistent snapshot; to commits all or nothing), ids and
 * serials kept, charges in their order. Before to commits, every table's
 * count and the money (accounts and the sum of balances, charges and their
 * sum, history entries and their sum) must be the same on both sides.
 * The error is ofp_ledger_error(to). */
int ofp_ledger_migrate(ofp_ledger_t *from, ofp_ledger_t *to, ofp_ledger_migration_t *out) OFP_WUR;

/* ---- accounts ------------------------------------------------------------ */

typedef struct ofp_account {
	int64_t id;
	char name[OFP_ACCOUNT_NAME_MAX + 1];
	uint8_t holder_id[OFP_ID_LEN];
	int64_t balance; /* may go below zero, down to -credit_line and beyond
			  * when offline charges settle late */
	int64_t credit_line;
	bool flagged;	 /* a double use was seen */
	uint32_t opened;
} ofp_account_t;

/* 1..64 characters of [A-Za-z0-9._@+-], and not 16 hex digits (which
 * would read as a holder id). */
bool ofp_account_name_valid(const char *name);

/* A new account with a random holder id, balance 0, credit line 0 (its
 * own transaction; _create: in a transaction). */
int ofp_ledger_account_open(ofp_ledger_t *l, const char *name, uint32_t now, ofp_account_t *out) OFP_WUR;
int ofp_ledger_account_create(ofp_ledger_t *l, const char *name, uint32_t now, ofp_account_t *out) OFP_WUR;
int ofp_ledger_account_get(ofp_ledger_t *l, const char *name, ofp_account_t *out) OFP_WUR;
int ofp_ledger_account_by_holder(ofp_ledger_t *l, const uint8_t holder_id[OFP_ID_LEN], ofp_account_t *out) OFP_WUR;
/* The same, and the account's row locked until the transaction ends
 * (PostgreSQL: FOR UPDATE; SQLite: as ofp_ledger_account_by_holder). A
 * settlement reads its accounts so, in ascending holder-id order, before
 * it writes anything (docs/ISSUER.md 9). */
int ofp_ledger_account_by_holder_locked(ofp_ledger_t *l, const uint8_t holder_id[OFP_ID_LEN],
					ofp_account_t *out) OFP_WUR;
/* The same for n holder ids in strictly ascending order, locked in that
 * order: found[i] false when no account has ids[i]. On PostgreSQL one
 * statement per 1,024 ids (one round trip), on SQLite one per id. */
int ofp_ledger_accounts_by_holders_locked(ofp_ledger_t *l, const uint8_t (*ids)[OFP_ID_LEN], size_t n,
					  ofp_account_t *out, bool *found) OFP_WUR;
/* The account of a holder id and what else issuing to it depends on, in
 * one statement: whether deny_entry is on the deny list, the serial that
 * revoked holder_key (0: not revoked), and the account holder_key is
 * enrolled to. NOT_FOUND: no such account. */
typedef struct ofp_holder_standing {
	ofp_account_t account;
	bool denied;
	uint64_t revoked_serial;
	bool key_enrolled; /* holder_key is enrolled, to key_owner */
	int64_t key_owner;
} ofp_holder_standing_t;
int ofp_ledger_holder_standing(ofp_ledger_t *l, const uint8_t holder_id[OFP_ID_LEN],
			       const uint8_t deny_entry[OFP_DENY_ENTRY_LEN], const uint8_t *holder_key, size_t key_len,
			       ofp_holder_standing_t *out) OFP_WUR;
/* Lock the account's row until the transaction ends (PostgreSQL: SELECT
 * ... FOR UPDATE; SQLite: a no-op, its writers queue at BEGIN IMMEDIATE).
 * Every writer of an account's rights or money takes it (an UPDATE of
 * the row takes it too): ofp_ledger_holder_standing takes it first, in a
 * statement of its own, so an issuance reads the account only once no
 * other writer of it is in flight. */
int ofp_ledger_account_lock(ofp_ledger_t *l, int64_t account_id) OFP_WUR;
/* Add 1..OFP_AMOUNT_MAX; refused when the balance would pass OFP_AMOUNT_MAX.
 * out (may be NULL) gets the account after the change. */
int ofp_ledger_credit(ofp_ledger_t *l, const char *name, int64_t amount, uint32_t now, ofp_account_t *out) OFP_WUR;
/* Set the credit line to 0..OFP_AMOUNT_MAX. */
int ofp_ledger_set_credit_line(ofp_ledger_t *l, const char *name, int64_t amount, uint32_t now,
			       ofp_account_t *out) OFP_WUR;

typedef struct ofp_history_entry {
	uint32_t time;
	char kind[16];	/* open, credit, credit-line, code, enroll, issue, charge,
			 * double-use, counter-reuse */
	int64_t amount; /* signed change (credit-line: the new line) */
	int64_t balance; /* after the change */
	char ref[160];
} ofp_history_entry_t;

/* Every entry of the account, oldest first; cb returning non-zero stops. */
int ofp_ledger_history(ofp_ledger_t *l, const char *name,
		       int (*cb)(void *ctx, const ofp_history_entry_t *e), void *ctx) OFP_WUR;

/* (In a transaction.) Change the balance by delta (a debit is negative)
 * and write a history entry; refused when the balance would leave
 * [-OFP_AMOUNT_MAX, OFP_AMOUNT_MAX]. */
int ofp_ledger_account_apply(ofp_ledger_t *l, ofp_account_t *a, int64_t delta, const char *kind,
			     const char *ref, uint32_t now) OFP_WUR;
/* (In a transaction.) ofp_ledger_account_apply with the account row's
 * balance held back: the same range check, a->balance changed and the
 * history entry written (with the balance after the change), but the row
 * is written by ofp_ledger_account_store_balance, once for several
 * changes (settlement: one write per account per batch, one history entry
 * per charge). */
int ofp_ledger_account_apply_held(ofp_ledger_t *l, ofp_account_t *a, int64_t delta, const char *kind,
				  const char *ref, uint32_t now) OFP_WUR;
int ofp_ledger_account_store_balance(ofp_ledger_t *l, const ofp_account_t *a) OFP_WUR;
/* (In a transaction.) Mark the account: a double use was seen. */
int ofp_ledger_account_flag(ofp_ledger_t *l, ofp_account_t *a) OFP_WUR;
/* (In a transaction.) A history entry without a balance change. */
int ofp_ledger_note(ofp_ledger_t *l, const ofp_account_t *a, const char *kind, int64_t amount, const char *ref,
		    uint32_t now) OFP_WUR;

/* ---- issuer keys ------------------------------------------------------- */

#define OFP_LEDGER_CKA_ID_MAX 64

typedef struct ofp_ledger_key {
	int64_t n; /* 1, 2, ...: the label's number for signing keys */
	unsigned usage; /* OFP_USAGE_CREDENTIAL_SIGNING or OFP_USAGE_SEALING */
	char label[64];
	uint8_t cka_id[OFP_LEDGER_CKA_ID_MAX];
	size_t cka_id_len;
	uint8_t kid[OFP_KEY_ID_LEN];
	unsigned alg;
	uint8_t pub[OFP_TRUST_KEY_MAX]; /* trust-list form */
	size_t pub_len;
	uint32_t not_before, not_after;
} ofp_ledger_key_t;

/* (In a transaction.) Record a key; a duplicate label or kid is refused. */
int ofp_ledger_key_add(ofp_ledger_t *l, const ofp_ledger_key_t *k) OFP_WUR;
/* Every key (signing keys by n, then the sealing key) in a malloc'ed
 * array (NULL when there is none). */
int ofp_ledger_keys(ofp_ledger_t *l, ofp_ledger_key_t **out, size_t *n) OFP_WUR;

/* ---- enrollment codes and enrolled keys (ledger_holders.c) ---------------- */

/* An account's enrollment code as the ledger keeps it: the code's HKDF key
 * (ofp_enroll_code_key), never the code. */
typedef struct ofp_enroll_code {
	uint8_t code_key[OFP_HASH_LEN];
	uint32_t created, expires;
	uint32_t tries; /* requests that tried it, the right one included */
	bool used;
	uint32_t used_at;
} ofp_enroll_code_t;

/* (In a transaction.) Give the account a new code (replacing any other,
 * used or not): tries 0, not used. */
int ofp_ledger_enroll_code_set(ofp_ledger_t *l, int64_t account, const uint8_t code_key[OFP_HASH_LEN],
			       uint32_t now, uint32_t expires) OFP_WUR;
/* NOT_FOUND when the account has never had one. */
int ofp_ledger_enroll_code_get(ofp_ledger_t *l, int64_t account, ofp_enroll_code_t *out) OFP_WUR;
/* (In a transaction.) Add delta to the tries: +1 before the MAC is
 * compared, -1 after it matched (never below 0). */
int ofp_ledger_enroll_code_try(ofp_ledger_t *l, int64_t account, int delta) OFP_WUR;
/* (In a transaction.) Mark the code used; REFUSED when it was already. */
int ofp_ledger_enroll_code_use(ofp_ledger_t *l, int64_t account, uint32_t now) OFP_WUR;
/* (In a transaction.) Bind a holder key to an account for good; REFUSED
 * when it is another account's. The same key again is OK. */
int ofp_ledger_holder_key_add(ofp_ledger_t *l, int64_t account, unsigned alg, const uint8_t *key, size_t len,
			      uint32_t now) OFP_WUR;
/* OK with *account when the key is enrolled, NOT_FOUND otherwise. */
int ofp_ledger_holder_key_account(ofp_ledger_t *l, const uint8_t *key, size_t len, int64_t *account) OFP_WUR;

/* ---- credentials ----------------------------------------------------------- */

/* A credential as exposure counts it. */
typedef struct ofp_ledger_cred {
	uint64_t serial;
	uint32_t not_before, not_after;
	int64_t offline_total;
	int64_t charged; /* settled charges against this serial, every gate */
	bool replaced;	 /* issued over by `issue --replace` */
} ofp_ledger_cred_t;

/* Every issued credential of a holder id with not_after >= since, oldest
 * first; cb returning non-zero stops. */
int ofp_ledger_credentials_of(ofp_ledger_t *l, const uint8_t holder_id[OFP_ID_LEN], uint32_t since,
			      int (*cb)(void *ctx, const ofp_ledger_cred_t *c), void *ctx) OFP_WUR;
/* (In a transaction.) Mark the holder's credentials with not_after > now
 * replaced: the window rule no longer looks at them (exposure still does). */
int ofp_ledger_credentials_replace(ofp_ledger_t *l, const uint8_t holder_id[OFP_ID_LEN], uint32_t now) OFP_WUR;
/* The time through which every registered gate has settled its batches
 * with no gap from sequence 1 (the least over the gates of the latest
 * period_end so settled); 0 when one has settled none, or when no gate is
 * registered. *gates (may be NULL) gets how many gates are registered. */
int ofp_ledger_gates_settled_through(ofp_ledger_t *l, uint32_t *through, size_t *gates) OFP_WUR;

/* (In a transaction.) Reserve the next serial for a credential being
 * issued; store its bytes once signed. */
int ofp_ledger_credential_new(ofp_ledger_t *l, const ofp_credential_t *c, uint32_t now, uint64_t *serial) OFP_WUR;
int ofp_ledger_credential_store(ofp_ledger_t *l, uint64_t serial, const uint8_t *cred, size_t len) OFP_WUR;
/* OK when a credential with this serial was issued, NOT_FOUND otherwise. */
int ofp_ledger_credential_exists(ofp_ledger_t *l, uint64_t serial) OFP_WUR;
/* The ledger's copy of credential serial (the bytes signed and delivered)
 * in out (cap bytes): OK with *len, 0 when the ledger kept no copy;
 * NOT_FOUND when no credential has this serial. *denied: deny_entry (the
 * serial's entry) is on the deny list, read in the same statement; a
 * later ofp_ledger_denied of it in this transaction asks no more. */
int ofp_ledger_credential_copy(ofp_ledger_t *l, uint64_t serial, const uint8_t deny_entry[OFP_DENY_ENTRY_LEN],
			       uint8_t *out, size_t cap, size_t *len, bool *denied) OFP_WUR;
/* (In a transaction.) The holder key of credential serial is revoked: it
 * gets no new credential (a denied serial means a lost or stolen key). */
int ofp_ledger_key_revoke(ofp_ledger_t *l, uint64_t serial, uint32_t now) OFP_WUR;
/* OK with *serial (the denied credential) when this holder key is revoked,
 * NOT_FOUND otherwise. */
int ofp_ledger_key_revoked(ofp_ledger_t *l, const uint8_t *holder_key, size_t len, uint64_t *serial) OFP_WUR;

/* ---- gates --------------------------------------------------------------------- */

typedef struct ofp_gate {
	uint8_t verifier_id[OFP_ID_LEN];
	unsigned alg;
	uint8_t key[OFP_TRUST_KEY_MAX];
	size_t key_len;
	uint8_t kid[OFP_KEY_ID_LEN];
	uint32_t added;
} ofp_gate_t;

/* Register a gate's batch-signing key (its own transaction). The same id
 * and key again is fine; another key for a known id is REFUSED unless
 * replace is true. */
int ofp_ledger_gate_add(ofp_ledger_t *l, const ofp_gate_t *g, bool replace) OFP_WUR;
int ofp_ledger_gate_get(ofp_ledger_t *l, const uint8_t verifier_id[OFP_ID_LEN], ofp_gate_t *out) OFP_WUR;
/* Lock the gate's row until the transaction ends (PostgreSQL: SELECT
 * ... FOR UPDATE; SQLite: only checks that it exists, its writers queue
 * at BEGIN IMMEDIATE). NOT_FOUND: no such gate. A settlement takes it
 * before it reads anything of the gate's batches. */
int ofp_ledger_gate_lock(ofp_ledger_t *l, const uint8_t verifier_id[OFP_ID_LEN]) OFP_WUR;

/* ---- settled batches and charges ---------------------------------------------- */

typedef struct ofp_settled_batch {
	uint8_t verifier_id[OFP_ID_LEN];
	uint64_t sequence;
	uint8_t digest[OFP_HASH_LEN];	  /* SHA-256 of the batch plaintext */
	uint8_t first_prev[OFP_HASH_LEN]; /* hash chain links (zero: empty) */
	uint8_t last_hash[OFP_HASH_LEN];
	uint32_t records;
	uint32_t settled_at;
	uint32_t period_end; /* the envelope's */
} ofp_settled_batch_t;

int ofp_ledger_batch_get(ofp_ledger_t *l, const uint8_t verifier_id[OFP_ID_LEN], uint64_t sequence,
			 ofp_settled_batch_t *out) OFP_WUR;
/* The settled batch of this verifier just below (before) or above
 * sequence, skipping none: NOT_FOUND when there is none. */
int ofp_ledger_batch_neighbour(ofp_ledger_t *l, const uint8_t verifier_id[OFP_ID_LEN], uint64_t sequence,
			       bool below, ofp_settled_batch_t *out) OFP_WUR;
/* (In a transaction.) */
int ofp_ledger_batch_add(ofp_ledger_t *l, const ofp_settled_batch_t *b) OFP_WUR;
/* The sequence numbers of this verifier not settled, below its highest
 * settled one: cb(from, to) for each run. */
int ofp_ledger_batch_gaps(ofp_ledger_t *l, const uint8_t verifier_id[OFP_ID_LEN],
			  void (*cb)(void *ctx, uint64_t from, uint64_t to), void *ctx) OFP_WUR;

/* A charge: one signed authorization, identified by auth_hash = SHA-256
 * of ofp_authorization_tbs (docs/FORMAT.md, "Settlement"). */
typedef struct ofp_charge {
	uint8_t holder_id[OFP_ID_LEN];
	uint32_t counter;
	uint8_t verifier_id[OFP_ID_LEN];
	uint64_t sequence; /* the batch */
	uint32_t amount;
	uint64_t serial;
	uint32_t time; /* the gate's time of the operation */
	uint8_t auth_hash[OFP_HASH_LEN];
	uint8_t holder_key[OFP_HOLDER_KEY_MAX];
	size_t holder_key_len;
} ofp_charge_t;

/* (In a transaction.) OK with *first filled when this authorization was
 * charged already, NOT_FOUND otherwise. */
int ofp_ledger_charge_find(ofp_ledger_t *l, const uint8_t auth_hash[OFP_HASH_LEN], ofp_charge_t *first) OFP_WUR;
/* (In a transaction.) OK with *first filled when another authorization of
 * this holder key with this counter was charged, NOT_FOUND otherwise. */
int ofp_ledger_charge_find_counter(ofp_ledger_t *l, const uint8_t *holder_key, size_t key_len, uint32_t counter,
				   ofp_charge_t *first) OFP_WUR;
/* (In a transaction.) The sum of the charges of credential serial settled
 * from one gate (for the offline-total re-check). */
int ofp_ledger_charged_at_gate(ofp_ledger_t *l, uint64_t serial, const uint8_t verifier_id[OFP_ID_LEN],
			       int64_t *sum) OFP_WUR;
/* (In a transaction.) The three above in one statement (one round trip
 * per settled record): c's auth_hash, holder key, counter, serial and
 * verifier_id are looked up. OK with *first filled when a charge has this
 * auth_hash (*copy true) or else this holder key and counter (*copy
 * false, the first such); NOT_FOUND otherwise; *sum in both cases. */
int ofp_ledger_charge_lookup(ofp_ledger_t *l, const ofp_charge_t *c, ofp_charge_t *first, bool *copy,
			     int64_t *sum) OFP_WUR;
/* What a look-up found for one charge: this gate's sum for the serial;
 * found: a charge with the auth hash (copy true) or else the first with
 * the holder key and counter, in first. */
typedef struct ofp_charge_seen {
	int64_t sum;
	bool found, copy;
	ofp_charge_t first;
} ofp_charge_seen_t;
/* (In a transaction.) ofp_ledger_charge_lookup for n charges at once,
 * into out[0 .. n-1]: on PostgreSQL one statement per 1,024 charges (one
 * round trip), on SQLite one per charge. Each look-up sees the ledger as
 * the transaction does when this is called: a caller that charges some
 * of them afterwards keeps track of its own charges (settle.c). */
int ofp_ledger_charge_lookup_many(ofp_ledger_t *l, const ofp_charge_t *c, size_t n, ofp_charge_seen_t *out) OFP_WUR;
/* (In a transaction.) A second charge of one authorization is REFUSED by
 * the UNIQUE constraint, whatever the caller checked before. */
int ofp_ledger_charge_add(ofp_ledger_t *l, const ofp_charge_t *c) OFP_WUR;
/* (In a transaction.) Keep a double use: kind "copy" (the charge not made)
 * or "counter-reuse" (charged, flagged). */
int ofp_ledger_double_use_add(ofp_ledger_t *l, const ofp_charge_t *c, const char *kind, uint32_t now) OFP_WUR;
/* How many double uses are recorded for a holder (for account show). */
int ofp_ledger_double_use_count(ofp_ledger_t *l, const uint8_t holder_id[OFP_ID_LEN], int64_t *n) OFP_WUR;

/* ---- deny list ------------------------------------------------------------------ */

/* (In a transaction.) OK when added, REFUSED when already there. */
int ofp_ledger_deny_add(ofp_ledger_t *l, const uint8_t entry[OFP_DENY_ENTRY_LEN], uint32_t now) OFP_WUR;
/* OK when the entry is on the list, NOT_FOUND otherwise. */
int ofp_ledger_denied(ofp_ledger_t *l, const uint8_t entry[OFP_DENY_ENTRY_LEN]) OFP_WUR;
/* Every entry in list order into a malloc'ed buffer (9 bytes each). */
int ofp_ledger_deny_entries(ofp_ledger_t *l, uint8_t **entries, size_t *count) OFP_WUR;

#endif
