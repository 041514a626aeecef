/* settle.c - settlement of sealed batches (claim 20, docs/FORMAT.md
 * "Settlement"): open the envelope with the sealing key on the token, then
 * debit each operate record that the issuer re-checks itself (signatures,
 * and every rule that needs no gate state: validity, freshness, amounts),
 * so that a gate can neither invent charges nor charge one authorization
 * twice. A ride is its signed authorization: the same bytes twice are
 * charged once (a copy), the same holder key and counter over other
 * contents are charged each (counter reuse); both flag the account. One
 * batch is one transaction; notes are kept until it commits. */
#include "config.h"
#include "issuer/internal.h"
#include "format/seal.h"
#include "format/sig.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct settle {
	ofp_issuer_t *iss;
	ofp_settle_report_t *rep;
	ofp_sealed_batch_t env;
	char vid[2 * OFP_ID_LEN + 1];
	const ofp_ledger_key_t *seal; /* in keys */
	ofp_p11_key_t seal_key;
	bool ecdh_failed;
	/* The issuer's keys, to re-verify credentials, loaded once. */
	ofp_ledger_key_t *keys;
	EVP_PKEY **pkeys;
	size_t n_keys;
	/* Credentials verified in this batch (a rider's rides share one):
	 * the issuer signature is checked and the holder key parsed once. */
	struct cred_slot *creds;
	/* Notes, handed to the caller after the commit. */
	ofp_settle_note_t *notes;
	size_t n_notes, cap_notes;
	bool oom;
} settle_t;

static ofp_issuer_rc_t add_note(settle_t *s, const ofp_settle_note_t *n)
{
	if (s->n_notes == s->cap_notes) {
		size_t cap = s->cap_notes * 2 + 8;
		ofp_settle_note_t *grown = reallocarray(s->notes, cap, sizeof(*grown));
		if (grown == NULL)
			return iss_fail(s->iss, OFP_ISSUER_ERROR, "out of memory");
		s->notes = grown;
		s->cap_notes = cap;
	}
	s->notes[s->n_notes++] = *n;
	return OFP_ISSUER_OK;
}

/* A note about record idx, its text starting with where it is. */
static void record_note(ofp_settle_note_t *n, ofp_settle_note_kind_t kind, uint32_t idx, const ofp_journal_record_t *r)
{
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->record = idx;
	memcpy(n->holder_id, r->holder_id, OFP_ID_LEN);
	n->counter = r->counter;
	n->amount = r->amount;
}

static void record_where(char *buf, size_t len, const settle_t *s, const ofp_settle_note_t *n)
{
	char hid[2 * OFP_ID_LEN + 1];

	iss_hex(hid, n->holder_id, OFP_ID_LEN);
	snprintf(buf, len, "gate %s batch %" PRIu64 " record %" PRIu32 " (holder %s, counter %" PRIu32
		 ", amount %" PRIu32 ")",
		 s->vid, s->env.sequence, n->record, hid, n->counter, n->amount);
}

/* ---- opening the envelope ----------------------------------------------------------- */

static int ecdh_with_token(void *ctx, const uint8_t eph[OFP_P256_UNCOMPRESSED_LEN], uint8_t shared[32])
{
	settle_t *s = ctx;

	if (ofp_p11_ecdh(s->iss->p11, &s->seal_key, eph, shared) != 0) {
		s->ecdh_failed = true;
		return -1;
	}
	return 0;
}

