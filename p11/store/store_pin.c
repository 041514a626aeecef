/* store_pin.c - PINs: wrapping the token key, counted checks, lockout,
 * changing PINs and re-initialising the token.
 *
 * Every PIN operation has the same shape. verify() spends a guess (the
 * failure count is raised and committed before the slow KDF runs), then
 * unwraps. The operation prepares whatever is slow (another KDF) outside any
 * lock, and finishes in one write transaction that first checks the state
 * it verified against is still there (the same wrapped key, the same token
 * key). If another process changed it meanwhile, the whole operation runs
 * again against the new state, so a PIN is only ever accepted for the
 * state it was checked against. */
#include "config.h"
#include "p11/store/store_int.h"

#include <string.h>
#include <openssl/rand.h>
#include "secmem.h"

/* Internal: the state changed between verify() and the final transaction. */
#define STORE_RETRY (CKR_VENDOR_DEFINED | 0x5245u)
#define STORE_MAX_TRIES 3

static const char key_aad_tag[] = "offpass-p11 token key v1";

/* Domain tag, serial and user type: a wrapped key cannot be moved to the
 * other user type or to another token. */
#define KEY_AAD_LEN (sizeof(key_aad_tag) + 16 + 1)
static void key_aad(const token_store_t *s, int who, unsigned char aad[KEY_AAD_LEN])
{
	memcpy(aad, key_aad_tag, sizeof(key_aad_tag));
	memcpy(aad + sizeof(key_aad_tag), s->serial, 16);
	aad[KEY_AAD_LEN - 1] = (unsigned char)who;
}

static bool pin_len_ok(CK_ULONG len)
{
	return len >= TOKEN_PIN_MIN && len <= TOKEN_PIN_MAX;
}

static CK_RV pin_len_fail(token_store_t *s, CK_ULONG len)
{
	return store_fail(s, CKR_PIN_LEN_RANGE, "PIN length %lu not in [%d, %d]",
			  (unsigned long)len, TOKEN_PIN_MIN, TOKEN_PIN_MAX);
}

/* A new user PIN: at least the token's minimum, at most TOKEN_PIN_MAX. */
static CK_RV user_pin_len_ok(token_store_t *s, CK_ULONG len)
{
	CK_ULONG min = TOKEN_USER_PIN_MIN_DEFAULT;
	CK_RV rv = store_min_user_pin_len(s, &min);

	if (rv != CKR_OK)
		return rv;
	if (len < min || len > TOKEN_PIN_MAX)
		return store_fail(s, CKR_PIN_LEN_RANGE, "user PIN length %lu not in [%lu, %d]",
				  (unsigned long)len, (unsigned long)min, TOKEN_PIN_MAX);
	return CKR_OK;
}

CK_RV store_wrap(token_store_t *s, int who, const CK_UTF8CHAR *pin, size_t pin_len,
		 const kdf_params_t *kp, bool tpm, const unsigned char *token_key, wrapped_key_t *out)
{
	unsigned char aad[KEY_AAD_LEN];
	unsigned char *kek = store_key_alloc();
	CK_RV rv;

	if (kek == NULL)
		return store_fail(s, CKR_HOST_MEMORY, "out of memory");
	out->kdf = *kp;
	out->tpm = tpm;
	if (RAND_bytes(out->salt, STORE_SALT_LEN) != 1) {
		rv = store_fail(s, CKR_GENERAL_ERROR, "no random salt");
		goto out;
	}
	rv = store_kdf(pin, pin_len, out->salt, STORE_SALT_LEN, kp, kek);
	if (rv != CKR_OK) {
		(void)store_fail(s, rv, "scrypt failed (N=%llu r=%u p=%u)",
				 (unsigned long long)kp->n, kp->r, kp->p);
		goto out;
	}
	if (tpm && (rv = store_tpm_seal_kek(s, kek, &out->sealed)) != CKR_OK)
		goto out;
	key_aad(s, who, aad);
	rv = store_seal(kek, aad, sizeof(aad), token_key, STORE_KEY_LEN, out->iv, out->ct);
	if (rv != CKR_OK)
		(void)store_fail(s, rv, "cannot seal the token key");
out:
	secmem_free(kek, STORE_KEY_LEN);
	return rv;
}

