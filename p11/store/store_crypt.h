/* store_crypt.h - the store's cryptography: AES-256-GCM sealing and the
 * scrypt PIN KDF, both through OpenSSL 3 EVP. Internal to p11/store/. */
#ifndef OFFPASS_P11_STORE_CRYPT_H
#define OFFPASS_P11_STORE_CRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include "p11/store/store.h"

#define STORE_KEY_LEN 32  /* AES-256 token key and PIN-derived keys */
#define STORE_IV_LEN 12   /* GCM nonce: random per seal */
#define STORE_TAG_LEN 16
#define STORE_SALT_LEN 16

/* Bounds a stored KDF cost must meet. The upper bounds keep a tampered
 * file from making a login allocate gigabytes or spin for minutes. */
#define STORE_SCRYPT_N_MIN 1024u
#define STORE_SCRYPT_N_MAX (1u << 20)
#define STORE_SCRYPT_MEM_MAX (1024ull * 1024u * 1024u)

bool kdf_params_valid(const kdf_params_t *kp);

/* A zeroed buffer of STORE_KEY_LEN bytes for a token key or a key derived
 * from a PIN: the long-lived secrets, so secmem locked into RAM where the
 * system allows it (best effort: a process that may not lock still gets
 * wiped memory). NULL when out of memory. Release with
 * secmem_free(key, STORE_KEY_LEN). */
unsigned char *store_key_alloc(void) OFP_WUR;

/* key = scrypt(pin, salt, kp) of STORE_KEY_LEN bytes. key must be secmem. */
CK_RV store_kdf(const CK_UTF8CHAR *pin, size_t pin_len, const unsigned char *salt, size_t salt_len,
		const kdf_params_t *kp, unsigned char *key) OFP_WUR;

/* AES-256-GCM with a fresh random iv: ct gets pt_len bytes followed by the
 * tag (pt_len + STORE_TAG_LEN in all). pt_len is at most INT_MAX - tag. */
CK_RV store_seal(const unsigned char *key, const unsigned char *aad, size_t aad_len,
		 const unsigned char *pt, size_t pt_len,
		 unsigned char iv[STORE_IV_LEN], unsigned char *ct) OFP_WUR;
/* Inverse of store_seal: pt gets ct_len - STORE_TAG_LEN bytes. A tag that
 * does not verify (wrong key, wrong aad, altered bytes) is
 * CKR_ENCRYPTED_DATA_INVALID and pt is wiped. */
CK_RV store_unseal(const unsigned char *key, const unsigned char *aad, size_t aad_len,
		   const unsigned char iv[STORE_IV_LEN], const unsigned char *ct, size_t ct_len,
		   unsigned char *pt) OFP_WUR;

#endif