/* The gate and the sealing key the envelope names must be ours. */
static ofp_issuer_rc_t check_envelope(settle_t *s, ofp_gate_t *gate)
{
	ofp_issuer_t *iss = s->iss;
	const ofp_ledger_key_t *seal = NULL;
	char want[2 * OFP_KEY_ID_LEN + 1], got[2 * OFP_KEY_ID_LEN + 1];
	ofp_issuer_rc_t rc = iss_ledger_fail(iss, ofp_ledger_gate_get(iss->ledger, s->env.verifier_id, gate));

	if (rc != OFP_ISSUER_OK)
		return rc;
	if (memcmp(gate->kid, s->env.verifier_kid, OFP_KEY_ID_LEN) != 0) {
		iss_hex(want, gate->kid, OFP_KEY_ID_LEN);
		iss_hex(got, s->env.verifier_kid, OFP_KEY_ID_LEN);
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"sealed batch: gate %s signs with key id %s, but the issuer registered key id %s", s->vid,
				got, want);
	}
	for (size_t i = 0; i < s->n_keys; i++)
		if (s->keys[i].usage == OFP_USAGE_SEALING && memcmp(s->keys[i].kid, s->env.sealing_kid, OFP_KEY_ID_LEN) == 0)
			seal = &s->keys[i];
	if (seal == NULL) {
		iss_hex(got, s->env.sealing_kid, OFP_KEY_ID_LEN);
		return iss_fail(iss, OFP_ISSUER_REFUSED, "sealed batch: sealed to key id %s, not this issuer's sealing key",
				got);
	}
	s->seal = seal;
	return iss_token_key(iss, seal, &s->seal_key);
}

/* Decode, check the gate, decrypt: *plain is the batch (malloc'ed). */
static ofp_issuer_rc_t open_batch(settle_t *s, const uint8_t *in, size_t len, uint8_t **plain, size_t *plain_len)
{
	ofp_issuer_t *iss = s->iss;
	ofp_fmt_error_t ferr;
	ofp_gate_t gate;
	EVP_PKEY *vkey;
	ofp_issuer_rc_t rc;

	if (ofp_sealed_batch_decode(in, len, &s->env, &ferr) != OFP_FMT_OK)
		return iss_fail(iss, OFP_ISSUER_REFUSED, "sealed batch: %s", ferr.reason);
	iss_hex(s->vid, s->env.verifier_id, OFP_ID_LEN);
	memcpy(s->rep->verifier_id, s->env.verifier_id, OFP_ID_LEN);
	s->rep->sequence = s->env.sequence;
	rc = check_envelope(s, &gate);
	if (rc != OFP_ISSUER_OK)
		return rc;
	vkey = ofp_sig_public_key(gate.alg, gate.key, gate.key_len);
	if (vkey == NULL)
		return iss_fail(iss, OFP_ISSUER_ERROR, "gate %s: the registered key is not a valid key", s->vid);
	if (ofp_unseal(in, len, vkey, gate.alg, s->seal->pub, ecdh_with_token, s, &s->env, plain, plain_len, &ferr) !=
	    0)
		rc = s->ecdh_failed ? iss_fail(iss, OFP_ISSUER_ERROR, "sealed batch: ECDH on the token: %s",
					       ofp_p11_error(iss->p11))
				    : iss_fail(iss, OFP_ISSUER_REFUSED, "sealed batch from gate %s, sequence %" PRIu64 ": %s",
					       s->vid, s->env.sequence, ferr.reason);
	EVP_PKEY_free(vkey);
	return rc;
}

/* ---- re-verifying a record ------------------------------------------------------------- */

static EVP_PKEY *issuer_key(settle_t *s, const uint8_t kid[OFP_KEY_ID_LEN], unsigned *alg)
{
	for (size_t i = 0; i < s->n_keys; i++) {
		const ofp_ledger_key_t *k = &s->keys[i];
		if (k->usage != OFP_USAGE_CREDENTIAL_SIGNING || memcmp(k->kid, kid, OFP_KEY_ID_LEN) != 0)
			continue;
		if (s->pkeys[i] == NULL)
			s->pkeys[i] = ofp_sig_public_key(k->alg, k->pub, k->pub_len);
		*alg = k->alg;
		return s->pkeys[i];
	}
	return NULL;
}

/* A record that passed the re-checks: its presentation and identity. */
typedef struct checked {
	ofp_presentation_t p;
	uint8_t auth_hash[OFP_HASH_LEN]; /* SHA-256 of the authorization's signed bytes */
} checked_t;

