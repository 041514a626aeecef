/* store_obj.c - objects: loading (decrypting private ones), storing,
 * deleting, and noticing other processes' changes.
 *
 * A stored blob is the attr_list_serialize() encoding for a public object
 * and, for a private one,
 *   0x01 | iv (12) | AES-256-GCM(token key, encoding) | tag (16)
 * with additional data "offpass-p11 object v1" || serial || uid (8, big
 * endian) || private flag, so a blob moved to another row, another token
 * or the public side no longer opens.
 *
 * Change detection: PRAGMA data_version moves when any other connection
 * commits; obj_gen in the token row moves only when objects change, so a
 * PIN check elsewhere (which commits a failure count) does not make the
 * module reload ten thousand objects. */
#include "config.h"
#include "p11/store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>
#include "secmem.h"

#define BLOB_VERSION 0x01
#define BLOB_OVERHEAD (1 + STORE_IV_LEN + STORE_TAG_LEN)

static const char obj_aad_tag[] = "offpass-p11 object v1";
#define OBJ_AAD_LEN (sizeof(obj_aad_tag) + 16 + 8 + 1)

static void obj_aad(const token_store_t *s, uint64_t uid, bool priv, unsigned char aad[OBJ_AAD_LEN])
{
	unsigned char *p = aad + sizeof(obj_aad_tag) + 16;

	memcpy(aad, obj_aad_tag, sizeof(obj_aad_tag));
	memcpy(aad + sizeof(obj_aad_tag), s->serial, 16);
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(uid >> (56 - 8 * i));
	p[8] = priv ? 1 : 0;
}

/* ---- Change detection ------------------------------------------------ */

bool token_store_changed(token_store_t *s)
{
	token_row_t row;
	int64_t dv;

	if (s == NULL || s->stale)
		return true;
	/* When in doubt, say changed: a needless reload is only slow. */
	if (sqlite3_step(s->dv_stmt) != SQLITE_ROW) {
		sqlite3_reset(s->dv_stmt);
		return true;
	}
	dv = sqlite3_column_int64(s->dv_stmt, 0);
	sqlite3_reset(s->dv_stmt);
	if (dv == s->seen_dv)
		return false;
	if (store_read_token(s, &row) != CKR_OK)
		return true;
	s->seen_dv = dv;
	if (row.obj_gen != s->seen_gen)
		s->stale = true;
	return s->stale;
}

static CK_RV data_version(token_store_t *s, int64_t *dv)
{
	CK_RV rv = CKR_OK;

	if (sqlite3_step(s->dv_stmt) == SQLITE_ROW)
		*dv = sqlite3_column_int64(s->dv_stmt, 0);
	else
		rv = store_db_fail(s, "cannot read the data version");
	sqlite3_reset(s->dv_stmt);
	return rv;
}

/* ---- Loading ------------------------------------------------------------ */

/* Decode one stored blob into out (initialised, empty). A failure is a
 * damaged object: the reason goes to *why. */
static CK_RV decode(token_store_t *s, uint64_t uid, bool priv, const unsigned char *blob,
		    size_t len, attr_list_t *out, const char **why)
{
	unsigned char aad[OBJ_AAD_LEN];
	unsigned char *pt = NULL;
	size_t pt_len = 0;
	CK_RV rv;

	if (!priv) {
		rv = attr_list_parse(blob, len, out);
		*why = "unparseable attributes";
		return rv;
	}
	if (len < BLOB_OVERHEAD || len - BLOB_OVERHEAD > ATTR_BLOB_MAX || blob[0] != BLOB_VERSION) {
		*why = "malformed encrypted blob";
		return CKR_ENCRYPTED_DATA_INVALID;
	}
	pt_len = len - BLOB_OVERHEAD;
	pt = secmem_alloc(pt_len);
	if (pt == NULL) {
		*why = "out of memory";
		return CKR_HOST_MEMORY;
	}
	obj_aad(s, uid, priv, aad);
	rv = store_unseal(s->key, aad, sizeof(aad), blob + 1, blob + 1 + STORE_IV_LEN,
			  len - 1 - STORE_IV_LEN, pt);
	*why = "does not decrypt";
	if (rv == CKR_OK) {
		rv = attr_list_parse(pt, pt_len, out);
		*why = "unparseable attributes";
	}
	secmem_free(pt, pt_len);
	return rv;
}

