/* test-committer.c - grouped commits (issuer/committer.h) on a real
 * ledger and token: parallel refreshes of one holder get exactly one
 * next window, parallel refreshes of different holders all succeed, a
 * unit that fails is undone alone while the rest of its group commits,
 * and a unit's caller hears back only once another connection can read
 * what it committed. */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "issuer/committer.h"
#include "issuer/issuer.h"
#include "issuer/test-kit.h"
#include "issuer/test-token.h"

#define HOLDERS 8
#define REFRESH_AT (TT_NOW + 60)

static tt_env_t env;
static ofp_issuer_t *iss, *committing;
static ofp_committer_t *committer;
static ofp_issuer_config_t cfg;
static char ledger_path[512];

typedef struct holder {
	tk_holder_t h;
	char name[32];
	ofp_credential_t cred;
} holder_t;

static holder_t holders[HOLDERS];

static void holder_enroll(holder_t *hd, unsigned i)
{
	ofp_account_t a;
	uint8_t req[OFP_ENROLLMENT_MAX], out[OFP_CREDENTIAL_MAX];
	size_t len, out_len;
	uint8_t code[OFP_ENROLL_CODE_LEN];
	uint32_t expires;

	snprintf(hd->name, sizeof(hd->name), "rider-%u", i);
	ck_assert_msg(ofp_issuer_account_open(iss, hd->name, &a, code, &expires) == OFP_ISSUER_OK, "%s",
		      ofp_issuer_error(iss));
	ck_assert_int_eq(ofp_ledger_credit(ofp_issuer_ledger(iss), hd->name, 1000000, TT_NOW, NULL), OFP_LEDGER_OK);
	ck_assert(tk_holder_new(&hd->h, OFP_ALG_P256, a.holder_id, NULL));
	hd->h.has_code = true;
	memcpy(hd->h.code, code, sizeof(code));
	ofp_issuer_set_now(iss, TT_NOW);
	ck_assert(tk_enrollment(&hd->h, TT_NOW, req, &len));
	ck_assert_msg(ofp_issuer_issue(iss, req, len, NULL, out, &out_len, &hd->cred) == OFP_ISSUER_OK, "%s",
		      ofp_issuer_error(iss));
}

static void setup(void)
{
	if (!tt_setup(&env, true))
		return;
	tt_config(&env, &cfg);
	iss = tt_issuer_init(&env, &cfg, TT_NOW);
	for (unsigned i = 0; i < HOLDERS; i++)
		holder_enroll(&holders[i], i);
	committing = tt_issuer_open(&env, TT_NOW);
	ck_assert_int_eq(ofp_committer_new(committing, OFP_COMMITTER_GROUP_MAX, &committer), 0);
	ofp_issuer_path(iss, OFP_ISSUER_LEDGER, ledger_path, sizeof(ledger_path));
}

static void teardown(void)
{
	ofp_committer_free(committer);
	committer = NULL;
	ofp_issuer_close(committing);
	committing = NULL;
	for (unsigned i = 0; i < HOLDERS; i++)
		tk_holder_free(&holders[i].h);
	memset(holders, 0, sizeof(holders));
	ofp_issuer_close(iss);
	iss = NULL;
	tt_teardown(&env);
}

/* ---- units ------------------------------------------------------------------------------------ */

typedef struct refresh_arg {
	const ofp_credential_t *cur;
	uint8_t out[OFP_CREDENTIAL_MAX];
	size_t out_len;
	ofp_credential_t next;
	ofp_commit_unit_t unit;
	bool visible; /* another connection saw the serial when run returned */
} refresh_arg_t;

static ofp_issuer_rc_t refresh_fn(ofp_issuer_t *h, void *arg)
{
	refresh_arg_t *r = arg;
	ofp_issue_opts_t opts = { .in_transaction = true };

	return ofp_issuer_refresh_opts(h, r->cur, &opts, r->out, &r->out_len, &r->next);
}

/* Whether a fresh connection (another reader) finds the serial. */
static bool serial_visible(uint64_t serial)
{
	ofp_ledger_t *l = NULL;
	char err[256];
	bool found;

	ck_assert_int_eq(ofp_ledger_open(ledger_path, false, &l, err, sizeof(err)), OFP_LEDGER_OK);
	found = ofp_ledger_credential_exists(l, serial) == OFP_LEDGER_OK;
	ofp_ledger_close(l);
	return found;
}