/* The record's copied fields must be the presentation's: the issuer
 * charges what the holder signed, not what the gate says. */
static const char *record_matches(const ofp_journal_record_t *r, const ofp_presentation_t *p)
{
	if (memcmp(r->holder_id, p->cred.holder_id, OFP_ID_LEN) != 0)
		return "the record's holder id is not the credential's";
	if (r->counter != p->auth.counter || r->amount != p->auth.amount)
		return "the record's counter or amount is not the authorization's";
	if (r->serial != p->cred.serial)
		return "the record's serial is not the credential's";
	return NULL;
}

/* What needs no gate state (6b): the credential was valid at the record's
 * time, a one-way authorization was fresh then, the amount is within the
 * grant. With the gates' skew and freshness (issuer.conf); a challenge
 * presentation's freshness is its challenge, which only the gate knew. */
static const char *recheck(settle_t *s, const ofp_journal_record_t *r, const ofp_presentation_t *p)
{
	uint64_t skew = s->iss->cfg.gate_clock_skew, fresh = s->iss->cfg.gate_freshness, t = r->time;

	if (t + skew < p->cred.not_before || t > (uint64_t)p->cred.not_after + skew)
		return "operated outside the credential's validity (not_before..not_after, with the gates' skew)";
	if (p->auth.challenge_len == 0 && (uint64_t)p->auth.time + fresh + skew < t)
		return "the one-way authorization was stale when operated (time + freshness + skew < record time)";
	if (p->auth.challenge_len == 0 && (uint64_t)p->auth.time > t + skew)
		return "the authorization is dated after the record time + skew";
	if (p->auth.amount > p->cred.grant.per_op_max)
		return "the amount is over the credential's per-operation maximum";
	return NULL;
}

/* The per-batch cache of verified credentials: direct-mapped by the
 * credential's digest (SHA-256 of all its bytes, the issuer signature
 * included: equal digests are equal credentials, so the verdict carries
 * over). A collision only evicts. */
#define CRED_SLOTS 4096u

struct cred_slot {
	uint8_t digest[OFP_HASH_LEN];
	EVP_PKEY *holder; /* NULL: empty */
};

static EVP_PKEY *cred_cached(settle_t *s, const uint8_t digest[OFP_HASH_LEN])
{
	struct cred_slot *slot = &s->creds[(digest[0] | (unsigned)digest[1] << 8) % CRED_SLOTS];
	return slot->holder != NULL && memcmp(slot->digest, digest, OFP_HASH_LEN) == 0 ? slot->holder : NULL;
}

/* Keep hk for the credential (the cache owns it from now on). */
static void cred_keep(settle_t *s, const uint8_t digest[OFP_HASH_LEN], EVP_PKEY *hk)
{
	struct cred_slot *slot = &s->creds[(digest[0] | (unsigned)digest[1] << 8) % CRED_SLOTS];

	EVP_PKEY_free(slot->holder);
	memcpy(slot->digest, digest, OFP_HASH_LEN);
	slot->holder = hk;
}

/* The holder key of a credential whose issuer signature verifies (the
 * cache's, or checked now and cached); NULL with *why otherwise. *lent:
 * the caller frees it (it could not be cached). */
