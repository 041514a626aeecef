/* store.h - a token on disk.
 *
 * One SQLite database file per token (the module names it; the name need
 * not be the serial, which token_store_create draws). Why one SQLite
 * file rather than one file per object: a PIN failure count, a wrapped key
 * and an object must change together or not at all, and several processes
 * must see each other's changes without tearing. SQLite gives exactly that
 * (WAL journal, synchronous=FULL, BEGIN IMMEDIATE write transactions,
 * busy timeout across processes; a killed writer leaves the last committed
 * state) where a file per object would need its own journal to make a
 * multi-file change atomic.
 *
 * Secrets at rest: every private object (CKA_PRIVATE TRUE, which includes
 * every private and secret key) is stored as AES-256-GCM ciphertext under a
 * random 256-bit token key, with the token serial, the object's uid and its
 * private flag as additional data, so a blob cannot be moved to another
 * object or token. The token key is wrapped (AES-256-GCM) once under a key
 * derived from the user PIN and once under one derived from the SO PIN,
 * with scrypt (EVP_KDF "SCRYPT"; N=2^15, r=8, p=1: 32 MiB and about 100 ms
 * per guess by default). A wrong PIN is the GCM tag failing to verify.
 *
 * PIN failures are counted *before* the PIN is tried, in a committed
 * transaction, and reset on success: a process killed mid-check has
 * still spent its guess.
 *
 * The file is mode 0600 (SQLite gives its -wal and -shm files the same
 * mode); a replaced or deleted wrapped key or object is overwritten in the
 * file (secure_delete), so an old PIN's wrapping does not linger.
 *
 * Errors: every fallible call leaves "file: reason" in token_store_error,
 * and an empty string after a call that went well. SQLite failures are
 * CKR_DEVICE_ERROR (CKR_DEVICE_MEMORY for a full disk, CKR_HOST_MEMORY).
 * Another process re-initialising the token while a PIN operation runs
 * makes the operation start over against the new state, so a PIN is never
 * accepted for a state it was not checked against.
 *
 * Not thread-safe: the module serialises calls on one token_store_t. */
#ifndef OFFPASS_P11_STORE_H
#define OFFPASS_P11_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include "p11/object/attrs.h"

typedef struct token_store token_store_t;

#define TOKEN_PIN_MIN 4
#define TOKEN_PIN_MAX 255
#define TOKEN_MAX_FAILS_DEFAULT 10
/* New user PINs (C_InitPIN, C_SetPIN by the user) are at least this long
 * unless OFFPASS_P11_MIN_PIN_LEN (TOKEN_PIN_MIN ... TOKEN_PIN_MAX) said
 * otherwise when the token was initialised; the length is stored in the
 * token. A token made before the rule has the default. */
#define TOKEN_USER_PIN_MIN_DEFAULT 6

/* What protects the token key at rest (docs/TOKEN.md). */
typedef enum token_protection {
	TOKEN_PROT_PIN,     /* scrypt(PIN) alone */
	TOKEN_PROT_TPM,     /* every wrapped key also needs the TPM */
	TOKEN_PROT_MIXED,   /* being migrated: some wrapped keys are TPM-bound */
} token_protection_t;

typedef struct token_meta {
	char label[32];      /* blank padded, not NUL terminated */
	char serial[16];     /* 16 hex digits, not NUL terminated */
	bool user_pin_initialized;
	CK_ULONG user_fails; /* consecutive wrong user PINs */
	CK_ULONG so_fails;
	CK_ULONG max_fails;  /* lock after this many; OFFPASS_P11_MAX_PIN_FAILS at init */
	CK_ULONG min_user_pin_len; /* for new user PINs; OFFPASS_P11_MIN_PIN_LEN at init */
	token_protection_t protection;
} token_meta_t;

/* KDF cost. Chosen when a token is initialised (created or re-initialised)
 * and stored with it and with every wrapped key. Tests may lower it through
 * OFFPASS_P11_SCRYPT_N (a power of two, 1024 ... 2^20) so that suites stay
 * fast; the default is the production cost. kdf_params_default() gives the
 * cost a token initialised now would get: the environment's N when it is
 * valid, else (including for a malformed value) the production cost. */
typedef struct kdf_params {
	uint64_t n;
	uint32_t r, p;
} kdf_params_t;
void kdf_params_default(kdf_params_t *out);

