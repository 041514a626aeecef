/* token.h - the registry: slots, their tokens, each token's objects and
 * login state. Every registry_* function takes the module lock itself, so
 * callers (the C_* implementations) never juggle it.
 *
 * Slots: one per initialised token found in the token directory (sorted by
 * file name at C_Initialize, then appended as tokens appear) plus one free
 * slot whose token is present but uninitialised; C_InitToken on the free
 * slot creates a token there and a new free slot appears, as in SoftHSM2.
 *
 * Objects: token objects are cached in memory from the store and reloaded
 * when another process commits a change; session objects live only in
 * memory and die with their session. Handles come from the module counter
 * and are never reused; a token object keeps its handle across reloads. */
#ifndef OFFPASS_P11_TOKEN_H
#define OFFPASS_P11_TOKEN_H

#include <stdbool.h>
#include "common/pkcs11.h"
#include "p11/session.h"
#include "p11/object/attrs.h"

/* C_Initialize / C_Finalize. dir must exist and be a readable directory. */
CK_RV registry_open(const char *dir) OFP_WUR;
void registry_close(void);
/* In a forked child, with the module lock held: give every token store a
 * SQLite connection of the child's own (the parent's must not be used
 * across fork). A store that cannot be reopened is closed and its slot
 * then holds no token (logged). */
void registry_after_fork(void);

CK_RV registry_slot_list(bool token_present, CK_SLOT_ID *list, CK_ULONG *count) OFP_WUR;
CK_RV registry_slot_info(CK_SLOT_ID slot, CK_SLOT_INFO *info) OFP_WUR;
CK_RV registry_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO *info) OFP_WUR;
CK_RV registry_init_token(CK_SLOT_ID slot, const CK_UTF8CHAR *pin, CK_ULONG pin_len,
			  const CK_UTF8CHAR *label) OFP_WUR;

/* Sessions: count them per token, and the rules that depend on login. */
CK_RV registry_session_opening(CK_SLOT_ID slot, CK_FLAGS flags) OFP_WUR;
void registry_session_closed(CK_SLOT_ID slot, CK_SESSION_HANDLE h, CK_FLAGS flags);
CK_STATE registry_session_state(CK_SLOT_ID slot, CK_FLAGS flags);

CK_RV registry_login(CK_SLOT_ID slot, CK_USER_TYPE who, const CK_UTF8CHAR *pin, CK_ULONG len) OFP_WUR;
CK_RV registry_logout(CK_SLOT_ID slot) OFP_WUR;
CK_RV registry_init_pin(CK_SLOT_ID slot, CK_FLAGS sflags, const CK_UTF8CHAR *pin, CK_ULONG len) OFP_WUR;
CK_RV registry_set_pin(CK_SLOT_ID slot, CK_FLAGS sflags, const CK_UTF8CHAR *old_pin, CK_ULONG old_len,
		       const CK_UTF8CHAR *new_pin, CK_ULONG new_len) OFP_WUR;
/* Check the user PIN for a context-specific login without changing state. */
CK_RV registry_check_user_pin(CK_SLOT_ID slot, const CK_UTF8CHAR *pin, CK_ULONG len) OFP_WUR;

/* Objects, as seen from session s (its slot, handle and RW flag). */
typedef struct session_view {
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE handle;
	CK_FLAGS flags;
} session_view_t;

/* Add a fully built object (policy applied, key validated); takes the
 * contents of attrs (left empty). Checks RW/login for token/private. */
CK_RV registry_object_add(const session_view_t *sv, attr_list_t *attrs, CK_OBJECT_HANDLE *out) OFP_WUR;
/* Several at once (up to TOKEN_STORE_PUT_MAX): the token objects among
 * them are stored in one transaction, all or none. */
CK_RV registry_objects_add(const session_view_t *sv, attr_list_t **lists, size_t n,
			   CK_OBJECT_HANDLE *out) OFP_WUR;
/* A copy of an object's attributes (for C_CopyObject, derive bases ...). */
CK_RV registry_object_attrs(const session_view_t *sv, CK_OBJECT_HANDLE h, attr_list_t *out) OFP_WUR;
CK_RV registry_object_destroy(const session_view_t *sv, CK_OBJECT_HANDLE h) OFP_WUR;
CK_RV registry_object_get(const session_view_t *sv, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG count) OFP_WUR;
CK_RV registry_object_set(const session_view_t *sv, CK_OBJECT_HANDLE h, const CK_ATTRIBUTE *tmpl, CK_ULONG count) OFP_WUR;
CK_RV registry_object_size(const session_view_t *sv, CK_OBJECT_HANDLE h, CK_ULONG *size) OFP_WUR;
/* Handles of the visible objects matching tmpl (caller frees). */
CK_RV registry_find(const session_view_t *sv, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
		    CK_OBJECT_HANDLE **out, CK_ULONG *n) OFP_WUR;

/* A key for an operation: checks the object is a key of class klass that
 * permits usage (CKA_SIGN, CKA_VERIFY, CKA_DERIVE ...: else
 * CKR_KEY_FUNCTION_NOT_PERMITTED), that mech is in CKA_ALLOWED_MECHANISMS
 * when that is set (else CKR_MECHANISM_INVALID); returns a reference to the
 * cached EVP_PKEY (caller frees), the key type and CKA_ALWAYS_AUTHENTICATE.
 * CKR_KEY_HANDLE_INVALID for anything not visible or not a key. */
typedef struct key_use {
	EVP_PKEY *pkey;
	CK_KEY_TYPE key_type;
	bool always_authenticate;
} key_use_t;
CK_RV registry_key_for(const session_view_t *sv, CK_OBJECT_HANDLE h, CK_OBJECT_CLASS klass,
		       CK_ATTRIBUTE_TYPE usage, CK_MECHANISM_TYPE mech, key_use_t *out) OFP_WUR;

#endif
