/* test-issue.c - init, issuance (claim 22: balance + credit line >=
 * threshold), proof of possession, the deny list and key rollover, on an
 * offpass-p11 token in a temp directory. */
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
#include "format/sig.h"

static tt_env_t env;
static ofp_issuer_t *iss;
static ofp_issuer_config_t cfg;

static void setup(void)
{
	if (!tt_setup(&env, true))
		return;
	tt_config(&env, &cfg);
	iss = tt_issuer_init(&env, &cfg, TT_NOW);
}

static void teardown(void)
{
	ofp_issuer_close(iss);
	iss = NULL;
	tt_teardown(&env);
}

static uint8_t *read_dir_file(const char *name, size_t *len)
{
	char path[512];
	uint8_t *data = NULL;

	snprintf(path, sizeof(path), "%s/%s", env.issuer_dir, name);
	ck_assert_msg(file_read_all(path, 1 << 24, &data, len) == 0, "%s", path);
	return data;
}

/* The trust list in trust.bin, its signature checked against its own
 * signer entry. */
static void read_trust(ofp_trust_list_t *t)
{
	size_t len;
	uint8_t *data = read_dir_file(OFP_ISSUER_TRUST, &len), tbs[OFP_TRUST_LIST_MAX];
	const ofp_trust_entry_t *signer;
	EVP_PKEY *k;
	size_t tbs_len;

	ck_assert_int_eq(ofp_trust_list_decode(data, len, t, NULL), OFP_FMT_OK);
	signer = ofp_trust_list_find(t, t->signer_kid);
	ck_assert_ptr_nonnull(signer);
	ck_assert_uint_eq(signer->usage, OFP_USAGE_CREDENTIAL_SIGNING);
	k = ofp_sig_public_key(signer->alg, signer->key, ofp_trust_key_len(signer->alg));
	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq(ofp_trust_list_tbs(t, tbs, sizeof(tbs), &tbs_len, NULL), OFP_FMT_OK);
	ck_assert(ofp_sig_verify(k, signer->alg, tbs, tbs_len, t->issuer_sig));
	EVP_PKEY_free(k);
	free(data);
}

/* An account with balance and credit line, and a holder key for it. */
static void account(const char *name, int64_t balance, int64_t line, unsigned alg, tk_holder_t *h)
{
	ofp_account_t a;
	ofp_ledger_t *l = ofp_issuer_ledger(iss);
	uint8_t code[OFP_ENROLL_CODE_LEN];
	uint32_t expires;

	ck_assert_msg(ofp_issuer_account_open(iss, name, &a, code, &expires) == OFP_ISSUER_OK, "%s",
		      ofp_issuer_error(iss));
	ck_assert_uint_ge(expires, TT_NOW + cfg.enrollment_code_lifetime);
	if (balance > 0)
		ck_assert_int_eq(ofp_ledger_credit(l, name, balance, TT_NOW, NULL), OFP_LEDGER_OK);
	if (line > 0)
		ck_assert_int_eq(ofp_ledger_set_credit_line(l, name, line, TT_NOW, NULL), OFP_LEDGER_OK);
	ck_assert(tk_holder_new(h, alg, a.holder_id, NULL));
	h->has_code = true;
	memcpy(h->code, code, sizeof(code));
}

static ofp_issuer_rc_t issue(const tk_holder_t *h, uint32_t t, ofp_credential_t *c)
{
	uint8_t req[OFP_ENROLLMENT_MAX], cred[OFP_CREDENTIAL_MAX];
	size_t len, cred_len;

	ck_assert(tk_enrollment(h, t, req, &len));
	return ofp_issuer_issue(iss, req, len, NULL, cred, &cred_len, c);
}

static ofp_issuer_rc_t issue_replace(const tk_holder_t *h, uint32_t t, ofp_credential_t *c)
{
	static const ofp_issue_opts_t replace = { .replace = true };
	uint8_t req[OFP_ENROLLMENT_MAX], cred[OFP_CREDENTIAL_MAX];
	size_t len, cred_len;

	ck_assert(tk_enrollment(h, t, req, &len));
	return ofp_issuer_issue(iss, req, len, &replace, cred, &cred_len, c);
}

/* The operator's `account code NAME`, handed to the holder h. */
static void new_code(tk_holder_t *h, const char *name)
{
	ofp_account_t a;
	uint32_t expires;

	ck_assert_msg(ofp_issuer_enroll_code(iss, name, &a, h->code, &expires) == OFP_ISSUER_OK, "%s",
		      ofp_issuer_error(iss));
	h->has_code = true;
}

/* The credential verifies with the trust list key it names. */
static void assert_credential_valid(const ofp_credential_t *c)
{
	ofp_trust_list_t t;
	const ofp_trust_entry_t *e;
	uint8_t tbs[OFP_TBS_MAX];
	size_t tbs_len;
	EVP_PKEY *k;

	read_trust(&t);
	e = ofp_trust_list_find(&t, c->issuer_kid);
	ck_assert_ptr_nonnull(e);
	k = ofp_sig_public_key(e->alg, e->key, ofp_trust_key_len(e->alg));
	ck_assert_int_eq(ofp_credential_tbs(c, tbs, sizeof(tbs), &tbs_len, NULL), OFP_FMT_OK);
	ck_assert(ofp_sig_verify(k, e->alg, tbs, tbs_len, c->issuer_sig));
	EVP_PKEY_free(k);
}

/* ---- init ---------------------------------------------------------------------------- */

START_TEST(test_init_files)
{
	ofp_trust_list_t t;
	ofp_deny_list_t d;
	size_t len;
	uint8_t *deny;
	bool seal = false, sign = false;

	TT_NEED_TOKEN(&env);
	read_trust(&t);
	ck_assert_uint_eq(t.version, 1);
	ck_assert_uint_eq(t.count, 2);
	for (size_t i = 0; i < t.count; i++) {
		seal |= t.entries[i].usage == OFP_USAGE_SEALING;
		sign |= t.entries[i].usage == OFP_USAGE_CREDENTIAL_SIGNING;
		ck_assert_uint_eq(t.entries[i].not_before, TT_NOW);
	}
	ck_assert(seal && sign);
	deny = read_dir_file(OFP_ISSUER_DENY, &len);
	ck_assert_int_eq(ofp_deny_list_decode(deny, len, &d, NULL), OFP_FMT_OK);
	ck_assert_uint_eq(d.version, 1);
	ck_assert_uint_eq(d.count, 0);
	free(deny);
}
END_TEST

