/* ledger.c - the SQLite file: opening, schema, transactions, the
 * statement cache, meta values, accounts and their history. */
#include "config.h"
#include "issuer/ledger_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/rand.h>

#define SCHEMA_VERSION 2
#define BUSY_TIMEOUT_MS 10000

/* Bounds are also CHECK constraints, so that no code path (nor a hand
 * edit through sqlite3) stores an amount the code would not. */
static const char schema[] =
	"CREATE TABLE meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"CREATE TABLE blobs(name TEXT PRIMARY KEY, value BLOB NOT NULL);"
	"CREATE TABLE accounts("
	" id INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL UNIQUE,"
	" holder_id BLOB NOT NULL UNIQUE CHECK(length(holder_id) = 8),"
	" balance INTEGER NOT NULL CHECK(balance BETWEEN -1000000000000000 AND 1000000000000000),"
	" credit_line INTEGER NOT NULL CHECK(credit_line BETWEEN 0 AND 1000000000000000),"
	" flagged INTEGER NOT NULL DEFAULT 0,"
	" opened INTEGER NOT NULL);"
	"CREATE TABLE history("
	" id INTEGER PRIMARY KEY,"
	" account INTEGER NOT NULL REFERENCES accounts(id),"
	" time INTEGER NOT NULL,"
	" kind TEXT NOT NULL,"
	" amount INTEGER NOT NULL,"
	" balance INTEGER NOT NULL,"
	" ref TEXT NOT NULL);"
	"CREATE INDEX history_account ON history(account, id);"
	"CREATE TABLE issuer_keys("
	" n INTEGER NOT NULL,"
	" usage INTEGER NOT NULL CHECK(usage IN (1, 2)),"
	" label TEXT NOT NULL UNIQUE,"
	" cka_id BLOB NOT NULL,"
	" kid BLOB NOT NULL UNIQUE CHECK(length(kid) = 4),"
	" alg INTEGER NOT NULL,"
	" public_key BLOB NOT NULL,"
	" not_before INTEGER NOT NULL,"
	" not_after INTEGER NOT NULL CHECK(not_after > not_before),"
	" PRIMARY KEY(usage, n));"
	"CREATE TABLE credentials("
	" serial INTEGER PRIMARY KEY AUTOINCREMENT,"
	" holder_id BLOB NOT NULL,"
	" holder_alg INTEGER NOT NULL,"
	" holder_key BLOB NOT NULL,"
	" issuer_kid BLOB NOT NULL,"
	" not_before INTEGER NOT NULL,"
	" not_after INTEGER NOT NULL,"
	" issued_at INTEGER NOT NULL,"
	" offline_total INTEGER NOT NULL CHECK(offline_total >= 0),"
	" replaced INTEGER NOT NULL DEFAULT 0,"
	" credential BLOB);"
	"CREATE INDEX credentials_holder ON credentials(holder_id, not_after);"
	/* One code per account at a time, kept as its HKDF key (FORMAT.md):
	 * never the code itself. */
	"CREATE TABLE enrollment_codes("
	" account INTEGER PRIMARY KEY REFERENCES accounts(id),"
	" code_key BLOB NOT NULL CHECK(length(code_key) = 32),"
	" created INTEGER NOT NULL,"
	" expires INTEGER NOT NULL,"
	" tries INTEGER NOT NULL DEFAULT 0 CHECK(tries >= 0),"
	" used INTEGER);"
	/* Keys a code has enrolled: each belongs to one account for good. */
	"CREATE TABLE holder_keys("
	" holder_key BLOB PRIMARY KEY,"
	" account INTEGER NOT NULL REFERENCES accounts(id),"
	" alg INTEGER NOT NULL,"
	" enrolled INTEGER NOT NULL);"
	"CREATE TABLE revoked_keys("
	" holder_key BLOB PRIMARY KEY,"
	" serial INTEGER NOT NULL,"
	" added INTEGER NOT NULL);"
	"CREATE TABLE gates("
	" verifier_id BLOB PRIMARY KEY CHECK(length(verifier_id) = 8),"
	" alg INTEGER NOT NULL,"
	" public_key BLOB NOT NULL,"
	" kid BLOB NOT NULL CHECK(length(kid) = 4),"
	" added INTEGER NOT NULL);"
	"CREATE TABLE batches("
	" verifier_id BLOB NOT NULL,"
	" sequence INTEGER NOT NULL CHECK(sequence >= 1),"
	" digest BLOB NOT NULL,"
	" first_prev BLOB NOT NULL,"
	" last_hash BLOB NOT NULL,"
	" records INTEGER NOT NULL,"
	" settled_at INTEGER NOT NULL,"
	" period_end INTEGER NOT NULL,"
	" PRIMARY KEY(verifier_id, sequence));"
	/* A ride is its signed authorization: one charge per auth_hash. */
	"CREATE TABLE charges("
	" holder_id BLOB NOT NULL,"
	" counter INTEGER NOT NULL,"
	" verifier_id BLOB NOT NULL,"
	" batch INTEGER NOT NULL,"
	" amount INTEGER NOT NULL CHECK(amount >= 0),"
	" serial INTEGER NOT NULL,"
	" time INTEGER NOT NULL,"
	" auth_hash BLOB NOT NULL UNIQUE CHECK(length(auth_hash) = 32),"
	" holder_key BLOB NOT NULL);"
	"CREATE INDEX charges_key ON charges(holder_key, counter);"
	"CREATE INDEX charges_serial ON charges(serial, verifier_id);"
	/* copy: the same authorization again (not charged); counter-reuse: the
	 * same key and counter over other contents (charged, flagged). */
	"CREATE TABLE double_uses("
	" id INTEGER PRIMARY KEY,"
	" holder_id BLOB NOT NULL,"
	" counter INTEGER NOT NULL,"
	" verifier_id BLOB NOT NULL,"
	" batch INTEGER NOT NULL,"
	" amount INTEGER NOT NULL,"
	" serial INTEGER NOT NULL,"
	" time INTEGER NOT NULL,"
	" auth_hash BLOB NOT NULL,"
	" holder_key BLOB NOT NULL,"
	" kind TEXT NOT NULL CHECK(kind IN ('copy', 'counter-reuse')),"
	" found_at INTEGER NOT NULL);"
	"CREATE INDEX double_uses_holder ON double_uses(holder_id);"
	"CREATE TABLE denied("
	" entry BLOB PRIMARY KEY CHECK(length(entry) = 9),"
	" added INTEGER NOT NULL);"
	"PRAGMA user_version = 2;";

