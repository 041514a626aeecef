/* test-settle.c - settlement of sealed batches built here the way a gate
 * builds them: presentations signed by an OpenSSL holder key, journal
 * records chained by hash, sealed with ofp_seal to the issuer's sealing
 * key on the token. */
#include "config.h"

#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "atomic_file.h"
#include "issuer/internal.h"
#include "issuer/settle_int.h"
#include "issuer/test-kit.h"
#include "issuer/test-token.h"
#include "format/sig.h"

#define T0 (TT_NOW + 60)

static tt_env_t env;
static ofp_issuer_t *iss;
static tk_holder_t alice;
static uint8_t cred[OFP_CREDENTIAL_MAX];
static size_t cred_len;
static tk_gate_t gate_a, gate_b;
static uint8_t seal_pub[OFP_P256_UNCOMPRESSED_LEN];

typedef struct notes {
	ofp_settle_note_t n[32];
	size_t count;
} notes_t;

static notes_t notes;

static void on_note(void *ctx, const ofp_settle_note_t *n)
{
	notes_t *ns = ctx;

	if (ns->count < OFP_ARRAY_LEN(ns->n))
		ns->n[ns->count++] = *n;
}

static size_t count_notes(ofp_settle_note_kind_t kind)
{
	size_t n = 0;

	for (size_t i = 0; i < notes.count; i++)
		n += notes.n[i].kind == kind;
	return n;
}

static void open_account(const char *name, int64_t balance, tk_holder_t *h)
{
	ofp_account_t a;
	uint32_t expires;

	ck_assert(tk_holder_new(h, OFP_ALG_P256, (const uint8_t *)"\0\0\0\0\0\0\0\0", NULL));
	ck_assert_msg(ofp_issuer_account_open(iss, name, &a, h->code, &expires) == OFP_ISSUER_OK, "%s",
		      ofp_issuer_error(iss));
	memcpy(h->holder_id, a.holder_id, OFP_ID_LEN);
	h->has_code = true;
	ck_assert_int_eq(ofp_ledger_credit(ofp_issuer_ledger(iss), name, balance, TT_NOW, NULL), OFP_LEDGER_OK);
}

static void issue_for(const tk_holder_t *h, uint8_t *out, size_t *len)
{
	uint8_t req[OFP_ENROLLMENT_MAX];
	size_t req_len;

	ck_assert(tk_enrollment(h, TT_NOW, req, &req_len));
	ck_assert_msg(ofp_issuer_issue(iss, req, req_len, NULL, out, len, NULL) == OFP_ISSUER_OK, "%s",
		      ofp_issuer_error(iss));
}

static void register_gate(tk_gate_t *g, uint8_t id_byte)
{
	uint8_t id[OFP_ID_LEN];

	memset(id, id_byte, sizeof(id));
	ck_assert(tk_gate_new(g, id, NULL));
	ck_assert_msg(ofp_issuer_gate_add(iss, id, g->pub, sizeof(g->pub), false, NULL) == OFP_ISSUER_OK, "%s",
		      ofp_issuer_error(iss));
}

static void setup(void)
{
	ofp_issuer_config_t cfg;
	uint8_t *trust = NULL;
	size_t len;
	char path[400];

	memset(&notes, 0, sizeof(notes));
	if (!tt_setup(&env, true))
		return;
	tt_config(&env, &cfg);
	iss = tt_issuer_init(&env, &cfg, TT_NOW);
	open_account("alice", 2000, &alice);
	issue_for(&alice, cred, &cred_len);
	register_gate(&gate_a, 0xa1);
	register_gate(&gate_b, 0xb2);
	snprintf(path, sizeof(path), "%s/%s", env.issuer_dir, OFP_ISSUER_TRUST);
	ck_assert_int_eq(file_read_all(path, OFP_TRUST_LIST_MAX, &trust, &len), 0);
	ck_assert(tk_trust_sealing_key(trust, len, seal_pub));
	free(trust);
}

static void teardown(void)
{
	tk_gate_free(&gate_a);
	tk_gate_free(&gate_b);
	tk_holder_free(&alice);
	ofp_issuer_close(iss);
	iss = NULL;
	tt_teardown(&env);
}

static int64_t balance(const char *name)
{
	ofp_account_t a;

	ck_assert_int_eq(ofp_ledger_account_get(ofp_issuer_ledger(iss), name, &a), OFP_LEDGER_OK);
	return a.balance;
}

/* Alice's presentation with this counter and amount, operated at g. */
static void operate(tk_gate_t *g, const tk_holder_t *h, const uint8_t *c, size_t c_len, uint32_t counter,
		    uint32_t amount)
{
	uint8_t pres[OFP_PRESENTATION_MAX];
	size_t len;
	uint32_t t = T0 + counter;

	ck_assert(tk_presentation(h, c, c_len, t, counter, amount, pres, &len));
	ck_assert(tk_gate_record(g, true, 0, t, pres, len));
}

static uint8_t *seal(tk_gate_t *g, size_t *len)
{
	uint8_t *out = NULL;

	ck_assert(tk_gate_seal(g, 0, seal_pub, T0, &out, len));
	return out;
}

static ofp_issuer_rc_t settle(const uint8_t *b, size_t len, ofp_settle_report_t *r)
{
	return ofp_issuer_settle(iss, b, len, on_note, &notes, r);
}

/* The batch's own charges (settle_charged.c): records whose auth hashes
 * share their first 8 bytes (the part hashed) land on one chain and are
 * told apart by the whole hash; a key and counter is found by both, the
 * first charged one kept. */
START_TEST(test_charged_set_compares_in_full)
{
	enum { N = 300 };
	settle_rec_t *recs = calloc(N, sizeof(*recs));
	settle_charged_t c;

	ck_assert_ptr_nonnull(recs);
	for (uint32_t i = 0; i < N; i++) {
		memset(recs[i].charge.auth_hash, 0x5a, OFP_HASH_LEN);
		memcpy(recs[i].charge.auth_hash + 8, &i, sizeof(i));
		recs[i].charge.holder_key_len = 33;
		recs[i].charge.holder_key[0] = 2;
		recs[i].charge.counter = i / 2; /* pairs share key and counter */
	}
	ck_assert(settle_charged_init(&c, recs, N));
	for (uint32_t i = 0; i < N; i += 3)
		settle_charged_add(&c, i);
	for (uint32_t i = 0; i < N; i++) {
		const ofp_charge_t *ch = &recs[i].charge;
		int64_t by_counter = settle_charged_counter(&c, ch->holder_key, ch->holder_key_len, ch->counter);
		int64_t want = i % 3 == 0 ? (int64_t)i : -1;
		ck_assert_int_eq(settle_charged_auth(&c, ch->auth_hash), want);
		/* pair {2k, 2k+1}: the first of the two that was added */
		want = (i / 2 * 2) % 3 == 0 ? (int64_t)(i / 2 * 2) : (i / 2 * 2 + 1) % 3 == 0 ? (int64_t)(i / 2 * 2 + 1) : -1;
		ck_assert_int_eq(by_counter, want);
	}
	ck_assert_int_eq(settle_charged_counter(&c, recs[0].charge.holder_key, 32, 0), -1); /* another length */
	settle_charged_free(&c);
	free(recs);
}
END_TEST

/* A settlement on its own thread (the issuer's connection). */
struct settle_probe {
	const uint8_t *b;
	size_t len;
	ofp_settle_report_t r;
	ofp_issuer_rc_t rc;
};

static void *settle_main(void *arg)
{
	struct settle_probe *p = arg;

	p->rc = settle(p->b, p->len, &p->r);
	return NULL;
}

/* PostgreSQL: a settlement locks its accounts in ascending holder-id
 * order before it writes, as a grouped issuance does. An issuance (a
 * second connection) holds the lower account and then asks for the
 * higher one, while the settlement of a batch whose records name the
 * higher account first waits for the lower: had the settlement written
 * the higher account's charge first (its history row takes a share lock
 * on the account), the two would wait for each other and PostgreSQL would
 * kill one of them (a deadlock, found after deadlock_timeout). SQLite
 * queues every writer at BEGIN: nothing to see there. */
