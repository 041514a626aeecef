/* test-settle.c - settlement of sealed batches built here the way a gate
 * builds them: presentations signed by an OpenSSL holder key, journal
 * records chained by hash, sealed with ofp_seal to the issuer's sealing
 * key on the token. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "atomic_file.h"
#include "issuer/issuer.h"
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
	char path[400];
	sqlite3 *db;

	TT_NEED_TOKEN(&env);
	/* A refusal is journaled but charges nothing. */
	ck_assert(tk_presentation(&alice, cred, cred_len, T0, 1, 100, pres, &len));
	ck_assert(tk_gate_record(&gate_a, false, OFP_REASON_REPLAY, T0, pres, len));
	ck_assert(tk_gate_record(&gate_a, false, OFP_REASON_MALFORMED, T0 + 1, (const uint8_t *)"junk", 4));
	/* A valid charge for a holder whose account is gone. */
	open_account("bob", 1000, &bob);
	issue_for(&bob, bob_cred, &bob_len);
	operate(&gate_a, &bob, bob_cred, bob_len, 1, 100);
	snprintf(path, sizeof(path), "%s/%s", env.issuer_dir, OFP_ISSUER_LEDGER);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "DELETE FROM history WHERE account = (SELECT id FROM accounts WHERE name = 'bob');"
					  "DELETE FROM accounts WHERE name = 'bob'",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
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
	char path[400];
	sqlite3 *db;

	TT_NEED_TOKEN(&env);
	open_account("bob", 1000, &bob);
	issue_for(&bob, bob_cred, &bob_len);
	operate(&gate_a, &alice, cred, cred_len, 1, 100);
	operate(&gate_a, &bob, bob_cred, bob_len, 1, 100);
	b = seal(&gate_a, &len);
	/* Bob's balance at the bottom of the ledger's range: his debit fails. */
	snprintf(path, sizeof(path), "%s/%s", env.issuer_dir, OFP_ISSUER_LEDGER);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "UPDATE accounts SET balance = -1000000000000000 WHERE name = 'bob'", NULL,
				      NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
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
	tcase_add_test(tc, test_two_keys_one_account);
	tcase_add_test(tc, test_settlement_rechecks);
	tcase_add_test(tc, test_settlement_offline_total_per_gate);
	tcase_add_test(tc, test_gap_reported);
	tcase_add_test(tc, test_chain_break_reported);
	tcase_add_test(tc, test_empty_batch);
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
