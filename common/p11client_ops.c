/* p11client_ops.c - what the keys are for: signatures (through C_Sign, with
 * the context-specific login PIV cards ask for), ECDH for the issuer's
 * sealing key, and the data objects that carry the holder's credential. */
#include "config.h"
#include "p11client_int.h"
#include "secmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#define SIG_MAX 4096
#define OLD_MAX 16

static const char application[] = "offpass";
static CK_BBOOL ck_true = CK_TRUE, ck_false = CK_FALSE;

static void key_what(char *buf, size_t len, const ofp_p11_key_t *key)
{
	p11c_query_t q = { NULL, 0, key->id, key->id_len };

	p11c_name(buf, len, "key", &q);
}

/* ---- signatures ------------------------------------------------------------- */

/* The message as the mechanism takes it: a SHA-256 digest for CKM_ECDSA
 * (cards do not hash), the message itself for CKM_EDDSA. */
static int sign_input(ofp_p11_t *p, const ofp_p11_key_t *key, const uint8_t *msg, size_t len,
		      uint8_t digest[32], const uint8_t **data, CK_ULONG *n, const char *what)
{
	static const uint8_t empty[1];
	unsigned int dlen = 0;

	if (key->alg == OFP_P11_ALG_ED25519) {
		/* Some modules refuse a NULL pointer even for no bytes. */
		*data = msg != NULL ? msg : empty;
		*n = len;
		return 0;
	}
	if (EVP_Digest(msg != NULL ? msg : empty, len, digest, &dlen, EVP_sha256(), NULL) != 1 || dlen != 32)
		return p11c_fail(p, CKR_FUNCTION_FAILED, "SHA-256", what);
	*data = digest;
	*n = dlen;
	return 0;
}

/* C_Sign with the two-call size convention. Every path ends the operation:
 * an error other than CKR_BUFFER_TOO_SMALL does, and so does a full call. */
static int sign_final(ofp_p11_t *p, const uint8_t *data, CK_ULONG n, uint8_t sig[64],
		      const char *what)
{
	CK_ULONG len = 0;
	uint8_t *buf = NULL;
	CK_RV rv;
	int ret = -1;

	rv = p->fn->C_Sign(p->session, (CK_BYTE *)data, n, NULL, &len);
	if (rv != CKR_OK)
		return p11c_fail(p, rv, "C_Sign", what);
	buf = malloc(len > 0 && len <= SIG_MAX ? len : SIG_MAX);
	if (buf == NULL)
		return p11c_fail(p, CKR_HOST_MEMORY, "malloc", what);
	if (len == 0 || len > SIG_MAX)
		len = SIG_MAX;
	rv = p->fn->C_Sign(p->session, (CK_BYTE *)data, n, buf, &len);
	if (rv != CKR_OK) {
		(void)p11c_fail(p, rv, "C_Sign", what);
		goto out;
	}
	if (len != 64) {
		p11c_error(p, "%s: C_Sign: a signature of %lu bytes, not 64", what, (unsigned long)len);
		goto out;
	}
	memcpy(sig, buf, 64);
	ret = 0;
out:
	free(buf);
	return ret;
}

/* CKA_ALWAYS_AUTHENTICATE keys want the PIN again right after C_SignInit. */
static int context_login(ofp_p11_t *p, const uint8_t *data, CK_ULONG n, const char *what)
{
	CK_ULONG len = 0;
	CK_RV rv;

	rv = p->fn->C_Login(p->session, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR *)p->pin,
			    p->pin ? strlen(p->pin) : 0);
	if (rv == CKR_OK)
		return 0;
	(void)p11c_fail(p, rv, "C_Login(CKU_CONTEXT_SPECIFIC)", what);
	/* Not logged in for it: this C_Sign fails, which ends the operation. */
	(void)p->fn->C_Sign(p->session, (CK_BYTE *)data, n, NULL, &len);
	return -1;
}

int ofp_p11_sign(ofp_p11_t *p, const ofp_p11_key_t *key, const uint8_t *msg, size_t len,
		 uint8_t sig[64])
{
	char what[96];
	uint8_t digest[32];
	const uint8_t *data = NULL;
	CK_ULONG n = 0;
	CK_MECHANISM m = { key->alg == OFP_P11_ALG_P256 ? CKM_ECDSA : CKM_EDDSA, NULL, 0 };
	bool again, pinpad = (p->token_flags & CKF_PROTECTED_AUTHENTICATION_PATH) != 0;
	CK_RV rv;

	key_what(what, sizeof(what), key);
	if (key->priv == CK_INVALID_HANDLE ||
	    (key->alg != OFP_P11_ALG_P256 && key->alg != OFP_P11_ALG_ED25519)) {
		p11c_error(p, "%s: no private key to sign with (log in first)", what);
		return -1;
	}
	if (sign_input(p, key, msg, len, digest, &data, &n, what) != 0)
		return -1;
	again = p11c_get_bool(p, key->priv, CKA_ALWAYS_AUTHENTICATE, false);
	if (again && p->pin == NULL && !pinpad) {
		p11c_error(p, "%s: the key asks for the PIN at each use: log in with a PIN", what);
		return -1;
	}
	rv = p->fn->C_SignInit(p->session, &m, key->priv);
	if (rv != CKR_OK)
		return p11c_fail(p, rv, "C_SignInit", what);
	if (again && context_login(p, data, n, what) != 0)
		return -1;
	return sign_final(p, data, n, sig, what);
}