static EVP_PKEY *verified_holder_key(settle_t *s, const ofp_credential_t *cred, const char **why, bool *lent)
{
	uint8_t digest[OFP_HASH_LEN], tbs[OFP_TBS_MAX];
	size_t tbs_len;
	unsigned ialg = 0;
	EVP_PKEY *ik, *hk;
	bool have_digest = s->creds != NULL && ofp_credential_digest(cred, digest, NULL) == OFP_FMT_OK;

	*lent = false;
	if (have_digest && (hk = cred_cached(s, digest)) != NULL)
		return hk;
	ik = issuer_key(s, cred->issuer_kid, &ialg);
	*why = "the credential names a key id this issuer never had";
	if (ik == NULL)
		return NULL;
	*why = "the credential's issuer signature does not verify";
	if (ofp_credential_tbs(cred, tbs, sizeof(tbs), &tbs_len, NULL) != OFP_FMT_OK ||
	    !ofp_sig_verify(ik, ialg, tbs, tbs_len, cred->issuer_sig))
		return NULL;
	*why = "the credential's holder key is not a valid key";
	hk = ofp_sig_public_key(cred->holder_alg, cred->holder_key, ofp_holder_key_len(cred->holder_alg));
	if (hk != NULL && have_digest)
		cred_keep(s, digest, hk);
	else
		*lent = hk != NULL;
	return hk;
}

/* NULL when the record re-checks, else why not; out gets the decoded
 * presentation and the authorization's hash. */
static const char *verify_record(settle_t *s, const ofp_journal_record_t *r, checked_t *out)
{
	ofp_presentation_t *p = &out->p;
	uint8_t tbs[OFP_TBS_MAX];
	size_t tbs_len;
	EVP_PKEY *hk;
	const char *why = NULL;
	bool ok, lent = false;

	if (ofp_presentation_decode(r->presentation, r->presentation_len, p, NULL) != OFP_FMT_OK)
		return "the presentation does not decode";
	hk = verified_holder_key(s, &p->cred, &why, &lent);
	if (hk == NULL)
		return why;
	ok = ofp_authorization_tbs(&p->cred, &p->auth, tbs, sizeof(tbs), &tbs_len, NULL) == OFP_FMT_OK &&
	     ofp_sig_verify(hk, p->cred.holder_alg, tbs, tbs_len, p->auth.holder_sig);
	if (lent)
		EVP_PKEY_free(hk);
	if (!ok)
		return "the holder signature does not verify";
	why = record_matches(r, p);
	if (why == NULL)
		why = recheck(s, r, p);
	if (why == NULL && !ofp_sha256(tbs, tbs_len, out->auth_hash))
		why = "SHA-256 failed";
	return why;
}

/* ---- charging ------------------------------------------------------------------------- */

/* A copy (the same signed authorization again) is not charged; a counter
 * reuse (the same key and counter, other contents) is, by the caller. Both
 * are recorded and flag the account. */
static ofp_issuer_rc_t double_use(settle_t *s, uint32_t idx, const ofp_journal_record_t *r, ofp_account_t *a,
				  const ofp_charge_t *mine, const ofp_charge_t *first, bool copy)
{
	ofp_issuer_t *iss = s->iss;
	ofp_settle_note_t n;
	char where[200], fvid[2 * OFP_ID_LEN + 1], ref[160];
	ofp_issuer_rc_t rc;

	record_note(&n, copy ? OFP_SETTLE_DOUBLE_USE : OFP_SETTLE_COUNTER_REUSE, idx, r);
	memcpy(n.first_verifier_id, first->verifier_id, OFP_ID_LEN);
	n.first_sequence = first->sequence;
	record_where(where, sizeof(where), s, &n);
	iss_hex(fvid, first->verifier_id, OFP_ID_LEN);
	if (copy)
		snprintf(n.text, sizeof(n.text),
			 "%s: double use: this signed authorization was charged already at gate %s batch %" PRIu64
			 " (a copied code); not charged again; account '%s' flagged",
			 where, fvid, first->sequence, a->name);
	else
		snprintf(n.text, sizeof(n.text),
			 "%s: counter reuse: the holder key signed other contents with this counter (charged at gate %s "
			 "batch %" PRIu64 "); charged as well; account '%s' flagged",
			 where, fvid, first->sequence, a->name);
	snprintf(ref, sizeof(ref), "gate %s batch %" PRIu64 " counter %" PRIu32 " (first at gate %s batch %" PRIu64 ")",
		 s->vid, s->env.sequence, r->counter, fvid, first->sequence);
	rc = iss_ledger_fail(iss, ofp_ledger_double_use_add(iss->ledger, mine, copy ? "copy" : "counter-reuse", iss->now));
	if (rc == OFP_ISSUER_OK)
		rc = iss_ledger_fail(iss, ofp_ledger_account_flag(iss->ledger, a));
	if (rc == OFP_ISSUER_OK)
		rc = iss_ledger_fail(iss, ofp_ledger_note(iss->ledger, a, copy ? "double-use" : "counter-reuse",
							  r->amount, ref, iss->now));
	if (rc == OFP_ISSUER_OK)
		rc = add_note(s, &n);
	if (copy)
		s->rep->double_uses++;
	else
		s->rep->counter_reuses++;
	return rc;
}