typedef struct load_state {
	unsigned long damaged;
	char first[160];
} load_state_t;

static CK_RV load_row(token_store_t *s, sqlite3_stmt *st, token_store_object_cb cb, void *ctx,
		      load_state_t *ls)
{
	attr_list_t attrs;
	const char *why = "invalid row";
	int64_t uid = sqlite3_column_int64(st, 0), priv = sqlite3_column_int64(st, 1);
	const void *blob = sqlite3_column_blob(st, 2);
	int len = sqlite3_column_bytes(st, 2);
	CK_RV rv = CKR_DEVICE_ERROR;

	if (priv == 1 && s->key == NULL)
		return CKR_OK; /* invisible until login */
	attr_list_init(&attrs);
	if (sqlite3_column_type(st, 0) == SQLITE_INTEGER && uid > 0 &&
	    sqlite3_column_type(st, 1) == SQLITE_INTEGER && (priv == 0 || priv == 1) &&
	    sqlite3_column_type(st, 2) == SQLITE_BLOB && blob != NULL && len > 0)
		rv = decode(s, (uint64_t)uid, priv == 1, blob, (size_t)len, &attrs, &why);
	if (rv != CKR_OK) {
		if (ls->damaged++ == 0)
			snprintf(ls->first, sizeof(ls->first), "object %lld: %s", (long long)uid, why);
		rv = CKR_OK;
		goto out;
	}
	rv = cb((uint64_t)uid, priv == 1, &attrs, ctx);
out:
	attr_list_clear(&attrs);
	return rv;
}

static CK_RV load_rows(token_store_t *s, token_store_object_cb cb, void *ctx, load_state_t *ls)
{
	sqlite3_stmt *st = NULL;
	CK_RV rv = store_prepare(s, "SELECT uid, private, blob FROM object ORDER BY uid", &st);
	int rc;

	if (rv != CKR_OK)
		return rv;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rv = load_row(s, st, cb, ctx, ls);
		if (rv != CKR_OK)
			break;
	}
	if (rv == CKR_OK && rc != SQLITE_DONE)
		rv = store_db_fail(s, "cannot read the objects");
	sqlite3_finalize(st);
	return rv;
}

CK_RV token_store_load(token_store_t *s, token_store_object_cb cb, void *ctx)
{
	load_state_t ls = { 0 };
	token_row_t row;
	int64_t dv = 0;
	CK_RV rv;

	if (s == NULL || cb == NULL)
		return CKR_ARGUMENTS_BAD;
	s->err[0] = '\0';
	/* One snapshot: the objects, their generation and data_version agree. */
	rv = store_begin(s, false);
	if (rv != CKR_OK)
		return rv;
	rv = store_read_token(s, &row);
	if (rv == CKR_OK)
		rv = data_version(s, &dv);
	if (rv != CKR_OK)
		goto out;
	/* Re-initialised elsewhere: the key in memory opens nothing any more. */
	if (s->key != NULL && row.key_gen != s->key_gen)
		token_store_logout(s);
	rv = load_rows(s, cb, ctx, &ls);
out:
	store_rollback(s); /* ends the read transaction; nothing was written */
	if (rv != CKR_OK)
		return rv;
	s->seen_dv = dv;
	s->seen_gen = row.obj_gen;
	s->stale = false;
	if (ls.damaged > 0)
		(void)store_fail(s, CKR_OK, "%lu damaged object(s) skipped, first %s", ls.damaged, ls.first);
	return CKR_OK;
}

/* ---- Writing ---------------------------------------------------------- */

/* Open a write transaction and read the token row; for a private object,
 * also confirm the key in memory is still the token's. */
static CK_RV begin_write(token_store_t *s, bool need_key, token_row_t *row)
{
	CK_RV rv = store_begin(s, true);

	if (rv != CKR_OK)
		return rv;
	rv = store_read_token(s, row);
	if (rv == CKR_OK && need_key && row->key_gen != s->key_gen) {
		token_store_logout(s);
		rv = store_fail(s, CKR_USER_NOT_LOGGED_IN, "the token was re-initialised meanwhile");
	}
	if (rv != CKR_OK)
		store_rollback(s);
	return rv;
}

/* Bump obj_gen and commit. If someone else changed the objects since this
 * handle last looked, the caller's view is stale and stays flagged so. */
