/* verify.c - offpass_verifier_check: the checks of docs/VERIFIER.md
 * section 3, in order, then the journal record, then the answer.
 *
 * The first failing check gives the reason (docs/VERIFIER.md lists the
 * order). Signature checks run without the lock on key references taken
 * under it; the replay, grant, journal and state update run under it as
 * one step, so two presentations of the same authorization at once cannot
 * both operate. */
#include "config.h"
#include "verifier/verifier_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hex.h"
#include "secmem.h"
#include "format/sig.h"

typedef struct check {
	offpass_verifier_t *v;
	const uint8_t *in;
	size_t len;
	uint32_t charge; /* what this check charges (fare mode resolved) */
	const uint8_t *challenge;
	size_t challenge_len;
	uint32_t now;

	bool decoded;
	ofp_presentation_t p;
	uint8_t key_ref[OFP_V_KEY_REF_LEN]; /* the holder key's, for replay */
	uint8_t digest[OFP_HASH_LEN];
	uint64_t trust_version;
	unsigned issuer_alg;
	EVP_PKEY *issuer_key; /* references, freed at the end */
	EVP_PKEY *holder_key;
	bool warm;	      /* the cache vouched for the credential */
	bool issuer_verified; /* verified now: goes into the cache */
	bool denied;
	bool deny_stale; /* the deny list is older than deny_max_age */
	uint32_t deny_since;
	offpass_reason_t reason;
	uint32_t remaining;
	char detail[OFP_V_ERR_LEN];
} check_t;

