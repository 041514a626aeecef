/* test-util.h - helpers for the module-level unit suite (test-module.c).
 *
 * The suite drives the module only as an application does: through the
 * function list of C_GetFunctionList (or an interface of C_GetInterface).
 * Every helper asserts with libcheck, so a failing step fails the test
 * that called it. Each test gets a fresh token directory (mkdtemp) in
 * OFFPASS_P11_DIR and a cheap KDF (OFFPASS_P11_SCRYPT_N=1024). */
#ifndef OFFPASS_P11_TEST_UTIL_H
#define OFFPASS_P11_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/evp.h>
#include "common/pkcs11.h"

#define TU_SO_PIN "so-pin-0000"
#define TU_USER_PIN "user-pin-1234"
#define TU_LABEL "offpass unit test"
/* A PIN literal as (pointer, length) arguments. */
#define TU_PIN(s) (CK_UTF8CHAR_PTR)(s), (CK_ULONG)strlen(s)

/* The module's 2.40 function list; set by tu_setup. */
extern CK_FUNCTION_LIST_PTR p11;
/* The test's token directory. */
extern char tu_dir[];

/* Around srunner_run_all, in the runner process: a root directory for
 * the tests' directories, removed at the end even when tests failed. */
void tu_suite_begin(void);
void tu_suite_end(void);
/* Checked fixture: fresh directory, environment, function list. The
 * module is not initialised. tu_teardown finalises it (if initialised)
 * and removes the directory. */
void tu_setup(void);
void tu_teardown(void);

/* The module's log (stderr) into a file from tu_log_begin until
 * tu_log_end, which returns what was written (caller frees). */
void tu_log_begin(void);
char *tu_log_end(void);
/* The path of the one token file in the directory (caller frees). */
char *tu_token_file(const char *dir);

/* C_Initialize with NULL arguments (asserted). */
void tu_initialize(void);
/* C_Finalize then C_Initialize: what a second process would see. */
void tu_reinitialize(void);

/* The id of the slot whose token has this label (blank-padded compare),
 * or of the free slot when label is NULL. Asserts that there is one. */
CK_SLOT_ID tu_find_slot(const char *label);
/* Initialise the module if needed, then a new token on the free slot with
 * TU_SO_PIN and label, and the user PIN TU_USER_PIN (SO session, C_InitPIN,
 * close). Returns the token's slot. */
CK_SLOT_ID tu_init_token(const char *label);
/* The same without the user PIN. */
CK_SLOT_ID tu_init_token_no_user(const char *label);
/* Open a session (asserted) with CKF_SERIAL_SESSION and extra flags. */
CK_SESSION_HANDLE tu_open(CK_SLOT_ID slot, CK_FLAGS extra);
/* A read-write session logged in as the user. */
CK_SESSION_HANDLE tu_user_session(CK_SLOT_ID slot);
/* The token flags of the slot. */
CK_FLAGS tu_token_flags(CK_SLOT_ID slot);
/* The session's state (C_GetSessionInfo). */
CK_STATE tu_session_state(CK_SESSION_HANDLE s);

/* Key pairs. The templates hold only what the mechanism needs
 * (CKA_EC_PARAMS; CKA_MODULUS_BITS and CKA_PUBLIC_EXPONENT 65537), so
 * everything else is the token's default (session objects, private key
 * CKA_SIGN TRUE, CKA_DERIVE FALSE ...) unless extra_pub / extra_priv
 * (may be NULL/0) say otherwise. */
extern const CK_BYTE tu_oid_p256[10];
extern const CK_BYTE tu_oid_p384[7];
extern const CK_BYTE tu_oid_ed25519[5];
extern const CK_BYTE tu_name_ed25519[14]; /* PrintableString "edwards25519" */
CK_RV tu_gen_ec_rv(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE mech, const CK_BYTE *params,
		   size_t params_len, const CK_ATTRIBUTE *extra_pub, CK_ULONG n_pub,
		   const CK_ATTRIBUTE *extra_priv, CK_ULONG n_priv,
		   CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv);
void tu_gen_ec(CK_SESSION_HANDLE s, const CK_BYTE *oid, size_t oid_len,
	       CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv);
void tu_gen_ed25519(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv);
CK_RV tu_gen_rsa_rv(CK_SESSION_HANDLE s, CK_ULONG bits, const CK_ATTRIBUTE *extra_priv,
		    CK_ULONG n_priv, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv);
void tu_gen_rsa(CK_SESSION_HANDLE s, CK_ULONG bits, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv);

/* Attribute access (asserted to succeed). tu_get_bytes returns malloc'd
 * memory (caller frees) and its length in *len. */
CK_ULONG tu_get_ulong(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type);
bool tu_get_bool(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type);
unsigned char *tu_get_bytes(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
			    CK_ULONG *len);

/* C_FindObjects with tmpl; at most max handles into out, returns the count
 * (all of C_FindObjectsInit/C_FindObjects/C_FindObjectsFinal asserted). */
CK_ULONG tu_find(CK_SESSION_HANDLE s, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
		 CK_OBJECT_HANDLE *out, CK_ULONG max);

/* A token public key object as an OpenSSL key: EC from CKA_EC_PARAMS and
 * CKA_EC_POINT, Ed25519 from CKA_EC_POINT, RSA from CKA_MODULUS and
 * CKA_PUBLIC_EXPONENT. */
EVP_PKEY *tu_export_public(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub);

/* OpenSSL keys and their import into the token. */
EVP_PKEY *tu_ossl_ec(const char *group);  /* "P-256", "P-384" */
EVP_PKEY *tu_ossl_ed25519(void);
EVP_PKEY *tu_ossl_rsa(unsigned bits);
/* CKA_EC_POINT of an OpenSSL EC or Ed25519 key (DER OCTET STRING), into
 * buf; returns its length. */
size_t tu_ec_point_der(EVP_PKEY *key, unsigned char *buf, size_t cap);
/* C_CreateObject of the key's public or private half; CKA_TOKEN FALSE,
 * private keys with CKA_SIGN/CKA_DECRYPT/CKA_DERIVE TRUE. Returns the rv;
 * extra attributes are appended. */
CK_RV tu_import_public(CK_SESSION_HANDLE s, EVP_PKEY *key, const CK_ATTRIBUTE *extra,
		       CK_ULONG n_extra, CK_OBJECT_HANDLE *out);
CK_RV tu_import_private(CK_SESSION_HANDLE s, EVP_PKEY *key, const CK_ATTRIBUTE *extra,
			CK_ULONG n_extra, CK_OBJECT_HANDLE *out);

/* PKCS#11 ECDSA signatures (r||s) <-> DER ECDSA-Sig-Value. */
size_t tu_ecdsa_to_der(const unsigned char *rs, size_t rs_len, unsigned char *der, size_t cap);
size_t tu_ecdsa_from_der(const unsigned char *der, size_t der_len, size_t order_len,
			 unsigned char *rs, size_t cap);

/* A string of len bytes of c into a fresh buffer (caller frees). */
char *tu_repeat(char c, size_t len);

#endif
