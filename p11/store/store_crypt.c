/* store_crypt.c - AES-256-GCM sealing and the scrypt PIN KDF. */
#include "config.h"
#include "p11/store/store_crypt.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include "secmem.h"

#define SCRYPT_N_DEFAULT (1u << 15)
#define SCRYPT_R_DEFAULT 8u
#define SCRYPT_P_DEFAULT 1u

static bool is_pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

/* The cost a new token gets. An unusable OFFPASS_P11_SCRYPT_N is ignored
 * rather than refused: the fallback is the stronger production cost. */
void kdf_params_default(kdf_params_t *out)
{
	const char *env = getenv("OFFPASS_P11_SCRYPT_N");

	out->n = SCRYPT_N_DEFAULT;
	out->r = SCRYPT_R_DEFAULT;
	out->p = SCRYPT_P_DEFAULT;
	if (env != NULL && *env != '\0') {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(env, &end, 10);
		if (errno == 0 && *end == '\0' && env[0] != '-' && is_pow2(v) &&
		    v >= STORE_SCRYPT_N_MIN && v <= STORE_SCRYPT_N_MAX)
			out->n = v;
	}
}

bool kdf_params_valid(const kdf_params_t *kp)
{
	if (!is_pow2(kp->n) || kp->n < STORE_SCRYPT_N_MIN || kp->n > STORE_SCRYPT_N_MAX)
		return false;
	if (kp->r < 1 || kp->r > 32 || kp->p < 1 || kp->p > 16)
		return false;
	/* scrypt's V array is 128 * r * N bytes (p lanes run one after another). */
	return 128ull * kp->r * kp->n <= STORE_SCRYPT_MEM_MAX;
}

unsigned char *store_key_alloc(void)
{
	/* Whether the lock held changes nothing here: the key is needed either
	 * way, and the token works (as documented) where locking is refused. */
	return secmem_alloc_locked(STORE_KEY_LEN, NULL);
}

CK_RV store_kdf(const CK_UTF8CHAR *pin, size_t pin_len, const unsigned char *salt, size_t salt_len,
		const kdf_params_t *kp, unsigned char *key)
{
	static const unsigned char empty[1];
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *ctx = NULL;
	uint64_t n = kp->n;
	uint32_t r = kp->r, p = kp->p;
	/* Room for V plus scrypt's per-lane B and XY buffers. */
	uint64_t maxmem = 128ull * r * n + 256ull * r * p + (1u << 20);
	OSSL_PARAM params[7];
	CK_RV rv = CKR_HOST_MEMORY;

	if (!kdf_params_valid(kp))
		return CKR_DEVICE_ERROR;
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
						      (void *)(pin_len > 0 ? pin : empty), pin_len);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
	params[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	params[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
	params[4] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p);
	params[5] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
	params[6] = OSSL_PARAM_construct_end();

	kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	if (kdf == NULL) {
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	ctx = EVP_KDF_CTX_new(kdf);
	if (ctx == NULL)
		goto out;
	if (EVP_KDF_derive(ctx, key, STORE_KEY_LEN, params) != 1) {
		/* Most likely the allocation of scrypt's memory. */
		secmem_wipe(key, STORE_KEY_LEN);
		goto out;
	}
	rv = CKR_OK;
out:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rv;
}

CK_RV store_seal(const unsigned char *key, const unsigned char *aad, size_t aad_len,
		 const unsigned char *pt, size_t pt_len,
		 unsigned char iv[STORE_IV_LEN], unsigned char *ct)
{
	EVP_CIPHER_CTX *c = NULL;
	int len, fin;
	CK_RV rv = CKR_GENERAL_ERROR;

	if (pt_len > INT_MAX - STORE_TAG_LEN || aad_len > INT_MAX)
		return CKR_DATA_LEN_RANGE;
	if (RAND_bytes(iv, STORE_IV_LEN) != 1)
		return CKR_GENERAL_ERROR;
	c = EVP_CIPHER_CTX_new();
	if (c == NULL)
		return CKR_HOST_MEMORY;
	if (EVP_EncryptInit_ex2(c, EVP_aes_256_gcm(), key, iv, NULL) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &len, aad, (int)aad_len) != 1 ||
	    EVP_EncryptUpdate(c, ct, &len, pt, (int)pt_len) != 1 ||
	    EVP_EncryptFinal_ex(c, ct + len, &fin) != 1 ||
	    (size_t)len + (size_t)fin != pt_len ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, STORE_TAG_LEN, ct + pt_len) != 1)
		goto out;
	rv = CKR_OK;
out:
	EVP_CIPHER_CTX_free(c);
	return rv;
}

CK_RV store_unseal(const unsigned char *key, const unsigned char *aad, size_t aad_len,
		   const unsigned char iv[STORE_IV_LEN], const unsigned char *ct, size_t ct_len,
		   unsigned char *pt)
{
	EVP_CIPHER_CTX *c = NULL;
	unsigned char tag[STORE_TAG_LEN];
	size_t pt_len;
	int len, fin;
	CK_RV rv = CKR_GENERAL_ERROR;

	if (ct_len < STORE_TAG_LEN)
		return CKR_ENCRYPTED_DATA_INVALID;
	pt_len = ct_len - STORE_TAG_LEN;
	if (pt_len > INT_MAX - STORE_TAG_LEN || aad_len > INT_MAX)
		return CKR_ENCRYPTED_DATA_LEN_RANGE;
	memcpy(tag, ct + pt_len, STORE_TAG_LEN);
	c = EVP_CIPHER_CTX_new();
	if (c == NULL)
		return CKR_HOST_MEMORY;
	if (EVP_DecryptInit_ex2(c, EVP_aes_256_gcm(), key, iv, NULL) != 1 ||
	    EVP_DecryptUpdate(c, NULL, &len, aad, (int)aad_len) != 1 ||
	    EVP_DecryptUpdate(c, pt, &len, ct, (int)pt_len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, STORE_TAG_LEN, tag) != 1)
		goto out;
	/* GCM decrypts before it verifies: wipe what a bad tag leaves behind. */
	if (EVP_DecryptFinal_ex(c, pt + len, &fin) != 1) {
		rv = CKR_ENCRYPTED_DATA_INVALID;
		goto out;
	}
	rv = CKR_OK;
out:
	if (rv != CKR_OK)
		secmem_wipe(pt, pt_len);
	EVP_CIPHER_CTX_free(c);
	return rv;
}
