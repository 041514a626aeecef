/* store.c - a token file: creation, opening (and refusing damaged files),
 * metadata, and the SQLite helpers the other store files share.
 *
 * Schema (version 1):
 *   meta(name, value)       'format' = 'offpass-p11-token', 'schema_version' = 1
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
#include <unistd.h>
#include <openssl/rand.h>
#include "atomic_file.h"
#include "secmem.h"

#define STORE_FORMAT "offpass-p11-token"
/* 'OP11' in the database header, so that file(1) and a quick check can
 * tell a token from another SQLite file. */
#define STORE_APPLICATION_ID 0x4f503131
/* Long enough to outlast another process's PIN check or a burst of writes;
 * short enough that a wedged peer is reported rather than waited on forever. */
#define STORE_BUSY_MS 15000
#define STORE_BUSY_RETRIES 4

static const char schema_sql[] =
	"CREATE TABLE meta (name TEXT PRIMARY KEY NOT NULL, value NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE token (id INTEGER PRIMARY KEY CHECK (id = 1),"
	" label BLOB NOT NULL, serial TEXT NOT NULL,"
	" user_pin_initialized INTEGER NOT NULL, user_fails INTEGER NOT NULL,"
	" so_fails INTEGER NOT NULL, max_fails INTEGER NOT NULL,"
	" kdf_n INTEGER NOT NULL, kdf_r INTEGER NOT NULL, kdf_p INTEGER NOT NULL,"
	" key_gen INTEGER NOT NULL, obj_gen INTEGER NOT NULL);"
	"CREATE TABLE wrapped_key (who INTEGER PRIMARY KEY CHECK (who IN (0, 1)),"
	" kdf TEXT NOT NULL, kdf_n INTEGER NOT NULL, kdf_r INTEGER NOT NULL,"
	" kdf_p INTEGER NOT NULL, salt BLOB NOT NULL, iv BLOB NOT NULL, ct BLOB NOT NULL);"
	"CREATE TABLE object (uid INTEGER PRIMARY KEY CHECK (uid > 0),"
	" private INTEGER NOT NULL CHECK (private IN (0, 1)), blob BLOB NOT NULL);";

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
	return store_fail(s, rv, "%s: %s", what, s->db != NULL ? sqlite3_errmsg(s->db) : "out of memory");
}

CK_RV store_begin(token_store_t *s, bool write)
{
	const char *sql = write ? "BEGIN IMMEDIATE" : "BEGIN";
	int rc;

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
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return CKR_OK;
	(void)store_db_fail(s, "commit failed");
	store_rollback(s);
	return CKR_DEVICE_ERROR;
}

void store_rollback(token_store_t *s)
{
	if (!sqlite3_get_autocommit(s->db))
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

CK_RV store_prepare(token_store_t *s, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) == SQLITE_OK)
		return CKR_OK;
	*st = NULL;
	return store_db_fail(s, "cannot read the token");
}

static CK_RV damaged(token_store_t *s, const char *what)
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
		rv = rc == SQLITE_DONE ? damaged(s, "no token row") : store_db_fail(s, "cannot read the token");
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
		rv = damaged(s, "invalid token row");
		goto out;
	}
	memcpy(row->label, sqlite3_column_blob(st, 0), 32);
	row->user_pin_initialized = init == 1;
	row->kdf.n = (uint64_t)n;
	row->kdf.r = (uint32_t)r;
	row->kdf.p = (uint32_t)p;
	if (!kdf_params_valid(&row->kdf))
		rv = damaged(s, "invalid KDF parameters in the token row");
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
		rv = damaged(s, "no token row");
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
		rv = damaged(s, sql);
	else
		*v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rv;
}

/* Open the database file and set the per-connection options. */
static CK_RV connect_db(token_store_t *s, const char *file)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW;

	if (sqlite3_open_v2(file, &s->db, flags, NULL) != SQLITE_OK)
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
		rv = damaged(s, "missing or invalid serial");
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
		return damaged(s, "no schema version");
	if (v != STORE_SCHEMA_VERSION && v != STORE_SCHEMA_VERSION_TPM)
		return store_fail(s, CKR_DEVICE_ERROR,
				  "token schema version %lld is not supported (this build reads version %d)",
				  (long long)v, STORE_SCHEMA_VERSION);
	if (query_int(s, "SELECT count(*) FROM sqlite_master WHERE type IN ('trigger', 'view')",
		      &v) != CKR_OK || v != 0)
		return damaged(s, "unexpected triggers or views");
	rv = store_read_token(s, &row);
	if (rv != CKR_OK)
		return rv;
	rv = read_serial(s);
	if (rv != CKR_OK)
		return rv;
	if (query_int(s, "SELECT count(*) FROM wrapped_key WHERE who = 0", &v) != CKR_OK || v != 1)
		return damaged(s, "no SO key");
	s->seen_gen = row.obj_gen;
	return CKR_OK;
}

