/* lru.h - a bounded map of fixed-size keys to fixed-size values, in
 * least-recently-used order: the replay set, the grant totals and the
 * credential cache are each one of these. Never more than `capacity`
 * entries: inserting into a full map drops the least recent entry first.
 * Not thread-safe (the verifier's mutex covers it). Internal. */
#ifndef OFFPASS_VERIFIER_LRU_H
#define OFFPASS_VERIFIER_LRU_H

#include <stddef.h>
#include <stdint.h>
#include "compiler.h"

typedef struct ofp_lru ofp_lru_t;

/* Called on a value when its entry is dropped or the map is freed. */
typedef void (*ofp_lru_release_fn)(void *val);

/* key_len 1..64, val_len >= 1, capacity >= 1; release may be NULL. */
ofp_lru_t *ofp_lru_new(size_t key_len, size_t val_len, uint32_t capacity, ofp_lru_release_fn release) OFP_WUR;
void ofp_lru_free(ofp_lru_t *m);

uint32_t ofp_lru_count(const ofp_lru_t *m);
uint32_t ofp_lru_capacity(const ofp_lru_t *m);

/* The value for key, or NULL. The order is not changed. */
void *ofp_lru_find(const ofp_lru_t *m, const void *key);
/* Make an entry the most recent. */
void ofp_lru_touch(ofp_lru_t *m, void *val);
/* Add an absent key as the most recent entry with a zeroed value; a full
 * map first drops its least recent entry. NULL only when out of memory.
 * Value pointers stay valid until their entry is dropped. */
void *ofp_lru_insert(ofp_lru_t *m, const void *key) OFP_WUR;
void ofp_lru_remove(ofp_lru_t *m, void *val);
void ofp_lru_clear(ofp_lru_t *m);

/* Walk from the least recent entry to the most recent: oldest first, then
 * newer(val) until NULL. */
void *ofp_lru_oldest(const ofp_lru_t *m);
void *ofp_lru_newer(const ofp_lru_t *m, const void *val);
const void *ofp_lru_key(const ofp_lru_t *m, const void *val);

#endif
