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

#endif
