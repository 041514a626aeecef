/* verifier_internal.h - the pieces of liboffpass-verifier and how they
 * share one offpass_verifier_t. Internal: tests include it, integrators
 * never see it.
 *
 * Locking: v->lock guards every field below it that changes after open
 * (lists, cache, replay, journal). Signature checks run outside it on
 * EVP_PKEY references taken under it. v->admin_lock orders the rare
 * administrative calls (list installs, seals) so that they can do their
 * slow work (signature checks, encryption, fsync of large files) without
 * holding v->lock; it is always taken before v->lock. */
#ifndef OFFPASS_VERIFIER_INTERNAL_H
#define OFFPASS_VERIFIER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <openssl/evp.h>

#include "compiler.h"
#include "format/format.h"
#include "format/trust.h"
#include "verifier/lru.h"
#include "verifier/offpass-verifier.h"

#define OFP_V_DEFAULT_CAPACITY 65536u
#define OFP_V_MAX_CAPACITY (1u << 24)
#define OFP_V_CACHE_MAX 4096u
#define OFP_V_ERR_LEN 256
/* sizeof(offpass_verifier_config_t) in 1.0: it ended before deny_max_age. */
#define OFP_V_CONFIG_1_0_SIZE offsetof(offpass_verifier_config_t, deny_max_age)

/* Files in the state directory (docs/VERIFIER.md "What is stored where"). */
#define OFP_V_LOCK_FILE "lock"
#define OFP_V_KEY_FILE "gate-key.pem"
#define OFP_V_TRUST_FILE "trust.bin"
#define OFP_V_DENY_FILE "deny.bin"
#define OFP_V_JOURNAL_STATE_FILE "journal.state"
#define OFP_V_REPLAY_FILE "replay.state"
#define OFP_V_CLOCK_FILE "clock.state"
/* journal-<sequence as 16 hex digits>.bin */
#define OFP_V_SEGMENT_FMT "journal-%016llx.bin"

/* --- lists ----------------------------------------------------------- */

/* The installed trust list (format/trust.h: shared with the holder). */
typedef ofp_trust_set_t ofp_trust_state_t;

typedef struct ofp_deny_state {
	bool installed;
	uint8_t *buf; /* the signed list as installed; list borrows it */
	size_t len;
	ofp_deny_list_t list;
} ofp_deny_state_t;

/* --- replay set and grant totals (replay.c) --------------------------- */

/* A holder key's reference: SHA-256(alg || key as in the credential)
 * truncated to 128 bits (replay.c). */
#define OFP_V_KEY_REF_LEN 16

typedef struct ofp_replay {
	ofp_lru_t *holders; /* holder key ref -> window of counters */
	ofp_lru_t *totals;  /* serial (big-endian) -> amount operated */
	uint32_t horizon;   /* freshness + 2 * skew: see docs/VERIFIER.md */
	uint32_t skew;
	uint32_t hw;	    /* highest gate time journaled (durable) */
	/* A full map is swept whole only once its first live entry expires. */
	uint64_t holders_next_expiry, totals_next_expiry;
	/* Checks refused because a map was full of live entries. */
	uint64_t holders_full, totals_full;
} ofp_replay_t;

/* --- journal (journal.c) --------------------------------------------- */

typedef struct ofp_segment {
	uint64_t seq;  /* the batch sequence this segment becomes */
	uint32_t count;
	uint32_t time_min, time_max;
	uint8_t last_hash[OFP_HASH_LEN]; /* of its last record */
} ofp_segment_t;

typedef struct ofp_journal {
	int fd;	/* the current (last) segment, -1 until first append */
	off_t size;    /* of the current segment */
	bool broken;   /* an append failed and could not be undone */
	/* Persisted in journal.state: done <= sealed <= frozen; segments
	 * done+1 .. frozen are closed, frozen+1 takes appends. */
	uint64_t done, sealed, frozen;
	uint64_t created; /* the newest segment whose file was created */
	uint8_t done_hash[OFP_HASH_LEN]; /* chain link to segment done+1 */
	uint8_t last_hash[OFP_HASH_LEN]; /* hash of the newest record */
	ofp_segment_t *segs; /* done+1 .. frozen+1, in order; the last is current */
	size_t nsegs;
	uint64_t records; /* total records in the retained segments */
	uint32_t max_records; /* per segment: OFP_BATCH_MAX_RECORDS (tests lower it) */
	/* Where the replay snapshot ends: records of segment snap_seq from
	 * index snap_count on (and all later segments) are not in it. */
	uint64_t snap_seq;
	uint32_t snap_count;
} ofp_journal_t;

