/* test-verify.c - Check suite of offpass_verifier_check and the lists:
 * every reason code, the order of the checks, the credential cache, the
 * replay set and grant totals (bounded, across reopen), trust and deny
 * list installation, arguments, threads. */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "verifier/test-util.h"
#include "verifier/verifier_internal.h"

static char dir[64];
static offpass_verifier_config_t cfg;
static offpass_verifier_t *v;

static void setup(void)
{
	tu_keys_init();
	tu_tmpdir(dir, sizeof(dir));
	tu_config(&cfg, dir);
	v = tu_open_trusted(&cfg);
}

static void teardown(void)
{
	offpass_verifier_close(v);
	v = NULL;
	tu_rmdir(dir);
}

static void reopen(void)
{
	offpass_verifier_close(v);
	v = tu_open(&cfg);
}

static offpass_reason_t check_spec(const tu_cred_spec_t *c, const tu_auth_spec_t *a, uint32_t now)
{
	uint8_t p[OFP_PRESENTATION_MAX];
	size_t n = tu_presentation(p, c, a);

	return tu_check(v, p, n, 0, NULL, 0, now, NULL);
}

/* --- the happy path ------------------------------------------------------ */

START_TEST(test_operate)
{
	uint8_t p[OFP_PRESENTATION_MAX];
	size_t n = tu_simple(p, 7);
	offpass_result_t r;

	ck_assert_int_eq(tu_check(v, p, n, T_FARE, NULL, 0, T_NOW + 5, &r), OFFPASS_REASON_OK);
	ck_assert_int_eq(r.decision, OFFPASS_OPERATE);
	ck_assert_str_eq(r.reason_text, "ok");
	ck_assert_mem_eq(r.holder_id, "HOLDER01", 8);
	ck_assert_uint_eq(r.serial, 1001);
	ck_assert_uint_eq(r.counter, 7);
	ck_assert_uint_eq(r.amount, T_FARE);
	ck_assert_uint_eq(r.remaining, 1000 - T_FARE);
	ck_assert_str_eq(offpass_verifier_error(v), "");
	ck_assert_uint_eq(offpass_verifier_trust_version(v), 1);
	ck_assert_uint_eq(offpass_verifier_deny_version(v), 0);
}
END_TEST

/* Ed25519 holder under an Ed25519 issuer key. */
START_TEST(test_operate_ed25519)
{
	tu_cred_spec_t c;
	tu_auth_spec_t a;

	tu_cred_default(&c);
	c.issuer = TK_ISSUER_ED25519;
	c.holder = TK_HOLDER_ED25519;
	memcpy(c.holder_id, "HOLDER02", 8);
	c.serial = 2002;
	tu_auth_default(&a, 1);
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_OK);
	a.bad_holder_sig = true;
	a.counter = 2;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_BAD_HOLDER_SIGNATURE);
}
END_TEST

START_TEST(test_two_way)
{
	static const uint8_t ch[16] = "0123456789abcdef", other[16] = "0123456789abcdeF";
	uint8_t p[OFP_PRESENTATION_MAX];
	tu_cred_spec_t c;
	tu_auth_spec_t a;
	size_t n;

	tu_cred_default(&c);
	tu_auth_default(&a, 1);
	a.challenge = ch;
	a.challenge_len = sizeof(ch);
	a.time = T_NOW - 100000; /* two-way: the challenge is the freshness */
	n = tu_presentation(p, &c, &a);
	ck_assert_int_eq(tu_check(v, p, n, 0, other, sizeof(other), T_NOW, NULL), OFFPASS_REASON_CHALLENGE);
	ck_assert_int_eq(tu_check(v, p, n, 0, ch, 15, T_NOW, NULL), OFFPASS_REASON_CHALLENGE);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_CHALLENGE);
	ck_assert_int_eq(tu_check(v, p, n, 0, ch, sizeof(ch), T_NOW, NULL), OFFPASS_REASON_OK);
	ck_assert_int_eq(tu_check(v, p, n, 0, ch, sizeof(ch), T_NOW, NULL), OFFPASS_REASON_REPLAY);
	/* A one-way presentation where a challenge was sent. */
	n = tu_simple(p, 2);
	ck_assert_int_eq(tu_check(v, p, n, 0, ch, sizeof(ch), T_NOW, NULL), OFFPASS_REASON_CHALLENGE);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "challenge"));
}
END_TEST

/* --- every reason code ------------------------------------------------------ */

START_TEST(test_malformed)
{
	static const uint8_t garbage[] = "not a presentation";
	uint8_t p[OFP_PRESENTATION_MAX + 8];
	size_t n = tu_simple(p, 1);
	offpass_result_t r;

	ck_assert_int_eq(tu_check(v, garbage, sizeof(garbage) - 1, 0, NULL, 0, T_NOW, &r), OFFPASS_REASON_MALFORMED);
	ck_assert_mem_eq(r.holder_id, "\0\0\0\0\0\0\0\0", 8);
	ck_assert_uint_eq(r.serial, 0);
	ck_assert_uint_eq(r.remaining, 0);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "presentation"));
	ck_assert_int_eq(tu_check(v, p, n - 1, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_MALFORMED);
	p[n] = 0;
	ck_assert_int_eq(tu_check(v, p, n + 1, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_MALFORMED);
	ck_assert_int_eq(tu_check(v, p, 0, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_MALFORMED);
	ck_assert_int_eq(tu_check(v, NULL, 0, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_MALFORMED);
	p[0] = 0x22; /* unknown version */
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_MALFORMED);
	p[0] = 0x21;
	p[22] = 0x04; /* holder key prefix */
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_MALFORMED);
}
END_TEST

START_TEST(test_unknown_issuer)
{
	uint8_t list[OFP_TRUST_LIST_MAX];
	ofp_trust_entry_t e[3];
	tu_cred_spec_t c;
	tu_auth_spec_t a;
	size_t n;

	tu_cred_default(&c);
	tu_auth_default(&a, 1);
	c.issuer = TK_ROGUE; /* not in the list */
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_UNKNOWN_ISSUER);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "issuer_key_id"));
	c.issuer = TK_SEALING; /* in the list, but a sealing key */
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_UNKNOWN_ISSUER);
	/* The issuer key's own window, with the skew. */
	tu_trust_entry(&e[0], TK_SEALING, OFP_USAGE_SEALING, T_LIST_FROM, T_LIST_UNTIL);
	tu_trust_entry(&e[1], TK_ISSUER, OFP_USAGE_CREDENTIAL_SIGNING, T_LIST_FROM, T_LIST_UNTIL);
	tu_trust_entry(&e[2], TK_ISSUER2, OFP_USAGE_CREDENTIAL_SIGNING, T_NOW - 1000, T_NOW + 1000);
	n = tu_trust_list(list, 2, TK_ISSUER, e, 3);
	ck_assert_int_eq(offpass_verifier_install_trust_list(v, list, n, T_NOW), OFFPASS_STATUS_OK);
	c.issuer = TK_ISSUER2;
	a.time = T_NOW + 1000 + 120;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW + 1000 + 120), OFFPASS_REASON_OK);
	a.counter = 2;
	a.time = T_NOW + 1000 + 121;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW + 1000 + 121), OFFPASS_REASON_UNKNOWN_ISSUER);
}
END_TEST

START_TEST(test_unknown_issuer_without_trust)
{
	uint8_t p[OFP_PRESENTATION_MAX];
	size_t n = tu_simple(p, 1);
	char dir2[64];
	offpass_verifier_config_t cfg2;
	offpass_verifier_t *v2;
	offpass_result_t r;

	tu_tmpdir(dir2, sizeof(dir2));
	tu_config(&cfg2, dir2);
	v2 = tu_open(&cfg2);
	ck_assert_int_eq(tu_check(v2, p, n, 0, NULL, 0, T_NOW, &r), OFFPASS_REASON_UNKNOWN_ISSUER);
	offpass_verifier_close(v2);
	tu_rmdir(dir2);
}
END_TEST

START_TEST(test_bad_issuer_signature)
{
	tu_cred_spec_t c;
	tu_auth_spec_t a;

	tu_cred_default(&c);
	tu_auth_default(&a, 1);
	c.bad_issuer_sig = true;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_BAD_ISSUER_SIGNATURE);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "issuer_signature"));
	/* Signed by another key, claiming TK_ISSUER's key id. */
	c.bad_issuer_sig = false;
	c.issuer = TK_ISSUER2;
	{
		uint8_t p[OFP_PRESENTATION_MAX];
		size_t n = tu_presentation(p, &c, &a);

		memcpy(p + 2, tu_keys[TK_ISSUER].kid, 4); /* claims TK_ISSUER */
		ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_BAD_ISSUER_SIGNATURE);
	}
}
END_TEST

START_TEST(test_validity_window)
{
	tu_cred_spec_t c;
	tu_auth_spec_t a;
	uint32_t nb, na;

	tu_cred_default(&c);
	tu_auth_default(&a, 1);
	/* A window after the trust list's install (which set the clock's
	 * high-water mark): the gate's clock only goes forward here. */
	c.not_before = nb = T_NOW + 1000;
	c.not_after = na = T_NOW + 5000;
	a.time = nb - 121;
	ck_assert_int_eq(check_spec(&c, &a, nb - 121), OFFPASS_REASON_NOT_YET_VALID);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "not_before"));
	a.time = nb - 120;
	ck_assert_int_eq(check_spec(&c, &a, nb - 120), OFFPASS_REASON_OK);
	a.counter = 2;
	a.time = na + 120;
	ck_assert_int_eq(check_spec(&c, &a, na + 120), OFFPASS_REASON_OK);
	a.counter = 3;
	a.time = na + 121;
	ck_assert_int_eq(check_spec(&c, &a, na + 121), OFFPASS_REASON_EXPIRED);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "not_after"));
}
END_TEST

static void install_deny(uint64_t version, const uint8_t *entries, uint32_t count, offpass_status_t expect)
{
	uint8_t *list;
	size_t n = tu_deny_list(&list, version, TK_ISSUER, entries, count);

	ck_assert_msg(offpass_verifier_install_deny_list(v, list, n, T_NOW) == expect, "%s",
		      offpass_verifier_error(v));
	free(list);
}

