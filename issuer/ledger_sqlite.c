/* ledger_sqlite.c - the SQLite driver under the ledger: one file, WAL,
 * synchronous=FULL, a busy timeout, BEGIN IMMEDIATE (the write lock at
 * once, so that two settlements queue rather than fail half way). */
#include "config.h"
#include "issuer/ledger_db.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BUSY_TIMEOUT_MS 10000

typedef struct sq_db {
	ldb_t base;
	sqlite3 *db;
	bool retryable; /* the last failure was SQLITE_BUSY / SQLITE_LOCKED */
	char err[512];
} sq_db_t;

typedef struct sq_stmt {
	ldb_stmt_t base;
	sq_db_t *db;
	sqlite3_stmt *st;
} sq_stmt_t;

static sq_db_t *DB(ldb_t *db) { return (sq_db_t *)db; }
static sq_stmt_t *ST(ldb_stmt_t *st) { return (sq_stmt_t *)st; }

/* Record a failure of the last call: its message and whether a retry may help. */
static void note_failure(sq_db_t *d, int rc)
{
	int code = rc & 0xff;

	d->retryable = code == SQLITE_BUSY || code == SQLITE_LOCKED;
	snprintf(d->err, sizeof(d->err), "%s", sqlite3_errmsg(d->db));
}

static int result(sq_db_t *d, int rc)
{
	if (rc == SQLITE_ROW)
		return LDB_ROW;
	if (rc == SQLITE_DONE || rc == SQLITE_OK)
		return LDB_DONE;
	note_failure(d, rc);
	return (rc & 0xff) == SQLITE_CONSTRAINT ? LDB_CONSTRAINT : LDB_ERROR;
}

static int sq_exec(ldb_t *db, const char *sql)
{
	sq_db_t *d = DB(db);
	char *msg = NULL;
	int rc = sqlite3_exec(d->db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		d->retryable = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
		snprintf(d->err, sizeof(d->err), "%s", msg != NULL ? msg : sqlite3_errmsg(d->db));
	}
	sqlite3_free(msg);
	if (rc == SQLITE_OK)
		return LDB_OK;
	return (rc & 0xff) == SQLITE_CONSTRAINT ? LDB_CONSTRAINT : LDB_ERROR;
}

/* The version in the open transaction. */
static int user_version(sq_db_t *d, int *version)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(d->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
			 sqlite3_step(st) == SQLITE_ROW
		 ? LDB_OK
		 : LDB_ERROR;

	if (rc == LDB_OK)
		*version = sqlite3_column_int(st, 0);
	else
		snprintf(d->err, sizeof(d->err), "reading the schema version: %s", sqlite3_errmsg(d->db));
	sqlite3_finalize(st);
	return rc;
}

/* A version 2 ledger to version 3 (ldb_upgrade_2_3), or an empty file
 * to the schema, in one write transaction that reads the version again:
 * of two processes opening at once, the second finds the work done. No
 * statement may be open here: a read transaction left open would make
 * BEGIN IMMEDIATE fail at once instead of waiting (SQLITE_BUSY_SNAPSHOT). */
static int schema_write(sq_db_t *d, int from)
{
	int version = 0, rc = sq_exec(&d->base, "BEGIN IMMEDIATE;");

	if (rc == LDB_OK)
		rc = user_version(d, &version);
	if (rc == LDB_OK && version == from)
		rc = sq_exec(&d->base, from == 0 ? ldb_sqlite_schema : ldb_upgrade_2_3);
	if (rc == LDB_OK && version == from && from == 2)
		rc = sq_exec(&d->base, "PRAGMA user_version = 3;");
	if (rc == LDB_OK)
		rc = sq_exec(&d->base, "COMMIT;");
	if (rc != LDB_OK)
		sqlite3_exec(d->db, "ROLLBACK;", NULL, NULL, NULL);
	return rc;
}

