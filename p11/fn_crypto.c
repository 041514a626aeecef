/* fn_crypto.c - digest, sign, verify, encrypt, decrypt, key generation,
 * derivation and randomness.
 *
 * An operation lives in its session (under the session's mutex, not the
 * module lock, so sessions sign in parallel). Per v3.0 5.2 a call that
 * fails ends the operation, except CKR_BUFFER_TOO_SMALL and the
 * NULL-buffer size query. An operation is single-part or multi-part, fixed
 * by the first call after Init: the single-part call (C_Digest, C_Sign ...)
 * after an Update is refused with CKR_OPERATION_ACTIVE and, like every
 * failed call, ends the operation ("always terminates the active
 * operation", v3.0 5.12.2, 5.13.2); an Update or Final after a single-part
 * size query is refused the same way, so that a size query never leaves a
 * multi-part path open that would sign the empty message. */
#include "config.h"
#include "p11/module.h"
#include "p11/session.h"
#include "p11/token.h"
#include "p11/template.h"
#include "p11/object/policy.h"
#include "p11/crypto/crypto.h"

#include <string.h>

/* ---- operations ------------------------------------------------------ */

typedef struct op_kind_info {
	crypto_op_kind_t kind;
	CK_OBJECT_CLASS klass;    /* the key's class */
	CK_ATTRIBUTE_TYPE usage;  /* the key attribute that must be TRUE */
} op_kind_info_t;

static const op_kind_info_t op_kinds[OP_COUNT] = {
	[OP_DIGEST] = { CRYPTO_DIGEST, 0, 0 },
	[OP_SIGN] = { CRYPTO_SIGN, CKO_PRIVATE_KEY, CKA_SIGN },
	[OP_VERIFY] = { CRYPTO_VERIFY, CKO_PUBLIC_KEY, CKA_VERIFY },
	[OP_ENCRYPT] = { CRYPTO_ENCRYPT, CKO_PUBLIC_KEY, CKA_ENCRYPT },
	[OP_DECRYPT] = { CRYPTO_DECRYPT, CKO_PRIVATE_KEY, CKA_DECRYPT },
};

/* The slot's spare, when it was for this key and started over with mech
 * (a new IV for its keyed context): the key check it passed still stands
 * (see session_spare_take). False when there is none or it does not fit:
 * then the caller checks the key and makes a new operation. */
static bool op_resume(session_t *s, op_slot_t which, const CK_MECHANISM *mech, CK_OBJECT_HANDLE key)
{
	unsigned long epoch = 0;
	crypto_op_t *spare = session_spare_take(s, which, key, &epoch);

	if (spare == NULL)
		return false;
	if (crypto_op_restart(spare, op_kinds[which].kind, mech) != CKR_OK) {
		crypto_op_free(spare);
		return false;
	}
	s->ops[which].op = spare;
	s->ops[which].key = key;
	s->ops[which].key_epoch = epoch;
	return true;
}

static CK_RV op_init(session_t *s, op_slot_t which, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	const op_kind_info_t *k = &op_kinds[which];
	session_view_t view = session_view(s);
	key_use_t use = { 0 };
	CK_RV rv = CKR_OK;

	if (mech == NULL)
		return CKR_ARGUMENTS_BAD;
	if (s->ops[which].op != NULL)
		return CKR_OPERATION_ACTIVE;
	if (which != OP_DIGEST && op_resume(s, which, mech, key))
		return CKR_OK;
	/* Ciphers and MACs take a secret key where RSA takes a private or public one. */
	CK_OBJECT_CLASS klass = crypto_mechanism_key_class(mech->mechanism, k->kind);
	/* Read before the key is checked: see session_keys_retired. */
	unsigned long epoch = session_key_epoch();
	if (which != OP_DIGEST)
		rv = registry_key_for(&view, key, klass != 0 ? klass : k->klass, k->usage, mech->mechanism, &use);
	if (rv == CKR_OK)
		rv = crypto_op_new(k->kind, mech, use.pkey, use.key_type, &s->ops[which].op);
	if (rv == CKR_OK) {
		s->ops[which].needs_login = use.always_authenticate;
		s->ops[which].always_auth = use.always_authenticate;
		s->ops[which].key = key;
		s->ops[which].key_epoch = epoch;
	}
	EVP_PKEY_free(use.pkey);
	return rv;
}

