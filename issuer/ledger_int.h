/* ledger_int.h - what the ledger files share: the handle over its
 * database driver, the prepared-statement cache and error helpers. */
#ifndef OFFPASS_ISSUER_LEDGER_INT_H
#define OFFPASS_ISSUER_LEDGER_INT_H

#include "issuer/ledger.h"
#include "issuer/ledger_db.h"

#define LEDGER_STMT_CACHE 64

struct ofp_ledger {
	ldb_t *db;
	char path[512]; /* the file, or the URL without password, for messages */
	/* Statements prepared once, keyed by their (static) SQL text. */
	struct {
		const char *sql;
		ldb_stmt_t *stmt;
	} cache[LEDGER_STMT_CACHE];
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

/* Copy a BLOB column of exactly len bytes; false on another length. */
bool ldg_col_blob(ldb_stmt_t *st, int col, uint8_t *out, size_t len);
/* Copy a BLOB column of at most cap bytes into out, length in *len. */
bool ldg_col_blob_var(ldb_stmt_t *st, int col, uint8_t *out, size_t cap, size_t *len);

#endif