/* --- credential cache (cache.c) ---------------------------------------- */

typedef struct ofp_cache {
	ofp_lru_t *map; /* credential digest -> holder key */
	uint64_t hits, misses;
	uint64_t issuer_verifications; /* signatures checked (atomic: outside the lock) */
} ofp_cache_t;

/* --- the verifier ---------------------------------------------------- */

typedef struct ofp_err_slot ofp_err_slot_t;

struct offpass_verifier {
	offpass_verifier_config_t cfg; /* cfg.state_dir points at state_dir */
	char *state_dir;
	int lock_fd; /* flock: one process per state directory */
	bool opened; /* open succeeded: close may write the snapshot */

	pthread_key_t err_key; /* this thread's ofp_err_slot_t */
	pthread_mutex_t err_lock;
	ofp_err_slot_t *err_slots; /* every slot, freed at close */

	EVP_PKEY *gate_key; /* batch signing, P-256 */
	uint8_t gate_pub[OFP_P256_UNCOMPRESSED_LEN];
	uint8_t gate_kid[OFP_KEY_ID_LEN];

	pthread_mutex_t admin_lock;
	pthread_mutex_t lock;
	ofp_trust_state_t trust;
	ofp_deny_state_t deny;
	ofp_cache_t cache;
	ofp_replay_t replay;
	ofp_journal_t journal;
};