START_TEST(test_init_refused_twice)
{
	ofp_issuer_args_t a = { .dir = env.issuer_dir, .now = TT_NOW, .pin = TT_PIN };
	ofp_issuer_t *other = NULL;
	char err[1024] = "", dir2[400];

	TT_NEED_TOKEN(&env);
	ck_assert_int_eq(ofp_issuer_init(&a, &cfg, &other, err, sizeof(err)), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(err, "issuer directory already"));
	/* Another directory on the same token: the token's keys are taken. */
	snprintf(dir2, sizeof(dir2), "%s/second", env.root);
	a.dir = dir2;
	ck_assert_int_eq(ofp_issuer_init(&a, &cfg, &other, err, sizeof(err)), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(err, "already holds an issuer key"));
	ck_assert_ptr_null(other);
}
END_TEST

START_TEST(test_init_wrong_pin_and_missing_token)
{
	ofp_issuer_args_t a = { .now = TT_NOW, .pin = "wrong-pin" };
	ofp_issuer_config_t c = cfg;
	ofp_issuer_t *other = NULL;
	char err[1024] = "", dir2[400], path[450];
	struct stat st;

	TT_NEED_TOKEN(&env);
	/* PKCS#11 login state is per application: close the logged-in one. */
	ofp_issuer_close(iss);
	iss = NULL;
	snprintf(dir2, sizeof(dir2), "%s/second", env.root);
	a.dir = dir2;
	ck_assert_int_eq(ofp_issuer_init(&a, &c, &other, err, sizeof(err)), OFP_ISSUER_ERROR);
	ck_assert_msg(strstr(err, "PIN_INCORRECT") != NULL, "%s", err);
	snprintf(path, sizeof(path), "%s/%s", dir2, OFP_ISSUER_CONF);
	ck_assert_int_ne(stat(path, &st), 0); /* nothing left behind */
	snprintf(path, sizeof(path), "%s/%s", dir2, OFP_ISSUER_LEDGER);
	ck_assert_int_ne(stat(path, &st), 0);
	snprintf(c.token_label, sizeof(c.token_label), "no such token");
	a.pin = TT_PIN;
	ck_assert_int_eq(ofp_issuer_init(&a, &c, &other, err, sizeof(err)), OFP_ISSUER_ERROR);
	ck_assert_msg(strstr(err, "no such token") != NULL, "%s", err);
}
END_TEST

/* ---- issuance -------------------------------------------------------------------------- */

