/* test-exposure.c - bounded exposure (docs/ISSUER.md, "Bounded exposure"),
 * as a seeded random simulation through the real libraries: the issuer
 * (issuance, settlement, on an offpass-p11 token) and one gate
 * (liboffpass-verifier: checks, journal, sealed batches). Holders ride,
 * refresh and ask for credentials again and again; the operator tops up;
 * the gate exports batches that the network duplicates, reorders and
 * loses. After everything that arrives is settled, no account may be below
 * -(its credit line). The figures are printed, for a person to read.
 *
 * OFFPASS_SIM_SEED picks another seed (the default is fixed, so that a
 * failure repeats); OFFPASS_SIM_STEPS another length. */
#include "config.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomic_file.h"
#include "issuer/issuer.h"
#include "issuer/test-kit.h"
#include "issuer/test-token.h"
#include "verifier/offpass-verifier.h"

#define SIM_HOLDERS 8
#define SIM_MAX_CREDS 64
#define SIM_MAX_BATCHES 4096
#define SIM_GATE_ID "SIMGATE1"

typedef struct sim_holder {
	char name[16];
	tk_holder_t key;
	uint8_t req[OFP_ENROLLMENT_MAX];
	size_t req_len;
	uint32_t req_time;
	uint32_t counter;
	uint8_t creds[SIM_MAX_CREDS][OFP_CREDENTIAL_MAX];
	size_t cred_len[SIM_MAX_CREDS];
	ofp_credential_t cred[SIM_MAX_CREDS];
	size_t n_creds;
	int64_t credit_line;
} sim_holder_t;

typedef struct batch_msg {
	uint8_t *data;
	size_t len;
} batch_msg_t;

typedef struct sim {
	uint64_t rng;
	uint32_t now;
	ofp_issuer_t *iss;
	offpass_verifier_t *gate;
	sim_holder_t h[SIM_HOLDERS];
	batch_msg_t net[SIM_MAX_BATCHES]; /* in flight, in arrival order */
	size_t n_net;
	/* Figures. */
	unsigned rides, operated, refused, replays_tried, issued, issue_refused, topups;
	unsigned batches, duplicated, reordered, lost, settled, charged, double_uses, rejected;
	uint64_t amount_operated, amount_charged;
	unsigned refusal[32];
} sim_t;

static tt_env_t env;

static uint64_t rnd(sim_t *s)
{
	/* xorshift64*: reproducible from the seed, no libc state. */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 2685821657736338717ULL;
}

static uint32_t pick(sim_t *s, uint32_t n)
{
	return (uint32_t)(rnd(s) % n);
}

static uint8_t *read_issuer_file(const char *name, size_t *len)
{
	char path[512];
	uint8_t *data = NULL;

	snprintf(path, sizeof(path), "%s/%s", env.issuer_dir, name);
	ck_assert_msg(file_read_all(path, 1 << 20, &data, len) == 0, "%s", path);
	return data;
}

static void open_gate(sim_t *s)
{
	offpass_verifier_config_t cfg;
	char dir[512], err[512] = "";
	uint8_t pub[65], *trust;
	size_t len;

	snprintf(dir, sizeof(dir), "%s/gate", env.root);
	offpass_verifier_config_init(&cfg);
	cfg.fare_mode = OFFPASS_FARE_TILL; /* each ride brings its amount */
	cfg.state_dir = dir;
	memcpy(cfg.verifier_id, SIM_GATE_ID, 8);
	ck_assert_msg(offpass_verifier_open(&cfg, &s->gate, err, sizeof(err)) == OFFPASS_STATUS_OK, "%s", err);
	trust = read_issuer_file(OFP_ISSUER_TRUST, &len);
	ck_assert_int_eq(offpass_verifier_install_trust_list(s->gate, trust, len, s->now), OFFPASS_STATUS_OK);
	free(trust);
	ck_assert_int_eq(offpass_verifier_public_key(s->gate, pub), OFFPASS_STATUS_OK);
	ck_assert_msg(ofp_issuer_gate_add(s->iss, (const uint8_t *)SIM_GATE_ID, pub, sizeof(pub), false, NULL) ==
			      OFP_ISSUER_OK,
		      "%s", ofp_issuer_error(s->iss));
}

