/* credcache.c - the settlement's cache of verified credentials (see
 * issuer/internal.h): direct-mapped slots under one mutex; a slot being
 * verified is PENDING, and a thread asking for the same credential waits
 * on the condition variable until it is filled or released. */
#include "config.h"
#include "issuer/internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef enum { SLOT_EMPTY, SLOT_PENDING, SLOT_FULL } slot_state_t;

typedef struct slot {
	slot_state_t state;
	uint8_t digest[OFP_HASH_LEN];
	uint8_t pub[OFP_TRUST_KEY_MAX]; /* the issuer key that verified it */
	size_t pub_len;
	EVP_PKEY *holder; /* FULL only */
} slot_t;

struct iss_cred_cache {
	pthread_mutex_t lock;
	pthread_cond_t changed; /* a PENDING slot was filled or released */
	slot_t *slots;
	size_t n_slots, entries;
	uint64_t hits, verifies;
};

iss_cred_cache_t *iss_cred_cache_new(size_t slots)
{
	iss_cred_cache_t *c = calloc(1, sizeof(*c));

	if (c == NULL || slots == 0)
		goto fail;
	c->slots = calloc(slots, sizeof(*c->slots));
	if (c->slots == NULL)
		goto fail;
	if (pthread_mutex_init(&c->lock, NULL) != 0)
		goto fail;
	if (pthread_cond_init(&c->changed, NULL) != 0) {
		pthread_mutex_destroy(&c->lock);
		goto fail;
	}
	c->n_slots = slots;
	return c;
fail:
	if (c != NULL)
		free(c->slots);
	free(c);
	return NULL;
}

void iss_cred_cache_free(iss_cred_cache_t *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n_slots; i++)
		EVP_PKEY_free(c->slots[i].holder);
	pthread_cond_destroy(&c->changed);
	pthread_mutex_destroy(&c->lock);
	free(c->slots);
	free(c);
}

static slot_t *slot_of(iss_cred_cache_t *c, const uint8_t digest[OFP_HASH_LEN])
{
	uint64_t h;

	memcpy(&h, digest, sizeof(h)); /* a SHA-256: any 8 bytes are uniform */
	return &c->slots[h % c->n_slots];
}

static void slot_clear(iss_cred_cache_t *c, slot_t *s)
{
	if (s->state == SLOT_FULL)
		c->entries--;
	EVP_PKEY_free(s->holder);
	s->holder = NULL;
	s->state = SLOT_EMPTY;
}

EVP_PKEY *iss_cred_cache_get(iss_cred_cache_t *c, const uint8_t digest[OFP_HASH_LEN], const uint8_t *pub,
			     size_t pub_len, bool *reserved)
{
	slot_t *s = slot_of(c, digest);
	EVP_PKEY *hk = NULL;

	*reserved = false;
	pthread_mutex_lock(&c->lock);
	while (s->state == SLOT_PENDING && memcmp(s->digest, digest, OFP_HASH_LEN) == 0)
		pthread_cond_wait(&c->changed, &c->lock);
	if (s->state == SLOT_PENDING)
		goto out; /* another credential's verify: not ours to wait for */
	if (s->state == SLOT_FULL && memcmp(s->digest, digest, OFP_HASH_LEN) == 0 && s->pub_len == pub_len &&
	    memcmp(s->pub, pub, pub_len) == 0 && EVP_PKEY_up_ref(s->holder) == 1) {
		hk = s->holder;
		c->hits++;
		goto out;
	}
	/* Empty, another credential (evicted), or verified by a key the
	 * ledger no longer has under that id (dropped): verify it again. */
	slot_clear(c, s);
	s->state = SLOT_PENDING;
	memcpy(s->digest, digest, OFP_HASH_LEN);
	c->verifies++;
	*reserved = true;
out:
	pthread_mutex_unlock(&c->lock);
	return hk;
}

void iss_cred_cache_fill(iss_cred_cache_t *c, const uint8_t digest[OFP_HASH_LEN], const uint8_t *pub, size_t pub_len,
			 EVP_PKEY *holder)
{
	slot_t *s = slot_of(c, digest);

	pthread_mutex_lock(&c->lock);
	if (s->state == SLOT_PENDING && memcmp(s->digest, digest, OFP_HASH_LEN) == 0) {
		s->state = SLOT_EMPTY;
		if (pub_len <= sizeof(s->pub) && EVP_PKEY_up_ref(holder) == 1) {
			memcpy(s->pub, pub, pub_len);
			s->pub_len = pub_len;
			s->holder = holder;
			s->state = SLOT_FULL;
			c->entries++;
		}
		pthread_cond_broadcast(&c->changed);
	}
	pthread_mutex_unlock(&c->lock);
}

void iss_cred_cache_release(iss_cred_cache_t *c, const uint8_t digest[OFP_HASH_LEN])
{
	slot_t *s = slot_of(c, digest);

	pthread_mutex_lock(&c->lock);
	if (s->state == SLOT_PENDING && memcmp(s->digest, digest, OFP_HASH_LEN) == 0) {
		s->state = SLOT_EMPTY;
		pthread_cond_broadcast(&c->changed);
	}
	pthread_mutex_unlock(&c->lock);
}

void iss_cred_cache_stats(iss_cred_cache_t *c, iss_cred_cache_stats_t *out)
{
	memset(out, 0, sizeof(*out));
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	out->hits = c->hits;
	out->verifies = c->verifies;
	out->entries = c->entries;
	out->slots = c->n_slots;
	pthread_mutex_unlock(&c->lock);
}