int ldg_fail(ofp_ledger_t *l, int code, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(l->err, sizeof(l->err), "%s: %s", l->path, msg);
	return code;
}

int ldg_sql_fail(ofp_ledger_t *l, const char *what)
{
	return ldg_fail(l, OFP_LEDGER_ERROR, "%s: %s", what, l->db != NULL ? sqlite3_errmsg(l->db) : "no database");
}

const char *ofp_ledger_error(const ofp_ledger_t *l)
{
	return l != NULL ? l->err : "no ledger";
}

sqlite3_stmt *ldg_stmt(ofp_ledger_t *l, const char *sql)
{
	size_t i;

	for (i = 0; i < LEDGER_STMT_CACHE && l->cache[i].sql != NULL; i++) {
		if (l->cache[i].sql == sql) {
			sqlite3_reset(l->cache[i].stmt);
			sqlite3_clear_bindings(l->cache[i].stmt);
			return l->cache[i].stmt;
		}
	}
	if (i == LEDGER_STMT_CACHE) {
		ldg_fail(l, OFP_LEDGER_ERROR, "statement cache full");
		return NULL;
	}
	if (sqlite3_prepare_v3(l->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &l->cache[i].stmt, NULL) != SQLITE_OK) {
		ldg_sql_fail(l, "prepare");
		return NULL;
	}
	l->cache[i].sql = sql;
	return l->cache[i].stmt;
}

