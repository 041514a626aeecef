/* p11client.h - the PKCS#11 client side that holder and issuer share: load
 * any module through p11-kit, choose a token by PKCS#11 URI (RFC 7512) or
 * by label, log in, and use keys that never leave the token.
 *
 * Works the same with offpass-p11.so, SoftHSM2 and OpenSC's
 * opensc-pkcs11.so (smartcards): signing uses only what a PIV card offers
 * (CKM_ECDSA over a hash computed here; CKM_EDDSA for Ed25519), and keys
 * marked CKA_ALWAYS_AUTHENTICATE get their context-specific login.
 *
 * Errors: functions return 0 or -1; ofp_p11_error() then says what failed,
 * naming the module, token, object and PKCS#11 call ("token 'alice':
 * C_Login: CKR_PIN_INCORRECT"). One ofp_p11_t is one module + one session;
 * not shared between threads. */
#ifndef OFFPASS_P11CLIENT_H
#define OFFPASS_P11CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <p11-kit/pkcs11.h>
#include "compiler.h"

typedef struct ofp_p11 ofp_p11_t;

/* Key algorithms, as in format/format.h (OFP_ALG_P256, OFP_ALG_ED25519). */
#define OFP_P11_ALG_P256 1
#define OFP_P11_ALG_ED25519 2

typedef struct ofp_p11_open_args {
	/* Module path. NULL: the URI's module-path, else $OFFPASS_PKCS11_MODULE,
	 * else the installed offpass-p11.so. */
	const char *module;
	/* A PKCS#11 URI choosing the token (token=, serial=, model=,
	 * manufacturer=, slot-*, library-*; object= and id= are kept for
	 * ofp_p11_find_key), or NULL. pin-value= and pin-source= (a file) are
	 * honoured by ofp_p11_login when no PIN is given. Never echoed in
	 * messages, as it may hold the PIN. */
	const char *uri;
	/* A token label (exact, blank-trimmed), used only when no URI is
	 * given. NULL and no URI: the only initialised token. No match or
	 * several: an error listing the tokens' labels and serials. */
	const char *token_label;
	bool read_write;
	/* Read/write unless the token is write-protected (then read-only):
	 * for callers that write when they can and do without otherwise. */
	bool read_write_if_writable;
} ofp_p11_open_args_t;

/* A URI given on a command line: 0, or -1 with err set when it carries
 * pin-value= (anything in argv is readable by every local user in
 * /proc/PID/cmdline). option names the option in the message, which
 * points to --pin-file, --pin-env, pin-source= and the prompt. A URI that
 * does not parse passes here; ofp_p11_open reports it. */
int ofp_p11_uri_argument_check(const char *uri, const char *option, char *err, size_t err_len) OFP_WUR;

/* Load the module, find the token, open a session. On failure *out is
 * NULL and err (if not NULL) holds the reason. */
int ofp_p11_open(const ofp_p11_open_args_t *args, ofp_p11_t **out, char *err, size_t err_len) OFP_WUR;
void ofp_p11_close(ofp_p11_t *p);
const char *ofp_p11_error(const ofp_p11_t *p);
/* The raw function list and session, for what this API does not cover. */
CK_FUNCTION_LIST *ofp_p11_functions(const ofp_p11_t *p);
CK_SESSION_HANDLE ofp_p11_session(const ofp_p11_t *p);
/* The token's label and serial (blank-trimmed; control characters shown
 * as '?'), and the module path, for messages. */
const char *ofp_p11_token_label(const ofp_p11_t *p);
const char *ofp_p11_token_serial(const ofp_p11_t *p);
const char *ofp_p11_module_path(const ofp_p11_t *p);
/* The name of a return value ("CKR_PIN_INCORRECT"), for callers that use
 * the raw function list; "CKR_(unknown)" for codes not in the table. */
const char *ofp_p11_rv_name(CK_RV rv);

/* User login. pin NULL: the URI's pin-value / pin-source. The PIN is kept
 * (wiped on close) for context-specific logins. Already logged in is fine. */
int ofp_p11_login(ofp_p11_t *p, const char *pin) OFP_WUR;

/* ---- keys ------------------------------------------------------------ */

typedef struct ofp_p11_key {
	CK_OBJECT_HANDLE priv; /* CK_INVALID_HANDLE when absent */
	CK_OBJECT_HANDLE pub;  /* CK_INVALID_HANDLE when absent (then the public
				* key comes from a certificate, as on PIV cards) */
	unsigned alg;
	uint8_t id[64];
	size_t id_len;
	uint8_t pub_raw[65]; /* uncompressed P-256 point or 32-byte Ed25519 key */
	size_t pub_len;
} ofp_p11_key_t;

/* Find a key pair by label and/or id (either may be NULL/0; both NULL: the
 * URI's object=/id=, else the only key pair on the token). Fills the public
 * key from the public key object, else from a certificate with the same id.
 * Not logged in, private keys are hidden: priv is CK_INVALID_HANDLE and the
 * public half is still found. Several matches are an error that lists
 * their labels; a key that is not P-256 or Ed25519 is refused by name. */
