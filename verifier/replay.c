/* replay.c - the (holder key, counter) pairs operated, and the amount
 * operated under each credential, in bounded memory.
 *
 * Keyed by the holder KEY, not the holder id: counters are per key (a
 * holder with two devices has two keys, each counting on its own, and a
 * new key may start anywhere). The key is SHA-256(alg || holder key as in
 * the credential)[0..16): 128 bits, so that no one can make a key whose
 * entry collides with another holder's.
 *
 * Per key: the highest counter operated and a 64-bit window below it
 * (bit i: counter max - i was operated), as IPsec and DTLS keep their
 * anti-replay windows. A counter more than 63 below the highest is refused
 * as a replay: it cannot be told apart from one.
 *
 * The clock: hw is the highest gate time journaled (durable: it is in the
 * journal and in the snapshot). Checks at a time more than the skew
 * behind it are refused (verify.c), so the earliest clock a check can
 * still run at is floor = hw - skew; entries are dropped only when no
 * check at floor or later could accept what they remember. A one-way
 * authorization operated at gate time t had auth.time <= t + skew and is
 * stale at any gate time past t + freshness + 2 * skew (the horizon); a
 * credential's total may go once the credential has expired at floor
 * (not_after + skew < floor). A map full of live entries is never made
 * smaller by forgetting one: prepare says "full" and the check is refused
 * (docs/VERIFIER.md 3.2: sizing).
 *
 * Durability: the journal is the log; replay.state is a snapshot of these
 * maps and of hw at a known journal position, written atomically when a
 * segment is frozen for sealing and at close. Open loads the snapshot and
 * replays the records after its position. */
#include "config.h"
#include "verifier/verifier_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"

typedef struct holder_val {
	uint32_t max;	   /* highest counter operated */
	uint32_t last_seen; /* gate time of the newest operation */
	uint64_t window;   /* bit i: max - i operated */
	bool used;	   /* false between prepare and commit */
} holder_val_t;

typedef struct total_val {
	uint64_t total;
	uint32_t not_after; /* of the credential */
	uint32_t last_seen;
} total_val_t;

#define SNAP_MAGIC "OFPRPL02"
#define SNAP_MAGIC_V1 "OFPRPL01"
#define SNAP_HEAD (8 + 8 + 4 + 4 + 4 + 4)
#define SNAP_HOLDER (OFP_V_KEY_REF_LEN + 16)
#define SNAP_TOTAL 24
#define SNAP_MAX ((size_t)SNAP_HEAD + (size_t)OFP_V_MAX_CAPACITY * (SNAP_HOLDER + SNAP_TOTAL) + OFP_HASH_LEN)

static void serial_key(uint8_t key[8], uint64_t serial)
{
	for (int i = 7; i >= 0; i--, serial >>= 8)
		key[i] = (uint8_t)serial;
}

offpass_status_t ofp_replay_init(offpass_verifier_t *v)
{
	ofp_replay_t *r = &v->replay;
	uint64_t horizon = (uint64_t)v->cfg.freshness + 2 * (uint64_t)v->cfg.clock_skew;

	r->horizon = horizon > UINT32_MAX ? UINT32_MAX : (uint32_t)horizon;
	r->skew = v->cfg.clock_skew;
	r->holders = ofp_lru_new(OFP_V_KEY_REF_LEN, sizeof(holder_val_t), v->cfg.replay_capacity, NULL);
	r->totals = ofp_lru_new(8, sizeof(total_val_t), v->cfg.replay_capacity, NULL);
	if (r->holders == NULL || r->totals == NULL)
		return ofp_v_fail(v, OFFPASS_STATUS_NO_MEMORY, "out of memory (replay state)");
	return OFFPASS_STATUS_OK;
}

void ofp_replay_free(ofp_replay_t *r)
{
	ofp_lru_free(r->holders);
	ofp_lru_free(r->totals);
	r->holders = r->totals = NULL;
}

