/* ledger_int.h - what the two ledger files share: the handle, the
 * prepared-statement cache and error helpers. */
#ifndef OFFPASS_ISSUER_LEDGER_INT_H
#define OFFPASS_ISSUER_LEDGER_INT_H

#include <sqlite3.h>
#include "issuer/ledger.h"

#define LEDGER_STMT_CACHE 64

struct ofp_ledger {
	sqlite3 *db;
	char path[512];
	/* Statements prepared once, keyed by their (static) SQL text. */
	struct {
		const char *sql;
		sqlite3_stmt *stmt;
	} cache[LEDGER_STMT_CACHE];
	char err[1024];
};

/* Set the error: "<path>: " + text; returns code. */
int ldg_fail(ofp_ledger_t *l, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same, ending with SQLite's message; returns OFP_LEDGER_ERROR. */
int ldg_sql_fail(ofp_ledger_t *l, const char *what);

/* The cached statement for sql (a string literal), reset and unbound;
 * NULL (error set) when it cannot be prepared. */
sqlite3_stmt *ldg_stmt(ofp_ledger_t *l, const char *sql) OFP_WUR;
/* Step a statement that returns no row, then reset it. */
int ldg_exec(ofp_ledger_t *l, sqlite3_stmt *st, const char *what) OFP_WUR;

/* Copy a BLOB column of exactly len bytes; false on another length. */
bool ldg_col_blob(sqlite3_stmt *st, int col, uint8_t *out, size_t len);
/* Copy a BLOB column of at most cap bytes into out, length in *len. */
bool ldg_col_blob_var(sqlite3_stmt *st, int col, uint8_t *out, size_t cap, size_t *len);

#endif
