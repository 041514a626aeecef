/* store.c - a token file: opening (and refusing damaged files), the
 * metadata, and the SQLite helpers the other store files share.
 *
 * Creation is in store_create.c.
 *
 * Schema (version 1):
 *   meta(name, value)       'format' = 'offpass-p11-token', 'schema_version' = 1,
 *                           'min_user_pin_len' (absent in tokens made before it:
 *                           TOKEN_USER_PIN_MIN_DEFAULT)
 *   token(id = 1, ...)      one row: label, serial, PIN state and failure
 *                           counts, the KDF cost for new wrapped keys, and two
 *                           generation counters (key_gen: the token key was
 *                           replaced; obj_gen: the object table changed)
 *   wrapped_key(who, ...)   the token key sealed under scrypt(SO PIN) (who 0)
 *                           and scrypt(user PIN) (who 1), with salt and cost
 *   object(uid, private, blob)
 * The metadata lives in its own typed table rather than as meta key/value
 * pairs so that SQLite's column types and the single-row constraint do
 * part of the validation. */
#include "config.h"
#include "p11/store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <openssl/rand.h>
#include "atomic_file.h"
#include "secmem.h"

/* Long enough to outlast another process's PIN check or a burst of writes;
 * short enough that a wedged peer is reported rather than waited on forever. */
#define STORE_BUSY_MS 15000
#define STORE_BUSY_RETRIES 4

/* The reason a token_store_open or _create failed, for token_store_error(NULL). */
static _Thread_local char open_err[STORE_ERR_LEN];

/* ---- Errors and SQLite helpers ------------------------------------- */

