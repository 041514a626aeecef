/* settle_charged.c - the charges a batch has made so far, found by
 * authorization hash and by holder key and counter. The apply phase looks
 * up every record's earlier charges in one go before it charges the first
 * (ofp_ledger_charge_lookup_many: one round trip on PostgreSQL, not one
 * per record), so those look-ups cannot see the batch's own charges: a
 * copy, or a counter reuse, within one batch is found here. Open
 * addressing over record indexes, each candidate compared in full: the
 * hash only says where to start (a gate's records are the holders' to
 * choose, and a chosen collision must cost time, never a missed copy),
 * and it is keyed with a random value per batch, so that nobody can
 * choose records that all start at one place. */
#include "config.h"
#include "issuer/settle_int.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

static uint64_t auth_hash64(const settle_charged_t *c, const uint8_t auth[OFP_HASH_LEN])
{
	uint64_t k;

	memcpy(&k, auth, sizeof(k));
	return settle_mix64(k ^ c->seed);
}

/* FNV-1a over the key, then the counter, from the seed. */
static uint64_t counter_hash64(const settle_charged_t *c, const uint8_t *key, size_t len, uint32_t counter)
{
	uint64_t h = 0xcbf29ce484222325ull ^ c->seed;

	for (size_t i = 0; i < len; i++)
		h = (h ^ key[i]) * 0x100000001b3ull;
	return settle_mix64(h ^ counter);
}

static bool same_auth(const ofp_charge_t *c, const uint8_t auth[OFP_HASH_LEN])
{
	return memcmp(c->auth_hash, auth, OFP_HASH_LEN) == 0;
}

static bool same_counter(const ofp_charge_t *c, const uint8_t *key, size_t len, uint32_t counter)
{
	return c->counter == counter && c->holder_key_len == len && memcmp(c->holder_key, key, len) == 0;
}

bool settle_charged_init(settle_charged_t *c, const settle_rec_t *recs, size_t n)
{
	memset(c, 0, sizeof(*c));
	c->recs = recs;
	c->cap = settle_table_cap(n);
	if (RAND_bytes((unsigned char *)&c->seed, sizeof(c->seed)) != 1)
		return false;
	c->by_auth = calloc(c->cap, sizeof(*c->by_auth));
	c->by_counter = calloc(c->cap, sizeof(*c->by_counter));
	return c->by_auth != NULL && c->by_counter != NULL;
}

void settle_charged_free(settle_charged_t *c)
{
	free(c->by_auth);
	free(c->by_counter);
	memset(c, 0, sizeof(*c));
}

int64_t settle_charged_auth(const settle_charged_t *c, const uint8_t auth[OFP_HASH_LEN])
{
	for (size_t i = auth_hash64(c, auth) & (c->cap - 1); c->by_auth[i] != 0; i = (i + 1) & (c->cap - 1))
		if (same_auth(&c->recs[c->by_auth[i] - 1].charge, auth))
			return (int64_t)c->by_auth[i] - 1;
	return -1;
}

int64_t settle_charged_counter(const settle_charged_t *c, const uint8_t *key, size_t len, uint32_t counter)
{
	for (size_t i = counter_hash64(c, key, len, counter) & (c->cap - 1); c->by_counter[i] != 0;
	     i = (i + 1) & (c->cap - 1))
		if (same_counter(&c->recs[c->by_counter[i] - 1].charge, key, len, counter))
			return (int64_t)c->by_counter[i] - 1;
	return -1;
}

void settle_charged_add(settle_charged_t *c, uint32_t idx)
{
	const ofp_charge_t *ch = &c->recs[idx].charge;
	size_t i;

	/* One charge per auth hash (a second is a copy, never charged); the
	 * first of a key and counter stays the one found. */
	if (settle_charged_auth(c, ch->auth_hash) < 0) {
		for (i = auth_hash64(c, ch->auth_hash) & (c->cap - 1); c->by_auth[i] != 0; i = (i + 1) & (c->cap - 1))
			;
		c->by_auth[i] = idx + 1;
	}
	if (settle_charged_counter(c, ch->holder_key, ch->holder_key_len, ch->counter) < 0) {
		for (i = counter_hash64(c, ch->holder_key, ch->holder_key_len, ch->counter) & (c->cap - 1);
		     c->by_counter[i] != 0; i = (i + 1) & (c->cap - 1))
			;
		c->by_counter[i] = idx + 1;
	}
}
