/* store_tpm_db.c - where a token file keeps its TPM-sealed objects.
 *
 *   tpm_seal(who, blob)   who's sealed object (store_tpm.h's blob), present
 *                         exactly when wrapped_key(who).kdf = 'scrypt+tpm2'
 *
 * The table is created with the first TPM-bound wrapping, in the same
 * transaction as the wrapped key it belongs to, so a token that never
 * meets a TPM keeps the schema of version 1; the same transaction marks
 * the file schema version 2, which builds without the TPM refuse by
 * version rather than misreading. */
#include "config.h"
#include "p11/store/store_int.h"

#include <string.h>

static CK_RV table_exists(token_store_t *s, bool *yes)
{
	sqlite3_stmt *st = NULL;
	CK_RV rv = store_prepare(s, "SELECT count(*) FROM sqlite_master"
				 " WHERE type = 'table' AND name = 'tpm_seal'", &st);

	if (rv != CKR_OK)
		return rv;
	if (sqlite3_step(st) != SQLITE_ROW)
		rv = store_db_fail(s, "cannot read the token");
	else
		*yes = sqlite3_column_int64(st, 0) > 0;
	sqlite3_finalize(st);
	return rv;
}

static CK_RV forget_sealed(token_store_t *s, int who)
{
	sqlite3_stmt *st = NULL;
	bool exists = false;
	CK_RV rv = table_exists(s, &exists);

	if (rv != CKR_OK || !exists)
		return rv;
	rv = store_prepare(s, "DELETE FROM tpm_seal WHERE who = ?1", &st);
	if (rv != CKR_OK)
		return rv;
	if (sqlite3_bind_int(st, 1, who) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		rv = store_db_fail(s, "cannot forget a TPM sealed object");
	sqlite3_finalize(st);
	return rv;
}

CK_RV store_tpm_write_sealed(token_store_t *s, int who, const wrapped_key_t *wk)
{
	sqlite3_stmt *st = NULL;
	CK_RV rv;

	if (wk == NULL || !wk->tpm)
		return forget_sealed(s, who);
	if (sqlite3_exec(s->db, "CREATE TABLE IF NOT EXISTS tpm_seal"
			 " (who INTEGER PRIMARY KEY CHECK (who IN (0, 1)), blob BLOB NOT NULL);"
			 " UPDATE meta SET value = 2 WHERE name = 'schema_version';",
			 NULL, NULL, NULL) != SQLITE_OK)
		return store_db_fail(s, "cannot add the TPM table");
	rv = store_prepare(s, "INSERT OR REPLACE INTO tpm_seal VALUES (?1, ?2)", &st);
	if (rv != CKR_OK)
		return rv;
	if (sqlite3_bind_int(st, 1, who) != SQLITE_OK ||
	    sqlite3_bind_blob(st, 2, wk->sealed.data, (int)wk->sealed.len, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE)
		rv = store_db_fail(s, "cannot store a TPM sealed object");
	sqlite3_finalize(st);
	return rv;
}

CK_RV store_tpm_read_sealed(token_store_t *s, int who, tpm_blob_t *out)
{
	sqlite3_stmt *st = NULL;
	bool exists = false;
	CK_RV rv = table_exists(s, &exists);
	int len;

	if (rv != CKR_OK)
		return rv;
	if (!exists)
		return store_fail(s, CKR_DEVICE_ERROR, "damaged token file: no TPM sealed objects");
	rv = store_prepare(s, "SELECT blob FROM tpm_seal WHERE who = ?1", &st);
	if (rv != CKR_OK)
		return rv;
	if (sqlite3_bind_int(st, 1, who) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW ||
	    sqlite3_column_type(st, 0) != SQLITE_BLOB ||
	    (len = sqlite3_column_bytes(st, 0)) <= 0 || (size_t)len > sizeof(out->data)) {
		rv = store_fail(s, CKR_DEVICE_ERROR, "damaged token file: no valid TPM sealed object for the %s",
				who == STORE_WHO_SO ? "SO" : "user");
	} else {
		memcpy(out->data, sqlite3_column_blob(st, 0), (size_t)len);
		out->len = (size_t)len;
	}
	sqlite3_finalize(st);
	return rv;
}

CK_RV store_tpm_count(token_store_t *s, int64_t *bound, int64_t *all)
{
	sqlite3_stmt *st = NULL;
	CK_RV rv = store_prepare(s, "SELECT count(*), coalesce(sum(kdf = '" STORE_KDF_TPM "'), 0)"
				 " FROM wrapped_key", &st);

	if (rv != CKR_OK)
		return rv;
	if (sqlite3_step(st) != SQLITE_ROW) {
		rv = store_db_fail(s, "cannot read the token");
	} else {
		*all = sqlite3_column_int64(st, 0);
		*bound = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return rv;
}

CK_RV store_tpm_wanted(token_store_t *s, bool *tpm)
{
	int64_t bound = 0, all = 0;
	CK_RV rv = store_tpm_count(s, &bound, &all);

	if (rv == CKR_OK)
		*tpm = bound > 0 || store_tpm_mode() == STORE_TPM_ON;
	return rv;
}