int ldg_exec(ofp_ledger_t *l, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
		sqlite3_reset(st);
		return OFP_LEDGER_OK;
	}
	if (rc == SQLITE_CONSTRAINT) {
		ldg_fail(l, OFP_LEDGER_REFUSED, "%s: %s", what, sqlite3_errmsg(l->db));
		sqlite3_reset(st);
		return OFP_LEDGER_REFUSED;
	}
	ldg_sql_fail(l, what);
	sqlite3_reset(st);
	return OFP_LEDGER_ERROR;
}

bool ldg_col_blob(sqlite3_stmt *st, int col, uint8_t *out, size_t len)
{
	const void *p = sqlite3_column_blob(st, col);

	if ((size_t)sqlite3_column_bytes(st, col) != len || (p == NULL && len != 0))
		return false;
	if (len != 0)
		memcpy(out, p, len);
	return true;
}

bool ldg_col_blob_var(sqlite3_stmt *st, int col, uint8_t *out, size_t cap, size_t *len)
{
	const void *p = sqlite3_column_blob(st, col);
	size_t n = (size_t)sqlite3_column_bytes(st, col);

	if (n > cap || (p == NULL && n != 0))
		return false;
	if (n != 0)
		memcpy(out, p, n);
	*len = n;
	return true;
}

/* ---- open and close ----------------------------------------------------------- */

