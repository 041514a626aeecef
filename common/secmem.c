/* secmem.c - wiped memory for secrets, locked into RAM for the long-lived.
 *
 * Every allocation carries one byte past the caller's length. It keeps
 * secmem_alloc(0) distinct from failure, and it records how the memory was
 * made, so that the one secmem_free serves both kinds: 0 for plain
 * (calloc) memory, SECMEM_LOCKED for page-aligned memory that mlock(2)
 * holds. A locked allocation owns whole pages: mlock does not nest, so an
 * munlock of one allocation must never cover a page another still needs
 * locked (nor may plain memory share its pages, or freeing it would unlock
 * them). */
#include "config.h"
#include "secmem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <openssl/crypto.h>

#define SECMEM_PLAIN 0x00
#define SECMEM_LOCKED 0x4c

void *secmem_alloc(size_t len)
{
	if (len == SIZE_MAX)
		return NULL;
	return calloc(1, len + 1); /* the trailing byte reads SECMEM_PLAIN */
}

/* Whole pages for len bytes and the trailing byte; 0 on overflow. */
static size_t locked_span(size_t len, size_t page)
{
	if (len > SIZE_MAX - page)
		return 0;
	return (len + 1 + page - 1) / page * page;
}

static size_t page_size(void)
{
	long n = sysconf(_SC_PAGESIZE);

	return n > 0 ? (size_t)n : 4096;
}

void *secmem_alloc_locked(size_t len, bool *locked)
{
	size_t page = page_size(), span = locked_span(len, page);
	unsigned char *p = NULL;
	bool held = false;

	if (span != 0 && posix_memalign((void **)&p, page, span) != 0)
		p = NULL;
	if (p != NULL) {
		memset(p, 0, span);
		/* Without CAP_IPC_LOCK and beyond RLIMIT_MEMLOCK this fails; the
		 * memory is still wiped on release, and the caller is told. */
		held = mlock(p, span) == 0;
		p[len] = held ? SECMEM_LOCKED : SECMEM_PLAIN;
	}
	if (locked != NULL)
		*locked = held;
	return p;
}

void secmem_free(void *p, size_t len)
{
	unsigned char *b = p;
	bool held;

	if (b == NULL)
		return;
	held = b[len] == SECMEM_LOCKED;
	OPENSSL_cleanse(b, len + 1);
	if (held)
		(void)munlock(b, locked_span(len, page_size()));
	free(b);
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