START_TEST(test_denied)
{
	uint8_t entries[2 * OFP_DENY_ENTRY_LEN];
	tu_cred_spec_t c;
	tu_auth_spec_t a;

	ofp_deny_entry_serial(entries, 1001);
	ofp_deny_entry_holder(entries + 9, (const uint8_t *)"HOLDER02");
	install_deny(1, entries, 2, OFFPASS_STATUS_OK);
	tu_cred_default(&c);
	tu_auth_default(&a, 1);
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_DENIED); /* by serial */
	c.serial = 1002;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_OK);
	memcpy(c.holder_id, "HOLDER02", 8); /* by holder */
	c.serial = 1003;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_DENIED);
	/* Survives a reopen. */
	reopen();
	ck_assert_uint_eq(offpass_verifier_deny_version(v), 1);
	a.counter = 5;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_DENIED);
}
END_TEST

START_TEST(test_bad_holder_signature)
{
	tu_cred_spec_t c;
	tu_auth_spec_t a;

	tu_cred_default(&c);
	tu_auth_default(&a, 1);
	a.bad_holder_sig = true;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_BAD_HOLDER_SIGNATURE);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "holder_signature"));
	a.bad_holder_sig = false;
	a.signer = TK_HOLDER2; /* another holder's key */
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_BAD_HOLDER_SIGNATURE);
	/* Refusals change nothing: the genuine counter 1 still operates. */
	a.signer = -1;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_OK);
}
END_TEST

/* The authorization is bound to its credential: moved onto another
 * credential of the same holder key, it does not verify. */
START_TEST(test_holder_signature_bound_to_credential)
{
	uint8_t p1[OFP_PRESENTATION_MAX], p2[OFP_PRESENTATION_MAX];
	tu_cred_spec_t c;
	tu_auth_spec_t a;
	size_t n1, n2;

	tu_cred_default(&c);
	tu_auth_default(&a, 1);
	n1 = tu_presentation(p1, &c, &a);
	c.serial = 1002;
	n2 = tu_presentation(p2, &c, &a);
	ck_assert_uint_eq(n1, n2);
	memcpy(p2 + 137, p1 + 137, n1 - 137); /* credential 1002, authorization for 1001 */
	ck_assert_int_eq(tu_check(v, p2, n2, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_BAD_HOLDER_SIGNATURE);
}
END_TEST

START_TEST(test_freshness)
{
	tu_cred_spec_t c;
	tu_auth_spec_t a;

	tu_cred_default(&c);
	tu_auth_default(&a, 1);
	/* freshness 60 + skew 120 */
	a.time = T_NOW - 181;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_STALE);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "time"));
	a.time = T_NOW - 180;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_OK);
	a.counter = 2;
	a.time = T_NOW + 121;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_FUTURE);
	a.time = T_NOW + 120;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_OK);
}
END_TEST

START_TEST(test_replay)
{
	uint8_t p[OFP_PRESENTATION_MAX];
	size_t n;

	n = tu_simple(p, 100);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_OK);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_REPLAY);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "counter"));
	/* Out of order inside the window is fine once. */
	n = tu_simple(p, 98);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_OK);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_REPLAY);
	/* 64 below the highest: cannot be told from a replay. */
	n = tu_simple(p, 36);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_REPLAY);
	n = tu_simple(p, 20);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_REPLAY);
	n = tu_simple(p, 37);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_OK);
	/* A big jump forward clears the window: 999 was never seen (and
	 * the credential's 1000 are spent by 100, 98, 37 and 1000). */
	n = tu_simple(p, 1000);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_OK);
	n = tu_simple(p, 999);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_OVER_OFFLINE_TOTAL);
}
END_TEST

START_TEST(test_grant)
{
	uint8_t p[OFP_PRESENTATION_MAX];
	tu_cred_spec_t c;
	tu_auth_spec_t a;
	offpass_result_t r;
	size_t n;

	tu_cred_default(&c);
	tu_auth_default(&a, 1);
	a.amount = 251;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_OVER_OPERATION_MAX);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "per-operation"));
	/* 1000 offline: 250 + 250 + 250 + 200 + 50, then nothing more. */
	a.amount = 250;
	for (uint32_t i = 1; i <= 3; i++) {
		a.counter = i;
		n = tu_presentation(p, &c, &a);
		ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, &r), OFFPASS_REASON_OK);
		ck_assert_uint_eq(r.remaining, 1000 - 250 * i);
	}
	a.counter = 4;
	a.amount = 200;
	n = tu_presentation(p, &c, &a);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, &r), OFFPASS_REASON_OK);
	ck_assert_uint_eq(r.remaining, 50);
	a.counter = 5;
	a.amount = 51;
	n = tu_presentation(p, &c, &a);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, &r), OFFPASS_REASON_OVER_OFFLINE_TOTAL);
	ck_assert_uint_eq(r.remaining, 50);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "offline total"));
	a.counter = 6;
	a.amount = 50;
	n = tu_presentation(p, &c, &a);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, &r), OFFPASS_REASON_OK);
	ck_assert_uint_eq(r.remaining, 0);
	a.counter = 7;
	a.amount = 1;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_OVER_OFFLINE_TOTAL);
	/* Another credential (serial) of the same holder has its own total. */
	c.serial = 1002;
	a.counter = 8;
	a.amount = 250;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_OK);
}
END_TEST

START_TEST(test_wrong_resource)
{
	uint8_t p[OFP_PRESENTATION_MAX];
	tu_cred_spec_t c;
	tu_auth_spec_t a;
	size_t n;

	tu_cred_default(&c);
	tu_auth_default(&a, 1);
	c.resource_class = 2;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_WRONG_RESOURCE);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "resource_class"));
	/* The gate's charge must be the authorized amount: its own reason,
	 * so that a gate's screen can tell a wrong fare from a wrong gate. */
	n = tu_simple(p, 2);
	ck_assert_int_eq(tu_check(v, p, n, T_FARE + 1, NULL, 0, T_NOW, NULL), OFFPASS_REASON_WRONG_AMOUNT);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "charges"));
	ck_assert_int_eq(tu_check(v, p, n, T_FARE - 1, NULL, 0, T_NOW, NULL), OFFPASS_REASON_WRONG_AMOUNT);
	ck_assert_str_eq(offpass_reason_text(OFFPASS_REASON_WRONG_AMOUNT), "wrong amount");
	ck_assert_int_eq(tu_check(v, p, n, T_FARE, NULL, 0, T_NOW, NULL), OFFPASS_REASON_OK);
}
END_TEST

static offpass_status_t open_with(offpass_verifier_config_t *c, char *err, size_t cap)
{
	offpass_verifier_t *v2 = NULL;
	offpass_status_t st;

	offpass_verifier_close(v);
	v = NULL;
	st = offpass_verifier_open(c, &v2, err, cap);
	v = v2;
	return st;
}

/* Issue 7.5: the holder never sets the price. A mode must be chosen; a
 * fixed gate charges its fare whatever the code says; a charge of 0 is
 * refused unless the gate is configured for free passage. */
START_TEST(test_fare_modes)
{
	uint8_t p[OFP_PRESENTATION_MAX], p0[OFP_PRESENTATION_MAX];
	offpass_verifier_config_t c = cfg;
	offpass_result_t r;
	tu_cred_spec_t cs;
	tu_auth_spec_t a;
	char err[256];
	size_t n = tu_simple(p, 1), n0;

	tu_cred_default(&cs);
	tu_auth_default(&a, 2);
	a.amount = 0;
	n0 = tu_presentation(p0, &cs, &a);
	/* No mode: refused at open. */
	c.fare_mode = OFFPASS_FARE_UNSET;
	ck_assert_int_eq(open_with(&c, err, sizeof(err)), OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_ptr_nonnull(strstr(err, "fare_mode"));
	/* Fixed with fare 0: only with the flag. */
	c.fare_mode = OFFPASS_FARE_FIXED;
	c.fare = 0;
	ck_assert_int_eq(open_with(&c, err, sizeof(err)), OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_ptr_nonnull(strstr(err, "ALLOW_ZERO"));
	c.flags = 0x80;
	c.fare = T_FARE;
	ck_assert_int_eq(open_with(&c, err, sizeof(err)), OFFPASS_STATUS_INVALID_ARGUMENT);
	c.flags = 0;
	/* Fixed fare: the amount-0 code is refused, the right one operates,
	 * another charge than the fare is a caller error. */
	ck_assert_int_eq(open_with(&c, err, sizeof(err)), OFFPASS_STATUS_OK);
	ck_assert_int_eq(offpass_verifier_check(v, p0, n0, 0, NULL, 0, T_NOW, &r), OFFPASS_STATUS_OK);
	ck_assert_int_eq(r.reason, OFFPASS_REASON_WRONG_AMOUNT);
	ck_assert_int_eq(offpass_verifier_check(v, p, n, T_FARE + 1, NULL, 0, T_NOW, &r),
			 OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_int_eq(offpass_verifier_check(v, p, n, 0, NULL, 0, T_NOW, &r), OFFPASS_STATUS_OK);
	ck_assert_int_eq(r.reason, OFFPASS_REASON_OK);
	ck_assert_uint_eq(r.amount, T_FARE);
	/* Till: every check brings its amount; 0 is not a price. */
	c.fare_mode = OFFPASS_FARE_TILL;
	c.fare = T_FARE;
	ck_assert_int_eq(open_with(&c, err, sizeof(err)), OFFPASS_STATUS_INVALID_ARGUMENT);
	c.fare = 0;
	ck_assert_int_eq(open_with(&c, err, sizeof(err)), OFFPASS_STATUS_OK);
	ck_assert_int_eq(offpass_verifier_check(v, p0, n0, 0, NULL, 0, T_NOW, &r), OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "amount: 0"));
	ck_assert_int_eq(offpass_verifier_check(v, p0, n0, 100, NULL, 0, T_NOW, &r), OFFPASS_STATUS_OK);
	ck_assert_int_eq(r.reason, OFFPASS_REASON_WRONG_AMOUNT);
	/* Free passage, configured: the amount-0 code operates. */
	c.flags = OFFPASS_CONFIG_ALLOW_ZERO_AMOUNT;
	ck_assert_int_eq(open_with(&c, err, sizeof(err)), OFFPASS_STATUS_OK);
	ck_assert_int_eq(offpass_verifier_check(v, p0, n0, 0, NULL, 0, T_NOW, &r), OFFPASS_STATUS_OK);
	ck_assert_int_eq(r.reason, OFFPASS_REASON_OK);
}
END_TEST

/* Issue 7.3: replay state by holder KEY. Two keys of one holder id count
 * on their own (a second device may start anywhere); one key is one
 * window across its credentials. */
START_TEST(test_replay_by_key)
{
	tu_cred_spec_t c1, c2;
	tu_auth_spec_t a;

	tu_cred_default(&c1);
	c2 = c1;
	c2.holder = TK_HOLDER2;
	c2.serial = 2002;
	tu_auth_default(&a, 1);
	ck_assert_int_eq(check_spec(&c1, &a, T_NOW), OFFPASS_REASON_OK);
	ck_assert_int_eq(check_spec(&c2, &a, T_NOW), OFFPASS_REASON_OK);
	a.counter = 100;
	ck_assert_int_eq(check_spec(&c1, &a, T_NOW), OFFPASS_REASON_OK);
	/* The second key below the first's counter: its own window. */
	a.counter = 5;
	ck_assert_int_eq(check_spec(&c2, &a, T_NOW), OFFPASS_REASON_OK);
	ck_assert_int_eq(check_spec(&c2, &a, T_NOW), OFFPASS_REASON_REPLAY);
	/* The same key under a refreshed credential: the same window. */
	c1.serial = 1003;
	a.counter = 100;
	ck_assert_int_eq(check_spec(&c1, &a, T_NOW), OFFPASS_REASON_REPLAY);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "holder key"));
	a.counter = 101;
	ck_assert_int_eq(check_spec(&c1, &a, T_NOW), OFFPASS_REASON_OK);
}
END_TEST

