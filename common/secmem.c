/* secmem.c - wiped, locked memory for secrets. */
#include "config.h"
#include "secmem.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <openssl/crypto.h>

void *secmem_alloc(size_t len)
{
	/* One extra byte keeps secmem_alloc(0) distinct from failure. */
	void *p = calloc(1, len + 1);
	if (p == NULL)
		return NULL;
	/* Best effort: without CAP_IPC_LOCK or under RLIMIT_MEMLOCK this fails,
	 * and the memory is still wiped on release. */
	(void)mlock(p, len + 1);
	return p;
}

void secmem_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len + 1);
	(void)munlock(p, len + 1);
	free(p);
}

void *secmem_dup(const void *data, size_t len)
{
	void *p = secmem_alloc(len);
	if (p != NULL && len > 0)
		memcpy(p, data, len);
	return p;
}

void secmem_wipe(void *p, size_t len)
{
	if (p != NULL)
		OPENSSL_cleanse(p, len);
}

bool secmem_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}