static ofp_issuer_rc_t reject(settle_t *s, uint32_t idx, const ofp_journal_record_t *r, const char *why)
{
	ofp_settle_note_t n;
	char where[200];

	record_note(&n, OFP_SETTLE_REJECTED, idx, r);
	record_where(where, sizeof(where), s, &n);
	snprintf(n.text, sizeof(n.text), "%s: not charged: %s (the gate reported it as operated: investigate gate %s)",
		 where, why, s->vid);
	s->rep->rejected++;
	return add_note(s, &n);
}

static void charge_of(settle_t *s, const ofp_journal_record_t *r, const checked_t *k, ofp_charge_t *c)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->holder_id, k->p.cred.holder_id, OFP_ID_LEN);
	c->counter = k->p.auth.counter;
	memcpy(c->verifier_id, s->env.verifier_id, OFP_ID_LEN);
	c->sequence = s->env.sequence;
	c->amount = k->p.auth.amount;
	c->serial = k->p.cred.serial;
	c->time = r->time;
	memcpy(c->auth_hash, k->auth_hash, OFP_HASH_LEN);
	c->holder_key_len = ofp_holder_key_len(k->p.cred.holder_alg);
	memcpy(c->holder_key, k->p.cred.holder_key, c->holder_key_len);
}

static ofp_issuer_rc_t debit(settle_t *s, ofp_account_t *a, const ofp_charge_t *c)
{
	char ref[160];
	ofp_issuer_rc_t rc = iss_ledger_fail(s->iss, ofp_ledger_charge_add(s->iss->ledger, c));

	snprintf(ref, sizeof(ref), "gate %s batch %" PRIu64 " counter %" PRIu32 " serial %" PRIu64, s->vid,
		 s->env.sequence, c->counter, c->serial);
	if (rc == OFP_ISSUER_OK)
		rc = iss_ledger_fail(s->iss, ofp_ledger_account_apply(s->iss->ledger, a, -(int64_t)c->amount, "charge",
								       ref, s->iss->now));
	if (rc == OFP_ISSUER_OK) {
		s->rep->charged++;
		s->rep->amount_charged += c->amount;
	}
	return rc;
}

