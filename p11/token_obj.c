/* token_obj.c - the registry's objects: each token's cache of its store's
 * objects plus the session objects, seen through a session. Every exported
 * function takes the module lock, calls a static *_locked body and
 * releases it at one exit. */
#include "config.h"
#include "p11/token.h"
#include "p11/token_int.h"
#include "p11/module.h"
#include "p11/objcache.h"
#include "p11/object/policy.h"
#include "p11/store/store.h"

#include <string.h>

/* ---- objects ------------------------------------------------------------ */

/* Bring the cache up to date with the store and the login state. */
static CK_RV token_sync(token_t *t)
{
	bool unlocked = token_store_unlocked(t->store);
	CK_RV rv;

	if (t->loaded && t->loaded_unlocked == unlocked && !token_store_changed(t->store))
		return CKR_OK;
	rv = objcache_reload(&t->objects, t->store);
	if (rv == CKR_OK) {
		t->loaded = true;
		t->loaded_unlocked = unlocked;
	}
	return rv;
}

static bool visible(const token_t *t, const object_t *o)
{
	return !o->is_private || t->login == CKU_USER;
}

/* The session's token, as the cache has it. */
static CK_RV session_token(const session_view_t *sv, token_t **out)
{
	token_t *t = registry_slot_token(sv->slot);

	if (t == NULL || t->store == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	*out = t;
	return CKR_OK;
}

/* The session's token, synchronised. */
static CK_RV view_token(const session_view_t *sv, token_t **out)
{
	CK_RV rv = session_token(sv, out);

	return rv == CKR_OK ? token_sync(*out) : rv;
}

static CK_RV view_object(const session_view_t *sv, CK_OBJECT_HANDLE h, token_t **tok, object_t **out)
{
	token_t *t = NULL;
	CK_RV rv = view_token(sv, &t);

	if (rv != CKR_OK)
		return rv;
	object_t *o = objcache_find(&t->objects, h);
	if (o == NULL || !visible(t, o))
		return CKR_OBJECT_HANDLE_INVALID;
	*tok = t;
	*out = o;
	return CKR_OK;
}

/* May this session write an object with these attributes? */
static CK_RV may_write(const token_t *t, const session_view_t *sv, const attr_list_t *attrs)
{
	if (attr_list_get_bool(attrs, CKA_TOKEN, false) && !(sv->flags & CKF_RW_SESSION))
		return CKR_SESSION_READ_ONLY;
	if (attr_list_get_bool(attrs, CKA_PRIVATE, true) && t->login != CKU_USER)
		return CKR_USER_NOT_LOGGED_IN;
	return CKR_OK;
}

/* Cache objects already stored (or session objects); on failure the
 * objects added so far stay, as they are on the token. */
static CK_RV cache_new_objects(token_t *t, const session_view_t *sv, attr_list_t **lists,
			       const uint64_t *uids, size_t n, CK_OBJECT_HANDLE *out)
{
	CK_RV rv = CKR_OK;

	for (size_t i = 0; rv == CKR_OK && i < n; i++) {
		object_t *o = object_new(lists[i], uids[i], uids[i] == 0 ? sv->handle : 0);
		if (o == NULL) {
			rv = CKR_HOST_MEMORY;
			break;
		}
		o->handle = module_next_handle();
		rv = objcache_add(&t->objects, o);
		if (rv == CKR_OK)
			out[i] = o->handle;
		else
			object_free(o);
	}
	return rv;
}

/* Token objects of one call are stored in one transaction: a key pair is
 * on disk whole or not at all, even if the process dies in between. */
static CK_RV objects_add_locked(const session_view_t *sv, attr_list_t **lists, size_t n,
				CK_OBJECT_HANDLE *out)
{
	token_store_item_t items[TOKEN_STORE_PUT_MAX];
	uint64_t uids[TOKEN_STORE_PUT_MAX] = { 0 };
	size_t stored = 0;
	token_t *t = NULL;
	CK_RV rv = session_token(sv, &t);

	if (n > TOKEN_STORE_PUT_MAX)
		return CKR_ARGUMENTS_BAD;
	for (size_t i = 0; rv == CKR_OK && i < n; i++) {
		rv = may_write(t, sv, lists[i]);
		if (rv == CKR_OK && attr_list_get_bool(lists[i], CKA_TOKEN, false))
			items[stored++] = (token_store_item_t){
				.is_private = attr_list_get_bool(lists[i], CKA_PRIVATE, true),
				.attrs = lists[i],
			};
	}
	/* Only token objects meet the store, and the cache is brought up to
	 * date before they do; session objects (a key pair per C_GenerateKeyPair
	 * of session keys) need no look at the store, which would cost SQLite
	 * file locks and a query under the module lock. */
	if (rv == CKR_OK && stored > 0)
		rv = token_sync(t);
	if (rv == CKR_OK && stored > 0)
		rv = token_store_put_many(t->store, items, stored);
	if (rv != CKR_OK)
		return rv;
	for (size_t i = 0, k = 0; i < n; i++)
		if (attr_list_get_bool(lists[i], CKA_TOKEN, false))
			uids[i] = items[k++].uid;
	return cache_new_objects(t, sv, lists, uids, n, out);
}

CK_RV registry_objects_add(const session_view_t *sv, attr_list_t **lists, size_t n, CK_OBJECT_HANDLE *out)
{
	module_lock();
	CK_RV rv = objects_add_locked(sv, lists, n, out);
	module_unlock();
	return rv;
}

CK_RV registry_object_add(const session_view_t *sv, attr_list_t *attrs, CK_OBJECT_HANDLE *out)
{
	return registry_objects_add(sv, &attrs, 1, out);
}

static CK_RV object_attrs_locked(const session_view_t *sv, CK_OBJECT_HANDLE h, attr_list_t *out)
{
	token_t *t = NULL;
	object_t *o = NULL;
	CK_RV rv = view_object(sv, h, &t, &o);

	return rv == CKR_OK ? attr_list_copy(out, &o->attrs) : rv;
}

CK_RV registry_object_attrs(const session_view_t *sv, CK_OBJECT_HANDLE h, attr_list_t *out)
{
	module_lock();
	CK_RV rv = object_attrs_locked(sv, h, out);
	module_unlock();
	return rv;
}

static CK_RV object_destroy_locked(const session_view_t *sv, CK_OBJECT_HANDLE h)
{
	token_t *t = NULL;
	object_t *o = NULL;
	CK_RV rv = view_object(sv, h, &t, &o);

	if (rv == CKR_OK)
		rv = may_write(t, sv, &o->attrs);
	if (rv == CKR_OK && !attr_list_get_bool(&o->attrs, CKA_DESTROYABLE, true))
		rv = CKR_ACTION_PROHIBITED;
	if (rv == CKR_OK && o->uid != 0)
		rv = token_store_delete(t->store, o->uid);
	if (rv == CKR_OK)
		objcache_remove(&t->objects, h);
	return rv;
}

CK_RV registry_object_destroy(const session_view_t *sv, CK_OBJECT_HANDLE h)
{
	module_lock();
	CK_RV rv = object_destroy_locked(sv, h);
	module_unlock();
	return rv;
}

static CK_RV object_get_locked(const session_view_t *sv, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl,
			       CK_ULONG count)
{
	token_t *t = NULL;
	object_t *o = NULL;
	CK_RV rv = view_object(sv, h, &t, &o);

	if (rv != CKR_OK)
		return rv;
	if (tmpl == NULL && count > 0)
		return CKR_ARGUMENTS_BAD;
	/* Every attribute is processed even after one fails (v2.40 5.7). */
	for (CK_ULONG i = 0; i < count; i++) {
		CK_RV one = policy_get_attribute(&o->attrs, &tmpl[i]);
		if (one != CKR_OK && rv == CKR_OK)
			rv = one;
	}
	return rv;
}

CK_RV registry_object_get(const session_view_t *sv, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	module_lock();
	CK_RV rv = object_get_locked(sv, h, tmpl, count);
	module_unlock();
	return rv;
}

static CK_RV object_set_locked(const session_view_t *sv, CK_OBJECT_HANDLE h, const CK_ATTRIBUTE *tmpl,
			       CK_ULONG count)
{
	token_t *t = NULL;
	object_t *o = NULL;
	attr_list_t changed;
	CK_RV rv = view_object(sv, h, &t, &o);

	attr_list_init(&changed);
	if (rv == CKR_OK)
		rv = may_write(t, sv, &o->attrs);
	if (rv == CKR_OK && tmpl == NULL && count > 0)
		rv = CKR_ARGUMENTS_BAD;
	if (rv == CKR_OK)
		rv = attr_list_copy(&changed, &o->attrs);
	if (rv == CKR_OK)
		rv = policy_apply_change(POLICY_SET, &changed, tmpl, count);
	if (rv == CKR_OK && o->uid != 0)
		rv = token_store_put(t->store, &o->uid, o->is_private, &changed);
	if (rv == CKR_OK)
		object_replace_attrs(o, &changed);
	attr_list_clear(&changed);
	return rv;
}

CK_RV registry_object_set(const session_view_t *sv, CK_OBJECT_HANDLE h, const CK_ATTRIBUTE *tmpl,
			  CK_ULONG count)
{
	module_lock();
	CK_RV rv = object_set_locked(sv, h, tmpl, count);
	module_unlock();
	return rv;
}

static CK_RV object_size_locked(const session_view_t *sv, CK_OBJECT_HANDLE h, CK_ULONG *size)
{
	token_t *t = NULL;
	object_t *o = NULL;
	CK_RV rv = view_object(sv, h, &t, &o);

	if (rv != CKR_OK)
		return rv;
	/* The serialised size: what the object takes in the store. */
	*size = 5;
	for (size_t i = 0; i < o->attrs.count; i++)
		*size += 12 + o->attrs.items[i].len;
	return CKR_OK;
}

CK_RV registry_object_size(const session_view_t *sv, CK_OBJECT_HANDLE h, CK_ULONG *size)
{
	module_lock();
	CK_RV rv = object_size_locked(sv, h, size);
	module_unlock();
	return rv;
}

static CK_RV find_locked(const session_view_t *sv, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
			 CK_OBJECT_HANDLE **out, CK_ULONG *n)
{
	token_t *t = NULL;
	CK_RV rv = view_token(sv, &t);

	if (rv != CKR_OK)
		return rv;
	/* visible(): private objects only for the logged-in user. */
	return objcache_match(&t->objects, tmpl, count, t->login == CKU_USER, out, n);
}

CK_RV registry_find(const session_view_t *sv, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
		    CK_OBJECT_HANDLE **out, CK_ULONG *n)
{
	module_lock();
	CK_RV rv = find_locked(sv, tmpl, count, out, n);
	module_unlock();
	return rv;
}

static bool mechanism_allowed(const attr_list_t *attrs, CK_MECHANISM_TYPE mech)
{
	const attr_t *a = attr_list_find(attrs, CKA_ALLOWED_MECHANISMS);
	CK_MECHANISM_TYPE m;

	/* Absent or empty (the object layer's default) means no restriction. */
	if (a == NULL || a->len == 0)
		return true;
	for (CK_ULONG off = 0; off + sizeof(m) <= a->len; off += sizeof(m)) {
		memcpy(&m, a->value + off, sizeof(m));
		if (m == mech)
			return true;
	}
	return false;
}

/* The key for an operation, from the cache as it stands when it has it:
 * a handle in the cache was valid at our last look at the store, and the
 * store is looked at again (PRAGMA data_version: SQLite file locks and a
 * query under the module lock, the largest cost of a C_SignInit after the
 * signature) only when the handle is not there. A key that another process
 * destroyed or changed since that look is then used once more: the same
 * as if the change had come just after this C_SignInit, which no lock
 * across processes could prevent either. Our own process's changes are in
 * the cache already, and every call that finds, reads or changes objects
 * still brings it up to date first. */
static CK_RV cached_object(const session_view_t *sv, CK_OBJECT_HANDLE h, token_t **tok, object_t **out)
{
	token_t *t = registry_slot_token(sv->slot);
	object_t *o;

	/* Mirrors the store as last seen, with private objects when logged in. */
	if (t == NULL || t->store == NULL || !t->loaded ||
	    t->loaded_unlocked != token_store_unlocked(t->store))
		return view_object(sv, h, tok, out);
	o = objcache_find(&t->objects, h);
	if (o == NULL || !visible(t, o))
		return view_object(sv, h, tok, out);
	*tok = t;
	*out = o;
	return CKR_OK;
}

static CK_RV key_for_locked(const session_view_t *sv, CK_OBJECT_HANDLE h, CK_OBJECT_CLASS klass,
			    CK_ATTRIBUTE_TYPE usage, CK_MECHANISM_TYPE mech, key_use_t *out)
{
	token_t *t = NULL;
	object_t *o = NULL;
	CK_RV rv = cached_object(sv, h, &t, &o);

	if (rv == CKR_OBJECT_HANDLE_INVALID)
		return CKR_KEY_HANDLE_INVALID;
	if (rv != CKR_OK)
		return rv;
	/* From what the cache derived of the attributes (objcache.h). */
	CK_OBJECT_CLASS have = o->sum.has_class ? o->sum.klass : CK_UNAVAILABLE_INFORMATION;
	if (have != CKO_PRIVATE_KEY && have != CKO_PUBLIC_KEY && have != CKO_SECRET_KEY)
		return CKR_KEY_HANDLE_INVALID;
	if (!object_usage(o, usage))
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	if (have != klass)
		return CKR_KEY_TYPE_INCONSISTENT;
	if (o->key.mechanisms_listed && !mechanism_allowed(&o->attrs, mech))
		return CKR_MECHANISM_INVALID;
	rv = object_pkey(o, &out->pkey);
	if (rv != CKR_OK)
		return rv;
	out->key_type = o->key.key_type;
	out->always_authenticate = o->key.always_authenticate;
	return CKR_OK;
}

CK_RV registry_key_for(const session_view_t *sv, CK_OBJECT_HANDLE h, CK_OBJECT_CLASS klass,
		       CK_ATTRIBUTE_TYPE usage, CK_MECHANISM_TYPE mech, key_use_t *out)
{
	module_lock();
	CK_RV rv = key_for_locked(sv, h, klass, usage, mech, out);
	module_unlock();
	return rv;
}