/* C_Digest, C_Sign, C_Encrypt, C_Decrypt. */
static CK_RV op_oneshot(session_t *s, op_slot_t which, CK_BYTE_PTR in, CK_ULONG in_len,
			CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	session_op_t *op = &s->ops[which];
	CK_RV rv;

	if (op->op == NULL)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (op->multipart) {
		rv = CKR_OPERATION_ACTIVE;
		goto end;
	}
	if (out_len == NULL || (in == NULL && in_len > 0)) {
		rv = CKR_ARGUMENTS_BAD;
		goto end;
	}
	/* Secret-key operations size their output themselves (exactly, where
	 * only decrypting tells the length). */
	bool sizes_itself = crypto_op_symmetric(op->op);
	CK_ULONG need = crypto_op_output_size(op->op, in_len);
	if (out == NULL && !sizes_itself) {
		*out_len = need;
		op->single = true;
		return CKR_OK;
	}
	/* Decryption learns its exact length only by decrypting. */
	if (!sizes_itself && *out_len < need && which != OP_DECRYPT) {
		*out_len = need;
		op->single = true;
		return CKR_BUFFER_TOO_SMALL;
	}
	if (op->needs_login) {
		rv = CKR_USER_NOT_LOGGED_IN;
		goto end;
	}
	rv = crypto_op_oneshot(op->op, in, in_len, out, out_len);
	if (rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && out == NULL)) {
		op->single = true;
		return rv;
	}
end:
	session_op_end(s, which);
	return rv;
}

static CK_RV op_update(session_t *s, op_slot_t which, CK_BYTE_PTR in, CK_ULONG in_len)
{
	session_op_t *op = &s->ops[which];
	CK_RV rv;

	if (op->op == NULL)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (op->single)
		rv = CKR_OPERATION_ACTIVE;
	else if (in == NULL && in_len > 0)
		rv = CKR_ARGUMENTS_BAD;
	else if (!crypto_op_multipart(op->op))
		rv = CKR_FUNCTION_NOT_SUPPORTED; /* a single-part mechanism, as SoftHSM2 answers */
	else if (op->needs_login)
		rv = CKR_USER_NOT_LOGGED_IN;
	else
		rv = crypto_op_update(op->op, in, in_len);
	if (rv == CKR_OK)
		op->multipart = true;
	else
		session_op_end(s, which);
	return rv;
}

static CK_RV op_final(session_t *s, op_slot_t which, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	session_op_t *op = &s->ops[which];
	CK_RV rv;

	if (op->op == NULL)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (op->single) {
		rv = CKR_OPERATION_ACTIVE;
		goto end;
	}
	if (out_len == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto end;
	}
	if (!crypto_op_multipart(op->op)) {
		rv = CKR_FUNCTION_NOT_SUPPORTED;
		goto end;
	}
	if (crypto_op_symmetric(op->op)) {
		rv = op->needs_login ? CKR_USER_NOT_LOGGED_IN : crypto_op_final(op->op, out, out_len);
		if (rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && out == NULL))
			return rv;
		goto end;
	}
	CK_ULONG need = crypto_op_output_size(op->op, 0);
	if (out == NULL) {
		*out_len = need;
		return CKR_OK;
	}
	if (*out_len < need) {
		*out_len = need;
		return CKR_BUFFER_TOO_SMALL;
	}
	rv = op->needs_login ? CKR_USER_NOT_LOGGED_IN : crypto_op_final(op->op, out, out_len);
end:
	session_op_end(s, which);
	return rv;
}

/* C_EncryptUpdate, C_DecryptUpdate: output as they go (symmetric ciphers;
 * RSA has no multi-part form). A size query or a too-small buffer leaves
 * the operation as it was. */
static CK_RV op_cipher_update(session_t *s, op_slot_t which, CK_BYTE_PTR in, CK_ULONG in_len,
			      CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	session_op_t *op = &s->ops[which];
	CK_RV rv;

	if (op->op == NULL)
		return CKR_OPERATION_NOT_INITIALIZED;
	if ((in == NULL && in_len > 0) || out_len == NULL)
		rv = CKR_ARGUMENTS_BAD;
	else if (!crypto_op_multipart(op->op))
		rv = CKR_FUNCTION_NOT_SUPPORTED;
	else
		rv = crypto_op_update_out(op->op, in, in_len, out, out_len);
	if (rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && out == NULL))
		return rv;
	if (rv == CKR_OK)
		op->multipart = true;
	else
		session_op_end(s, which);
	return rv;
}