static CK_RV check_file(token_store_t *s)
{
	struct stat st;
	char text[128];
	CK_RV rv;

	if (lstat(s->path, &st) != 0)
		return store_fail(s, CKR_DEVICE_ERROR, "%s", strerror(errno));
	if (S_ISLNK(st.st_mode))
		return store_fail(s, CKR_DEVICE_ERROR, "is a symbolic link (not followed)");
	if (!S_ISREG(st.st_mode))
		return store_fail(s, CKR_DEVICE_ERROR, "not a regular file");
	if (access(s->path, R_OK | W_OK) != 0)
		return store_fail(s, CKR_DEVICE_ERROR, "not readable and writable: %s", strerror(errno));
	rv = connect_db(s, s->path);
	if (rv != CKR_OK)
		return rv;
	/* Walk every page once, so that a truncated or scribbled file is
	 * refused here instead of failing some later call half-way. */
	if (query_text(s, "PRAGMA quick_check", text, sizeof(text)) != CKR_OK)
		return store_fail(s, CKR_DEVICE_ERROR, "not a token file (%s)", sqlite3_errmsg(s->db));
	if (strcmp(text, "ok") != 0)
		return damaged(s, text);
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
	 * writes to it, and a file that is refused must stay as it was. */
	rv = query_text(s, "PRAGMA journal_mode = WAL", text, sizeof(text));
	if (rv != CKR_OK)
		return rv;
	if (strcmp(text, "wal") != 0)
		return store_fail(s, CKR_DEVICE_ERROR, "cannot use a WAL journal here (got %s)", text);
	return query_int(s, "PRAGMA data_version", &s->seen_dv);
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
	if (rv == CKR_OK)
		rv = store_prepare(s, "PRAGMA data_version", &s->dv_stmt);
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
	sqlite3_finalize(s->dv_stmt);
	sqlite3_close_v2(s->db);
	free(s->path);
	free(s);
}

void token_store_abandon(token_store_t *s)
{
	if (s == NULL)
		return;
	token_store_logout(s);
	free(s->path);
	free(s);
}

const char *token_store_error(const token_store_t *s)
{
	return s != NULL ? s->err : open_err;
}

/* ---- Creation -------------------------------------------------------- */

static unsigned long env_max_fails(void)
{
	const char *env = getenv("OFFPASS_P11_MAX_PIN_FAILS");
	unsigned long v;
	char *end;

	if (env == NULL || *env == '\0' || *env == '-')
		return TOKEN_MAX_FAILS_DEFAULT;
	errno = 0;
	v = strtoul(env, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > 1000)
		return TOKEN_MAX_FAILS_DEFAULT;
	return v;
}

static CK_RV insert_rows(token_store_t *s, const CK_UTF8CHAR label[32], const kdf_params_t *kp)
{
	sqlite3_stmt *st = NULL;
	char sql[64];
	CK_RV rv;

	snprintf(sql, sizeof(sql), "PRAGMA application_id = %d", STORE_APPLICATION_ID);
	if (sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(s->db, "INSERT INTO meta VALUES ('format', '" STORE_FORMAT "'),"
			 " ('schema_version', 1)", NULL, NULL, NULL) != SQLITE_OK)
		return store_db_fail(s, "cannot create the schema");
	rv = store_prepare(s, "INSERT INTO token VALUES (1, ?1, ?2, 0, 0, 0, ?3, ?4, ?5, ?6, 1, 1)", &st);
	if (rv != CKR_OK)
		return rv;
	if (sqlite3_bind_blob(st, 1, label, 32, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, s->serial, 16, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, (sqlite3_int64)env_max_fails()) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 4, (sqlite3_int64)kp->n) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 5, kp->r) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 6, kp->p) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE)
		rv = store_db_fail(s, "cannot create the token row");
	sqlite3_finalize(st);
	return rv;
}

static CK_RV new_serial(char serial[16])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[8];

	if (RAND_bytes(r, sizeof(r)) != 1)
		return CKR_GENERAL_ERROR;
	for (size_t i = 0; i < sizeof(r); i++) {
		serial[2 * i] = hex[r[i] >> 4];
		serial[2 * i + 1] = hex[r[i] & 15];
	}
	return CKR_OK;
}

/* Fill the temporary database t (already connected): schema, rows, the SO
 * wrapped key, all in one transaction. */