/* Issue 7.7a: a gate clock that jumps forward and back does not re-open
 * replays. */
START_TEST(test_clock_back)
{
	tu_cred_spec_t c1, c2;
	tu_auth_spec_t a1, a2;
	const uint32_t t = T_NOW;

	tu_cred_default(&c1);
	c2 = c1;
	c2.holder = TK_HOLDER2;
	c2.serial = 2002;
	/* The attack: operate at t, any presentation at t + 3600, the first
	 * code again at t + 20. */
	tu_auth_default(&a1, 1);
	a1.time = t;
	ck_assert_int_eq(check_spec(&c1, &a1, t), OFFPASS_REASON_OK);
	tu_auth_default(&a2, 1);
	a2.time = t + 3600;
	ck_assert_int_eq(check_spec(&c2, &a2, t + 3600), OFFPASS_REASON_OK);
	ck_assert_int_eq(check_spec(&c1, &a1, t + 20), OFFPASS_REASON_CLOCK_BACK);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "gate clock"));
	/* Durable: the high-water mark survives a reopen, and a crash. */
	reopen();
	ck_assert_int_eq(check_spec(&c1, &a1, t + 20), OFFPASS_REASON_CLOCK_BACK);
	/* Back within the skew is fine. */
	a2.counter = 2;
	a2.time = t + 3600 - 100;
	ck_assert_int_eq(check_spec(&c2, &a2, t + 3600 - 100), OFFPASS_REASON_OK);
}
END_TEST

/* Within the skew, a clock that went forward must not prune an entry a
 * later-but-earlier check could still accept: operated at t with a
 * future-dated time (t + skew), pruned by a check at t + 400 under the
 * old rule, and fresh again at t + 290. */
START_TEST(test_clock_back_keeps_entries)
{
	tu_cred_spec_t c1, c2;
	tu_auth_spec_t a1, a2;
	const uint32_t t = T_NOW;

	tu_cred_default(&c1);
	c2 = c1;
	c2.holder = TK_HOLDER2;
	c2.serial = 2002;
	tu_auth_default(&a1, 1);
	a1.time = t + 120;
	ck_assert_int_eq(check_spec(&c1, &a1, t), OFFPASS_REASON_OK);
	tu_auth_default(&a2, 1);
	a2.time = t + 400;
	ck_assert_int_eq(check_spec(&c2, &a2, t + 400), OFFPASS_REASON_OK);
	ck_assert_int_eq(check_spec(&c1, &a1, t + 290), OFFPASS_REASON_REPLAY);
}
END_TEST

/* A gate with no checks since its lists came: the list installs and
 * note_time are readings of its clock too, kept across a restart, so
 * setting the clock back (to make a stale deny list look fresh, or an
 * expired credential valid) is refused though nothing was journaled. */
START_TEST(test_clock_back_idle)
{
	uint8_t entries[OFP_DENY_ENTRY_LEN], *list;
	tu_cred_spec_t c;
	tu_auth_spec_t a;
	ofp_v_stats_t s;
	char path[128];
	size_t n;
	FILE *f;
	int byte;

	ofp_deny_entry_serial(entries, 999);
	n = tu_deny_list(&list, 1, TK_ISSUER, entries, 1);
	/* A sync three days later installs a list; no check ever ran. */
	ck_assert_int_eq(offpass_verifier_install_deny_list(v, list, n, T_NOW + 3 * 86400), OFFPASS_STATUS_OK);
	free(list);
	ofp_v_stats(v, &s);
	ck_assert_uint_eq(s.clock_high_water, T_NOW + 3 * 86400);
	reopen();
	tu_cred_default(&c);
	tu_auth_default(&a, 1);
	a.time = T_NOW + 1000;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW + 1000), OFFPASS_REASON_CLOCK_BACK);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "gate clock"));
	/* A status screen a day later: the mark moves with it, durably. */
	ck_assert_int_eq(offpass_verifier_note_time(v, T_NOW + 4 * 86400), OFFPASS_STATUS_OK);
	reopen();
	ofp_v_stats(v, &s);
	ck_assert_uint_eq(s.clock_high_water, T_NOW + 4 * 86400);
	/* Within the skew: fine, and nothing goes back. */
	ck_assert_int_eq(offpass_verifier_note_time(v, T_NOW + 4 * 86400 - 120), OFFPASS_STATUS_OK);
	ofp_v_stats(v, &s);
	ck_assert_uint_eq(s.clock_high_water, T_NOW + 4 * 86400);
	/* Set back a day: every reading is refused with its own reason, the
	 * lists stay as they are. */
	ck_assert_int_eq(offpass_verifier_note_time(v, T_NOW + 3 * 86400), OFFPASS_STATUS_REJECTED);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "set back"));
	n = tu_deny_list(&list, 2, TK_ISSUER, entries, 1);
	ck_assert_int_eq(offpass_verifier_install_deny_list(v, list, n, T_NOW + 3 * 86400), OFFPASS_STATUS_REJECTED);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "gate clock"));
	ck_assert_uint_eq(offpass_verifier_deny_version(v), 1);
	free(list);
	a.time = T_NOW + 3 * 86400;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW + 3 * 86400), OFFPASS_REASON_CLOCK_BACK);
	ck_assert_int_eq(offpass_verifier_note_time(NULL, T_NOW), OFFPASS_STATUS_INVALID_ARGUMENT);
	/* A damaged clock.state is not read as an earlier time. */
	offpass_verifier_close(v);
	v = NULL;
	snprintf(path, sizeof(path), "%s/clock.state", dir);
	f = fopen(path, "r+b");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 11, SEEK_SET), 0);
	byte = fgetc(f);
	ck_assert_int_ge(byte, 0);
	ck_assert_int_eq(fseek(f, 11, SEEK_SET), 0);
	ck_assert_int_eq(fputc(byte ^ 0x01, f), byte ^ 0x01);
	ck_assert_int_eq(fclose(f), 0);
	{
		char err[256];

		ck_assert_int_eq(offpass_verifier_open(&cfg, &v, err, sizeof(err)), OFFPASS_STATUS_CORRUPT);
		ck_assert_ptr_nonnull(strstr(err, "clock.state"));
	}
	ck_assert_int_eq(unlink(path), 0);
	v = tu_open(&cfg);
}
END_TEST

/* --- the order of the checks ------------------------------------------------ */

START_TEST(test_order)
{
	uint8_t entries[OFP_DENY_ENTRY_LEN];
	tu_cred_spec_t c;
	tu_auth_spec_t a;
	uint32_t late;

	ofp_deny_entry_serial(entries, 1001);
	install_deny(1, entries, 1, OFFPASS_STATUS_OK);
	tu_cred_default(&c);
	tu_auth_default(&a, 1);
	late = c.not_after + 1000;
	/* The gate's clock only goes forward here (a clock that goes back is
	 * a reason of its own, checked last below). */
	a.time = T_NOW - 10000;
	a.bad_holder_sig = true;
	/* bad issuer signature and not yet valid: the signature */
	c.bad_issuer_sig = true;
	c.not_before = T_NOW + 1000;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_BAD_ISSUER_SIGNATURE);
	c.bad_issuer_sig = false;
	tu_cred_default(&c);
	/* denied, bad holder signature, stale, wrong resource: denied */
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_DENIED);
	/* wrong resource, bad holder signature: the resource (credential) */
	c.serial = 1002;
	c.resource_class = 3;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_WRONG_RESOURCE);
	/* bad holder signature and stale: the signature */
	c.resource_class = 1;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_BAD_HOLDER_SIGNATURE);
	/* stale and over the maximum: stale */
	a.bad_holder_sig = false;
	a.amount = 999;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_STALE);
	/* replay and over the maximum: replay */
	a.time = T_NOW;
	a.amount = 250;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_OK);
	c.per_op_max = 100; /* a new credential, same holder key and counter */
	c.serial = 1003;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_REPLAY);
	/* over the maximum and over the total: the maximum */
	a.counter = 2;
	c.offline_total = 10;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_OVER_OPERATION_MAX);
	/* denied and expired: the window comes first */
	tu_cred_default(&c);
	a.counter = 3;
	a.time = late;
	ck_assert_int_eq(check_spec(&c, &a, late), OFFPASS_REASON_EXPIRED);
	/* unknown issuer and expired: the issuer */
	c.issuer = TK_ROGUE;
	ck_assert_int_eq(check_spec(&c, &a, late), OFFPASS_REASON_UNKNOWN_ISSUER);
	/* a clock gone back past the skew and anything else: the clock */
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_CLOCK_BACK);
	/* ...but a malformed input stays malformed */
	ck_assert_int_eq(tu_check(v, (const uint8_t *)"x", 1, T_FARE, NULL, 0, T_NOW, NULL), OFFPASS_REASON_MALFORMED);
}
END_TEST