/* ---- ECDH ----------------------------------------------------------------------- */

static int read_secret(ofp_p11_t *p, CK_OBJECT_HANDLE h, uint8_t secret[32], const char *what)
{
	CK_ATTRIBUTE a = { CKA_VALUE, secret, 32 };
	CK_RV rv = p->fn->C_GetAttributeValue(p->session, h, &a, 1);

	if (rv != CKR_OK)
		return p11c_fail(p, rv, "C_GetAttributeValue(CKA_VALUE)", what);
	if (a.ulValueLen != 32) {
		p11c_error(p, "%s: the derived secret has %lu bytes, not 32", what,
			   (unsigned long)a.ulValueLen);
		return -1;
	}
	return 0;
}

int ofp_p11_ecdh(ofp_p11_t *p, const ofp_p11_key_t *key, const uint8_t peer[65], uint8_t secret[32])
{
	char what[96];
	CK_ECDH1_DERIVE_PARAMS prm = { .kdf = CKD_NULL, .ulPublicDataLen = 65,
				       .pPublicData = (CK_BYTE *)peer };
	CK_MECHANISM m = { CKM_ECDH1_DERIVE, &prm, sizeof(prm) };
	CK_OBJECT_CLASS klass = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_ULONG vlen = 32;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &klass, sizeof(klass) },   { CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &ck_false, 1 },             { CKA_SENSITIVE, &ck_false, 1 },
		{ CKA_EXTRACTABLE, &ck_true, 1 },        { CKA_VALUE_LEN, &vlen, sizeof(vlen) },
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_RV rv;
	int ret = -1;

	key_what(what, sizeof(what), key);
	if (key->priv == CK_INVALID_HANDLE || key->alg != OFP_P11_ALG_P256) {
		p11c_error(p, "%s: ECDH needs a P-256 private key", what);
		goto out;
	}
	if (peer[0] != 0x04) {
		p11c_error(p, "%s: ECDH: the peer point is not an uncompressed P-256 point", what);
		goto out;
	}
	rv = p->fn->C_DeriveKey(p->session, &m, key->priv, t, OFP_ARRAY_LEN(t), &h);
	if (rv != CKR_OK) {
		(void)p11c_fail(p, rv, "C_DeriveKey(CKM_ECDH1_DERIVE)", what);
		goto out;
	}
	ret = read_secret(p, h, secret, what);
out:
	if (h != CK_INVALID_HANDLE)
		(void)p->fn->C_DestroyObject(p->session, h);
	if (ret != 0)
		secmem_wipe(secret, 32);
	return ret;
}

/* ---- data objects ---------------------------------------------------------------- */

static int data_query(ofp_p11_t *p, const char *label, p11c_query_t *q, char *what, size_t wlen)
{
	memset(q, 0, sizeof(*q));
	if (label == NULL || label[0] == '\0' || strlen(label) > P11C_LABEL_MAX) {
		p11c_error(p, "data object: the label must be 1 to %d bytes", P11C_LABEL_MAX);
		return -1;
	}
	q->label = label;
	q->label_len = strlen(label);
	p11c_name(what, wlen, "data object", q);
	return 0;
}

/* Our data objects with this label: token objects of application "offpass". */
static int find_data(ofp_p11_t *p, const p11c_query_t *q, CK_OBJECT_HANDLE *h, CK_ULONG max,
		     CK_ULONG *n, const char *what)
{
	CK_ATTRIBUTE extra[] = {
		{ CKA_TOKEN, &ck_true, 1 },
		{ CKA_APPLICATION, (void *)application, sizeof(application) - 1 },
	};

	return p11c_find(p, CKO_DATA, q, extra, OFP_ARRAY_LEN(extra), h, max, n, what);
}

static int create_data(ofp_p11_t *p, const p11c_query_t *q, const uint8_t *val, size_t len,
		       const char *what)
{
	CK_OBJECT_CLASS klass = CKO_DATA;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &klass, sizeof(klass) },
		{ CKA_TOKEN, &ck_true, 1 },
		{ CKA_PRIVATE, &ck_true, 1 },
		{ CKA_APPLICATION, (void *)application, sizeof(application) - 1 },
		{ CKA_LABEL, (void *)q->label, q->label_len },
		{ CKA_VALUE, (void *)val, len },
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_RV rv = p->fn->C_CreateObject(p->session, t, OFP_ARRAY_LEN(t), &h);

	return rv == CKR_OK ? 0 : p11c_fail(p, rv, "C_CreateObject", what);
}

