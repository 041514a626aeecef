/* ledger.c - the ledger's handle over its database driver (SQLite or
 * PostgreSQL, ledger_db.h): opening, transactions and their retry, the
 * statement cache, meta values, accounts and their history. */
#include "config.h"
#include "issuer/ledger_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/rand.h>

int ldg_fail(ofp_ledger_t *l, int code, const char *fmt, ...)
{
	char msg[640];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(l->err, sizeof(l->err), "%s: %s", l->path, msg);
	return code;
}

int ldg_sql_fail(ofp_ledger_t *l, const char *what)
{
	return ldg_fail(l, OFP_LEDGER_ERROR, "%s: %s", what, l->db != NULL ? l->db->drv->errmsg(l->db) : "no database");
}

const char *ofp_ledger_error(const ofp_ledger_t *l)
{
	return l != NULL ? l->err : "no ledger";
}

ldb_stmt_t *ldg_stmt(ofp_ledger_t *l, const char *sql)
{
	size_t i;

	l->stats.statements++;
	for (i = 0; i < LEDGER_STMT_CACHE && l->cache[i].sql != NULL; i++) {
		if (l->cache[i].sql == sql) {
			ldb_reset(l->cache[i].stmt);
			return l->cache[i].stmt;
		}
	}
	if (i == LEDGER_STMT_CACHE) {
		ldg_fail(l, OFP_LEDGER_ERROR, "statement cache full");
		return NULL;
	}
	if (l->db->drv->prepare(l->db, sql, &l->cache[i].stmt) != LDB_OK) {
		ldg_sql_fail(l, "prepare");
		return NULL;
	}
	l->cache[i].sql = sql;
	return l->cache[i].stmt;
}

/* A write's step result as the ledger's: a constraint's refusal is REFUSED. */
static int exec_result(ofp_ledger_t *l, ldb_stmt_t *st, int rc, const char *what)
{
	ldb_reset(st);
	if (rc == LDB_DONE || rc == LDB_ROW)
		return OFP_LEDGER_OK;
	if (rc == LDB_CONSTRAINT)
		return ldg_fail(l, OFP_LEDGER_REFUSED, "%s: %s", what, l->db->drv->errmsg(l->db));
	return ldg_sql_fail(l, what);
}

int ldg_exec(ofp_ledger_t *l, ldb_stmt_t *st, const char *what)
{
	return exec_result(l, st, ldb_step(st), what);
}

int ldg_exec_later(ofp_ledger_t *l, ldb_stmt_t *st, const char *what)
{
	return exec_result(l, st, st->drv->step_later(st), what);
}

bool ldg_col_blob(ldb_stmt_t *st, int col, uint8_t *out, size_t len)
{
	size_t n = 0;
	const void *p = ldb_col_blob(st, col, &n);

	if (n != len || (p == NULL && len != 0))
		return false;
	if (len != 0)
		memcpy(out, p, len);
	return true;
}

bool ldg_col_blob_var(ldb_stmt_t *st, int col, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = 0;
	const void *p = ldb_col_blob(st, col, &n);

	if (n > cap || (p == NULL && n != 0))
		return false;
	if (n != 0)
		memcpy(out, p, n);
	*len = n;
	return true;
}

/* ---- open and close ----------------------------------------------------------- */

bool ldb_is_postgresql(const char *target)
{
	return strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0;
}

bool ofp_ledger_is_postgresql(const char *target)
{
	return ldb_is_postgresql(target);
}

/* The target as messages show it: a URL without its password (user:pw@)
 * and without its parameters (password=...). */
static void display_name(const char *target, char *out, size_t len)
{
	const char *scheme_end, *at, *slash, *colon;

	snprintf(out, len, "%s", target);
	if (!ldb_is_postgresql(target))
		return;
	out[strcspn(out, "?")] = '\0';
	scheme_end = strstr(out, "://") + 3;
	slash = strchr(scheme_end, '/');
	at = strchr(scheme_end, '@');
	if (at == NULL || (slash != NULL && at > slash))
		return;
	colon = memchr(scheme_end, ':', (size_t)(at - scheme_end));
	if (colon != NULL)
		memmove(out + (colon - out), at, strlen(at) + 1);
}

