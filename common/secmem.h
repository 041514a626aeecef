/* secmem.h - the one secure-memory module: every secret (PIN, derived key,
 * key material) lives in memory from here and is wiped when released.
 *
 * Two kinds, one secmem_free for both:
 * - secmem_alloc: zeroed, wiped on free, not locked. For the many short or
 *   per-object buffers (attribute values, blobs being sealed): mlock(2) is a
 *   system call serialised in the kernel on the process's address space,
 *   and at one per attribute it cost more than the key generation.
 * - secmem_alloc_locked: the same, and also locked into RAM (page-aligned,
 *   whole pages of its own) where the system allows it, for the few
 *   long-lived secrets a swap file must never see: a token's key, the keys
 *   derived from PINs, a PIN kept for a later login. Best effort: without
 *   CAP_IPC_LOCK and beyond RLIMIT_MEMLOCK the memory is still handed out,
 *   and the caller is told whether the lock held. */
#ifndef OFFPASS_SECMEM_H
#define OFFPASS_SECMEM_H

#include <stddef.h>
#include <stdbool.h>
#include "compiler.h"

/* Zeroed, wiped-on-free memory; NULL on failure. secmem_alloc(0) returns a
 * valid pointer that secmem_free accepts. */
void *secmem_alloc(size_t len) OFP_WUR;
/* As secmem_alloc, and mlock'ed: *locked (when locked is not NULL) says
 * whether the lock held. NULL only when no memory could be had. Costs at
 * least a page and two system calls: not for per-operation buffers. */
void *secmem_alloc_locked(size_t len, bool *locked) OFP_WUR;
/* Wipe len bytes and free (and unlock, for locked memory); p may be NULL.
 * len must be the allocated length: the allocation records its kind just
 * past it. */
void secmem_free(void *p, size_t len);
/* A wiped-on-free (not locked) copy of [data, data+len); NULL on failure. */
void *secmem_dup(const void *data, size_t len) OFP_WUR;
/* Wipe memory that the compiler may not optimise away. */
void secmem_wipe(void *p, size_t len);
/* Constant-time equality of two buffers of the same length. */
bool secmem_equal(const void *a, const void *b, size_t len) OFP_WUR;

#endif