START_TEST(test_settlement_locks_in_holder_order)
{
	static const uint8_t key[32] = { 9 };
	uint8_t entry[OFP_DENY_ENTRY_LEN], bob_cred[OFP_CREDENTIAL_MAX];
	struct settle_probe p = { 0 };
	ofp_ledger_stats_t before, after;
	ofp_holder_standing_t hs;
	tk_holder_t bob, *lo, *hi;
	const uint8_t *hi_cred;
	size_t bob_len, hi_len;
	ofp_ledger_t *l2;
	char err[512];
	pthread_t t;

	TT_NEED_TOKEN(&env);
	if (!env.pg)
		return;
	open_account("bob", 2000, &bob);
	issue_for(&bob, bob_cred, &bob_len);
	lo = memcmp(alice.holder_id, bob.holder_id, OFP_ID_LEN) < 0 ? &alice : &bob;
	hi = lo == &alice ? &bob : &alice;
	hi_cred = hi == &alice ? cred : bob_cred;
	hi_len = hi == &alice ? cred_len : bob_len;
	operate(&gate_a, hi, hi_cred, hi_len, 1, 100);
	operate(&gate_a, lo, lo == &alice ? cred : bob_cred, lo == &alice ? cred_len : bob_len, 2, 100);
	p.b = seal(&gate_a, &p.len);

	ck_assert_msg(ofp_ledger_open(env.ledger, false, &l2, err, sizeof(err)) == OFP_LEDGER_OK, "%s", err);
	ofp_deny_entry_holder(entry, lo->holder_id);
	ck_assert_int_eq(ofp_ledger_begin_queued(l2, OFP_LEDGER_QUEUE_ISSUANCE), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_holder_standing(l2, lo->holder_id, entry, key, sizeof(key), &hs), OFP_LEDGER_OK);
	ofp_ledger_stats(ofp_issuer_ledger(iss), &before);
	ck_assert_int_eq(pthread_create(&t, NULL, settle_main, &p), 0);
	nanosleep(&(struct timespec){ 0, 300 * 1000 * 1000 }, NULL); /* the settlement waits for lo by now */
	ofp_deny_entry_holder(entry, hi->holder_id);
	ck_assert_msg(ofp_ledger_holder_standing(l2, hi->holder_id, entry, key, sizeof(key), &hs) == OFP_LEDGER_OK, "%s",
		      ofp_ledger_error(l2));
	ck_assert_int_eq(ofp_ledger_commit(l2), OFP_LEDGER_OK);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_msg(p.rc == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert_uint_eq(p.r.charged, 2);
	ofp_ledger_stats(ofp_issuer_ledger(iss), &after);
	ck_assert_uint_eq(after.conflicts, before.conflicts); /* not killed and run again */
	ck_assert_int_eq(balance("alice"), 1900);
	ck_assert_int_eq(balance("bob"), 1900);
	ofp_ledger_close(l2);
	tk_holder_free(&bob);
	free((void *)p.b);
}
END_TEST

/* ---- the ordinary case --------------------------------------------------------------------- */

START_TEST(test_settle_debits)
{
	ofp_settle_report_t r;
	uint8_t *b;
	size_t len;

	TT_NEED_TOKEN(&env);
	operate(&gate_a, &alice, cred, cred_len, 1, 150);
	operate(&gate_a, &alice, cred, cred_len, 2, 250);
	b = seal(&gate_a, &len);
	ck_assert_msg(settle(b, len, &r) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert(!r.already_settled);
	ck_assert_uint_eq(r.sequence, 1);
	ck_assert_uint_eq(r.records, 2);
	ck_assert_uint_eq(r.charged, 2);
	ck_assert_uint_eq(r.amount_charged, 400);
	ck_assert_uint_eq(notes.count, 0);
	ck_assert_int_eq(balance("alice"), 1600);
	free(b);
}
END_TEST

START_TEST(test_same_batch_twice)
{
	ofp_settle_report_t r;
	uint8_t *b;
	size_t len;

	TT_NEED_TOKEN(&env);
	operate(&gate_a, &alice, cred, cred_len, 1, 150);
	b = seal(&gate_a, &len);
	ck_assert_int_eq(settle(b, len, &r), OFP_ISSUER_OK);
	ck_assert_int_eq(balance("alice"), 1850);
	ck_assert_int_eq(settle(b, len, &r), OFP_ISSUER_OK);
	ck_assert(r.already_settled);
	ck_assert_uint_eq(r.charged, 0);
	ck_assert_int_eq(balance("alice"), 1850);
	free(b);
}
END_TEST

START_TEST(test_resealed_batch_is_the_same)
{
	ofp_settle_report_t r;
	uint8_t *b1, *b2;
	size_t l1, l2;
	tk_gate_t copy;

	TT_NEED_TOKEN(&env);
	operate(&gate_a, &alice, cred, cred_len, 1, 150);
	/* The same records sealed again (a new ephemeral key): same batch. */
	copy = gate_a;
	copy.records = malloc(gate_a.records_len);
	memcpy(copy.records, gate_a.records, gate_a.records_len);
	copy.key = NULL;
	b1 = seal(&gate_a, &l1);
	copy.key = gate_a.key;
	ck_assert(tk_gate_seal(&copy, 0, seal_pub, T0, &b2, &l2));
	free(copy.records);
	ck_assert_int_ne(memcmp(b1, b2, l1), 0);
	ck_assert_int_eq(settle(b1, l1, &r), OFP_ISSUER_OK);
	ck_assert_int_eq(settle(b2, l2, &r), OFP_ISSUER_OK);
	ck_assert(r.already_settled);
	ck_assert_int_eq(balance("alice"), 1850);
	free(b1);
	free(b2);
}
END_TEST

START_TEST(test_other_batch_same_sequence)
{
	ofp_settle_report_t r;
	uint8_t *b1, *b2;
	size_t l1, l2;

	TT_NEED_TOKEN(&env);
	operate(&gate_a, &alice, cred, cred_len, 1, 150);
	b1 = seal(&gate_a, &l1);
	ck_assert_int_eq(settle(b1, l1, &r), OFP_ISSUER_OK);
	operate(&gate_a, &alice, cred, cred_len, 2, 300);
	ck_assert(tk_gate_seal(&gate_a, 1, seal_pub, T0, &b2, &l2)); /* sequence 1 again */
	ck_assert_int_eq(settle(b2, l2, &r), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "other records"));
	ck_assert_int_eq(balance("alice"), 1850);
	free(b1);
	free(b2);
}
END_TEST

/* ---- double use, gaps, chains --------------------------------------------------------------- */

START_TEST(test_double_use_two_gates)
{
	ofp_settle_report_t r;
	ofp_account_t a;
	uint8_t pres[OFP_PRESENTATION_MAX], *b1, *b2;
	size_t len, l1, l2;
	int64_t uses = 0;

	TT_NEED_TOKEN(&env);
	/* One authorization (a photographed code), shown at two gates. */
	ck_assert(tk_presentation(&alice, cred, cred_len, T0, 7, 200, pres, &len));
	ck_assert(tk_gate_record(&gate_a, true, 0, T0, pres, len));
	ck_assert(tk_gate_record(&gate_b, true, 0, T0 + 5, pres, len));
	operate(&gate_b, &alice, cred, cred_len, 8, 100);
	b1 = seal(&gate_a, &l1);
	b2 = seal(&gate_b, &l2);
	ck_assert_int_eq(settle(b1, l1, &r), OFP_ISSUER_OK);
	ck_assert_uint_eq(r.charged, 1);
	ck_assert_msg(settle(b2, l2, &r) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert_uint_eq(r.charged, 1);
	ck_assert_uint_eq(r.double_uses, 1);
	ck_assert_int_eq(balance("alice"), 2000 - 200 - 100);
	ck_assert_uint_eq(count_notes(OFP_SETTLE_DOUBLE_USE), 1);
	ck_assert_uint_eq(notes.n[0].counter, 7);
	ck_assert_uint_eq(notes.n[0].first_sequence, 1);
	ck_assert_int_eq(memcmp(notes.n[0].first_verifier_id, gate_a.id, OFP_ID_LEN), 0);
	ck_assert_ptr_nonnull(strstr(notes.n[0].text, "double use"));
	ck_assert_int_eq(ofp_ledger_account_get(ofp_issuer_ledger(iss), "alice", &a), OFP_LEDGER_OK);
	ck_assert(a.flagged);
	ck_assert_int_eq(ofp_ledger_double_use_count(ofp_issuer_ledger(iss), a.holder_id, &uses), OFP_LEDGER_OK);
	ck_assert_int_eq(uses, 1);
	free(b1);
	free(b2);
}
END_TEST

/* A holder who rolled back his counter signs two different
 * authorizations with one counter (issue 7, 3): both operate at two
 * gates; both are charged, and the account is flagged. */
START_TEST(test_counter_reuse_charged_twice)
{
	ofp_settle_report_t r;
	ofp_account_t a;
	uint8_t *b1, *b2;
	size_t l1, l2;
	int64_t uses = 0;

	TT_NEED_TOKEN(&env);
	operate(&gate_a, &alice, cred, cred_len, 5, 200);
	operate(&gate_b, &alice, cred, cred_len, 5, 300); /* counter 5 again, another amount */
	b1 = seal(&gate_a, &l1);
	b2 = seal(&gate_b, &l2);
	ck_assert_int_eq(settle(b1, l1, &r), OFP_ISSUER_OK);
	ck_assert_msg(settle(b2, l2, &r) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert_uint_eq(r.charged, 1);
	ck_assert_uint_eq(r.counter_reuses, 1);
	ck_assert_uint_eq(r.double_uses, 0);
	ck_assert_int_eq(balance("alice"), 2000 - 200 - 300);
	ck_assert_uint_eq(count_notes(OFP_SETTLE_COUNTER_REUSE), 1);
	ck_assert_ptr_nonnull(strstr(notes.n[0].text, "counter reuse"));
	ck_assert_int_eq(ofp_ledger_account_get(ofp_issuer_ledger(iss), "alice", &a), OFP_LEDGER_OK);
	ck_assert(a.flagged);
	ck_assert_int_eq(ofp_ledger_double_use_count(ofp_issuer_ledger(iss), a.holder_id, &uses), OFP_LEDGER_OK);
	ck_assert_int_eq(uses, 1);
	free(b1);
	free(b2);
}
END_TEST

/* Charges follow the holder KEY: a second device (another key of the same
 * account) may count from 1 too; nothing is a double use. */
/* Within one batch: the same authorization twice (a gate that recorded a
 * copied code twice) is charged once, and the same key and counter over
 * other contents is charged and reported. The batch's look-ups are made
 * before its first charge (one statement on PostgreSQL): these are found
 * among the batch's own charges. */
START_TEST(test_copy_and_counter_reuse_in_one_batch)
{
	ofp_settle_report_t r;
	ofp_account_t a;
	uint8_t pres[OFP_PRESENTATION_MAX], *b;
	size_t len, blen;

	TT_NEED_TOKEN(&env);
	ck_assert(tk_presentation(&alice, cred, cred_len, T0, 7, 200, pres, &len));
	ck_assert(tk_gate_record(&gate_a, true, 0, T0, pres, len));
	operate(&gate_a, &alice, cred, cred_len, 8, 100);
	ck_assert(tk_gate_record(&gate_a, true, 0, T0 + 1, pres, len));
	operate(&gate_a, &alice, cred, cred_len, 8, 50);
	b = seal(&gate_a, &blen);
	ck_assert_msg(settle(b, blen, &r) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert_uint_eq(r.records, 4);
	ck_assert_uint_eq(r.charged, 3);
	ck_assert_uint_eq(r.double_uses, 1);
	ck_assert_uint_eq(r.counter_reuses, 1);
	ck_assert_int_eq(balance("alice"), 2000 - 200 - 100 - 50);
	ck_assert_uint_eq(count_notes(OFP_SETTLE_DOUBLE_USE), 1);
	ck_assert_uint_eq(count_notes(OFP_SETTLE_COUNTER_REUSE), 1);
	for (size_t i = 0; i < notes.count; i++) {
		ck_assert_uint_eq(notes.n[i].first_sequence, 1);
		ck_assert_int_eq(memcmp(notes.n[i].first_verifier_id, gate_a.id, OFP_ID_LEN), 0);
		ck_assert_uint_eq(notes.n[i].record, notes.n[i].kind == OFP_SETTLE_DOUBLE_USE ? 2 : 3);
	}
	ck_assert_int_eq(ofp_ledger_account_get(ofp_issuer_ledger(iss), "alice", &a), OFP_LEDGER_OK);
	ck_assert(a.flagged);
	free(b);
}
END_TEST

START_TEST(test_two_keys_one_account)
{
	ofp_settle_report_t r;
	tk_holder_t phone;
	ofp_account_t a;
	uint8_t cred2[OFP_CREDENTIAL_MAX], *b;
	size_t cred2_len, len;
	uint32_t expires;

	TT_NEED_TOKEN(&env);
	ck_assert(tk_holder_new(&phone, OFP_ALG_P256, alice.holder_id, NULL));
	ck_assert_msg(ofp_issuer_enroll_code(iss, "alice", &a, phone.code, &expires) == OFP_ISSUER_OK, "%s",
		      ofp_issuer_error(iss));
	phone.has_code = true;
	ck_assert_int_eq(ofp_ledger_credit(ofp_issuer_ledger(iss), "alice", 3000, TT_NOW, NULL), OFP_LEDGER_OK);
	issue_for(&phone, cred2, &cred2_len); /* the next window, paid by the top-up */
	operate(&gate_a, &alice, cred, cred_len, 1, 100);
	{
		/* The phone's code, in its own window, counter 1 as well. */
		uint8_t pres[OFP_PRESENTATION_MAX];
		size_t plen;
		ofp_credential_t c2;
		ck_assert_int_eq(ofp_credential_decode(cred2, cred2_len, &c2, NULL), OFP_FMT_OK);
		ck_assert(tk_presentation(&phone, cred2, cred2_len, c2.not_before + 10, 1, 100, pres, &plen));
		ck_assert(tk_gate_record(&gate_a, true, 0, c2.not_before + 10, pres, plen));
	}
	b = seal(&gate_a, &len);
	ck_assert_msg(settle(b, len, &r) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert_uint_eq(r.charged, 2);
	ck_assert_uint_eq(r.double_uses + r.counter_reuses, 0);
	ck_assert_int_eq(balance("alice"), 5000 - 200);
	tk_holder_free(&phone);
	free(b);
}
END_TEST

/* 6b: a registered gate relabels what it refused, or records what no
 * honest gate would have operated: the issuer re-checks what needs no
 * gate state and charges none of it, naming the gate. */
START_TEST(test_settlement_rechecks)
{
	ofp_settle_report_t r;
	ofp_credential_t c;
	uint8_t pres[OFP_PRESENTATION_MAX], *b;
	size_t plen, len;

	TT_NEED_TOKEN(&env);
	ck_assert_int_eq(ofp_credential_decode(cred, cred_len, &c, NULL), OFP_FMT_OK);
	/* A code signed at T0, "operated" 24 hours later: stale. */
	ck_assert(tk_presentation(&alice, cred, cred_len, T0, 1, 100, pres, &plen));
	ck_assert(tk_gate_record(&gate_a, true, 0, T0 + 86400 - 200, pres, plen));
	/* Dated after the record time + skew. */
	ck_assert(tk_presentation(&alice, cred, cred_len, T0 + 1000, 2, 100, pres, &plen));
	ck_assert(tk_gate_record(&gate_a, true, 0, T0 + 100, pres, plen));
	/* Operated after the credential ended (fresh, but too late). */
	ck_assert(tk_presentation(&alice, cred, cred_len, c.not_after + 200, 3, 100, pres, &plen));
	ck_assert(tk_gate_record(&gate_a, true, 0, c.not_after + 200, pres, plen));
	/* Over the per-operation maximum (500). */
	ck_assert(tk_presentation(&alice, cred, cred_len, T0 + 10, 4, 501, pres, &plen));
	ck_assert(tk_gate_record(&gate_a, true, 0, T0 + 10, pres, plen));
	/* Within every rule: charged. Fresh at the edge (freshness 60 + skew 120). */
	ck_assert(tk_presentation(&alice, cred, cred_len, T0 + 20, 5, 100, pres, &plen));
	ck_assert(tk_gate_record(&gate_a, true, 0, T0 + 20 + 180, pres, plen));
	b = seal(&gate_a, &len);
	ck_assert_msg(settle(b, len, &r) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert_uint_eq(r.charged, 1);
	ck_assert_uint_eq(r.rejected, 4);
	ck_assert_int_eq(balance("alice"), 1900);
	ck_assert_uint_eq(count_notes(OFP_SETTLE_REJECTED), 4);
	ck_assert_ptr_nonnull(strstr(notes.n[0].text, "stale"));
	ck_assert_ptr_nonnull(strstr(notes.n[1].text, "dated after"));
	ck_assert_ptr_nonnull(strstr(notes.n[2].text, "validity"));
	ck_assert_ptr_nonnull(strstr(notes.n[3].text, "per-operation maximum"));
	ck_assert_ptr_nonnull(strstr(notes.n[3].text, "investigate gate a1a1a1a1a1a1a1a1"));
	free(b);
}
END_TEST

/* A gate that operates past a credential's offline total (2000 here):
 * the excess is the gate's fault, not charged. */
START_TEST(test_settlement_offline_total_per_gate)
{
	ofp_settle_report_t r;
	uint8_t *b;
	size_t len;

	TT_NEED_TOKEN(&env);
	for (uint32_t i = 1; i <= 5; i++)
		operate(&gate_a, &alice, cred, cred_len, i, 500);
	b = seal(&gate_a, &len);
	ck_assert_msg(settle(b, len, &r) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert_uint_eq(r.charged, 4);
	ck_assert_uint_eq(r.rejected, 1);
	ck_assert_ptr_nonnull(strstr(notes.n[0].text, "offline total"));
	ck_assert_int_eq(balance("alice"), 0);
	free(b);
}
END_TEST

START_TEST(test_gap_reported)
{
	ofp_settle_report_t r;
	uint8_t *b1, *b2, *b3;
	size_t l1, l2, l3;

	TT_NEED_TOKEN(&env);
	operate(&gate_a, &alice, cred, cred_len, 1, 100);
	b1 = seal(&gate_a, &l1);
	operate(&gate_a, &alice, cred, cred_len, 2, 100);
	b2 = seal(&gate_a, &l2);
	operate(&gate_a, &alice, cred, cred_len, 3, 100);
	b3 = seal(&gate_a, &l3);
	ck_assert_int_eq(settle(b1, l1, &r), OFP_ISSUER_OK);
	ck_assert_uint_eq(r.gaps, 0);
	/* Batch 2 lost on the way: 3 settles, the gap is listed. */
	ck_assert_int_eq(settle(b3, l3, &r), OFP_ISSUER_OK);
	ck_assert_uint_eq(r.charged, 1);
	ck_assert_uint_eq(r.gaps, 1);
	ck_assert_uint_eq(count_notes(OFP_SETTLE_GAP), 1);
	ck_assert_uint_eq(notes.n[0].gap_from, 2);
	ck_assert_uint_eq(notes.n[0].gap_to, 2);
	ck_assert_int_eq(balance("alice"), 1800);
	/* It arrives late: settled, no gap left, the chain links both ways. */
	notes.count = 0;
	ck_assert_int_eq(settle(b2, l2, &r), OFP_ISSUER_OK);
	ck_assert_uint_eq(r.gaps, 0);
	ck_assert_uint_eq(r.chain_breaks, 0);
	ck_assert_uint_eq(notes.count, 0);
	ck_assert_int_eq(balance("alice"), 1700);
	free(b1);
	free(b2);
	free(b3);
}
END_TEST

START_TEST(test_chain_break_reported)
{
	ofp_settle_report_t r;
	uint8_t *b1, *b2, *dropped;
	size_t l1, l2, ld;

	TT_NEED_TOKEN(&env);
	operate(&gate_a, &alice, cred, cred_len, 1, 100);
	b1 = seal(&gate_a, &l1);
	/* A record the gate journaled and then lost (or hid). */
	operate(&gate_a, &alice, cred, cred_len, 2, 100);
	dropped = malloc(gate_a.records_len);
	ld = gate_a.records_len;
	memcpy(dropped, gate_a.records, ld);
	gate_a.records_len = 0;
	gate_a.count = 0;
	operate(&gate_a, &alice, cred, cred_len, 3, 100);
	b2 = seal(&gate_a, &l2);
	ck_assert_int_eq(settle(b1, l1, &r), OFP_ISSUER_OK);
	ck_assert_int_eq(settle(b2, l2, &r), OFP_ISSUER_OK);
	ck_assert_uint_eq(r.chain_breaks, 1);
	ck_assert_uint_eq(count_notes(OFP_SETTLE_CHAIN), 1);
	ck_assert_ptr_nonnull(strstr(notes.n[0].text, "between batch 1 and batch 2"));
	free(dropped);
	free(b1);
	free(b2);
}
END_TEST

START_TEST(test_empty_batch)
{
	ofp_settle_report_t r;
	uint8_t *b;
	size_t len;

	TT_NEED_TOKEN(&env);
	b = seal(&gate_a, &len);
	ck_assert_msg(settle(b, len, &r) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert_uint_eq(r.records, 0);
	ck_assert_int_eq(balance("alice"), 2000);
	free(b);
}
END_TEST

/* ---- what is not charged ---------------------------------------------------------------------- */

START_TEST(test_forged_holder_signature)
{
	ofp_settle_report_t r;
	uint8_t pres[OFP_PRESENTATION_MAX], *b;
	size_t len, blen;

	TT_NEED_TOKEN(&env);
	operate(&gate_a, &alice, cred, cred_len, 1, 100);
	/* A gate inventing a charge: a valid credential, a bad holder signature. */
	ck_assert(tk_presentation(&alice, cred, cred_len, T0 + 2, 2, 400, pres, &len));
	pres[len - 10] ^= 0x40;
	ck_assert(tk_gate_record(&gate_a, true, 0, T0 + 2, pres, len));
	operate(&gate_a, &alice, cred, cred_len, 3, 100);
	b = seal(&gate_a, &blen);
	ck_assert_msg(settle(b, blen, &r) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert_uint_eq(r.charged, 2);
	ck_assert_uint_eq(r.rejected, 1);
	ck_assert_uint_eq(count_notes(OFP_SETTLE_REJECTED), 1);
	ck_assert_uint_eq(notes.n[0].record, 1);
	ck_assert_ptr_nonnull(strstr(notes.n[0].text, "holder signature"));
	ck_assert_int_eq(balance("alice"), 1800);
	free(b);
}
END_TEST

START_TEST(test_forged_credential)
{
	ofp_settle_report_t r;
	ofp_credential_t c;
	tk_holder_t mallory;
	uint8_t fake[OFP_CREDENTIAL_MAX], *b;
	size_t fake_len, blen;

	TT_NEED_TOKEN(&env);
	/* A credential for alice's account with the gate's own key in it,
	 * "signed" with garbage: the holder signature verifies, the
	 * issuer's does not. */
	ck_assert(tk_holder_new(&mallory, OFP_ALG_P256, alice.holder_id, NULL));
	ck_assert_int_eq(ofp_credential_decode(cred, cred_len, &c, NULL), OFP_FMT_OK);
	memcpy(c.holder_key, mallory.holder_key, mallory.holder_key_len);
	memset(c.issuer_sig, 0x5a, sizeof(c.issuer_sig));
	ck_assert_int_eq(ofp_credential_encode(&c, fake, sizeof(fake), &fake_len, NULL), OFP_FMT_OK);
	operate(&gate_a, &mallory, fake, fake_len, 1, 300);
	/* And one naming an issuer key id that never existed. */
	c.issuer_kid[0] ^= 0xff;
	ck_assert_int_eq(ofp_credential_encode(&c, fake, sizeof(fake), &fake_len, NULL), OFP_FMT_OK);
	operate(&gate_a, &mallory, fake, fake_len, 2, 300);
	b = seal(&gate_a, &blen);
	ck_assert_int_eq(settle(b, blen, &r), OFP_ISSUER_OK);
	ck_assert_uint_eq(r.charged, 0);
	ck_assert_uint_eq(r.rejected, 2);
	ck_assert_ptr_nonnull(strstr(notes.n[0].text, "issuer signature"));
	ck_assert_ptr_nonnull(strstr(notes.n[1].text, "key id"));
	ck_assert_int_eq(balance("alice"), 2000);
	tk_holder_free(&mallory);
	free(b);
}
END_TEST

START_TEST(test_refusals_and_unknown_holder)
{
	ofp_settle_report_t r;
	tk_holder_t bob;
	uint8_t pres[OFP_PRESENTATION_MAX], bob_cred[OFP_CREDENTIAL_MAX], *b;
	size_t len, bob_len, blen;

	TT_NEED_TOKEN(&env);
	/* A refusal is journaled but charges nothing. */
	ck_assert(tk_presentation(&alice, cred, cred_len, T0, 1, 100, pres, &len));
	ck_assert(tk_gate_record(&gate_a, false, OFP_REASON_REPLAY, T0, pres, len));
	ck_assert(tk_gate_record(&gate_a, false, OFP_REASON_MALFORMED, T0 + 1, (const uint8_t *)"junk", 4));
	/* A valid charge for a holder whose account is gone. */
	open_account("bob", 1000, &bob);
	issue_for(&bob, bob_cred, &bob_len);
	operate(&gate_a, &bob, bob_cred, bob_len, 1, 100);
	ck_assert(tt_ledger_sql(&env, "DELETE FROM history WHERE account = (SELECT id FROM accounts WHERE name = 'bob');"
				      "DELETE FROM holder_keys WHERE account = (SELECT id FROM accounts WHERE name = 'bob');"
				      "DELETE FROM enrollment_codes WHERE account = (SELECT id FROM accounts WHERE name = 'bob');"
				      "DELETE FROM accounts WHERE name = 'bob'"));
	b = seal(&gate_a, &blen);
	ck_assert_msg(settle(b, blen, &r) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert_uint_eq(r.refused, 2);
	ck_assert_uint_eq(r.unknown_holders, 1);
	ck_assert_uint_eq(r.charged, 0);
	ck_assert_uint_eq(count_notes(OFP_SETTLE_UNKNOWN_HOLDER), 1);
	ck_assert_int_eq(balance("alice"), 2000);
	tk_holder_free(&bob);
	free(b);
}
END_TEST

/* ---- refused batches change nothing --------------------------------------------------------------- */

static void assert_nothing_settled(void)
{
	ofp_settled_batch_t sb;

	ck_assert_int_eq(balance("alice"), 2000);
	ck_assert_int_eq(ofp_ledger_batch_get(ofp_issuer_ledger(iss), gate_a.id, 1, &sb), OFP_LEDGER_NOT_FOUND);
}

START_TEST(test_corrupted_batches)
{
	ofp_settle_report_t r;
	uint8_t *b, *bad;
	size_t len;

	TT_NEED_TOKEN(&env);
	operate(&gate_a, &alice, cred, cred_len, 1, 100);
	operate(&gate_a, &alice, cred, cred_len, 2, 100);
	b = seal(&gate_a, &len);
	bad = malloc(len + 1);
	/* Every byte region: header, ids, sequence, keys, nonce, ciphertext, tag, signature. */
	for (size_t i = 0; i < len; i += (i < 100 ? 3 : 29)) {
		memcpy(bad, b, len);
		bad[i] ^= 0x04;
		ck_assert_msg(settle(bad, len, &r) != OFP_ISSUER_OK, "bit flip at %zu accepted", i);
	}
	/* Truncated anywhere, a byte too many. */
	for (size_t cut = 0; cut < len; cut += 17)
		ck_assert_msg(settle(b, cut, &r) == OFP_ISSUER_REFUSED, "cut at %zu accepted", cut);
	memcpy(bad, b, len);
	bad[len] = 0;
	ck_assert_int_eq(settle(bad, len + 1, &r), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "trailing"));
	assert_nothing_settled();
	/* The intact batch still settles afterwards. */
	ck_assert_int_eq(settle(b, len, &r), OFP_ISSUER_OK);
	ck_assert_int_eq(balance("alice"), 1800);
	free(bad);
	free(b);
}
END_TEST

START_TEST(test_unknown_gate_and_wrong_keys)
{
	ofp_settle_report_t r;
	tk_gate_t stranger, impostor;
	uint8_t id[OFP_ID_LEN], *b, other_seal[OFP_P256_UNCOMPRESSED_LEN];
	size_t len, n;
	EVP_PKEY *k;

	TT_NEED_TOKEN(&env);
	memset(id, 0xcc, sizeof(id));
	ck_assert(tk_gate_new(&stranger, id, NULL));
	operate(&stranger, &alice, cred, cred_len, 1, 100);
	b = seal(&stranger, &len);
	ck_assert_int_eq(settle(b, len, &r), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "not registered"));
	free(b);
	/* Gate A's id with another key. */
	ck_assert(tk_gate_new(&impostor, gate_a.id, NULL));
	operate(&impostor, &alice, cred, cred_len, 1, 100);
	b = seal(&impostor, &len);
	ck_assert_int_eq(settle(b, len, &r), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "registered key id"));
	free(b);
	/* Sealed to a key that is not the issuer's. */
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ck_assert(ofp_sig_public_raw(k, OFP_ALG_P256, other_seal, &n));
	EVP_PKEY_free(k);
	operate(&gate_a, &alice, cred, cred_len, 1, 100);
	ck_assert(tk_gate_seal(&gate_a, 0, other_seal, T0, &b, &len));
	ck_assert_int_eq(settle(b, len, &r), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "not this issuer's sealing key"));
	free(b);
	assert_nothing_settled();
	tk_gate_free(&stranger);
	tk_gate_free(&impostor);
}
END_TEST

/* One transaction per batch: a record that cannot be booked undoes the
 * records before it. */
START_TEST(test_batch_is_atomic)
{
	ofp_settle_report_t r;
	tk_holder_t bob;
	uint8_t bob_cred[OFP_CREDENTIAL_MAX], *b;
	size_t bob_len, len;

	TT_NEED_TOKEN(&env);
	open_account("bob", 1000, &bob);
	issue_for(&bob, bob_cred, &bob_len);
	operate(&gate_a, &alice, cred, cred_len, 1, 100);
	operate(&gate_a, &bob, bob_cred, bob_len, 1, 100);
	b = seal(&gate_a, &len);
	/* Bob's balance at the bottom of the ledger's range: his debit fails. */
	ck_assert(tt_ledger_sql(&env, "UPDATE accounts SET balance = -1000000000000000 WHERE name = 'bob'"));
	ck_assert_int_ne(settle(b, len, &r), OFP_ISSUER_OK);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "range"));
	assert_nothing_settled();
	ck_assert_int_eq(balance("bob"), -1000000000000000LL);
	tk_holder_free(&bob);
	free(b);
}
END_TEST

START_TEST(test_gate_keys)
{
	ofp_gate_t g;
	uint8_t id[OFP_ID_LEN] = { 7, 7, 7, 7, 7, 7, 7, 7 }, compressed[OFP_P256_COMPRESSED_LEN];
	tk_gate_t other;
	char hex[2 * OFP_P256_UNCOMPRESSED_LEN + 2];

	TT_NEED_TOKEN(&env);
	/* 65 raw bytes, 33 compressed, hex text: the same key. */
	ck_assert_int_eq(ofp_issuer_parse_gate_key(iss, gate_a.pub, sizeof(gate_a.pub), &g), OFP_ISSUER_OK);
	ck_assert_int_eq(memcmp(g.kid, gate_a.kid, OFP_KEY_ID_LEN), 0);
	ck_assert_int_eq(ofp_p256_compress(gate_a.pub, compressed, NULL), OFP_FMT_OK);
	ck_assert_int_eq(ofp_issuer_parse_gate_key(iss, compressed, sizeof(compressed), &g), OFP_ISSUER_OK);
	ck_assert_int_eq(memcmp(g.key, gate_a.pub, sizeof(gate_a.pub)), 0);
	for (size_t i = 0; i < sizeof(gate_a.pub); i++)
		snprintf(hex + 2 * i, 3, "%02x", gate_a.pub[i]);
	strcat(hex, "\n");
	ck_assert_int_eq(ofp_issuer_parse_gate_key(iss, (const uint8_t *)hex, strlen(hex), &g), OFP_ISSUER_OK);
	ck_assert_int_eq(memcmp(g.kid, gate_a.kid, OFP_KEY_ID_LEN), 0);
	/* Not a key: wrong length, off the curve, junk. */
	ck_assert_int_eq(ofp_issuer_parse_gate_key(iss, gate_a.pub, 64, &g), OFP_ISSUER_REFUSED);
	compressed[0] = 0x04;
	ck_assert_int_eq(ofp_issuer_parse_gate_key(iss, compressed, sizeof(compressed), &g), OFP_ISSUER_REFUSED);
	memset(hex, 0x11, 65);
	hex[0] = 0x04;
	ck_assert_int_eq(ofp_issuer_parse_gate_key(iss, (const uint8_t *)hex, 65, &g), OFP_ISSUER_REFUSED);
	/* The same registration again is fine; another key needs replace. */
	ck_assert_int_eq(ofp_issuer_gate_add(iss, gate_a.id, gate_a.pub, 65, false, NULL), OFP_ISSUER_OK);
	ck_assert(tk_gate_new(&other, id, NULL));
	ck_assert_int_eq(ofp_issuer_gate_add(iss, gate_a.id, other.pub, 65, false, NULL), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "--replace"));
	ck_assert_int_eq(ofp_issuer_gate_add(iss, gate_a.id, other.pub, 65, true, &g), OFP_ISSUER_OK);
	ck_assert_int_eq(memcmp(g.kid, other.kid, OFP_KEY_ID_LEN), 0);
	tk_gate_free(&other);
}
END_TEST

/* ---- the pipeline: verify threads, the credential cache --------------------------------------- */

/* The settlement knobs (issuer/internal.h): verify threads (0: one per
 * CPU) and the credential cache's slots, before its first settlement. */
static void knobs(ofp_issuer_t *i, unsigned threads, size_t slots)
{
	i->settle_threads = threads;
	i->cred_cache_slots = slots;
}

static iss_cred_cache_stats_t cache_stats(void)
{
	iss_cred_cache_stats_t st;

	iss_cred_cache_stats(iss->creds, &st);
	return st;
}

/* n rides of h at g, counters from first, amount each; record bad (if
 * below n) carries a broken holder signature. */
static void rides(tk_gate_t *g, const tk_holder_t *h, const uint8_t *c, size_t c_len, uint32_t first, uint32_t n,
		  uint32_t amount, uint32_t bad)
{
	for (uint32_t i = 0; i < n; i++) {
		uint8_t pres[OFP_PRESENTATION_MAX];
		size_t len;
		uint32_t t = T0 + first + i;

		ck_assert(tk_presentation(h, c, c_len, t, first + i, amount, pres, &len));
		if (i == bad)
			pres[len - 10] ^= 0x40;
		ck_assert(tk_gate_record(g, true, 0, t, pres, len));
	}
}

/* A bad record in the second half of a batch, which the other thread
 * verifies: refused exactly as the serial path refuses it. */
START_TEST(test_bad_record_other_thread)
{
	ofp_settle_report_t r;
	uint8_t *b;
	size_t len;

	TT_NEED_TOKEN(&env);
	knobs(iss, 2, 0);
	rides(&gate_a, &alice, cred, cred_len, 1, 256, 1, 200);
	b = seal(&gate_a, &len);
	ck_assert_msg(settle(b, len, &r) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert_uint_eq(r.records, 256);
	ck_assert_uint_eq(r.charged, 255);
	ck_assert_uint_eq(r.rejected, 1);
	ck_assert_uint_eq(notes.count, 1);
	ck_assert_uint_eq(notes.n[0].kind, OFP_SETTLE_REJECTED);
	ck_assert_uint_eq(notes.n[0].record, 200);
	ck_assert_uint_eq(notes.n[0].counter, 201);
	ck_assert_ptr_nonnull(strstr(notes.n[0].text, "holder signature"));
	ck_assert_int_eq(balance("alice"), 2000 - 255);
	/* One credential, one issuer verify, however many threads met it. */
	ck_assert_uint_eq(cache_stats().verifies, 1);
	free(b);
}
END_TEST

/* A hand edit of the ledger, whichever backend holds it. */
static void ledger_exec(const char *sql)
{
	ck_assert_msg(tt_ledger_sql(&env, sql), "%s", sql);
}

/* The cache keeps a credential across batches, but only while the ledger
 * keeps the key that verified it: an operator who removes a signing key
 * (or whose ledger has another key under its id) gets no charge through a
 * verdict the cache made before. */
START_TEST(test_cache_follows_the_keys)
{
	ofp_settle_report_t r;
	uint8_t *b, other[OFP_P256_UNCOMPRESSED_LEN];
	char *sql_hex;
	size_t len, n;
	char sql[400];
	EVP_PKEY *k;

	TT_NEED_TOKEN(&env);
	rides(&gate_a, &alice, cred, cred_len, 1, 3, 10, UINT32_MAX);
	b = seal(&gate_a, &len);
	ck_assert_int_eq(settle(b, len, &r), OFP_ISSUER_OK);
	free(b);
	ck_assert_uint_eq(r.charged, 3);
	ck_assert_uint_eq(cache_stats().verifies, 1);
	ck_assert_uint_eq(cache_stats().entries, 1);
	/* The next batch: a hit, no issuer verify. */
	rides(&gate_a, &alice, cred, cred_len, 4, 2, 10, UINT32_MAX);
	b = seal(&gate_a, &len);
	ck_assert_int_eq(settle(b, len, &r), OFP_ISSUER_OK);
	free(b);
	ck_assert_uint_eq(r.charged, 2);
	ck_assert_uint_eq(cache_stats().verifies, 1);
	ck_assert_uint_eq(cache_stats().hits, 2 + 2); /* batch 1: the rides after the first; batch 2: both */
	/* Another public key under the signing key's id: not the key that
	 * verified the cached credential; verified again, and it fails. */
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ck_assert(ofp_sig_public_raw(k, OFP_ALG_P256, other, &n));
	EVP_PKEY_free(k);
	sql_hex = malloc(2 * n + 1);
	for (size_t i = 0; i < n; i++)
		snprintf(sql_hex + 2 * i, 3, "%02x", other[i]);
	/* A blob literal both backends read: x'..' in SQLite, decode() in
	 * PostgreSQL. */
	snprintf(sql, sizeof(sql),
		 env.pg ? "UPDATE issuer_keys SET public_key = decode('%s', 'hex') WHERE usage = 1"
			: "UPDATE issuer_keys SET public_key = x'%s' WHERE usage = 1",
		 sql_hex);
	free(sql_hex);
	ledger_exec(sql);
	rides(&gate_a, &alice, cred, cred_len, 6, 2, 10, UINT32_MAX);
	b = seal(&gate_a, &len);
	ck_assert_int_eq(settle(b, len, &r), OFP_ISSUER_OK);
	free(b);
	ck_assert_uint_eq(r.charged, 0);
	ck_assert_uint_eq(r.rejected, 2);
	ck_assert_ptr_nonnull(strstr(notes.n[notes.count - 1].text, "issuer signature does not verify"));
	/* The key removed: its credentials name a key the issuer does not have. */
	ledger_exec("DELETE FROM issuer_keys WHERE usage = 1");
	rides(&gate_a, &alice, cred, cred_len, 8, 2, 10, UINT32_MAX);
	b = seal(&gate_a, &len);
	ck_assert_int_eq(settle(b, len, &r), OFP_ISSUER_OK);
	free(b);
	ck_assert_uint_eq(r.charged, 0);
	ck_assert_uint_eq(r.rejected, 2);
	ck_assert_ptr_nonnull(strstr(notes.n[notes.count - 1].text, "names a key id this issuer never had"));
	ck_assert_int_eq(balance("alice"), 2000 - 50);
}
END_TEST

/* The cache holds at most its slots, whatever the batch: more credentials
 * than slots evict each other and settle all the same. */
START_TEST(test_cache_bound)
{
	ofp_settle_report_t r;
	tk_holder_t h[6];
	uint8_t c[6][OFP_CREDENTIAL_MAX], *b;
	size_t c_len[6], len;
	char name[16];

	TT_NEED_TOKEN(&env);
	knobs(iss, 2, 2);
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "rider%d", i);
		open_account(name, 1000, &h[i]);
		issue_for(&h[i], c[i], &c_len[i]);
	}
	for (uint32_t k = 1; k <= 40; k++)
		rides(&gate_a, &h[k % 6], c[k % 6], c_len[k % 6], k, 1, 7, UINT32_MAX);
	b = seal(&gate_a, &len);
	ck_assert_msg(settle(b, len, &r) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	free(b);
	ck_assert_uint_eq(r.charged, 40);
	ck_assert_uint_eq(cache_stats().slots, 2);
	ck_assert_uint_le(cache_stats().entries, 2);
	ck_assert_uint_ge(cache_stats().verifies, 6);
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "rider%d", i);
		/* Rider k % 6 rode at k = 1..40: riders 0 and 5 six times, the others seven. */
		ck_assert_int_eq(balance(name), 1000 - 7 * (i == 0 || i == 5 ? 6 : 7));
		tk_holder_free(&h[i]);
	}
}
END_TEST

/* ---- the same ledger, serial or parallel ---------------------------------------------------------- */

typedef struct dump {
	char *text;
	size_t len, cap;
	/* Holder ids are random: the dump names their accounts instead. */
	char hex[8][2 * OFP_ID_LEN + 1];
	char name[8][16];
	size_t n_names;
} dump_t;

static void dump_put(dump_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void dump_put(dump_t *d, const char *fmt, ...)
{
	char line[1200], *at;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < d->n_names; i++)
		while ((at = strstr(line, d->hex[i])) != NULL) {
			size_t hl = strlen(d->hex[i]), nl = strlen(d->name[i]);
			memmove(at + nl, at + hl, strlen(at + hl) + 1);
			memcpy(at, d->name[i], nl);
		}
	n = strlen(line);
	if (d->len + n + 1 > d->cap) {
		d->cap = (d->len + n + 1) * 2;
		d->text = realloc(d->text, d->cap);
		ck_assert_ptr_nonnull(d->text);
	}
	memcpy(d->text + d->len, line, n + 1);
	d->len += n;
}

static void dump_name(dump_t *d, const char *name, const uint8_t id[OFP_ID_LEN])
{
	ck_assert_uint_lt(d->n_names, 8);
	for (size_t i = 0; i < OFP_ID_LEN; i++)
		snprintf(d->hex[d->n_names] + 2 * i, 3, "%02x", id[i]);
	snprintf(d->name[d->n_names], sizeof(d->name[0]), "%s", name);
	d->n_names++;
}

static void dump_settle(dump_t *d, const char *what, const uint8_t *b, size_t len)
{
	ofp_settle_report_t r;
	ofp_issuer_rc_t rc;

	notes.count = 0;
	rc = settle(b, len, &r);
	/* (A refusal's text has the batches' digests: not dumped.) */
	dump_put(d, "settle %s: rc %d records %u refused %u charged %u (%" PRIu64 ") rejected %u copies %u reuses %u "
		    "unknown %u gaps %u chain %u already %d\n",
		 what, (int)rc, r.records,
		 r.refused, r.charged, r.amount_charged, r.rejected, r.double_uses, r.counter_reuses, r.unknown_holders,
		 r.gaps, r.chain_breaks, (int)r.already_settled);
	for (size_t i = 0; i < notes.count; i++)
		dump_put(d, "  note %d record %u counter %u amount %u first %" PRIu64 " gap %" PRIu64 "..%" PRIu64 ": %s\n",
			 (int)notes.n[i].kind, notes.n[i].record, notes.n[i].counter, notes.n[i].amount,
			 notes.n[i].first_sequence, notes.n[i].gap_from, notes.n[i].gap_to, notes.n[i].text);
}

static void dump_rows(dump_t *d, sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;

	ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(db));
	dump_put(d, "%s\n", sql);
	while (sqlite3_step(st) == SQLITE_ROW) {
		dump_put(d, " ");
		for (int c = 0; c < sqlite3_column_count(st); c++)
			dump_put(d, " %s", sqlite3_column_type(st, c) == SQLITE_NULL ? "NULL"
										  : (const char *)sqlite3_column_text(st, c));
		dump_put(d, "\n");
	}
	sqlite3_finalize(st);
}

