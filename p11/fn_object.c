/* fn_object.c - creating, copying, destroying, reading, changing and
 * finding objects. The rules live in the policy table and the registry;
 * these functions connect them. */
#include "config.h"
#include "p11/module.h"
#include "p11/session.h"
#include "p11/token.h"
#include "p11/template.h"
#include "p11/object/policy.h"
#include "p11/crypto/crypto.h"

#include <stdlib.h>
#include <string.h>

/* Imported key material must be a valid key before it is stored: the
 * crypto layer builds it once and fills what can be derived. */
static bool is_key_class(CK_OBJECT_CLASS klass)
{
	return klass == CKO_PUBLIC_KEY || klass == CKO_PRIVATE_KEY || klass == CKO_SECRET_KEY;
}

/* CKA_TRUSTED TRUE, which only the SO may set (v3.0 4.6.1, 4.8): the policy
 * refuses it in every template, so an SO session's template has it taken
 * out here and set after the policy has built the object. *trusted says
 * whether it was asked for; *kept holds the remaining attributes (caller
 * frees). */
static CK_RV take_trusted(const session_t *s, const CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_ATTRIBUTE **kept,
			  CK_ULONG *n, bool *trusted)
{
	CK_ATTRIBUTE *k = calloc(count + 1, sizeof(*k));

	*trusted = false;
	*n = 0;
	if (k == NULL)
		return CKR_HOST_MEMORY;
	for (CK_ULONG i = 0; i < count; i++) {
		bool so = registry_session_state(s->slot, s->flags) == CKS_RW_SO_FUNCTIONS;
		if (so && tmpl[i].type == CKA_TRUSTED && tmpl[i].ulValueLen == sizeof(CK_BBOOL) &&
		    tmpl[i].pValue != NULL && *(const CK_BBOOL *)tmpl[i].pValue != CK_FALSE)
			*trusted = true;
		else
			k[(*n)++] = tmpl[i];
	}
	*kept = k;
	return CKR_OK;
}

static CK_RV create_object_impl(session_t *s, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,
				CK_OBJECT_HANDLE_PTR out)
{
	session_view_t view = session_view(s);
	attr_list_t attrs;
	CK_OBJECT_CLASS klass;
	CK_ATTRIBUTE *kept = NULL;
	CK_ULONG n = 0;
	bool trusted = false;
	CK_RV rv;

	attr_list_init(&attrs);
	if (out == NULL || (tmpl == NULL && count > 0)) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	rv = template_get_ulong(tmpl, count, CKA_CLASS, &klass);
	if (rv == CKR_OK)
		rv = take_trusted(s, tmpl, count, &kept, &n, &trusted);
	if (rv == CKR_OK)
		rv = policy_build(POLICY_CREATE, klass, (CK_KEY_TYPE)-1, kept, n, &attrs);
	/* Only objects that have the attribute (certificates, public and secret keys). */
	if (rv == CKR_OK && trusted)
		rv = attr_list_find(&attrs, CKA_TRUSTED) != NULL ? attr_list_set_bool(&attrs, CKA_TRUSTED, true) :
								    CKR_ATTRIBUTE_TYPE_INVALID;
	if (rv == CKR_OK && is_key_class(klass))
		rv = crypto_complete_imported(klass, &attrs);
	if (rv == CKR_OK)
		rv = registry_object_add(&view, &attrs, out);
out:
	free(kept);
	attr_list_clear(&attrs);
	return rv;
}

CK_RV C_CreateObject(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count, CK_OBJECT_HANDLE_PTR out)
{
	session_t *s = NULL;
	CK_RV rv = session_enter(h, &s);
	if (rv == CKR_OK) {
		rv = create_object_impl(s, tmpl, count, out);
		session_leave(s);
	}
	return rv;
}