int ofp_ledger_open(const char *target, bool create, ofp_ledger_t **out, char *err, size_t err_len)
{
	const ldb_driver_t *drv = ldb_is_postgresql(target) ? &ldb_pg_driver : &ldb_sqlite_driver;
	ofp_ledger_t *l = calloc(1, sizeof(*l));
	char why[600];
	int orc;

	*out = NULL;
	if (l == NULL) {
		snprintf(err, err_len, "out of memory");
		return OFP_LEDGER_ERROR;
	}
	display_name(target, l->path, sizeof(l->path));
	orc = drv->open(target, create, &l->db, why, sizeof(why));
	if (orc != LDB_OPEN_OK) {
		ldg_fail(l, OFP_LEDGER_ERROR, "%s", why);
		snprintf(err, err_len, "%s", l->err);
		free(l);
		return orc == LDB_OPEN_MISSING ? OFP_LEDGER_NOT_FOUND : OFP_LEDGER_ERROR;
	}
	*out = l;
	return OFP_LEDGER_OK;
}

void ofp_ledger_close(ofp_ledger_t *l)
{
	if (l == NULL)
		return;
	ldg_memo_clear(l);
	for (size_t i = 0; i < LEDGER_STMT_CACHE; i++)
		if (l->cache[i].stmt != NULL)
			l->db->drv->finalize(l->cache[i].stmt);
	if (l->db != NULL)
		l->db->drv->close(l->db);
	free(l);
}

const char *ofp_ledger_backend(const ofp_ledger_t *l)
{
	return l->db->drv->name;
}

/* ---- transactions ----------------------------------------------------------------- */

int ofp_ledger_begin(ofp_ledger_t *l)
{
	return ofp_ledger_begin_queued(l, OFP_LEDGER_QUEUE_NONE);
}

int ofp_ledger_begin_queued(ofp_ledger_t *l, ofp_ledger_queue_t queue)
{
	ldb_queue_t q = queue == OFP_LEDGER_QUEUE_ISSUANCE	       ? LDB_QUEUE_ISSUANCE
			: queue == OFP_LEDGER_QUEUE_SETTLEMENT	       ? LDB_QUEUE_SETTLEMENT
			: queue == OFP_LEDGER_QUEUE_ISSUANCE_BARRIER ? LDB_QUEUE_ISSUANCE_BARRIER
			: queue == OFP_LEDGER_QUEUE_ACCOUNT	       ? LDB_QUEUE_ACCOUNT
								       : LDB_QUEUE_NONE;
	int rc;

	l->retry_pending = false;
	l->db->drv->clear_error(l->db);
	ldg_memo_clear(l);
	/* PostgreSQL only warns about a BEGIN inside a transaction: a nested
	 * begin is a caller's error on both. */
	if (l->db->drv->in_transaction(l->db))
		return ldg_fail(l, OFP_LEDGER_ERROR, "begin: a transaction is open already");
	l->stats.transactions++;
	l->stats.statements += q == LDB_QUEUE_NONE ? 1 : 2;
	if (l->db->drv->begin(l->db, q) == LDB_OK)
		return OFP_LEDGER_OK;
	rc = ldg_sql_fail(l, "begin");
	/* BEGIN went through and the lock did not (a deadlock, a lost
	 * connection): nothing to keep. */
	if (l->db->drv->in_transaction(l->db))
		ofp_ledger_rollback(l);
	else if (l->db->drv->retryable(l->db))
		l->stats.conflicts++;
	return rc;
}

int ofp_ledger_commit(ofp_ledger_t *l)
{
	int rc = l->db->drv->exec(l->db, "COMMIT");

	ldg_memo_clear(l);
	l->stats.statements++;
	if (rc == LDB_OK) {
		l->stats.commits++;
		return OFP_LEDGER_OK;
	}
	rc = rc == LDB_CONSTRAINT ? ldg_fail(l, OFP_LEDGER_REFUSED, "commit: %s", l->db->drv->errmsg(l->db))
				  : ldg_sql_fail(l, "commit");
	ofp_ledger_rollback(l);
	return rc;
}