/* Every book settlement writes (of the history, its own entries: the
 * others are issuance's), in a form that does not depend on the random
 * keys (no signatures, hashes or holder ids: account names). */
static void dump_ledger(dump_t *d)
{
	char path[400];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/%s", env.issuer_dir, OFP_ISSUER_LEDGER);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	dump_rows(d, db, "SELECT name, balance, credit_line, flagged FROM accounts ORDER BY name");
	dump_rows(d, db,
		  "SELECT a.name, h.time, h.kind, h.amount, h.balance, h.ref FROM history h JOIN accounts a ON a.id = "
		  "h.account WHERE h.kind IN ('charge', 'double-use', 'counter-reuse') ORDER BY h.id");
	dump_rows(d, db,
		  "SELECT COALESCE(a.name, hex(c.holder_id)), c.counter, hex(c.verifier_id), c.batch, c.amount, c.serial, "
		  "c.time FROM charges c LEFT JOIN accounts a ON a.holder_id = c.holder_id ORDER BY c.rowid");
	dump_rows(d, db,
		  "SELECT COALESCE(a.name, hex(u.holder_id)), u.counter, hex(u.verifier_id), u.batch, u.amount, u.serial, "
		  "u.time, u.kind, u.found_at FROM double_uses u LEFT JOIN accounts a ON a.holder_id = u.holder_id ORDER "
		  "BY u.id");
	dump_rows(d, db,
		  "SELECT hex(verifier_id), sequence, records, settled_at, period_end FROM batches ORDER BY verifier_id, "
		  "sequence");
	sqlite3_close(db);
}