/* The schema version: create the schema in an empty file when asked. */
static int configure(sq_db_t *d, bool create, char *err, size_t err_len)
{
	int version = 0;

	sqlite3_busy_timeout(d->db, BUSY_TIMEOUT_MS);
	/* WAL so that readers never block the writer; FULL so that a commit
	 * that returned is on disk (a debit must not vanish in a crash). */
	if (sq_exec(&d->base, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;") != LDB_OK) {
		snprintf(err, err_len, "setting up: %s", d->err);
		return LDB_OPEN_ERROR;
	}
	if (user_version(d, &version) != LDB_OK) {
		snprintf(err, err_len, "%s", d->err);
		return LDB_OPEN_ERROR;
	}
	if ((version == 2 || (version == 0 && create)) && schema_write(d, version) != LDB_OK) {
		snprintf(err, err_len, "%s the schema: %s", version == 2 ? "upgrading" : "creating", d->err);
		return LDB_OPEN_ERROR;
	}
	if (version == 2 || (version == 0 && create))
		version = LDB_SCHEMA_VERSION;
	if (version != LDB_SCHEMA_VERSION) {
		snprintf(err, err_len, "schema version %d, this program knows %d%s", version, LDB_SCHEMA_VERSION,
			 version == 0 ? " (not an issuer ledger)" : "");
		return LDB_OPEN_ERROR;
	}
	return LDB_OPEN_OK;
}

static void sq_close(ldb_t *db)
{
	if (db == NULL)
		return;
	sqlite3_close(DB(db)->db);
	free(db);
}

static int sq_open(const char *path, bool create, ldb_t **out, char *err, size_t err_len)
{
	sq_db_t *d = calloc(1, sizeof(*d));
	int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
	struct stat st;
	int rc = LDB_OPEN_ERROR;

	*out = NULL;
	if (d == NULL) {
		snprintf(err, err_len, "out of memory");
		return LDB_OPEN_ERROR;
	}
	d->base.drv = &ldb_sqlite_driver;
	if (!create && stat(path, &st) != 0) {
		snprintf(err, err_len, "%s", strerror(errno));
		rc = LDB_OPEN_MISSING;
		goto out;
	}
	if (sqlite3_open_v2(path, &d->db, flags, NULL) != SQLITE_OK) {
		snprintf(err, err_len, "open: %s", d->db != NULL ? sqlite3_errmsg(d->db) : "out of memory");
		goto out;
	}
	rc = configure(d, create, err, err_len);
	if (rc != LDB_OPEN_OK)
		goto out;
	if (create)
		(void)chmod(path, 0600);
	*out = &d->base;
	d = NULL;
out:
	if (d != NULL)
		sq_close(&d->base);
	return rc;
}

static int sq_prepare(ldb_t *db, const char *sql, ldb_stmt_t **out)
{
	sq_db_t *d = DB(db);
	sq_stmt_t *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (s == NULL) {
		snprintf(d->err, sizeof(d->err), "out of memory");
		return LDB_ERROR;
	}
	rc = sqlite3_prepare_v3(d->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st, NULL);
	if (rc != SQLITE_OK) {
		note_failure(d, rc);
		free(s);
		return LDB_ERROR;
	}
	s->base.drv = &ldb_sqlite_driver;
	s->db = d;
	*out = &s->base;
	return LDB_OK;
}

static void sq_finalize(ldb_stmt_t *st)
{
	if (st == NULL)
		return;
	sqlite3_finalize(ST(st)->st);
	free(st);
}

static void sq_reset(ldb_stmt_t *st)
{
	sqlite3_reset(ST(st)->st);
	sqlite3_clear_bindings(ST(st)->st);
}

/* Binds point into the caller's memory (SQLITE_STATIC): it binds and steps
 * in one function. */
static void sq_bind_int64(ldb_stmt_t *st, int i, int64_t v)
{
	sqlite3_bind_int64(ST(st)->st, i, v);
}

static void sq_bind_blob(ldb_stmt_t *st, int i, const void *p, size_t len)
{
	sqlite3_bind_blob(ST(st)->st, i, p, (int)len, SQLITE_STATIC);
}

static void sq_bind_text(ldb_stmt_t *st, int i, const char *s)
{
	sqlite3_bind_text(ST(st)->st, i, s, -1, SQLITE_STATIC);
}

static void sq_bind_null(ldb_stmt_t *st, int i)
{
	sqlite3_bind_null(ST(st)->st, i);
}

static int sq_step(ldb_stmt_t *st)
{
	return result(ST(st)->db, sqlite3_step(ST(st)->st));
}

static int64_t sq_col_int64(ldb_stmt_t *st, int col)
{
	return sqlite3_column_int64(ST(st)->st, col);
}

static const void *sq_col_blob(ldb_stmt_t *st, int col, size_t *len)
{
	const void *p = sqlite3_column_blob(ST(st)->st, col);

	*len = (size_t)sqlite3_column_bytes(ST(st)->st, col);
	return p;
}

static const char *sq_col_text(ldb_stmt_t *st, int col)
{
	const unsigned char *t = sqlite3_column_text(ST(st)->st, col);

	return t != NULL ? (const char *)t : "";
}

static bool sq_col_null(ldb_stmt_t *st, int col)
{
	return sqlite3_column_type(ST(st)->st, col) == SQLITE_NULL;
}

static int64_t sq_changes(ldb_t *db)
{
	return sqlite3_changes(DB(db)->db);
}

static int sq_begin(ldb_t *db, ldb_queue_t queue)
{
	(void)queue; /* BEGIN IMMEDIATE: every writer queues */
	return sq_exec(db, "BEGIN IMMEDIATE");
}

static bool sq_in_transaction(ldb_t *db)
{
	return sqlite3_get_autocommit(DB(db)->db) == 0;
}

static const char *sq_errmsg(ldb_t *db)
{
	return DB(db)->err[0] != '\0' ? DB(db)->err : sqlite3_errmsg(DB(db)->db);
}

static bool sq_retryable(ldb_t *db)
{
	return DB(db)->retryable;
}

static void sq_clear_error(ldb_t *db)
{
	DB(db)->retryable = false;
	DB(db)->err[0] = '\0';
}

const ldb_driver_t ldb_sqlite_driver = {
	.name = "sqlite",
	.row_locks = false,
	.arrays = false,
	.open = sq_open,
	.close = sq_close,
	.prepare = sq_prepare,
	.finalize = sq_finalize,
	.reset = sq_reset,
	.bind_int64 = sq_bind_int64,
	.bind_blob = sq_bind_blob,
	.bind_text = sq_bind_text,
	.bind_null = sq_bind_null,
	.step = sq_step,
	.step_later = sq_step,
	.col_int64 = sq_col_int64,
	.col_blob = sq_col_blob,
	.col_text = sq_col_text,
	.col_null = sq_col_null,
	.changes = sq_changes,
	.exec = sq_exec,
	.exec_later = sq_exec,
	.begin = sq_begin,
	.in_transaction = sq_in_transaction,
	.errmsg = sq_errmsg,
	.retryable = sq_retryable,
	.clear_error = sq_clear_error,
};
