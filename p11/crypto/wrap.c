/* wrap.c - C_WrapKey and C_UnwrapKey's cryptography: a key's material
 * encrypted under another key with a wrapping mechanism (AES-KW, AES-KWP,
 * RSA-OAEP), and back.
 *
 * What is wrapped: a secret key's CKA_VALUE; a private key as a PKCS#8
 * PrivateKeyInfo (DER), as SoftHSM2 and OpenSSL exchange it. The plaintext
 * only ever sits in wiped memory. The attribute rules (CKA_EXTRACTABLE,
 * CKA_WRAP_WITH_TRUSTED, the templates) are the module's; this file only
 * encrypts and decrypts. */
#include "config.h"
#include "p11/crypto/internal.h"

#include <string.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include "secmem.h"

/* The largest wrapped input the token unwraps: an RSA-4096 PKCS#8 is
 * about 2.4 KB. */
#define WRAPPED_MAX 8192

static bool wraps(CK_MECHANISM_TYPE type)
{
	const mech_def_t *m = crypto_mech_find(type);

	return m != NULL && (m->info.flags & (CKF_WRAP | CKF_UNWRAP)) == (CKF_WRAP | CKF_UNWRAP);
}

/* The PKCS#8 DER of a private key object, in wiped memory. */
static CK_RV pkcs8_of(const attr_list_t *target, CK_BYTE **der, size_t *len)
{
	EVP_PKEY *pkey = NULL;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	unsigned char *p;
	int n;
	CK_RV rv = crypto_pkey_from_attrs(CKO_PRIVATE_KEY, target, &pkey);

	*der = NULL;
	if (rv != CKR_OK)
		return rv == CKR_HOST_MEMORY ? rv : CKR_KEY_NOT_WRAPPABLE;
	rv = CKR_FUNCTION_FAILED;
	p8 = EVP_PKEY2PKCS8(pkey);
	n = p8 != NULL ? i2d_PKCS8_PRIV_KEY_INFO(p8, NULL) : 0;
	if (n <= 0)
		goto out;
	*der = secmem_alloc((size_t)n);
	if (*der == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	p = *der;
	if (i2d_PKCS8_PRIV_KEY_INFO(p8, &p) != n) {
		secmem_free(*der, (size_t)n);
		*der = NULL;
		goto out;
	}
	*len = (size_t)n;
	rv = CKR_OK;
out:
	if (rv != CKR_OK)
		ERR_clear_error();
	PKCS8_PRIV_KEY_INFO_free(p8); /* clears its key material */
	EVP_PKEY_free(pkey);
	return rv;
}

/* Errors of the encryption step, as C_WrapKey names them. */
static CK_RV wrap_rv(CK_RV rv)
{
	switch (rv) {
	case CKR_DATA_LEN_RANGE: return CKR_KEY_SIZE_RANGE; /* the key does not fit the mechanism */
	case CKR_KEY_TYPE_INCONSISTENT: return CKR_WRAPPING_KEY_TYPE_INCONSISTENT;
	case CKR_KEY_SIZE_RANGE: return CKR_WRAPPING_KEY_SIZE_RANGE;
	default: return rv;
	}
}

CK_RV crypto_wrap(const CK_MECHANISM *mech, EVP_PKEY *wrapping, CK_KEY_TYPE wrapping_type,
		  const attr_list_t *target, CK_BYTE *out, CK_ULONG *out_len)
{
	crypto_op_t *op = NULL;
	CK_BYTE *pt = NULL;
	size_t pt_len = 0;
	const attr_t *v;
	CK_OBJECT_CLASS klass;
	CK_RV rv;

	if (mech == NULL || wrapping == NULL || target == NULL || out_len == NULL)
		return CKR_ARGUMENTS_BAD;
	if (!wraps(mech->mechanism))
		return CKR_MECHANISM_INVALID;
	if (!attr_list_get_ulong(target, CKA_CLASS, &klass))
		return CKR_KEY_NOT_WRAPPABLE;
	if (klass == CKO_SECRET_KEY) {
		v = attr_list_find(target, CKA_VALUE);
		if (v == NULL)
			return CKR_KEY_NOT_WRAPPABLE;
		pt_len = v->len;
		pt = secmem_alloc(pt_len);
		if (pt == NULL)
			return CKR_HOST_MEMORY;
		memcpy(pt, v->value, pt_len);
	} else if (klass == CKO_PRIVATE_KEY) {
		rv = pkcs8_of(target, &pt, &pt_len);
		if (rv != CKR_OK)
			return rv;
	} else {
		return CKR_KEY_NOT_WRAPPABLE;
	}
	rv = crypto_op_new(CRYPTO_ENCRYPT, mech, wrapping, wrapping_type, &op);
	if (rv == CKR_OK)
		rv = crypto_op_oneshot(op, pt, (CK_ULONG)pt_len, out, out_len);
	crypto_op_free(op);
	secmem_free(pt, pt_len);
	return wrap_rv(rv);
}

static CK_RV unwrap_rv(CK_RV rv)
{
	switch (rv) {
	case CKR_ENCRYPTED_DATA_INVALID: return CKR_WRAPPED_KEY_INVALID;
	case CKR_ENCRYPTED_DATA_LEN_RANGE: return CKR_WRAPPED_KEY_LEN_RANGE;
	case CKR_KEY_TYPE_INCONSISTENT: return CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT;
	case CKR_KEY_SIZE_RANGE: return CKR_UNWRAPPING_KEY_SIZE_RANGE;
	default: return rv;
	}
}

/* The unwrapped secret: CKA_VALUE; a CKA_VALUE_LEN in the template must agree. */
static CK_RV unwrapped_secret(const CK_BYTE *pt, size_t len, attr_list_t *key)
{
	CK_ULONG want;

	if (attr_list_get_ulong(key, CKA_VALUE_LEN, &want) && want != len)
		return CKR_TEMPLATE_INCONSISTENT;
	return attr_list_set(key, CKA_VALUE, pt, (CK_ULONG)len);
}

static CK_RV unwrapped_private(const CK_BYTE *pt, size_t len, attr_list_t *key)
{
	const unsigned char *p = pt;
	PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
	EVP_PKEY *pkey = NULL;
	CK_RV rv = CKR_WRAPPED_KEY_INVALID;

	if (p8 == NULL || p != pt + len)
		goto out;
	pkey = EVP_PKCS82PKEY(p8);
	if (pkey == NULL)
		goto out;
	rv = crypto_export_private(pkey, key);
out:
	ERR_clear_error();
	PKCS8_PRIV_KEY_INFO_free(p8);
	EVP_PKEY_free(pkey);
	return rv;
}

CK_RV crypto_unwrap(const CK_MECHANISM *mech, EVP_PKEY *unwrapping, CK_KEY_TYPE unwrapping_type,
		    const CK_BYTE *in, CK_ULONG in_len, attr_list_t *key)
{
	crypto_op_t *op = NULL;
	CK_BYTE *pt = NULL;
	CK_ULONG pt_len = in_len;
	CK_OBJECT_CLASS klass;
	CK_RV rv;

	if (mech == NULL || unwrapping == NULL || key == NULL || (in == NULL && in_len != 0))
		return CKR_ARGUMENTS_BAD;
	if (!wraps(mech->mechanism))
		return CKR_MECHANISM_INVALID;
	if (in_len == 0 || in_len > WRAPPED_MAX)
		return CKR_WRAPPED_KEY_LEN_RANGE;
	if (!attr_list_get_ulong(key, CKA_CLASS, &klass) ||
	    (klass != CKO_SECRET_KEY && klass != CKO_PRIVATE_KEY))
		return CKR_TEMPLATE_INCONSISTENT;
	pt = secmem_alloc(in_len);
	if (pt == NULL)
		return CKR_HOST_MEMORY;
	rv = crypto_op_new(CRYPTO_DECRYPT, mech, unwrapping, unwrapping_type, &op);
	if (rv == CKR_OK)
		rv = crypto_op_oneshot(op, in, in_len, pt, &pt_len);
	if (rv == CKR_OK)
		rv = klass == CKO_SECRET_KEY ? unwrapped_secret(pt, pt_len, key) :
					       unwrapped_private(pt, pt_len, key);
	crypto_op_free(op);
	secmem_free(pt, in_len);
	return unwrap_rv(rv);
}