static int configure(ofp_ledger_t *l, bool create)
{
	char *msg = NULL;
	int version = -1;
	sqlite3_stmt *st = NULL;
	int rc = OFP_LEDGER_ERROR;

	sqlite3_busy_timeout(l->db, BUSY_TIMEOUT_MS);
	/* WAL so that readers never block the writer; FULL so that a commit
	 * that returned is on disk (a debit must not vanish in a crash). */
	if (sqlite3_exec(l->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", NULL,
			 NULL, &msg) != SQLITE_OK) {
		rc = ldg_fail(l, OFP_LEDGER_ERROR, "setting up: %s", msg != NULL ? msg : "?");
		goto out;
	}
	if (sqlite3_prepare_v2(l->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = ldg_sql_fail(l, "reading the schema version");
		goto out;
	}
	version = sqlite3_column_int(st, 0);
	if (version == 0 && create) {
		if (sqlite3_exec(l->db, "BEGIN IMMEDIATE;", NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(l->db, schema, NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(l->db, "COMMIT;", NULL, NULL, &msg) != SQLITE_OK) {
			rc = ldg_fail(l, OFP_LEDGER_ERROR, "creating the schema: %s", msg != NULL ? msg : "?");
			sqlite3_exec(l->db, "ROLLBACK;", NULL, NULL, NULL);
			goto out;
		}
	} else if (version != SCHEMA_VERSION) {
		rc = ldg_fail(l, OFP_LEDGER_ERROR, "schema version %d, this program knows %d%s", version,
			      SCHEMA_VERSION, version == 0 ? " (not an issuer ledger)" : "");
		goto out;
	}
	rc = OFP_LEDGER_OK;
out:
	sqlite3_finalize(st);
	sqlite3_free(msg);
	return rc;
}

int ofp_ledger_open(const char *path, bool create, ofp_ledger_t **out, char *err, size_t err_len)
{
	ofp_ledger_t *l = calloc(1, sizeof(*l));
	int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
	struct stat st;
	int rc = OFP_LEDGER_ERROR;

	*out = NULL;
	if (l == NULL) {
		snprintf(err, err_len, "%s: out of memory", path);
		return OFP_LEDGER_ERROR;
	}
	snprintf(l->path, sizeof(l->path), "%s", path);
	if (!create && stat(path, &st) != 0) {
		rc = ldg_fail(l, OFP_LEDGER_NOT_FOUND, "%s", strerror(errno));
		goto out;
	}
	if (sqlite3_open_v2(path, &l->db, flags, NULL) != SQLITE_OK) {
		rc = ldg_sql_fail(l, "open");
		goto out;
	}
	rc = configure(l, create);
	if (rc != OFP_LEDGER_OK)
		goto out;
	if (create)
		(void)chmod(path, 0600);
	*out = l;
	l = NULL;
out:
	if (l != NULL) {
		snprintf(err, err_len, "%s", l->err);
		ofp_ledger_close(l);
	}
	return rc;
}

void ofp_ledger_close(ofp_ledger_t *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < LEDGER_STMT_CACHE; i++)
		sqlite3_finalize(l->cache[i].stmt);
	sqlite3_close(l->db);
	free(l);
}

/* ---- transactions ----------------------------------------------------------------- */

int ofp_ledger_begin(ofp_ledger_t *l)
{
	static const char sql[] = "BEGIN IMMEDIATE";
	sqlite3_stmt *st = ldg_stmt(l, sql);

	return st == NULL ? OFP_LEDGER_ERROR : ldg_exec(l, st, "begin");
}

int ofp_ledger_commit(ofp_ledger_t *l)
{
	static const char sql[] = "COMMIT";
	sqlite3_stmt *st = ldg_stmt(l, sql);
	int rc = st == NULL ? OFP_LEDGER_ERROR : ldg_exec(l, st, "commit");

	if (rc != OFP_LEDGER_OK)
		ofp_ledger_rollback(l);
	return rc;
}

void ofp_ledger_rollback(ofp_ledger_t *l)
{
	if (sqlite3_get_autocommit(l->db) == 0)
		sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
}

int ofp_ledger_savepoint(ofp_ledger_t *l)
{
	static const char sql[] = "SAVEPOINT unit";
	sqlite3_stmt *st = ldg_stmt(l, sql);

	return st == NULL ? OFP_LEDGER_ERROR : ldg_exec(l, st, "savepoint");
}

int ofp_ledger_release(ofp_ledger_t *l)
{
	static const char sql[] = "RELEASE unit";
	sqlite3_stmt *st = ldg_stmt(l, sql);

	return st == NULL ? OFP_LEDGER_ERROR : ldg_exec(l, st, "release savepoint");
}

int ofp_ledger_rollback_to(ofp_ledger_t *l)
{
	static const char rollback[] = "ROLLBACK TO unit";
	sqlite3_stmt *st = ldg_stmt(l, rollback);
	int rc = st == NULL ? OFP_LEDGER_ERROR : ldg_exec(l, st, "rollback to savepoint");

	return rc == OFP_LEDGER_OK ? ofp_ledger_release(l) : rc;
}

bool ofp_ledger_retryable(const ofp_ledger_t *l)
{
	int code = sqlite3_extended_errcode(l->db) & 0xff;

	return code == SQLITE_BUSY || code == SQLITE_LOCKED;
}

/* ---- meta values and blobs -------------------------------------------------------- */

int ofp_ledger_meta_get(ofp_ledger_t *l, const char *name, int64_t *value)
{
	static const char sql[] = "SELECT value FROM meta WHERE name = ?1";
	sqlite3_stmt *st = ldg_stmt(l, sql);
	int rc;

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*value = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? OFP_LEDGER_OK : ldg_sql_fail(l, name);
}

int ofp_ledger_meta_set(ofp_ledger_t *l, const char *name, int64_t value)
{
	static const char sql[] = "INSERT INTO meta(name, value) VALUES(?1, ?2) "
				  "ON CONFLICT(name) DO UPDATE SET value = excluded.value";
	sqlite3_stmt *st = ldg_stmt(l, sql);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, value);
	return ldg_exec(l, st, name);
}

int ofp_ledger_blob_get(ofp_ledger_t *l, const char *name, uint8_t **value, size_t *len)
{
	static const char sql[] = "SELECT value FROM blobs WHERE name = ?1";
	sqlite3_stmt *st = ldg_stmt(l, sql);
	int rc;

	*value = NULL;
	*len = 0;
	if (st == NULL)
		return OFP_LEDGER_ERROR;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return ldg_fail(l, OFP_LEDGER_NOT_FOUND, "%s: none stored", name);
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return ldg_sql_fail(l, name);
	}
	*len = (size_t)sqlite3_column_bytes(st, 0);
	*value = malloc(*len + 1);
	if (*value != NULL && *len > 0)
		memcpy(*value, sqlite3_column_blob(st, 0), *len);
	sqlite3_reset(st);
	return *value != NULL ? OFP_LEDGER_OK : ldg_fail(l, OFP_LEDGER_ERROR, "%s: out of memory", name);
}