bool ofp_v_key_ref(unsigned alg, const uint8_t *key, size_t key_len, uint8_t ref[OFP_V_KEY_REF_LEN])
{
	uint8_t buf[1 + OFP_HOLDER_KEY_MAX], sum[OFP_HASH_LEN];

	if (key_len > OFP_HOLDER_KEY_MAX)
		return false;
	buf[0] = (uint8_t)alg;
	memcpy(buf + 1, key, key_len);
	if (!ofp_sha256(buf, key_len + 1, sum))
		return false;
	memcpy(ref, sum, OFP_V_KEY_REF_LEN);
	return true;
}

bool ofp_replay_seen(ofp_replay_t *r, const uint8_t key_ref[OFP_V_KEY_REF_LEN], uint32_t counter)
{
	const holder_val_t *h = ofp_lru_find(r->holders, key_ref);
	uint32_t d;

	if (h == NULL || !h->used || counter > h->max)
		return false;
	d = h->max - counter;
	return d >= 64 || ((h->window >> d) & 1) != 0;
}

uint64_t ofp_replay_total(ofp_replay_t *r, uint64_t serial)
{
	uint8_t key[8];
	const total_val_t *t;

	serial_key(key, serial);
	t = ofp_lru_find(r->totals, key);
	return t == NULL ? 0 : t->total;
}

/* The earliest gate time a check can still run at (verify.c refuses
 * one further behind hw). */
static uint64_t clock_floor(const ofp_replay_t *r)
{
	return r->hw > r->skew ? (uint64_t)r->hw - r->skew : 0;
}

static uint64_t holder_expiry(const ofp_replay_t *r, const holder_val_t *h)
{
	return (uint64_t)h->last_seen + r->horizon;
}

static uint64_t total_expiry(const ofp_replay_t *r, const total_val_t *t)
{
	return (uint64_t)t->not_after + r->skew;
}

/* Drop every expired entry of a full map (a walk over all of it), and
 * remember when the first live one expires, so that a map that stays
 * full is walked again only when that time has come. */
static void sweep_holders(ofp_replay_t *r)
{
	uint64_t floor = clock_floor(r), next = UINT64_MAX;
	holder_val_t *h = ofp_lru_oldest(r->holders), *newer;

	if (floor <= r->holders_next_expiry)
		return;
	for (; h != NULL; h = newer) {
		newer = ofp_lru_newer(r->holders, h);
		if (!h->used)
			continue;
		if (holder_expiry(r, h) < floor)
			ofp_lru_remove(r->holders, h);
		else if (holder_expiry(r, h) < next)
			next = holder_expiry(r, h);
	}
	r->holders_next_expiry = next;
}

static void sweep_totals(ofp_replay_t *r)
{
	uint64_t floor = clock_floor(r), next = UINT64_MAX;
	total_val_t *t = ofp_lru_oldest(r->totals), *newer;

	if (floor <= r->totals_next_expiry)
		return;
	for (; t != NULL; t = newer) {
		newer = ofp_lru_newer(r->totals, t);
		if (t->last_seen == 0)
			continue;
		if (total_expiry(r, t) < floor)
			ofp_lru_remove(r->totals, t);
		else if (total_expiry(r, t) < next)
			next = total_expiry(r, t);
	}
	r->totals_next_expiry = next;
}

/* Expired entries at the old end go first (cheap, most of the time);
 * a map still full is swept whole. true when there is room. */
static bool room_for_holder(ofp_replay_t *r)
{
	holder_val_t *h;

	while ((h = ofp_lru_oldest(r->holders)) != NULL && h->used && holder_expiry(r, h) < clock_floor(r))
		ofp_lru_remove(r->holders, h);
	if (ofp_lru_count(r->holders) >= ofp_lru_capacity(r->holders))
		sweep_holders(r);
	return ofp_lru_count(r->holders) < ofp_lru_capacity(r->holders);
}