int ofp_p11_find_key(ofp_p11_t *p, const char *label, const uint8_t *id, size_t id_len,
		     ofp_p11_key_t *out) OFP_WUR;
/* Generate a token key pair: private key sensitive, never extractable,
 * CKA_SIGN (signing keys) or CKA_DERIVE (sealing keys, P-256 only). id
 * NULL: a random 8-byte id; label NULL: none. Refused when the token has a
 * key with this label or id already (find_key would become ambiguous). */
typedef enum { OFP_P11_USE_SIGN, OFP_P11_USE_DERIVE } ofp_p11_use_t;
int ofp_p11_generate_key(ofp_p11_t *p, unsigned alg, ofp_p11_use_t use, const char *label,
			 const uint8_t *id, size_t id_len, ofp_p11_key_t *out) OFP_WUR;

/* Sign msg with the key: P-256 -> SHA-256 here, then CKM_ECDSA, result r||s
 * (64 bytes); Ed25519 -> CKM_EDDSA over msg. msg may be NULL when len is
 * 0. A CKA_ALWAYS_AUTHENTICATE key gets C_Login(CKU_CONTEXT_SPECIFIC) with
 * the PIN given to ofp_p11_login. */
int ofp_p11_sign(ofp_p11_t *p, const ofp_p11_key_t *key, const uint8_t *msg, size_t len,
		 uint8_t sig[64]) OFP_WUR;
/* ECDH with a P-256 sealing key (CKM_ECDH1_DERIVE, CKD_NULL) against a
 * 65-byte uncompressed peer point: the 32-byte shared x coordinate. The
 * derived session object is destroyed before returning. */
int ofp_p11_ecdh(ofp_p11_t *p, const ofp_p11_key_t *key, const uint8_t peer[65], uint8_t secret[32]) OFP_WUR;

/* ---- data objects ------------------------------------------------------ */

/* Store value as a private token CKO_DATA object with CKA_APPLICATION
 * "offpass" and this label, replacing an existing one atomically enough:
 * the new object is written before the old one is destroyed. */
int ofp_p11_data_write(ofp_p11_t *p, const char *label, const uint8_t *value, size_t len) OFP_WUR;
/* Read it back into a malloc'ed buffer (at most max bytes; free() it). 1
 * when there is no such object (not an error), 0 when found, -1 on error,
 * also when not logged in (the object would be hidden) or when a write
 * was cut short and left two (writing again repairs that). */
int ofp_p11_data_read(ofp_p11_t *p, const char *label, size_t max, uint8_t **value, size_t *len) OFP_WUR;

/* Several data objects under one label, for values that are claimed by
 * creating an object and then looking (the holder's counter): unlike
 * ofp_p11_data_write, nothing is replaced. */
#define OFP_P11_DATA_SMALL_MAX 64
typedef struct ofp_p11_data {
	CK_OBJECT_HANDLE handle;
	uint8_t value[OFP_P11_DATA_SMALL_MAX];
	size_t len;
} ofp_p11_data_t;

/* Create one more private token CKO_DATA object (application "offpass")
 * with this label and value; its handle in *h. On failure the CK_RV is in
 * *ck_rv (CKR_OK when the call was not made), for callers that fall back
 * on tokens without writable data objects (PIV cards). */
int ofp_p11_data_add(ofp_p11_t *p, const char *label, const uint8_t *value, size_t len, CK_OBJECT_HANDLE *h,
		     CK_RV *ck_rv) OFP_WUR;
/* Every such object with this label, up to max (more is an error), each
 * value at most OFP_P11_DATA_SMALL_MAX bytes (else an error). -1 also when
 * not logged in (the objects are private). */
int ofp_p11_data_list(ofp_p11_t *p, const char *label, ofp_p11_data_t *out, size_t max, size_t *n) OFP_WUR;
/* Destroy one; an object already gone (destroyed by another process) is
 * not an error. */
int ofp_p11_data_remove(ofp_p11_t *p, CK_OBJECT_HANDLE h) OFP_WUR;

/* ---- PINs -------------------------------------------------------------- */

/* A buffer of this size holds any PIN ofp_pin_read returns (with its NUL). */
#define OFP_PIN_MAX 256

/* A PIN from, in this order: the file pin_file (its first line, without
 * "\n" or "\r\n"), the environment variable pin_env (when set and not
 * empty), or a prompt (prompt NULL: "PIN: ") on /dev/tty without echo.
 * An empty PIN, a missing file, one that does not fit in cap or no
 * terminal is an error; messages never contain the PIN. buf is wiped here
 * on error and by the caller (secmem_wipe) after use. */
int ofp_pin_read(const char *pin_file, const char *pin_env, const char *prompt, char *buf,
		 size_t cap, char *err, size_t err_len) OFP_WUR;

#endif
