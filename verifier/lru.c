/* lru.c - chained hash table + doubly linked recency list. Each entry is
 * one allocation (links, key, value), so value pointers do not move. */
#include "config.h"
#include "verifier/lru.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

typedef struct lru_node {
	struct lru_node *chain; /* next in the same bucket */
	struct lru_node *older, *newer;
	uint64_t hash;
	uint64_t data[]; /* key (padded to 8 bytes), then value */
} lru_node_t;

struct ofp_lru {
	size_t key_len, key_pad, val_len;
	uint32_t capacity, count;
	size_t nbuckets; /* a power of two */
	lru_node_t **buckets;
	lru_node_t *oldest, *newest;
	uint64_t seed; /* so that bucket positions cannot be predicted */
	ofp_lru_release_fn release;
};

#define LRU_MIN_BUCKETS 16u

static uint64_t lru_hash(const ofp_lru_t *m, const void *key)
{
	const unsigned char *p = key;
	uint64_t h = m->seed ^ m->key_len;

	for (size_t i = 0; i < m->key_len; i += 8) {
		uint64_t w = 0;
		size_t n = m->key_len - i < 8 ? m->key_len - i : 8;

		memcpy(&w, p + i, n);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

static void *node_key(const lru_node_t *n)
{
	return (void *)n->data;
}

static void *node_val(const ofp_lru_t *m, const lru_node_t *n)
{
	return (unsigned char *)(void *)n->data + m->key_pad;
}

static lru_node_t *val_node(const ofp_lru_t *m, const void *val)
{
	return (lru_node_t *)(void *)((unsigned char *)val - m->key_pad - offsetof(lru_node_t, data));
}

ofp_lru_t *ofp_lru_new(size_t key_len, size_t val_len, uint32_t capacity, ofp_lru_release_fn release)
{
	ofp_lru_t *m;

	if (key_len == 0 || key_len > 64 || val_len == 0 || capacity == 0)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->key_len = key_len;
	m->key_pad = (key_len + 7) & ~(size_t)7;
	m->val_len = val_len;
	m->capacity = capacity;
	m->release = release;
	m->nbuckets = LRU_MIN_BUCKETS;
	m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
	if (m->buckets == NULL || RAND_bytes((unsigned char *)&m->seed, sizeof(m->seed)) != 1) {
		free(m->buckets);
		free(m);
		return NULL;
	}
	return m;
}

void ofp_lru_clear(ofp_lru_t *m)
{
	lru_node_t *n = m->oldest;

	while (n != NULL) {
		lru_node_t *next = n->newer;

		if (m->release != NULL)
			m->release(node_val(m, n));
		free(n);
		n = next;
	}
	memset(m->buckets, 0, m->nbuckets * sizeof(*m->buckets));
	m->oldest = m->newest = NULL;
	m->count = 0;
}

void ofp_lru_free(ofp_lru_t *m)
{
	if (m == NULL)
		return;
	ofp_lru_clear(m);
	free(m->buckets);
	free(m);
}

uint32_t ofp_lru_count(const ofp_lru_t *m)
{
	return m->count;
}

uint32_t ofp_lru_capacity(const ofp_lru_t *m)
{
	return m->capacity;
}

void *ofp_lru_find(const ofp_lru_t *m, const void *key)
{
	uint64_t h = lru_hash(m, key);

	for (lru_node_t *n = m->buckets[h & (m->nbuckets - 1)]; n != NULL; n = n->chain)
		if (n->hash == h && memcmp(node_key(n), key, m->key_len) == 0)
			return node_val(m, n);
	return NULL;
}

static void list_unlink(ofp_lru_t *m, lru_node_t *n)
{
	if (n->older != NULL)
		n->older->newer = n->newer;
	else
		m->oldest = n->newer;
	if (n->newer != NULL)
		n->newer->older = n->older;
	else
		m->newest = n->older;
	n->older = n->newer = NULL;
}

static void list_push_newest(ofp_lru_t *m, lru_node_t *n)
{
	n->older = m->newest;
	n->newer = NULL;
	if (m->newest != NULL)
		m->newest->newer = n;
	else
		m->oldest = n;
	m->newest = n;
}

void ofp_lru_touch(ofp_lru_t *m, void *val)
{
	lru_node_t *n = val_node(m, val);

	if (m->newest == n)
		return;
	list_unlink(m, n);
	list_push_newest(m, n);
}

static void bucket_unlink(ofp_lru_t *m, lru_node_t *n)
{
	lru_node_t **pp = &m->buckets[n->hash & (m->nbuckets - 1)];

	while (*pp != n)
		pp = &(*pp)->chain;
	*pp = n->chain;
}

void ofp_lru_remove(ofp_lru_t *m, void *val)
{
	lru_node_t *n = val_node(m, val);

	bucket_unlink(m, n);
	list_unlink(m, n);
	if (m->release != NULL)
		m->release(val);
	free(n);
	m->count--;
}

/* Keep chains short: double the table when it holds more entries than
 * buckets. A failed growth only costs speed. */
static void maybe_grow(ofp_lru_t *m)
{
	size_t nb = m->nbuckets * 2, most = (size_t)m->capacity * 2;
	lru_node_t **b;

	if (m->count < m->nbuckets || nb > (most > LRU_MIN_BUCKETS ? most : LRU_MIN_BUCKETS))
		return;
	b = calloc(nb, sizeof(*b));
	if (b == NULL)
		return;
	for (lru_node_t *n = m->oldest; n != NULL; n = n->newer) {
		n->chain = b[n->hash & (nb - 1)];
		b[n->hash & (nb - 1)] = n;
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = nb;
}

void *ofp_lru_insert(ofp_lru_t *m, const void *key)
{
	lru_node_t *n = calloc(1, sizeof(*n) + m->key_pad + m->val_len);
	size_t slot;

	if (n == NULL)
		return NULL;
	if (m->count >= m->capacity)
		ofp_lru_remove(m, node_val(m, m->oldest));
	memcpy(node_key(n), key, m->key_len);
	n->hash = lru_hash(m, key);
	slot = n->hash & (m->nbuckets - 1);
	n->chain = m->buckets[slot];
	m->buckets[slot] = n;
	list_push_newest(m, n);
	m->count++;
	maybe_grow(m);
	return node_val(m, n);
}

void *ofp_lru_oldest(const ofp_lru_t *m)
{
	return m->oldest == NULL ? NULL : node_val(m, m->oldest);
}

void *ofp_lru_newer(const ofp_lru_t *m, const void *val)
{
	lru_node_t *n = val_node(m, val)->newer;

	return n == NULL ? NULL : node_val(m, n);
}

const void *ofp_lru_key(const ofp_lru_t *m, const void *val)
{
	return node_key(val_node(m, val));
}