CK_RV store_fail(token_store_t *s, CK_RV rv, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(s->err, sizeof(s->err), "%s: ", s->path != NULL ? s->path : "token");

	if (n < 0 || (size_t)n >= sizeof(s->err))
		return rv;
	va_start(ap, fmt);
	vsnprintf(s->err + n, sizeof(s->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return rv;
}

CK_RV store_db_fail(token_store_t *s, const char *what)
{
	int code = s->db != NULL ? sqlite3_errcode(s->db) : SQLITE_NOMEM;
	CK_RV rv;

	switch (code & 0xff) {
	case SQLITE_NOMEM: rv = CKR_HOST_MEMORY; break;
	case SQLITE_FULL: rv = CKR_DEVICE_MEMORY; break;
	default: rv = CKR_DEVICE_ERROR; break;
	}
	if (rv == CKR_DEVICE_MEMORY)
		return store_fail(s, rv, "the disk is full: %s: %s", what, sqlite3_errmsg(s->db));
	return store_fail(s, rv, "%s: %s", what, s->db != NULL ? sqlite3_errmsg(s->db) : "out of memory");
}

static CK_RV upgrade(token_store_t *s);

/* A write on a read-only store: try read-write again first. */
static CK_RV writable(token_store_t *s)
{
	if (!s->read_only || upgrade(s) == CKR_OK)
		return CKR_OK;
	if (s->disk_full)
		return store_fail(s, CKR_DEVICE_MEMORY,
				  "the disk is full: the token is open read-only and cannot record a change");
	return store_fail(s, CKR_DEVICE_ERROR, "the token is open read-only and cannot record a change");
}

CK_RV store_begin(token_store_t *s, bool write)
{
	const char *sql = write ? "BEGIN IMMEDIATE" : "BEGIN";
	int rc;

	if (s->db == NULL)
		return store_fail(s, CKR_DEVICE_ERROR, "no connection to the token file");
	if (write && writable(s) != CKR_OK)
		return s->disk_full ? CKR_DEVICE_MEMORY : CKR_DEVICE_ERROR;
	/* busy_timeout already waits; the retries cover the few paths where
	 * SQLite reports SQLITE_BUSY without calling the busy handler. */
	for (int i = 0;; i++) {
		rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			return CKR_OK;
		if ((rc & 0xff) != SQLITE_BUSY || i >= STORE_BUSY_RETRIES)
			break;
		usleep(10000u << i);
	}
	return store_db_fail(s, write ? "cannot lock the token for writing" : "cannot read the token");
}

CK_RV store_commit(token_store_t *s)
{
	CK_RV rv;

	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return CKR_OK;
	rv = store_db_fail(s, "commit failed");
	store_rollback(s);
	return rv == CKR_DEVICE_MEMORY ? rv : CKR_DEVICE_ERROR;
}

void store_rollback(token_store_t *s)
{
	if (!sqlite3_get_autocommit(s->db))
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

CK_RV store_prepare(token_store_t *s, const char *sql, sqlite3_stmt **st)
{
	if (s->db == NULL) {
		*st = NULL;
		return store_fail(s, CKR_DEVICE_ERROR, "no connection to the token file");
	}
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) == SQLITE_OK)
		return CKR_OK;
	*st = NULL;
	return store_db_fail(s, "cannot read the token");
}

CK_RV store_damaged(token_store_t *s, const char *what)
{
	return store_fail(s, CKR_DEVICE_ERROR, "damaged token file: %s", what);
}

static bool col_int(sqlite3_stmt *st, int i, int64_t min, int64_t max, int64_t *v)
{
	if (sqlite3_column_type(st, i) != SQLITE_INTEGER)
		return false;
	*v = sqlite3_column_int64(st, i);
	return *v >= min && *v <= max;
}

CK_RV store_read_token(token_store_t *s, token_row_t *row)
{
	sqlite3_stmt *st = NULL;
	int64_t init, n, r, p;
	CK_RV rv;
	int rc;

	rv = store_prepare(s, "SELECT label, user_pin_initialized, user_fails, so_fails, max_fails,"
			   " kdf_n, kdf_r, kdf_p, key_gen, obj_gen FROM token WHERE id = 1", &st);
	if (rv != CKR_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rv = rc == SQLITE_DONE ? store_damaged(s, "no token row") : store_db_fail(s, "cannot read the token");
		goto out;
	}
	if (sqlite3_column_type(st, 0) != SQLITE_BLOB || sqlite3_column_bytes(st, 0) != 32 ||
	    !col_int(st, 1, 0, 1, &init) ||
	    !col_int(st, 2, 0, INT64_MAX, &row->user_fails) ||
	    !col_int(st, 3, 0, INT64_MAX, &row->so_fails) ||
	    !col_int(st, 4, 1, INT64_MAX, &row->max_fails) ||
	    !col_int(st, 5, 0, INT64_MAX, &n) || !col_int(st, 6, 0, UINT32_MAX, &r) ||
	    !col_int(st, 7, 0, UINT32_MAX, &p) ||
	    !col_int(st, 8, 0, INT64_MAX, &row->key_gen) ||
	    !col_int(st, 9, 0, INT64_MAX, &row->obj_gen)) {
		rv = store_damaged(s, "invalid token row");
		goto out;
	}
	memcpy(row->label, sqlite3_column_blob(st, 0), 32);
	row->user_pin_initialized = init == 1;
	row->kdf.n = (uint64_t)n;
	row->kdf.r = (uint32_t)r;
	row->kdf.p = (uint32_t)p;
	if (!kdf_params_valid(&row->kdf))
		rv = store_damaged(s, "invalid KDF parameters in the token row");
out:
	sqlite3_finalize(st);
	return rv;
}

CK_RV store_write_token(token_store_t *s, const token_row_t *row)
{
	sqlite3_stmt *st = NULL;
	CK_RV rv;

	rv = store_prepare(s, "UPDATE token SET label = ?1, user_pin_initialized = ?2,"
			   " user_fails = ?3, so_fails = ?4, key_gen = ?5, obj_gen = ?6,"
			   " kdf_n = ?7, kdf_r = ?8, kdf_p = ?9 WHERE id = 1", &st);
	if (rv != CKR_OK)
		return rv;
	if (sqlite3_bind_blob(st, 1, row->label, 32, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(st, 2, row->user_pin_initialized) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, row->user_fails) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 4, row->so_fails) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 5, row->key_gen) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 6, row->obj_gen) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 7, (sqlite3_int64)row->kdf.n) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 8, row->kdf.r) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 9, row->kdf.p) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE)
		rv = store_db_fail(s, "cannot update the token");
	else if (sqlite3_changes(s->db) != 1)
		rv = store_damaged(s, "no token row");
	sqlite3_finalize(st);
	return rv;
}