/* Create a new token file at path (which must not exist) with label and SO
 * PIN; no user PIN yet. Returns CKR_OK and the open store (not logged in).
 * The file is built beside path (<path>.new-XXXXXX) and linked into place
 * when complete, so a token file is whole or absent; a process killed
 * during creation may leave such a .new- file, which is never a token.
 * Errors: CKR_PIN_LEN_RANGE (SO PIN outside [TOKEN_PIN_MIN, TOKEN_PIN_MAX]),
 * CKR_DEVICE_ERROR when path exists or cannot be created; the reason is in
 * token_store_error(NULL). OFFPASS_P11_MAX_PIN_FAILS (1 ... 1000, else the
 * default) sets max_fails, OFFPASS_P11_MIN_PIN_LEN (TOKEN_PIN_MIN ...
 * TOKEN_PIN_MAX, else TOKEN_USER_PIN_MIN_DEFAULT) the shortest new user PIN. */
CK_RV token_store_create(const char *path, const CK_UTF8CHAR *so_pin, CK_ULONG so_pin_len,
			 const CK_UTF8CHAR label[32], token_store_t **out) OFP_WUR;
/* Open an existing token. CKR_DEVICE_ERROR for a file that is missing, not
 * a token, of an unknown schema version, or damaged (every page is checked
 * here); *out is then NULL and the reason, naming the file, is in
 * token_store_error(NULL). A refused file is not written to. */
CK_RV token_store_open(const char *path, token_store_t **out) OFP_WUR;
void token_store_close(token_store_t *s);
/* In a forked child, for a handle the parent opened: close the inherited
 * SQLite connection and open one of the child's own on the same file,
 * keeping everything else (the token key of a login included). SQLite
 * connections must not be used across fork(). Closing the inherited one
 * is safe for the parent: POSIX record locks belong to a process, so the
 * child holds none of the parent's and releases none, and the parent's
 * shared lock on the file keeps the child's close from checkpointing the
 * WAL. It is closed rather than leaked because a leaked connection would
 * stay in SQLite's per-file lock bookkeeping, which the new connection
 * would share, believing it held locks the child does not hold. On failure
 * the handle has no connection: only token_store_close and
 * token_store_error may be called. */
CK_RV token_store_reopen(token_store_t *s) OFP_WUR;
/* Last error message for the log: the file and what was wrong ("" if
 * none). token_store_error(NULL) is the reason the calling thread's last
 * token_store_open or token_store_create failed. */
const char *token_store_error(const token_store_t *s);
/* A token whose file cannot be opened read-write (SQLite could not create
 * or grow its -wal and -shm files: a full disk, most often) is opened
 * read-only, so that a new process still lists it, reads its public
 * objects and looks at its PIN state. Every write first tries a read-write
 * connection again (the disk may have space by then); when that fails it
 * answers CKR_DEVICE_MEMORY for a full disk (CKR_DEVICE_ERROR otherwise)
 * with a message that says so, and nothing is written. A login is a
 * write (the wrong-PIN count is committed before the PIN is tried), so it
 * fails closed. Returns NULL for a read-write store, else why it is
 * read-only. */
const char *token_store_read_only(const token_store_t *s);

/* Re-initialise (C_InitToken on an initialised token): checks the SO PIN
 * (counted), then in one transaction destroys every object, sets the label,
 * makes a new token key (at a KDF cost chosen anew), forgets the user PIN,
 * takes the shortest user PIN anew from OFFPASS_P11_MIN_PIN_LEN and resets
 * both failure counts. The serial and the SO PIN stay. s is
 * logged out afterwards, and other handles holding the old key find
 * themselves logged out at their next load or private put.
 * CKR_PIN_INCORRECT, CKR_PIN_LOCKED. */
CK_RV token_store_reinit(token_store_t *s, const CK_UTF8CHAR *so_pin, CK_ULONG so_pin_len,
			 const CK_UTF8CHAR label[32]) OFP_WUR;

/* Fresh metadata (reads the file). */
CK_RV token_store_meta(token_store_t *s, token_meta_t *out) OFP_WUR;

