/* fn_wrap.c - C_WrapKey and C_UnwrapKey: the attribute rules of v3.0
 * 4.9-4.10 and 5.18 around the crypto layer's wrap and unwrap.
 *
 * Wrapping: the key to wrap must be a secret or private key with
 * CKA_EXTRACTABLE TRUE (else CKR_KEY_UNEXTRACTABLE); one with
 * CKA_WRAP_WITH_TRUSTED TRUE only under a wrapping key with CKA_TRUSTED
 * TRUE, and a wrapping key's CKA_WRAP_TEMPLATE names attributes the key to
 * wrap must have (else CKR_KEY_NOT_WRAPPABLE). Unwrapping: the unwrapping
 * key's CKA_UNWRAP_TEMPLATE is merged into the application's template (a
 * conflicting value is CKR_TEMPLATE_INCONSISTENT); the new key is not
 * local, never "always sensitive" nor "never extractable": it has been
 * outside. */
#include "config.h"
#include "p11/module.h"
#include "p11/session.h"
#include "p11/token.h"
#include "p11/template.h"
#include "p11/object/policy.h"
#include "p11/crypto/crypto.h"

#include <stdlib.h>
#include <string.h>

/* registry_key_for's answers, in the names C_WrapKey / C_UnwrapKey use. */
static CK_RV wrapping_key_rv(CK_RV rv, bool unwrap)
{
	switch (rv) {
	case CKR_KEY_HANDLE_INVALID:
		return unwrap ? CKR_UNWRAPPING_KEY_HANDLE_INVALID : CKR_WRAPPING_KEY_HANDLE_INVALID;
	case CKR_KEY_TYPE_INCONSISTENT:
		return unwrap ? CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT : CKR_WRAPPING_KEY_TYPE_INCONSISTENT;
	default:
		return rv;
	}
}

/* The wrapping (or unwrapping) key: its EVP_PKEY and its attributes. */
static CK_RV wrapping_key(const session_view_t *view, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE h, bool unwrap,
			  key_use_t *use, attr_list_t *attrs)
{
	CK_OBJECT_CLASS klass;
	CK_RV rv;

	if (!crypto_mechanism_has(mech->mechanism, unwrap ? CKF_UNWRAP : CKF_WRAP))
		return CKR_MECHANISM_INVALID;
	klass = crypto_mechanism_key_class(mech->mechanism, unwrap ? CRYPTO_DECRYPT : CRYPTO_ENCRYPT);
	rv = registry_key_for(view, h, klass, unwrap ? CKA_UNWRAP : CKA_WRAP, mech->mechanism, use);
	if (rv == CKR_OK)
		rv = registry_object_attrs(view, h, attrs);
	return wrapping_key_rv(rv, unwrap);
}

/* Every attribute of a stored CKA_*_TEMPLATE, parsed. */
static CK_RV stored_template(const attr_list_t *attrs, CK_ATTRIBUTE_TYPE type, attr_list_t *out)
{
	const attr_t *t = attr_list_find(attrs, type);

	attr_list_init(out);
	if (t == NULL || t->len == 0)
		return CKR_OK;
	return attr_list_parse(t->value, t->len, out);
}

static bool has_value(const attr_list_t *l, const attr_t *want)
{
	const attr_t *a = attr_list_find(l, want->type);

	return a != NULL && a->len == want->len && (a->len == 0 || memcmp(a->value, want->value, a->len) == 0);
}

/* The rules of v3.0 4.9/4.10 for the key to wrap. */
static CK_RV check_wrappable(const attr_list_t *target, const attr_list_t *wrapping)
{
	attr_list_t need;
	CK_OBJECT_CLASS klass;
	CK_RV rv;

	if (!attr_list_get_ulong(target, CKA_CLASS, &klass) || (klass != CKO_SECRET_KEY && klass != CKO_PRIVATE_KEY))
		return CKR_KEY_NOT_WRAPPABLE;
	if (!attr_list_get_bool(target, CKA_EXTRACTABLE, false))
		return CKR_KEY_UNEXTRACTABLE;
	if (attr_list_get_bool(target, CKA_WRAP_WITH_TRUSTED, false) &&
	    !attr_list_get_bool(wrapping, CKA_TRUSTED, false))
		return CKR_KEY_NOT_WRAPPABLE;
	rv = stored_template(wrapping, CKA_WRAP_TEMPLATE, &need);
	for (size_t i = 0; rv == CKR_OK && i < need.count; i++)
		if (!has_value(target, &need.items[i]))
			rv = CKR_KEY_NOT_WRAPPABLE;
	attr_list_clear(&need);
	return rv;
}

static CK_RV wrap_key_impl(session_t *s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE hwrapping, CK_OBJECT_HANDLE hkey,
			   CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	session_view_t view = session_view(s);
	key_use_t use = { 0 };
	attr_list_t wattrs, target;
	CK_RV rv = CKR_ARGUMENTS_BAD;

	attr_list_init(&wattrs);
	attr_list_init(&target);
	if (mech == NULL || out_len == NULL)
		goto out;
	rv = wrapping_key(&view, mech, hwrapping, false, &use, &wattrs);
	if (rv == CKR_OK) {
		rv = registry_object_attrs(&view, hkey, &target);
		if (rv == CKR_OBJECT_HANDLE_INVALID)
			rv = CKR_KEY_HANDLE_INVALID;
	}
	if (rv == CKR_OK)
		rv = check_wrappable(&target, &wattrs);
	if (rv == CKR_OK)
		rv = crypto_wrap(mech, use.pkey, use.key_type, &target, out, out_len);
out:
	EVP_PKEY_free(use.pkey);
	attr_list_clear(&wattrs);
	attr_list_clear(&target);
	return rv;
}