static CK_RV verify_oneshot(session_t *s, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig, CK_ULONG sig_len)
{
	session_op_t *op = &s->ops[OP_VERIFY];
	CK_RV rv;

	if (op->op == NULL)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (op->multipart)
		rv = CKR_OPERATION_ACTIVE;
	else if ((data == NULL && len > 0) || sig == NULL)
		rv = CKR_ARGUMENTS_BAD;
	else
		rv = crypto_op_verify_oneshot(op->op, data, len, sig, sig_len);
	session_op_end(s, OP_VERIFY);
	return rv;
}

static CK_RV verify_final(session_t *s, CK_BYTE_PTR sig, CK_ULONG sig_len)
{
	session_op_t *op = &s->ops[OP_VERIFY];
	CK_RV rv;

	if (op->op == NULL)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (sig == NULL)
		rv = CKR_ARGUMENTS_BAD;
	else if (!crypto_op_multipart(op->op))
		rv = CKR_FUNCTION_NOT_SUPPORTED;
	else
		rv = crypto_op_verify_final(op->op, sig, sig_len);
	session_op_end(s, OP_VERIFY);
	return rv;
}

/* Every operation entry point is the same shim around one of the above. */
#define SESSION_SHIM(call)                          \
	session_t *s = NULL;                        \
	CK_RV rv = session_enter(h, &s);            \
	if (rv == CKR_OK) {                         \
		rv = call;                          \
		session_leave(s);                   \
	}                                           \
	return rv

CK_RV C_DigestInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech)
{
	SESSION_SHIM(op_init(s, OP_DIGEST, mech, CK_INVALID_HANDLE));
}

CK_RV C_Digest(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	SESSION_SHIM(op_oneshot(s, OP_DIGEST, in, in_len, out, out_len));
}

CK_RV C_DigestUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len)
{
	SESSION_SHIM(op_update(s, OP_DIGEST, in, in_len));
}

CK_RV C_DigestFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	SESSION_SHIM(op_final(s, OP_DIGEST, out, out_len));
}

CK_RV C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	SESSION_SHIM(op_init(s, OP_SIGN, mech, key));
}

CK_RV C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	SESSION_SHIM(op_oneshot(s, OP_SIGN, in, in_len, out, out_len));
}

CK_RV C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len)
{
	SESSION_SHIM(op_update(s, OP_SIGN, in, in_len));
}

CK_RV C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	SESSION_SHIM(op_final(s, OP_SIGN, out, out_len));
}

CK_RV C_VerifyInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	SESSION_SHIM(op_init(s, OP_VERIFY, mech, key));
}

CK_RV C_Verify(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR sig, CK_ULONG sig_len)
{
	SESSION_SHIM(verify_oneshot(s, in, in_len, sig, sig_len));
}

CK_RV C_VerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len)
{
	SESSION_SHIM(op_update(s, OP_VERIFY, in, in_len));
}

CK_RV C_VerifyFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG sig_len)
{
	SESSION_SHIM(verify_final(s, sig, sig_len));
}

CK_RV C_EncryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	SESSION_SHIM(op_init(s, OP_ENCRYPT, mech, key));
}

CK_RV C_Encrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	SESSION_SHIM(op_oneshot(s, OP_ENCRYPT, in, in_len, out, out_len));
}

CK_RV C_EncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
		      CK_ULONG_PTR out_len)
{
	SESSION_SHIM(op_cipher_update(s, OP_ENCRYPT, in, in_len, out, out_len));
}

CK_RV C_EncryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	SESSION_SHIM(op_final(s, OP_ENCRYPT, out, out_len));
}

CK_RV C_DecryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	SESSION_SHIM(op_init(s, OP_DECRYPT, mech, key));
}

CK_RV C_Decrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	SESSION_SHIM(op_oneshot(s, OP_DECRYPT, in, in_len, out, out_len));
}

CK_RV C_DecryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
		      CK_ULONG_PTR out_len)
{
	SESSION_SHIM(op_cipher_update(s, OP_DECRYPT, in, in_len, out, out_len));
}

CK_RV C_DecryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	SESSION_SHIM(op_final(s, OP_DECRYPT, out, out_len));
}

/* ---- key generation and derivation ------------------------------------ */