static CK_RV fill_new(token_store_t *t, const CK_UTF8CHAR *so_pin, CK_ULONG so_pin_len,
		      const CK_UTF8CHAR label[32])
{
	unsigned char *key = store_key_alloc();
	wrapped_key_t wk;
	kdf_params_t kp;
	CK_RV rv = CKR_HOST_MEMORY;

	if (key == NULL)
		goto out;
	kdf_params_default(&kp);
	rv = CKR_GENERAL_ERROR;
	if (new_serial(t->serial) != CKR_OK || RAND_bytes(key, STORE_KEY_LEN) != 1)
		goto out;
	rv = store_wrap(t, STORE_WHO_SO, so_pin, so_pin_len, &kp, store_tpm_wanted_for_new(), key, &wk);
	if (rv != CKR_OK)
		goto out;
	rv = store_begin(t, true);
	if (rv != CKR_OK)
		goto out;
	rv = insert_rows(t, label, &kp);
	if (rv == CKR_OK)
		rv = store_write_wrapped(t, STORE_WHO_SO, &wk);
	if (rv == CKR_OK)
		rv = store_commit(t);
	else
		store_rollback(t);
	/* The data is in the file already (rollback journal); switching now
	 * only marks the header, so the token is born in WAL mode and its
	 * first open does not have to write. */
	if (rv == CKR_OK && sqlite3_exec(t->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK)
		rv = store_db_fail(t, "cannot switch to a WAL journal");
out:
	secmem_free(key, STORE_KEY_LEN);
	return rv;
}

/* The token is built in a temporary file next to path and linked into
 * place when complete: a token file is whole or absent, and link(2) fails
 * if path appeared meanwhile, where rename(2) would replace it. */
static CK_RV create_file(token_store_t *t, const char *path, const CK_UTF8CHAR *so_pin,
			 CK_ULONG so_pin_len, const CK_UTF8CHAR label[32])
{
	size_t n = strlen(path) + sizeof(".new-XXXXXX");
	char *tmp = malloc(n);
	int fd = -1;
	CK_RV rv;

	if (tmp == NULL)
		return store_fail(t, CKR_HOST_MEMORY, "out of memory");
	snprintf(tmp, n, "%s.new-XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		rv = store_fail(t, CKR_DEVICE_ERROR, "cannot create a file beside it: %s", strerror(errno));
		free(tmp);
		return rv;
	}
	if (fchmod(fd, S_IRUSR | S_IWUSR) != 0 || close(fd) != 0) {
		rv = store_fail(t, CKR_DEVICE_ERROR, "cannot create: %s", strerror(errno));
		goto out;
	}
	rv = connect_db(t, tmp);
	if (rv == CKR_OK)
		rv = fill_new(t, so_pin, so_pin_len, label);
	if (t->db != NULL && sqlite3_close(t->db) != SQLITE_OK && rv == CKR_OK)
		rv = store_fail(t, CKR_DEVICE_ERROR, "cannot close the new token");
	t->db = NULL;
	if (rv != CKR_OK)
		goto out;
	if (link(tmp, path) != 0) {
		rv = store_fail(t, CKR_DEVICE_ERROR, errno == EEXIST ? "already exists" : "cannot create: %s",
				strerror(errno));
		goto out;
	}
	if (fsync_parent_dir(path) != 0)
		rv = store_fail(t, CKR_DEVICE_ERROR, "cannot sync the directory");
out:
	(void)unlink(tmp);
	free(tmp);
	return rv;
}

CK_RV token_store_create(const char *path, const CK_UTF8CHAR *so_pin, CK_ULONG so_pin_len,
			 const CK_UTF8CHAR label[32], token_store_t **out)
{
	token_store_t t = { 0 };
	struct stat st;
	CK_RV rv;

	open_err[0] = '\0';
	if (out != NULL)
		*out = NULL;
	if (path == NULL || out == NULL || label == NULL || (so_pin == NULL && so_pin_len > 0))
		return CKR_ARGUMENTS_BAD;
	t.path = (char *)path;
	if (so_pin_len < TOKEN_PIN_MIN || so_pin_len > TOKEN_PIN_MAX)
		rv = store_fail(&t, CKR_PIN_LEN_RANGE, "SO PIN length %lu not in [%d, %d]",
				(unsigned long)so_pin_len, TOKEN_PIN_MIN, TOKEN_PIN_MAX);
	else if (lstat(path, &st) == 0)
		rv = store_fail(&t, CKR_DEVICE_ERROR, "already exists");
	else if (errno != ENOENT)
		rv = store_fail(&t, CKR_DEVICE_ERROR, "%s", strerror(errno));
	else
		rv = create_file(&t, path, so_pin, so_pin_len, label);
	if (rv != CKR_OK) {
		snprintf(open_err, sizeof(open_err), "%s", t.err);
		return rv;
	}
	return token_store_open(path, out);
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
	return meta_protection(s, out);
}