START_TEST(test_issue_at_threshold)
{
	tk_holder_t h;
	ofp_credential_t c;
	ofp_trust_list_t t;
	ofp_ledger_key_t k;

	TT_NEED_TOKEN(&env);
	account("alice", 500, 0, OFP_ALG_P256, &h);
	ck_assert_msg(issue(&h, TT_NOW, &c) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert_uint_eq(c.serial, 1);
	ck_assert_int_eq(memcmp(c.holder_id, h.holder_id, OFP_ID_LEN), 0);
	ck_assert_int_eq(memcmp(c.holder_key, h.holder_key, h.holder_key_len), 0);
	ck_assert_uint_eq(c.not_before, TT_NOW);
	ck_assert_uint_eq(c.not_after, TT_NOW + 86400);
	ck_assert_uint_eq(c.grant.resource_class, 1);
	/* The offline total is what the account can pay: 500, not 5000. */
	ck_assert_uint_eq(c.grant.per_op_max, 500);
	ck_assert_uint_eq(c.grant.offline_total, 500);
	ck_assert_int_eq(ofp_issuer_current_signing_key(iss, &k), OFP_ISSUER_OK);
	ck_assert_int_eq(memcmp(c.issuer_kid, k.kid, OFP_KEY_ID_LEN), 0);
	assert_credential_valid(&c);
	read_trust(&t);
	ck_assert_int_eq(ofp_ledger_credential_exists(ofp_issuer_ledger(iss), 1), OFP_LEDGER_OK);
	/* Serials increase: a refresh is the next window. */
	ck_assert_int_eq(ofp_ledger_credit(ofp_issuer_ledger(iss), "alice", 500, TT_NOW, NULL), OFP_LEDGER_OK);
	ck_assert_msg(issue(&h, TT_NOW, &c) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert_uint_eq(c.serial, 2);
	ck_assert_uint_eq(c.not_before, TT_NOW + 86400);
	tk_holder_free(&h);
}
END_TEST

START_TEST(test_issue_below_threshold)
{
	tk_holder_t h;
	ofp_credential_t c;
	const char *err;

	TT_NEED_TOKEN(&env);
	account("bob", 499, 0, OFP_ALG_P256, &h);
	ck_assert_int_eq(issue(&h, TT_NOW, &c), OFP_ISSUER_REFUSED);
	err = ofp_issuer_error(iss);
	ck_assert_msg(strstr(err, "balance 499") && strstr(err, "credit line 0") && strstr(err, "threshold 500"), "%s",
		      err);
	ck_assert_int_eq(ofp_ledger_credential_exists(ofp_issuer_ledger(iss), 1), OFP_LEDGER_NOT_FOUND);
	/* One more unit of credit line reaches it. */
	ck_assert_int_eq(ofp_ledger_set_credit_line(ofp_issuer_ledger(iss), "bob", 1, TT_NOW, NULL), OFP_LEDGER_OK);
	ck_assert_msg(issue(&h, TT_NOW, &c) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	tk_holder_free(&h);
}
END_TEST

START_TEST(test_issue_empty_account)
{
	tk_holder_t h;
	ofp_credential_t c;

	TT_NEED_TOKEN(&env);
	account("carol", 0, 0, OFP_ALG_P256, &h);
	ck_assert_int_eq(issue(&h, TT_NOW, &c), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "balance 0 + credit line 0"));
	tk_holder_free(&h);
}
END_TEST

START_TEST(test_issue_credit_line_counts)
{
	tk_holder_t h;
	ofp_credential_t c;

	TT_NEED_TOKEN(&env);
	account("dave", 0, 500, OFP_ALG_P256, &h);
	ck_assert_msg(issue(&h, TT_NOW, &c) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	tk_holder_free(&h);
}
END_TEST

START_TEST(test_issue_ed25519_holder)
{
	tk_holder_t h;
	ofp_credential_t c;

	TT_NEED_TOKEN(&env);
	account("erin", 1000, 0, OFP_ALG_ED25519, &h);
	ck_assert_msg(issue(&h, TT_NOW, &c) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert_uint_eq(c.holder_alg, OFP_ALG_ED25519);
	assert_credential_valid(&c);
	tk_holder_free(&h);
}
END_TEST

static ofp_issuer_rc_t issue_bytes(const uint8_t *req, size_t len)
{
	uint8_t cred[OFP_CREDENTIAL_MAX];
	size_t cred_len;

	return ofp_issuer_issue(iss, req, len, NULL, cred, &cred_len, NULL);
}

START_TEST(test_issue_bad_requests)
{
	tk_holder_t h, other;
	uint8_t req[OFP_ENROLLMENT_MAX + 1], bad[OFP_ENROLLMENT_MAX + 1];
	size_t len;
	ofp_enrollment_t e;

	TT_NEED_TOKEN(&env);
	account("frank", 1000, 0, OFP_ALG_P256, &h);
	ck_assert(tk_enrollment(&h, TT_NOW, req, &len));
	/* Proof of possession: any flipped signature bit. */
	for (size_t bit = 0; bit < 64 * 8; bit += 37) {
		memcpy(bad, req, len);
		bad[len - OFP_HASH_LEN - 64 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
		ck_assert_int_eq(issue_bytes(bad, len), OFP_ISSUER_REFUSED);
		ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "proof of possession"));
	}
	/* Signed by another key than the one it carries. */
	ck_assert(tk_holder_new(&other, OFP_ALG_P256, h.holder_id, NULL));
	ck_assert_int_eq(ofp_enrollment_decode(req, len, &e, NULL), OFP_FMT_OK);
	memcpy(e.holder_key, other.holder_key, other.holder_key_len);
	ck_assert_int_eq(ofp_enrollment_encode(&e, bad, sizeof(bad), &len, NULL), OFP_FMT_OK);
	ck_assert_int_eq(issue_bytes(bad, len), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "proof of possession"));
	/* Truncated, oversized, another artifact, empty. */
	for (size_t cut = 0; cut < len; cut += 7) {
		ck_assert_int_eq(issue_bytes(req, cut), OFP_ISSUER_REFUSED);
		ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "enrollment request"));
	}
	memcpy(bad, req, len);
	bad[len] = 0;
	ck_assert_int_eq(issue_bytes(bad, len + 1), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "trailing"));
	memcpy(bad, req, len);
	bad[0] = 0x11;
	ck_assert_int_eq(issue_bytes(bad, len), OFP_ISSUER_REFUSED);
	ck_assert_int_eq(ofp_ledger_credential_exists(ofp_issuer_ledger(iss), 1), OFP_LEDGER_NOT_FOUND);
	tk_holder_free(&other);
	tk_holder_free(&h);
}
END_TEST

START_TEST(test_issue_unknown_holder_and_age)
{
	tk_holder_t h, stranger;
	ofp_credential_t c;
	uint8_t id[OFP_ID_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	TT_NEED_TOKEN(&env);
	account("gina", 1000, 0, OFP_ALG_P256, &h);
	ck_assert(tk_holder_new(&stranger, OFP_ALG_P256, id, NULL));
	ck_assert_int_eq(issue(&stranger, TT_NOW, &c), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "no account has holder id 0102030405060708"));
	ck_assert_int_eq(issue(&h, TT_NOW - cfg.enrollment_max_age - 1, &c), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "enrollment_max_age"));
	ck_assert_int_eq(issue(&h, TT_NOW - cfg.enrollment_max_age, &c), OFP_ISSUER_OK);
	ck_assert_int_eq(issue(&h, TT_NOW + cfg.enrollment_future_skew + 1, &c), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "ahead"));
	tk_holder_free(&stranger);
	tk_holder_free(&h);
}
END_TEST

START_TEST(test_issue_wrong_pin)
{
	ofp_issuer_args_t a = { .dir = env.issuer_dir, .now = TT_NOW, .pin = "nope" };
	ofp_issuer_t *bad = NULL;
	tk_holder_t h;
	uint8_t req[OFP_ENROLLMENT_MAX], cred[OFP_CREDENTIAL_MAX];
	size_t len, cred_len;
	char err[1024];

	TT_NEED_TOKEN(&env);
	account("hank", 1000, 0, OFP_ALG_P256, &h);
	ck_assert(tk_enrollment(&h, TT_NOW, req, &len));
	ofp_issuer_close(iss); /* its login would be shared (PKCS#11) */
	iss = NULL;
	ck_assert_int_eq(ofp_issuer_open(&a, &bad, err, sizeof(err)), OFP_ISSUER_OK);
	ck_assert_int_eq(ofp_issuer_issue(bad, req, len, NULL, cred, &cred_len, NULL), OFP_ISSUER_ERROR);
	ck_assert_msg(strstr(ofp_issuer_error(bad), "PIN_INCORRECT") != NULL, "%s", ofp_issuer_error(bad));
	ck_assert_int_eq(ofp_ledger_credential_exists(ofp_issuer_ledger(bad), 1), OFP_LEDGER_NOT_FOUND);
	ofp_issuer_close(bad);
	tk_holder_free(&h);
}
END_TEST