/* ---- Connecting ------------------------------------------------------ */

static CK_RV query_text(token_store_t *s, const char *sql, char *buf, size_t len)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *t;
	CK_RV rv = store_prepare(s, sql, &st);

	if (rv != CKR_OK)
		return rv;
	buf[0] = '\0';
	if (sqlite3_step(st) != SQLITE_ROW)
		rv = store_db_fail(s, sql);
	else if ((t = sqlite3_column_text(st, 0)) != NULL)
		snprintf(buf, len, "%s", (const char *)t);
	sqlite3_finalize(st);
	return rv;
}

static CK_RV query_int(token_store_t *s, const char *sql, int64_t *v)
{
	sqlite3_stmt *st = NULL;
	CK_RV rv = store_prepare(s, sql, &st);

	if (rv != CKR_OK)
		return rv;
	if (sqlite3_step(st) != SQLITE_ROW)
		rv = store_db_fail(s, sql);
	else if (sqlite3_column_type(st, 0) != SQLITE_INTEGER)
		rv = store_damaged(s, sql);
	else
		*v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rv;
}

/* "file:" and the path with every byte that could mean something in a URI
 * %-escaped (caller frees). */
static char *file_uri(const char *path, const char *query)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(path);
	char *uri = malloc(5 + 3 * n + strlen(query) + 1), *p = uri;

	if (uri == NULL)
		return NULL;
	p += sprintf(p, "file:");
	for (const unsigned char *c = (const unsigned char *)path; *c != '\0'; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		    *c == '/' || *c == '.' || *c == '-' || *c == '_') {
			*p++ = (char)*c;
		} else {
			*p++ = '%';
			*p++ = hex[*c >> 4];
			*p++ = hex[*c & 15];
		}
	}
	strcpy(p, query);
	return uri;
}

/* Open the database file and set the per-connection options. Read-only
 * also leaves the -shm file alone (readonly_shm): a full disk is the
 * reason for it, and SQLite then keeps its WAL index in memory. */
