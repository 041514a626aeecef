/* objcache.h - a token's objects in memory: token objects mirrored from
 * the store, and session objects. Kept sorted by handle (handles only
 * grow), so a look-up is a binary search. Module lock held by callers. */
#ifndef OFFPASS_P11_OBJCACHE_H
#define OFFPASS_P11_OBJCACHE_H

#include <stdint.h>
#include <openssl/evp.h>
#include "p11/object/attrs.h"
#include "p11/store/store.h"

/* What a search looks at first, kept beside the attributes so that a scan
 * of many objects reads one cache line per object, not its attribute list
 * and values: CKA_CLASS and a fingerprint of CKA_ID (derived from attrs
 * whenever they are set). Only ever a pre-filter: every candidate is
 * matched on its attributes. */
typedef struct object_summary {
	bool has_class, has_id;
	CK_OBJECT_CLASS klass;
	uint64_t id_hash;           /* of the CKA_ID value, length included */
} object_summary_t;

/* What the key check of every operation's Init reads (registry_key_for),
 * derived with the summary so that it costs no attribute search: the key
 * type, the usage attributes that are TRUE (OBJECT_USE_*), and whether the
 * key needs a context-specific login or has CKA_ALLOWED_MECHANISMS (then
 * that list is read). */
enum {
	OBJECT_USE_ENCRYPT = 1 << 0,
	OBJECT_USE_DECRYPT = 1 << 1,
	OBJECT_USE_SIGN = 1 << 2,
	OBJECT_USE_VERIFY = 1 << 3,
	OBJECT_USE_WRAP = 1 << 4,
	OBJECT_USE_UNWRAP = 1 << 5,
	OBJECT_USE_DERIVE = 1 << 6,
};

typedef struct object_key_facts {
	CK_KEY_TYPE key_type;       /* CK_UNAVAILABLE_INFORMATION when none */
	unsigned usage;
	bool always_authenticate;
	bool mechanisms_listed;     /* a non-empty CKA_ALLOWED_MECHANISMS */
} object_key_facts_t;

typedef struct object {
	CK_OBJECT_HANDLE handle;
	uint64_t uid;               /* store uid; 0 for a session object */
	CK_SESSION_HANDLE session;  /* creator of a session object */
	bool is_private;            /* CKA_PRIVATE */
	object_summary_t sum;
	object_key_facts_t key;
	attr_list_t attrs;
	EVP_PKEY *pkey;             /* key material, built on first use */
} object_t;

typedef struct objcache {
	object_t **items;
	size_t count, cap;
} objcache_t;

/* Whether the usage attribute (CKA_ENCRYPT, CKA_SIGN ...) is TRUE. */
bool object_usage(const object_t *o, CK_ATTRIBUTE_TYPE usage);

/* A new object taking the contents of attrs (left empty); NULL on ENOMEM. */
object_t *object_new(attr_list_t *attrs, uint64_t uid, CK_SESSION_HANDLE session) OFP_WUR;
void object_free(object_t *o);
/* The object's EVP_PKEY, built and cached on first use; a new reference. */
CK_RV object_pkey(object_t *o, EVP_PKEY **out) OFP_WUR;
/* Replace the attributes (after C_SetAttributeValue); drops the cached key. */
void object_replace_attrs(object_t *o, attr_list_t *attrs);

object_t *objcache_find(const objcache_t *c, CK_OBJECT_HANDLE h);
/* Append o, which has a handle larger than every other (from the counter). */
CK_RV objcache_add(objcache_t *c, object_t *o) OFP_WUR;
/* Remove and free. */
void objcache_remove(objcache_t *c, CK_OBJECT_HANDLE h);
/* Remove and free the session objects of session s, or all of them when s is 0. */
void objcache_drop_session(objcache_t *c, CK_SESSION_HANDLE s);
/* Remove and free every private object, token and session (C_Logout). */
void objcache_drop_private(objcache_t *c);
void objcache_clear(objcache_t *c);
/* Handles of the objects matching tmpl as attr_list_matches does (in
 * handle order), the private ones only when with_private. *out is
 * allocated (caller frees) even when nothing matches. */
CK_RV objcache_match(const objcache_t *c, const CK_ATTRIBUTE *tmpl, CK_ULONG count, bool with_private,
		     CK_OBJECT_HANDLE **out, CK_ULONG *n) OFP_WUR;
/* Mirror the store: token objects keep their handles by uid, new ones get
 * fresh handles, vanished ones go; session objects stay. */
CK_RV objcache_reload(objcache_t *c, token_store_t *store) OFP_WUR;

#endif
