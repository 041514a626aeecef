/* ledger_db.h - the database under the ledger: one small driver interface,
 * two drivers (ledger_sqlite.c, ledger_pg.c). The ledger's logic is SQL
 * with binds and column reads written once, in the dialect both accept:
 * ?N placeholders (the PostgreSQL driver writes them as $N), INSERT ... ON
 * CONFLICT, RETURNING, CAST(... AS BIGINT) around sums.
 *
 * A statement is prepared once per connection from a static SQL text and
 * kept; binds point into the caller's memory until the statement is
 * stepped (the caller binds and steps in one function). Integers are
 * int64 everywhere (BIGINT on PostgreSQL). */
#ifndef OFFPASS_ISSUER_LEDGER_DB_H
#define OFFPASS_ISSUER_LEDGER_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "compiler.h"

typedef struct ldb ldb_t;
typedef struct ldb_stmt ldb_stmt_t;
typedef struct ldb_driver ldb_driver_t;

/* ldb_step results (the failures also come back from ldb_exec). */
enum {
	LDB_OK = 0,
	LDB_ROW = 100,	     /* a row is there to read */
	LDB_DONE = 101,	     /* no (more) rows */
	LDB_ERROR = 1,	     /* the database failed; ldb_errmsg says why */
	LDB_CONSTRAINT = 19, /* a constraint refused the change */
	LDB_CORRUPT = 11,    /* the ledger's own marker: a row it cannot read */
	LDB_NOMEM = 7,	     /* the ledger's own marker: out of memory */
};

/* What a transaction's writers queue on, taken at BEGIN before the
 * transaction reads anything (ldb_driver.begin): the writers of one kind
 * then run one after the other across processes instead of failing each
 * other's SERIALIZABLE transactions (docs/ISSUER.md 9). SQLite's BEGIN
 * IMMEDIATE queues every writer already. */
typedef enum ldb_queue {
	LDB_QUEUE_NONE = 0,
	LDB_QUEUE_ISSUANCE,   /* credentials: grouped issuance */
	LDB_QUEUE_SETTLEMENT, /* batches: settlement */
	LDB_QUEUE_ISSUANCE_BARRIER, /* waits for every issuance in flight */
	LDB_QUEUE_ACCOUNT,	    /* one account, under its row lock */
} ldb_queue_t;

/* What ldb_open found. */
enum { LDB_OPEN_OK = 0, LDB_OPEN_ERROR = -1, LDB_OPEN_MISSING = 1 };

struct ldb_driver {
	const char *name;
	/* SELECT ... FOR UPDATE locks rows (PostgreSQL); false: the
	 * database queues every writer at BEGIN (SQLite). */
	bool row_locks;
	/* A parameter may be a whole array in PostgreSQL's text form
	 * (CAST(?1 AS BYTEA[])): many keys, one round trip (ledger_many.c). */
	bool arrays;
	/* Open target; create the schema (ldb_*_schema, LDB_SCHEMA_VERSION)
	 * when create is true and the database has none; refuse another
	 * version. LDB_OPEN_MISSING: no such file / no ledger tables. */
	int (*open)(const char *target, bool create, ldb_t **out, char *err, size_t err_len);
	void (*close)(ldb_t *db);
	int (*prepare)(ldb_t *db, const char *sql, ldb_stmt_t **out);
	void (*finalize)(ldb_stmt_t *st);
	void (*reset)(ldb_stmt_t *st);
	void (*bind_int64)(ldb_stmt_t *st, int i, int64_t v);
	void (*bind_blob)(ldb_stmt_t *st, int i, const void *p, size_t len);
	void (*bind_text)(ldb_stmt_t *st, int i, const char *s);
	void (*bind_null)(ldb_stmt_t *st, int i);
	int (*step)(ldb_stmt_t *st);
	/* Step a statement that returns no rows, perhaps later: a client-
	 * server driver sends it and reads its result with the next
	 * statement that waits for one (one round trip for both), whose
	 * failure it then is; changes() says 0. The embedded driver steps
	 * it now. Only where a failure ends the transaction anyway. */
	int (*step_later)(ldb_stmt_t *st);
	int64_t (*col_int64)(ldb_stmt_t *st, int col);
	const void *(*col_blob)(ldb_stmt_t *st, int col, size_t *len);
	const char *(*col_text)(ldb_stmt_t *st, int col);
	bool (*col_null)(ldb_stmt_t *st, int col);
	/* Rows changed by the last statement stepped to its end. */
	int64_t (*changes)(ldb_t *db);
	/* One or more statements without binds or rows (schema, BEGIN ...). */
	int (*exec)(ldb_t *db, const char *sql);
	/* One statement without binds or rows, perhaps later (step_later). */
	int (*exec_later)(ldb_t *db, const char *sql);
	int (*begin)(ldb_t *db, ldb_queue_t queue);
	bool (*in_transaction)(ldb_t *db);
	const char *(*errmsg)(ldb_t *db);
	/* The last failure was a concurrent transaction's doing (run again). */
	bool (*retryable)(ldb_t *db);
	void (*clear_error)(ldb_t *db);
};