int ofp_ledger_blob_set(ofp_ledger_t *l, const char *name, const uint8_t *value, size_t len)
{
	static const char sql[] = "INSERT INTO blobs(name, value) VALUES(?1, ?2) "
				  "ON CONFLICT(name) DO UPDATE SET value = excluded.value";
	sqlite3_stmt *st = ldg_stmt(l, sql);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, value, (int)len, SQLITE_STATIC);
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

#define ACCOUNT_COLUMNS "id, name, holder_id, balance, credit_line, flagged, opened"

static void account_row(sqlite3_stmt *st, ofp_account_t *a)
{
	memset(a, 0, sizeof(*a));
	a->id = sqlite3_column_int64(st, 0);
	snprintf(a->name, sizeof(a->name), "%s", (const char *)sqlite3_column_text(st, 1));
	(void)ldg_col_blob(st, 2, a->holder_id, OFP_ID_LEN);
	a->balance = sqlite3_column_int64(st, 3);
	a->credit_line = sqlite3_column_int64(st, 4);
	a->flagged = sqlite3_column_int(st, 5) != 0;
	a->opened = (uint32_t)sqlite3_column_int64(st, 6);
}

/* One account row from a statement with bound parameters; what names it. */
static int account_fetch(ofp_ledger_t *l, sqlite3_stmt *st, const char *what, ofp_account_t *out)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		account_row(st, out);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return OFP_LEDGER_OK;
	if (rc == SQLITE_DONE)
		return ldg_fail(l, OFP_LEDGER_NOT_FOUND, "%s: no such account", what);
	return ldg_sql_fail(l, what);
}

int ofp_ledger_account_get(ofp_ledger_t *l, const char *name, ofp_account_t *out)
{
	static const char sql[] = "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE name = ?1";
	sqlite3_stmt *st = ldg_stmt(l, sql);
	char what[OFP_ACCOUNT_NAME_MAX + 16];

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	snprintf(what, sizeof(what), "account '%.64s'", name);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	return account_fetch(l, st, what, out);
}

int ofp_ledger_account_by_holder(ofp_ledger_t *l, const uint8_t holder_id[OFP_ID_LEN], ofp_account_t *out)
{
	static const char sql[] = "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE holder_id = ?1";
	sqlite3_stmt *st = ldg_stmt(l, sql);
	char what[64] = "holder ";

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	for (size_t i = 0; i < OFP_ID_LEN; i++)
		snprintf(what + 7 + 2 * i, 3, "%02x", holder_id[i]);
	sqlite3_bind_blob(st, 1, holder_id, OFP_ID_LEN, SQLITE_STATIC);
	return account_fetch(l, st, what, out);
}

static int insert_account(ofp_ledger_t *l, const char *name, const uint8_t holder_id[OFP_ID_LEN], uint32_t now)
{
	static const char sql[] = "INSERT INTO accounts(name, holder_id, balance, credit_line, opened) "
				  "VALUES(?1, ?2, 0, 0, ?3)";
	sqlite3_stmt *st = ldg_stmt(l, sql);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, holder_id, OFP_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
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

int ofp_ledger_account_open(ofp_ledger_t *l, const char *name, uint32_t now, ofp_account_t *out)
{
	ofp_account_t a;
	int rc = ofp_ledger_begin(l);

	if (rc != OFP_LEDGER_OK)
		return rc;
	rc = ofp_ledger_account_create(l, name, now, &a);
	if (rc == OFP_LEDGER_OK)
		rc = ofp_ledger_commit(l);
	if (rc != OFP_LEDGER_OK)
		ofp_ledger_rollback(l);
	else if (out != NULL)
		*out = a;
	return rc;
}

static int history_add(ofp_ledger_t *l, int64_t account, uint32_t now, const char *kind, int64_t amount,
		       int64_t balance, const char *ref)
{
	static const char sql[] = "INSERT INTO history(account, time, kind, amount, balance, ref) "
				  "VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
	sqlite3_stmt *st = ldg_stmt(l, sql);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	sqlite3_bind_int64(st, 1, account);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, amount);
	sqlite3_bind_int64(st, 5, balance);
	sqlite3_bind_text(st, 6, ref != NULL ? ref : "", -1, SQLITE_STATIC);
	return ldg_exec(l, st, "history");
}