void ofp_ledger_rollback(ofp_ledger_t *l)
{
	ldg_memo_clear(l);
	if (l->db->drv->in_transaction(l->db)) {
		/* Keep the failure that led here (its retryable flag and text). */
		bool again = l->db->drv->retryable(l->db);
		(void)l->db->drv->exec(l->db, "ROLLBACK");
		l->stats.statements++;
		if (again) {
			l->retry_pending = true;
			l->stats.conflicts++;
		}
	}
}

static int unit_exec(ofp_ledger_t *l, const char *sql, const char *what)
{
	int rc = l->db->drv->exec(l->db, sql);

	l->stats.statements++;
	if (rc == LDB_OK)
		return OFP_LEDGER_OK;
	return rc == LDB_CONSTRAINT ? ldg_fail(l, OFP_LEDGER_REFUSED, "%s: %s", what, l->db->drv->errmsg(l->db))
				    : ldg_sql_fail(l, what);
}

int ofp_ledger_savepoint(ofp_ledger_t *l)
{
	/* With the unit's first statement (a failed savepoint fails it). */
	int rc = l->db->drv->exec_later(l->db, "SAVEPOINT unit");

	l->stats.statements++;
	return rc == LDB_OK ? OFP_LEDGER_OK : ldg_sql_fail(l, "savepoint");
}

int ofp_ledger_release(ofp_ledger_t *l)
{
	/* With the next statement, as the savepoint: a failed release fails
	 * what comes after it (the next unit, or the COMMIT), and a unit's
	 * waiter hears nothing before the COMMIT anyway. */
	int rc;

	if (!l->db->drv->in_transaction(l->db))
		return ldg_fail(l, OFP_LEDGER_ERROR, "release savepoint: no transaction is open");
	rc = l->db->drv->exec_later(l->db, "RELEASE unit");
	l->stats.statements++;
	return rc == LDB_OK ? OFP_LEDGER_OK : ldg_sql_fail(l, "release savepoint");
}

int ofp_ledger_rollback_to(ofp_ledger_t *l)
{
	int rc = unit_exec(l, "ROLLBACK TO unit", "rollback to savepoint");

	/* The unit may have written what the memo holds. */
	ldg_memo_clear(l);
	return rc == OFP_LEDGER_OK ? ofp_ledger_release(l) : rc;
}

void ofp_ledger_stats(const ofp_ledger_t *l, ofp_ledger_stats_t *out)
{
	*out = l->stats;
	out->round_trips = l->db->round_trips;
}

bool ofp_ledger_retryable(const ofp_ledger_t *l)
{
	return l->retry_pending || l->db->drv->retryable(l->db);
}

void ofp_ledger_backoff(unsigned attempt)
{
	/* 1, 2, 4 ... 256 ms, times a random factor in [0.5, 1.5): the
	 * transactions that collided do not collide again in step; at most
	 * about 2.5 s over all the tries of a loaded server. */
	unsigned base_us = 1000u << (attempt < 8 ? attempt : 8);
	uint16_t r = 0;
	struct timespec ts;
	unsigned us;

	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = 0x8000;
	us = base_us / 2 + (unsigned)(((uint64_t)base_us * r) >> 16);
	ts.tv_sec = us / 1000000;
	ts.tv_nsec = (long)(us % 1000000) * 1000;
	nanosleep(&ts, NULL);
}

int ofp_ledger_transact(ofp_ledger_t *l, int (*body)(ofp_ledger_t *l, void *ctx), void *ctx)
{
	int rc = OFP_LEDGER_ERROR;

	for (unsigned attempt = 0; attempt < OFP_LEDGER_TRIES; attempt++) {
		if (attempt > 0)
			ofp_ledger_backoff(attempt - 1);
		l->retry_pending = false;
		rc = ofp_ledger_begin(l);
		if (rc == OFP_LEDGER_OK)
			rc = body(l, ctx);
		if (rc == OFP_LEDGER_OK)
			rc = ofp_ledger_commit(l);
		if (rc == OFP_LEDGER_OK)
			return rc;
		ofp_ledger_rollback(l);
		if (!ofp_ledger_retryable(l))
			return rc;
	}
	return rc;
}