static bool room_for_total(ofp_replay_t *r)
{
	total_val_t *t;

	while ((t = ofp_lru_oldest(r->totals)) != NULL && t->last_seen != 0 && total_expiry(r, t) < clock_floor(r))
		ofp_lru_remove(r->totals, t);
	if (ofp_lru_count(r->totals) >= ofp_lru_capacity(r->totals))
		sweep_totals(r);
	return ofp_lru_count(r->totals) < ofp_lru_capacity(r->totals);
}

int ofp_replay_prepare(ofp_replay_t *r, const uint8_t key_ref[OFP_V_KEY_REF_LEN], uint64_t serial,
		       ofp_replay_slot_t *slot)
{
	uint8_t key[8];

	memset(slot, 0, sizeof(*slot));
	serial_key(key, serial);
	slot->holder = ofp_lru_find(r->holders, key_ref);
	if (slot->holder == NULL) {
		if (!room_for_holder(r)) {
			r->holders_full++;
			return 1;
		}
		slot->holder = ofp_lru_insert(r->holders, key_ref);
		slot->holder_new = true;
	}
	if (slot->holder == NULL)
		return -1;
	slot->total = ofp_lru_find(r->totals, key);
	if (slot->total == NULL) {
		if (!room_for_total(r)) {
			r->totals_full++;
			ofp_replay_abort(r, slot);
			return 1;
		}
		slot->total = ofp_lru_insert(r->totals, key);
		slot->total_new = true;
	}
	if (slot->total == NULL) {
		ofp_replay_abort(r, slot);
		return -1;
	}
	return 0;
}

void ofp_replay_note_time(ofp_replay_t *r, uint32_t now)
{
	if (now > r->hw)
		r->hw = now;
}

void ofp_replay_abort(ofp_replay_t *r, ofp_replay_slot_t *slot)
{
	if (slot->holder != NULL && slot->holder_new)
		ofp_lru_remove(r->holders, slot->holder);
	if (slot->total != NULL && slot->total_new)
		ofp_lru_remove(r->totals, slot->total);
	memset(slot, 0, sizeof(*slot));
}

static void window_add(holder_val_t *h, uint32_t counter)
{
	uint32_t shift;

	if (!h->used) {
		h->max = counter;
		h->window = 1;
		h->used = true;
		return;
	}
	if (counter > h->max) {
		shift = counter - h->max;
		h->window = shift >= 64 ? 1 : (h->window << shift) | 1;
		h->max = counter;
		return;
	}
	if (h->max - counter < 64)
		h->window |= (uint64_t)1 << (h->max - counter);
}

void ofp_replay_commit(ofp_replay_t *r, ofp_replay_slot_t *slot, uint32_t counter, uint32_t amount,
		       uint32_t not_after, uint32_t now)
{
	holder_val_t *h = slot->holder;
	total_val_t *t = slot->total;

	window_add(h, counter);
	if (now > h->last_seen)
		h->last_seen = now;
	ofp_lru_touch(r->holders, h);
	t->total += amount;
	t->not_after = not_after;
	/* 0 marks "not committed" for prune_totals; time 0 is 1970. */
	t->last_seen = now == 0 ? 1 : now;
	ofp_lru_touch(r->totals, t);
	memset(slot, 0, sizeof(*slot));
}

int ofp_replay_apply(ofp_replay_t *r, const ofp_journal_record_t *rec)
{
	ofp_presentation_t p;
	ofp_replay_slot_t slot;
	uint8_t ref[OFP_V_KEY_REF_LEN];
	int rc;

	ofp_replay_note_time(r, rec->time);
	if (rec->decision != OFP_DECISION_OPERATE)
		return 0;
	/* The record decoded, so its presentation does (FORMAT.md 8.1). */
	if (ofp_presentation_decode(rec->presentation, rec->presentation_len, &p, NULL) != OFP_FMT_OK ||
	    !ofp_v_key_ref(p.cred.holder_alg, p.cred.holder_key, ofp_holder_key_len(p.cred.holder_alg), ref))
		return -1;
	rc = ofp_replay_prepare(r, ref, p.cred.serial, &slot);
	if (rc != 0)
		return rc;
	ofp_replay_commit(r, &slot, p.auth.counter, p.auth.amount, p.cred.not_after, rec->time);
	return 0;
}