START_TEST(test_credential_ends_with_key)
{
	tk_holder_t h;
	ofp_credential_t c;
	ofp_ledger_key_t k;

	TT_NEED_TOKEN(&env);
	account("ivy", 1000, 0, OFP_ALG_P256, &h);
	ck_assert_int_eq(ofp_issuer_current_signing_key(iss, &k), OFP_ISSUER_OK);
	ofp_issuer_set_now(iss, k.not_after - 100);
	new_code(&h, "ivy"); /* the first one expired long ago */
	ck_assert_msg(issue(&h, k.not_after - 100, &c) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert_uint_eq(c.not_after, k.not_after);
	/* After the key's end there is no key to sign with. */
	ofp_issuer_set_now(iss, k.not_after + 1);
	ck_assert_int_eq(issue(&h, k.not_after + 1, &c), OFP_ISSUER_ERROR);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "rollover"));
	tk_holder_free(&h);
}
END_TEST

/* ---- enrollment codes (issue 7, 1) ---------------------------------------------------------- */

/* A thief who saw a victim's holder id (it is in every presentation)
 * enrolls his own key under it. */
START_TEST(test_enroll_needs_the_code)
{
	tk_holder_t victim, thief;
	ofp_credential_t c;
	ofp_enroll_code_t code;
	ofp_account_t a;
	char want[64];

	TT_NEED_TOKEN(&env);
	account("victim", 2000, 0, OFP_ALG_P256, &victim);
	ck_assert(tk_holder_new(&thief, OFP_ALG_P256, victim.holder_id, NULL));
	/* No code: refused, and no try spent. */
	ck_assert_int_eq(issue(&thief, TT_NOW, &c), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "no enrollment code"));
	/* Guesses: each counts a try, committed before the comparison; the
	 * fifth locks the code, for the right one too. */
	thief.has_code = true;
	memset(thief.code, 0x42, sizeof(thief.code));
	for (int i = 1; i <= 5; i++) {
		ck_assert_int_eq(issue(&thief, TT_NOW, &c), OFP_ISSUER_REFUSED);
		snprintf(want, sizeof(want), "does not match (try %d of 5)", i);
		ck_assert_msg(strstr(ofp_issuer_error(iss), want) != NULL, "%s", ofp_issuer_error(iss));
	}
	ck_assert_int_eq(ofp_ledger_account_get(ofp_issuer_ledger(iss), "victim", &a), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_enroll_code_get(ofp_issuer_ledger(iss), a.id, &code), OFP_LEDGER_OK);
	ck_assert_uint_eq(code.tries, 5);
	ck_assert_int_eq(issue(&victim, TT_NOW, &c), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "locked after 5 tries"));
	ck_assert_int_eq(ofp_ledger_credential_exists(ofp_issuer_ledger(iss), 1), OFP_LEDGER_NOT_FOUND);
	/* The operator makes a new code: the victim enrolls with it... */
	new_code(&victim, "victim");
	ck_assert_msg(issue(&victim, TT_NOW, &c) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	/* ...once: the same code for the thief's key is spent. */
	memcpy(thief.code, victim.code, sizeof(thief.code));
	ck_assert_int_eq(issue(&thief, TT_NOW, &c), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "was used at"));
	/* The enrolled key needs no code again (a refresh request). */
	victim.has_code = false;
	ck_assert_int_eq(issue(&victim, TT_NOW, &c), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "still open offline"));
	tk_holder_free(&thief);
	tk_holder_free(&victim);
}
END_TEST

START_TEST(test_enroll_code_expires_and_binds_key)
{
	tk_holder_t amy, bob, amy_key_for_bob;
	ofp_credential_t c;
	EVP_PKEY *shared;

	TT_NEED_TOKEN(&env);
	account("amy", 1000, 0, OFP_ALG_P256, &amy);
	account("bob", 1000, 0, OFP_ALG_P256, &bob);
	/* Expired: refused at its lifetime. */
	ofp_issuer_set_now(iss, TT_NOW + cfg.enrollment_code_lifetime);
	ck_assert_int_eq(issue(&amy, TT_NOW + cfg.enrollment_code_lifetime, &c), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "expired"));
	ofp_issuer_set_now(iss, TT_NOW);
	/* A code is for one holder id: amy's code does not open bob's account. */
	memcpy(bob.code, amy.code, sizeof(bob.code));
	ck_assert_int_eq(issue(&bob, TT_NOW, &c), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "does not match"));
	ck_assert_msg(issue(&amy, TT_NOW, &c) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	/* Amy's enrolled key under bob's holder id with bob's code: a key
	 * belongs to one account. */
	new_code(&bob, "bob");
	EVP_PKEY_up_ref(amy.key);
	shared = amy.key;
	ck_assert(tk_holder_new(&amy_key_for_bob, OFP_ALG_P256, bob.holder_id, shared));
	amy_key_for_bob.has_code = true;
	memcpy(amy_key_for_bob.code, bob.code, sizeof(bob.code));
	ck_assert_int_eq(issue(&amy_key_for_bob, TT_NOW, &c), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "enrolled to another account"));
	tk_holder_free(&amy_key_for_bob);
	tk_holder_free(&amy);
	tk_holder_free(&bob);
}
END_TEST

START_TEST(test_enroll_version1_refused)
{
	tk_holder_t h;
	uint8_t req[OFP_ENROLLMENT_MAX], v1[OFP_ENROLLMENT_MAX], cred[OFP_CREDENTIAL_MAX];
	size_t len, cred_len;

	TT_NEED_TOKEN(&env);
	account("old", 1000, 0, OFP_ALG_P256, &h);
	ck_assert(tk_enrollment(&h, TT_NOW, req, &len));
	memcpy(v1, req, len - OFP_HASH_LEN);
	v1[0] = 0x41;
	ck_assert_int_eq(ofp_issuer_issue(iss, v1, len - OFP_HASH_LEN, NULL, cred, &cred_len, NULL), OFP_ISSUER_REFUSED);
	ck_assert_msg(strstr(ofp_issuer_error(iss), "version 1 has no enrollment code") != NULL, "%s",
		      ofp_issuer_error(iss));
	tk_holder_free(&h);
}
END_TEST