static void refuse(check_t *c, offpass_reason_t reason, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Only the first reason counts: later checks do not run once one fails. */
static void refuse(check_t *c, offpass_reason_t reason, const char *fmt, ...)
{
	va_list ap;

	if (c->reason != OFFPASS_REASON_OK)
		return;
	c->reason = reason;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
}

static bool refused(const check_t *c)
{
	return c->reason != OFFPASS_REASON_OK;
}

/* 1. Strict decoding. */
static offpass_status_t step_decode(check_t *c)
{
	ofp_fmt_error_t ferr;

	if (ofp_presentation_decode(c->in, c->len, &c->p, &ferr) != OFP_FMT_OK) {
		refuse(c, OFFPASS_REASON_MALFORMED, "%s", ferr.reason);
		return OFFPASS_STATUS_OK;
	}
	c->decoded = true;
	if (ofp_credential_digest(&c->p.cred, c->digest, &ferr) != OFP_FMT_OK)
		return ofp_v_fail(c->v, OFFPASS_STATUS_INTERNAL, "%s", ferr.reason);
	if (!ofp_v_key_ref(c->p.cred.holder_alg, c->p.cred.holder_key, ofp_holder_key_len(c->p.cred.holder_alg),
			   c->key_ref))
		return ofp_v_fail(c->v, OFFPASS_STATUS_INTERNAL, "SHA-256 failed (OpenSSL)");
	return OFFPASS_STATUS_OK;
}

/* Under v->lock: everything the lock-free steps need. */
static void step_lookup(check_t *c)
{
	offpass_verifier_t *v = c->v;
	const ofp_trust_entry_t *e;

	c->issuer_key = ofp_trust_signing_key(v, c->p.cred.issuer_kid, c->now, &e);
	if (c->issuer_key == NULL)
		return;
	c->issuer_alg = e->alg;
	c->trust_version = v->trust.list.version;
	c->holder_key = ofp_cache_get(&v->cache, c->digest, c->trust_version);
	c->warm = c->holder_key != NULL;
	c->denied = ofp_deny_contains(v, c->p.cred.holder_id, c->p.cred.serial);
	c->deny_since = ofp_v_deny_since(v);
	c->deny_stale = ofp_v_deny_stale(v, c->deny_since, c->now);
}

/* 2. The issuer key and its signature (skipped when the cache vouches). */
static void step_issuer(check_t *c)
{
	const ofp_credential_t *cred = &c->p.cred;
	uint8_t tbs[OFP_TBS_MAX];
	size_t tbs_len;
	char kid[2 * OFP_KEY_ID_LEN + 1];

	hex_encode(cred->issuer_kid, OFP_KEY_ID_LEN, kid);
	if (c->issuer_key == NULL) {
		refuse(c, OFFPASS_REASON_UNKNOWN_ISSUER,
		       "credential.issuer_key_id: %s is not a credential-signing key of the trust list valid now", kid);
		return;
	}
	if (c->warm)
		return;
	__atomic_add_fetch(&c->v->cache.issuer_verifications, 1, __ATOMIC_RELAXED);
	if (ofp_credential_tbs(cred, tbs, sizeof(tbs), &tbs_len, NULL) != OFP_FMT_OK ||
	    !ofp_sig_verify(c->issuer_key, c->issuer_alg, tbs, tbs_len, cred->issuer_sig)) {
		refuse(c, OFFPASS_REASON_BAD_ISSUER_SIGNATURE,
		       "credential.issuer_signature: does not verify with issuer key %s", kid);
		return;
	}
	c->issuer_verified = true;
	/* NULL for a point off the curve: refused at the holder signature. */
	c->holder_key = ofp_sig_public_key(cred->holder_alg, cred->holder_key, ofp_holder_key_len(cred->holder_alg));
}

/* 3. The credential's window, the deny list, the resource class. */
static void step_credential(check_t *c)
{
	const ofp_credential_t *cred = &c->p.cred;
	uint64_t skew = c->v->cfg.clock_skew;

	if ((uint64_t)c->now + skew < cred->not_before)
		refuse(c, OFFPASS_REASON_NOT_YET_VALID, "credential.not_before: %u is after now (%u) + skew %llu",
		       cred->not_before, c->now, (unsigned long long)skew);
	else if ((uint64_t)c->now > (uint64_t)cred->not_after + skew)
		refuse(c, OFFPASS_REASON_EXPIRED, "credential.not_after: %u + skew %llu is before now (%u)",
		       cred->not_after, (unsigned long long)skew, c->now);
	else if (c->denied)
		refuse(c, OFFPASS_REASON_DENIED, "credential: serial %llu or its holder is on the deny list",
		       (unsigned long long)cred->serial);
	else if (cred->grant.resource_class != c->v->cfg.resource_class)
		refuse(c, OFFPASS_REASON_WRONG_RESOURCE, "credential.resource_class: %u, this gate operates %u",
		       cred->grant.resource_class, c->v->cfg.resource_class);
}

/* 4. The holder's signature over the authorization, bound to this
 * credential by its digest. */
static void step_holder(check_t *c)
{
	uint8_t tbs[OFP_TBS_MAX];
	size_t tbs_len;

	if (c->holder_key == NULL) {
		refuse(c, OFFPASS_REASON_BAD_HOLDER_SIGNATURE, "credential.holder_key: not a valid public key");
		return;
	}
	if (ofp_authorization_tbs(&c->p.cred, &c->p.auth, tbs, sizeof(tbs), &tbs_len, NULL) != OFP_FMT_OK ||
	    !ofp_sig_verify(c->holder_key, c->p.cred.holder_alg, tbs, tbs_len, c->p.auth.holder_sig))
		refuse(c, OFFPASS_REASON_BAD_HOLDER_SIGNATURE,
		       "presentation.holder_signature: does not verify with the credential's holder key");
}

/* 5. Freshness: the time window (one-way), or the challenge (two-way). */
static void step_fresh(check_t *c)
{
	const ofp_authorization_t *a = &c->p.auth;
	uint64_t skew = c->v->cfg.clock_skew, fresh = c->v->cfg.freshness;

	if (c->challenge == NULL) {
		if (a->challenge_len != 0)
			refuse(c, OFFPASS_REASON_CHALLENGE,
			       "presentation.challenge: present, but no challenge was sent");
		else if ((uint64_t)a->time + fresh + skew < c->now)
			refuse(c, OFFPASS_REASON_STALE, "presentation.time: %u is older than freshness %llu + skew %llu",
			       a->time, (unsigned long long)fresh, (unsigned long long)skew);
		else if ((uint64_t)a->time > (uint64_t)c->now + skew)
			refuse(c, OFFPASS_REASON_FUTURE, "presentation.time: %u is after now (%u) + skew %llu", a->time,
			       c->now, (unsigned long long)skew);
		return;
	}
	/* The lengths are public; the bytes are compared in constant time. */
	if (a->challenge_len != c->challenge_len || !secmem_equal(a->challenge, c->challenge, c->challenge_len))
		refuse(c, OFFPASS_REASON_CHALLENGE, "presentation.challenge: %s",
		       a->challenge_len == 0 ? "missing (one-way presentation on a two-way channel)"
					     : "not the challenge sent");
}

/* 5d. The deny list's age: a gate that has not had a new deny list for
 * longer than deny_max_age may be open to holders revoked since, so it
 * refuses, or, if configured, lets only small charges through (as an EMV
 * terminal with a stale exception file lowers its floor limit). */
static void step_deny_age(check_t *c)
{
	uint32_t max = c->v->cfg.stale_deny_operation_max;

	if (!c->deny_stale)
		return;
	if (max == 0)
		refuse(c, OFFPASS_REASON_DENY_LIST_STALE,
		       "deny list: issued at %u, more than deny_max_age %u s before now (%u); get a newer one",
		       c->deny_since, c->v->cfg.deny_max_age, c->now);
	else if (c->charge > max)
		refuse(c, OFFPASS_REASON_DENY_LIST_STALE,
		       "deny list: issued at %u, more than deny_max_age %u s before now (%u); while it is, "
		       "charges of at most %u operate, this one is %u",
		       c->deny_since, c->v->cfg.deny_max_age, c->now, max, c->charge);
}

/* Under v->lock. 0. The gate's clock against the latest time it
 * journaled: a clock more than the skew behind it could accept again
 * what the replay state has let go of. It overrides any reason found
 * before (they were all judged by this clock), except malformed. */
static void step_clock(check_t *c)
{
	uint32_t hw = c->v->replay.hw;

	if (!c->decoded || (uint64_t)c->now + c->v->cfg.clock_skew >= hw)
		return;
	c->reason = OFFPASS_REASON_OK;
	refuse(c, OFFPASS_REASON_CLOCK_BACK,
	       "gate clock: now (%u) is more than the skew (%u s) behind the latest time journaled (%u)", c->now,
	       c->v->cfg.clock_skew, hw);
}

/* Under v->lock. 6. Replay; 7. the amount and the grant. */
static void step_replay_and_grant(check_t *c, uint64_t total)
{
	const ofp_credential_t *cred = &c->p.cred;
	const ofp_authorization_t *a = &c->p.auth;
	char holder[2 * OFP_ID_LEN + 1];

	hex_encode(cred->holder_id, OFP_ID_LEN, holder);
	if (ofp_replay_seen(&c->v->replay, c->key_ref, a->counter))
		refuse(c, OFFPASS_REASON_REPLAY,
		       "presentation.counter: %u of this holder key (holder %s) was seen before", a->counter, holder);
	else if (a->amount != c->charge)
		refuse(c, OFFPASS_REASON_WRONG_AMOUNT, "presentation.amount: %u authorized, this gate charges %u",
		       a->amount, c->charge);
	else if (a->amount > cred->grant.per_op_max)
		refuse(c, OFFPASS_REASON_OVER_OPERATION_MAX,
		       "presentation.amount: %u is over the per-operation maximum %u", a->amount,
		       cred->grant.per_op_max);
	else if (total + a->amount > cred->grant.offline_total)
		refuse(c, OFFPASS_REASON_OVER_OFFLINE_TOTAL,
		       "presentation.amount: %u with %llu operated before is over the offline total %u", a->amount,
		       (unsigned long long)total, cred->grant.offline_total);
}

static bool fill_record(const check_t *c, ofp_journal_record_t *rec)
{
	ofp_fmt_rc_t rc;

	memset(rec, 0, sizeof(*rec));
	rec->decision = refused(c) ? OFP_DECISION_REFUSE : OFP_DECISION_OPERATE;
	rec->reason = (uint8_t)c->reason;
	rec->time = c->now;
	memcpy(rec->verifier_id, c->v->cfg.verifier_id, OFP_ID_LEN);
	/* Copies the ids from a valid presentation; for a malformed one,
	 * keeps its first bytes and leaves the ids zero (FORMAT.md 8.1). */
	rc = ofp_journal_record_set_presentation(rec, c->in, c->len, NULL);
	return rc == OFP_FMT_OK || !c->decoded;
}

static uint32_t remaining_after(const check_t *c, uint64_t total)
{
	uint64_t limit = c->p.cred.grant.offline_total;

	if (!refused(c))
		total += c->p.auth.amount;
	return total >= limit ? 0 : (uint32_t)(limit - total);
}

/* Under v->lock: decide, journal, and only then remember the operation. */
static offpass_status_t decide(check_t *c)
{
	offpass_verifier_t *v = c->v;
	ofp_journal_record_t rec;
	ofp_replay_slot_t slot = { 0 };
	uint64_t total = 0;
	offpass_status_t st;
	bool trusted = c->decoded && (c->warm || c->issuer_verified);

	int rc = 0;

	if (c->issuer_verified && c->holder_key != NULL)
		ofp_cache_put(&v->cache, c->digest, c->trust_version, c->holder_key);
	if (trusted)
		total = ofp_replay_total(&v->replay, c->p.cred.serial);
	step_clock(c);
	if (!refused(c))
		step_replay_and_grant(c, total);
	if (!refused(c))
		rc = ofp_replay_prepare(&v->replay, c->key_ref, c->p.cred.serial, &slot);
	if (rc < 0)
		return ofp_v_fail(v, OFFPASS_STATUS_NO_MEMORY, "out of memory (replay state); nothing decided");
	if (rc > 0)
		refuse(c, OFFPASS_REASON_REPLAY_FULL,
		       "replay memory: %u holder keys and %u credentials live, the capacity (config.replay_capacity)",
		       ofp_lru_count(v->replay.holders), ofp_lru_count(v->replay.totals));
	c->remaining = trusted ? remaining_after(c, total) : 0;
	if (fill_record(c, &rec))
		st = ofp_journal_append(v, &rec);
	else
		st = ofp_v_fail(v, OFFPASS_STATUS_INTERNAL, "journal record: the presentation no longer decodes");
	if (st == OFFPASS_STATUS_OK)
		ofp_replay_note_time(&v->replay, c->now);
	if (refused(c))
		return st;
	if (st != OFFPASS_STATUS_OK) {
		ofp_replay_abort(&v->replay, &slot);
		return st;
	}
	ofp_replay_commit(&v->replay, &slot, c->p.auth.counter, c->p.auth.amount, c->p.cred.not_after, c->now);
	return OFFPASS_STATUS_OK;
}

static void fill_result(const check_t *c, offpass_result_t *r)
{
	memset(r, 0, sizeof(*r));
	r->decision = refused(c) ? OFFPASS_REFUSE : OFFPASS_OPERATE;
	r->reason = c->reason;
	r->reason_text = offpass_reason_text(c->reason);
	r->remaining = c->remaining;
	if (!c->decoded)
		return;
	memcpy(r->holder_id, c->p.cred.holder_id, OFP_ID_LEN);
	r->serial = c->p.cred.serial;
	r->counter = c->p.auth.counter;
	r->amount = c->p.auth.amount;
}

/* The charge of this check from the fare mode: the holder never sets
 * the price, and 0 is a price only where the gate allows it. */
static offpass_status_t resolve_charge(offpass_verifier_t *v, uint32_t amount, uint32_t *charge)
{
	const offpass_verifier_config_t *cfg = &v->cfg;

	if (cfg->fare_mode == OFFPASS_FARE_FIXED) {
		if (amount != 0 && amount != cfg->fare)
			return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT,
					  "amount: %u, but this gate charges its fixed fare %u (pass 0 or the fare)",
					  amount, cfg->fare);
		*charge = cfg->fare;
		return OFFPASS_STATUS_OK;
	}
	if (amount == 0 && !(cfg->flags & OFFPASS_CONFIG_ALLOW_ZERO_AMOUNT))
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT,
				  "amount: 0 in till mode (free passage needs OFFPASS_CONFIG_ALLOW_ZERO_AMOUNT)");
	*charge = amount;
	return OFFPASS_STATUS_OK;
}