/* --- snapshot --------------------------------------------------------- */

static uint8_t *put_u32(uint8_t *p, uint32_t x)
{
	for (int i = 3; i >= 0; i--, x >>= 8)
		p[i] = (uint8_t)x;
	return p + 4;
}

static uint8_t *put_u64(uint8_t *p, uint64_t x)
{
	for (int i = 7; i >= 0; i--, x >>= 8)
		p[i] = (uint8_t)x;
	return p + 8;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

/* Entries oldest first, so that loading rebuilds the same LRU order. */
static uint8_t *put_holders(uint8_t *p, const ofp_lru_t *m)
{
	for (const holder_val_t *h = ofp_lru_oldest(m); h != NULL; h = ofp_lru_newer(m, h)) {
		memcpy(p, ofp_lru_key(m, h), OFP_V_KEY_REF_LEN);
		p = put_u32(p + OFP_V_KEY_REF_LEN, h->max);
		p = put_u32(p, h->last_seen);
		p = put_u64(p, h->window);
	}
	return p;
}

static uint8_t *put_totals(uint8_t *p, const ofp_lru_t *m)
{
	for (const total_val_t *t = ofp_lru_oldest(m); t != NULL; t = ofp_lru_newer(m, t)) {
		memcpy(p, ofp_lru_key(m, t), 8);
		p = put_u64(p + 8, t->total);
		p = put_u32(p, t->not_after);
		p = put_u32(p, t->last_seen);
	}
	return p;
}

offpass_status_t ofp_replay_save(offpass_verifier_t *v)
{
	const ofp_segment_t *cur = &v->journal.segs[v->journal.nsegs - 1];
	uint32_t nh = ofp_lru_count(v->replay.holders), nt = ofp_lru_count(v->replay.totals);
	size_t len = SNAP_HEAD + (size_t)nh * SNAP_HOLDER + (size_t)nt * SNAP_TOTAL + OFP_HASH_LEN;
	uint8_t *buf = malloc(len), *p;
	char path[4096];
	offpass_status_t st = OFFPASS_STATUS_OK;
	int rc;

	if (buf == NULL)
		return ofp_v_fail(v, OFFPASS_STATUS_NO_MEMORY, "out of memory (replay snapshot)");
	memcpy(buf, SNAP_MAGIC, 8);
	p = put_u64(buf + 8, cur->seq);
	p = put_u32(p, cur->count);
	p = put_u32(p, nh);
	p = put_u32(p, nt);
	p = put_u32(p, v->replay.hw);
	p = put_totals(put_holders(p, v->replay.holders), v->replay.totals);
	if (!ofp_sha256(buf, (size_t)(p - buf), p))
		st = ofp_v_fail(v, OFFPASS_STATUS_INTERNAL, "SHA-256 failed (OpenSSL)");
	else if (!ofp_v_path(v, path, sizeof(path), OFP_V_REPLAY_FILE))
		st = ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT, "%s: path too long", v->state_dir);
	else if ((rc = atomic_file_write(path, buf, len, 0600)) != 0)
		st = ofp_v_fail(v, OFFPASS_STATUS_IO, "%s: %s", path, strerror(-rc));
	free(buf);
	if (st == OFFPASS_STATUS_OK) {
		v->journal.snap_seq = cur->seq;
		v->journal.snap_count = cur->count;
	}
	return st;
}