/* Check a PIN (CKU_USER or CKU_SO; CKU_CONTEXT_SPECIFIC is the caller's
 * business). On success the token key is held in memory (secmem) until
 * token_store_logout, and the failure count is reset. Errors:
 * CKR_PIN_INCORRECT (count incremented and committed first; a PIN whose
 * length is outside [TOKEN_PIN_MIN, TOKEN_PIN_MAX] is simply incorrect, and
 * counted), CKR_PIN_LOCKED (count reached max_fails: not even tried, not
 * counted), CKR_USER_PIN_NOT_INITIALIZED (not counted),
 * CKR_USER_TYPE_INVALID. A failed check leaves an earlier login in place. */
CK_RV token_store_check_pin(token_store_t *s, CK_USER_TYPE who,
			    const CK_UTF8CHAR *pin, CK_ULONG pin_len) OFP_WUR;
/* Drop (wipe) the in-memory token key. */
void token_store_logout(token_store_t *s);
bool token_store_unlocked(const token_store_t *s);

/* C_InitPIN: requires the token key in memory (SO logged in; whether it is
 * the SO is the module's business): CKR_USER_NOT_LOGGED_IN otherwise.
 * Wraps it under the new user PIN, marks the user PIN initialised, resets
 * (unlocks) the user failure count. CKR_PIN_LEN_RANGE (shorter than the
 * token's minimum user PIN length, or longer than TOKEN_PIN_MAX). */
CK_RV token_store_init_user_pin(token_store_t *s, const CK_UTF8CHAR *pin, CK_ULONG pin_len) OFP_WUR;
/* C_SetPIN: checks old_pin for who (counted, as token_store_check_pin),
 * then rewraps the token key under new_pin. A new_pin of the wrong length
 * (for CKU_USER: shorter than the token's minimum user PIN length) is
 * CKR_PIN_LEN_RANGE before the old PIN is tried (no guess spent). Does
 * not change whether s is logged in. */
CK_RV token_store_set_pin(token_store_t *s, CK_USER_TYPE who,
			  const CK_UTF8CHAR *old_pin, CK_ULONG old_len,
			  const CK_UTF8CHAR *new_pin, CK_ULONG new_len) OFP_WUR;

/* True when another process (or this one through another store) has
 * changed the objects since s last loaded them: true from opening until
 * the first complete load, and from then on until the next complete load
 * once it has been true. s's own put/delete do not make it true, unless
 * another change came first. Changes that touch no object (PIN counts,
 * PIN changes) do not count. Cheap (PRAGMA data_version, then one row
 * read only when some commit happened): the module calls it before
 * object look-ups. */
bool token_store_changed(token_store_t *s);

/* Every object: cb(uid, is_private, attrs, ctx) per object. Private objects
 * are decrypted when the token key is in memory, and skipped otherwise.
 * A stored object that fails to decrypt or parse is reported through
 * token_store_error and skipped (CKR_OK is still returned), so one damaged
 * object does not hide the others. cb returning != CKR_OK stops and returns it.
 * attrs is valid only during the call (copy what you keep); cb must not
 * call back into s. The whole load is one consistent snapshot. If the
 * token was re-initialised elsewhere, s is logged out first. A login does
 * not make token_store_changed true: load again after one to see the
 * private objects. */
typedef CK_RV (*token_store_object_cb)(uint64_t uid, bool is_private,
				       const attr_list_t *attrs, void *ctx);
CK_RV token_store_load(token_store_t *s, token_store_object_cb cb, void *ctx) OFP_WUR;

/* Insert (*uid == 0: a fresh random uid in 1 ... INT64_MAX is chosen and
 * returned) or replace the object *uid, which must exist
 * (CKR_OBJECT_HANDLE_INVALID otherwise: a replace never resurrects an
 * object another process deleted). Private objects need the token key in
 * memory (CKR_USER_NOT_LOGGED_IN otherwise, also when the token was
 * re-initialised since the login). */
CK_RV token_store_put(token_store_t *s, uint64_t *uid, bool is_private,
		      const attr_list_t *attrs) OFP_WUR;
/* CKR_OBJECT_HANDLE_INVALID when there is no such object. */
/* Several puts in one transaction (a key pair: both halves or neither).
 * Each item's uid is in/out as for token_store_put. */
#define TOKEN_STORE_PUT_MAX 4
typedef struct token_store_item {
	uint64_t uid;
	bool is_private;
	const attr_list_t *attrs;
} token_store_item_t;
CK_RV token_store_put_many(token_store_t *s, token_store_item_t *items, size_t n) OFP_WUR;
CK_RV token_store_delete(token_store_t *s, uint64_t uid) OFP_WUR;

#endif