static offpass_status_t check_args(offpass_verifier_t *v, const uint8_t *presentation, size_t len,
				   const uint8_t *challenge, size_t challenge_len)
{
	if (presentation == NULL && len != 0)
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT, "presentation: NULL with a length");
	if (challenge == NULL && challenge_len != 0)
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT, "challenge: NULL with a length");
	if (challenge != NULL && (challenge_len == 0 || challenge_len > OFP_CHALLENGE_MAX))
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT, "challenge: %zu bytes, must be 1..%u",
				  challenge_len, OFP_CHALLENGE_MAX);
	return OFFPASS_STATUS_OK;
}

static offpass_status_t run_checks(check_t *c)
{
	offpass_verifier_t *v = c->v;
	offpass_status_t st = step_decode(c);

	if (st != OFFPASS_STATUS_OK)
		return st;
	if (c->decoded) {
		pthread_mutex_lock(&v->lock);
		step_lookup(c);
		pthread_mutex_unlock(&v->lock);
		step_issuer(c);
		if (!refused(c))
			step_credential(c);
		if (!refused(c))
			step_holder(c);
		if (!refused(c))
			step_fresh(c);
		if (!refused(c))
			step_deny_age(c);
	}
	pthread_mutex_lock(&v->lock);
	st = decide(c);
	pthread_mutex_unlock(&v->lock);
	return st;
}