static bool load_entries(ofp_replay_t *r, const uint8_t *p, uint32_t nh, uint32_t nt)
{
	for (uint32_t i = 0; i < nh; i++, p += SNAP_HOLDER) {
		holder_val_t *h = ofp_lru_insert(r->holders, p);

		if (h == NULL)
			return false;
		h->max = get_u32(p + OFP_V_KEY_REF_LEN);
		h->last_seen = get_u32(p + OFP_V_KEY_REF_LEN + 4);
		h->window = get_u64(p + OFP_V_KEY_REF_LEN + 8);
		h->used = true;
	}
	for (uint32_t i = 0; i < nt; i++, p += SNAP_TOTAL) {
		total_val_t *t = ofp_lru_insert(r->totals, p);

		if (t == NULL)
			return false;
		t->total = get_u64(p + 8);
		t->not_after = get_u32(p + 16);
		t->last_seen = get_u32(p + 20);
	}
	return true;
}

static offpass_status_t parse_snapshot(offpass_verifier_t *v, const char *path, const uint8_t *buf, size_t len)
{
	uint8_t sum[OFP_HASH_LEN];
	uint32_t nh, nt;

	if (len >= 8 && memcmp(buf, SNAP_MAGIC_V1, 8) == 0)
		return ofp_v_fail(v, OFFPASS_STATUS_CORRUPT,
				  "%s: a snapshot of an older release (replay keyed by holder id): "
				  "this release keys it by holder key and cannot convert it", path);
	if (len < SNAP_HEAD + OFP_HASH_LEN || memcmp(buf, SNAP_MAGIC, 8) != 0)
		return ofp_v_fail(v, OFFPASS_STATUS_CORRUPT, "%s: not a replay snapshot", path);
	nh = get_u32(buf + 20);
	nt = get_u32(buf + 24);
	if (len != SNAP_HEAD + (size_t)nh * SNAP_HOLDER + (size_t)nt * SNAP_TOTAL + OFP_HASH_LEN)
		return ofp_v_fail(v, OFFPASS_STATUS_CORRUPT, "%s: length does not match its entry counts", path);
	if (!ofp_sha256(buf, len - OFP_HASH_LEN, sum))
		return ofp_v_fail(v, OFFPASS_STATUS_INTERNAL, "SHA-256 failed (OpenSSL)");
	if (memcmp(sum, buf + len - OFP_HASH_LEN, OFP_HASH_LEN) != 0)
		return ofp_v_fail(v, OFFPASS_STATUS_CORRUPT, "%s: checksum mismatch", path);
	if (nh > ofp_lru_capacity(v->replay.holders) || nt > ofp_lru_capacity(v->replay.totals))
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT,
				  "%s: %u holder keys and %u totals, more than replay_capacity %u: "
				  "open with a capacity at least as large", path, nh, nt,
				  ofp_lru_capacity(v->replay.holders));
	v->journal.snap_seq = get_u64(buf + 8);
	v->journal.snap_count = get_u32(buf + 16);
	v->replay.hw = get_u32(buf + 28);
	if (!load_entries(&v->replay, buf + SNAP_HEAD, nh, nt))
		return ofp_v_fail(v, OFFPASS_STATUS_NO_MEMORY, "out of memory (replay state)");
	return OFFPASS_STATUS_OK;
}

offpass_status_t ofp_replay_load(offpass_verifier_t *v)
{
	char path[4096];
	unsigned char *buf = NULL;
	size_t len = 0;
	offpass_status_t st;
	int rc;

	v->journal.snap_seq = 0; /* no snapshot: the journal holds it all */
	v->journal.snap_count = 0;
	if (!ofp_v_path(v, path, sizeof(path), OFP_V_REPLAY_FILE))
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT, "%s: path too long", v->state_dir);
	rc = file_read_all(path, SNAP_MAX, &buf, &len);
	if (rc == -ENOENT)
		return OFFPASS_STATUS_OK;
	if (rc != 0)
		return ofp_v_fail(v, rc == -EFBIG ? OFFPASS_STATUS_CORRUPT : OFFPASS_STATUS_IO, "%s: %s", path,
				  rc == -EFBIG ? "too large" : strerror(-rc));
	st = parse_snapshot(v, path, buf, len);
	free(buf);
	return st;
}