CK_RV store_connect(token_store_t *s, const char *file, bool read_only)
{
	int flags = SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_URI |
		    (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE);
	char *uri = file_uri(file, read_only ? "?mode=ro&readonly_shm=1" : "");
	int rc;

	if (uri == NULL)
		return store_fail(s, CKR_HOST_MEMORY, "out of memory");
	rc = sqlite3_open_v2(uri, &s->db, flags, NULL);
	free(uri);
	if (rc != SQLITE_OK)
		return store_db_fail(s, "cannot open");
	sqlite3_extended_result_codes(s->db, 1);
	/* A token file is input like any other: no schema-embedded code, no
	 * writes that only make sense for a corrupting application. */
	if (sqlite3_busy_timeout(s->db, STORE_BUSY_MS) != SQLITE_OK ||
	    sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL) != SQLITE_OK ||
	    sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL) != SQLITE_OK)
		return store_db_fail(s, "cannot configure SQLite");
	/* secure_delete: a replaced wrapped key (old PIN) or deleted ciphertext
	 * is overwritten, not left in free pages for an offline guesser. */
	if (sqlite3_exec(s->db, "PRAGMA synchronous = FULL; PRAGMA secure_delete = ON;"
			 " PRAGMA cell_size_check = ON;", NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(s, CKR_DEVICE_ERROR, "not a token file (%s)", sqlite3_errmsg(s->db));
	return CKR_OK;
}

static void disstore_connect(token_store_t *s)
{
	sqlite3_finalize(s->dv_stmt);
	s->dv_stmt = NULL;
	sqlite3_close_v2(s->db);
	s->db = NULL;
}

/* Did the last SQLite call fail for want of a writable file (as opposed
 * to a file that is not a token)? */
static bool io_failure(token_store_t *s)
{
	int code = s->db != NULL ? sqlite3_errcode(s->db) & 0xff : SQLITE_CANTOPEN;

	return code == SQLITE_IOERR || code == SQLITE_FULL || code == SQLITE_CANTOPEN ||
	       code == SQLITE_READONLY;
}

/* Full, or too full for SQLite's 32 KiB WAL index and a WAL frame. */
static bool disk_full(token_store_t *s)
{
	struct statvfs vfs;

	if (s->db != NULL && sqlite3_system_errno(s->db) == ENOSPC)
		return true;
	return statvfs(s->path, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < 64 * 1024;
}

static bool is_hex16(const unsigned char *t, int len)
{
	if (t == NULL || len != 16)
		return false;
	for (int i = 0; i < 16; i++)
		if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
			return false;
	return true;
}

static CK_RV read_serial(token_store_t *s)
{
	sqlite3_stmt *st = NULL;
	CK_RV rv = store_prepare(s, "SELECT serial FROM token WHERE id = 1", &st);

	if (rv != CKR_OK)
		return rv;
	if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_type(st, 0) != SQLITE_TEXT ||
	    !is_hex16(sqlite3_column_text(st, 0), sqlite3_column_bytes(st, 0)))
		rv = store_damaged(s, "missing or invalid serial");
	else
		memcpy(s->serial, sqlite3_column_text(st, 0), 16);
	sqlite3_finalize(st);
	return rv;
}

/* Everything a later call relies on, inside one read snapshot. The schema
 * version is checked before any other table is looked at. */
static CK_RV validate(token_store_t *s)
{
	char text[64];
	int64_t v;
	token_row_t row;
	CK_RV rv;

	if (query_int(s, "PRAGMA application_id", &v) != CKR_OK || v != STORE_APPLICATION_ID)
		return store_fail(s, CKR_DEVICE_ERROR, "not an offpass token (SQLite application id)");
	if (query_text(s, "SELECT value FROM meta WHERE name = 'format'", text, sizeof(text)) != CKR_OK ||
	    strcmp(text, STORE_FORMAT) != 0)
		return store_fail(s, CKR_DEVICE_ERROR, "not an offpass token (no format mark)");
	if (query_int(s, "SELECT value FROM meta WHERE name = 'schema_version'", &v) != CKR_OK)
		return store_damaged(s, "no schema version");
	if (v != STORE_SCHEMA_VERSION && v != STORE_SCHEMA_VERSION_TPM)
		return store_fail(s, CKR_DEVICE_ERROR,
				  "token schema version %lld is not supported (this build reads version %d)",
				  (long long)v, STORE_SCHEMA_VERSION);
	if (query_int(s, "SELECT count(*) FROM sqlite_master WHERE type IN ('trigger', 'view')",
		      &v) != CKR_OK || v != 0)
		return store_damaged(s, "unexpected triggers or views");
	rv = store_read_token(s, &row);
	if (rv != CKR_OK)
		return rv;
	rv = read_serial(s);
	if (rv != CKR_OK)
		return rv;
	if (query_int(s, "SELECT count(*) FROM wrapped_key WHERE who = 0", &v) != CKR_OK || v != 1)
		return store_damaged(s, "no SO key");
	rv = store_min_user_pin_len(s, &(CK_ULONG){ 0 });
	if (rv != CKR_OK)
		return rv;
	s->seen_gen = row.obj_gen;
	return CKR_OK;
}

/* The file as such: a regular file of ours that no one else may write. */
static CK_RV check_path(token_store_t *s)
{
	struct stat st;

	if (lstat(s->path, &st) != 0)
		return store_fail(s, CKR_DEVICE_ERROR, "%s", strerror(errno));
	if (S_ISLNK(st.st_mode))
		return store_fail(s, CKR_DEVICE_ERROR, "is a symbolic link (not followed)");
	if (!S_ISREG(st.st_mode))
		return store_fail(s, CKR_DEVICE_ERROR, "not a regular file");
	/* Another user could replace the wrapped keys (a PIN of theirs) or
	 * the objects: a token is only ever its owner's. */
	if (st.st_uid != geteuid())
		return store_fail(s, CKR_DEVICE_ERROR, "refused: owned by uid %lu, not by this user (uid %lu)",
				  (unsigned long)st.st_uid, (unsigned long)geteuid());
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return store_fail(s, CKR_DEVICE_ERROR, "refused: writable by %s (mode %04o)",
				  (st.st_mode & S_IWOTH) ? "others" : "its group",
				  (unsigned)(st.st_mode & 07777));
	if (access(s->path, R_OK | W_OK) != 0)
		return store_fail(s, CKR_DEVICE_ERROR, "not readable and writable: %s", strerror(errno));
	return CKR_OK;
}

/* Connect and check everything a later call relies on. */
static CK_RV connect_checked(token_store_t *s, bool read_only)
{
	char text[128];
	CK_RV rv = store_connect(s, s->path, read_only);

	if (rv != CKR_OK)
		return rv;
	/* Walk every page once, so that a truncated or scribbled file is
	 * refused here instead of failing some later call half-way. */
	if (query_text(s, "PRAGMA quick_check", text, sizeof(text)) != CKR_OK)
		return store_fail(s, CKR_DEVICE_ERROR, "not a token file (%s)", sqlite3_errmsg(s->db));
	if (strcmp(text, "ok") != 0)
		return store_damaged(s, text);
	rv = store_begin(s, false);
	if (rv != CKR_OK)
		return rv;
	rv = validate(s);
	if (rv != CKR_OK) {
		store_rollback(s);
		return rv;
	}
	rv = store_commit(s);
	if (rv != CKR_OK)
		return rv;
	/* Only now that the file is known to be a token: switching the journal
	 * writes to it, and a file that is refused must stay as it was. A
	 * read-only connection only looks (tokens are born in WAL mode). */
	rv = query_text(s, read_only ? "PRAGMA journal_mode" : "PRAGMA journal_mode = WAL", text, sizeof(text));
	if (rv != CKR_OK)
		return rv;
	if (strcmp(text, "wal") != 0)
		return store_fail(s, CKR_DEVICE_ERROR, "cannot use a WAL journal here (got %s)", text);
	rv = query_int(s, "PRAGMA data_version", &s->seen_dv);
	if (rv == CKR_OK)
		rv = store_prepare(s, "PRAGMA data_version", &s->dv_stmt);
	return rv;
}

static CK_RV check_file(token_store_t *s)
{
	char why[STORE_ERR_LEN];
	CK_RV rv = check_path(s);

	if (rv != CKR_OK)
		return rv;
	rv = connect_checked(s, false);
	if (rv == CKR_OK || !io_failure(s))
		return rv;
	/* SQLite could not create or grow its -wal/-shm files: read-only. */
	snprintf(why, sizeof(why), "%s: the read-write open failed: %s", s->path,
		 s->db != NULL ? sqlite3_errmsg(s->db) : "cannot open");
	s->disk_full = disk_full(s);
	disstore_connect(s);
	s->err[0] = '\0';
	rv = connect_checked(s, true);
	if (rv != CKR_OK)
		return rv;
	s->read_only = true;
	snprintf(s->err, sizeof(s->err), "%s", why);
	return CKR_OK;
}

/* A light connection in s's mode (the file was checked at open). On
 * failure s has no connection, and every call fails cleanly. */
static CK_RV reconnect(token_store_t *s)
{
	CK_RV rv = store_connect(s, s->path, s->read_only);

	if (rv == CKR_OK)
		rv = store_prepare(s, "PRAGMA data_version", &s->dv_stmt);
	if (rv != CKR_OK)
		disstore_connect(s);
	/* A new connection counts data versions afresh: take none as seen, so
	 * that the next look compares the object generation itself and a
	 * change made meanwhile is not missed. */
	s->seen_dv = -1;
	return rv;
}

/* From read-only to read-write, when the file lets us now. The read-only
 * connection goes first: SQLite shares one WAL index per file within a
 * process, and a read-write connection beside the read-only one would
 * inherit its read-only index and fail at the first write. */
static CK_RV upgrade(token_store_t *s)
{
	token_store_t t = { .path = s->path };
	CK_RV rv;

	disstore_connect(s);
	rv = connect_checked(&t, false);
	if (rv != CKR_OK) {
		s->disk_full = disk_full(&t);
		disstore_connect(&t);
		(void)reconnect(s);
		return rv;
	}
	s->db = t.db;
	s->dv_stmt = t.dv_stmt;
	s->seen_dv = -1;
	s->read_only = false;
	s->disk_full = false;
	return CKR_OK;
}

const char *token_store_read_only(const token_store_t *s)
{
	if (s == NULL || !s->read_only)
		return NULL;
	return s->disk_full ? "the disk is full" : "it cannot be opened read-write";
}

static CK_RV open_error(token_store_t *s, CK_RV rv)
{
	snprintf(open_err, sizeof(open_err), "%s", s->err);
	token_store_close(s);
	return rv;
}

CK_RV token_store_open(const char *path, token_store_t **out)
{
	token_store_t *s;
	CK_RV rv;

	open_err[0] = '\0';
	if (path == NULL || out == NULL)
		return CKR_ARGUMENTS_BAD;
	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->path = strdup(path)) == NULL) {
		free(s);
		snprintf(open_err, sizeof(open_err), "%s: out of memory", path);
		return CKR_HOST_MEMORY;
	}
	rv = check_file(s);
	if (rv != CKR_OK)
		return open_error(s, rv);
	/* Until the caller's first load, everything is news. */
	s->stale = true;
	*out = s;
	return CKR_OK;
}