/* ---- bounded exposure (issue 7, 2) ---------------------------------------------------------------- */

/* An account holding 2000 asks again and again: one credential, capped at
 * 2000; then the next window once more is paid for, never two at once. */
START_TEST(test_exposure_bounded)
{
	tk_holder_t h;
	ofp_credential_t c, first;

	TT_NEED_TOKEN(&env);
	account("rider", 2000, 0, OFP_ALG_P256, &h);
	ck_assert_msg(issue(&h, TT_NOW, &first) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert_uint_eq(first.grant.offline_total, 2000);
	h.has_code = false; /* the app sends the same request to refresh */
	for (int i = 0; i < 20; i++) {
		ck_assert_int_eq(issue(&h, TT_NOW + (uint32_t)i, &c), OFP_ISSUER_REFUSED);
		ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "2000 still open offline on 1 credential = 0"));
	}
	/* A top-up pays for the next window, which starts where the live one
	 * ends; a third is refused: that window is covered. */
	ck_assert_int_eq(ofp_ledger_credit(ofp_issuer_ledger(iss), "rider", 1500, TT_NOW, NULL), OFP_LEDGER_OK);
	ck_assert_msg(issue(&h, TT_NOW, &c) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert_uint_eq(c.not_before, first.not_after);
	ck_assert_uint_eq(c.grant.offline_total, 1500);
	ck_assert_uint_eq(c.grant.per_op_max, 500);
	ck_assert_int_eq(ofp_ledger_credit(ofp_issuer_ledger(iss), "rider", 5000, TT_NOW, NULL), OFP_LEDGER_OK);
	ck_assert_int_eq(issue(&h, TT_NOW, &c), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "is covered already by credential 2"));
	/* --replace only over denied credentials. */
	ck_assert_int_eq(issue_replace(&h, TT_NOW, &c), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "not denied (deny serial 1 first)"));
	/* Past the first window and the settlement window, it no longer
	 * counts: a credential after the second. */
	ofp_issuer_set_now(iss, first.not_after + cfg.settlement_window);
	ck_assert_msg(issue(&h, first.not_after + cfg.settlement_window, &c) == OFP_ISSUER_OK, "%s",
		      ofp_issuer_error(iss));
	ck_assert_uint_eq(c.serial, 3);
	ck_assert_uint_eq(c.not_before, first.not_after + cfg.settlement_window);
	tk_holder_free(&h);
}
END_TEST

/* ---- the credential's output (issue 11) ----------------------------------------------------------------- */

static int deliver_fails(void *ctx, const uint8_t *cred, size_t len, char *err, size_t err_len)
{
	(void)cred;
	(void)len;
	++*(int *)ctx;
	snprintf(err, err_len, "out.cred: No space left on device");
	return -1;
}

START_TEST(test_issue_output_fails_nothing_changes)
{
	tk_holder_t h;
	ofp_credential_t c;
	ofp_account_t a;
	ofp_enroll_code_t code;
	uint8_t req[OFP_ENROLLMENT_MAX], cred[OFP_CREDENTIAL_MAX];
	size_t len, cred_len;
	int calls = 0;
	ofp_issue_opts_t o = { .deliver = deliver_fails, .ctx = &calls };

	TT_NEED_TOKEN(&env);
	account("full", 1000, 0, OFP_ALG_P256, &h);
	ck_assert(tk_enrollment(&h, TT_NOW, req, &len));
	ck_assert_int_eq(ofp_issuer_issue(iss, req, len, &o, cred, &cred_len, &c), OFP_ISSUER_ERROR);
	ck_assert_int_eq(calls, 1);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "No space left on device; nothing issued"));
	/* No serial spent, the code not used, the key not enrolled. */
	ck_assert_int_eq(ofp_ledger_credential_exists(ofp_issuer_ledger(iss), 1), OFP_LEDGER_NOT_FOUND);
	ck_assert_int_eq(ofp_ledger_account_get(ofp_issuer_ledger(iss), "full", &a), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_enroll_code_get(ofp_issuer_ledger(iss), a.id, &code), OFP_LEDGER_OK);
	ck_assert(!code.used);
	ck_assert_msg(issue(&h, TT_NOW, &c) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	/* SQLite hands out the serial again; a PostgreSQL identity never
	 * does (sequences are not rolled back): a gap, never a reuse. */
	ck_assert_uint_eq(c.serial, env.pg ? 2 : 1);
	if (env.pg)
		ck_assert_int_eq(ofp_ledger_credential_exists(ofp_issuer_ledger(iss), 1), OFP_LEDGER_NOT_FOUND);
	tk_holder_free(&h);
}
END_TEST

/* ---- a credential shown for a refresh (ofp_issuer_check_credential) -------------------------------- */

typedef struct kept {
	uint8_t cred[OFP_CREDENTIAL_MAX];
	size_t len;
} kept_t;

/* The credential was signed; then the issuance fails and rolls back (as
 * when the commit after an output fails): the bytes exist, the ledger
 * does not hold them. */
static int deliver_keeps_and_fails(void *ctx, const uint8_t *cred, size_t len, char *err, size_t err_len)
{
	kept_t *k = ctx;

	memcpy(k->cred, cred, len);
	k->len = len;
	snprintf(err, err_len, "the commit failed");
	return -1;
}

static void issue_kept(const tk_holder_t *h, uint8_t *cred, size_t *len, ofp_credential_t *c)
{
	uint8_t req[OFP_ENROLLMENT_MAX];
	size_t req_len;

	ck_assert(tk_enrollment(h, TT_NOW, req, &req_len));
	ck_assert_msg(ofp_issuer_issue(iss, req, req_len, NULL, cred, len, c) == OFP_ISSUER_OK, "%s",
		      ofp_issuer_error(iss));
}

