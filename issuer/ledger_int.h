/* ledger_int.h - what the ledger files share: the handle over its
 * database driver, the prepared-statement cache and error helpers. */
#ifndef OFFPASS_ISSUER_LEDGER_INT_H
#define OFFPASS_ISSUER_LEDGER_INT_H

#include "issuer/ledger.h"
#include "issuer/ledger_db.h"

#define LEDGER_STMT_CACHE 64
#define LDG_MEMO_DENY 8

struct ofp_ledger {
	ldb_t *db;
	char path[512]; /* the file, or the URL without password, for messages */
	/* Statements prepared once, keyed by their (static) SQL text. */
	struct {
		const char *sql;
		ldb_stmt_t *stmt;
	} cache[LEDGER_STMT_CACHE];
	/* What this transaction read already (ledger_memo.c). */
	struct {
		bool keys_valid, through_valid;
		ofp_ledger_key_t *keys;
		size_t nkeys;
		uint32_t through;
		size_t gates;
		struct {
			uint8_t entry[OFP_DENY_ENTRY_LEN];
			bool denied;
		} deny[LDG_MEMO_DENY];
		unsigned ndeny;
	} memo;
	/* The transaction just rolled back failed for a concurrent one. */
	bool retry_pending;
	/* What this handle did (ofp_ledger_stats): statements counted in
	 * ldg_stmt and the transaction control below. */
	ofp_ledger_stats_t stats;
	char err[1200];
};

/* Set the error: "<path>: " + text; returns code. */
int ldg_fail(ofp_ledger_t *l, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same, ending with the database's message; returns OFP_LEDGER_ERROR. */
int ldg_sql_fail(ofp_ledger_t *l, const char *what);

/* The cached statement for sql (a string literal), reset and unbound;
 * NULL (error set) when it cannot be prepared. */
ldb_stmt_t *ldg_stmt(ofp_ledger_t *l, const char *sql) OFP_WUR;
/* Step a statement that returns no row (or one to ignore), then reset it:
 * a constraint's refusal is OFP_LEDGER_REFUSED. */
int ldg_exec(ofp_ledger_t *l, ldb_stmt_t *st, const char *what) OFP_WUR;

/* The same for a statement whose failure ends the transaction anyway (a
 * write the transaction cannot do without): on PostgreSQL it is sent now
 * and its result read with the next statement that waits for one (one
 * round trip for both), whose failure it then becomes. */
int ldg_exec_later(ofp_ledger_t *l, ldb_stmt_t *st, const char *what) OFP_WUR;

/* One charge's look-up (ofp_ledger_charge_lookup), and its columns from
 * base on (ledger_many.c reads many rows of them). */
int ldg_charge_seen(ofp_ledger_t *l, const ofp_charge_t *c, ofp_charge_seen_t *out) OFP_WUR;
int ldg_charge_seen_row(ofp_ledger_t *l, ldb_stmt_t *st, int base, ofp_charge_seen_t *out) OFP_WUR;
/* An account's columns (ACCOUNT_COLUMNS) from base on. */
#define LDG_ACCOUNT_COLUMNS "id, name, holder_id, balance, credit_line, flagged, opened"
void ldg_account_row(ldb_stmt_t *st, int base, ofp_account_t *a);

/* Copy a BLOB column of exactly len bytes; false on another length. */
bool ldg_col_blob(ldb_stmt_t *st, int col, uint8_t *out, size_t len);
/* Copy a BLOB column of at most cap bytes into out, length in *len. */
bool ldg_col_blob_var(ldb_stmt_t *st, int col, uint8_t *out, size_t cap, size_t *len);

/* ledger_memo.c: within one transaction only (false / -1 outside one,
 * or nothing kept yet). Every transaction boundary, rollback to a
 * savepoint, and write to issuer_keys, gates, batches or denied clears
 * the memo. */
void ldg_memo_clear(ofp_ledger_t *l);
bool ldg_memo_keys(const ofp_ledger_t *l, ofp_ledger_key_t **out, size_t *n) OFP_WUR;
void ldg_memo_keys_set(ofp_ledger_t *l, const ofp_ledger_key_t *keys, size_t n);
bool ldg_memo_through(const ofp_ledger_t *l, uint32_t *through, size_t *gates) OFP_WUR;
void ldg_memo_through_set(ofp_ledger_t *l, uint32_t through, size_t gates);
/* 1 denied, 0 not, -1 unknown. */
int ldg_memo_denied(const ofp_ledger_t *l, const uint8_t entry[OFP_DENY_ENTRY_LEN]) OFP_WUR;
void ldg_memo_denied_set(ofp_ledger_t *l, const uint8_t entry[OFP_DENY_ENTRY_LEN], bool denied);

#endif