/* Everything settlement tells apart, in one batch set: charges, refusals,
 * a forged signature in each half of a long batch, a copy across gates, a
 * counter reuse, the offline total at a gate, an unknown holder, a batch
 * late (a gap, then none), the same batch again, other records under a
 * settled number; the ledger and every report and note dumped. */
static char *scenario(unsigned threads, size_t slots)
{
	dump_t d;
	tk_holder_t bob, carol, dave;
	uint8_t bob_c[OFP_CREDENTIAL_MAX], carol_c[OFP_CREDENTIAL_MAX], dave_c[OFP_CREDENTIAL_MAX];
	uint8_t pres[OFP_PRESENTATION_MAX], *a1, *a2, *a3, *a4, *b1, *b2, *x;
	size_t bob_l, carol_l, dave_l, plen, l1, l2, l3, l4, m1, m2, lx;

	memset(&d, 0, sizeof(d));
	knobs(iss, threads, slots);
	open_account("bob", 5000, &bob);
	issue_for(&bob, bob_c, &bob_l);
	open_account("carol", 700, &carol);
	issue_for(&carol, carol_c, &carol_l);
	open_account("dave", 600, &dave);
	issue_for(&dave, dave_c, &dave_l);
	dump_name(&d, "alice", alice.holder_id);
	dump_name(&d, "bob", bob.holder_id);
	dump_name(&d, "carol", carol.holder_id);
	dump_name(&d, "dave", dave.holder_id);
	/* Gate A, batch 1: rides, a refusal, a forged one. */
	ck_assert(tk_presentation(&alice, cred, cred_len, T0 + 1, 1, 100, pres, &plen));
	ck_assert(tk_gate_record(&gate_a, true, 0, T0 + 1, pres, plen));
	operate(&gate_a, &bob, bob_c, bob_l, 1, 200);
	operate(&gate_a, &carol, carol_c, carol_l, 1, 300);
	ck_assert(tk_gate_record(&gate_a, false, OFP_REASON_REPLAY, T0 + 2, pres, plen));
	rides(&gate_a, &alice, cred, cred_len, 2, 3, 50, 1);
	operate(&gate_a, &dave, dave_c, dave_l, 1, 100);
	a1 = seal(&gate_a, &l1);
	/* Gate B, batch 1: alice's first code again (a copy), bob's counter
	 * 1 over another amount (a reuse), carol past her offline total. */
	ck_assert(tk_gate_record(&gate_b, true, 0, T0 + 9, pres, plen));
	operate(&gate_b, &bob, bob_c, bob_l, 1, 150);
	rides(&gate_b, &carol, carol_c, carol_l, 2, 4, 200, UINT32_MAX);
	b1 = seal(&gate_b, &m1);
	/* Gate B, batch 2: a long one, forged signatures in both halves. */
	rides(&gate_b, &bob, bob_c, bob_l, 10, 70, 3, 20);
	rides(&gate_b, &bob, bob_c, bob_l, 100, 70, 3, 50);
	b2 = seal(&gate_b, &m2);
	/* Gate A, batches 2 to 4, 3 arriving before 2. */
	rides(&gate_a, &alice, cred, cred_len, 10, 2, 400, UINT32_MAX);
	a2 = seal(&gate_a, &l2);
	rides(&gate_a, &alice, cred, cred_len, 20, 5, 400, UINT32_MAX);
	a3 = seal(&gate_a, &l3);
	rides(&gate_a, &bob, bob_c, bob_l, 400, 2, 10, UINT32_MAX);
	a4 = seal(&gate_a, &l4);
	/* Other records under gate A's sequence 1. */
	rides(&gate_a, &bob, bob_c, bob_l, 500, 1, 10, UINT32_MAX);
	ck_assert(tk_gate_seal(&gate_a, 1, seal_pub, T0, &x, &lx));
	ledger_exec("DELETE FROM history WHERE account = (SELECT id FROM accounts WHERE name = 'dave');"
		    "DELETE FROM accounts WHERE name = 'dave'");
	dump_settle(&d, "A1", a1, l1);
	dump_settle(&d, "B1", b1, m1);
	dump_settle(&d, "B2", b2, m2);
	dump_settle(&d, "A3", a3, l3);
	dump_settle(&d, "A2", a2, l2);
	dump_settle(&d, "A4", a4, l4);
	dump_settle(&d, "A1 again", a1, l1);
	dump_settle(&d, "B2 again", b2, m2);
	dump_settle(&d, "A1 other", x, lx);
	dump_ledger(&d);
	free(a1);
	free(a2);
	free(a3);
	free(a4);
	free(b1);
	free(b2);
	free(x);
	tk_holder_free(&bob);
	tk_holder_free(&carol);
	tk_holder_free(&dave);
	return d.text;
}