CK_RV store_write_wrapped(token_store_t *s, int who, const wrapped_key_t *wk)
{
	sqlite3_stmt *st = NULL;
	CK_RV rv = store_prepare(s, "INSERT OR REPLACE INTO wrapped_key"
				 " VALUES (?1, ?8, ?2, ?3, ?4, ?5, ?6, ?7)", &st);

	if (rv != CKR_OK)
		return rv;
	if (sqlite3_bind_int(st, 1, who) != SQLITE_OK ||
	    sqlite3_bind_text(st, 8, wk->tpm ? STORE_KDF_TPM : STORE_KDF, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, (sqlite3_int64)wk->kdf.n) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, wk->kdf.r) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 4, wk->kdf.p) != SQLITE_OK ||
	    sqlite3_bind_blob(st, 5, wk->salt, STORE_SALT_LEN, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_blob(st, 6, wk->iv, STORE_IV_LEN, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_blob(st, 7, wk->ct, sizeof(wk->ct), SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE)
		rv = store_db_fail(s, "cannot store a wrapped key");
	sqlite3_finalize(st);
	return rv == CKR_OK ? store_tpm_write_sealed(s, who, wk) : rv;
}

static bool col_blob(sqlite3_stmt *st, int i, void *dst, int len)
{
	if (sqlite3_column_type(st, i) != SQLITE_BLOB || sqlite3_column_bytes(st, i) != len)
		return false;
	memcpy(dst, sqlite3_column_blob(st, i), (size_t)len);
	return true;
}

static CK_RV read_wrapped(token_store_t *s, int who, wrapped_key_t *wk)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *kdf;
	CK_RV rv = store_prepare(s, "SELECT kdf, kdf_n, kdf_r, kdf_p, salt, iv, ct"
				 " FROM wrapped_key WHERE who = ?1", &st);

	if (rv != CKR_OK)
		return rv;
	if (sqlite3_bind_int(st, 1, who) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		rv = store_fail(s, CKR_DEVICE_ERROR, "damaged token file: no %s key",
				who == STORE_WHO_SO ? "SO" : "user");
		goto out;
	}
	kdf = sqlite3_column_text(st, 0);
	wk->kdf.n = (uint64_t)sqlite3_column_int64(st, 1);
	wk->kdf.r = (uint32_t)sqlite3_column_int64(st, 2);
	wk->kdf.p = (uint32_t)sqlite3_column_int64(st, 3);
	wk->tpm = kdf != NULL && strcmp((const char *)kdf, STORE_KDF_TPM) == 0;
	if (kdf == NULL || (!wk->tpm && strcmp((const char *)kdf, STORE_KDF) != 0) ||
	    sqlite3_column_int64(st, 2) != wk->kdf.r || sqlite3_column_int64(st, 3) != wk->kdf.p ||
	    !kdf_params_valid(&wk->kdf) ||
	    !col_blob(st, 4, wk->salt, STORE_SALT_LEN) || !col_blob(st, 5, wk->iv, STORE_IV_LEN) ||
	    !col_blob(st, 6, wk->ct, (int)sizeof(wk->ct)))
		rv = store_fail(s, CKR_DEVICE_ERROR, "damaged token file: invalid %s key",
				who == STORE_WHO_SO ? "SO" : "user");
	else if (wk->tpm)
		rv = store_tpm_read_sealed(s, who, &wk->sealed);
out:
	sqlite3_finalize(st);
	return rv;
}

/* ---- Verification ------------------------------------------------------ */

/* What a successful verify() checked against, and what it yielded. */
typedef struct verified {
	int who;
	bool tpm;                           /* the wrapped key was TPM-bound */
	unsigned char salt[STORE_SALT_LEN]; /* identifies the wrapped key */
	int64_t key_gen;
	unsigned char *key;                 /* secmem token key */
} verified_t;

static int64_t *fails_of(token_row_t *row, int who)
{
	return who == STORE_WHO_USER ? &row->user_fails : &row->so_fails;
}

/* Spend one guess: check the lock, raise and commit the count, and read
 * the wrapped key, all in one transaction. */