void token_store_close(token_store_t *s)
{
	if (s == NULL)
		return;
	token_store_logout(s);
	disstore_connect(s);
	free(s->path);
	free(s);
}

CK_RV token_store_reopen(token_store_t *s)
{
	/* The file was checked when the parent opened it: connect only. */
	disstore_connect(s);
	s->err[0] = '\0';
	return reconnect(s);
}

const char *token_store_error(const token_store_t *s)
{
	return s != NULL ? s->err : open_err;
}

void store_set_open_error(const char *msg)
{
	snprintf(open_err, sizeof(open_err), "%s", msg);
}

/* ---- Metadata -------------------------------------------------------- */

static CK_RV meta_protection(token_store_t *s, token_meta_t *out)
{
	int64_t bound = 0, all = 0;
	CK_RV rv = store_tpm_count(s, &bound, &all);

	out->protection = bound == 0 ? TOKEN_PROT_PIN : bound == all ? TOKEN_PROT_TPM : TOKEN_PROT_MIXED;
	return rv;
}

CK_RV token_store_meta(token_store_t *s, token_meta_t *out)
{
	token_row_t row;
	CK_RV rv;

	if (s == NULL || out == NULL)
		return CKR_ARGUMENTS_BAD;
	s->err[0] = '\0';
	rv = store_read_token(s, &row);
	if (rv != CKR_OK)
		return rv;
	memcpy(out->label, row.label, 32);
	memcpy(out->serial, s->serial, 16);
	out->user_pin_initialized = row.user_pin_initialized;
	out->user_fails = (CK_ULONG)row.user_fails;
	out->so_fails = (CK_ULONG)row.so_fails;
	out->max_fails = (CK_ULONG)row.max_fails;
	rv = store_min_user_pin_len(s, &out->min_user_pin_len);
	if (rv != CKR_OK)
		return rv;
	return meta_protection(s, out);
}