static CK_RV add_pair(const session_view_t *view, attr_list_t *pub, attr_list_t *priv,
		      CK_OBJECT_HANDLE_PTR pub_out, CK_OBJECT_HANDLE_PTR priv_out)
{
	attr_list_t *lists[2] = { pub, priv };
	CK_OBJECT_HANDLE handles[2];
	CK_RV rv = registry_objects_add(view, lists, 2, handles);

	if (rv == CKR_OK) {
		*pub_out = handles[0];
		*priv_out = handles[1];
	}
	return rv;
}

static CK_RV pair_key_type(CK_MECHANISM_TYPE mech, CK_KEY_TYPE *out)
{
	switch (mech) {
	case CKM_EC_KEY_PAIR_GEN:
		*out = CKK_EC;
		return CKR_OK;
	case CKM_EC_EDWARDS_KEY_PAIR_GEN:
		*out = CKK_EC_EDWARDS;
		return CKR_OK;
	case CKM_EC_MONTGOMERY_KEY_PAIR_GEN:
		*out = CKK_EC_MONTGOMERY;
		return CKR_OK;
	case CKM_RSA_PKCS_KEY_PAIR_GEN:
		*out = CKK_RSA;
		return CKR_OK;
	default:
		return CKR_MECHANISM_INVALID;
	}
}

static CK_RV generate_key_pair_impl(session_t *s, CK_MECHANISM_PTR mech,
				    CK_ATTRIBUTE_PTR pub_tmpl, CK_ULONG pub_count,
				    CK_ATTRIBUTE_PTR priv_tmpl, CK_ULONG priv_count,
				    CK_OBJECT_HANDLE_PTR pub_out, CK_OBJECT_HANDLE_PTR priv_out)
{
	session_view_t view = session_view(s);
	attr_list_t pub, priv;
	CK_KEY_TYPE kt;
	CK_RV rv = CKR_ARGUMENTS_BAD;

	attr_list_init(&pub);
	attr_list_init(&priv);
	if (mech == NULL || pub_out == NULL || priv_out == NULL ||
	    (pub_tmpl == NULL && pub_count > 0) || (priv_tmpl == NULL && priv_count > 0))
		goto out;
	rv = pair_key_type(mech->mechanism, &kt);
	if (rv == CKR_OK)
		rv = policy_build(POLICY_GENERATE, CKO_PUBLIC_KEY, kt, pub_tmpl, pub_count, &pub);
	if (rv == CKR_OK)
		rv = policy_build(POLICY_GENERATE, CKO_PRIVATE_KEY, kt, priv_tmpl, priv_count, &priv);
	if (rv == CKR_OK)
		rv = crypto_generate_key_pair(mech, &pub, &priv);
	if (rv == CKR_OK)
		rv = policy_finish_generated(&pub, mech->mechanism);
	if (rv == CKR_OK)
		rv = policy_finish_generated(&priv, mech->mechanism);
	if (rv == CKR_OK)
		rv = add_pair(&view, &pub, &priv, pub_out, priv_out);
out:
	attr_list_clear(&pub);
	attr_list_clear(&priv);
	return rv;
}

CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
			CK_ATTRIBUTE_PTR pub_tmpl, CK_ULONG pub_count,
			CK_ATTRIBUTE_PTR priv_tmpl, CK_ULONG priv_count,
			CK_OBJECT_HANDLE_PTR pub_out, CK_OBJECT_HANDLE_PTR priv_out)
{
	SESSION_SHIM(generate_key_pair_impl(s, mech, pub_tmpl, pub_count, priv_tmpl, priv_count,
					    pub_out, priv_out));
}

/* The key type C_GenerateKey makes: the mechanism's; CKM_GENERIC_SECRET_KEY_GEN
 * also makes the HMAC key types a template names. */
static CK_RV secret_key_type(CK_MECHANISM_TYPE mech, const CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_KEY_TYPE *kt)
{
	CK_KEY_TYPE named;

	switch (mech) {
	case CKM_AES_KEY_GEN:
		*kt = CKK_AES;
		return CKR_OK;
	case CKM_DES3_KEY_GEN:
		*kt = CKK_DES3;
		return CKR_OK;
	case CKM_GENERIC_SECRET_KEY_GEN:
		*kt = CKK_GENERIC_SECRET;
		if (template_get_ulong(tmpl, count, CKA_KEY_TYPE, &named) != CKR_OK)
			return CKR_OK; /* absent; a malformed one is the policy's to refuse */
		switch (named) {
		case CKK_SHA_1_HMAC:
		case CKK_SHA224_HMAC:
		case CKK_SHA256_HMAC:
		case CKK_SHA384_HMAC:
		case CKK_SHA512_HMAC:
			*kt = named;
			break;
		default:
			break;
		}
		return CKR_OK;
	default:
		return CKR_MECHANISM_INVALID;
	}
}