CK_RV C_WrapKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key,
		CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	session_t *s = NULL;
	CK_RV rv = session_enter(h, &s);

	if (rv == CKR_OK) {
		rv = wrap_key_impl(s, mech, wrapping, key, out, out_len);
		session_leave(s);
	}
	return rv;
}

/* The application's template with the unwrapping key's CKA_UNWRAP_TEMPLATE
 * added; *merged points into tmpl and the stored template (both outlive it). */
static CK_RV merge_template(const CK_ATTRIBUTE *tmpl, CK_ULONG count, const attr_list_t *forced,
			    CK_ATTRIBUTE **merged, CK_ULONG *n)
{
	CK_ATTRIBUTE *m = calloc(count + forced->count + 1, sizeof(*m));
	CK_ULONG k = 0;

	if (m == NULL)
		return CKR_HOST_MEMORY;
	for (CK_ULONG i = 0; i < count; i++)
		m[k++] = tmpl[i];
	for (size_t i = 0; i < forced->count; i++) {
		const attr_t *f = &forced->items[i];
		bool given = false;

		for (CK_ULONG j = 0; j < count; j++) {
			if (tmpl[j].type != f->type)
				continue;
			given = true;
			if (tmpl[j].ulValueLen != f->len ||
			    (f->len != 0 && memcmp(tmpl[j].pValue, f->value, f->len) != 0)) {
				free(m);
				return CKR_TEMPLATE_INCONSISTENT;
			}
		}
		if (!given)
			m[k++] = (CK_ATTRIBUTE){ f->type, f->value, f->len };
	}
	*merged = m;
	*n = k;
	return CKR_OK;
}

/* Policy, material, finishing: the new key's attribute list. */
static CK_RV build_unwrapped(CK_MECHANISM_PTR mech, const key_use_t *use, CK_BYTE_PTR in, CK_ULONG in_len,
			     const CK_ATTRIBUTE *tmpl, CK_ULONG count, attr_list_t *key)
{
	CK_OBJECT_CLASS klass;
	CK_RV rv = template_get_ulong(tmpl, count, CKA_CLASS, &klass);

	if (rv == CKR_OK)
		rv = policy_build(POLICY_UNWRAP, klass, POLICY_FROM_TEMPLATE, tmpl, count, key);
	if (rv == CKR_OK)
		rv = crypto_unwrap(mech, use->pkey, use->key_type, in, in_len, key);
	if (rv == CKR_OK) {
		rv = crypto_complete_imported(klass, key);
		if (rv == CKR_ATTRIBUTE_VALUE_INVALID)
			rv = CKR_WRAPPED_KEY_INVALID; /* e.g. 20 bytes for an AES key */
	}
	if (rv == CKR_OK)
		rv = policy_finish_unwrapped(key);
	return rv;
}

static CK_RV unwrap_key_impl(session_t *s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE hunwrapping, CK_BYTE_PTR in,
			     CK_ULONG in_len, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count, CK_OBJECT_HANDLE_PTR out)
{
	session_view_t view = session_view(s);
	key_use_t use = { 0 };
	attr_list_t uattrs, forced, key;
	CK_ATTRIBUTE *merged = NULL;
	CK_ULONG n = 0;
	CK_RV rv = CKR_ARGUMENTS_BAD;

	attr_list_init(&uattrs);
	attr_list_init(&forced);
	attr_list_init(&key);
	if (mech == NULL || out == NULL || (in == NULL && in_len > 0) || (tmpl == NULL && count > 0))
		goto out;
	rv = wrapping_key(&view, mech, hunwrapping, true, &use, &uattrs);
	if (rv == CKR_OK)
		rv = stored_template(&uattrs, CKA_UNWRAP_TEMPLATE, &forced);
	if (rv == CKR_OK)
		rv = merge_template(tmpl, count, &forced, &merged, &n);
	if (rv == CKR_OK)
		rv = build_unwrapped(mech, &use, in, in_len, merged, n, &key);
	if (rv == CKR_OK)
		rv = registry_object_add(&view, &key, out);
out:
	free(merged);
	EVP_PKEY_free(use.pkey);
	attr_list_clear(&uattrs);
	attr_list_clear(&forced);
	attr_list_clear(&key);
	return rv;
}

CK_RV C_UnwrapKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE unwrapping, CK_BYTE_PTR in,
		  CK_ULONG in_len, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count, CK_OBJECT_HANDLE_PTR out)
{
	session_t *s = NULL;
	CK_RV rv = session_enter(h, &s);

	if (rv == CKR_OK) {
		rv = unwrap_key_impl(s, mech, unwrapping, in, in_len, tmpl, count, out);
		session_leave(s);
	}
	return rv;
}