static ofp_issuer_rc_t charge(settle_t *s, uint32_t idx, const ofp_journal_record_t *r, const checked_t *k)
{
	ofp_issuer_t *iss = s->iss;
	ofp_charge_t mine, first;
	ofp_account_t a;
	ofp_settle_note_t n;
	char where[200];
	int64_t at_gate = 0;
	int lrc = ofp_ledger_account_by_holder(iss->ledger, k->p.cred.holder_id, &a);
	ofp_issuer_rc_t rc;

	if (lrc == OFP_LEDGER_NOT_FOUND) {
		record_note(&n, OFP_SETTLE_UNKNOWN_HOLDER, idx, r);
		record_where(where, sizeof(where), s, &n);
		snprintf(n.text, sizeof(n.text), "%s: no account has this holder id; not charged", where);
		s->rep->unknown_holders++;
		return add_note(s, &n);
	}
	if (lrc != OFP_LEDGER_OK)
		return iss_ledger_fail(iss, lrc);
	charge_of(s, r, k, &mine);
	lrc = ofp_ledger_charge_find(iss->ledger, mine.auth_hash, &first);
	if (lrc == OFP_LEDGER_OK)
		return double_use(s, idx, r, &a, &mine, &first, true);
	if (lrc != OFP_LEDGER_NOT_FOUND)
		return iss_ledger_fail(iss, lrc);
	/* A gate keeps each credential's offline total: more from one gate is
	 * the gate's fault, not the holder's. */
	rc = iss_ledger_fail(iss, ofp_ledger_charged_at_gate(iss->ledger, mine.serial, mine.verifier_id, &at_gate));
	if (rc != OFP_ISSUER_OK)
		return rc;
	if (at_gate + mine.amount > (int64_t)k->p.cred.grant.offline_total)
		return reject(s, idx, r, "over the credential's offline total at this gate");
	lrc = ofp_ledger_charge_find_counter(iss->ledger, mine.holder_key, mine.holder_key_len, mine.counter, &first);
	if (lrc != OFP_LEDGER_OK && lrc != OFP_LEDGER_NOT_FOUND)
		return iss_ledger_fail(iss, lrc);
	rc = debit(s, &a, &mine);
	if (rc == OFP_ISSUER_OK && lrc == OFP_LEDGER_OK)
		rc = double_use(s, idx, r, &a, &mine, &first, false);
	return rc;
}

static ofp_issuer_rc_t settle_record(settle_t *s, uint32_t idx, const ofp_journal_record_t *r)
{
	checked_t k;
	const char *why;

	if (r->decision != OFP_DECISION_OPERATE) {
		s->rep->refused++;
		return OFP_ISSUER_OK;
	}
	why = verify_record(s, r, &k);
	return why == NULL ? charge(s, idx, r, &k) : reject(s, idx, r, why);
}

/* ---- sequence and chain ---------------------------------------------------------------- */

/* The nearest non-empty batch next to seq (below or above) with no
 * unsettled sequence between: OK, NOT_FOUND, or a ledger error. */
static int nearest_linked(settle_t *s, uint64_t seq, bool below, ofp_settled_batch_t *out)
{
	uint64_t at = seq;
	int lrc;

	for (;;) {
		lrc = ofp_ledger_batch_neighbour(s->iss->ledger, s->env.verifier_id, at, below, out);
		if (lrc != OFP_LEDGER_OK)
			return lrc;
		if (out->sequence != (below ? at - 1 : at + 1))
			return OFP_LEDGER_NOT_FOUND; /* a gap: nothing to compare with */
		if (out->records > 0)
			return OFP_LEDGER_OK;
		at = out->sequence;
	}
}

static ofp_issuer_rc_t chain_pair(settle_t *s, const ofp_settled_batch_t *lo, const ofp_settled_batch_t *hi)
{
	ofp_settle_note_t n;

	if (memcmp(lo->last_hash, hi->first_prev, OFP_HASH_LEN) == 0)
		return OFP_ISSUER_OK;
	memset(&n, 0, sizeof(n));
	n.kind = OFP_SETTLE_CHAIN;
	snprintf(n.text, sizeof(n.text),
		 "gate %s: journal chain broken between batch %" PRIu64 " and batch %" PRIu64
		 " (records removed or changed at the gate)",
		 s->vid, lo->sequence, hi->sequence);
	s->rep->chain_breaks++;
	return add_note(s, &n);
}

/* The journal's hash chain across batches: this batch against its
 * settled neighbours, or (when empty) its neighbours against each other. */
