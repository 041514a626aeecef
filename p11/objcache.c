/* objcache.c - a token's objects in memory. */
#include "config.h"
#include "p11/objcache.h"
#include "p11/module.h"
#include "p11/session.h"
#include "p11/crypto/crypto.h"
#include "p11/object/policy.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a over the length and the bytes: a fingerprint, not a defence
 * (CKA_ID is never secret, and a collision only costs a full match). */
static uint64_t id_hash(const CK_BYTE *v, CK_ULONG len)
{
	uint64_t h = 0xcbf29ce484222325u;
	uint64_t n = len;

	for (int i = 0; i < 8; i++, n >>= 8)
		h = (h ^ (n & 0xff)) * 0x100000001b3u;
	for (CK_ULONG i = 0; i < len; i++)
		h = (h ^ v[i]) * 0x100000001b3u;
	return h;
}

static const struct {
	CK_ATTRIBUTE_TYPE type;
	unsigned bit;
} usages[] = {
	{ CKA_ENCRYPT, OBJECT_USE_ENCRYPT }, { CKA_DECRYPT, OBJECT_USE_DECRYPT },
	{ CKA_SIGN, OBJECT_USE_SIGN },       { CKA_VERIFY, OBJECT_USE_VERIFY },
	{ CKA_WRAP, OBJECT_USE_WRAP },       { CKA_UNWRAP, OBJECT_USE_UNWRAP },
	{ CKA_DERIVE, OBJECT_USE_DERIVE },
};

bool object_usage(const object_t *o, CK_ATTRIBUTE_TYPE usage)
{
	for (size_t i = 0; i < OFP_ARRAY_LEN(usages); i++)
		if (usages[i].type == usage)
			return (o->key.usage & usages[i].bit) != 0;
	return attr_list_get_bool(&o->attrs, usage, false);
}

static void key_facts_derive(object_t *o)
{
	const attr_t *allowed = attr_list_find(&o->attrs, CKA_ALLOWED_MECHANISMS);

	o->key.key_type = policy_key_type(&o->attrs);
	o->key.usage = 0;
	for (size_t i = 0; i < OFP_ARRAY_LEN(usages); i++)
		if (attr_list_get_bool(&o->attrs, usages[i].type, false))
			o->key.usage |= usages[i].bit;
	o->key.always_authenticate = attr_list_get_bool(&o->attrs, CKA_ALWAYS_AUTHENTICATE, false);
	o->key.mechanisms_listed = allowed != NULL && allowed->len != 0;
}

/* What is derived from the attributes; after every change to them. */
static void object_derive(object_t *o)
{
	const attr_t *id = attr_list_find(&o->attrs, CKA_ID);

	key_facts_derive(o);

	o->is_private = attr_list_get_bool(&o->attrs, CKA_PRIVATE, true);
	o->sum.has_class = attr_list_get_ulong(&o->attrs, CKA_CLASS, &o->sum.klass);
	o->sum.has_id = id != NULL;
	o->sum.id_hash = id != NULL ? id_hash(id->value, id->len) : 0;
}

object_t *object_new(attr_list_t *attrs, uint64_t uid, CK_SESSION_HANDLE session)
{
	object_t *o = calloc(1, sizeof(*o));
	if (o == NULL)
		return NULL;
	o->uid = uid;
	o->session = session;
	o->attrs = *attrs;
	object_derive(o);
	attr_list_init(attrs);
	return o;
}

/* Drop the object's key material, and with it every operation a session
 * keeps keyed for the next use (session_keys_retired): none outlives the
 * object or a change to it, in memory or in use. */
static void key_retire(object_t *o)
{
	if (o->pkey == NULL)
		return;
	session_keys_retired();
	EVP_PKEY_free(o->pkey);
	o->pkey = NULL;
}

void object_free(object_t *o)
{
	if (o == NULL)
		return;
	attr_list_clear(&o->attrs);
	key_retire(o);
	free(o);
}

CK_RV object_pkey(object_t *o, EVP_PKEY **out)
{
	CK_RV rv = CKR_OK;

	if (o->pkey == NULL)
		rv = crypto_pkey_from_attrs(policy_object_class(&o->attrs), &o->attrs, &o->pkey);
	if (rv == CKR_OK && EVP_PKEY_up_ref(o->pkey) != 1)
		rv = CKR_HOST_MEMORY;
	if (rv == CKR_OK)
		*out = o->pkey;
	return rv;
}

void object_replace_attrs(object_t *o, attr_list_t *attrs)
{
	attr_list_clear(&o->attrs);
	o->attrs = *attrs;
	object_derive(o);
	attr_list_init(attrs);
	key_retire(o);
}