/* --- the credential cache ---------------------------------------------------- */

START_TEST(test_cache)
{
	uint8_t p[OFP_PRESENTATION_MAX], list[OFP_TRUST_LIST_MAX];
	ofp_v_stats_t s;
	size_t n;

	n = tu_simple(p, 1);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_OK);
	ofp_v_stats(v, &s);
	ck_assert_uint_eq(s.cache_misses, 1);
	ck_assert_uint_eq(s.cache_hits, 0);
	ck_assert_uint_eq(s.cache_entries, 1);
	ck_assert_uint_eq(s.issuer_verifications, 1);
	n = tu_simple(p, 2); /* same credential: warm, no issuer signature */
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_OK);
	ofp_v_stats(v, &s);
	ck_assert_uint_eq(s.cache_hits, 1);
	ck_assert_uint_eq(s.issuer_verifications, 1);
	/* A warm credential still gets the holder signature checked... */
	{
		tu_cred_spec_t c;
		tu_auth_spec_t a;

		tu_cred_default(&c);
		tu_auth_default(&a, 3);
		a.bad_holder_sig = true;
		ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_BAD_HOLDER_SIGNATURE);
	}
	ofp_v_stats(v, &s);
	ck_assert_uint_eq(s.cache_hits, 2);
	/* A refused credential is not cached. */
	{
		tu_cred_spec_t c;
		tu_auth_spec_t a;

		tu_cred_default(&c);
		tu_auth_default(&a, 4);
		c.bad_issuer_sig = true;
		ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_BAD_ISSUER_SIGNATURE);
		ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_BAD_ISSUER_SIGNATURE);
	}
	ofp_v_stats(v, &s);
	ck_assert_uint_eq(s.cache_entries, 1);
	ck_assert_uint_eq(s.cache_misses, 3);
	/* A new trust list: cold again. */
	n = tu_default_trust(list, 2);
	ck_assert_int_eq(offpass_verifier_install_trust_list(v, list, n, T_NOW), OFFPASS_STATUS_OK);
	n = tu_simple(p, 5);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_OK);
	ofp_v_stats(v, &s);
	ck_assert_uint_eq(s.cache_misses, 4);
	ck_assert_uint_eq(s.cache_hits, 2);
	ck_assert_uint_eq(s.issuer_verifications, 4);
	/* A warm credential still gets its window checked (last: the gate's
	 * clock does not go back). */
	{
		tu_cred_spec_t c;
		tu_auth_spec_t a;

		tu_cred_default(&c);
		tu_auth_default(&a, 6);
		a.time = c.not_after + 500;
		ck_assert_int_eq(check_spec(&c, &a, c.not_after + 500), OFFPASS_REASON_EXPIRED);
	}
	ofp_v_stats(v, &s);
	ck_assert_uint_eq(s.cache_hits, 3);
	ck_assert_uint_eq(s.issuer_verifications, 4);
}
END_TEST

/* A key removed from the trust list: cached credentials it signed are
 * refused at once. */
START_TEST(test_cache_key_removed)
{
	uint8_t p[OFP_PRESENTATION_MAX], list[OFP_TRUST_LIST_MAX];
	ofp_trust_entry_t e[3];
	tu_cred_spec_t c;
	tu_auth_spec_t a;
	size_t n;

	tu_cred_default(&c);
	c.issuer = TK_ISSUER_ED25519;
	tu_auth_default(&a, 1);
	n = tu_presentation(p, &c, &a);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_OK);
	tu_trust_entry(&e[0], TK_SEALING, OFP_USAGE_SEALING, T_LIST_FROM, T_LIST_UNTIL);
	tu_trust_entry(&e[1], TK_ISSUER, OFP_USAGE_CREDENTIAL_SIGNING, T_LIST_FROM, T_LIST_UNTIL);
	n = tu_trust_list(list, 2, TK_ISSUER, e, 2);
	ck_assert_int_eq(offpass_verifier_install_trust_list(v, list, n, T_NOW), OFFPASS_STATUS_OK);
	a.counter = 2;
	n = tu_presentation(p, &c, &a);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_UNKNOWN_ISSUER);
}
END_TEST

START_TEST(test_cache_bounded)
{
	tu_cred_spec_t c;
	tu_auth_spec_t a;
	ofp_v_stats_t s;

	offpass_verifier_close(v);
	cfg.replay_capacity = 4;
	v = tu_open(&cfg);
	tu_cred_default(&c);
	tu_auth_default(&a, 1);
	for (uint64_t i = 0; i < 12; i++) {
		c.serial = 5000 + i;
		c.offline_total = 100000;
		ck_assert_int_eq(check_spec(&c, &a, T_NOW), i == 0 ? OFFPASS_REASON_OK : OFFPASS_REASON_REPLAY);
		ofp_v_stats(v, &s);
		ck_assert_uint_le(s.cache_entries, 4);
	}
	ofp_v_stats(v, &s);
	ck_assert_uint_eq(s.cache_entries, 4);
	ck_assert_uint_eq(s.cache_misses, 12);
}
END_TEST

/* --- replay state and totals: bounded, durable ------------------------------- */

START_TEST(test_replay_across_reopen)
{
	uint8_t p[OFP_PRESENTATION_MAX];
	size_t n = tu_simple(p, 9);
	char path[128];

	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_OK);
	reopen();
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_REPLAY);
	/* Without the snapshot the journal alone rebuilds it (the state of a
	 * process that crashed before close). */
	offpass_verifier_close(v);
	snprintf(path, sizeof(path), "%s/replay.state", dir);
	ck_assert_int_eq(unlink(path), 0);
	v = tu_open(&cfg);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_REPLAY);
}
END_TEST

START_TEST(test_total_across_reopen)
{
	uint8_t p[OFP_PRESENTATION_MAX];
	tu_cred_spec_t c;
	tu_auth_spec_t a;
	offpass_result_t r;
	char path[128];
	size_t n;

	tu_cred_default(&c);
	tu_auth_default(&a, 1);
	for (uint32_t i = 1; i <= 3; i++) {
		a.counter = i;
		ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_OK);
	}
	reopen();
	a.counter = 4;
	a.amount = 251 - 1;
	n = tu_presentation(p, &c, &a);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, &r), OFFPASS_REASON_OK);
	ck_assert_uint_eq(r.remaining, 0);
	reopen();
	a.counter = 5;
	a.amount = 1;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_OVER_OFFLINE_TOTAL);
	/* Rebuilt from the journal alone. */
	offpass_verifier_close(v);
	snprintf(path, sizeof(path), "%s/replay.state", dir);
	ck_assert_int_eq(unlink(path), 0);
	v = tu_open(&cfg);
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_OVER_OFFLINE_TOTAL);
}
END_TEST

static void holder_name(char out[OFP_ID_LEN + 1], unsigned i)
{
	char tmp[16];

	snprintf(tmp, sizeof(tmp), "H%07u", i % 10000000u);
	memcpy(out, tmp, OFP_ID_LEN + 1);
}

/* Holder i (key i + 1) presents counter 1 at T_NOW + i * step, with a
 * credential valid until `lifetime` seconds after that; the reasons
 * expected are OK. */
static void spec_holder(tu_cred_spec_t *c, tu_auth_spec_t *a, unsigned i, uint32_t now, uint32_t lifetime)
{
	tu_cred_default(c);
	tu_auth_default(a, 1);
	holder_name(c->holder_id, i);
	c->extra_key = i + 1;
	c->serial = 10000 + i;
	c->not_after = now + lifetime;
	a->time = now;
}

static void many_holders(unsigned count, uint32_t step, uint32_t lifetime)
{
	tu_cred_spec_t c;
	tu_auth_spec_t a;

	for (unsigned i = 0; i < count; i++) {
		uint32_t now = T_NOW + i * step;

		spec_holder(&c, &a, i, now, lifetime);
		ck_assert_int_eq(check_spec(&c, &a, now), OFFPASS_REASON_OK);
	}
}

/* Holders that come and go: entries nothing could accept any more are
 * dropped, never a live one; memory stays at the bound. */
START_TEST(test_replay_bounded_expired)
{
	ofp_v_stats_t s;

	offpass_verifier_close(v);
	cfg.replay_capacity = 16;
	v = tu_open(&cfg);
	/* A key entry lives horizon (60 + 2 * 120) + skew = 420 s after its
	 * last use, a total 2 * 120 s after its credential: one holder
	 * every 30 s with 30-s credentials keeps about 14 and 9 live. */
	many_holders(200, 30, 30);
	ofp_v_stats(v, &s);
	ck_assert_uint_le(s.replay_holders, 16);
	ck_assert_uint_le(s.totals, 16);
	ck_assert_uint_eq(s.holders_full, 0);
	ck_assert_uint_eq(s.totals_full, 0);
}
END_TEST

/* Issue 7.7b: a burst of more live holders than the bound. Nothing live
 * is forgotten: the check that does not fit is refused (fail closed,
 * REPLAY_FULL), and every code operated stays a replay. */