int ofp_ledger_note(ofp_ledger_t *l, const ofp_account_t *a, const char *kind, int64_t amount, const char *ref,
		    uint32_t now)
{
	return history_add(l, a->id, now, kind, amount, a->balance, ref);
}

int ofp_ledger_account_apply(ofp_ledger_t *l, ofp_account_t *a, int64_t delta, const char *kind, const char *ref,
			     uint32_t now)
{
	static const char sql[] = "UPDATE accounts SET balance = ?2 WHERE id = ?1";
	sqlite3_stmt *st;
	int64_t balance;
	int rc;

	/* Both are within +-10^15, so the sum cannot overflow; check anyway
	 * in case a caller passes an unchecked delta. */
	if (__builtin_add_overflow(a->balance, delta, &balance) || balance > OFP_AMOUNT_MAX ||
	    balance < -OFP_AMOUNT_MAX)
		return ldg_fail(l, OFP_LEDGER_REFUSED,
				"account '%s': balance %" PRId64 " %+" PRId64 " leaves the ledger's range (+-%lld)",
				a->name, a->balance, delta, (long long)OFP_AMOUNT_MAX);
	st = ldg_stmt(l, sql);
	if (st == NULL)
		return OFP_LEDGER_ERROR;
	sqlite3_bind_int64(st, 1, a->id);
	sqlite3_bind_int64(st, 2, balance);
	rc = ldg_exec(l, st, "balance");
	if (rc != OFP_LEDGER_OK)
		return rc;
	a->balance = balance;
	return history_add(l, a->id, now, kind, delta, balance, ref);
}

int ofp_ledger_account_apply_held(ofp_ledger_t *l, ofp_account_t *a, int64_t delta, const char *kind,
				  const char *ref, uint32_t now)
{
	int64_t balance;
	int rc;

	if (__builtin_add_overflow(a->balance, delta, &balance) || balance > OFP_AMOUNT_MAX ||
	    balance < -OFP_AMOUNT_MAX)
		return ldg_fail(l, OFP_LEDGER_REFUSED,
				"account '%s': balance %" PRId64 " %+" PRId64 " leaves the ledger's range (+-%lld)",
				a->name, a->balance, delta, (long long)OFP_AMOUNT_MAX);
	rc = history_add(l, a->id, now, kind, delta, balance, ref);
	if (rc == OFP_LEDGER_OK)
		a->balance = balance;
	return rc;
}

int ofp_ledger_account_store_balance(ofp_ledger_t *l, const ofp_account_t *a)
{
	static const char sql[] = "UPDATE accounts SET balance = ?2 WHERE id = ?1";
	sqlite3_stmt *st = ldg_stmt(l, sql);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	sqlite3_bind_int64(st, 1, a->id);
	sqlite3_bind_int64(st, 2, a->balance);
	return ldg_exec(l, st, "balance");
}

int ofp_ledger_account_flag(ofp_ledger_t *l, ofp_account_t *a)
{
	static const char sql[] = "UPDATE accounts SET flagged = 1 WHERE id = ?1";
	sqlite3_stmt *st = ldg_stmt(l, sql);
	int rc;

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	sqlite3_bind_int64(st, 1, a->id);
	rc = ldg_exec(l, st, "flag");
	if (rc == OFP_LEDGER_OK)
		a->flagged = true;
	return rc;
}