static CK_RV finish_write(token_store_t *s, token_row_t *row)
{
	CK_RV rv;

	if (row->obj_gen != s->seen_gen)
		s->stale = true;
	row->obj_gen++;
	rv = store_write_token(s, row);
	if (rv == CKR_OK)
		rv = store_commit(s);
	else
		store_rollback(s);
	if (rv == CKR_OK)
		s->seen_gen = row->obj_gen;
	return rv;
}

static CK_RV uid_exists(token_store_t *s, uint64_t uid, bool *exists)
{
	sqlite3_stmt *st = NULL;
	CK_RV rv = store_prepare(s, "SELECT 1 FROM object WHERE uid = ?1", &st);
	int rc;

	if (rv != CKR_OK)
		return rv;
	if (sqlite3_bind_int64(st, 1, (sqlite3_int64)uid) != SQLITE_OK)
		rc = SQLITE_ERROR;
	else
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		*exists = rc == SQLITE_ROW;
	else
		rv = store_db_fail(s, "cannot read the objects");
	sqlite3_finalize(st);
	return rv;
}

/* A fresh random 63-bit uid: random rather than a counter so that uids
 * never repeat across re-initialisation or between processes. */
static CK_RV new_uid(token_store_t *s, uint64_t *uid)
{
	bool exists = true;
	CK_RV rv = CKR_OK;

	while (rv == CKR_OK && exists) {
		if (RAND_bytes((unsigned char *)uid, sizeof(*uid)) != 1)
			return store_fail(s, CKR_GENERAL_ERROR, "no random uid");
		*uid &= (uint64_t)INT64_MAX;
		if (*uid != 0)
			rv = uid_exists(s, *uid, &exists);
	}
	return rv;
}

/* The stored form of a private object (see the top of this file). */
static CK_RV seal_object(token_store_t *s, uint64_t uid, const unsigned char *pt, size_t pt_len,
		     unsigned char **blob, size_t *blob_len)
{
	unsigned char aad[OBJ_AAD_LEN];
	CK_RV rv;

	*blob_len = pt_len + BLOB_OVERHEAD;
	*blob = malloc(*blob_len);
	if (*blob == NULL)
		return store_fail(s, CKR_HOST_MEMORY, "out of memory");
	(*blob)[0] = BLOB_VERSION;
	obj_aad(s, uid, true, aad);
	rv = store_seal(s->key, aad, sizeof(aad), pt, pt_len, *blob + 1, *blob + 1 + STORE_IV_LEN);
	if (rv != CKR_OK) {
		free(*blob);
		*blob = NULL;
		return store_fail(s, rv, "cannot encrypt the object");
	}
	return CKR_OK;
}