START_TEST(test_replay_bounded_live)
{
	uint8_t p[OFP_PRESENTATION_MAX];
	tu_cred_spec_t c;
	tu_auth_spec_t a;
	ofp_v_stats_t s;
	char err[256];
	size_t n;

	offpass_verifier_close(v);
	cfg.replay_capacity = 16;
	v = tu_open(&cfg);
	many_holders(16, 0, 86400);
	spec_holder(&c, &a, 16, T_NOW, 86400);
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_REPLAY_FULL);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "replay_capacity"));
	ofp_v_stats(v, &s);
	ck_assert_uint_eq(s.replay_holders, 16);
	ck_assert_uint_gt(s.holders_full, 0);
	/* Every holder remembered, the oldest too. */
	for (unsigned i = 0; i < 16; i++) {
		spec_holder(&c, &a, i, T_NOW, 86400);
		n = tu_presentation(p, &c, &a);
		ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_REPLAY);
	}
	/* Known keys go on: a new counter of holder 0. */
	spec_holder(&c, &a, 0, T_NOW, 86400);
	a.counter = 2;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_OK);
	/* A reopen with a smaller capacity than the live entries: refused,
	 * not trimmed; with the same capacity everything is there. */
	offpass_verifier_close(v);
	v = NULL;
	cfg.replay_capacity = 8;
	ck_assert_int_eq(offpass_verifier_open(&cfg, &v, err, sizeof(err)), OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_ptr_nonnull(strstr(err, "replay_capacity"));
	cfg.replay_capacity = 16;
	v = tu_open(&cfg);
	spec_holder(&c, &a, 3, T_NOW, 86400);
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_REPLAY);
	/* Key entries expire (420 s; judged by the clock already journaled:
	 * a known holder moves it), but the totals of day-long credentials
	 * are still live: still full. */
	spec_holder(&c, &a, 0, T_NOW + 500, 86400);
	a.counter = 3;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW + 500), OFFPASS_REASON_OK);
	spec_holder(&c, &a, 16, T_NOW + 500, 86400);
	ck_assert_int_eq(check_spec(&c, &a, T_NOW + 500), OFFPASS_REASON_REPLAY_FULL);
	ofp_v_stats(v, &s);
	ck_assert_uint_gt(s.totals_full, 0);
}
END_TEST

/* --- trust list ---------------------------------------------------------------- */

START_TEST(test_trust_anchor)
{
	uint8_t list[OFP_TRUST_LIST_MAX];
	ofp_trust_entry_t e[2];
	char dir2[64];
	offpass_verifier_config_t cfg2;
	offpass_verifier_t *v2;
	size_t n;

	tu_tmpdir(dir2, sizeof(dir2));
	tu_config(&cfg2, dir2);
	v2 = tu_open(&cfg2);
	ck_assert_uint_eq(offpass_verifier_trust_version(v2), 0);
	tu_trust_entry(&e[0], TK_SEALING, OFP_USAGE_SEALING, T_LIST_FROM, T_LIST_UNTIL);
	tu_trust_entry(&e[1], TK_ISSUER, OFP_USAGE_CREDENTIAL_SIGNING, T_LIST_FROM, T_LIST_UNTIL);
	/* Signed by a key it does not contain. */
	n = tu_trust_list(list, 1, TK_ROGUE, e, 2);
	ck_assert_int_eq(offpass_verifier_install_trust_list(v2, list, n, T_NOW), OFFPASS_STATUS_REJECTED);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v2), "signer_key_id"));
	/* Signed by its sealing key. */
	n = tu_trust_list(list, 1, TK_SEALING, e, 2);
	ck_assert_int_eq(offpass_verifier_install_trust_list(v2, list, n, T_NOW), OFFPASS_STATUS_REJECTED);
	/* A broken signature. */
	n = tu_trust_list(list, 1, TK_ISSUER, e, 2);
	list[n - 10] ^= 0x01;
	ck_assert_int_eq(offpass_verifier_install_trust_list(v2, list, n, T_NOW), OFFPASS_STATUS_REJECTED);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v2), "issuer_signature"));
	/* No signature (zeros). */
	{
		uint8_t unsigned_list[OFP_TRUST_LIST_MAX];

		memcpy(unsigned_list, list, n);
		memset(unsigned_list + n - 64, 0, 64);
		ck_assert_int_eq(offpass_verifier_install_trust_list(v2, unsigned_list, n, T_NOW),
				 OFFPASS_STATUS_REJECTED);
	}
	/* Garbage, truncated. */
	list[n - 10] ^= 0x01;
	ck_assert_int_eq(offpass_verifier_install_trust_list(v2, list, n - 1, T_NOW), OFFPASS_STATUS_REJECTED);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v2), "truncated"));
	ck_assert_int_eq(offpass_verifier_install_trust_list(v2, (const uint8_t *)"x", 1, T_NOW),
			 OFFPASS_STATUS_REJECTED);
	/* The signer outside its window at now (its window ended; a later
	 * now would be a reading of the clock that later installs at T_NOW
	 * would be behind). */
	{
		uint8_t old_list[OFP_TRUST_LIST_MAX];
		ofp_trust_entry_t old[2] = { e[0], e[1] };
		size_t old_n;

		tu_trust_entry(&old[1], TK_ISSUER, OFP_USAGE_CREDENTIAL_SIGNING, T_LIST_FROM, T_NOW - 1000);
		old_n = tu_trust_list(old_list, 1, TK_ISSUER, old, 2);
		ck_assert_int_eq(offpass_verifier_install_trust_list(v2, old_list, old_n, T_NOW),
				 OFFPASS_STATUS_REJECTED);
		ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v2), "signer_key_id"));
	}
	ck_assert_uint_eq(offpass_verifier_trust_version(v2), 0);
	ck_assert_int_eq(offpass_verifier_install_trust_list(v2, list, n, T_NOW), OFFPASS_STATUS_OK);
	ck_assert_uint_eq(offpass_verifier_trust_version(v2), 1);
	offpass_verifier_close(v2);
	v2 = tu_open(&cfg2);
	ck_assert_uint_eq(offpass_verifier_trust_version(v2), 1);
	offpass_verifier_close(v2);
	tu_rmdir(dir2);
}
END_TEST

START_TEST(test_trust_update)
{
	uint8_t list[OFP_TRUST_LIST_MAX], p[OFP_PRESENTATION_MAX];
	ofp_trust_entry_t e[3];
	tu_cred_spec_t c;
	tu_auth_spec_t a;
	size_t n;

	/* Same version, older version: refused, the installed one stays. */
	n = tu_default_trust(list, 1);
	ck_assert_int_eq(offpass_verifier_install_trust_list(v, list, n, T_NOW), OFFPASS_STATUS_REJECTED);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "version"));
	n = tu_default_trust(list, 5);
	ck_assert_int_eq(offpass_verifier_install_trust_list(v, list, n, T_NOW), OFFPASS_STATUS_OK);
	n = tu_default_trust(list, 4);
	ck_assert_int_eq(offpass_verifier_install_trust_list(v, list, n, T_NOW), OFFPASS_STATUS_REJECTED);
	ck_assert_uint_eq(offpass_verifier_trust_version(v), 5);
	/* Rollover: the new key joins, signed by the old one. A list signed
	 * by the new key alone before that is refused. */
	tu_trust_entry(&e[0], TK_SEALING, OFP_USAGE_SEALING, T_LIST_FROM, T_LIST_UNTIL);
	tu_trust_entry(&e[1], TK_ISSUER, OFP_USAGE_CREDENTIAL_SIGNING, T_LIST_FROM, T_NOW + 100);
	tu_trust_entry(&e[2], TK_ISSUER2, OFP_USAGE_CREDENTIAL_SIGNING, T_LIST_FROM, T_LIST_UNTIL);
	n = tu_trust_list(list, 6, TK_ISSUER2, e, 3);
	ck_assert_int_eq(offpass_verifier_install_trust_list(v, list, n, T_NOW), OFFPASS_STATUS_REJECTED);
	n = tu_trust_list(list, 6, TK_ISSUER, e, 3);
	ck_assert_int_eq(offpass_verifier_install_trust_list(v, list, n, T_NOW), OFFPASS_STATUS_OK);
	tu_cred_default(&c);
	c.issuer = TK_ISSUER2;
	tu_auth_default(&a, 1);
	n = tu_presentation(p, &c, &a);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_OK);
	/* After the old key's end, lists it signs are refused; the new key's are taken. */
	n = tu_trust_list(list, 7, TK_ISSUER, e, 3);
	ck_assert_int_eq(offpass_verifier_install_trust_list(v, list, n, T_NOW + 1000), OFFPASS_STATUS_REJECTED);
	n = tu_trust_list(list, 7, TK_ISSUER2, e + 1, 2); /* no sealing key */
	ck_assert_int_eq(offpass_verifier_install_trust_list(v, list, n, T_NOW + 1000), OFFPASS_STATUS_OK);
	/* A list without any credential-signing key would be the last one. */
	n = tu_trust_list(list, 8, TK_ISSUER2, e, 1);
	ck_assert_int_eq(offpass_verifier_install_trust_list(v, list, n, T_NOW + 1000), OFFPASS_STATUS_REJECTED);
	reopen();
	ck_assert_uint_eq(offpass_verifier_trust_version(v), 7);
}
END_TEST

/* --- deny list ------------------------------------------------------------------ */