static CK_RV count_attempt(token_store_t *s, int who, wrapped_key_t *wk, int64_t *key_gen)
{
	token_row_t row;
	int64_t *fails;
	CK_RV rv = store_begin(s, true);

	if (rv != CKR_OK)
		return rv;
	rv = store_read_token(s, &row);
	if (rv != CKR_OK)
		goto out;
	fails = fails_of(&row, who);
	if (who == STORE_WHO_USER && !row.user_pin_initialized) {
		rv = store_fail(s, CKR_USER_PIN_NOT_INITIALIZED, "the user PIN is not initialised");
		goto out;
	}
	if (*fails >= row.max_fails) {
		rv = store_fail(s, CKR_PIN_LOCKED, "%s PIN locked after %lld wrong PINs",
				who == STORE_WHO_SO ? "SO" : "user", (long long)*fails);
		goto out;
	}
	rv = read_wrapped(s, who, wk);
	if (rv != CKR_OK)
		goto out;
	(*fails)++;
	*key_gen = row.key_gen;
	rv = store_write_token(s, &row);
	if (rv == CKR_OK)
		return store_commit(s);
out:
	store_rollback(s);
	return rv;
}

/* The TPM did not look at the PIN (no TPM, another TPM, lockout): give
 * the guess back, so that a missing chip does not lock the PIN. The TPM
 * keeps its own count of the guesses it did see. */
static void refund_attempt(token_store_t *s, int who)
{
	token_row_t row;

	if (store_begin(s, true) != CKR_OK)
		return;
	if (store_read_token(s, &row) == CKR_OK && *fails_of(&row, who) > 0) {
		(*fails_of(&row, who))--;
		if (store_write_token(s, &row) == CKR_OK && store_commit(s) == CKR_OK)
			return;
	}
	store_rollback(s);
}

static CK_RV unseal_kek(token_store_t *s, int who, unsigned char *kek, const tpm_blob_t *sealed)
{
	bool tried = false;
	CK_RV rv = store_tpm_unseal_kek(s, kek, sealed, &tried);

	if (rv != CKR_OK && (!tried || rv == CKR_PIN_LOCKED)) {
		char err[STORE_ERR_LEN];

		memcpy(err, s->err, sizeof(err));
		refund_attempt(s, who);
		memcpy(s->err, err, sizeof(err));
	}
	return rv;
}

/* A counted check of pin for who. On CKR_OK, v->key (secmem, the caller
 * frees it) holds the token key. The count is not reset here: the caller
 * does that in its final transaction. */
static CK_RV verify(token_store_t *s, int who, const CK_UTF8CHAR *pin, CK_ULONG pin_len, verified_t *v)
{
	unsigned char aad[KEY_AAD_LEN];
	unsigned char *kek = NULL;
	wrapped_key_t wk;
	CK_RV rv;

	v->who = who;
	v->key = NULL;
	rv = count_attempt(s, who, &wk, &v->key_gen);
	if (rv != CKR_OK)
		return rv;
	memcpy(v->salt, wk.salt, STORE_SALT_LEN);
	/* No PIN of this length was ever accepted by set/init: the guess is
	 * spent and the answer known without a KDF run. */
	if (!pin_len_ok(pin_len))
		return store_fail(s, CKR_PIN_INCORRECT, "incorrect PIN");
	kek = store_key_alloc();
	v->key = store_key_alloc();
	if (kek == NULL || v->key == NULL) {
		rv = store_fail(s, CKR_HOST_MEMORY, "out of memory");
		goto out;
	}
	rv = store_kdf(pin, pin_len, wk.salt, STORE_SALT_LEN, &wk.kdf, kek);
	if (rv != CKR_OK) {
		(void)store_fail(s, rv, "scrypt failed");
		goto out;
	}
	v->tpm = wk.tpm;
	if (wk.tpm && (rv = unseal_kek(s, who, kek, &wk.sealed)) != CKR_OK)
		goto out;
	key_aad(s, who, aad);
	rv = store_unseal(kek, aad, sizeof(aad), wk.iv, wk.ct, sizeof(wk.ct), v->key);
	if (rv == CKR_ENCRYPTED_DATA_INVALID)
		rv = store_fail(s, CKR_PIN_INCORRECT, "incorrect PIN");
out:
	secmem_free(kek, STORE_KEY_LEN);
	if (rv != CKR_OK) {
		secmem_free(v->key, STORE_KEY_LEN);
		v->key = NULL;
	}
	return rv;
}