static ofp_issuer_rc_t check_chain(settle_t *s, const ofp_settled_batch_t *me)
{
	ofp_settled_batch_t lo, hi;
	int has_lo = nearest_linked(s, me->sequence, true, &lo);
	int has_hi = nearest_linked(s, me->sequence, false, &hi);
	ofp_issuer_rc_t rc = OFP_ISSUER_OK;

	if (has_lo == OFP_LEDGER_ERROR || has_hi == OFP_LEDGER_ERROR)
		return iss_ledger_fail(s->iss, OFP_LEDGER_ERROR);
	if (me->records == 0) {
		if (has_lo == OFP_LEDGER_OK && has_hi == OFP_LEDGER_OK)
			rc = chain_pair(s, &lo, &hi);
		return rc;
	}
	if (has_lo == OFP_LEDGER_OK)
		rc = chain_pair(s, &lo, me);
	if (rc == OFP_ISSUER_OK && has_hi == OFP_LEDGER_OK)
		rc = chain_pair(s, me, &hi);
	return rc;
}

static void gap_found(void *ctx, uint64_t from, uint64_t to)
{
	settle_t *s = ctx;
	ofp_settle_note_t n;

	memset(&n, 0, sizeof(n));
	n.kind = OFP_SETTLE_GAP;
	n.gap_from = from;
	n.gap_to = to;
	if (from == to)
		snprintf(n.text, sizeof(n.text), "gate %s: batch %" PRIu64 " is missing (gap in the sequence)", s->vid,
			 from);
	else
		snprintf(n.text, sizeof(n.text), "gate %s: batches %" PRIu64 "..%" PRIu64 " are missing (gap in the sequence)",
			 s->vid, from, to);
	s->rep->gaps++;
	if (add_note(s, &n) != OFP_ISSUER_OK)
		s->oom = true; /* a callback cannot fail: the caller checks */
}

/* ---- one batch, one transaction -------------------------------------------------------- */

/* Already settled: the same content again is fine, other content is not. */
static ofp_issuer_rc_t check_sequence(settle_t *s, const ofp_settled_batch_t *me)
{
	ofp_settled_batch_t old;
	char a[17], b[17];
	int lrc = ofp_ledger_batch_get(s->iss->ledger, s->env.verifier_id, s->env.sequence, &old);

	if (lrc == OFP_LEDGER_NOT_FOUND)
		return OFP_ISSUER_OK;
	if (lrc != OFP_LEDGER_OK)
		return iss_ledger_fail(s->iss, lrc);
	if (memcmp(old.digest, me->digest, OFP_HASH_LEN) == 0) {
		s->rep->already_settled = true;
		return OFP_ISSUER_OK;
	}
	iss_hex(a, old.digest, 8);
	iss_hex(b, me->digest, 8);
	return iss_fail(s->iss, OFP_ISSUER_REFUSED,
			"gate %s: batch %" PRIu64 " was settled at %" PRIu32 " with other records (digest %s..., this one %s...)",
			s->vid, s->env.sequence, old.settled_at, a, b);
}

static ofp_issuer_rc_t settle_records(settle_t *s, const ofp_batch_t *b)
{
	ofp_batch_iter_t it;
	ofp_journal_record_t r;
	uint32_t idx = 0;
	ofp_issuer_rc_t rc = OFP_ISSUER_OK;

	ofp_batch_iter_init(&it, b);
	while (rc == OFP_ISSUER_OK && ofp_batch_next(&it, &r, NULL, NULL))
		rc = settle_record(s, idx++, &r);
	return rc;
}

static ofp_issuer_rc_t settle_tx(settle_t *s, const ofp_batch_t *b, ofp_settled_batch_t *me)
{
	ofp_ledger_t *l = s->iss->ledger;
	ofp_issuer_rc_t rc = iss_ledger_fail(s->iss, ofp_ledger_begin(l));

	if (rc != OFP_ISSUER_OK)
		return rc;
	rc = check_sequence(s, me);
	if (rc != OFP_ISSUER_OK || s->rep->already_settled)
		goto out;
	rc = settle_records(s, b);
	if (rc == OFP_ISSUER_OK)
		rc = iss_ledger_fail(s->iss, ofp_ledger_batch_add(l, me));
	if (rc == OFP_ISSUER_OK)
		rc = check_chain(s, me);
	if (rc == OFP_ISSUER_OK) {
		rc = iss_ledger_fail(s->iss, ofp_ledger_batch_gaps(l, s->env.verifier_id, gap_found, s));
		if (rc == OFP_ISSUER_OK && s->oom)
			rc = iss_fail(s->iss, OFP_ISSUER_ERROR, "out of memory");
	}
	if (rc == OFP_ISSUER_OK)
		rc = iss_ledger_fail(s->iss, ofp_ledger_commit(l));
out:
	ofp_ledger_rollback(l); /* no-op after a commit */
	return rc;
}