static void open_holders(sim_t *s)
{
	for (size_t i = 0; i < SIM_HOLDERS; i++) {
		sim_holder_t *h = &s->h[i];
		ofp_account_t a;
		uint32_t expires;
		int64_t balance = 200 + pick(s, 3000);

		snprintf(h->name, sizeof(h->name), "rider%zu", i);
		ck_assert(tk_holder_new(&h->key, OFP_ALG_P256, (const uint8_t *)"\0\0\0\0\0\0\0\0", NULL));
		ck_assert_msg(ofp_issuer_account_open(s->iss, h->name, &a, h->key.code, &expires) == OFP_ISSUER_OK,
			      "%s", ofp_issuer_error(s->iss));
		memcpy(h->key.holder_id, a.holder_id, OFP_ID_LEN);
		h->key.has_code = true;
		h->credit_line = pick(s, 4) * 250;
		ck_assert_int_eq(ofp_ledger_credit(ofp_issuer_ledger(s->iss), h->name, balance, s->now, NULL),
				 OFP_LEDGER_OK);
		if (h->credit_line > 0)
			ck_assert_int_eq(ofp_ledger_set_credit_line(ofp_issuer_ledger(s->iss), h->name, h->credit_line,
								    s->now, NULL),
					 OFP_LEDGER_OK);
		/* One request, made with the code, sent for every refresh (the
		 * key is enrolled by the first credential). */
		h->req_time = s->now;
		ck_assert(tk_enrollment(&h->key, h->req_time, h->req, &h->req_len));
	}
}

static void ask_credential(sim_t *s, sim_holder_t *h)
{
	uint8_t out[OFP_CREDENTIAL_MAX];
	size_t len = 0;
	ofp_credential_t c;

	ofp_issuer_set_now(s->iss, s->now);
	if (ofp_issuer_issue(s->iss, h->req, h->req_len, NULL, out, &len, &c) != OFP_ISSUER_OK) {
		s->issue_refused++;
		ck_assert_msg(strstr(ofp_issuer_error(s->iss), "threshold") != NULL ||
				      strstr(ofp_issuer_error(s->iss), "covered") != NULL,
			      "%s", ofp_issuer_error(s->iss));
		return;
	}
	s->issued++;
	if (h->n_creds == SIM_MAX_CREDS) /* keep the newest */
		h->n_creds--, memmove(h->creds, h->creds[1], sizeof(h->creds[0]) * h->n_creds),
			memmove(h->cred_len, h->cred_len + 1, sizeof(h->cred_len[0]) * h->n_creds),
			memmove(h->cred, h->cred + 1, sizeof(h->cred[0]) * h->n_creds);
	memcpy(h->creds[h->n_creds], out, len);
	h->cred_len[h->n_creds] = len;
	h->cred[h->n_creds] = c;
	h->n_creds++;
}

/* The credential that covers now (the holder's app picks it), or -1. */
static int live_credential(const sim_t *s, const sim_holder_t *h)
{
	for (size_t i = h->n_creds; i-- > 0;)
		if (h->cred[i].not_before <= s->now && s->now < h->cred[i].not_after)
			return (int)i;
	return -1;
}

static void ride(sim_t *s, sim_holder_t *h)
{
	uint8_t pres[OFP_PRESENTATION_MAX];
	size_t len = 0;
	uint32_t amount = pick(s, 20) == 0 ? 401 + pick(s, 100) : 20 + pick(s, 200); /* 1 in 20 over per_op_max */
	offpass_result_t r;
	int c = live_credential(s, h);

	if (c < 0)
		return;
	s->rides++;
	ck_assert(tk_presentation(&h->key, h->creds[c], h->cred_len[c], s->now, ++h->counter, amount, pres, &len));
	ck_assert_int_eq(offpass_verifier_check(s->gate, pres, len, amount, NULL, 0, s->now, &r), OFFPASS_STATUS_OK);
	if (r.decision == OFFPASS_OPERATE) {
		s->operated++;
		s->amount_operated += amount;
	} else {
		s->refused++;
		s->refusal[r.reason < 32 ? r.reason : 31]++;
	}
	/* Someone photographs the code and shows it again a little later. */
	if (pick(s, 20) == 0) {
		s->replays_tried++;
		ck_assert_int_eq(offpass_verifier_check(s->gate, pres, len, amount, NULL, 0, s->now + 5, &r),
				 OFFPASS_STATUS_OK);
		ck_assert_int_eq(r.decision, OFFPASS_REFUSE);
	}
}

