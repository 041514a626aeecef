/* settle_int.h - what the two halves of settlement share: settle.c opens
 * the envelope and applies the records to the ledger in one transaction;
 * settle_verify.c re-checks every record before, outside the transaction,
 * on several threads (docs/ISSUER.md, "Settlement pipeline"). */
#ifndef OFFPASS_ISSUER_SETTLE_INT_H
#define OFFPASS_ISSUER_SETTLE_INT_H

#include "issuer/internal.h"

/* One record as the apply phase reads it: the verify phase's verdict. */
typedef struct settle_rec {
	uint8_t decision;
	/* The journal's copy, for the notes: what the gate said. */
	uint32_t time, counter, amount;
	uint8_t holder_id[OFP_ID_LEN];
	/* Operate records: NULL when every re-check that needs no ledger
	 * passed (signatures, the record against the presentation,
	 * validity, freshness, per-operation maximum), else why not. */
	const char *why;
	/* When why is NULL: the credential's offline total (the at-gate
	 * re-check is the ledger's) and the charge, but for verifier_id and
	 * sequence, which are the batch's. */
	uint64_t offline_total;
	ofp_charge_t charge;
} settle_rec_t;

/* The apply phase's hash tables (settle.c's accounts and credentials,
 * settle_charged.c's own charges): a 64-bit key spread over its bits (a
 * holder id is random, a serial or a counter is not), and a power-of-two
 * capacity at least twice the entries, so a probe always ends. */
static inline uint64_t settle_mix64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return k;
}

static inline size_t settle_table_cap(size_t entries)
{
	size_t cap = 16;

	while (cap < 2 * entries)
		cap *= 2;
	return cap;
}

/* The charges a batch has made so far (settle_charged.c): each record
 * index at most once per table; the tables hold twice the records. */
typedef struct settle_charged {
	const settle_rec_t *recs;
	uint32_t *by_auth, *by_counter; /* record index + 1; 0: empty */
	size_t cap;			/* a power of two */
	uint64_t seed;			/* keys the hashes (RAND_bytes) */
} settle_charged_t;
/* false: out of memory, or no random seed. */
bool settle_charged_init(settle_charged_t *c, const settle_rec_t *recs, size_t n) OFP_WUR;
void settle_charged_free(settle_charged_t *c);
/* Record idx was charged. */
void settle_charged_add(settle_charged_t *c, uint32_t idx);
/* The record charged with this auth hash, or with this holder key and
 * counter (the first such); -1: none. */
int64_t settle_charged_auth(const settle_charged_t *c, const uint8_t auth[OFP_HASH_LEN]);
int64_t settle_charged_counter(const settle_charged_t *c, const uint8_t *key, size_t len, uint32_t counter);

/* Re-check every record of b into recs[0 .. b->count - 1], with the
 * issuer's keys (those of usage credential-signing verify credentials) and
 * the handle's credential cache (iss->creds, may be NULL), on up to
 * iss->settle_threads threads. Reads the handle, never the ledger or the
 * token. OK, or ERROR (the batch does not walk: ofp_batch_check passed, so
 * this is a bug; out of memory). */
ofp_issuer_rc_t iss_settle_verify(ofp_issuer_t *iss, const ofp_ledger_key_t *keys, size_t n_keys, const ofp_batch_t *b,
				  settle_rec_t *recs) OFP_WUR;

#endif