static size_t find_index(const objcache_t *c, CK_OBJECT_HANDLE h, bool *found)
{
	size_t lo = 0, hi = c->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->items[mid]->handle < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < c->count && c->items[lo]->handle == h;
	return lo;
}

object_t *objcache_find(const objcache_t *c, CK_OBJECT_HANDLE h)
{
	bool found;
	size_t i = find_index(c, h, &found);
	return found ? c->items[i] : NULL;
}

static CK_RV reserve(objcache_t *c, size_t n)
{
	if (n <= c->cap)
		return CKR_OK;
	size_t cap = c->cap ? c->cap : 64;
	while (cap < n)
		cap *= 2;
	object_t **items = realloc(c->items, cap * sizeof(*items));
	if (items == NULL)
		return CKR_HOST_MEMORY;
	c->items = items;
	c->cap = cap;
	return CKR_OK;
}

CK_RV objcache_add(objcache_t *c, object_t *o)
{
	CK_RV rv = reserve(c, c->count + 1);
	if (rv == CKR_OK)
		c->items[c->count++] = o;
	return rv;
}

void objcache_remove(objcache_t *c, CK_OBJECT_HANDLE h)
{
	bool found;
	size_t i = find_index(c, h, &found);

	if (!found)
		return;
	object_free(c->items[i]);
	memmove(&c->items[i], &c->items[i + 1], (c->count - i - 1) * sizeof(c->items[0]));
	c->count--;
}

void objcache_drop_session(objcache_t *c, CK_SESSION_HANDLE s)
{
	size_t kept = 0;

	for (size_t i = 0; i < c->count; i++) {
		object_t *o = c->items[i];
		if (o->uid == 0 && (s == 0 || o->session == s))
			object_free(o);
		else
			c->items[kept++] = o;
	}
	c->count = kept;
}

void objcache_drop_private(objcache_t *c)
{
	size_t kept = 0;

	for (size_t i = 0; i < c->count; i++) {
		object_t *o = c->items[i];
		if (o->is_private)
			object_free(o);
		else
			c->items[kept++] = o;
	}
	c->count = kept;
}

void objcache_clear(objcache_t *c)
{
	for (size_t i = 0; i < c->count; i++)
		object_free(c->items[i]);
	free(c->items);
	memset(c, 0, sizeof(*c));
}

/* ---- search ------------------------------------------------------- */

/* The summary a matching object must have: the template's first CKA_CLASS
 * and CKA_ID (an object must match every entry, so the first will do). An
 * entry whose value cannot be read is left to attr_list_matches. */
static void want_of(const CK_ATTRIBUTE *tmpl, CK_ULONG count, object_summary_t *want)
{
	memset(want, 0, sizeof(*want));
	if (tmpl == NULL)
		return;
	for (CK_ULONG i = 0; i < count; i++) {
		const CK_ATTRIBUTE *a = &tmpl[i];
		bool readable = a->pValue != NULL || a->ulValueLen == 0;

		if (a->type == CKA_CLASS && !want->has_class && readable &&
		    a->ulValueLen == sizeof(CK_OBJECT_CLASS)) {
			memcpy(&want->klass, a->pValue, sizeof(CK_OBJECT_CLASS));
			want->has_class = true;
		} else if (a->type == CKA_ID && !want->has_id && readable) {
			want->id_hash = id_hash(a->pValue, a->ulValueLen);
			want->has_id = true;
		}
	}
}

static bool may_match(const object_summary_t *have, const object_summary_t *want)
{
	if (want->has_class && (!have->has_class || have->klass != want->klass))
		return false;
	if (want->has_id && (!have->has_id || have->id_hash != want->id_hash))
		return false;
	return true;
}

/* Room for one more hit: the array grows by doubling. A search usually
 * finds one object or a few; zeroing room for every object of the token
 * each time cost more than a summary scan. */
static CK_RV hits_reserve(CK_OBJECT_HANDLE **hits, size_t *cap, CK_ULONG found)
{
	CK_OBJECT_HANDLE *more;

	if (found < *cap)
		return CKR_OK;
	more = realloc(*hits, 2 * *cap * sizeof(*more));
	if (more == NULL)
		return CKR_HOST_MEMORY;
	*hits = more;
	*cap *= 2;
	return CKR_OK;
}