static void net_push(sim_t *s, uint8_t *data, size_t len, size_t at)
{
	ck_assert_uint_lt(s->n_net, SIM_MAX_BATCHES);
	memmove(&s->net[at + 1], &s->net[at], (s->n_net - at) * sizeof(s->net[0]));
	s->net[at] = (batch_msg_t){ data, len };
	s->n_net++;
}

/* The gate exports; the network loses, duplicates and reorders. */
static void export(sim_t *s)
{
	uint8_t *out = NULL;
	size_t len = 0;
	offpass_status_t st = offpass_verifier_seal(s->gate, s->now, &out, &len);
	uint32_t fate = pick(s, 20);

	if (st == OFFPASS_STATUS_NOTHING)
		return;
	ck_assert_int_eq(st, OFFPASS_STATUS_OK);
	s->batches++;
	if (fate == 0) { /* lost on the way */
		s->lost++;
		offpass_free(out);
		return;
	}
	{
		uint8_t *copy = malloc(len);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, out, len);
		offpass_free(out);
		out = copy;
	}
	if (fate <= 2 && s->n_net > 0) {
		s->reordered++;
		net_push(s, out, len, pick(s, (uint32_t)s->n_net));
	} else {
		net_push(s, out, len, s->n_net);
	}
	if (fate == 3) {
		uint8_t *dup = malloc(len);
		ck_assert_ptr_nonnull(dup);
		memcpy(dup, out, len);
		s->duplicated++;
		net_push(s, dup, len, s->n_net);
	}
}

static void settle_some(sim_t *s, size_t n)
{
	ofp_settle_report_t r;

	ofp_issuer_set_now(s->iss, s->now);
	while (n-- > 0 && s->n_net > 0) {
		batch_msg_t m = s->net[0];
		memmove(&s->net[0], &s->net[1], (s->n_net - 1) * sizeof(s->net[0]));
		s->n_net--;
		ck_assert_msg(ofp_issuer_settle(s->iss, m.data, m.len, NULL, NULL, &r) == OFP_ISSUER_OK, "%s",
			      ofp_issuer_error(s->iss));
		free(m.data);
		s->settled++;
		s->charged += r.charged;
		s->amount_charged += r.amount_charged;
		s->double_uses += r.double_uses + r.counter_reuses;
		s->rejected += r.rejected;
	}
}

static void step(sim_t *s)
{
	uint32_t what = pick(s, 100);
	sim_holder_t *h = &s->h[pick(s, SIM_HOLDERS)];

	if (what < 75)
		ride(s, h);
	else if (what < 85)
		ask_credential(s, h); /* a refresh, or the same request again */
	else if (what < 88) {
		s->topups++;
		ck_assert_int_eq(ofp_ledger_credit(ofp_issuer_ledger(s->iss), h->name, 100 + pick(s, 900), s->now, NULL),
				 OFP_LEDGER_OK);
	} else if (what < 94)
		export(s);
	else
		settle_some(s, 1 + pick(s, 3));
	s->now += 1 + pick(s, 30);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? strtoull(v, NULL, 0) : dflt;
}