START_TEST(test_deny_install)
{
	uint8_t entries[OFP_DENY_ENTRY_LEN], *list;
	char dir2[64];
	offpass_verifier_config_t cfg2;
	offpass_verifier_t *v2;
	size_t n;

	ofp_deny_entry_serial(entries, 77);
	/* No trust list to check it with. */
	tu_tmpdir(dir2, sizeof(dir2));
	tu_config(&cfg2, dir2);
	v2 = tu_open(&cfg2);
	n = tu_deny_list(&list, 1, TK_ISSUER, entries, 1);
	ck_assert_int_eq(offpass_verifier_install_deny_list(v2, list, n, T_NOW), OFFPASS_STATUS_REJECTED);
	offpass_verifier_close(v2);
	tu_rmdir(dir2);
	/* Bad signature, untrusted signer, truncated. */
	list[n - 1] ^= 0x20;
	ck_assert_int_eq(offpass_verifier_install_deny_list(v, list, n, T_NOW), OFFPASS_STATUS_REJECTED);
	ck_assert_int_eq(offpass_verifier_install_deny_list(v, list, n - 1, T_NOW), OFFPASS_STATUS_REJECTED);
	free(list);
	n = tu_deny_list(&list, 1, TK_ROGUE, entries, 1);
	ck_assert_int_eq(offpass_verifier_install_deny_list(v, list, n, T_NOW), OFFPASS_STATUS_REJECTED);
	free(list);
	ck_assert_uint_eq(offpass_verifier_deny_version(v), 0);
	install_deny(3, entries, 1, OFFPASS_STATUS_OK);
	install_deny(3, entries, 1, OFFPASS_STATUS_REJECTED);
	install_deny(2, entries, 1, OFFPASS_STATUS_REJECTED);
	ck_assert_uint_eq(offpass_verifier_deny_version(v), 3);
	install_deny(4, entries, 0, OFFPASS_STATUS_OK); /* an empty list lifts it */
	ck_assert_uint_eq(offpass_verifier_deny_version(v), 4);
}
END_TEST

/* A large list (100000 entries) still answers in a binary search. */
START_TEST(test_deny_large)
{
	uint32_t count = 100000;
	uint8_t *entries = malloc((size_t)count * OFP_DENY_ENTRY_LEN);
	tu_cred_spec_t c;
	tu_auth_spec_t a;

	for (uint32_t i = 0; i < count; i++)
		ofp_deny_entry_serial(entries + (size_t)i * OFP_DENY_ENTRY_LEN, 3u * i);
	install_deny(1, entries, count, OFFPASS_STATUS_OK);
	free(entries);
	tu_cred_default(&c);
	tu_auth_default(&a, 1);
	c.serial = 3 * 777;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_DENIED);
	c.serial = 3 * 777 + 1;
	ck_assert_int_eq(check_spec(&c, &a, T_NOW), OFFPASS_REASON_OK);
}
END_TEST

/* --- arguments, state directory, threads ---------------------------------------- */