static void verified_clear(verified_t *v)
{
	secmem_free(v->key, STORE_KEY_LEN);
	v->key = NULL;
}

/* Inside the final write transaction: read the row and confirm that the
 * wrapped key and the token key are the ones verify() saw; STORE_RETRY if
 * not. Resets the failure count of v->who in row (the caller writes it). */
static CK_RV still_valid(token_store_t *s, const verified_t *v, token_row_t *row)
{
	wrapped_key_t wk;
	CK_RV rv = store_read_token(s, row);

	if (rv != CKR_OK)
		return rv;
	if (v->who == STORE_WHO_USER && !row->user_pin_initialized)
		return STORE_RETRY;
	rv = read_wrapped(s, v->who, &wk);
	if (rv != CKR_OK)
		return rv;
	if (row->key_gen != v->key_gen || memcmp(wk.salt, v->salt, STORE_SALT_LEN) != 0)
		return STORE_RETRY;
	*fails_of(row, v->who) = 0;
	return CKR_OK;
}

static int who_of(CK_USER_TYPE t)
{
	return t == CKU_SO ? STORE_WHO_SO : t == CKU_USER ? STORE_WHO_USER : -1;
}

static CK_RV retries_exhausted(token_store_t *s)
{
	return store_fail(s, CKR_DEVICE_ERROR, "the token keeps being changed by another process");
}

/* ---- Login ------------------------------------------------------------- */

/* OFFPASS_P11_TPM=on and a wrapping that is not TPM-bound yet: wrap the
 * key again, bound, for the final transaction to store. A failure leaves
 * the wrapping as it was (and the reason in s's error): the PIN was right. */
static bool migrate_wrap(token_store_t *s, const verified_t *v, const CK_UTF8CHAR *pin,
			 CK_ULONG pin_len, wrapped_key_t *wk)
{
	token_row_t row;

	if (v->tpm || store_tpm_mode() != STORE_TPM_ON || store_read_token(s, &row) != CKR_OK)
		return false;
	return store_wrap(s, v->who, pin, pin_len, &row.kdf, true, v->key, wk) == CKR_OK;
}

static CK_RV check_once(token_store_t *s, int who, const CK_UTF8CHAR *pin, CK_ULONG pin_len)
{
	verified_t v;
	token_row_t row;
	wrapped_key_t wk;
	bool migrate;
	CK_RV rv = verify(s, who, pin, pin_len, &v);

	if (rv != CKR_OK)
		return rv;
	migrate = migrate_wrap(s, &v, pin, pin_len, &wk);
	rv = store_begin(s, true);
	if (rv != CKR_OK)
		goto out;
	rv = still_valid(s, &v, &row);
	if (rv == CKR_OK)
		rv = store_write_token(s, &row);
	if (rv == CKR_OK && migrate)
		rv = store_write_wrapped(s, who, &wk);
	if (rv == CKR_OK)
		rv = store_commit(s);
	else
		store_rollback(s);
	if (rv == CKR_OK) {
		token_store_logout(s);
		s->key = v.key;
		s->key_gen = v.key_gen;
		v.key = NULL;
	}
out:
	verified_clear(&v);
	return rv;
}

CK_RV token_store_check_pin(token_store_t *s, CK_USER_TYPE who, const CK_UTF8CHAR *pin, CK_ULONG pin_len)
{
	CK_RV rv = STORE_RETRY;

	if (s == NULL || (pin == NULL && pin_len > 0))
		return CKR_ARGUMENTS_BAD;
	s->err[0] = '\0';
	if (who_of(who) < 0)
		return store_fail(s, CKR_USER_TYPE_INVALID, "user type %lu has no PIN", (unsigned long)who);
	for (int i = 0; i < STORE_MAX_TRIES && rv == STORE_RETRY; i++)
		rv = check_once(s, who_of(who), pin, pin_len);
	return rv == STORE_RETRY ? retries_exhausted(s) : rv;
}

void token_store_logout(token_store_t *s)
{
	if (s == NULL)
		return;
	secmem_free(s->key, STORE_KEY_LEN);
	s->key = NULL;
}