static void *refresh_thread(void *arg)
{
	refresh_arg_t *r = arg;

	r->unit.fn = refresh_fn;
	r->unit.arg = r;
	r->unit.now = REFRESH_AT;
	if (ofp_committer_run(committer, &r->unit) == OFP_ISSUER_OK)
		r->visible = serial_visible(r->next.serial);
	return NULL;
}

static void run_parallel(refresh_arg_t *args, unsigned n)
{
	pthread_t t[HOLDERS];

	for (unsigned i = 0; i < n; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, refresh_thread, &args[i]), 0);
	for (unsigned i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

/* ---- tests ------------------------------------------------------------------------------------ */

/* A holder refreshing from several requests at once gets exactly one next window. */
START_TEST(test_same_holder_once)
{
	static refresh_arg_t args[HOLDERS];
	unsigned ok = 0, covered = 0;

	TT_NEED_TOKEN(&env);
	memset(args, 0, sizeof(args));
	for (unsigned i = 0; i < HOLDERS; i++)
		args[i].cur = &holders[0].cred;
	run_parallel(args, HOLDERS);
	for (unsigned i = 0; i < HOLDERS; i++) {
		if (args[i].unit.rc == OFP_ISSUER_OK) {
			ok++;
			ck_assert(args[i].visible);
			ck_assert_uint_eq(args[i].next.not_before, holders[0].cred.not_after);
		} else {
			ck_assert_int_eq(args[i].unit.rc, OFP_ISSUER_REFUSED);
			ck_assert_msg(strstr(args[i].unit.err, "covered already") != NULL, "%s", args[i].unit.err);
			covered++;
		}
	}
	ck_assert_uint_eq(ok, 1);
	ck_assert_uint_eq(covered, HOLDERS - 1);
}
END_TEST

/* Different holders at once: every one gets its next window, each serial its own. */
START_TEST(test_holders_all)
{
	static refresh_arg_t args[HOLDERS];
	ofp_committer_stats_t st;

	TT_NEED_TOKEN(&env);
	memset(args, 0, sizeof(args));
	for (unsigned i = 0; i < HOLDERS; i++)
		args[i].cur = &holders[i].cred;
	run_parallel(args, HOLDERS);
	for (unsigned i = 0; i < HOLDERS; i++) {
		ck_assert_msg(args[i].unit.rc == OFP_ISSUER_OK, "holder %u: %s", i, args[i].unit.err);
		ck_assert(args[i].visible);
		ck_assert(memcmp(args[i].next.holder_id, holders[i].cred.holder_id, OFP_ID_LEN) == 0);
		for (unsigned j = 0; j < i; j++)
			ck_assert_uint_ne(args[i].next.serial, args[j].next.serial);
	}
	ofp_committer_stats(committer, &st);
	ck_assert_uint_eq(st.units, HOLDERS);
	ck_assert_uint_le(st.groups, HOLDERS);
	ck_assert_uint_eq(st.failed, 0);
}
END_TEST

/* A unit that holds the committer until the test lets it go, so that
 * the next units queue up and run as one group. */
typedef struct gate_unit {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool running, release;
	ofp_commit_unit_t unit;
} gate_unit_t;

static ofp_issuer_rc_t gate_fn(ofp_issuer_t *h, void *arg)
{
	gate_unit_t *g = arg;

	(void)h;
	pthread_mutex_lock(&g->lock);
	g->running = true;
	pthread_cond_broadcast(&g->cond);
	while (!g->release)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
	return OFP_ISSUER_OK;
}

static void *gate_thread(void *arg)
{
	gate_unit_t *g = arg;

	g->unit.fn = gate_fn;
	g->unit.arg = g;
	g->unit.now = REFRESH_AT;
	(void)ofp_committer_run(committer, &g->unit);
	return NULL;
}

/* A unit over one account, run on its own thread; the test sets its fn
 * (and alone). */
typedef struct account_unit {
	const char *name;
	ofp_commit_unit_t unit;
} account_unit_t;

static void *account_unit_thread(void *arg)
{
	account_unit_t *u = arg;

	u->unit.arg = u;
	u->unit.now = REFRESH_AT;
	(void)ofp_committer_run(committer, &u->unit);
	return NULL;
}

/* Queues, in this order, behind a gate unit that holds the committer: a
 * refresh of args[0], `middle`, a refresh of args[1]; then lets the
 * committer go and waits for all four. */
static void run_behind_gate(refresh_arg_t args[2], account_unit_t *middle)
{
	static gate_unit_t g;
	pthread_t tg, tm, ta[2];

	memset(&g, 0, sizeof(g));
	pthread_mutex_init(&g.lock, NULL);
	pthread_cond_init(&g.cond, NULL);
	ck_assert_int_eq(pthread_create(&tg, NULL, gate_thread, &g), 0);
	pthread_mutex_lock(&g.lock);
	while (!g.running)
		pthread_cond_wait(&g.cond, &g.lock);
	pthread_mutex_unlock(&g.lock);
	ck_assert_int_eq(pthread_create(&ta[0], NULL, refresh_thread, &args[0]), 0);
	while (ofp_committer_queued(committer) < 1)
		usleep(1000);
	ck_assert_int_eq(pthread_create(&tm, NULL, account_unit_thread, middle), 0);
	while (ofp_committer_queued(committer) < 2)
		usleep(1000);
	ck_assert_int_eq(pthread_create(&ta[1], NULL, refresh_thread, &args[1]), 0);
	while (ofp_committer_queued(committer) < 3)
		usleep(1000);
	pthread_mutex_lock(&g.lock);
	g.release = true;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
	pthread_join(tg, NULL);
	pthread_join(ta[0], NULL);
	pthread_join(tm, NULL);
	pthread_join(ta[1], NULL);
	ck_assert_int_eq(g.unit.rc, OFP_ISSUER_OK);
	pthread_cond_destroy(&g.cond);
	pthread_mutex_destroy(&g.lock);
}

/* A unit that notes its index when it runs (on the committer's thread,
 * one at a time). */
typedef struct order_unit {
	unsigned index;
	ofp_commit_unit_t unit;
} order_unit_t;

static unsigned ran[8], nran;

static ofp_issuer_rc_t note_fn(ofp_issuer_t *h, void *arg)
{
	(void)h;
	ran[nran++] = ((order_unit_t *)arg)->index;
	return OFP_ISSUER_OK;
}

static void *order_unit_thread(void *arg)
{
	order_unit_t *u = arg;

	u->unit.fn = note_fn;
	u->unit.arg = u;
	u->unit.now = REFRESH_AT;
	(void)ofp_committer_run(committer, &u->unit);
	return NULL;
}

/* The units of one group run in ascending order of their key (the holder
 * id), whatever order they came in; two of one key in the order they
 * came: issuances lock accounts in one order everywhere. */
START_TEST(test_group_runs_in_key_order)
{
	static const uint8_t keys[5] = { 3, 1, 2, 0, 1 };
	static const unsigned expect[5] = { 3, 1, 4, 2, 0 };
	static gate_unit_t g;
	static order_unit_t units[5];
	pthread_t tg, t[5];

	memset(&g, 0, sizeof(g));
	pthread_mutex_init(&g.lock, NULL);
	pthread_cond_init(&g.cond, NULL);
	ck_assert_int_eq(pthread_create(&tg, NULL, gate_thread, &g), 0);
	pthread_mutex_lock(&g.lock);
	while (!g.running)
		pthread_cond_wait(&g.cond, &g.lock);
	pthread_mutex_unlock(&g.lock);
	nran = 0;
	for (unsigned i = 0; i < 5; i++) {
		memset(&units[i], 0, sizeof(units[i]));
		units[i].index = i;
		units[i].unit.order[0] = keys[i];
		ck_assert_int_eq(pthread_create(&t[i], NULL, order_unit_thread, &units[i]), 0);
		while (ofp_committer_queued(committer) < i + 1)
			usleep(1000);
	}
	pthread_mutex_lock(&g.lock);
	g.release = true;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
	pthread_join(tg, NULL);
	for (unsigned i = 0; i < 5; i++)
		pthread_join(t[i], NULL);
	ck_assert_uint_eq(nran, 5);
	for (unsigned i = 0; i < 5; i++)
		ck_assert_uint_eq(ran[i], expect[i]);
	pthread_cond_destroy(&g.cond);
	pthread_mutex_destroy(&g.lock);
}
END_TEST

/* Credits an account, then refuses: its credit must not stay. */
static ofp_issuer_rc_t bad_fn(ofp_issuer_t *h, void *arg)
{
	account_unit_t *b = arg;
	ofp_account_t a;

	ck_assert_int_eq(ofp_ledger_account_get(ofp_issuer_ledger(h), b->name, &a), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_account_apply(ofp_issuer_ledger(h), &a, 777, "credit", "unit test", REFRESH_AT),
			 OFP_LEDGER_OK);
	return OFP_ISSUER_REFUSED;
}

/* One group: a refresh, a unit that writes then fails, another refresh.
 * The failing one is undone alone; both refreshes commit. */
START_TEST(test_failing_unit_alone)
{
	static refresh_arg_t args[2];
	static account_unit_t bad;
	ofp_committer_stats_t st;
	ofp_account_t before, after;

	TT_NEED_TOKEN(&env);
	memset(args, 0, sizeof(args));
	memset(&bad, 0, sizeof(bad));
	bad.name = holders[2].name;
	bad.unit.fn = bad_fn;
	args[0].cur = &holders[0].cred;
	args[1].cur = &holders[1].cred;
	ck_assert_int_eq(ofp_ledger_account_get(ofp_issuer_ledger(iss), bad.name, &before), OFP_LEDGER_OK);

	run_behind_gate(args, &bad);

	ck_assert_msg(args[0].unit.rc == OFP_ISSUER_OK, "%s", args[0].unit.err);
	ck_assert_msg(args[1].unit.rc == OFP_ISSUER_OK, "%s", args[1].unit.err);
	ck_assert(args[0].visible && args[1].visible);
	ck_assert_int_eq(bad.unit.rc, OFP_ISSUER_REFUSED);
	ck_assert_int_eq(ofp_ledger_account_get(ofp_issuer_ledger(iss), bad.name, &after), OFP_LEDGER_OK);
	ck_assert_int_eq(after.balance, before.balance);
	ofp_committer_stats(committer, &st);
	ck_assert_uint_eq(st.largest, 3); /* the three queued behind the gate: one group */
	ck_assert_uint_eq(st.failed, 1);
}
END_TEST

/* A unit alone (a settlement) runs outside any transaction, between two
 * groups: it can begin and commit its own, and the units queued around
 * it are not grouped with it. */
static ofp_issuer_rc_t own_tx_fn(ofp_issuer_t *h, void *arg)
{
	account_unit_t *o = arg;
	ofp_ledger_t *l = ofp_issuer_ledger(h);
	ofp_account_t a;

	if (ofp_ledger_begin(l) != OFP_LEDGER_OK)
		return OFP_ISSUER_ERROR; /* inside a group's transaction */
	if (ofp_ledger_account_get(l, o->name, &a) != OFP_LEDGER_OK ||
	    ofp_ledger_account_apply(l, &a, 5, "credit", "alone", REFRESH_AT) != OFP_LEDGER_OK ||
	    ofp_ledger_commit(l) != OFP_LEDGER_OK) {
		ofp_ledger_rollback(l);
		return OFP_ISSUER_ERROR;
	}
	return OFP_ISSUER_OK;
}

START_TEST(test_alone_between_groups)
{
	static refresh_arg_t args[2];
	static account_unit_t own;
	ofp_committer_stats_t st;
	ofp_account_t before, after;

	TT_NEED_TOKEN(&env);
	memset(args, 0, sizeof(args));
	memset(&own, 0, sizeof(own));
	own.name = holders[4].name;
	own.unit.fn = own_tx_fn;
	own.unit.alone = true;
	args[0].cur = &holders[5].cred;
	args[1].cur = &holders[6].cred;
	ck_assert_int_eq(ofp_ledger_account_get(ofp_issuer_ledger(iss), own.name, &before), OFP_LEDGER_OK);

	run_behind_gate(args, &own);

	ck_assert_msg(own.unit.rc == OFP_ISSUER_OK, "%s", own.unit.err);
	ck_assert_msg(args[0].unit.rc == OFP_ISSUER_OK, "%s", args[0].unit.err);
	ck_assert_msg(args[1].unit.rc == OFP_ISSUER_OK, "%s", args[1].unit.err);
	ck_assert_int_eq(ofp_ledger_account_get(ofp_issuer_ledger(iss), own.name, &after), OFP_LEDGER_OK);
	ck_assert_int_eq(after.balance, before.balance + 5);
	ofp_committer_stats(committer, &st);
	ck_assert_uint_eq(st.largest, 1); /* gate, refresh, alone, refresh: four runs of one */
	ck_assert_uint_eq(st.groups, 3); /* the gate's and the two refreshes' transactions */
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("committer");
	TCase *tc = tcase_create("grouped");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_same_holder_once);
	tcase_add_test(tc, test_holders_all);
	tcase_add_test(tc, test_failing_unit_alone);
	tcase_add_test(tc, test_alone_between_groups);
	tcase_add_test(tc, test_group_runs_in_key_order);
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
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
