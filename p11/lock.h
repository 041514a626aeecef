/* lock.h - mutexes as the application asked for them in C_Initialize:
 * the OS's (CKF_OS_LOCKING_OK), the application's callbacks, or none
 * (the application promised a single thread). */
#ifndef OFFPASS_P11_LOCK_H
#define OFFPASS_P11_LOCK_H

#include "common/pkcs11.h"
#include "compiler.h"

typedef struct p11_mutex p11_mutex_t;

/* Choose the locking model from C_Initialize's arguments (NULL allowed).
 * CKR_ARGUMENTS_BAD when only some callbacks are given or pReserved is set. */
CK_RV lock_configure(const CK_C_INITIALIZE_ARGS *args) OFP_WUR;
CK_RV lock_new(p11_mutex_t **out) OFP_WUR;
void lock_free(p11_mutex_t *m);
void lock_acquire(p11_mutex_t *m);
void lock_release(p11_mutex_t *m);

#endif