#include "issuer/test-settle-golden.h"

static void same_as_golden(const char *got, const char *what)
{
	size_t line = 1, i = 0;

	for (; got[i] != '\0' && got[i] == settle_golden[i]; i++)
		line += got[i] == '\n';
	if (got[i] != settle_golden[i])
		fprintf(stderr, "%s: the ledger differs from the serial settlement's at line %zu:\n%s\n", what, line, got);
	ck_assert_msg(got[i] == settle_golden[i], "%s: differs at line %zu", what, line);
}

/* The golden dump is what the serial settlement (one thread, a per-batch
 * cache, a SELECT and an UPDATE per record) made of the scenario; one
 * thread and a cache of one slot, four threads and the full cache, must
 * make exactly that. (The dump reads the SQLite file with SQLite's own
 * SQL, hex() and rowid: on PostgreSQL these two are skipped; the other
 * settlement tests run there.) */
#define NEED_SQLITE(env)                                                                      \
	do {                                                                                  \
		if ((env)->pg) {                                                              \
			fprintf(stderr, "SKIP %s: the golden dump reads SQLite\n", __func__); \
			return;                                                               \
		}                                                                             \
	} while (0)

START_TEST(test_serial_ledger_one_thread)
{
	char *got;

	TT_NEED_TOKEN(&env);
	NEED_SQLITE(&env);
	got = scenario(1, 1);
	same_as_golden(got, "1 thread, 1 slot");
	free(got);
}
END_TEST

