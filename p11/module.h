/* module.h - the module's life cycle and its one lock.
 *
 * PKCS#11 is a process-wide C API, so the module has exactly one state
 * object (in module.c); everything else reaches it through these calls.
 * The module lock protects the slot/token/object registry and the session
 * table; a session's own mutex protects its operation state, so that
 * crypto on two sessions runs in parallel. Lock order: the session gate
 * (session.h: opening and closing sessions, fork), then a session mutex,
 * then the module lock; the registry_* and session_* calls take the
 * module lock inside, nothing holding it ever waits for a session, and
 * nothing holding either waits for the gate.
 */
#ifndef OFFPASS_P11_MODULE_H
#define OFFPASS_P11_MODULE_H

#include <stdbool.h>
#include "common/pkcs11.h"
#include "compiler.h"

/* CKR_OK when C_Initialize has run (in this process, or in the parent of
 * a forked child, which keeps a copy of its state), else
 * CKR_CRYPTOKI_NOT_INITIALIZED. */
CK_RV module_check(void) OFP_WUR;
/* module_check, then take the module lock (released by module_leave). */
CK_RV module_enter(void) OFP_WUR;
void module_leave(void);
/* Take / release the module lock with no check (inside registry/session
 * code). In a forked child, the first module_lock reopens the token stores
 * (registry_after_fork). */
void module_lock(void);
void module_unlock(void);

/* A fresh handle from the one module-wide counter: object and session
 * handles are never reused and never pointers. Module lock held. */
CK_ULONG module_next_handle(void);

/* One line to stderr, prefixed "offpass-p11: ", for errors an application
 * could not otherwise explain (a bad token directory, a damaged token
 * file). Never called with secrets. */
void module_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Shared by the function tables. */
extern CK_FUNCTION_LIST offpass_function_list;

#endif