CK_RV store_write_min_pin_len(token_store_t *s, unsigned long len)
{
	sqlite3_stmt *st = NULL;
	CK_RV rv = store_prepare(s, "INSERT OR REPLACE INTO meta VALUES ('min_user_pin_len', ?1)", &st);

	if (rv != CKR_OK)
		return rv;
	if (sqlite3_bind_int64(st, 1, (sqlite3_int64)len) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		rv = store_db_fail(s, "cannot record the minimum PIN length");
	sqlite3_finalize(st);
	return rv;
}

CK_RV store_min_user_pin_len(token_store_t *s, CK_ULONG *out)
{
	sqlite3_stmt *st = NULL;
	CK_RV rv = store_prepare(s, "SELECT value FROM meta WHERE name = 'min_user_pin_len'", &st);
	int rc;

	if (rv != CKR_OK)
		return rv;
	*out = TOKEN_USER_PIN_MIN_DEFAULT;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int64_t v = sqlite3_column_int64(st, 0);
		if (sqlite3_column_type(st, 0) != SQLITE_INTEGER || v < TOKEN_PIN_MIN || v > TOKEN_PIN_MAX)
			rv = store_damaged(s, "invalid minimum PIN length");
		else
			*out = (CK_ULONG)v;
	} else if (rc != SQLITE_DONE) {
		rv = store_db_fail(s, "cannot read the token");
	}
	sqlite3_finalize(st);
	return rv;
}
