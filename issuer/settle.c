/* settle.c - settlement of sealed batches (claim 20, docs/FORMAT.md
 * "Settlement"): open the envelope with the sealing key on the token, then
 * debit each operate record that the issuer re-checks itself (signatures,
 * and every rule that needs no gate state: validity, freshness, amounts),
 * so that a gate can neither invent charges nor charge one authorization
 * twice. A ride is its signed authorization: the same bytes twice are
 * charged once (a copy), the same holder key and counter over other
 * contents are charged each (counter reuse); both flag the account.
 *
 * Two phases (docs/ISSUER.md, "Settlement pipeline"): the verify phase
 * (settle_verify.c) re-checks every record on a few threads, outside any
 * transaction; the apply phase, one transaction per batch, reads only its
 * verdicts and does what needs the ledger: the sequence, copies, counter
 * reuses, the offline total at the gate, the debits, the chain and gaps.
 * The apply phase keeps all its state in an apply_t made anew for each
 * try, so that the transaction can be run again from the start. Notes are
 * handed out after the commit. */
#include "config.h"
#include "issuer/settle_int.h"
#include "format/seal.h"
#include "format/sig.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An account the batch charges, looked up once per try: its balance moves
 * in memory (each charge writes its history entry with the balance after
 * it), and is written once when the records are done. */
typedef struct acct {
	uint8_t holder_id[OFP_ID_LEN];
	bool known; /* false: no account has this holder id */
	bool moved; /* the balance changed: write it */
	ofp_account_t a;
} acct_t;

/* A credential the batch charges at this gate: the ledger's sum of its
 * charges from this gate when first met, plus this batch's. */
typedef struct at_gate {
	uint64_t serial;
	int64_t sum;
} at_gate_t;

/* Open addressing over uint64 keys, the value an index (+ 1) into an
 * array: the accounts by holder id, the credentials by serial. */
typedef struct index_map {
	uint64_t *keys;
	uint32_t *vals; /* 0: empty */
	size_t cap;	/* a power of two, at least twice the entries */
} index_map_t;

/* One try of the apply phase: made from nothing, dropped after. */
typedef struct apply {
	acct_t *accts;
	size_t n_accts;
	at_gate_t *gates;
	size_t n_gates;
	index_map_t by_holder, by_serial;
	/* The earlier charges in the ledger of the records looked up before
	 * the batch charged anything (look_up_charges): record i's are
	 * seen[seen_at[i] - 1]; and the batch's own charges. */
	ofp_charge_seen_t *seen;
	uint32_t *seen_at;
	settle_charged_t charged;
} apply_t;