START_TEST(test_arguments)
{
	uint8_t p[OFP_PRESENTATION_MAX], ch[33] = { 0 }, pub[65];
	size_t n = tu_simple(p, 1);
	offpass_result_t r;
	offpass_verifier_config_t bad;
	offpass_verifier_t *v2 = (offpass_verifier_t *)1;
	char err[128], skew_dir[128];

	ck_assert_int_eq(offpass_verifier_check(NULL, p, n, 0, NULL, 0, T_NOW, &r), OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_int_eq(offpass_verifier_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_int_eq(offpass_verifier_check(v, NULL, 5, 0, NULL, 0, T_NOW, &r), OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_int_eq(offpass_verifier_check(v, p, n, T_FARE, ch, 33, T_NOW, &r), OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "challenge"));
	ck_assert_int_eq(offpass_verifier_check(v, p, n, T_FARE, ch, 0, T_NOW, &r), OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_int_eq(offpass_verifier_check(v, p, n, T_FARE, NULL, 4, T_NOW, &r), OFFPASS_STATUS_INVALID_ARGUMENT);
	/* Nothing was journaled or remembered: the presentation still operates. */
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL), OFFPASS_REASON_OK);

	ck_assert_int_eq(offpass_verifier_install_trust_list(v, NULL, 3, T_NOW), OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_int_eq(offpass_verifier_install_deny_list(NULL, p, 3, T_NOW), OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_int_eq(offpass_verifier_public_key(v, NULL), OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_int_eq(offpass_verifier_public_key(v, pub), OFFPASS_STATUS_OK);
	ck_assert_uint_eq(pub[0], 0x04);

	offpass_verifier_config_init(&bad);
	ck_assert_uint_eq(bad.struct_size, sizeof(bad));
	ck_assert_uint_eq(bad.clock_skew, 120);
	ck_assert_uint_eq(bad.freshness, 60);
	ck_assert_uint_eq(bad.replay_capacity, 65536);
	ck_assert_uint_eq(bad.resource_class, 1);
	ck_assert_int_eq(bad.fare_mode, OFFPASS_FARE_UNSET);
	bad.fare_mode = OFFPASS_FARE_TILL;
	ck_assert_int_eq(offpass_verifier_open(&bad, &v2, err, sizeof(err)), OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_ptr_null(v2);
	ck_assert_ptr_nonnull(strstr(err, "state_dir"));
	ck_assert_int_eq(offpass_verifier_open(NULL, &v2, err, sizeof(err)), OFFPASS_STATUS_INVALID_ARGUMENT);
	bad.state_dir = "/nonexistent-parent/offpass/x";
	ck_assert_int_eq(offpass_verifier_open(&bad, &v2, err, sizeof(err)), OFFPASS_STATUS_IO);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent-parent/offpass/x"));
	bad.state_dir = dir;
	bad.replay_capacity = (1u << 24) + 1;
	ck_assert_int_eq(offpass_verifier_open(&bad, &v2, err, sizeof(err)), OFFPASS_STATUS_INVALID_ARGUMENT);
	bad.replay_capacity = 0;
	/* clock_skew: one day at most (the gate CLI's cap, now the library's:
	 * an integrator cannot stretch every window by a year). */
	bad.clock_skew = OFFPASS_CLOCK_SKEW_MAX + 1;
	ck_assert_int_eq(offpass_verifier_open(&bad, &v2, err, sizeof(err)), OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_ptr_null(v2);
	ck_assert_ptr_nonnull(strstr(err, "config.clock_skew"));
	bad.clock_skew = UINT32_MAX;
	ck_assert_int_eq(offpass_verifier_open(&bad, &v2, err, sizeof(err)), OFFPASS_STATUS_INVALID_ARGUMENT);
	bad.clock_skew = OFFPASS_CLOCK_SKEW_MAX; /* the cap itself: fine (a directory of its own) */
	snprintf(skew_dir, sizeof(skew_dir), "%s/skew-max", dir);
	bad.state_dir = skew_dir;
	ck_assert_msg(offpass_verifier_open(&bad, &v2, err, sizeof(err)) == OFFPASS_STATUS_OK, "%s", err);
	offpass_verifier_close(v2);
	v2 = NULL;
	bad.state_dir = dir;
	bad.clock_skew = 120;
	/* A config the library does not know (another size): refused. */
	bad.replay_capacity = 0;
	bad.struct_size = sizeof(bad) - 4;
	ck_assert_int_eq(offpass_verifier_open(&bad, &v2, err, sizeof(err)), OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_ptr_nonnull(strstr(err, "struct_size"));
	offpass_verifier_close(NULL);
}
END_TEST

START_TEST(test_state_dir)
{
	offpass_verifier_config_t other = cfg;
	offpass_verifier_t *v2 = NULL;
	uint8_t pub[65], pub2[65];
	char err[256], path[128];
	struct stat st;

	/* One process (one verifier) per directory. */
	ck_assert_int_eq(offpass_verifier_open(&cfg, &v2, err, sizeof(err)), OFFPASS_STATUS_IO);
	ck_assert_ptr_nonnull(strstr(err, "in use"));
	/* A missing state directory is created, private. */
	other.state_dir = path;
	snprintf(path, sizeof(path), "%s/sub", dir);
	v2 = tu_open(&other);
	offpass_verifier_close(v2);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	tu_rmdir(path);
	other = cfg;
	/* The gate key: private, stable. */
	snprintf(path, sizeof(path), "%s/gate-key.pem", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(offpass_verifier_public_key(v, pub), OFFPASS_STATUS_OK);
	reopen();
	ck_assert_int_eq(offpass_verifier_public_key(v, pub2), OFFPASS_STATUS_OK);
	ck_assert_mem_eq(pub, pub2, 65);
	/* The state is this verifier's: another id is refused. */
	offpass_verifier_close(v);
	v = NULL;
	memcpy(other.verifier_id, "GATE0002", 8);
	ck_assert_int_eq(offpass_verifier_open(&other, &v2, err, sizeof(err)), OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_ptr_nonnull(strstr(err, "4741544530303031")); /* GATE0001 */
	/* A damaged key file. */
	ck_assert(tu_write(path, (const uint8_t *)"-----BEGIN PRIVATE KEY-----\nAAAA\n", 33));
	ck_assert_int_eq(offpass_verifier_open(&cfg, &v2, err, sizeof(err)), OFFPASS_STATUS_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "gate-key.pem"));
	ck_assert_int_eq(unlink(path), 0);
	v = tu_open(&cfg); /* a new key */
	ck_assert_int_eq(offpass_verifier_public_key(v, pub2), OFFPASS_STATUS_OK);
	ck_assert(memcmp(pub, pub2, 65) != 0);
}
END_TEST

START_TEST(test_damaged_lists)
{
	char path[128], err[256];
	offpass_verifier_t *v2 = NULL;

	offpass_verifier_close(v);
	v = NULL;
	snprintf(path, sizeof(path), "%s/trust.bin", dir);
	ck_assert(tu_write(path, (const uint8_t *)"\x81\x00", 2));
	ck_assert_int_eq(offpass_verifier_open(&cfg, &v2, err, sizeof(err)), OFFPASS_STATUS_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "trust.bin"));
	ck_assert_ptr_null(v2);
	ck_assert_int_eq(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/deny.bin", dir);
	ck_assert(tu_write(path, (const uint8_t *)"\x91", 1));
	ck_assert_int_eq(offpass_verifier_open(&cfg, &v2, err, sizeof(err)), OFFPASS_STATUS_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "deny.bin"));
	ck_assert_int_eq(unlink(path), 0);
	v = tu_open(&cfg);
}
END_TEST

typedef struct thread_arg {
	const uint8_t *p;
	size_t n;
	offpass_reason_t reason;
	char error[64];
	bool failed_call;
} thread_arg_t;

static void *check_thread(void *p)
{
	thread_arg_t *t = p;
	offpass_result_t r;

	if (t->failed_call) {
		if (offpass_verifier_check(v, NULL, 1, 0, NULL, 0, T_NOW, &r) != OFFPASS_STATUS_INVALID_ARGUMENT)
			t->reason = 99;
		snprintf(t->error, sizeof(t->error), "%s", offpass_verifier_error(v));
		return NULL;
	}
	t->reason = offpass_verifier_check(v, t->p, t->n, T_FARE, NULL, 0, T_NOW, &r) == OFFPASS_STATUS_OK ? r.reason
												     : 99;
	snprintf(t->error, sizeof(t->error), "%s", offpass_verifier_error(v));
	return NULL;
}

/* The same authorization from eight threads at once: it operates once. */
START_TEST(test_threads_replay)
{
	uint8_t p[OFP_PRESENTATION_MAX];
	size_t n = tu_simple(p, 3);
	pthread_t th[8];
	thread_arg_t args[8];
	int ok = 0, replays = 0;

	for (int i = 0; i < 8; i++) {
		args[i] = (thread_arg_t){ .p = p, .n = n };
		ck_assert_int_eq(pthread_create(&th[i], NULL, check_thread, &args[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
		ok += args[i].reason == OFFPASS_REASON_OK;
		replays += args[i].reason == OFFPASS_REASON_REPLAY;
	}
	ck_assert_int_eq(ok, 1);
	ck_assert_int_eq(replays, 7);
}
END_TEST

/* Errors are per thread: one thread's failure is not another's text. */
START_TEST(test_threads_errors)
{
	uint8_t p[OFP_PRESENTATION_MAX];
	size_t n = tu_simple(p, 4);
	pthread_t a, b;
	thread_arg_t ta = { .failed_call = true }, tb = { .p = p, .n = n };

	ck_assert_int_eq(pthread_create(&a, NULL, check_thread, &ta), 0);
	ck_assert_int_eq(pthread_join(a, NULL), 0);
	ck_assert_int_eq(pthread_create(&b, NULL, check_thread, &tb), 0);
	ck_assert_int_eq(pthread_join(b, NULL), 0);
	ck_assert_ptr_nonnull(strstr(ta.error, "presentation"));
	ck_assert_int_eq(tb.reason, OFFPASS_REASON_OK);
	ck_assert_str_eq(tb.error, "");
	ck_assert_str_eq(offpass_verifier_error(v), "");
}
END_TEST

/* --- the deny list's age (VERIFIER.md 3.5) ---------------------------------- */

#define T_MAX_AGE OFFPASS_DEFAULT_DENY_MAX_AGE

static void install_deny_at(uint64_t version, uint32_t issued_at, uint32_t now)
{
	uint8_t entry[OFP_DENY_ENTRY_LEN], *list;
	size_t n;

	ofp_deny_entry_serial(entry, 4242);
	n = tu_deny_list_at(&list, version, TK_ISSUER, entry, 1, issued_at);
	ck_assert_msg(offpass_verifier_install_deny_list(v, list, n, now) == OFFPASS_STATUS_OK, "%s",
		      offpass_verifier_error(v));
	free(list);
}

/* A credential valid for 10 days and an authorization of `amount` made
 * at `now`, checked at now. */
static offpass_reason_t check_at(uint32_t counter, uint32_t amount, uint32_t now)
{
	tu_cred_spec_t c;
	tu_auth_spec_t a;

	tu_cred_default(&c);
	c.not_after = T_NOW + 10 * 86400;
	tu_auth_default(&a, counter);
	a.time = now;
	a.amount = amount;
	return check_spec(&c, &a, now);
}

static void reopen_with(uint32_t max_age, uint32_t stale_max, uint32_t flags)
{
	char err[256];

	cfg.deny_max_age = max_age;
	cfg.stale_deny_operation_max = stale_max;
	cfg.flags = flags;
	ck_assert_msg(open_with(&cfg, err, sizeof(err)) == OFFPASS_STATUS_OK, "%s", err);
}

/* A gate that misses its syncs refuses once its deny list is older than
 * 48 h, journals that refusal like any other, and operates again once a
 * newer list is installed. */
START_TEST(test_deny_age_stale)
{
	const uint32_t issued = T_NOW - 60, last_fresh = issued + T_MAX_AGE;
	offpass_result_t r;
	ofp_v_stats_t st;
	uint32_t since = 0;
	int stale = -1;
	uint8_t p[OFP_PRESENTATION_MAX];
	tu_cred_spec_t c;
	tu_auth_spec_t a;
	size_t n;

	install_deny_at(1, issued, T_NOW);
	ck_assert_int_eq(check_at(1, T_FARE, T_NOW), OFFPASS_REASON_OK);
	ck_assert_int_eq(check_at(2, T_FARE, last_fresh), OFFPASS_REASON_OK);
	ck_assert_int_eq(offpass_verifier_deny_age(v, last_fresh, &since, &stale), OFFPASS_STATUS_OK);
	ck_assert_uint_eq(since, issued);
	ck_assert_int_eq(stale, 0);

	ofp_v_stats(v, &st);
	ck_assert_uint_eq(st.journal_records, 2);
	tu_cred_default(&c);
	c.not_after = T_NOW + 10 * 86400;
	tu_auth_default(&a, 3);
	a.time = last_fresh + 1;
	n = tu_presentation(p, &c, &a);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, last_fresh + 1, &r), OFFPASS_REASON_DENY_LIST_STALE);
	ck_assert_int_eq(r.decision, OFFPASS_REFUSE);
	ck_assert_str_eq(r.reason_text, "deny list too old");
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "deny_max_age"));
	ck_assert_int_eq(offpass_verifier_deny_age(v, last_fresh + 1, NULL, &stale), OFFPASS_STATUS_OK);
	ck_assert_int_eq(stale, 1);
	ofp_v_stats(v, &st);
	ck_assert_uint_eq(st.journal_records, 3); /* journaled */
	/* The journal with a reason-18 record reads back. */
	reopen();
	ck_assert_int_eq(check_at(3, T_FARE, last_fresh + 10), OFFPASS_REASON_DENY_LIST_STALE);

	/* A newer list (from a sync) lifts it; counter 3 was not consumed. */
	install_deny_at(2, last_fresh + 20, last_fresh + 30);
	ck_assert_int_eq(check_at(3, T_FARE, last_fresh + 30), OFFPASS_REASON_OK);
	ck_assert_int_eq(offpass_verifier_deny_age(v, last_fresh + 30, &since, &stale), OFFPASS_STATUS_OK);
	ck_assert_uint_eq(since, last_fresh + 20);
	ck_assert_int_eq(stale, 0);
}
END_TEST

/* stale_deny_operation_max: while stale, small charges operate and
 * larger ones are refused; 0 refuses every charge. */
START_TEST(test_deny_age_lower_amount)
{
	const uint32_t late = T_NOW + T_MAX_AGE + 3600;

	install_deny_at(1, T_NOW - 60, T_NOW);
	reopen_with(T_MAX_AGE, 100, 0);
	ck_assert_int_eq(check_at(1, 100, late), OFFPASS_REASON_OK);
	ck_assert_int_eq(check_at(2, 101, late), OFFPASS_REASON_DENY_LIST_STALE);
	ck_assert_int_eq(check_at(3, T_FARE, late), OFFPASS_REASON_DENY_LIST_STALE);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "at most 100"));
	ck_assert_int_eq(check_at(4, 1, late), OFFPASS_REASON_OK);
	/* A shorter maximum age takes effect at once. */
	reopen_with(3600, 0, 0);
	ck_assert_int_eq(check_at(5, 1, late), OFFPASS_REASON_DENY_LIST_STALE);
	/* Off, by the flag only. */
	reopen_with(0, 0, OFFPASS_CONFIG_NO_DENY_MAX_AGE);
	ck_assert_int_eq(check_at(6, T_FARE, late), OFFPASS_REASON_OK);
}
END_TEST

/* Without a deny list the age counts from the trust list's issued_at: a
 * freshly provisioned gate operates, one never given a deny list goes
 * stale like one whose list is old. */
START_TEST(test_deny_age_no_deny_list)
{
	uint32_t since = 0;
	int stale = -1;

	ck_assert_uint_eq(offpass_verifier_deny_version(v), 0);
	ck_assert_int_eq(offpass_verifier_deny_age(v, T_NOW, &since, &stale), OFFPASS_STATUS_OK);
	ck_assert_uint_eq(since, T_NOW - 60);
	ck_assert_int_eq(stale, 0);
	ck_assert_int_eq(check_at(1, T_FARE, T_NOW), OFFPASS_REASON_OK);
	ck_assert_int_eq(check_at(2, T_FARE, T_NOW - 60 + T_MAX_AGE + 1), OFFPASS_REASON_DENY_LIST_STALE);
	install_deny_at(1, T_NOW - 60 + T_MAX_AGE, T_NOW - 60 + T_MAX_AGE + 2);
	ck_assert_int_eq(check_at(2, T_FARE, T_NOW - 60 + T_MAX_AGE + 2), OFFPASS_REASON_OK);
	ck_assert_int_eq(offpass_verifier_deny_age(NULL, T_NOW, &since, &stale), OFFPASS_STATUS_INVALID_ARGUMENT);
}
END_TEST

/* A list issued after the gate's now by at most clock_skew (its clock is
 * a little behind the issuer's) is of age 0, and goes stale deny_max_age
 * after its issued_at. One issued further ahead is refused at install:
 * installed, it would keep a gate that never syncs "fresh" until the
 * gate's clock passes issued_at + deny_max_age (a year ahead: a year). */
START_TEST(test_deny_age_future_list)
{
	const uint32_t issued = T_NOW + 120;
	uint8_t entry[OFP_DENY_ENTRY_LEN], *list;
	uint32_t since = 0;
	int stale = -1;
	size_t n;

	install_deny_at(1, issued, T_NOW);
	ck_assert_int_eq(offpass_verifier_deny_age(v, T_NOW, NULL, &stale), OFFPASS_STATUS_OK);
	ck_assert_int_eq(stale, 0);
	ck_assert_int_eq(check_at(1, T_FARE, T_NOW), OFFPASS_REASON_OK);
	ck_assert_int_eq(check_at(2, T_FARE, issued + T_MAX_AGE), OFFPASS_REASON_OK);
	ck_assert_int_eq(check_at(3, T_FARE, issued + T_MAX_AGE + 1), OFFPASS_REASON_DENY_LIST_STALE);

	/* One second past the skew, and a year ahead: refused, the
	 * installed list and its age unchanged. */
	ofp_deny_entry_serial(entry, 4242);
	n = tu_deny_list_at(&list, 2, TK_ISSUER, entry, 1, issued + T_MAX_AGE + 1 + 121);
	ck_assert_int_eq(offpass_verifier_install_deny_list(v, list, n, issued + T_MAX_AGE + 1),
			 OFFPASS_STATUS_REJECTED);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "deny_list.issued_at"));
	free(list);
	n = tu_deny_list_at(&list, 3, TK_ISSUER, entry, 1, issued + 365 * 86400);
	ck_assert_int_eq(offpass_verifier_install_deny_list(v, list, n, issued + T_MAX_AGE + 1),
			 OFFPASS_STATUS_REJECTED);
	free(list);
	ck_assert_uint_eq(offpass_verifier_deny_version(v), 1);
	ck_assert_int_eq(offpass_verifier_deny_age(v, issued + T_MAX_AGE + 1, &since, &stale), OFFPASS_STATUS_OK);
	ck_assert_uint_eq(since, issued);
	ck_assert_int_eq(stale, 1);
	ck_assert_int_eq(check_at(3, T_FARE, issued + T_MAX_AGE + 2), OFFPASS_REASON_DENY_LIST_STALE);
	/* The same list is taken once the gate's clock has come near it. */
	n = tu_deny_list_at(&list, 3, TK_ISSUER, entry, 1, issued + 365 * 86400);
	ck_assert_msg(offpass_verifier_install_deny_list(v, list, n, issued + 365 * 86400 - 120) == OFFPASS_STATUS_OK,
		      "%s", offpass_verifier_error(v));
	free(list);
}
END_TEST

/* Without a deny list the age counts from the trust list's issued_at, so
 * a trust list issued far after the gate's now is refused the same way:
 * it would keep a gate without a deny list "fresh" for as long. */
START_TEST(test_deny_age_future_trust_list)
{
	uint8_t list[OFP_TRUST_LIST_MAX];
	ofp_trust_entry_t e[3];
	uint32_t since = 0;
	int stale = -1;
	size_t n;

	tu_trust_entry(&e[0], TK_SEALING, OFP_USAGE_SEALING, T_LIST_FROM, T_LIST_UNTIL);
	tu_trust_entry(&e[1], TK_ISSUER, OFP_USAGE_CREDENTIAL_SIGNING, T_LIST_FROM, T_LIST_UNTIL);
	tu_trust_entry(&e[2], TK_ISSUER_ED25519, OFP_USAGE_CREDENTIAL_SIGNING, T_LIST_FROM, T_LIST_UNTIL);
	n = tu_trust_list_at(list, 2, TK_ISSUER, e, 3, T_NOW + 365 * 86400);
	ck_assert_int_eq(offpass_verifier_install_trust_list(v, list, n, T_NOW), OFFPASS_STATUS_REJECTED);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "trust_list.issued_at"));
	ck_assert_uint_eq(offpass_verifier_trust_version(v), 1);
	ck_assert_int_eq(offpass_verifier_deny_age(v, T_NOW - 60 + T_MAX_AGE + 1, &since, &stale), OFFPASS_STATUS_OK);
	ck_assert_uint_eq(since, T_NOW - 60);
	ck_assert_int_eq(stale, 1);
	/* Within the skew: taken. */
	n = tu_trust_list_at(list, 2, TK_ISSUER, e, 3, T_NOW + 120);
	ck_assert_msg(offpass_verifier_install_trust_list(v, list, n, T_NOW) == OFFPASS_STATUS_OK, "%s",
		      offpass_verifier_error(v));
}
END_TEST