CK_RV objcache_match(const objcache_t *c, const CK_ATTRIBUTE *tmpl, CK_ULONG count, bool with_private,
		     CK_OBJECT_HANDLE **out, CK_ULONG *n)
{
	object_summary_t want;
	size_t cap = 8;
	CK_OBJECT_HANDLE *hits = malloc(cap * sizeof(*hits));
	CK_ULONG found = 0;
	CK_RV rv = CKR_OK;

	if (hits == NULL)
		return CKR_HOST_MEMORY;
	want_of(tmpl, count, &want);
	for (size_t i = 0; rv == CKR_OK && i < c->count; i++) {
		const object_t *o = c->items[i];

		if ((o->is_private && !with_private) || !may_match(&o->sum, &want) ||
		    !attr_list_matches(&o->attrs, tmpl, count))
			continue;
		rv = hits_reserve(&hits, &cap, found);
		if (rv == CKR_OK)
			hits[found++] = o->handle;
	}
	if (rv != CKR_OK) {
		free(hits);
		return rv;
	}
	*out = hits;
	*n = found;
	return CKR_OK;
}

/* ---- reload ------------------------------------------------------- */

struct reload {
	object_t **old;     /* the token objects before, sorted by uid */
	bool *claimed;      /* old[i] was found in the store again */
	size_t old_count;
	objcache_t fresh;   /* being built */
	CK_RV rv;
};

static int by_uid(const void *a, const void *b)
{
	uint64_t x = (*(object_t *const *)a)->uid, y = (*(object_t *const *)b)->uid;
	return x < y ? -1 : x > y;
}

static int by_handle(const void *a, const void *b)
{
	CK_OBJECT_HANDLE x = (*(object_t *const *)a)->handle, y = (*(object_t *const *)b)->handle;
	return x < y ? -1 : x > y;
}

static object_t *take_old(struct reload *r, uint64_t uid)
{
	object_t key = { .uid = uid }, *kp = &key;
	object_t **hit = bsearch(&kp, r->old, r->old_count, sizeof(*r->old), by_uid);
	size_t i;

	if (hit == NULL)
		return NULL;
	i = (size_t)(hit - r->old);
	if (r->claimed[i])
		return NULL;
	r->claimed[i] = true;
	return *hit;
}

static CK_RV reload_one(uint64_t uid, bool is_private, const attr_list_t *attrs, void *ctx)
{
	struct reload *r = ctx;
	attr_list_t copy;
	CK_RV rv;

	attr_list_init(&copy);
	rv = attr_list_copy(&copy, attrs);
	if (rv != CKR_OK)
		goto out;
	object_t *o = take_old(r, uid);
	if (o != NULL) {
		object_replace_attrs(o, &copy);
	} else {
		o = object_new(&copy, uid, 0);
		if (o == NULL) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
		o->handle = module_next_handle();
	}
	rv = objcache_add(&r->fresh, o);
	if (rv != CKR_OK)
		object_free(o);
out:
	attr_list_clear(&copy);
	return rv;
}

CK_RV objcache_reload(objcache_t *c, token_store_t *store)
{
	struct reload r = { 0 };
	CK_RV rv = CKR_HOST_MEMORY;

	r.old = calloc(c->count + 1, sizeof(*r.old));
	r.claimed = calloc(c->count + 1, sizeof(*r.claimed));
	if (r.old == NULL || r.claimed == NULL)
		goto out;
	for (size_t i = 0; i < c->count; i++) {
		object_t *o = c->items[i];
		if (o->uid != 0)
			r.old[r.old_count++] = o;
		else if ((rv = objcache_add(&r.fresh, o)) != CKR_OK)
			goto out;
	}
	qsort(r.old, r.old_count, sizeof(*r.old), by_uid);
	rv = token_store_load(store, reload_one, &r);
	if (rv != CKR_OK)
		goto out;
	for (size_t i = 0; i < r.old_count; i++)
		if (!r.claimed[i])
			object_free(r.old[i]);
	if (r.fresh.count > 1) /* items is NULL when the token is empty */
		qsort(r.fresh.items, r.fresh.count, sizeof(*r.fresh.items), by_handle);
	free(c->items);
	*c = r.fresh;
	memset(&r.fresh, 0, sizeof(r.fresh));
out:
	if (rv != CKR_OK) {
		/* Leave c as it was: drop only what the failed load created. */
		for (size_t i = 0; i < r.fresh.count; i++)
			if (r.fresh.items[i]->uid != 0 && objcache_find(c, r.fresh.items[i]->handle) == NULL)
				object_free(r.fresh.items[i]);
		free(r.fresh.items);
	}
	free(r.old);
	free(r.claimed);
	return rv;
}
