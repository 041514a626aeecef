/* store_create.c - a new token file: built beside its final name and
 * linked into place whole (see token_store_create in store.h). */
#include "config.h"
#include "p11/store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/rand.h>
#include "atomic_file.h"
#include "secmem.h"

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

/* ---- Creation -------------------------------------------------------- */

/* A number from the environment in [min, max], else dflt. */
static unsigned long env_number(const char *name, unsigned long min, unsigned long max,
				unsigned long dflt)
{
	const char *env = getenv(name);
	unsigned long v;
	char *end;

	if (env == NULL || *env == '\0' || *env == '-')
		return dflt;
	errno = 0;
	v = strtoul(env, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return dflt;
	return v;
}

static unsigned long env_max_fails(void)
{
	return env_number("OFFPASS_P11_MAX_PIN_FAILS", 1, 1000, TOKEN_MAX_FAILS_DEFAULT);
}

unsigned long store_env_min_pin_len(void)
{
	return env_number("OFFPASS_P11_MIN_PIN_LEN", TOKEN_PIN_MIN, TOKEN_PIN_MAX, TOKEN_USER_PIN_MIN_DEFAULT);
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
	rv = store_write_min_pin_len(s, store_env_min_pin_len());
	if (rv != CKR_OK)
		return rv;
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
	rv = store_connect(t, tmp, false);
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

	store_set_open_error("");
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
		store_set_open_error(t.err);
		return rv;
	}
	return token_store_open(path, out);
}