/* The age check comes after the credential and holder checks: a broken
 * code still says what is wrong with it, a denied holder says denied. */
START_TEST(test_deny_age_order)
{
	const uint32_t late = T_NOW + T_MAX_AGE + 3600;
	static const uint8_t junk[] = "junk";
	uint8_t entry[OFP_DENY_ENTRY_LEN], *list;
	tu_cred_spec_t c;
	tu_auth_spec_t a;
	size_t n;

	ofp_deny_entry_serial(entry, 1001);
	n = tu_deny_list(&list, 1, TK_ISSUER, entry, 1);
	ck_assert_int_eq(offpass_verifier_install_deny_list(v, list, n, T_NOW), OFFPASS_STATUS_OK);
	free(list);
	ck_assert_int_eq(tu_check(v, junk, 4, T_FARE, NULL, 0, late, NULL), OFFPASS_REASON_MALFORMED);
	tu_cred_default(&c);
	c.not_after = T_NOW + 10 * 86400;
	tu_auth_default(&a, 1);
	a.time = late;
	ck_assert_int_eq(check_spec(&c, &a, late), OFFPASS_REASON_DENIED);
	c.serial = 1002;
	a.bad_holder_sig = true;
	ck_assert_int_eq(check_spec(&c, &a, late), OFFPASS_REASON_BAD_HOLDER_SIGNATURE);
	a.bad_holder_sig = false;
	a.time = late - 3600;
	ck_assert_int_eq(check_spec(&c, &a, late), OFFPASS_REASON_STALE);
	a.time = late;
	ck_assert_int_eq(check_spec(&c, &a, late), OFFPASS_REASON_DENY_LIST_STALE);
}
END_TEST

/* deny_max_age 0 is not "off" (a zeroed field must not turn a safety
 * rule off): open refuses it; a config of the 1.0 size gets the
 * defaults of the fields added since. */
START_TEST(test_deny_age_config)
{
	offpass_verifier_config_t c2;
	char err[256];

	offpass_verifier_config_init(&c2);
	ck_assert_uint_eq(c2.deny_max_age, 172800);
	ck_assert_uint_eq(c2.stale_deny_operation_max, 0);
	cfg.deny_max_age = 0;
	ck_assert_int_eq(open_with(&cfg, err, sizeof(err)), OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_ptr_nonnull(strstr(err, "deny_max_age"));
	cfg.flags = 0x4;
	cfg.deny_max_age = T_MAX_AGE;
	ck_assert_int_eq(open_with(&cfg, err, sizeof(err)), OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_ptr_nonnull(strstr(err, "flags"));
	/* 1.0-sized: the zero in deny_max_age is past its end, not read. */
	cfg.flags = 0;
	cfg.deny_max_age = 0;
	cfg.stale_deny_operation_max = 99999;
	cfg.struct_size = offsetof(offpass_verifier_config_t, deny_max_age);
	ck_assert_msg(open_with(&cfg, err, sizeof(err)) == OFFPASS_STATUS_OK, "%s", err);
	ck_assert_int_eq(check_at(1, T_FARE, T_NOW + T_MAX_AGE), OFFPASS_REASON_DENY_LIST_STALE);
	ck_assert_int_eq(check_at(2, 1, T_NOW + T_MAX_AGE + 1), OFFPASS_REASON_DENY_LIST_STALE);
	cfg.struct_size = sizeof(cfg);
	cfg.deny_max_age = T_MAX_AGE;
	cfg.stale_deny_operation_max = 0;
}
END_TEST

static Suite *verify_suite(void)
{
	Suite *s = suite_create("verify");
	TCase *tc;

	tc = tcase_create("reasons");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_operate);
	tcase_add_test(tc, test_operate_ed25519);
	tcase_add_test(tc, test_two_way);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_unknown_issuer);
	tcase_add_test(tc, test_unknown_issuer_without_trust);
	tcase_add_test(tc, test_bad_issuer_signature);
	tcase_add_test(tc, test_validity_window);
	tcase_add_test(tc, test_denied);
	tcase_add_test(tc, test_bad_holder_signature);
	tcase_add_test(tc, test_holder_signature_bound_to_credential);
	tcase_add_test(tc, test_freshness);
	tcase_add_test(tc, test_replay);
	tcase_add_test(tc, test_grant);
	tcase_add_test(tc, test_wrong_resource);
	tcase_add_test(tc, test_fare_modes);
	tcase_add_test(tc, test_replay_by_key);
	tcase_add_test(tc, test_clock_back);
	tcase_add_test(tc, test_clock_back_keeps_entries);
	tcase_add_test(tc, test_clock_back_idle);
	tcase_add_test(tc, test_order);
	suite_add_tcase(s, tc);

	tc = tcase_create("state");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_cache);
	tcase_add_test(tc, test_cache_key_removed);
	tcase_add_test(tc, test_cache_bounded);
	tcase_add_test(tc, test_replay_across_reopen);
	tcase_add_test(tc, test_total_across_reopen);
	tcase_add_test(tc, test_replay_bounded_expired);
	tcase_add_test(tc, test_replay_bounded_live);
	suite_add_tcase(s, tc);

	tc = tcase_create("lists");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_trust_anchor);
	tcase_add_test(tc, test_trust_update);
	tcase_add_test(tc, test_deny_install);
	tcase_add_test(tc, test_deny_large);
	tcase_add_test(tc, test_deny_age_stale);
	tcase_add_test(tc, test_deny_age_lower_amount);
	tcase_add_test(tc, test_deny_age_no_deny_list);
	tcase_add_test(tc, test_deny_age_future_list);
	tcase_add_test(tc, test_deny_age_future_trust_list);
	tcase_add_test(tc, test_deny_age_order);
	tcase_add_test(tc, test_deny_age_config);
	suite_add_tcase(s, tc);

	tc = tcase_create("api");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_arguments);
	tcase_add_test(tc, test_state_dir);
	tcase_add_test(tc, test_damaged_lists);
	tcase_add_test(tc, test_threads_replay);
	tcase_add_test(tc, test_threads_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(verify_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
