/* token_int.h - what the registry's two halves share: token.c (slots,
 * tokens, sessions and login) and token_obj.c (each token's objects).
 * Not for the C_* layer, which goes through token.h. Every function here
 * expects the module lock held. */
#ifndef OFFPASS_P11_TOKEN_INT_H
#define OFFPASS_P11_TOKEN_INT_H

#include <stdbool.h>
#include "common/pkcs11.h"
#include "p11/objcache.h"
#include "p11/store/store.h"

#define LOGIN_NONE ((CK_USER_TYPE)-1)

typedef struct token {
	char *path;             /* token file; NULL for the free slot */
	token_store_t *store;   /* open while the slot holds a token */
	CK_USER_TYPE login;
	bool loaded;            /* cache mirrors the store ... */
	bool loaded_unlocked;   /* ... and includes its private objects */
	objcache_t objects;
	CK_ULONG sessions, rw_sessions;
} token_t;

/* The token in a slot, or NULL for an unknown slot id. */
token_t *registry_slot_token(CK_SLOT_ID id);

#endif
