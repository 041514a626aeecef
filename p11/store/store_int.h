/* store_int.h - what the store's files share: the handle, the schema's
 * token row, and the SQLite helpers. Internal to p11/store/. */
#ifndef OFFPASS_P11_STORE_INT_H
#define OFFPASS_P11_STORE_INT_H

#include <sqlite3.h>
#include "p11/store/store.h"
#include "p11/store/store_crypt.h"
#include "p11/store/store_tpm.h"

#define STORE_SCHEMA_VERSION 1
#define STORE_FORMAT "offpass-p11-token"
/* 'OP11' in the database header, so that file(1) and a quick check can
 * tell a token from another SQLite file. */
#define STORE_APPLICATION_ID 0x4f503131
/* A token with a TPM-bound wrapped key: builds that predate the TPM
 * refuse it by its version instead of calling it damaged. */
#define STORE_SCHEMA_VERSION_TPM 2
#define STORE_ERR_LEN 512

/* Wrapped-key rows are keyed by the user type (CKU_SO 0, CKU_USER 1). */
#define STORE_WHO_SO 0
#define STORE_WHO_USER 1

struct token_store {
	sqlite3 *db;
	sqlite3_stmt *dv_stmt;   /* PRAGMA data_version, prepared once */
	char *path;
	char serial[16];         /* never changes after creation */
	unsigned char *key;      /* store_key_alloc; NULL until a PIN unlocks it */
	int64_t key_gen;         /* the token row's key_gen that key belongs to */
	int64_t seen_dv;         /* data_version last looked at */
	int64_t seen_gen;        /* obj_gen this handle's caller has seen */
	bool stale;              /* objects changed since the caller last loaded */
	bool read_only;          /* opened read-only: a read-write open failed */
	bool disk_full;          /* ... because the disk is full */
	char err[STORE_ERR_LEN];
};

/* The single row of the token table. */
typedef struct token_row {
	unsigned char label[32];
	bool user_pin_initialized;
	int64_t user_fails, so_fails, max_fails;
	kdf_params_t kdf;     /* cost for newly wrapped keys */
	int64_t key_gen;      /* bumped whenever the token key is replaced */
	int64_t obj_gen;      /* bumped by every change to the object table */
} token_row_t;

/* Record "path: message" as the handle's last error; returns rv. */
CK_RV store_fail(token_store_t *s, CK_RV rv, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Same, for a failed SQLite call: adds SQLite's message, maps the code. */
CK_RV store_db_fail(token_store_t *s, const char *what);

/* Transactions: a read snapshot (BEGIN) or a write lock taken up front
 * (BEGIN IMMEDIATE, so two writers never deadlock upgrading a read lock). */
CK_RV store_begin(token_store_t *s, bool write) OFP_WUR;
CK_RV store_commit(token_store_t *s) OFP_WUR;
void store_rollback(token_store_t *s);

/* The shortest new user PIN the token accepts (its meta row
 * 'min_user_pin_len', TOKEN_USER_PIN_MIN_DEFAULT when absent), and the
 * value for a token being initialised now (OFFPASS_P11_MIN_PIN_LEN). */
CK_RV store_min_user_pin_len(token_store_t *s, CK_ULONG *out) OFP_WUR;
unsigned long store_env_min_pin_len(void);
/* Record the minimum in the meta table; inside a write transaction. */
CK_RV store_write_min_pin_len(token_store_t *s, unsigned long len) OFP_WUR;

/* "damaged token file: what" as the handle's error; CKR_DEVICE_ERROR. */
CK_RV store_damaged(token_store_t *s, const char *what);
/* Open a connection to file with the per-connection options (read-only:
 * also leave the -shm file alone). */
CK_RV store_connect(token_store_t *s, const char *file, bool read_only) OFP_WUR;
/* Set what token_store_error(NULL) says (this thread). */
void store_set_open_error(const char *msg);

/* Prepare, or record the failure. */
CK_RV store_prepare(token_store_t *s, const char *sql, sqlite3_stmt **st) OFP_WUR;
CK_RV store_read_token(token_store_t *s, token_row_t *row) OFP_WUR;
/* Write back every mutable field of row; inside a write transaction. */
CK_RV store_write_token(token_store_t *s, const token_row_t *row) OFP_WUR;

/* A token key sealed under a key derived from a PIN, as stored. With tpm,
 * the key is HKDF(scrypt(PIN) || the secret sealed in the TPM object). */
typedef struct wrapped_key {
	kdf_params_t kdf;
	bool tpm;
	tpm_blob_t sealed;       /* with tpm: the TPM object (tpm_seal table) */
	unsigned char salt[STORE_SALT_LEN];
	unsigned char iv[STORE_IV_LEN];
	unsigned char ct[STORE_KEY_LEN + STORE_TAG_LEN];
} wrapped_key_t;

/* Derive a key from pin with a fresh salt (and, with tpm, a fresh secret
 * sealed to the TPM) and seal token_key under it for who. Slow (the KDF,
 * the TPM): call it outside write transactions. */
CK_RV store_wrap(token_store_t *s, int who, const CK_UTF8CHAR *pin, size_t pin_len,
		 const kdf_params_t *kp, bool tpm, const unsigned char *token_key,
		 wrapped_key_t *out) OFP_WUR;
/* Whether a new wrapping of an existing token's key is TPM-bound: when any
 * of its keys already is (never downgrade), or OFFPASS_P11_TPM=on (migrate).
 * Reads the file; outside or inside a transaction. */
CK_RV store_tpm_wanted(token_store_t *s, bool *tpm) OFP_WUR;
/* Insert or replace who's wrapped key; inside a write transaction. */
CK_RV store_write_wrapped(token_store_t *s, int who, const wrapped_key_t *wk) OFP_WUR;

/* The kdf column of a wrapped key: scrypt alone, or scrypt and the TPM. */
#define STORE_KDF "scrypt"
#define STORE_KDF_TPM "scrypt+tpm2"
/* The tpm_seal table (store_tpm_db.c), created with the first TPM-bound
 * wrapping (which also moves the schema version to 2). Inside a write
 * transaction: store wk's sealed object for who, or forget who's when wk
 * is NULL or not TPM-bound. */
CK_RV store_tpm_write_sealed(token_store_t *s, int who, const wrapped_key_t *wk) OFP_WUR;
/* Read who's sealed object; a missing or malformed one is damage. */
CK_RV store_tpm_read_sealed(token_store_t *s, int who, tpm_blob_t *out) OFP_WUR;
/* How many of the token's wrapped keys are TPM-bound, and how many exist. */
CK_RV store_tpm_count(token_store_t *s, int64_t *bound, int64_t *all) OFP_WUR;

#endif