/* Every connection and statement starts with its driver. round_trips:
 * the times the driver waited for the server's answer (PostgreSQL; an
 * embedded database has none), for ofp_ledger_stats. */
struct ldb {
	const ldb_driver_t *drv;
	uint64_t round_trips;
};
struct ldb_stmt {
	const ldb_driver_t *drv;
};

extern const ldb_driver_t ldb_sqlite_driver;
extern const ldb_driver_t ldb_pg_driver;

/* True for a libpq URL (postgresql:// or postgres://), which selects the
 * PostgreSQL driver; anything else is an SQLite file name. */
bool ldb_is_postgresql(const char *target);

static inline void ldb_reset(ldb_stmt_t *st) { st->drv->reset(st); }
static inline void ldb_bind_int64(ldb_stmt_t *st, int i, int64_t v) { st->drv->bind_int64(st, i, v); }
static inline void ldb_bind_blob(ldb_stmt_t *st, int i, const void *p, size_t len) { st->drv->bind_blob(st, i, p, len); }
static inline void ldb_bind_text(ldb_stmt_t *st, int i, const char *s) { st->drv->bind_text(st, i, s); }
static inline void ldb_bind_null(ldb_stmt_t *st, int i) { st->drv->bind_null(st, i); }
static inline int ldb_step(ldb_stmt_t *st) { return st->drv->step(st); }
static inline int64_t ldb_col_int64(ldb_stmt_t *st, int col) { return st->drv->col_int64(st, col); }
static inline const void *ldb_col_blob(ldb_stmt_t *st, int col, size_t *len) { return st->drv->col_blob(st, col, len); }
static inline const char *ldb_col_text(ldb_stmt_t *st, int col) { return st->drv->col_text(st, col); }
static inline bool ldb_col_null(ldb_stmt_t *st, int col) { return st->drv->col_null(st, col); }

/* The schema texts, one per backend (ledger_schema.c), and the version
 * both carry (SQLite: PRAGMA user_version; PostgreSQL: meta row
 * "schema_version"). */
#define LDB_SCHEMA_VERSION 3
extern const char ldb_sqlite_schema[];
extern const char ldb_pg_schema[];
/* From version 2 to 3, in one transaction (each driver sets the version
 * its way): the gates' settled prefix. */
extern const char ldb_upgrade_2_3[];
/* Every table in dependency order, for migrate: its columns, one type
 * letter per column (i int64, b blob, t text; any may be NULL where the
 * schema allows) and the order rows are copied in. */
typedef struct ldb_table {
	const char *name;
	const char *columns;
	const char *types;
	const char *order;
} ldb_table_t;
extern const ldb_table_t ldb_tables[];
extern const size_t ldb_n_tables;

#endif