bool token_store_unlocked(const token_store_t *s)
{
	return s != NULL && s->key != NULL;
}

/* ---- PIN changes ------------------------------------------------------- */

static CK_RV token_kdf(token_store_t *s, kdf_params_t *kp)
{
	token_row_t row;
	CK_RV rv = store_read_token(s, &row);

	if (rv == CKR_OK)
		*kp = row.kdf;
	return rv;
}

CK_RV token_store_init_user_pin(token_store_t *s, const CK_UTF8CHAR *pin, CK_ULONG pin_len)
{
	wrapped_key_t wk;
	token_row_t row;
	kdf_params_t kp;
	bool tpm = false;
	CK_RV rv;

	if (s == NULL || (pin == NULL && pin_len > 0))
		return CKR_ARGUMENTS_BAD;
	s->err[0] = '\0';
	if (s->key == NULL)
		return store_fail(s, CKR_USER_NOT_LOGGED_IN, "the token key is not unlocked");
	rv = user_pin_len_ok(s, pin_len);
	if (rv != CKR_OK)
		return rv;
	rv = token_kdf(s, &kp);
	if (rv == CKR_OK)
		rv = store_tpm_wanted(s, &tpm);
	if (rv == CKR_OK)
		rv = store_wrap(s, STORE_WHO_USER, pin, pin_len, &kp, tpm, s->key, &wk);
	if (rv == CKR_OK)
		rv = store_begin(s, true);
	if (rv != CKR_OK)
		return rv;
	rv = store_read_token(s, &row);
	if (rv == CKR_OK && row.key_gen != s->key_gen) {
		token_store_logout(s);
		rv = store_fail(s, CKR_USER_NOT_LOGGED_IN, "the token was re-initialised meanwhile");
	}
	if (rv == CKR_OK) {
		row.user_pin_initialized = true;
		row.user_fails = 0;
		rv = store_write_token(s, &row);
	}
	if (rv == CKR_OK)
		rv = store_write_wrapped(s, STORE_WHO_USER, &wk);
	if (rv == CKR_OK)
		return store_commit(s);
	store_rollback(s);
	return rv;
}

static CK_RV set_once(token_store_t *s, int who, const CK_UTF8CHAR *old_pin, CK_ULONG old_len,
		      const CK_UTF8CHAR *new_pin, CK_ULONG new_len)
{
	verified_t v;
	wrapped_key_t wk;
	token_row_t row;
	kdf_params_t kp;
	bool tpm = false;
	CK_RV rv = verify(s, who, old_pin, old_len, &v);

	if (rv != CKR_OK)
		return rv;
	rv = token_kdf(s, &kp);
	if (rv == CKR_OK)
		rv = store_tpm_wanted(s, &tpm);
	if (rv == CKR_OK)
		rv = store_wrap(s, who, new_pin, new_len, &kp, tpm, v.key, &wk);
	if (rv == CKR_OK)
		rv = store_begin(s, true);
	if (rv != CKR_OK)
		goto out;
	rv = still_valid(s, &v, &row);
	if (rv == CKR_OK)
		rv = store_write_token(s, &row);
	if (rv == CKR_OK)
		rv = store_write_wrapped(s, who, &wk);
	if (rv == CKR_OK)
		rv = store_commit(s);
	else
		store_rollback(s);
out:
	verified_clear(&v);
	return rv;
}

CK_RV token_store_set_pin(token_store_t *s, CK_USER_TYPE who,
			  const CK_UTF8CHAR *old_pin, CK_ULONG old_len,
			  const CK_UTF8CHAR *new_pin, CK_ULONG new_len)
{
	CK_RV rv = STORE_RETRY;

	if (s == NULL || (old_pin == NULL && old_len > 0) || (new_pin == NULL && new_len > 0))
		return CKR_ARGUMENTS_BAD;
	s->err[0] = '\0';
	if (who_of(who) < 0)
		return store_fail(s, CKR_USER_TYPE_INVALID, "user type %lu has no PIN", (unsigned long)who);
	/* A malformed new PIN is refused before a guess is spent on the old one. */
	if (!pin_len_ok(new_len))
		return pin_len_fail(s, new_len);
	if (who_of(who) == STORE_WHO_USER) {
		CK_RV len_rv = user_pin_len_ok(s, new_len);
		if (len_rv != CKR_OK)
			return len_rv;
	}
	for (int i = 0; i < STORE_MAX_TRIES && rv == STORE_RETRY; i++)
		rv = set_once(s, who_of(who), old_pin, old_len, new_pin, new_len);
	return rv == STORE_RETRY ? retries_exhausted(s) : rv;
}