/* ---- meta values and blobs -------------------------------------------------------- */

int ofp_ledger_meta_get(ofp_ledger_t *l, const char *name, int64_t *value)
{
	static const char sql[] = "SELECT value FROM meta WHERE name = ?1";
	ldb_stmt_t *st = ldg_stmt(l, sql);
	int rc;

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_text(st, 1, name);
	rc = ldb_step(st);
	*value = rc == LDB_ROW ? ldb_col_int64(st, 0) : 0;
	ldb_reset(st);
	return rc == LDB_ROW || rc == LDB_DONE ? OFP_LEDGER_OK : ldg_sql_fail(l, name);
}

int ofp_ledger_meta_set(ofp_ledger_t *l, const char *name, int64_t value)
{
	static const char sql[] = "INSERT INTO meta(name, value) VALUES(?1, ?2) "
				  "ON CONFLICT(name) DO UPDATE SET value = excluded.value";
	ldb_stmt_t *st = ldg_stmt(l, sql);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_text(st, 1, name);
	ldb_bind_int64(st, 2, value);
	return ldg_exec(l, st, name);
}

int ofp_ledger_blob_get(ofp_ledger_t *l, const char *name, uint8_t **value, size_t *len)
{
	static const char sql[] = "SELECT value FROM blobs WHERE name = ?1";
	ldb_stmt_t *st = ldg_stmt(l, sql);
	const void *p;
	int rc;

	*value = NULL;
	*len = 0;
	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_text(st, 1, name);
	rc = ldb_step(st);
	if (rc == LDB_DONE) {
		ldb_reset(st);
		return ldg_fail(l, OFP_LEDGER_NOT_FOUND, "%s: none stored", name);
	}
	if (rc != LDB_ROW) {
		ldb_reset(st);
		return ldg_sql_fail(l, name);
	}
	p = ldb_col_blob(st, 0, len);
	*value = malloc(*len + 1);
	if (*value != NULL && *len > 0)
		memcpy(*value, p, *len);
	ldb_reset(st);
	return *value != NULL ? OFP_LEDGER_OK : ldg_fail(l, OFP_LEDGER_ERROR, "%s: out of memory", name);
}

int ofp_ledger_blob_set(ofp_ledger_t *l, const char *name, const uint8_t *value, size_t len)
{
	static const char sql[] = "INSERT INTO blobs(name, value) VALUES(?1, ?2) "
				  "ON CONFLICT(name) DO UPDATE SET value = excluded.value";
	ldb_stmt_t *st = ldg_stmt(l, sql);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_text(st, 1, name);
	ldb_bind_blob(st, 2, value, len);
	return ldg_exec(l, st, name);
}

/* ---- accounts ----------------------------------------------------------------------- */