static CK_RV write_row(token_store_t *s, uint64_t uid, bool priv, const unsigned char *blob, size_t len)
{
	sqlite3_stmt *st = NULL;
	CK_RV rv = store_prepare(s, "INSERT OR REPLACE INTO object VALUES (?1, ?2, ?3)", &st);

	if (rv != CKR_OK)
		return rv;
	if (sqlite3_bind_int64(st, 1, (sqlite3_int64)uid) != SQLITE_OK ||
	    sqlite3_bind_int(st, 2, priv ? 1 : 0) != SQLITE_OK ||
	    sqlite3_bind_blob64(st, 3, blob, len, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE)
		rv = store_db_fail(s, "cannot store the object");
	sqlite3_finalize(st);
	return rv;
}

/* Inside the write transaction: pick or confirm the uid, encrypt, write. */
static CK_RV put_locked(token_store_t *s, uint64_t *uid, bool priv, const unsigned char *pt, size_t pt_len)
{
	unsigned char *blob = NULL;
	size_t blob_len = 0;
	bool exists = false;
	uint64_t id = *uid;
	CK_RV rv;

	if (id == 0) {
		rv = new_uid(s, &id);
	} else {
		rv = uid_exists(s, id, &exists);
		if (rv == CKR_OK && !exists)
			rv = store_fail(s, CKR_OBJECT_HANDLE_INVALID, "no object %llu", (unsigned long long)id);
	}
	/* A public object is stored as its encoding; only the ciphertext of a
	 * private one needs a buffer of its own. */
	if (rv == CKR_OK && priv)
		rv = seal_object(s, id, pt, pt_len, &blob, &blob_len);
	if (rv == CKR_OK)
		rv = priv ? write_row(s, id, true, blob, blob_len) : write_row(s, id, false, pt, pt_len);
	if (rv == CKR_OK)
		*uid = id;
	free(blob);
	return rv;
}

/* Serialise every item first, so that the write transaction holds no
 * allocation failure points beyond SQLite's own. */
static CK_RV serialize_items(token_store_t *s, token_store_item_t *items, size_t n,
			     unsigned char **pt, size_t *pt_len, bool *any_private)
{
	*any_private = false;
	for (size_t i = 0; i < n; i++) {
		if (items[i].attrs == NULL)
			return CKR_ARGUMENTS_BAD;
		if (items[i].uid > (uint64_t)INT64_MAX)
			return store_fail(s, CKR_OBJECT_HANDLE_INVALID, "no object %llu",
					  (unsigned long long)items[i].uid);
		if (items[i].is_private && s->key == NULL)
			return store_fail(s, CKR_USER_NOT_LOGGED_IN, "private objects need the token key");
		CK_RV rv = attr_list_serialize(items[i].attrs, &pt[i], &pt_len[i]);
		if (rv != CKR_OK)
			return store_fail(s, rv, "cannot serialise the object");
		*any_private |= items[i].is_private;
	}
	return CKR_OK;
}

CK_RV token_store_put_many(token_store_t *s, token_store_item_t *items, size_t n)
{
	unsigned char *pt[TOKEN_STORE_PUT_MAX] = { NULL };
	size_t pt_len[TOKEN_STORE_PUT_MAX] = { 0 };
	uint64_t ids[TOKEN_STORE_PUT_MAX];
	bool any_private = false;
	token_row_t row;
	CK_RV rv;

	if (s == NULL || items == NULL || n == 0 || n > TOKEN_STORE_PUT_MAX)
		return CKR_ARGUMENTS_BAD;
	s->err[0] = '\0';
	rv = serialize_items(s, items, n, pt, pt_len, &any_private);
	if (rv != CKR_OK)
		goto out;
	rv = begin_write(s, any_private, &row);
	if (rv != CKR_OK)
		goto out;
	for (size_t i = 0; rv == CKR_OK && i < n; i++) {
		ids[i] = items[i].uid;
		rv = put_locked(s, &ids[i], items[i].is_private, pt[i], pt_len[i]);
	}
	if (rv == CKR_OK)
		rv = finish_write(s, &row);
	else
		store_rollback(s);
	for (size_t i = 0; rv == CKR_OK && i < n; i++)
		items[i].uid = ids[i];
out:
	for (size_t i = 0; i < n; i++)
		secmem_free(pt[i], pt_len[i]);
	return rv;
}

CK_RV token_store_put(token_store_t *s, uint64_t *uid, bool is_private, const attr_list_t *attrs)
{
	token_store_item_t item = { .uid = uid ? *uid : 0, .is_private = is_private, .attrs = attrs };
	CK_RV rv;

	if (uid == NULL)
		return CKR_ARGUMENTS_BAD;
	rv = token_store_put_many(s, &item, 1);
	if (rv == CKR_OK)
		*uid = item.uid;
	return rv;
}

CK_RV token_store_delete(token_store_t *s, uint64_t uid)
{
	sqlite3_stmt *st = NULL;
	token_row_t row;
	CK_RV rv;

	if (s == NULL)
		return CKR_ARGUMENTS_BAD;
	s->err[0] = '\0';
	if (uid == 0 || uid > (uint64_t)INT64_MAX)
		return store_fail(s, CKR_OBJECT_HANDLE_INVALID, "no object %llu", (unsigned long long)uid);
	rv = begin_write(s, false, &row);
	if (rv != CKR_OK)
		return rv;
	rv = store_prepare(s, "DELETE FROM object WHERE uid = ?1", &st);
	if (rv == CKR_OK && (sqlite3_bind_int64(st, 1, (sqlite3_int64)uid) != SQLITE_OK ||
			     sqlite3_step(st) != SQLITE_DONE))
		rv = store_db_fail(s, "cannot delete the object");
	if (rv == CKR_OK && sqlite3_changes(s->db) != 1)
		rv = store_fail(s, CKR_OBJECT_HANDLE_INVALID, "no object %llu", (unsigned long long)uid);
	sqlite3_finalize(st);
	if (rv == CKR_OK)
		return finish_write(s, &row);
	store_rollback(s);
	return rv;
}
