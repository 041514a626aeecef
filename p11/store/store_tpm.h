/* store_tpm.h - binding a wrapped token key to the machine's TPM 2.0.
 * Internal to p11/store/.
 *
 * A TPM-bound wrapping seals a random 32-byte secret into a TPM object
 * under the owner hierarchy's storage key; the object's authValue is
 * derived from scrypt(PIN), and the key that wraps the token key is
 * HKDF-SHA256(scrypt(PIN) || secret). Opening it needs the PIN and the
 * chip, and a wrong PIN is a TPM authorisation failure that counts against
 * the TPM's dictionary-attack lockout. See docs/TOKEN.md for the
 * parameters and why.
 *
 * The TPM is reached per operation (connect, work, disconnect): it is
 * touched at logins and PIN changes only. OFFPASS_P11_TCTI chooses the
 * TCTI ("device:/dev/tpmrm0", "swtpm:host=127.0.0.1,port=2321", ...),
 * else tctildr's default. */
#ifndef OFFPASS_P11_STORE_TPM_H
#define OFFPASS_P11_STORE_TPM_H

#include <stdbool.h>
#include <stddef.h>
#include "p11/store/store.h"

/* The sealed object as stored: TPM2B_PUBLIC, TPM2B_PRIVATE and the name
 * of the storage key it was sealed under, marshalled back to back. */
#define STORE_TPM_BLOB_MAX 1024
typedef struct tpm_blob {
	size_t len;
	unsigned char data[STORE_TPM_BLOB_MAX];
} tpm_blob_t;

/* OFFPASS_P11_TPM: "off", "on", or "auto" (the default, also for an
 * unknown value): whether a token initialised now is bound to the TPM. */
typedef enum { STORE_TPM_OFF, STORE_TPM_ON, STORE_TPM_AUTO } store_tpm_mode_t;
store_tpm_mode_t store_tpm_mode(void);

/* Whether a token initialised now is bound: "on", or "auto" and a TPM
 * answers (OFFPASS_P11_TCTI set, or a TPM device node we may open; then
 * one command to it). */
bool store_tpm_wanted_for_new(void);

/* kek holds scrypt(PIN) (STORE_KEY_LEN bytes, secmem) on entry and the
 * TPM-bound key on return. Seal draws a fresh secret and fills blob.
 * Errors: CKR_DEVICE_ERROR (no TPM, TPM failure; the reason in s's error). */
CK_RV store_tpm_seal_kek(token_store_t *s, unsigned char *kek, tpm_blob_t *blob) OFP_WUR;
/* Unseal from blob. Errors: CKR_PIN_INCORRECT (the TPM refused the
 * authValue: the TPM counted the failure), CKR_PIN_LOCKED (the TPM is in
 * dictionary-attack lockout), CKR_DEVICE_ERROR (no TPM, another TPM, a
 * damaged blob). *tried says whether the PIN reached the TPM's check. */
CK_RV store_tpm_unseal_kek(token_store_t *s, unsigned char *kek, const tpm_blob_t *blob,
			   bool *tried) OFP_WUR;

#endif
