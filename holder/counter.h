/* counter.h - the authorization counter of a holder key, and the holder's
 * state directory that keeps it.
 *
 * An authorization carries a counter that must never repeat for one key:
 * a verifier refuses a (holder, counter) it has seen, and settlement
 * charges it once. So the counter lives in a file per key, and a value is
 * handed out only after the next one is durably on disk (atomic write,
 * fsync) under an exclusive flock: a crash can skip values, never repeat
 * one, and two `present` running at once get different values.
 *
 * A key's first counter is the time of its first use (at least 1), not 1:
 * should the state directory be lost, a fresh file starts above every value
 * already used unless the key signed more than once a second on average. */
#ifndef OFFPASS_HOLDER_COUNTER_H
#define OFFPASS_HOLDER_COUNTER_H

#include <stddef.h>
#include <stdint.h>
#include "compiler.h"
#include "p11client.h"

/* The state directory: dir when not NULL, else $XDG_DATA_HOME/offpass/holder,
 * else ~/.local/share/offpass/holder. 0, or -1 with err set. */
int ofp_holder_state_dir(const char *dir, char *out, size_t cap, char *err, size_t err_len) OFP_WUR;

/* The counter file of a holder key (its credential form, 33 or 32 bytes):
 * DIR/counter-<first 8 bytes of SHA-256(key), hex>. */
int ofp_counter_path(const char *dir, const uint8_t *key, size_t key_len, char *out, size_t cap,
		     char *err, size_t err_len) OFP_WUR;

/* Reserve the next counter of the key: last + 1, or max(now, 1) when the
 * key has no counter file yet; durable before it is returned. Creates dir
 * (0700) when missing. A corrupt file, or a counter at UINT32_MAX, is
 * refused and left as it is. 0, or -1 with err set. */
int ofp_counter_next(const char *dir, const uint8_t *key, size_t key_len, uint32_t now, uint32_t *value,
		     char *err, size_t err_len) OFP_WUR;

/* The last value handed out: 0 when found, 1 when the key has no counter
 * file (not an error), -1 on error (a corrupt file). */
int ofp_counter_last(const char *dir, const uint8_t *key, size_t key_len, uint32_t *value, char *err,
		     size_t err_len) OFP_WUR;

/* Where a key's counter is kept (ofp_counter_reserve). */
typedef enum {
	OFP_COUNTER_ON_TOKEN, /* a data object beside the key: one sequence per key */
	OFP_COUNTER_DERIVED,  /* this place's class of values (no data objects) */
} ofp_counter_kind_t;

/* Reserve the next counter of the token key, never handed out before for
 * this key by any state directory, process or machine that shares the
 * token (docs/TOKEN.md, "The holder's counter"):
 *
 * - On a token that keeps data objects (offpass-p11, SoftHSM2): private
 *   CKO_DATA objects labelled "offpass counter id <CKA_ID hex>" whose
 *   value is "ofc1" || SHA-256(key form)[0..8] || counter (u32 BE). A
 *   value is claimed by creating its object, then listing the key's
 *   objects: the claim holds when no other object has a value >= it, else
 *   the object is destroyed and the loop tries again (compare-and-set;
 *   PKCS#11 has no transaction). A held claim destroys the lower objects.
 *   Two claims of one value cannot both hold: the later-created object's
 *   list sees the earlier one, which is destroyed only by its owner after
 *   losing or by a higher held claim, whose object is then seen instead.
 *   The object exists before the value is returned, so before any
 *   signature; the state file is a lower bound (max(token, file) + 1).
 *   The argument needs a created object to be listed whole by every later
 *   search; SoftHSM2 writes the file before the attributes, so the claim
 *   also holds a machine-wide flock per token and key (one machine's
 *   processes claim one at a time; the loop guards between machines).
 * - On a token that refuses such objects (a PIV card through OpenSC, whose
 *   data objects need the management key): each state directory ("place")
 *   draws a class r < 64 once (DIR/place) and hands out only values
 *   = r (mod 64), increasing, never below the time: two places of
 *   different classes never collide; two of one class (probability 1/64
 *   per pair) can. The state file under flock keeps one place monotonic.
 *
 * The state file DIR/counter-<...> is written (durably) with the value
 * before it is returned, under the same flock as ofp_counter_next. */
int ofp_counter_reserve(ofp_p11_t *p, const ofp_p11_key_t *key, const char *dir, uint32_t now, uint32_t *value,
			ofp_counter_kind_t *kind, char *err, size_t err_len) OFP_WUR;

#endif