static void settle_free(settle_t *s)
{
	for (size_t i = 0; s->creds != NULL && i < CRED_SLOTS; i++)
		EVP_PKEY_free(s->creds[i].holder);
	free(s->creds);
	for (size_t i = 0; i < s->n_keys; i++)
		EVP_PKEY_free(s->pkeys[i]);
	free(s->pkeys);
	free(s->keys);
	free(s->notes);
}

ofp_issuer_rc_t ofp_issuer_settle(ofp_issuer_t *iss, const uint8_t *sealed, size_t len, ofp_settle_note_fn note,
				  void *ctx, ofp_settle_report_t *report)
{
	settle_t s;
	ofp_batch_t b;
	ofp_settled_batch_t me;
	ofp_fmt_error_t ferr;
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	ofp_issuer_rc_t rc;

	memset(&s, 0, sizeof(s));
	memset(report, 0, sizeof(*report));
	s.iss = iss;
	s.rep = report;
	rc = ofp_issuer_keys(iss, &s.keys, &s.n_keys);
	if (rc != OFP_ISSUER_OK)
		goto out;
	s.pkeys = calloc(s.n_keys + 1, sizeof(*s.pkeys));
	s.creds = calloc(CRED_SLOTS, sizeof(*s.creds)); /* NULL: no cache, every record verified in full */
	if (s.pkeys == NULL) {
		rc = iss_fail(iss, OFP_ISSUER_ERROR, "out of memory");
		goto out;
	}
	rc = open_batch(&s, sealed, len, &plain, &plain_len);
	if (rc != OFP_ISSUER_OK)
		goto out;
	memset(&me, 0, sizeof(me));
	memcpy(me.verifier_id, s.env.verifier_id, OFP_ID_LEN);
	me.sequence = s.env.sequence;
	me.records = s.env.record_count;
	me.settled_at = iss->now;
	me.period_end = s.env.period_end;
	/* ofp_unseal checked the batch; decode it again to walk it, and to
	 * get the chain links the issuer compares across batches. */
	if (ofp_batch_decode(plain, plain_len, &b, &ferr) != OFP_FMT_OK ||
	    ofp_batch_check(&s.env, &b, me.first_prev, me.last_hash, &ferr) != OFP_FMT_OK) {
		rc = iss_fail(iss, OFP_ISSUER_REFUSED, "gate %s batch %" PRIu64 ": %s", s.vid, s.env.sequence, ferr.reason);
		goto out;
	}
	if (!ofp_sha256(plain, plain_len, me.digest)) {
		rc = iss_fail(iss, OFP_ISSUER_ERROR, "SHA-256 failed");
		goto out;
	}
	report->records = b.count;
	rc = settle_tx(&s, &b, &me);
	if (rc == OFP_ISSUER_OK && note != NULL)
		for (size_t i = 0; i < s.n_notes; i++)
			note(ctx, &s.notes[i]);
out:
	if (rc != OFP_ISSUER_OK) {
		/* Nothing was settled: the counts would mislead. */
		uint8_t vid[OFP_ID_LEN];
		uint64_t seq = report->sequence;
		memcpy(vid, report->verifier_id, OFP_ID_LEN);
		memset(report, 0, sizeof(*report));
		memcpy(report->verifier_id, vid, OFP_ID_LEN);
		report->sequence = seq;
	}
	free(plain);
	settle_free(&s);
	return rc;
}