START_TEST(test_simulation_never_below_credit_line)
{
	ofp_issuer_config_t cfg;
	sim_t *s = calloc(1, sizeof(*s));
	uint64_t seed = env_u64("OFFPASS_SIM_SEED", 20261206), steps = env_u64("OFFPASS_SIM_STEPS", 10000);
	int64_t worst = INT64_MAX;
	bool holds = true;

	ck_assert_ptr_nonnull(s);
	if (!tt_setup(&env, true)) {
		fprintf(stderr, "SKIP %s: OFFPASS_P11_MODULE is not set\n", __func__);
		tt_teardown(&env);
		free(s);
		return;
	}
	s->rng = seed | 1;
	s->now = TT_NOW;
	tt_config(&env, &cfg);
	cfg.threshold = 200;
	cfg.credential_lifetime = 3600;
	cfg.grant.per_op_max = 400;
	cfg.grant.offline_total = 1500;
	cfg.settlement_window = 6 * 3600;
	s->iss = tt_issuer_init(&env, &cfg, s->now);
	open_gate(s);
	open_holders(s);
	for (uint64_t i = 0; i < steps; i++)
		step(s);
	/* The end of the day: the gate exports what is left, every batch
	 * still on the way arrives, in the order it comes. */
	s->now += 3600;
	export(s);
	settle_some(s, SIZE_MAX);

	printf("simulation (seed %" PRIu64 ", %" PRIu64 " steps, %u s of gate time, one gate, %d holders):\n", seed,
	       steps, s->now - TT_NOW, SIM_HOLDERS);
	printf("  rides %u: operated %u (amount %" PRIu64 "), refused %u (expired %u, over offline total %u, "
	       "over per-op max %u, other %u); copies shown again %u, all refused\n",
	       s->rides, s->operated, s->amount_operated, s->refused, s->refusal[OFFPASS_REASON_EXPIRED],
	       s->refusal[OFFPASS_REASON_OVER_OFFLINE_TOTAL], s->refusal[OFFPASS_REASON_OVER_OPERATION_MAX],
	       s->refused - s->refusal[OFFPASS_REASON_EXPIRED] - s->refusal[OFFPASS_REASON_OVER_OFFLINE_TOTAL] -
		       s->refusal[OFFPASS_REASON_OVER_OPERATION_MAX],
	       s->replays_tried);
	printf("  credentials: %u issued, %u requests refused (window covered or exposure over the threshold); "
	       "%u top-ups\n",
	       s->issued, s->issue_refused, s->topups);
	printf("  batches: %u exported, %u lost, %u duplicated, %u reordered, %u settled\n", s->batches, s->lost,
	       s->duplicated, s->reordered, s->settled);
	printf("  settlement: %u charges (amount %" PRIu64 "), %u flags, %u rejected\n", s->charged, s->amount_charged,
	       s->double_uses, s->rejected);
	for (size_t i = 0; i < SIM_HOLDERS; i++) {
		ofp_account_t a;
		ck_assert_int_eq(ofp_ledger_account_get(ofp_issuer_ledger(s->iss), s->h[i].name, &a), OFP_LEDGER_OK);
		printf("  %-7s balance %6" PRId64 "  vs -credit line %6" PRId64 "  %s\n", a.name, a.balance,
		       -a.credit_line, a.balance >= -a.credit_line ? "ok" : "BELOW");
		if (a.balance + a.credit_line < worst)
			worst = a.balance + a.credit_line;
		holds &= a.balance >= -a.credit_line;
		holds &= !a.flagged; /* honest holders, one gate: nothing to flag */
		tk_holder_free(&s->h[i].key);
	}
	printf("  minimum of balance + credit line over the accounts: %" PRId64 " (must be >= 0)\n", worst);
	fflush(stdout);
	ck_assert_msg(holds, "an account went below -(its credit line), or an honest one was flagged");
	ck_assert_uint_gt(s->rides, 2000);
	ck_assert_uint_gt(s->operated, 1000);
	ck_assert_uint_gt(s->issue_refused, 0);
	ck_assert_uint_eq(s->rejected, 0);
	for (size_t i = 0; i < s->n_net; i++)
		free(s->net[i].data);
	offpass_verifier_close(s->gate);
	ofp_issuer_close(s->iss);
	tt_teardown(&env);
	free(s);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("issuer-exposure");
	TCase *tc = tcase_create("simulation");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 1800);
	tcase_add_test(tc, test_simulation_never_below_credit_line);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