offpass_status_t offpass_verifier_check(offpass_verifier_t *v, const uint8_t *presentation, size_t len,
					uint32_t amount, const uint8_t *challenge, size_t challenge_len, uint32_t now,
					offpass_result_t *result)
{
	check_t c = { .v = v,
		      .in = presentation,
		      .len = len,
		      .challenge = challenge,
		      .challenge_len = challenge_len,
		      .now = now };
	offpass_status_t st;

	if (v == NULL || result == NULL)
		return OFFPASS_STATUS_INVALID_ARGUMENT;
	memset(result, 0, sizeof(*result));
	ofp_v_clear_error(v);
	st = check_args(v, presentation, len, challenge, challenge_len);
	if (st == OFFPASS_STATUS_OK)
		st = resolve_charge(v, amount, &c.charge);
	if (st == OFFPASS_STATUS_OK)
		st = run_checks(&c);
	EVP_PKEY_free(c.issuer_key);
	EVP_PKEY_free(c.holder_key);
	if (st != OFFPASS_STATUS_OK)
		return st;
	fill_result(&c, result);
	/* A refusal's detail (the field at fault) is the thread's error text. */
	if (refused(&c))
		(void)ofp_v_fail(v, OFFPASS_STATUS_OK, "%s", c.detail);
	return OFFPASS_STATUS_OK;
}