static CK_RV generate_key_impl(session_t *s, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR tmpl,
			       CK_ULONG count, CK_OBJECT_HANDLE_PTR out)
{
	session_view_t view = session_view(s);
	attr_list_t key;
	CK_KEY_TYPE kt;
	CK_RV rv = CKR_ARGUMENTS_BAD;

	attr_list_init(&key);
	if (mech == NULL || out == NULL || (tmpl == NULL && count > 0))
		goto out;
	rv = secret_key_type(mech->mechanism, tmpl, count, &kt);
	if (rv == CKR_OK)
		rv = policy_build(POLICY_GENERATE, CKO_SECRET_KEY, kt, tmpl, count, &key);
	if (rv == CKR_OK)
		rv = crypto_generate_secret(mech, &key);
	if (rv == CKR_OK)
		rv = policy_finish_generated(&key, mech->mechanism);
	if (rv == CKR_OK)
		rv = registry_object_add(&view, &key, out);
out:
	attr_list_clear(&key);
	return rv;
}

CK_RV C_GenerateKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR tmpl,
		    CK_ULONG count, CK_OBJECT_HANDLE_PTR out)
{
	SESSION_SHIM(generate_key_impl(s, mech, tmpl, count, out));
}

static CK_RV derive_key_impl(session_t *s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE base,
			     CK_ATTRIBUTE_PTR tmpl, CK_ULONG count, CK_OBJECT_HANDLE_PTR out)
{
	session_view_t view = session_view(s);
	key_use_t use = { 0 };
	attr_list_t base_attrs, key;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_RV rv = CKR_ARGUMENTS_BAD;

	attr_list_init(&base_attrs);
	attr_list_init(&key);
	if (mech == NULL || out == NULL || (tmpl == NULL && count > 0))
		goto out;
	rv = template_get_ulong(tmpl, count, CKA_KEY_TYPE, &kt);
	if (rv == CKR_TEMPLATE_INCOMPLETE)
		rv = CKR_OK; /* ECDH yields a generic secret unless told otherwise */
	if (rv == CKR_OK)
		rv = registry_key_for(&view, base, CKO_PRIVATE_KEY, CKA_DERIVE, mech->mechanism, &use);
	if (rv == CKR_OK)
		rv = registry_object_attrs(&view, base, &base_attrs);
	if (rv == CKR_OK)
		rv = policy_build(POLICY_DERIVE, CKO_SECRET_KEY, kt, tmpl, count, &key);
	if (rv == CKR_OK)
		rv = crypto_derive(mech, use.pkey, &key);
	if (rv == CKR_OK)
		rv = crypto_complete_imported(CKO_SECRET_KEY, &key);
	if (rv == CKR_OK)
		rv = policy_finish_derived(&key, &base_attrs);
	if (rv == CKR_OK)
		rv = registry_object_add(&view, &key, out);
out:
	EVP_PKEY_free(use.pkey);
	attr_list_clear(&base_attrs);
	attr_list_clear(&key);
	return rv;
}

CK_RV C_DeriveKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE base,
		  CK_ATTRIBUTE_PTR tmpl, CK_ULONG count, CK_OBJECT_HANDLE_PTR out)
{
	SESSION_SHIM(derive_key_impl(s, mech, base, tmpl, count, out));
}

/* ---- randomness ---------------------------------------------------------- */

static CK_RV random_impl(CK_BYTE_PTR out, CK_ULONG len)
{
	if (out == NULL && len > 0)
		return CKR_ARGUMENTS_BAD;
	return len == 0 ? CKR_OK : crypto_random(out, len);
}

CK_RV C_GenerateRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG len)
{
	SESSION_SHIM(random_impl(out, len));
}

static CK_RV seed_impl(CK_BYTE_PTR seed, CK_ULONG len)
{
	if (seed == NULL && len > 0)
		return CKR_ARGUMENTS_BAD;
	return crypto_seed(seed, len);
}

CK_RV C_SeedRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR seed, CK_ULONG len)
{
	SESSION_SHIM(seed_impl(seed, len));
}