START_TEST(test_serial_ledger_four_threads)
{
	char *got;

	TT_NEED_TOKEN(&env);
	NEED_SQLITE(&env);
	got = scenario(4, 0);
	same_as_golden(got, "4 threads");
	free(got);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("issuer-settle");
	TCase *tc = tcase_create("settle");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_settle_debits);
	tcase_add_test(tc, test_same_batch_twice);
	tcase_add_test(tc, test_resealed_batch_is_the_same);
	tcase_add_test(tc, test_other_batch_same_sequence);
	tcase_add_test(tc, test_double_use_two_gates);
	tcase_add_test(tc, test_counter_reuse_charged_twice);
	tcase_add_test(tc, test_copy_and_counter_reuse_in_one_batch);
	tcase_add_test(tc, test_charged_set_compares_in_full);
	tcase_add_test(tc, test_two_keys_one_account);
	tcase_add_test(tc, test_settlement_rechecks);
	tcase_add_test(tc, test_settlement_offline_total_per_gate);
	tcase_add_test(tc, test_gap_reported);
	tcase_add_test(tc, test_chain_break_reported);
	tcase_add_test(tc, test_empty_batch);
	tcase_add_test(tc, test_settlement_locks_in_holder_order);
	suite_add_tcase(s, tc);
	tc = tcase_create("refused");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_forged_holder_signature);
	tcase_add_test(tc, test_forged_credential);
	tcase_add_test(tc, test_refusals_and_unknown_holder);
	tcase_add_test(tc, test_corrupted_batches);
	tcase_add_test(tc, test_unknown_gate_and_wrong_keys);
	tcase_add_test(tc, test_batch_is_atomic);
	tcase_add_test(tc, test_gate_keys);
	suite_add_tcase(s, tc);
	tc = tcase_create("pipeline");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_bad_record_other_thread);
	tcase_add_test(tc, test_cache_follows_the_keys);
	tcase_add_test(tc, test_cache_bound);
	tcase_add_test(tc, test_serial_ledger_one_thread);
	tcase_add_test(tc, test_serial_ledger_four_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