static ofp_issuer_rc_t check_cred(const uint8_t *cred, size_t len)
{
	ofp_credential_t c;

	return ofp_issuer_check_credential(iss, cred, len, &c);
}

static void assert_check_refused(const uint8_t *cred, size_t len, const char *why)
{
	ck_assert_int_eq(check_cred(cred, len), OFP_ISSUER_REFUSED);
	ck_assert_msg(strstr(ofp_issuer_error(iss), why) != NULL, "\"%s\" does not say \"%s\"", ofp_issuer_error(iss),
		      why);
}

/* Each byte changed in turn (header, serial, holder key, window, grant,
 * signature): refused every time. */
static void assert_every_change_refused(const uint8_t *cred, size_t len)
{
	uint8_t bad[OFP_CREDENTIAL_MAX];

	for (size_t i = 0; i < len; i++) {
		memcpy(bad, cred, len);
		bad[i] ^= 0x01;
		ck_assert_msg(check_cred(bad, len) == OFP_ISSUER_REFUSED, "byte %zu changed: accepted", i);
	}
}

/* The credential a refresh shows must be the ledger's copy of its serial,
 * byte for byte; where the ledger kept none, the issuer signature decides. */
START_TEST(test_check_credential_is_the_ledgers_copy)
{
	tk_holder_t ann, ben;
	kept_t orphan = { .len = 0 };
	ofp_issue_opts_t o = { .deliver = deliver_keeps_and_fails, .ctx = &orphan };
	uint8_t req[OFP_ENROLLMENT_MAX], ca[OFP_CREDENTIAL_MAX], cb[OFP_CREDENTIAL_MAX];
	size_t req_len, la, lb;
	ofp_credential_t a, b;
	char sql[200];

	TT_NEED_TOKEN(&env);
	account("ann", 1000, 0, OFP_ALG_P256, &ann);
	account("ben", 1000, 0, OFP_ALG_P256, &ben);
	ck_assert(tk_enrollment(&ann, TT_NOW, req, &req_len));
	ck_assert_int_eq(ofp_issuer_issue(iss, req, req_len, &o, ca, &la, &a), OFP_ISSUER_ERROR);
	ck_assert_uint_eq(orphan.len, OFP_CREDENTIAL_MAX); /* a P-256 credential */
	/* Ben's credential takes the rolled-back serial again (SQLite) or
	 * the next one (PostgreSQL): ann's orphan, signed by the issuer's
	 * key, is not a credential of this ledger either way. */
	issue_kept(&ben, cb, &lb, &b);
	assert_check_refused(orphan.cred, orphan.len, env.pg ? "was not issued here" : "not the one the ledger holds");
	issue_kept(&ann, ca, &la, &a);
	ck_assert_msg(check_cred(ca, la) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert_msg(check_cred(cb, lb) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	assert_every_change_refused(ca, la);
	/* A ledger that kept no copy of ann's: her signed credential passes
	 * on its signature, every change to it still fails. */
	snprintf(sql, sizeof(sql), "UPDATE credentials SET credential = NULL WHERE serial = %" PRIu64, a.serial);
	ck_assert(tt_ledger_sql(&env, sql));
	ck_assert_msg(check_cred(ca, la) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	assert_every_change_refused(ca, la);
	/* The ledger holds another credential under ann's serial: her own,
	 * validly signed, is refused. */
	snprintf(sql, sizeof(sql),
		 "UPDATE credentials SET credential = (SELECT credential FROM credentials WHERE serial = %" PRIu64
		 ") WHERE serial = %" PRIu64,
		 b.serial, a.serial);
	ck_assert(tt_ledger_sql(&env, sql));
	assert_check_refused(ca, la, "not the one the ledger holds");
	/* Ben's serial denied: read with the ledger's copy, refused. */
	ck_assert_int_eq(ofp_issuer_deny_serial(iss, b.serial, NULL, NULL), OFP_ISSUER_OK);
	assert_check_refused(cb, lb, "is on the deny list");
	tk_holder_free(&ann);
	tk_holder_free(&ben);
}
END_TEST

/* ---- deny list ------------------------------------------------------------------------------- */

static void read_deny(ofp_deny_list_t *d, uint8_t **keep)
{
	size_t len;
	ofp_trust_list_t t;
	const ofp_trust_entry_t *e;
	uint8_t *tbs;
	size_t tbs_len;
	EVP_PKEY *k;

	*keep = read_dir_file(OFP_ISSUER_DENY, &len);
	ck_assert_int_eq(ofp_deny_list_decode(*keep, len, d, NULL), OFP_FMT_OK);
	read_trust(&t);
	e = ofp_trust_list_find(&t, d->signer_kid);
	ck_assert_ptr_nonnull(e);
	tbs = malloc(len + 32);
	ck_assert_int_eq(ofp_deny_list_tbs(d, tbs, len + 32, &tbs_len, NULL), OFP_FMT_OK);
	k = ofp_sig_public_key(e->alg, e->key, ofp_trust_key_len(e->alg));
	ck_assert(ofp_sig_verify(k, e->alg, tbs, tbs_len, d->issuer_sig));
	EVP_PKEY_free(k);
	free(tbs);
}

START_TEST(test_deny_versions_sorted)
{
	tk_holder_t a, b, z;
	ofp_credential_t c;
	ofp_deny_list_t d;
	uint8_t *keep, entry[OFP_DENY_ENTRY_LEN], id[OFP_ID_LEN];
	char hex[2 * OFP_ID_LEN + 1];
	uint64_t v = 0;
	size_t len = 0;
	bool added = false;

	TT_NEED_TOKEN(&env);
	account("zed", 1000, 0, OFP_ALG_P256, &z);
	account("amy", 1000, 0, OFP_ALG_P256, &a);
	account("ben", 1000, 0, OFP_ALG_P256, &b);
	ck_assert_int_eq(issue(&z, TT_NOW, &c), OFP_ISSUER_OK);
	ck_assert_int_eq(ofp_issuer_deny_serial(iss, 1, &added, &v), OFP_ISSUER_OK);
	ck_assert(added);
	ck_assert_uint_eq(v, 2);
	ck_assert_int_eq(ofp_issuer_deny_holder(iss, "amy", &added, &v), OFP_ISSUER_OK);
	ck_assert_uint_eq(v, 3);
	for (size_t i = 0; i < OFP_ID_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", b.holder_id[i]);
	ck_assert_int_eq(ofp_issuer_deny_holder(iss, hex, &added, &v), OFP_ISSUER_OK);
	ck_assert_uint_eq(v, 4);
	/* Again: nothing new, no new version. */
	ck_assert_int_eq(ofp_issuer_deny_holder(iss, "ben", &added, &v), OFP_ISSUER_OK);
	ck_assert(!added);
	ck_assert_uint_eq(v, 4);
	read_deny(&d, &keep);
	ck_assert_uint_eq(d.version, 4);
	ck_assert_uint_eq(d.issued_at, TT_NOW);
	ck_assert_uint_eq(d.count, 3);
	for (uint32_t i = 1; i < d.count; i++)
		ck_assert_int_lt(memcmp(d.entries + (i - 1) * 9, d.entries + i * 9, 9), 0);
	ofp_deny_entry_holder(entry, a.holder_id);
	ck_assert(ofp_deny_list_contains(&d, entry));
	ofp_deny_entry_holder(entry, b.holder_id);
	ck_assert(ofp_deny_list_contains(&d, entry));
	ofp_deny_entry_serial(entry, 1);
	ck_assert(ofp_deny_list_contains(&d, entry));
	ck_assert_uint_eq(d.entries[2 * 9], OFP_DENY_SERIAL); /* serials after holders */
	free(keep);
	/* Asked for within the hour: as stored. An hour on: the same entries
	 * signed again as the next version, issued now, so that gates that
	 * sync stay fresh (VERIFIER.md 3.5); deny.bin follows. */
	ofp_issuer_set_now(iss, TT_NOW + OFP_ISSUER_DENY_REISSUE - 1);
	ck_assert_int_eq(ofp_issuer_deny_list(iss, &keep, &len), OFP_ISSUER_OK);
	ck_assert_int_eq(ofp_deny_list_decode(keep, len, &d, NULL), OFP_FMT_OK);
	ck_assert_uint_eq(d.version, 4);
	ck_assert_uint_eq(d.issued_at, TT_NOW);
	free(keep);
	ofp_issuer_set_now(iss, TT_NOW + OFP_ISSUER_DENY_REISSUE);
	ck_assert_int_eq(ofp_issuer_deny_list(iss, &keep, &len), OFP_ISSUER_OK);
	ck_assert_int_eq(ofp_deny_list_decode(keep, len, &d, NULL), OFP_FMT_OK);
	ck_assert_uint_eq(d.version, 5);
	ck_assert_uint_eq(d.issued_at, TT_NOW + OFP_ISSUER_DENY_REISSUE);
	ck_assert_uint_eq(d.count, 3);
	free(keep);
	read_deny(&d, &keep);
	ck_assert_uint_eq(d.version, 5);
	free(keep);
	/* A clock that ran a year ahead and came back: the list signed then
	 * is signed again at the right time when asked for, not served for a
	 * year (gates refuse a list from their future, VERIFIER.md 3.5). */
	ofp_issuer_set_now(iss, TT_NOW + 365u * 86400u);
	ck_assert_int_eq(ofp_issuer_deny_list(iss, &keep, &len), OFP_ISSUER_OK);
	ck_assert_int_eq(ofp_deny_list_decode(keep, len, &d, NULL), OFP_FMT_OK);
	ck_assert_uint_eq(d.version, 6);
	free(keep);
	ofp_issuer_set_now(iss, TT_NOW + OFP_ISSUER_DENY_REISSUE + 10);
	ck_assert_int_eq(ofp_issuer_deny_list(iss, &keep, &len), OFP_ISSUER_OK);
	ck_assert_int_eq(ofp_deny_list_decode(keep, len, &d, NULL), OFP_FMT_OK);
	ck_assert_uint_eq(d.version, 7);
	ck_assert_uint_eq(d.issued_at, TT_NOW + OFP_ISSUER_DENY_REISSUE + 10);
	free(keep);
	/* A list a little ahead (another process's clock) is served as is. */
	ofp_issuer_set_now(iss, TT_NOW + OFP_ISSUER_DENY_REISSUE + 10 - OFP_ISSUER_DENY_AHEAD);
	ck_assert_int_eq(ofp_issuer_deny_list(iss, &keep, &len), OFP_ISSUER_OK);
	ck_assert_int_eq(ofp_deny_list_decode(keep, len, &d, NULL), OFP_FMT_OK);
	ck_assert_uint_eq(d.version, 7);
	free(keep);
	ofp_issuer_set_now(iss, TT_NOW);
	/* Unknown names and serials never issued are refused. */
	ck_assert_int_eq(ofp_issuer_deny_holder(iss, "nobody", &added, &v), OFP_ISSUER_REFUSED);
	ck_assert_int_eq(ofp_issuer_deny_holder(iss, "0000000000000000", &added, &v), OFP_ISSUER_REFUSED);
	ck_assert_int_eq(ofp_issuer_deny_serial(iss, 99, &added, &v), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "never issued"));
	/* A denied holder gets no credential; a revoked key neither, a new key does. */
	ck_assert_int_eq(issue(&a, TT_NOW, &c), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "deny list"));
	ck_assert_int_eq(issue(&z, TT_NOW, &c), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "revoked"));
	/* A new key needs a new code from the operator; the lost credential
	 * still counts until it ends, so the account must hold enough. */
	memcpy(id, z.holder_id, OFP_ID_LEN);
	tk_holder_free(&z);
	ck_assert(tk_holder_new(&z, OFP_ALG_P256, id, NULL));
	ck_assert_int_eq(issue(&z, TT_NOW, &c), OFP_ISSUER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_issuer_error(iss), "no enrollment code"));
	new_code(&z, "zed");
	ck_assert_int_eq(issue_replace(&z, TT_NOW, &c), OFP_ISSUER_REFUSED);
	ck_assert_msg(strstr(ofp_issuer_error(iss), "1000 still open offline on 1 credential") != NULL, "%s",
		      ofp_issuer_error(iss));
	ck_assert_int_eq(ofp_ledger_credit(ofp_issuer_ledger(iss), "zed", 1000, TT_NOW, NULL), OFP_LEDGER_OK);
	ck_assert_msg(issue_replace(&z, TT_NOW, &c) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert_uint_eq(c.not_before, TT_NOW);
	ck_assert_uint_eq(c.grant.offline_total, 1000);
	tk_holder_free(&a);
	tk_holder_free(&b);
	tk_holder_free(&z);
}
END_TEST

/* ---- rollover ----------------------------------------------------------------------------------- */

START_TEST(test_rollover)
{
	ofp_ledger_key_t old, fresh, cur;
	ofp_trust_list_t t;
	tk_holder_t h;
	ofp_credential_t c;
	uint8_t *list = NULL;
	size_t len;

	TT_NEED_TOKEN(&env);
	ck_assert_int_eq(ofp_issuer_current_signing_key(iss, &old), OFP_ISSUER_OK);
	ofp_issuer_set_now(iss, TT_NOW + 1000);
	ck_assert_msg(ofp_issuer_rollover(iss, &fresh) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert_str_eq(fresh.label, "offpass-issuer-sign-2");
	ck_assert_int_ne(memcmp(fresh.kid, old.kid, OFP_KEY_ID_LEN), 0);
	read_trust(&t);
	ck_assert_uint_eq(t.version, 2);
	ck_assert_uint_eq(t.count, 3);
	ck_assert_ptr_nonnull(ofp_trust_list_find(&t, old.kid));
	ck_assert_ptr_nonnull(ofp_trust_list_find(&t, fresh.kid));
	/* Signed by the old key, which verifiers already trust. */
	ck_assert_int_eq(memcmp(t.signer_kid, old.kid, OFP_KEY_ID_LEN), 0);
	/* New credentials come from the new key. */
	ck_assert_int_eq(ofp_issuer_current_signing_key(iss, &cur), OFP_ISSUER_OK);
	ck_assert_int_eq(memcmp(cur.kid, fresh.kid, OFP_KEY_ID_LEN), 0);
	account("kim", 1000, 0, OFP_ALG_P256, &h);
	ck_assert_int_eq(issue(&h, TT_NOW + 1000, &c), OFP_ISSUER_OK);
	ck_assert_int_eq(memcmp(c.issuer_kid, fresh.kid, OFP_KEY_ID_LEN), 0);
	assert_credential_valid(&c);
	/* Still there at its not_after; gone after it (a new version). */
	ofp_issuer_set_now(iss, old.not_after);
	ck_assert_int_eq(ofp_issuer_trust_list(iss, &list, &len), OFP_ISSUER_OK);
	ck_assert_int_eq(ofp_trust_list_decode(list, len, &t, NULL), OFP_FMT_OK);
	ck_assert_uint_eq(t.version, 2);
	free(list);
	ofp_issuer_set_now(iss, old.not_after + 1);
	ck_assert_msg(ofp_issuer_trust_list(iss, &list, &len) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert_int_eq(ofp_trust_list_decode(list, len, &t, NULL), OFP_FMT_OK);
	ck_assert_uint_eq(t.version, 3);
	ck_assert_uint_eq(t.count, 2);
	ck_assert_ptr_null(ofp_trust_list_find(&t, old.kid));
	ck_assert_int_eq(memcmp(t.signer_kid, fresh.kid, OFP_KEY_ID_LEN), 0);
	free(list);
	read_trust(&t); /* trust.bin was rewritten */
	ck_assert_uint_eq(t.version, 3);
	tk_holder_free(&h);
}
END_TEST

START_TEST(test_reopen_and_token_check)
{
	ofp_issuer_t *again;
	tk_holder_t h;
	ofp_credential_t c;

	TT_NEED_TOKEN(&env);
	account("lou", 1000, 0, OFP_ALG_P256, &h);
	ofp_issuer_close(iss);
	again = tt_issuer_open(&env, TT_NOW + 5);
	iss = again;
	ck_assert_msg(issue(&h, TT_NOW, &c) == OFP_ISSUER_OK, "%s", ofp_issuer_error(iss));
	ck_assert_uint_eq(c.not_before, TT_NOW + 5);
	tk_holder_free(&h);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("issuer-issue");
	TCase *tc = tcase_create("init");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_init_files);
	tcase_add_test(tc, test_init_refused_twice);
	tcase_add_test(tc, test_init_wrong_pin_and_missing_token);
	suite_add_tcase(s, tc);
	tc = tcase_create("issue");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_issue_at_threshold);
	tcase_add_test(tc, test_issue_below_threshold);
	tcase_add_test(tc, test_issue_empty_account);
	tcase_add_test(tc, test_issue_credit_line_counts);
	tcase_add_test(tc, test_issue_ed25519_holder);
	tcase_add_test(tc, test_issue_bad_requests);
	tcase_add_test(tc, test_issue_unknown_holder_and_age);
	tcase_add_test(tc, test_issue_wrong_pin);
	tcase_add_test(tc, test_credential_ends_with_key);
	tcase_add_test(tc, test_reopen_and_token_check);
	tcase_add_test(tc, test_enroll_needs_the_code);
	tcase_add_test(tc, test_enroll_code_expires_and_binds_key);
	tcase_add_test(tc, test_enroll_version1_refused);
	tcase_add_test(tc, test_exposure_bounded);
	tcase_add_test(tc, test_issue_output_fails_nothing_changes);
	tcase_add_test(tc, test_check_credential_is_the_ledgers_copy);
	suite_add_tcase(s, tc);
	tc = tcase_create("lists");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_deny_versions_sorted);
	tcase_add_test(tc, test_rollover);
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