bool ofp_account_name_valid(const char *name)
{
	size_t len = strlen(name), hex = 0;

	if (len == 0 || len > OFP_ACCOUNT_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  strchr("._@+-", c) != NULL;
		if (!ok)
			return false;
		hex += (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
	}
	return !(len == 2 * OFP_ID_LEN && hex == len);
}

#define ACCOUNT_COLUMNS LDG_ACCOUNT_COLUMNS

void ldg_account_row(ldb_stmt_t *st, int base, ofp_account_t *a)
{
	memset(a, 0, sizeof(*a));
	a->id = ldb_col_int64(st, base);
	snprintf(a->name, sizeof(a->name), "%s", ldb_col_text(st, base + 1));
	(void)ldg_col_blob(st, base + 2, a->holder_id, OFP_ID_LEN);
	a->balance = ldb_col_int64(st, base + 3);
	a->credit_line = ldb_col_int64(st, base + 4);
	a->flagged = ldb_col_int64(st, base + 5) != 0;
	a->opened = (uint32_t)ldb_col_int64(st, base + 6);
}

static void account_row(ldb_stmt_t *st, ofp_account_t *a)
{
	ldg_account_row(st, 0, a);
}

/* One account row from a statement with bound parameters; what names it. */
static int account_fetch(ofp_ledger_t *l, ldb_stmt_t *st, const char *what, ofp_account_t *out)
{
	int rc = ldb_step(st);

	if (rc == LDB_ROW)
		account_row(st, out);
	ldb_reset(st);
	if (rc == LDB_ROW)
		return OFP_LEDGER_OK;
	if (rc == LDB_DONE)
		return ldg_fail(l, OFP_LEDGER_NOT_FOUND, "%s: no such account", what);
	return ldg_sql_fail(l, what);
}

int ofp_ledger_account_get(ofp_ledger_t *l, const char *name, ofp_account_t *out)
{
	static const char sql[] = "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE name = ?1";
	ldb_stmt_t *st = ldg_stmt(l, sql);
	char what[OFP_ACCOUNT_NAME_MAX + 16];

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	snprintf(what, sizeof(what), "account '%.64s'", name);
	ldb_bind_text(st, 1, name);
	return account_fetch(l, st, what, out);
}

static int account_by_holder(ofp_ledger_t *l, const uint8_t holder_id[OFP_ID_LEN], bool lock, ofp_account_t *out)
{
	static const char sql[] = "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE holder_id = ?1";
	static const char sql_lock[] = "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE holder_id = ?1 FOR UPDATE";
	ldb_stmt_t *st = ldg_stmt(l, lock && l->db->drv->row_locks ? sql_lock : sql);
	char what[64] = "holder ";

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	for (size_t i = 0; i < OFP_ID_LEN; i++)
		snprintf(what + 7 + 2 * i, 3, "%02x", holder_id[i]);
	ldb_bind_blob(st, 1, holder_id, OFP_ID_LEN);
	return account_fetch(l, st, what, out);
}

int ofp_ledger_account_by_holder(ofp_ledger_t *l, const uint8_t holder_id[OFP_ID_LEN], ofp_account_t *out)
{
	return account_by_holder(l, holder_id, false, out);
}

int ofp_ledger_account_by_holder_locked(ofp_ledger_t *l, const uint8_t holder_id[OFP_ID_LEN], ofp_account_t *out)
{
	return account_by_holder(l, holder_id, true, out);
}

int ofp_ledger_account_lock(ofp_ledger_t *l, int64_t account_id)
{
	static const char sql[] = "SELECT id FROM accounts WHERE id = ?1 FOR UPDATE";
	ldb_stmt_t *st;

	if (!l->db->drv->row_locks)
		return OFP_LEDGER_OK;
	st = ldg_stmt(l, sql);
	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_int64(st, 1, account_id);
	return ldg_exec(l, st, "account lock");
}

/* The row lock of holder_id's account, sent ahead of the next statement
 * (one round trip for both). A statement of its own: at READ COMMITTED
 * the next statement takes its snapshot after the lock is granted, so it
 * reads every table as the previous holder of the lock committed it (a
 * join that waited for a row lock would see the other tables as they
 * were before the wait). */
static int lock_holder_account(ofp_ledger_t *l, const uint8_t holder_id[OFP_ID_LEN])
{
	static const char sql[] = "SELECT id FROM accounts WHERE holder_id = ?1 FOR UPDATE";
	ldb_stmt_t *st;

	if (!l->db->drv->row_locks)
		return OFP_LEDGER_OK;
	st = ldg_stmt(l, sql);
	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_blob(st, 1, holder_id, OFP_ID_LEN);
	return ldg_exec_later(l, st, "account lock");
}

int ofp_ledger_holder_standing(ofp_ledger_t *l, const uint8_t holder_id[OFP_ID_LEN],
			       const uint8_t deny_entry[OFP_DENY_ENTRY_LEN], const uint8_t *holder_key, size_t key_len,
			       ofp_holder_standing_t *out)
{
	static const char sql[] = "SELECT " ACCOUNT_COLUMNS ", "
				  "(SELECT CAST(count(*) AS BIGINT) FROM denied WHERE entry = ?2), "
				  "(SELECT serial FROM revoked_keys WHERE holder_key = ?3), "
				  "(SELECT account FROM holder_keys WHERE holder_key = ?3) "
				  "FROM accounts WHERE holder_id = ?1";
	ldb_stmt_t *st;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = lock_holder_account(l, holder_id);
	if (rc != OFP_LEDGER_OK)
		return rc;
	st = ldg_stmt(l, sql);
	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_blob(st, 1, holder_id, OFP_ID_LEN);
	ldb_bind_blob(st, 2, deny_entry, OFP_DENY_ENTRY_LEN);
	ldb_bind_blob(st, 3, holder_key, key_len);
	rc = ldb_step(st);
	if (rc == LDB_ROW) {
		account_row(st, &out->account);
		out->denied = ldb_col_int64(st, 7) != 0;
		out->revoked_serial = ldb_col_null(st, 8) ? 0 : (uint64_t)ldb_col_int64(st, 8);
		out->key_enrolled = !ldb_col_null(st, 9);
		out->key_owner = ldb_col_int64(st, 9);
	}
	ldb_reset(st);
	if (rc == LDB_ROW)
		return OFP_LEDGER_OK;
	return rc == LDB_DONE ? OFP_LEDGER_NOT_FOUND : ldg_sql_fail(l, "holder");
}

static int insert_account(ofp_ledger_t *l, const char *name, const uint8_t holder_id[OFP_ID_LEN], uint32_t now)
{
	static const char sql[] = "INSERT INTO accounts(name, holder_id, balance, credit_line, opened) "
				  "VALUES(?1, ?2, 0, 0, ?3)";
	ldb_stmt_t *st = ldg_stmt(l, sql);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_text(st, 1, name);
	ldb_bind_blob(st, 2, holder_id, OFP_ID_LEN);
	ldb_bind_int64(st, 3, now);
	return ldg_exec(l, st, "new account");
}

int ofp_ledger_account_create(ofp_ledger_t *l, const char *name, uint32_t now, ofp_account_t *out)
{
	uint8_t holder_id[OFP_ID_LEN];
	ofp_account_t a;
	int rc;

	if (!ofp_account_name_valid(name))
		return ldg_fail(l, OFP_LEDGER_REFUSED,
				"account name '%.64s': use 1..64 of A-Z a-z 0-9 . _ @ + -, not 16 hex digits", name);
	rc = ofp_ledger_account_get(l, name, &a);
	if (rc == OFP_LEDGER_OK)
		return ldg_fail(l, OFP_LEDGER_REFUSED, "account '%s': exists already", name);
	if (rc != OFP_LEDGER_NOT_FOUND)
		return rc;
	/* A random id collides with one in 2^64 / accounts: retry a few times. */
	for (int tries = 0; tries < 8; tries++) {
		if (RAND_bytes(holder_id, sizeof(holder_id)) != 1)
			return ldg_fail(l, OFP_LEDGER_ERROR, "RAND_bytes failed");
		rc = insert_account(l, name, holder_id, now);
		if (rc != OFP_LEDGER_REFUSED)
			break;
	}
	if (rc != OFP_LEDGER_OK)
		return rc;
	rc = ofp_ledger_account_get(l, name, &a);
	if (rc == OFP_LEDGER_OK)
		rc = ofp_ledger_note(l, &a, "open", 0, "", now);
	if (rc == OFP_LEDGER_OK && out != NULL)
		*out = a;
	return rc;
}

/* The arguments of an account change run by ofp_ledger_transact. */
typedef struct account_tx {
	const char *name;
	int64_t amount;
	uint32_t now;
	ofp_account_t a; /* the account after the change */
} account_tx_t;

static int account_open_body(ofp_ledger_t *l, void *ctx)
{
	account_tx_t *t = ctx;

	return ofp_ledger_account_create(l, t->name, t->now, &t->a);
}

int ofp_ledger_account_open(ofp_ledger_t *l, const char *name, uint32_t now, ofp_account_t *out)
{
	account_tx_t t = { .name = name, .now = now };
	int rc = ofp_ledger_transact(l, account_open_body, &t);

	if (rc == OFP_LEDGER_OK && out != NULL)
		*out = t.a;
	return rc;
}

static int history_add(ofp_ledger_t *l, int64_t account, uint32_t now, const char *kind, int64_t amount,
		       int64_t balance, const char *ref)
{
	static const char sql[] = "INSERT INTO history(account, time, kind, amount, balance, ref) "
				  "VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
	ldb_stmt_t *st = ldg_stmt(l, sql);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_int64(st, 1, account);
	ldb_bind_int64(st, 2, now);
	ldb_bind_text(st, 3, kind);
	ldb_bind_int64(st, 4, amount);
	ldb_bind_int64(st, 5, balance);
	ldb_bind_text(st, 6, ref != NULL ? ref : "");
	return ldg_exec_later(l, st, "history");
}

int ofp_ledger_note(ofp_ledger_t *l, const ofp_account_t *a, const char *kind, int64_t amount, const char *ref,
		    uint32_t now)
{
	return history_add(l, a->id, now, kind, amount, a->balance, ref);
}

/* The balance after delta, or REFUSED when it would leave the ledger's
 * range. Both are within +-10^15, so the sum cannot overflow; it is
 * checked anyway in case a caller passes an unchecked delta. */
static int balance_after(ofp_ledger_t *l, const ofp_account_t *a, int64_t delta, int64_t *balance)
{
	if (__builtin_add_overflow(a->balance, delta, balance) || *balance > OFP_AMOUNT_MAX ||
	    *balance < -OFP_AMOUNT_MAX)
		return ldg_fail(l, OFP_LEDGER_REFUSED,
				"account '%s': balance %" PRId64 " %+" PRId64 " leaves the ledger's range (+-%lld)",
				a->name, a->balance, delta, (long long)OFP_AMOUNT_MAX);
	return OFP_LEDGER_OK;
}

/* The held form, then the balance written: the one UPDATE is
 * ofp_ledger_account_store_balance's. */
int ofp_ledger_account_apply(ofp_ledger_t *l, ofp_account_t *a, int64_t delta, const char *kind, const char *ref,
			     uint32_t now)
{
	int64_t before = a->balance;
	int rc = ofp_ledger_account_apply_held(l, a, delta, kind, ref, now);

	if (rc == OFP_LEDGER_OK) {
		rc = ofp_ledger_account_store_balance(l, a);
		if (rc != OFP_LEDGER_OK)
			a->balance = before;
	}
	return rc;
}

int ofp_ledger_account_apply_held(ofp_ledger_t *l, ofp_account_t *a, int64_t delta, const char *kind,
				  const char *ref, uint32_t now)
{
	int64_t balance;
	int rc;

	if (balance_after(l, a, delta, &balance) != OFP_LEDGER_OK)
		return OFP_LEDGER_REFUSED;
	rc = history_add(l, a->id, now, kind, delta, balance, ref);
	if (rc == OFP_LEDGER_OK)
		a->balance = balance;
	return rc;
}

int ofp_ledger_account_store_balance(ofp_ledger_t *l, const ofp_account_t *a)
{
	static const char sql[] = "UPDATE accounts SET balance = ?2 WHERE id = ?1";
	ldb_stmt_t *st = ldg_stmt(l, sql);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_int64(st, 1, a->id);
	ldb_bind_int64(st, 2, a->balance);
	return ldg_exec_later(l, st, "balance");
}

int ofp_ledger_account_flag(ofp_ledger_t *l, ofp_account_t *a)
{
	static const char sql[] = "UPDATE accounts SET flagged = 1 WHERE id = ?1";
	ldb_stmt_t *st = ldg_stmt(l, sql);
	int rc;

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_int64(st, 1, a->id);
	rc = ldg_exec_later(l, st, "flag");
	if (rc == OFP_LEDGER_OK)
		a->flagged = true;
	return rc;
}

static int credit_body(ofp_ledger_t *l, void *ctx)
{
	account_tx_t *t = ctx;
	int rc = ofp_ledger_account_get(l, t->name, &t->a);

	return rc == OFP_LEDGER_OK ? ofp_ledger_account_apply(l, &t->a, t->amount, "credit", "", t->now) : rc;
}

int ofp_ledger_credit(ofp_ledger_t *l, const char *name, int64_t amount, uint32_t now, ofp_account_t *out)
{
	account_tx_t t = { .name = name, .amount = amount, .now = now };
	int rc;

	if (amount < 1 || amount > OFP_AMOUNT_MAX)
		return ldg_fail(l, OFP_LEDGER_REFUSED, "credit of %" PRId64 ": amounts are 1..%lld", amount,
				(long long)OFP_AMOUNT_MAX);
	rc = ofp_ledger_transact(l, credit_body, &t);
	if (rc == OFP_LEDGER_OK && out != NULL)
		*out = t.a;
	return rc;
}

static int credit_line_body(ofp_ledger_t *l, void *ctx)
{
	static const char sql[] = "UPDATE accounts SET credit_line = ?2 WHERE id = ?1";
	account_tx_t *t = ctx;
	ldb_stmt_t *st;
	int rc = ofp_ledger_account_get(l, t->name, &t->a);

	if (rc != OFP_LEDGER_OK)
		return rc;
	st = ldg_stmt(l, sql);
	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_int64(st, 1, t->a.id);
	ldb_bind_int64(st, 2, t->amount);
	rc = ldg_exec(l, st, "credit line");
	if (rc != OFP_LEDGER_OK)
		return rc;
	t->a.credit_line = t->amount;
	return ofp_ledger_note(l, &t->a, "credit-line", t->amount, "", t->now);
}

int ofp_ledger_set_credit_line(ofp_ledger_t *l, const char *name, int64_t amount, uint32_t now, ofp_account_t *out)
{
	account_tx_t t = { .name = name, .amount = amount, .now = now };
	int rc;

	if (amount < 0 || amount > OFP_AMOUNT_MAX)
		return ldg_fail(l, OFP_LEDGER_REFUSED, "credit line of %" PRId64 ": must be 0..%lld", amount,
				(long long)OFP_AMOUNT_MAX);
	rc = ofp_ledger_transact(l, credit_line_body, &t);
	if (rc == OFP_LEDGER_OK && out != NULL)
		*out = t.a;
	return rc;
}

int ofp_ledger_history(ofp_ledger_t *l, const char *name, int (*cb)(void *ctx, const ofp_history_entry_t *e),
		       void *ctx)
{
	static const char sql[] = "SELECT time, kind, amount, balance, ref FROM history "
				  "WHERE account = ?1 ORDER BY id";
	ofp_history_entry_t e;
	ofp_account_t a;
	ldb_stmt_t *st;
	int rc = ofp_ledger_account_get(l, name, &a);

	if (rc != OFP_LEDGER_OK)
		return rc;
	st = ldg_stmt(l, sql);
	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_int64(st, 1, a.id);
	while ((rc = ldb_step(st)) == LDB_ROW) {
		memset(&e, 0, sizeof(e));
		e.time = (uint32_t)ldb_col_int64(st, 0);
		snprintf(e.kind, sizeof(e.kind), "%s", ldb_col_text(st, 1));
		e.amount = ldb_col_int64(st, 2);
		e.balance = ldb_col_int64(st, 3);
		snprintf(e.ref, sizeof(e.ref), "%s", ldb_col_text(st, 4));
		if (cb(ctx, &e) != 0) {
			rc = LDB_DONE;
			break;
		}
	}
	ldb_reset(st);
	return rc == LDB_DONE ? OFP_LEDGER_OK : ldg_sql_fail(l, "history");
}