/* verifier.c: the calling thread's error text; always returns st. */
offpass_status_t ofp_v_fail(offpass_verifier_t *v, offpass_status_t st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ofp_v_clear_error(offpass_verifier_t *v);
/* "<state_dir>/<name>" into buf; false when too long. */
bool ofp_v_path(const offpass_verifier_t *v, char *buf, size_t cap, const char *name) OFP_WUR;
/* Valid at now within the configured skew: nb - skew <= now <= na + skew. */
bool ofp_v_within(const offpass_verifier_t *v, uint32_t not_before, uint32_t not_after, uint32_t now);

/* Under v->lock: the time the deny list's age counts from (its
 * issued_at, else the trust list's, else 0), and whether at now that age
 * is over deny_max_age (VERIFIER.md 3.5). */
uint32_t ofp_v_deny_since(const offpass_verifier_t *v);
bool ofp_v_deny_stale(const offpass_verifier_t *v, uint32_t since, uint32_t now);

/* gatekey.c: load the batch-signing key, creating it at first open. */
offpass_status_t ofp_gatekey_load(offpass_verifier_t *v) OFP_WUR;

/* lists.c */
offpass_status_t ofp_lists_load(offpass_verifier_t *v) OFP_WUR;
void ofp_lists_free(offpass_verifier_t *v);
/* Under v->lock: the trusted credential-signing key of kid valid at now
 * (a reference to free), and its entry; NULL when there is none. */
EVP_PKEY *ofp_trust_signing_key(offpass_verifier_t *v, const uint8_t kid[OFP_KEY_ID_LEN], uint32_t now,
				const ofp_trust_entry_t **entry);
/* Under v->lock: the sealing key to seal to at now (newest valid one). */
const ofp_trust_entry_t *ofp_trust_sealing_key(offpass_verifier_t *v, uint32_t now);
/* Under v->lock. */
bool ofp_deny_contains(offpass_verifier_t *v, const uint8_t holder_id[OFP_ID_LEN], uint64_t serial);

/* clock.c: the clock's high-water mark beyond the journal. load: at
 * open, after the journal (raises replay.hw to clock.state's time). note:
 * under admin_lock, REJECTED when now is more than clock_skew behind
 * replay.hw, else raises it to now, durably first. */
offpass_status_t ofp_clock_load(offpass_verifier_t *v) OFP_WUR;
offpass_status_t ofp_clock_note(offpass_verifier_t *v, uint32_t now) OFP_WUR;

/* replay.c */
offpass_status_t ofp_replay_init(offpass_verifier_t *v) OFP_WUR;
void ofp_replay_free(ofp_replay_t *r);
/* The reference of a holder key; false when OpenSSL fails. */
bool ofp_v_key_ref(unsigned alg, const uint8_t *key, size_t key_len, uint8_t ref[OFP_V_KEY_REF_LEN]) OFP_WUR;
/* true when (holder key, counter) was operated before, or is too far
 * below the newest counter of that key to tell. */
bool ofp_replay_seen(ofp_replay_t *r, const uint8_t key_ref[OFP_V_KEY_REF_LEN], uint32_t counter);
/* Amount operated so far under this serial (0 when unknown). */
uint64_t ofp_replay_total(ofp_replay_t *r, uint64_t serial);
/* Remembering an operation in two steps around the journal write, so
 * that nothing can fail after the record is on disk: prepare makes room
 * (dropping only expired entries; 1 when a map is full of live ones, -1
 * when out of memory, nothing changed either way), then commit or abort. */
typedef struct ofp_replay_slot {
	void *holder, *total;
	bool holder_new, total_new;
} ofp_replay_slot_t;
int ofp_replay_prepare(ofp_replay_t *r, const uint8_t key_ref[OFP_V_KEY_REF_LEN], uint64_t serial,
		       ofp_replay_slot_t *slot) OFP_WUR;
void ofp_replay_commit(ofp_replay_t *r, ofp_replay_slot_t *slot, uint32_t counter, uint32_t amount,
		       uint32_t not_after, uint32_t now);
void ofp_replay_abort(ofp_replay_t *r, ofp_replay_slot_t *slot);
/* A gate time that reached the journal: raises the high-water mark. */
void ofp_replay_note_time(ofp_replay_t *r, uint32_t now);
/* A record from the journal (at open): its time, and an operation's
 * effect. 0, 1 (a map full of live entries), -1 (out of memory). */
int ofp_replay_apply(ofp_replay_t *r, const ofp_journal_record_t *rec) OFP_WUR;
/* The snapshot file: load at open (sets journal.snap_*), save at the
 * current end of the journal. */
offpass_status_t ofp_replay_load(offpass_verifier_t *v) OFP_WUR;
offpass_status_t ofp_replay_save(offpass_verifier_t *v) OFP_WUR;

/* cache.c */
offpass_status_t ofp_cache_init(offpass_verifier_t *v) OFP_WUR;
void ofp_cache_free(ofp_cache_t *c);
/* Under v->lock: the holder key of a credential verified before under
 * trust list version `version` (a reference to free), or NULL. */
EVP_PKEY *ofp_cache_get(ofp_cache_t *c, const uint8_t digest[OFP_HASH_LEN], uint64_t version);
/* Under v->lock: remember a verified credential (takes a reference). */
void ofp_cache_put(ofp_cache_t *c, const uint8_t digest[OFP_HASH_LEN], uint64_t version, EVP_PKEY *holder_key);

/* journal.c */
/* journal.state: load it, or create it in a new directory (first of all
 * files); a directory with state but no journal.state is CORRUPT. */
offpass_status_t ofp_journal_load_state(offpass_verifier_t *v) OFP_WUR;
offpass_status_t ofp_journal_open(offpass_verifier_t *v) OFP_WUR;
void ofp_journal_close(ofp_journal_t *j);
/* Under v->lock: chain (sets r->prev_hash), write, fdatasync. */
offpass_status_t ofp_journal_append(offpass_verifier_t *v, ofp_journal_record_t *r) OFP_WUR;
/* Under v->lock: close the current segment for appends (it becomes
 * batch `frozen`); snapshot first so that trimming it later loses no
 * replay state. */
offpass_status_t ofp_journal_freeze(offpass_verifier_t *v) OFP_WUR;
/* The segment's bytes (records back to back); *buf to free. */
offpass_status_t ofp_journal_read_segment(offpass_verifier_t *v, uint64_t seq, uint8_t **buf, size_t *len) OFP_WUR;
const ofp_segment_t *ofp_journal_segment(const ofp_journal_t *j, uint64_t seq);
/* Under v->lock: persist journal.state. */
offpass_status_t ofp_journal_save_state(offpass_verifier_t *v) OFP_WUR;
/* Under v->lock: drop segments up to seq (confirmed at the issuer). */
offpass_status_t ofp_journal_trim(offpass_verifier_t *v, uint64_t seq) OFP_WUR;

/* For tests: counts of what the verifier holds in memory. */
typedef struct ofp_v_stats {
	uint32_t replay_holders, replay_capacity;
	uint32_t totals, totals_capacity;
	uint32_t cache_entries;
	uint64_t cache_hits, cache_misses;
	uint64_t issuer_verifications;
	uint64_t holders_full, totals_full;
	uint32_t clock_high_water;
	uint64_t journal_records; /* retained (not trimmed) */
	uint64_t sealed, done;
} ofp_v_stats_t;
void ofp_v_stats(offpass_verifier_t *v, ofp_v_stats_t *s);

#endif
