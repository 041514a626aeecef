/* session.h - sessions: a table from handle to session, each session with
 * its own mutex and its active operations.
 *
 * The table lives under the module lock. A caller takes a session with
 * session_enter (which looks it up, counts a reference and takes the
 * session's mutex, holding the module lock only for the look-up) and
 * gives it back with session_leave, which needs no module lock: the count
 * is atomic. C_CloseSession waits for a session in use and removes it from
 * the table (dropping the table's reference); the last reference frees
 * it. */
#ifndef OFFPASS_P11_SESSION_H
#define OFFPASS_P11_SESSION_H

#include <stdatomic.h>
#include <stdbool.h>
#include "common/pkcs11.h"
#include "p11/lock.h"
#include "p11/crypto/crypto.h"

typedef enum op_slot {
	OP_DIGEST,
	OP_SIGN,
	OP_VERIFY,
	OP_ENCRYPT,
	OP_DECRYPT,
	OP_COUNT
} op_slot_t;

typedef struct session_op {
	crypto_op_t *op;  /* NULL when no operation is active */
	bool multipart;   /* an Update has been called: a single-part call is refused */
	bool single;      /* a single-part call asked for the size: Update/Final are refused */
	bool needs_login; /* CKA_ALWAYS_AUTHENTICATE key: C_Login(CKU_CONTEXT_SPECIFIC) first */
	unsigned long key_epoch; /* session_key_epoch() before the key was looked up */
	CK_OBJECT_HANDLE key;    /* the key's handle; 0 for digests */
	bool always_auth;        /* the key has CKA_ALWAYS_AUTHENTICATE: never kept */
} session_op_t;

typedef struct session {
	CK_SESSION_HANDLE handle;
	CK_SLOT_ID slot;
	CK_FLAGS flags;          /* CKF_SERIAL_SESSION | CKF_RW_SESSION */
	p11_mutex_t *mutex;      /* guards ops[] and find */
	atomic_uint refs;        /* the table's and each caller's inside it */
	session_op_t ops[OP_COUNT];
	/* A finished reusable operation (crypto_op_keep: keyed AES-GCM)
	 * per slot, kept for the next Init with the same key. Taken and put
	 * back by the session's user under its mutex, and dropped by
	 * session_keys_retired under the module lock alone: hence atomic. */
	_Atomic(crypto_op_t *) spare[OP_COUNT];
	struct {
		unsigned long epoch;  /* the key_epoch of its key check */
		CK_OBJECT_HANDLE key; /* the key's handle */
	} spare_of[OP_COUNT];         /* the user's alone */
	struct {
		bool active;
		CK_OBJECT_HANDLE *handles;
		CK_ULONG count, next;
	} find;
} session_t;

/* Look up, reference and lock a session: CKR_SESSION_HANDLE_INVALID,
 * CKR_CRYPTOKI_NOT_INITIALIZED. */
CK_RV session_enter(CK_SESSION_HANDLE h, session_t **out) OFP_WUR;
void session_leave(session_t *s);

/* C_OpenSession's bookkeeping (registry checks are the caller's). */
CK_RV session_open(CK_SLOT_ID slot, CK_FLAGS flags, CK_SESSION_HANDLE *out) OFP_WUR;
/* Remove from the table and end its operations; the session object goes
 * when the last reference does. Returns its slot and flags for the
 * registry. CKR_SESSION_HANDLE_INVALID. */
CK_RV session_close(CK_SESSION_HANDLE h, CK_SLOT_ID *slot, CK_FLAGS *flags) OFP_WUR;
/* Handles of every session on slot (for C_CloseAllSessions). Caller frees. */
CK_RV session_list(CK_SLOT_ID slot, CK_SESSION_HANDLE **out, CK_ULONG *count) OFP_WUR;
/* Free everything (C_Finalize); no other thread may be inside the module. */
void session_table_clear(void);
/* The fork gate. Lock order: the gate, then a session's mutex, then the
 * module lock; nothing that holds a session mutex or the module lock
 * waits for the gate. C_OpenSession and C_CloseSession hold it from the
 * registry's count to the table's change, so that fork() never falls
 * between the two; init at C_Initialize, free at C_Finalize. */
CK_RV session_gate_init(void) OFP_WUR;
void session_gate_free(void);
void session_gate_enter(void);
void session_gate_leave(void);
/* Around fork() (pthread_atfork): hold takes the gate, every session's
 * mutex and then the module lock, so that the child copies no half-made
 * change and a session table that agrees with the registry; release gives
 * them back (in the parent, and in the child, where the forking thread
 * still holds them). */
void session_fork_hold(void);
void session_fork_release(void);

/* End one operation (free its state, or keep a reusable one as the
 * slot's spare). Session mutex held. */
void session_op_end(session_t *s, op_slot_t which);
/* The slot's spare operation for key (a handle), if any, now the
 * caller's, with the key_epoch of its key check in *epoch. NULL when there
 * is none, when it was for another key, or when a key was retired since
 * its key was checked (then it is freed). Session mutex held.
 *
 * Keys are checked once per spare: while the epoch stands, the registry's
 * answer for this session, handle, usage and mechanism stands too. Handles
 * are never reused; what could change the answer (the object destroyed,
 * its attributes changed, reloaded from the store, dropped at logout or
 * session close, the user logged out) drops the object's key material
 * and so retires it (objcache.c), which moves the epoch. */
crypto_op_t *session_spare_take(session_t *s, op_slot_t which, CK_OBJECT_HANDLE key, unsigned long *epoch);

/* Keyed operations kept in sessions never outlive their key's object:
 * the epoch counts key retirements (an object with key material destroyed,
 * changed, dropped at logout or session close, or reloaded; a logout; a
 * fork), and session_keys_retired drops every session's spares (module
 * lock held). An operation whose key was checked before a retirement is
 * not kept. */
unsigned long session_key_epoch(void);
void session_keys_retired(void);
/* In a forked child: spares are not used again (dropped when next taken). */
void session_keys_forked(void);
void session_find_end(session_t *s);

#endif