/* ---- Re-initialisation ------------------------------------------------- */

/* Inside the final transaction: forget objects and the user PIN, install
 * the new token key's SO wrapping. */
static CK_RV wipe_token(token_store_t *s, token_row_t *row, const CK_UTF8CHAR label[32],
			const kdf_params_t *kp, const wrapped_key_t *so_wk)
{
	CK_RV rv;

	if (sqlite3_exec(s->db, "DELETE FROM object; DELETE FROM wrapped_key WHERE who = 1;",
			 NULL, NULL, NULL) != SQLITE_OK)
		return store_db_fail(s, "cannot clear the token");
	rv = store_tpm_write_sealed(s, STORE_WHO_USER, NULL);
	if (rv != CKR_OK)
		return rv;
	memcpy(row->label, label, 32);
	row->user_pin_initialized = false;
	row->user_fails = 0;
	row->kdf = *kp;
	row->key_gen++;
	row->obj_gen++;
	rv = store_write_token(s, row);
	if (rv == CKR_OK)
		rv = store_write_wrapped(s, STORE_WHO_SO, so_wk);
	if (rv == CKR_OK)
		rv = store_write_min_pin_len(s, store_env_min_pin_len());
	return rv;
}

static CK_RV reinit_once(token_store_t *s, const CK_UTF8CHAR *so_pin, CK_ULONG so_pin_len,
			 const CK_UTF8CHAR label[32])
{
	verified_t v;
	wrapped_key_t wk;
	token_row_t row;
	kdf_params_t kp;
	unsigned char *key = NULL;
	CK_RV rv = verify(s, STORE_WHO_SO, so_pin, so_pin_len, &v);

	if (rv != CKR_OK)
		return rv;
	/* Initialisation picks the cost anew, as token creation does. */
	kdf_params_default(&kp);
	key = store_key_alloc();
	if (key == NULL || RAND_bytes(key, STORE_KEY_LEN) != 1) {
		rv = store_fail(s, key == NULL ? CKR_HOST_MEMORY : CKR_GENERAL_ERROR, "no new token key");
		goto out;
	}
	/* ... and the protection: OFFPASS_P11_TPM as it is now. */
	rv = store_wrap(s, STORE_WHO_SO, so_pin, so_pin_len, &kp, store_tpm_wanted_for_new(), key, &wk);
	if (rv == CKR_OK)
		rv = store_begin(s, true);
	if (rv != CKR_OK)
		goto out;
	rv = still_valid(s, &v, &row);
	if (rv == CKR_OK)
		rv = wipe_token(s, &row, label, &kp, &wk);
	if (rv == CKR_OK)
		rv = store_commit(s);
	else
		store_rollback(s);
out:
	secmem_free(key, STORE_KEY_LEN);
	verified_clear(&v);
	return rv;
}

CK_RV token_store_reinit(token_store_t *s, const CK_UTF8CHAR *so_pin, CK_ULONG so_pin_len,
			 const CK_UTF8CHAR label[32])
{
	CK_RV rv = STORE_RETRY;

	if (s == NULL || label == NULL || (so_pin == NULL && so_pin_len > 0))
		return CKR_ARGUMENTS_BAD;
	s->err[0] = '\0';
	for (int i = 0; i < STORE_MAX_TRIES && rv == STORE_RETRY; i++)
		rv = reinit_once(s, so_pin, so_pin_len, label);
	if (rv == STORE_RETRY)
		return retries_exhausted(s);
	/* Whatever key this handle held belongs to the token as it was, and
	 * the caller's view of the objects is gone (our own commit does not
	 * move data_version, so say so here). */
	if (rv == CKR_OK) {
		token_store_logout(s);
		s->stale = true;
	}
	return rv;
}