static CK_RV copy_object_impl(session_t *s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_PTR tmpl,
			      CK_ULONG count, CK_OBJECT_HANDLE_PTR out)
{
	session_view_t view = session_view(s);
	attr_list_t attrs;
	CK_RV rv = CKR_ARGUMENTS_BAD;

	attr_list_init(&attrs);
	if (out == NULL || (tmpl == NULL && count > 0))
		goto out;
	rv = registry_object_attrs(&view, obj, &attrs);
	if (rv == CKR_OK)
		rv = policy_apply_change(POLICY_COPY, &attrs, tmpl, count);
	if (rv == CKR_OK)
		rv = registry_object_add(&view, &attrs, out);
out:
	attr_list_clear(&attrs);
	return rv;
}

CK_RV C_CopyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_PTR tmpl,
		   CK_ULONG count, CK_OBJECT_HANDLE_PTR out)
{
	session_t *s = NULL;
	CK_RV rv = session_enter(h, &s);
	if (rv == CKR_OK) {
		rv = copy_object_impl(s, obj, tmpl, count, out);
		session_leave(s);
	}
	return rv;
}

CK_RV C_DestroyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj)
{
	session_t *s = NULL;
	CK_RV rv = session_enter(h, &s);
	if (rv == CKR_OK) {
		session_view_t view = session_view(s);
		rv = registry_object_destroy(&view, obj);
		session_leave(s);
	}
	return rv;
}

CK_RV C_GetObjectSize(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, CK_ULONG_PTR size)
{
	session_t *s = NULL;
	CK_RV rv = session_enter(h, &s);
	if (rv == CKR_OK) {
		session_view_t view = session_view(s);
		rv = size == NULL ? CKR_ARGUMENTS_BAD : registry_object_size(&view, obj, size);
		session_leave(s);
	}
	return rv;
}

CK_RV C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count)
{
	session_t *s = NULL;
	CK_RV rv = session_enter(h, &s);
	if (rv == CKR_OK) {
		session_view_t view = session_view(s);
		rv = registry_object_get(&view, obj, tmpl, count);
		session_leave(s);
	}
	return rv;
}

CK_RV C_SetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count)
{
	session_t *s = NULL;
	CK_RV rv = session_enter(h, &s);
	if (rv == CKR_OK) {
		session_view_t view = session_view(s);
		rv = registry_object_set(&view, obj, tmpl, count);
		session_leave(s);
	}
	return rv;
}

static CK_RV find_init_impl(session_t *s, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count)
{
	session_view_t view = session_view(s);
	CK_RV rv;

	if (tmpl == NULL && count > 0)
		return CKR_ARGUMENTS_BAD;
	if (s->find.active)
		return CKR_OPERATION_ACTIVE;
	/* The result is fixed now: objects created during the search are not
	 * returned, destroyed ones may still be (as the spec allows). */
	rv = registry_find(&view, tmpl, count, &s->find.handles, &s->find.count);
	if (rv == CKR_OK) {
		s->find.active = true;
		s->find.next = 0;
	}
	return rv;
}

CK_RV C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count)
{
	session_t *s = NULL;
	CK_RV rv = session_enter(h, &s);
	if (rv == CKR_OK) {
		rv = find_init_impl(s, tmpl, count);
		session_leave(s);
	}
	return rv;
}

static CK_RV find_impl(session_t *s, CK_OBJECT_HANDLE_PTR out, CK_ULONG max, CK_ULONG_PTR count)
{
	if (out == NULL || count == NULL)
		return CKR_ARGUMENTS_BAD;
	if (!s->find.active)
		return CKR_OPERATION_NOT_INITIALIZED;
	CK_ULONG n = s->find.count - s->find.next;
	if (n > max)
		n = max;
	memcpy(out, s->find.handles + s->find.next, n * sizeof(*out));
	s->find.next += n;
	*count = n;
	return CKR_OK;
}

CK_RV C_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out, CK_ULONG max, CK_ULONG_PTR count)
{
	session_t *s = NULL;
	CK_RV rv = session_enter(h, &s);
	if (rv == CKR_OK) {
		rv = find_impl(s, out, max, count);
		session_leave(s);
	}
	return rv;
}

CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE h)
{
	session_t *s = NULL;
	CK_RV rv = session_enter(h, &s);
	if (rv == CKR_OK) {
		rv = s->find.active ? CKR_OK : CKR_OPERATION_NOT_INITIALIZED;
		session_find_end(s);
		session_leave(s);
	}
	return rv;
}
