/* cache.c - credentials whose issuer signature verified, by digest
 * (docs/FORMAT.md 5: SHA-256 of the whole credential, signature included),
 * so a warm check skips the issuer signature and the holder key parse.
 * The entry remembers the trust list version it was verified under: a new
 * list (a key removed) empties the cache in effect. The issuer key's
 * window, the credential's window and the deny list are checked on every
 * presentation, warm or cold. */
#include "config.h"
#include "verifier/verifier_internal.h"

typedef struct cache_val {
	uint64_t version;
	EVP_PKEY *holder_key;
} cache_val_t;

static void cache_release(void *p)
{
	cache_val_t *c = p;

	EVP_PKEY_free(c->holder_key);
	c->holder_key = NULL;
}

offpass_status_t ofp_cache_init(offpass_verifier_t *v)
{
	uint32_t cap = v->cfg.replay_capacity < OFP_V_CACHE_MAX ? v->cfg.replay_capacity : OFP_V_CACHE_MAX;

	v->cache.map = ofp_lru_new(OFP_HASH_LEN, sizeof(cache_val_t), cap, cache_release);
	if (v->cache.map == NULL)
		return ofp_v_fail(v, OFFPASS_STATUS_NO_MEMORY, "out of memory (credential cache)");
	return OFFPASS_STATUS_OK;
}

void ofp_cache_free(ofp_cache_t *c)
{
	ofp_lru_free(c->map);
	c->map = NULL;
}

EVP_PKEY *ofp_cache_get(ofp_cache_t *c, const uint8_t digest[OFP_HASH_LEN], uint64_t version)
{
	cache_val_t *val = ofp_lru_find(c->map, digest);

	if (val != NULL && val->version != version) {
		ofp_lru_remove(c->map, val);
		val = NULL;
	}
	if (val == NULL || EVP_PKEY_up_ref(val->holder_key) != 1) {
		c->misses++;
		return NULL;
	}
	ofp_lru_touch(c->map, val);
	c->hits++;
	return val->holder_key;
}

void ofp_cache_put(ofp_cache_t *c, const uint8_t digest[OFP_HASH_LEN], uint64_t version, EVP_PKEY *holder_key)
{
	cache_val_t *val = ofp_lru_find(c->map, digest);

	if (EVP_PKEY_up_ref(holder_key) != 1)
		return;
	if (val == NULL)
		val = ofp_lru_insert(c->map, digest);
	if (val == NULL) { /* out of memory: the next check is cold */
		EVP_PKEY_free(holder_key);
		return;
	}
	EVP_PKEY_free(val->holder_key);
	val->version = version;
	val->holder_key = holder_key;
	ofp_lru_touch(c->map, val);
}