int ofp_ledger_credit(ofp_ledger_t *l, const char *name, int64_t amount, uint32_t now, ofp_account_t *out)
{
	ofp_account_t a;
	int rc;

	if (amount < 1 || amount > OFP_AMOUNT_MAX)
		return ldg_fail(l, OFP_LEDGER_REFUSED, "credit of %" PRId64 ": amounts are 1..%lld", amount,
				(long long)OFP_AMOUNT_MAX);
	rc = ofp_ledger_begin(l);
	if (rc != OFP_LEDGER_OK)
		return rc;
	rc = ofp_ledger_account_get(l, name, &a);
	if (rc == OFP_LEDGER_OK)
		rc = ofp_ledger_account_apply(l, &a, amount, "credit", "", now);
	if (rc == OFP_LEDGER_OK)
		rc = ofp_ledger_commit(l);
	if (rc != OFP_LEDGER_OK)
		ofp_ledger_rollback(l);
	else if (out != NULL)
		*out = a;
	return rc;
}

int ofp_ledger_set_credit_line(ofp_ledger_t *l, const char *name, int64_t amount, uint32_t now, ofp_account_t *out)
{
	static const char sql[] = "UPDATE accounts SET credit_line = ?2 WHERE id = ?1";
	sqlite3_stmt *st;
	ofp_account_t a;
	int rc;

	if (amount < 0 || amount > OFP_AMOUNT_MAX)
		return ldg_fail(l, OFP_LEDGER_REFUSED, "credit line of %" PRId64 ": must be 0..%lld", amount,
				(long long)OFP_AMOUNT_MAX);
	rc = ofp_ledger_begin(l);
	if (rc != OFP_LEDGER_OK)
		return rc;
	rc = ofp_ledger_account_get(l, name, &a);
	if (rc != OFP_LEDGER_OK)
		goto out;
	st = ldg_stmt(l, sql);
	if (st == NULL) {
		rc = OFP_LEDGER_ERROR;
		goto out;
	}
	sqlite3_bind_int64(st, 1, a.id);
	sqlite3_bind_int64(st, 2, amount);
	rc = ldg_exec(l, st, "credit line");
	if (rc != OFP_LEDGER_OK)
		goto out;
	a.credit_line = amount;
	rc = ofp_ledger_note(l, &a, "credit-line", amount, "", now);
	if (rc == OFP_LEDGER_OK)
		rc = ofp_ledger_commit(l);
out:
	if (rc != OFP_LEDGER_OK)
		ofp_ledger_rollback(l);
	else if (out != NULL)
		*out = a;
	return rc;
}

int ofp_ledger_history(ofp_ledger_t *l, const char *name, int (*cb)(void *ctx, const ofp_history_entry_t *e),
		       void *ctx)
{
	static const char sql[] = "SELECT time, kind, amount, balance, ref FROM history "
				  "WHERE account = ?1 ORDER BY id";
	ofp_history_entry_t e;
	ofp_account_t a;
	sqlite3_stmt *st;
	int rc = ofp_ledger_account_get(l, name, &a);

	if (rc != OFP_LEDGER_OK)
		return rc;
	st = ldg_stmt(l, sql);
	if (st == NULL)
		return OFP_LEDGER_ERROR;
	sqlite3_bind_int64(st, 1, a.id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&e, 0, sizeof(e));
		e.time = (uint32_t)sqlite3_column_int64(st, 0);
		snprintf(e.kind, sizeof(e.kind), "%s", (const char *)sqlite3_column_text(st, 1));
		e.amount = sqlite3_column_int64(st, 2);
		e.balance = sqlite3_column_int64(st, 3);
		snprintf(e.ref, sizeof(e.ref), "%s", (const char *)sqlite3_column_text(st, 4));
		if (cb(ctx, &e) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? OFP_LEDGER_OK : ldg_sql_fail(l, "history");
}
