/* secmem.h - the one secure-memory module: every secret (PIN, derived key,
 * key material) lives in memory from here and is wiped when released.
 *
 * Allocations are locked into RAM where the system allows it (mlock is best
 * effort: a process without the privilege still gets wiped memory). */
#ifndef OFFPASS_SECMEM_H
#define OFFPASS_SECMEM_H

#include <stddef.h>
#include <stdbool.h>
#include "compiler.h"

/* Zeroed, wiped-on-free memory; NULL on failure. secmem_alloc(0) returns a
 * valid pointer that secmem_free accepts. */
void *secmem_alloc(size_t len) OFP_WUR;
/* Wipe len bytes and free; p may be NULL. len must be the allocated length. */
void secmem_free(void *p, size_t len);
/* A wiped-on-free copy of [data, data+len); NULL on failure. */
void *secmem_dup(const void *data, size_t len) OFP_WUR;
/* Wipe memory that the compiler may not optimise away. */
void secmem_wipe(void *p, size_t len);
/* Constant-time equality of two buffers of the same length. */
bool secmem_equal(const void *a, const void *b, size_t len) OFP_WUR;

#endif