int ofp_p11_data_write(ofp_p11_t *p, const char *label, const uint8_t *val, size_t len)
{
	char what[P11C_LABEL_MAX + 64];
	CK_OBJECT_HANDLE old[OLD_MAX];
	CK_ULONG n = 0;
	p11c_query_t q;
	CK_RV rv;

	if (data_query(p, label, &q, what, sizeof(what)) != 0)
		return -1;
	if (val == NULL && len > 0) {
		p11c_error(p, "%s: no value", what);
		return -1;
	}
	/* Look before writing, so that the new object is not among the old. */
	if (find_data(p, &q, old, OLD_MAX, &n, what) != 0 || create_data(p, &q, val, len, what) != 0)
		return -1;
	for (CK_ULONG i = 0; i < n; i++) {
		rv = p->fn->C_DestroyObject(p->session, old[i]);
		if (rv != CKR_OK) {
			(void)p11c_fail(p, rv, "C_DestroyObject", what);
			return -1;
		}
	}
	return 0;
}

int ofp_p11_data_read(ofp_p11_t *p, const char *label, size_t max, uint8_t **val, size_t *len)
{
	char what[P11C_LABEL_MAX + 64];
	CK_OBJECT_HANDLE h[2];
	CK_ULONG n = 0;
	p11c_query_t q;

	*val = NULL;
	*len = 0;
	if (data_query(p, label, &q, what, sizeof(what)) != 0)
		return -1;
	if (find_data(p, &q, h, OFP_ARRAY_LEN(h), &n, what) != 0)
		return -1;
	if (n == 0 && !p11c_logged_in(p)) {
		p11c_error(p, "%s: not logged in (the object is private)", what);
		return -1;
	}
	if (n == 0)
		return 1;
	if (n > 1) {
		/* Only a write cut short leaves two; writing again removes both. */
		p11c_error(p, "%s: more than one on the token (an interrupted write?): "
			      "write it again", what);
		return -1;
	}
	return p11c_get_bytes(p, h[0], CKA_VALUE, max, val, len, what);
}

/* ---- data objects that are claimed, not replaced ----------------------------------- */

int ofp_p11_data_add(ofp_p11_t *p, const char *label, const uint8_t *val, size_t len, CK_OBJECT_HANDLE *h,
		     CK_RV *ck_rv)
{
	char what[P11C_LABEL_MAX + 64];
	CK_OBJECT_CLASS klass = CKO_DATA;
	p11c_query_t q;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &klass, sizeof(klass) },
		{ CKA_TOKEN, &ck_true, 1 },
		{ CKA_PRIVATE, &ck_true, 1 },
		{ CKA_APPLICATION, (void *)application, sizeof(application) - 1 },
		{ CKA_LABEL, NULL, 0 },
		{ CKA_VALUE, (void *)val, len },
	};

	*ck_rv = CKR_OK;
	*h = CK_INVALID_HANDLE;
	if (data_query(p, label, &q, what, sizeof(what)) != 0)
		return -1;
	t[4].pValue = (void *)q.label;
	t[4].ulValueLen = q.label_len;
	*ck_rv = p->fn->C_CreateObject(p->session, t, OFP_ARRAY_LEN(t), h);
	return *ck_rv == CKR_OK ? 0 : p11c_fail(p, *ck_rv, "C_CreateObject", what);
}

int ofp_p11_data_list(ofp_p11_t *p, const char *label, ofp_p11_data_t *out, size_t max, size_t *n)
{
	char what[P11C_LABEL_MAX + 64];
	CK_OBJECT_HANDLE h[OLD_MAX * 4 + 1];
	CK_ULONG found = 0;
	p11c_query_t q;

	*n = 0;
	if (data_query(p, label, &q, what, sizeof(what)) != 0)
		return -1;
	if (!p11c_logged_in(p)) {
		p11c_error(p, "%s: not logged in (the objects are private)", what);
		return -1;
	}
	if (max > OLD_MAX * 4)
		max = OLD_MAX * 4;
	if (find_data(p, &q, h, (CK_ULONG)max + 1, &found, what) != 0)
		return -1;
	if (found > max) {
		p11c_error(p, "%s: more than %zu on the token", what, max);
		return -1;
	}
	for (CK_ULONG i = 0; i < found; i++) {
		CK_ATTRIBUTE a = { CKA_VALUE, out[*n].value, sizeof(out[*n].value) };
		CK_RV rv = p->fn->C_GetAttributeValue(p->session, h[i], &a, 1);

		if (rv == CKR_OBJECT_HANDLE_INVALID)
			continue; /* destroyed since the search by another process */
		if (rv != CKR_OK)
			return p11c_fail(p, rv, "C_GetAttributeValue(CKA_VALUE)", what);
		out[*n].handle = h[i];
		out[*n].len = a.ulValueLen;
		(*n)++;
	}
	return 0;
}

int ofp_p11_data_remove(ofp_p11_t *p, CK_OBJECT_HANDLE h)
{
	CK_RV rv = p->fn->C_DestroyObject(p->session, h);

	if (rv == CKR_OK || rv == CKR_OBJECT_HANDLE_INVALID)
		return 0;
	return p11c_fail(p, rv, "C_DestroyObject", "data object");
}