typedef struct settle {
	ofp_issuer_t *iss;
	ofp_settle_report_t *rep;
	ofp_sealed_batch_t env;
	char vid[2 * OFP_ID_LEN + 1];
	const ofp_ledger_key_t *seal; /* in keys */
	ofp_p11_key_t seal_key;
	bool ecdh_failed;
	/* The issuer's keys (the verify phase's credential-signing keys and
	 * the sealing key), loaded once per batch. */
	ofp_ledger_key_t *keys;
	size_t n_keys;
	/* The verify phase's verdicts, one per record; NULL until it ran. */
	settle_rec_t *recs;
	uint32_t n_recs;
	apply_t *ap; /* the try under way */
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
static void record_note(ofp_settle_note_t *n, ofp_settle_note_kind_t kind, uint32_t idx, const settle_rec_t *r)
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

/* ---- the apply phase's look-ups ------------------------------------------------------ */

static bool map_init(index_map_t *m, size_t entries)
{
	m->cap = settle_table_cap(entries);
	m->keys = calloc(m->cap, sizeof(*m->keys));
	m->vals = calloc(m->cap, sizeof(*m->vals));
	return m->keys != NULL && m->vals != NULL;
}

static void map_free(index_map_t *m)
{
	free(m->keys);
	free(m->vals);
}

/* The slot of key: its own, or the empty one where it would go. */
static size_t map_slot(const index_map_t *m, uint64_t key)
{
	size_t i = settle_mix64(key) & (m->cap - 1);

	while (m->vals[i] != 0 && m->keys[i] != key)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static uint64_t holder_key64(const uint8_t id[OFP_ID_LEN])
{
	uint64_t k;

	memcpy(&k, id, sizeof(k));
	return k;
}

/* A try's state for at most n_recs distinct accounts and credentials
 * (each record adds at most one of each: the maps never grow). */
static ofp_issuer_rc_t apply_new(settle_t *s, apply_t *ap)
{
	size_t n = s->n_recs;

	memset(ap, 0, sizeof(*ap));
	ap->accts = calloc(n + 1, sizeof(*ap->accts));
	ap->gates = calloc(n + 1, sizeof(*ap->gates));
	ap->seen_at = calloc(n + 1, sizeof(*ap->seen_at));
	if (ap->accts == NULL || ap->gates == NULL || ap->seen_at == NULL || !map_init(&ap->by_holder, n) ||
	    !map_init(&ap->by_serial, n) || !settle_charged_init(&ap->charged, s->recs, n))
		return iss_fail(s->iss, OFP_ISSUER_ERROR, "out of memory");
	return OFP_ISSUER_OK;
}

static void apply_free(apply_t *ap)
{
	free(ap->accts);
	free(ap->gates);
	free(ap->seen);
	free(ap->seen_at);
	settle_charged_free(&ap->charged);
	map_free(&ap->by_holder);
	map_free(&ap->by_serial);
}

/* Remember the account of holder_id (known: the ledger has one). */
static acct_t *acct_put(apply_t *ap, size_t slot, const uint8_t holder_id[OFP_ID_LEN], bool known,
			const ofp_account_t *a)
{
	acct_t *ac = &ap->accts[ap->n_accts];

	memcpy(ac->holder_id, holder_id, OFP_ID_LEN);
	ac->known = known;
	if (known)
		ac->a = *a;
	ap->by_holder.keys[slot] = holder_key64(holder_id);
	ap->by_holder.vals[slot] = (uint32_t)++ap->n_accts;
	return ac;
}

/* The account of a holder id, from the ledger the first time (read_accounts
 * read every one the batch charges already). */
static ofp_issuer_rc_t account_of(settle_t *s, const uint8_t holder_id[OFP_ID_LEN], acct_t **out)
{
	apply_t *ap = s->ap;
	size_t i = map_slot(&ap->by_holder, holder_key64(holder_id));
	ofp_account_t a;
	int lrc;

	if (ap->by_holder.vals[i] != 0) {
		*out = &ap->accts[ap->by_holder.vals[i] - 1];
		return OFP_ISSUER_OK;
	}
	lrc = ofp_ledger_account_by_holder_locked(s->iss->ledger, holder_id, &a);
	if (lrc != OFP_LEDGER_OK && lrc != OFP_LEDGER_NOT_FOUND)
		return iss_ledger_fail(s->iss, lrc);
	*out = acct_put(ap, i, holder_id, lrc == OFP_LEDGER_OK, &a);
	return OFP_ISSUER_OK;
}

/* What this gate has charged to credential serial so far, this batch's
 * charges included: ledger_sum (the ledger's, looked up before the
 * batch's first charge) the first time, when this batch has charged
 * nothing to serial yet. */
static at_gate_t *charged_at_gate(settle_t *s, uint64_t serial, int64_t ledger_sum)
{
	apply_t *ap = s->ap;
	size_t i = map_slot(&ap->by_serial, serial);
	at_gate_t *g;

	if (ap->by_serial.vals[i] != 0)
		return &ap->gates[ap->by_serial.vals[i] - 1];
	g = &ap->gates[ap->n_gates];
	g->serial = serial;
	g->sum = ledger_sum;
	ap->by_serial.keys[i] = serial;
	ap->by_serial.vals[i] = (uint32_t)++ap->n_gates;
	return g;
}

static int cmp_holder_id(const void *a, const void *b)
{
	return memcmp(a, b, OFP_ID_LEN);
}

/* Every account the batch may charge, read (and on PostgreSQL locked)
 * in ascending order of holder id before anything is written, in one
 * statement per 1,024 (ofp_ledger_accounts_by_holders_locked): an
 * issuance locks its accounts in the same order, and a charge's history
 * row (a foreign key: a share lock on the account) or a flag taken in the
 * records' order could otherwise wait, in a circle, for an issuance that
 * waits for this settlement (docs/ISSUER.md 9). */
static ofp_issuer_rc_t read_accounts(settle_t *s)
{
	apply_t *ap = s->ap;
	uint8_t(*ids)[OFP_ID_LEN] = calloc((size_t)s->n_recs + 1, OFP_ID_LEN);
	ofp_account_t *accts = calloc((size_t)s->n_recs + 1, sizeof(*accts));
	bool *found = calloc((size_t)s->n_recs + 1, sizeof(*found));
	ofp_issuer_rc_t rc = OFP_ISSUER_OK;
	size_t n = 0, distinct = 0;

	if (ids == NULL || accts == NULL || found == NULL) {
		rc = iss_fail(s->iss, OFP_ISSUER_ERROR, "settle: out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < s->n_recs; i++)
		if (s->recs[i].decision == OFP_DECISION_OPERATE && s->recs[i].why == NULL)
			memcpy(ids[n++], s->recs[i].charge.holder_id, OFP_ID_LEN);
	qsort(ids, n, OFP_ID_LEN, cmp_holder_id);
	for (size_t i = 0; i < n; i++)
		if (distinct == 0 || memcmp(ids[i], ids[distinct - 1], OFP_ID_LEN) != 0)
			memmove(ids[distinct++], ids[i], OFP_ID_LEN);
	rc = iss_ledger_fail(s->iss, ofp_ledger_accounts_by_holders_locked(s->iss->ledger, (const uint8_t(*)[OFP_ID_LEN])ids,
									   distinct, accts, found));
	for (size_t i = 0; rc == OFP_ISSUER_OK && i < distinct; i++) {
		size_t slot = map_slot(&ap->by_holder, holder_key64(ids[i]));
		if (ap->by_holder.vals[slot] == 0)
			(void)acct_put(ap, slot, ids[i], found[i], &accts[i]);
	}
out:
	free(ids);
	free(accts);
	free(found);
	return rc;
}

/* Every record the batch may charge: what the ledger holds of its
 * authorization, its key and counter, its credential at this gate, in
 * one statement per 1,024 records (ofp_ledger_charge_lookup_many), before
 * the first charge; the batch's own charges are settle_charged's. */
static ofp_issuer_rc_t look_up_charges(settle_t *s)
{
	apply_t *ap = s->ap;
	ofp_charge_t *c = calloc((size_t)s->n_recs + 1, sizeof(*c));
	ofp_issuer_rc_t rc = OFP_ISSUER_OK;
	uint32_t n = 0;
	acct_t *ac;

	ap->seen = calloc((size_t)s->n_recs + 1, sizeof(*ap->seen));
	if (c == NULL || ap->seen == NULL) {
		rc = iss_fail(s->iss, OFP_ISSUER_ERROR, "settle: out of memory");
		goto out;
	}
	for (uint32_t i = 0; rc == OFP_ISSUER_OK && i < s->n_recs; i++) {
		const settle_rec_t *r = &s->recs[i];
		if (r->decision != OFP_DECISION_OPERATE || r->why != NULL)
			continue;
		rc = account_of(s, r->charge.holder_id, &ac);
		if (rc != OFP_ISSUER_OK || !ac->known)
			continue;
		c[n] = r->charge;
		memcpy(c[n].verifier_id, s->env.verifier_id, OFP_ID_LEN);
		c[n].sequence = s->env.sequence;
		ap->seen_at[i] = ++n;
	}
	if (rc == OFP_ISSUER_OK)
		rc = iss_ledger_fail(s->iss, ofp_ledger_charge_lookup_many(s->iss->ledger, c, n, ap->seen));
out:
	free(c);
	return rc;
}

/* The balances the records moved, written once each (in ascending order
 * of holder id: read_accounts put the accounts in that order, and holds
 * their rows already). */
static ofp_issuer_rc_t store_balances(settle_t *s)
{
	ofp_issuer_rc_t rc = OFP_ISSUER_OK;

	for (size_t i = 0; rc == OFP_ISSUER_OK && i < s->ap->n_accts; i++)
		if (s->ap->accts[i].moved)
			rc = iss_ledger_fail(s->iss, ofp_ledger_account_store_balance(s->iss->ledger, &s->ap->accts[i].a));
	return rc;
}

/* ---- charging ------------------------------------------------------------------------- */

/* A copy (the same signed authorization again) is not charged; a counter
 * reuse (the same key and counter, other contents) is, by the caller. Both
 * are recorded and flag the account. */
static ofp_issuer_rc_t double_use(settle_t *s, uint32_t idx, const settle_rec_t *r, ofp_account_t *a,
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

static ofp_issuer_rc_t reject(settle_t *s, uint32_t idx, const settle_rec_t *r, const char *why)
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

/* The charge row and the history entry now; the balance with the others
 * when the records are done (store_balances). */
static ofp_issuer_rc_t debit(settle_t *s, acct_t *ac, at_gate_t *g, const ofp_charge_t *c)
{
	char ref[160];
	ofp_issuer_rc_t rc = iss_ledger_fail(s->iss, ofp_ledger_charge_add(s->iss->ledger, c));

	snprintf(ref, sizeof(ref), "gate %s batch %" PRIu64 " counter %" PRIu32 " serial %" PRIu64, s->vid,
		 s->env.sequence, c->counter, c->serial);
	if (rc == OFP_ISSUER_OK)
		rc = iss_ledger_fail(s->iss, ofp_ledger_account_apply_held(s->iss->ledger, &ac->a, -(int64_t)c->amount,
									    "charge", ref, s->iss->now));
	if (rc == OFP_ISSUER_OK) {
		ac->moved = true;
		g->sum += c->amount;
		s->rep->charged++;
		s->rep->amount_charged += c->amount;
	}
	return rc;
}

/* Record idx's charge as the batch's own record j made it. */
static void batch_charge(const settle_t *s, int64_t j, ofp_charge_t *out)
{
	*out = s->recs[j].charge;
	memcpy(out->verifier_id, s->env.verifier_id, OFP_ID_LEN);
	out->sequence = s->env.sequence;
}

/* The charge this record repeats, as one look-up over the ledger and the
 * batch's charges so far would find it (ofp_ledger_charge_lookup): the one
 * with its auth hash (*copy), the ledger's before the batch's (there is
 * one at most: a second is a copy, never charged); else the first with its
 * holder key and counter, the ledger's (older) before the batch's. */
static bool earlier_charge(const settle_t *s, const ofp_charge_seen_t *seen, const ofp_charge_t *mine,
			   ofp_charge_t *first, bool *copy)
{
	const settle_charged_t *own = &s->ap->charged;
	int64_t j;

	*copy = true;
	if (seen->found && seen->copy) {
		*first = seen->first;
		return true;
	}
	if ((j = settle_charged_auth(own, mine->auth_hash)) >= 0) {
		batch_charge(s, j, first);
		return true;
	}
	*copy = false;
	if (seen->found) {
		*first = seen->first;
		return true;
	}
	if ((j = settle_charged_counter(own, mine->holder_key, mine->holder_key_len, mine->counter)) >= 0) {
		batch_charge(s, j, first);
		return true;
	}
	return false;
}

static ofp_issuer_rc_t charge(settle_t *s, uint32_t idx, const settle_rec_t *r)
{
	ofp_charge_t mine = r->charge, first;
	ofp_settle_note_t n;
	char where[200];
	acct_t *ac = NULL;
	const ofp_charge_seen_t *seen;
	at_gate_t *g;
	bool copy = false, found;
	ofp_issuer_rc_t rc = account_of(s, mine.holder_id, &ac);

	if (rc != OFP_ISSUER_OK)
		return rc;
	if (!ac->known) {
		record_note(&n, OFP_SETTLE_UNKNOWN_HOLDER, idx, r);
		record_where(where, sizeof(where), s, &n);
		snprintf(n.text, sizeof(n.text), "%s: no account has this holder id; not charged", where);
		s->rep->unknown_holders++;
		return add_note(s, &n);
	}
	if (s->ap->seen_at[idx] == 0) /* look_up_charges skipped a record it must not */
		return iss_fail(s->iss, OFP_ISSUER_ERROR, "settle: record %" PRIu32 " was not looked up", idx);
	seen = &s->ap->seen[s->ap->seen_at[idx] - 1];
	memcpy(mine.verifier_id, s->env.verifier_id, OFP_ID_LEN);
	mine.sequence = s->env.sequence;
	found = earlier_charge(s, seen, &mine, &first, &copy);
	if (found && copy)
		return double_use(s, idx, r, &ac->a, &mine, &first, true);
	/* A gate keeps each credential's offline total: more from one gate is
	 * the gate's fault, not the holder's. */
	g = charged_at_gate(s, mine.serial, seen->sum);
	if (g->sum + mine.amount > (int64_t)r->offline_total)
		return reject(s, idx, r, "over the credential's offline total at this gate");
	rc = debit(s, ac, g, &mine);
	if (rc == OFP_ISSUER_OK)
		settle_charged_add(&s->ap->charged, idx);
	if (rc == OFP_ISSUER_OK && found)
		rc = double_use(s, idx, r, &ac->a, &mine, &first, false);
	return rc;
}

static ofp_issuer_rc_t apply_record(settle_t *s, uint32_t idx)
{
	const settle_rec_t *r = &s->recs[idx];

	if (r->decision != OFP_DECISION_OPERATE) {
		s->rep->refused++;
		return OFP_ISSUER_OK;
	}
	return r->why == NULL ? charge(s, idx, r) : reject(s, idx, r, r->why);
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

/* The verify phase, when the batch is not settled yet (a batch sent again
 * costs no verify). */
static ofp_issuer_rc_t verify_phase(settle_t *s, const ofp_batch_t *b)
{
	if (s->recs != NULL)
		return OFP_ISSUER_OK;
	s->recs = calloc((size_t)b->count + 1, sizeof(*s->recs));
	if (s->recs == NULL)
		return iss_fail(s->iss, OFP_ISSUER_ERROR, "out of memory");
	s->n_recs = b->count;
	return iss_settle_verify(s->iss, s->keys, s->n_keys, b, s->recs);
}

/* What one try of the transaction reports and notes starts from nothing. */
static void try_reset(settle_t *s)
{
	ofp_settle_report_t *r = s->rep;
	ofp_settle_report_t keep = *r;

	memset(r, 0, sizeof(*r));
	memcpy(r->verifier_id, keep.verifier_id, OFP_ID_LEN);
	r->sequence = keep.sequence;
	r->records = keep.records;
	s->n_notes = 0;
	s->oom = false;
}

/* The apply phase: everything that needs the ledger, in the transaction
 * the caller opened. Runs again from the start after a rollback. */
static ofp_issuer_rc_t apply_phase(settle_t *s, const ofp_batch_t *b, ofp_settled_batch_t *me)
{
	ofp_ledger_t *l = s->iss->ledger;
	apply_t ap;
	ofp_issuer_rc_t rc;

	try_reset(s);
	/* Before anything of the gate is read: two batches of one gate apply
	 * one after the other, of two gates at once (docs/ISSUER.md 9). */
	rc = iss_ledger_fail(s->iss, ofp_ledger_gate_lock(l, s->env.verifier_id));
	if (rc == OFP_ISSUER_OK)
		rc = check_sequence(s, me);
	if (rc != OFP_ISSUER_OK || s->rep->already_settled)
		return rc;
	/* Settled by nobody at the pre-check, by nobody now: verify (a
	 * no-op when done before the transaction). */
	rc = verify_phase(s, b);
	if (rc != OFP_ISSUER_OK)
		return rc;
	rc = apply_new(s, &ap);
	s->ap = &ap;
	if (rc == OFP_ISSUER_OK)
		rc = read_accounts(s);
	if (rc == OFP_ISSUER_OK)
		rc = look_up_charges(s);
	for (uint32_t i = 0; rc == OFP_ISSUER_OK && i < s->n_recs; i++)
		rc = apply_record(s, i);
	if (rc == OFP_ISSUER_OK)
		rc = store_balances(s);
	s->ap = NULL;
	apply_free(&ap);
	if (rc == OFP_ISSUER_OK)
		rc = iss_ledger_fail(s->iss, ofp_ledger_batch_add(l, me));
	if (rc == OFP_ISSUER_OK)
		rc = check_chain(s, me);
	if (rc == OFP_ISSUER_OK) {
		rc = iss_ledger_fail(s->iss, ofp_ledger_batch_gaps(l, s->env.verifier_id, gap_found, s));
		if (rc == OFP_ISSUER_OK && s->oom)
			rc = iss_fail(s->iss, OFP_ISSUER_ERROR, "out of memory");
	}
	return rc;
}

struct settle_tx {
	settle_t *s;
	const ofp_batch_t *b;
	ofp_settled_batch_t *me;
};

static ofp_issuer_rc_t settle_body(ofp_issuer_t *iss, void *ctx)
{
	struct settle_tx *t = ctx;

	(void)iss;
	return apply_phase(t->s, t->b, t->me);
}

/* One batch, one transaction, run again (apply_phase from the start) when
 * a concurrent settlement or issuance made the database refuse it. */
static ofp_issuer_rc_t settle_tx(settle_t *s, const ofp_batch_t *b, ofp_settled_batch_t *me)
{
	struct settle_tx t = { s, b, me };

	return iss_transact_queued(s->iss, OFP_LEDGER_QUEUE_SETTLEMENT, settle_body, &t);
}

/* Before the transaction: is this sequence settled already? Then the
 * transaction says so again (or refuses other records) and nothing needs
 * verifying; else verify now, with no lock held. */
static ofp_issuer_rc_t pre_verify(settle_t *s, const ofp_batch_t *b)
{
	ofp_settled_batch_t old;
	int lrc = ofp_ledger_batch_get(s->iss->ledger, s->env.verifier_id, s->env.sequence, &old);

	if (lrc == OFP_LEDGER_OK)
		return OFP_ISSUER_OK;
	if (lrc != OFP_LEDGER_NOT_FOUND)
		return iss_ledger_fail(s->iss, lrc);
	if (s->iss->creds == NULL)
		s->iss->creds = iss_cred_cache_new(s->iss->cred_cache_slots != 0 ? s->iss->cred_cache_slots
										   : ISS_CRED_CACHE_SLOTS);
	/* NULL (out of memory): every credential verified in full. */
	return verify_phase(s, b);
}

static void settle_free(settle_t *s)
{
	free(s->recs);
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
	rc = pre_verify(&s, &b);
	if (rc == OFP_ISSUER_OK)
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
