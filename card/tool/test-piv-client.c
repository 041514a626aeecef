/* test-piv-client.c - the PIV client and the holder card logic against the
 * offpass applet in-process: a fake transport hands every APDU to
 * piv_apdu() (no pcscd), and can shrink the reader's buffer (GET
 * RESPONSE), fail, truncate, inject status words (6Cxx, 6D00, 6A82) or
 * tamper with the card's answers. Every command and its error paths;
 * init, the self-signed certificate checked with OpenSSL, the credential
 * object, status and reset. */
#include "config.h"
#include "card/tool/card.h"
#include "card/tool/piv-client.h"
#include "card/piv/piv.h"
#include "card/piv/piv-ossl.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "format/format.h"

#define PIN "123456"
#define PUK "12345678"
#define T0 1767225600u /* 2026-01-01 */

/* ---- the card and the fake reader ------------------------------------------ */

static struct piv_card card;
static struct piv_host host;

static int mem_save(void *ctx, const uint8_t *state, size_t len)
{
	(void)ctx;
	(void)state;
	(void)len;
	return 0;
}

static struct {
	size_t cap;          /* room the reader gives the card's answer */
	int n;               /* APDUs sent */
	int fail_at;         /* this APDU fails in the transport (-1: none) */
	int short_at;        /* this APDU gets a one-byte answer */
	uint8_t inject_ins;  /* answer inject_sw to this INS, inject_count times */
	uint16_t inject_sw;
	int inject_count;
	bool corrupt_82;     /* flip a bit of a 7C{82 ...} answer */
	bool saw_chain, saw_get_response;
	int ins_seen[256];   /* APDUs per INS */
	uint8_t last_apdu[300];
	size_t last_len;
} fake;

static int fake_transmit(void *ctx, const uint8_t *apdu, size_t len, uint8_t *resp, size_t cap, size_t *rlen,
			 char *err, size_t err_len)
{
	size_t room = fake.cap < cap ? fake.cap : cap;
	(void)ctx;
	ck_assert_uint_ge(len, 4);
	ck_assert_uint_le(len, 5 + 255 + 1); /* short APDUs only */
	memcpy(fake.last_apdu, apdu, len);
	fake.last_len = len;
	if (fake.n++ == fake.fail_at) {
		snprintf(err, err_len, "the reader went away");
		return -1;
	}
	fake.ins_seen[apdu[1]]++;
	if (apdu[0] == 0x10)
		fake.saw_chain = true;
	if (apdu[1] == 0xc0)
		fake.saw_get_response = true;
	if (fake.inject_count > 0 && apdu[1] == fake.inject_ins) {
		fake.inject_count--;
		resp[0] = (uint8_t)(fake.inject_sw >> 8);
		resp[1] = (uint8_t)fake.inject_sw;
		*rlen = 2;
		return 0;
	}
	*rlen = piv_apdu(&card, apdu, len, resp, room);
	if (fake.n - 1 == fake.short_at)
		*rlen = 1;
	if (fake.corrupt_82 && *rlen > 6 && resp[0] == 0x7c && resp[2] == 0x82)
		resp[4] ^= 0x01;
	return 0;
}

static ofp_piv_t *p;

static ofp_piv_t *open_card(void)
{
	ofp_piv_transport_t t = { NULL, fake_transmit, NULL };
	ofp_piv_t *out = NULL;
	char err[512];

	ck_assert_msg(ofp_piv_open(&t, "fake reader", &out, err, sizeof(err)) == OFP_PIV_OK, "open: %s", err);
	return out;
}

static void setup(void)
{
	memset(&fake, 0, sizeof(fake));
	fake.cap = 258;
	fake.fail_at = fake.short_at = -1;
	memset(&host, 0, sizeof(host));
	piv_ossl_host(&host);
	host.save = mem_save;
	ck_assert_int_eq(piv_init(&card, &host, 4242), 0);
	p = open_card();
}

static void teardown(void)
{
	ofp_piv_close(p);
	p = NULL;
	piv_wipe_card(&card);
}

static void auth_default(void)
{
	ck_assert_msg(ofp_piv_authenticate(p, OFP_PIV_ALG_3DES, ofp_piv_default_mgm_key, 24) == OFP_PIV_OK, "%s",
		      ofp_piv_error(p));
}

#define ck_error_has(text)                                                                                   \
	ck_assert_msg(strstr(ofp_piv_error(p), (text)) != NULL, "error '%s' lacks '%s'", ofp_piv_error(p), (text))

/* ---- session and framing ------------------------------------------------------------ */

START_TEST(test_open_and_select)
{
	ofp_piv_transport_t t = { NULL, fake_transmit, NULL };
	ofp_piv_t *q = NULL;
	char err[512];

	ck_assert_str_eq(ofp_piv_reader(p), "fake reader");
	/* SELECT was the first APDU, with the truncated PIV AID. */
	fake.n = 0;
	fake.inject_ins = 0xa4;
	fake.inject_sw = 0x6a82;
	fake.inject_count = 1;
	ck_assert_int_eq(ofp_piv_open(&t, "r", &q, err, sizeof(err)), OFP_PIV_ERR);
	ck_assert_ptr_null(q);
	ck_assert_msg(strstr(err, "SELECT PIV: 6A82") && strstr(err, "no PIV application"), "%s", err);
	fake.fail_at = fake.n;
	ck_assert_int_eq(ofp_piv_open(&t, "r", &q, err, sizeof(err)), OFP_PIV_ERR);
	ck_assert_msg(strstr(err, "SELECT PIV: the reader went away") != NULL, "%s", err);
}
END_TEST

START_TEST(test_transport_errors)
{
	uint8_t v[3];

	fake.fail_at = fake.n;
	ck_assert_int_eq(ofp_piv_get_version(p, v), OFP_PIV_ERR);
	ck_assert_uint_eq(ofp_piv_sw(p), 0);
	ck_error_has("GET VERSION: the reader went away");
	fake.short_at = fake.n;
	ck_assert_int_eq(ofp_piv_get_version(p, v), OFP_PIV_ERR);
	ck_error_has("GET VERSION: malformed answer from the card (1 bytes)");
	/* The next command works again. */
	ck_assert_int_eq(ofp_piv_get_version(p, v), OFP_PIV_OK);
	ck_assert_uint_eq(v[0], 5);
}
END_TEST

START_TEST(test_sw_texts)
{
	char buf[64];

	ofp_piv_sw_text(0x63c2, buf, sizeof(buf));
	ck_assert_str_eq(buf, "63C2 (2 tries left)");
	ofp_piv_sw_text(0x63c1, buf, sizeof(buf));
	ck_assert_str_eq(buf, "63C1 (1 try left)");
	ofp_piv_sw_text(0x6983, buf, sizeof(buf));
	ck_assert_str_eq(buf, "6983 (blocked)");
	ofp_piv_sw_text(0x6c10, buf, sizeof(buf));
	ck_assert_str_eq(buf, "6C10 (wrong Le: 16 expected)");
	ofp_piv_sw_text(0x6123, buf, sizeof(buf));
	ck_assert_str_eq(buf, "6123 (more data waiting)");
	ofp_piv_sw_text(0x6400, buf, sizeof(buf));
	ck_assert_str_eq(buf, "6400 (unknown status)");
	ck_assert_int_eq(ofp_piv_sw_tries(0x63c0), 0);
	ck_assert_int_eq(ofp_piv_sw_tries(0x6983), 0);
	ck_assert_int_eq(ofp_piv_sw_tries(0x9000), -1);
}
END_TEST

/* 6Cxx: the card names the Le it wants; the client asks again. */
START_TEST(test_wrong_le_retried)
{
	uint8_t v[3];

	fake.inject_ins = 0xfd;
	fake.inject_sw = 0x6c03;
	fake.inject_count = 1;
	ck_assert_int_eq(ofp_piv_get_version(p, v), OFP_PIV_OK);
	ck_assert_uint_eq(fake.last_apdu[fake.last_len - 1], 3);
	ck_assert_uint_eq(v[1], 4);
}
END_TEST

/* Chaining out (CLA 10 pieces of 255), GET RESPONSE back. */
START_TEST(test_chaining_and_get_response)
{
	static uint8_t big[3000], *back;
	size_t len = 0;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 1);
	auth_default();
	fake.cap = 64 + 2; /* a reader that passes 64 bytes at a time */
	ck_assert_msg(ofp_piv_put_data(p, 0x5fc10d, big, sizeof(big)) == OFP_PIV_OK, "%s", ofp_piv_error(p));
	ck_assert(fake.saw_chain);
	ck_assert_int_eq(ofp_piv_get_data(p, 0x5fc10d, &back, &len), OFP_PIV_OK);
	ck_assert(fake.saw_get_response);
	ck_assert_uint_eq(len, sizeof(big));
	ck_assert_mem_eq(back, big, sizeof(big));
	free(back);
	/* Deleting: an empty value. */
	ck_assert_int_eq(ofp_piv_put_data(p, 0x5fc10d, NULL, 0), OFP_PIV_OK);
	ck_assert_int_eq(ofp_piv_get_data(p, 0x5fc10d, &back, &len), OFP_PIV_ABSENT);
	ck_assert_ptr_null(back);
}
END_TEST

START_TEST(test_data_errors)
{
	static uint8_t big[OFP_PIV_OBJECT_MAX + 1];
	uint8_t *v = NULL;
	size_t len = 0;
	int sent;

	/* No management key: PUT DATA refused, saying why. */
	ck_assert_int_eq(ofp_piv_put_data(p, 0x5fc10d, big, 10), OFP_PIV_ERR);
	ck_assert_uint_eq(ofp_piv_sw(p), 0x6982);
	ck_error_has("PUT DATA 5FC10D: 6982");
	ck_error_has("management key");
	auth_default();
	/* Too big: refused before anything is sent. */
	sent = fake.n;
	ck_assert_int_eq(ofp_piv_put_data(p, 0x5fc10d, big, sizeof(big)), OFP_PIV_ERR);
	ck_assert_int_eq(fake.n, sent);
	/* A tag the card does not store. */
	ck_assert_int_eq(ofp_piv_put_data(p, 0x5fc1ff, big, 4), OFP_PIV_ERR);
	ck_error_has("6A80");
	/* Printed Information before the PIN. */
	ck_assert_int_eq(ofp_piv_get_data(p, OFP_PIV_OBJ_PRINTED, &v, &len), OFP_PIV_ERR);
	ck_error_has("read only after the PIN");
	/* Discovery (a one-byte tag) and the CHUID. */
	ck_assert_int_eq(ofp_piv_get_data(p, 0x7e, &v, &len), OFP_PIV_OK);
	ck_assert_uint_gt(len, 10);
	free(v);
	ck_assert_int_eq(ofp_piv_get_data(p, OFP_PIV_OBJ_CHUID, &v, &len), OFP_PIV_OK);
	free(v);
	/* A malformed answer (not 53 {...}). */
	fake.corrupt_82 = false;
	fake.short_at = fake.n;
	ck_assert_int_eq(ofp_piv_get_data(p, OFP_PIV_OBJ_CHUID, &v, &len), OFP_PIV_ERR);
}
END_TEST

/* ---- PIN and PUK ------------------------------------------------------------------- */

START_TEST(test_pin_counting)
{
	bool verified;
	int tries;

	ck_assert_int_eq(ofp_piv_pin_status(p, &verified, &tries), OFP_PIV_OK);
	ck_assert(!verified);
	ck_assert_int_eq(tries, 3);
	ck_assert_int_eq(ofp_piv_verify_pin(p, "000000"), OFP_PIV_ERR);
	ck_assert_str_eq(ofp_piv_error(p), "VERIFY: 63C2 (2 tries left)");
	ck_assert_int_eq(ofp_piv_pin_status(p, &verified, &tries), OFP_PIV_OK);
	ck_assert_int_eq(tries, 2);
	ck_assert_int_eq(ofp_piv_verify_pin(p, PIN), OFP_PIV_OK);
	ck_assert_int_eq(ofp_piv_pin_status(p, &verified, &tries), OFP_PIV_OK);
	ck_assert(verified);
	ck_assert_int_eq(tries, -1);
	/* Down to blocked; then even the right PIN is refused. */
	for (int i = 2; i >= 0; i--) {
		ck_assert_int_eq(ofp_piv_verify_pin(p, "000000"), OFP_PIV_ERR);
		ck_assert_int_eq(ofp_piv_sw_tries(ofp_piv_sw(p)), i);
	}
	ck_assert_int_eq(ofp_piv_verify_pin(p, PIN), OFP_PIV_ERR);
	ck_assert_str_eq(ofp_piv_error(p), "VERIFY: 6983 (blocked)");
	ck_assert_int_eq(ofp_piv_pin_status(p, &verified, &tries), OFP_PIV_OK);
	ck_assert_int_eq(tries, 0);
	/* Unblock: a wrong PUK counts, the right one sets a new PIN. */
	ck_assert_int_eq(ofp_piv_unblock_pin(p, "87654321", "111111"), OFP_PIV_ERR);
	ck_assert_str_eq(ofp_piv_error(p), "RESET RETRY COUNTER: 63C2 (2 tries left)");
	ck_assert_int_eq(ofp_piv_unblock_pin(p, PUK, "111111"), OFP_PIV_OK);
	ck_assert_int_eq(ofp_piv_verify_pin(p, "111111"), OFP_PIV_OK);
}
END_TEST

START_TEST(test_pin_format)
{
	int sent = fake.n;

	/* Malformed PINs never reach the card (no try spent). */
	ck_assert_int_eq(ofp_piv_verify_pin(p, "12345"), OFP_PIV_ERR);
	ck_error_has("6 to 8 characters");
	ck_assert_int_eq(ofp_piv_verify_pin(p, "123456789"), OFP_PIV_ERR);
	ck_assert_int_eq(ofp_piv_change_reference(p, OFP_PIV_REF_PIN, PIN, "1"), OFP_PIV_ERR);
	ck_error_has("new PIN");
	ck_assert_int_eq(ofp_piv_unblock_pin(p, "", PIN), OFP_PIV_ERR);
	ck_assert_int_eq(ofp_piv_change_reference(p, 0x99, PIN, PIN), OFP_PIV_ERR);
	ck_assert_int_eq(fake.n, sent);
	ck_assert(!ofp_piv_pin_ok(NULL));
	/* A PIN the card finds malformed (not digits) costs no try either. */
	ck_assert_int_eq(ofp_piv_verify_pin(p, "abcdef"), OFP_PIV_ERR);
	ck_error_has("VERIFY: 6A80");
}
END_TEST

START_TEST(test_change_pin_puk)
{
	ck_assert_int_eq(ofp_piv_change_reference(p, OFP_PIV_REF_PIN, "000000", "222222"), OFP_PIV_ERR);
	ck_assert_str_eq(ofp_piv_error(p), "CHANGE REFERENCE DATA (PIN): 63C2 (2 tries left)");
	ck_assert_int_eq(ofp_piv_change_reference(p, OFP_PIV_REF_PIN, PIN, "222222"), OFP_PIV_OK);
	ck_assert_int_eq(ofp_piv_verify_pin(p, PIN), OFP_PIV_ERR);
	ck_assert_int_eq(ofp_piv_verify_pin(p, "222222"), OFP_PIV_OK);
	ck_assert_int_eq(ofp_piv_change_reference(p, OFP_PIV_REF_PUK, PUK, "abcdefgh"), OFP_PIV_OK);
	ck_assert_int_eq(ofp_piv_change_reference(p, OFP_PIV_REF_PUK, PUK, "87654321"), OFP_PIV_ERR);
	ck_assert_str_eq(ofp_piv_error(p), "CHANGE REFERENCE DATA (PUK): 63C2 (2 tries left)");
}
END_TEST

/* A blocked PUK is final: no unblock, no change. */
START_TEST(test_puk_blocked_final)
{
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(ofp_piv_change_reference(p, OFP_PIV_REF_PUK, "00000000", "11111111"), OFP_PIV_ERR);
	ck_assert_uint_eq(ofp_piv_sw(p), 0x63c0);
	ck_assert_int_eq(ofp_piv_unblock_pin(p, PUK, "333333"), OFP_PIV_ERR);
	ck_assert_str_eq(ofp_piv_error(p), "RESET RETRY COUNTER: 6983 (blocked)");
	ck_assert_int_eq(ofp_piv_verify_pin(p, PIN), OFP_PIV_OK);
}
END_TEST

/* ---- the management key ------------------------------------------------------------------ */

START_TEST(test_mgm_key)
{
	uint8_t wrong[24], aes[16], aes256[32];

	memcpy(wrong, ofp_piv_default_mgm_key, 24);
	wrong[23] ^= 0x02; /* not the parity bit, which DES ignores */
	ck_assert_int_eq(ofp_piv_authenticate(p, OFP_PIV_ALG_3DES, wrong, 24), OFP_PIV_ERR);
	ck_error_has("6982");
	ck_error_has("wrong management key");
	ck_assert_int_eq(ofp_piv_authenticate(p, OFP_PIV_ALG_3DES, wrong, 23), OFP_PIV_ERR);
	ck_error_has("has 24 bytes, not 23");
	ck_assert_int_eq(ofp_piv_authenticate(p, 0x42, wrong, 24), OFP_PIV_ERR);
	/* The card's key is 3DES: asking for AES is told so. */
	memset(aes, 0x5a, sizeof(aes));
	ck_assert_int_eq(ofp_piv_authenticate(p, OFP_PIV_ALG_AES128, aes, 16), OFP_PIV_ERR);
	ck_error_has("not AES-128");
	/* SET MANAGEMENT KEY needs the current one. */
	ck_assert_int_eq(ofp_piv_set_mgm_key(p, OFP_PIV_ALG_AES128, aes, 16), OFP_PIV_ERR);
	ck_error_has("authenticate with the current management key first");
	auth_default();
	ck_assert_int_eq(ofp_piv_set_mgm_key(p, OFP_PIV_ALG_AES128, aes, 15), OFP_PIV_ERR);
	ck_assert_int_eq(ofp_piv_set_mgm_key(p, OFP_PIV_ALG_AES128, aes, 16), OFP_PIV_OK);
	ck_assert_int_eq(ofp_piv_authenticate(p, OFP_PIV_ALG_3DES, ofp_piv_default_mgm_key, 24), OFP_PIV_ERR);
	ck_assert_int_eq(ofp_piv_authenticate(p, OFP_PIV_ALG_AES128, aes, 16), OFP_PIV_OK);
	memset(aes256, 0xa5, sizeof(aes256));
	ck_assert_int_eq(ofp_piv_set_mgm_key(p, OFP_PIV_ALG_AES256, aes256, 32), OFP_PIV_OK);
	ck_assert_int_eq(ofp_piv_authenticate(p, OFP_PIV_ALG_AES256, aes256, 32), OFP_PIV_OK);
	ck_assert_int_eq(ofp_piv_set_mgm_key(p, OFP_PIV_ALG_AES192, wrong, 24), OFP_PIV_OK);
	ck_assert_int_eq(ofp_piv_authenticate(p, OFP_PIV_ALG_AES192, wrong, 24), OFP_PIV_OK);
}
END_TEST

/* A card that does not hold the key cannot answer our challenge. */
START_TEST(test_mgm_card_proves_key)
{
	fake.corrupt_82 = true;
	ck_assert_int_eq(ofp_piv_authenticate(p, OFP_PIV_ALG_3DES, ofp_piv_default_mgm_key, 24), OFP_PIV_ERR);
	ck_error_has("encrypted our challenge wrong");
	/* A malformed first answer. */
	fake.corrupt_82 = false;
	fake.inject_ins = 0x87;
	fake.inject_sw = 0x9000;
	fake.inject_count = 1;
	ck_assert_int_eq(ofp_piv_authenticate(p, OFP_PIV_ALG_3DES, ofp_piv_default_mgm_key, 24), OFP_PIV_ERR);
	ck_error_has("malformed answer");
}
END_TEST

/* ---- keys ------------------------------------------------------------------------------- */

static bool verify_sig(const uint8_t pub[65], const uint8_t *digest, const uint8_t *sig, size_t sig_len)
{
	EVP_PKEY *key = piv_ossl_pkey(PIV_ALG_ECCP256, NULL, pub, 65);
	EVP_PKEY_CTX *ctx = key ? EVP_PKEY_CTX_new(key, NULL) : NULL;
	bool ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 && EVP_PKEY_verify(ctx, sig, sig_len, digest, 32) == 1;

	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(key);
	return ok;
}

START_TEST(test_generate_and_sign)
{
	uint8_t pub[65], pub9c[65], digest[32], sig[OFP_PIV_SIG_MAX];
	size_t sig_len = 0;
	uint8_t v[3];

	memset(digest, 0x3c, sizeof(digest));
	ck_assert_int_eq(ofp_piv_generate(p, OFP_PIV_SLOT_AUTH, 0, pub), OFP_PIV_ERR);
	ck_error_has("GENERATE ASYMMETRIC KEY PAIR 9A: 6982");
	auth_default();
	ck_assert_int_eq(ofp_piv_generate(p, 0x9b, 0, pub), OFP_PIV_ERR);
	ck_assert_int_eq(ofp_piv_generate(p, OFP_PIV_SLOT_AUTH, 7, pub), OFP_PIV_ERR);
	ck_assert_int_eq(ofp_piv_generate(p, OFP_PIV_SLOT_AUTH, 0, pub), OFP_PIV_OK);
	ck_assert_uint_eq(pub[0], 0x04);
	/* 9A is PIN once: not before the PIN, then any time. */
	ck_assert_int_eq(ofp_piv_sign(p, OFP_PIV_SLOT_AUTH, digest, 32, sig, &sig_len), OFP_PIV_ERR);
	ck_error_has("GENERAL AUTHENTICATE 9A (sign): 6982");
	ck_assert_int_eq(ofp_piv_verify_pin(p, PIN), OFP_PIV_OK);
	ck_assert_int_eq(ofp_piv_get_version(p, v), OFP_PIV_OK);
	ck_assert_int_eq(ofp_piv_sign(p, OFP_PIV_SLOT_AUTH, digest, 32, sig, &sig_len), OFP_PIV_OK);
	ck_assert(verify_sig(pub, digest, sig, sig_len));
	digest[0] ^= 1;
	ck_assert(!verify_sig(pub, digest, sig, sig_len));
	/* 9C is PIN always: the VERIFY must come right before. */
	ck_assert_int_eq(ofp_piv_generate(p, OFP_PIV_SLOT_SIGN, 0, pub9c), OFP_PIV_OK);
	ck_assert_int_eq(ofp_piv_sign(p, OFP_PIV_SLOT_SIGN, digest, 32, sig, &sig_len), OFP_PIV_ERR);
	ck_assert_int_eq(ofp_piv_verify_pin(p, PIN), OFP_PIV_OK);
	ck_assert_int_eq(ofp_piv_get_version(p, v), OFP_PIV_OK);
	ck_assert_int_eq(ofp_piv_sign(p, OFP_PIV_SLOT_SIGN, digest, 32, sig, &sig_len), OFP_PIV_ERR);
	ck_assert_int_eq(ofp_piv_verify_pin(p, PIN), OFP_PIV_OK);
	ck_assert_int_eq(ofp_piv_sign(p, OFP_PIV_SLOT_SIGN, digest, 32, sig, &sig_len), OFP_PIV_OK);
	ck_assert(verify_sig(pub9c, digest, sig, sig_len));
	/* A slot with no key; nothing to sign; a tampered answer. */
	ck_assert_int_eq(ofp_piv_sign(p, OFP_PIV_SLOT_KEYMGMT, digest, 32, sig, &sig_len), OFP_PIV_ERR);
	ck_error_has("6A88");
	ck_assert_int_eq(ofp_piv_sign(p, OFP_PIV_SLOT_AUTH, digest, 0, sig, &sig_len), OFP_PIV_ERR);
	fake.short_at = fake.n;
	ck_assert_int_eq(ofp_piv_sign(p, OFP_PIV_SLOT_AUTH, digest, 32, sig, &sig_len), OFP_PIV_ERR);
	/* A PIN policy the slot does not have by default. */
	ck_assert_int_eq(ofp_piv_generate(p, OFP_PIV_SLOT_KEYMGMT, OFP_PIV_PIN_POLICY_NEVER, pub), OFP_PIV_OK);
	ck_assert_int_eq(ofp_piv_verify_pin(p, "000000"), OFP_PIV_ERR); /* drops the PIN status */
	ck_assert_int_eq(ofp_piv_sign(p, OFP_PIV_SLOT_KEYMGMT, digest, 32, sig, &sig_len), OFP_PIV_OK);
	ck_assert(verify_sig(pub, digest, sig, sig_len));
}
END_TEST

/* ---- YubiKey extensions ----------------------------------------------------------------------- */

START_TEST(test_version_serial_metadata)
{
	ofp_piv_metadata_t md;
	uint8_t v[3], pub[65];
	uint32_t serial = 0;

	ck_assert_int_eq(ofp_piv_get_version(p, v), OFP_PIV_OK);
	ck_assert_int_eq(ofp_piv_get_serial(p, &serial), OFP_PIV_OK);
	ck_assert_uint_eq(serial, 4242);
	ck_assert_int_eq(ofp_piv_get_metadata(p, OFP_PIV_REF_PIN, &md), OFP_PIV_OK);
	ck_assert(md.is_default);
	ck_assert_int_eq(md.tries_total, 3);
	ck_assert_int_eq(md.tries_left, 3);
	ck_assert_int_eq(ofp_piv_get_metadata(p, OFP_PIV_KEY_MGMT, &md), OFP_PIV_OK);
	ck_assert_uint_eq(md.alg, OFP_PIV_ALG_3DES);
	ck_assert(md.is_default);
	ck_assert_int_eq(ofp_piv_get_metadata(p, OFP_PIV_SLOT_AUTH, &md), OFP_PIV_ABSENT);
	auth_default();
	ck_assert_int_eq(ofp_piv_generate(p, OFP_PIV_SLOT_AUTH, 0, pub), OFP_PIV_OK);
	ck_assert_int_eq(ofp_piv_get_metadata(p, OFP_PIV_SLOT_AUTH, &md), OFP_PIV_OK);
	ck_assert_uint_eq(md.alg, OFP_PIV_ALG_ECCP256);
	ck_assert_uint_eq(md.pin_policy, OFP_PIV_PIN_POLICY_ONCE);
	ck_assert_uint_eq(md.origin, 1);
	ck_assert_uint_eq(md.pub_len, 65);
	ck_assert_mem_eq(md.pub, pub, 65);
	/* A card without the YubiKey commands. */
	fake.inject_ins = 0xfd;
	fake.inject_sw = 0x6d00;
	fake.inject_count = 1;
	ck_assert_int_eq(ofp_piv_get_version(p, v), OFP_PIV_UNSUPPORTED);
	fake.inject_ins = 0xf8;
	fake.inject_count = 1;
	ck_assert_int_eq(ofp_piv_get_serial(p, &serial), OFP_PIV_UNSUPPORTED);
	fake.inject_ins = 0xf7;
	fake.inject_count = 1;
	ck_assert_int_eq(ofp_piv_get_metadata(p, OFP_PIV_REF_PIN, &md), OFP_PIV_UNSUPPORTED);
	/* Other failures are errors; a wrong answer length too. */
	fake.inject_ins = 0xf8;
	fake.inject_sw = 0x6f00;
	fake.inject_count = 1;
	ck_assert_int_eq(ofp_piv_get_serial(p, &serial), OFP_PIV_ERR);
	fake.inject_sw = 0x9000;
	fake.inject_count = 1;
	ck_assert_int_eq(ofp_piv_get_serial(p, &serial), OFP_PIV_ERR);
	ck_error_has("0 bytes, not 4");
}
END_TEST

START_TEST(test_reset)
{
	char err[OFP_CARD_ERR_LEN];
	uint8_t pub[65];
	ofp_piv_metadata_t md;

	ck_assert_int_eq(ofp_piv_reset(p), OFP_PIV_ERR);
	ck_error_has("only when both the PIN and the PUK are blocked");
	ck_assert_int_eq(ofp_card_reset(p, err, sizeof(err)), OFP_CARD_REFUSED);
	ck_assert_msg(strstr(err, "the PIN is not blocked (3 tries left)") != NULL, "%s", err);
	auth_default();
	ck_assert_int_eq(ofp_piv_generate(p, OFP_PIV_SLOT_AUTH, 0, pub), OFP_PIV_OK);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(ofp_piv_verify_pin(p, "000000"), OFP_PIV_ERR);
	ck_assert_int_eq(ofp_card_reset(p, err, sizeof(err)), OFP_CARD_REFUSED);
	ck_assert_msg(strstr(err, "the PUK is not blocked (3 tries left)") != NULL, "%s", err);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(ofp_piv_unblock_pin(p, "00000000", "111111"), OFP_PIV_ERR);
	ck_assert_msg(ofp_card_reset(p, err, sizeof(err)) == OFP_CARD_OK, "%s", err);
	/* Factory state: default PIN, no key. */
	ck_assert_int_eq(ofp_piv_verify_pin(p, PIN), OFP_PIV_OK);
	ck_assert_int_eq(ofp_piv_get_metadata(p, OFP_PIV_SLOT_AUTH, &md), OFP_PIV_ABSENT);
}
END_TEST

/* ---- BER-TLV ------------------------------------------------------------------------------------- */

START_TEST(test_tlv)
{
	uint8_t buf[300], src[200];
	size_t n = 0;
	ofp_tlv_t t;
	const uint8_t *pos;
	static const uint8_t two_byte_tag[] = { 0x5f, 0x2f, 0x02, 0x40, 0x00 };
	static const uint8_t bad[][4] = {
		{ 0x53, 0x05, 0x00, 0x00 },	/* runs past the end */
		{ 0x5f, 0xff, 0xff, 0x01 },	/* a 4-byte tag */
		{ 0x53, 0x84, 0x00, 0x00 },	/* 4 length bytes */
		{ 0x53, 0x80, 0x00, 0x00 },	/* indefinite */
	};

	ck_assert_int_eq(ofp_tlv_put(buf, sizeof(buf), &n, 0x7f49, NULL, 200), 0);
	ck_assert_uint_eq(n, 4); /* 7F 49 81 C8 */
	ck_assert_uint_eq(buf[2], 0x81);
	n = 0;
	memset(src, 0xab, sizeof(src));
	ck_assert_int_eq(ofp_tlv_put(buf, sizeof(buf), &n, 0x5fc109, src, 150), 0);
	ck_assert_uint_eq(n, 3 + 2 + 150);
	pos = buf;
	ck_assert_int_eq(ofp_tlv_next(&pos, buf + n, &t), 0);
	ck_assert_uint_eq(t.tag, 0x5fc109);
	ck_assert_uint_eq(t.len, 150);
	ck_assert_int_eq(ofp_tlv_put(buf, 10, &n, 0x53, NULL, 1), -1);
	ck_assert_int_eq(ofp_tlv_put(buf, sizeof(buf), &n, 0x53, NULL, 70000), -1);
	ck_assert_int_eq(ofp_tlv_find(two_byte_tag, sizeof(two_byte_tag), 0x5f2f, &t), 0);
	ck_assert_uint_eq(t.len, 2);
	ck_assert_int_eq(ofp_tlv_find(two_byte_tag, sizeof(two_byte_tag), 0x53, &t), 1);
	for (size_t i = 0; i < OFP_ARRAY_LEN(bad); i++)
		ck_assert_int_eq(ofp_tlv_find(bad[i], sizeof(bad[i]), 0x01, &t), -1);
	ck_assert_int_eq(ofp_tlv_find(two_byte_tag, 1, 0x5f2f, &t), -1);
}
END_TEST

/* ---- init, certificate, status ----------------------------------------------------------------------- */

static ofp_card_mgm_t new_mgm = { OFP_PIV_ALG_AES128, { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99,
							  0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00 },
				  16 };

static void init_card(uint8_t slot, ofp_card_init_result_t *r)
{
	char err[OFP_CARD_ERR_LEN];
	ofp_card_init_args_t a = { .slot = slot, .new_pin = "24681357", .new_puk = "87654321",
				   .new_mgm = &new_mgm, .subject = "alice card", .now = T0 };

	ck_assert_msg(ofp_card_init(p, &a, r, err, sizeof(err)) == OFP_CARD_OK, "init: %s", err);
}

START_TEST(test_init)
{
	ofp_card_init_result_t r;
	ofp_card_slot_t s;
	ofp_piv_metadata_t md;
	char err[OFP_CARD_ERR_LEN], cn[64];
	const unsigned char *q;
	X509 *x;
	EVP_PKEY *key;

	init_card(OFP_PIV_SLOT_AUTH, &r);
	ck_assert(r.pin_changed && r.puk_changed && r.mgm_changed);
	/* The certificate: for the card's key, signed by it, named as asked. */
	q = r.cert;
	x = d2i_X509(NULL, &q, (long)r.cert_len);
	ck_assert_ptr_nonnull(x);
	key = piv_ossl_pkey(PIV_ALG_ECCP256, NULL, r.pub, 65);
	ck_assert_int_eq(X509_verify(x, key), 1);
	ck_assert_int_eq(EVP_PKEY_eq(X509_get0_pubkey(x), key), 1);
	ck_assert_int_gt(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)), 0);
	ck_assert_str_eq(cn, "alice card");
	ck_assert_int_eq(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
	ck_assert_int_eq(ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), (time_t)T0), 0);
	EVP_PKEY_free(key);
	X509_free(x);
	/* The slot: key and stored certificate with that public key. */
	ck_assert_int_eq(ofp_card_slot_info(p, OFP_PIV_SLOT_AUTH, &s, err, sizeof(err)), OFP_CARD_OK);
	ck_assert_int_eq(s.key, 1);
	ck_assert(s.has_cert);
	ck_assert_mem_eq(s.pub, r.pub, 65);
	ck_assert_msg(strstr(s.subject, "CN=alice card") != NULL, "%s", s.subject);
	/* New secrets in place, old ones gone. */
	ck_assert_int_eq(ofp_piv_get_metadata(p, OFP_PIV_KEY_MGMT, &md), OFP_PIV_OK);
	ck_assert_uint_eq(md.alg, OFP_PIV_ALG_AES128);
	ck_assert(!md.is_default);
	ck_assert_int_eq(ofp_piv_verify_pin(p, PIN), OFP_PIV_ERR);
	ck_assert_int_eq(ofp_piv_verify_pin(p, "24681357"), OFP_PIV_OK);
	ck_assert_int_eq(ofp_piv_unblock_pin(p, "87654321", "24681357"), OFP_PIV_OK);
	ofp_card_init_result_free(&r);
}
END_TEST

START_TEST(test_init_refusals)
{
	ofp_card_init_result_t r;
	char err[OFP_CARD_ERR_LEN];
	ofp_card_init_args_t a = { .slot = OFP_PIV_SLOT_AUTH, .new_pin = "24681357", .keep_mgm = true, .now = T0 };
	ofp_piv_metadata_t md;
	ofp_card_mgm_t wrong = new_mgm;
	uint8_t pub[65];

	/* Bad arguments: nothing sent. */
	a.slot = OFP_PIV_SLOT_KEYMGMT;
	ck_assert_int_eq(ofp_card_init(p, &a, &r, err, sizeof(err)), OFP_CARD_FAILED);
	ck_assert_msg(strstr(err, "9A or 9C") != NULL, "%s", err);
	a.slot = OFP_PIV_SLOT_AUTH;
	a.new_pin = "123";
	ck_assert_int_eq(ofp_card_init(p, &a, &r, err, sizeof(err)), OFP_CARD_FAILED);
	a.new_pin = "24681357";
	wrong.len = 15;
	a.new_mgm = &wrong;
	ck_assert_int_eq(ofp_card_init(p, &a, &r, err, sizeof(err)), OFP_CARD_FAILED);
	a.new_mgm = NULL;
	/* A wrong current management key. */
	wrong.len = 16;
	a.mgm = &wrong;
	ck_assert_int_eq(ofp_card_init(p, &a, &r, err, sizeof(err)), OFP_CARD_FAILED);
	ck_assert_msg(strstr(err, "reader 'fake reader'") != NULL, "%s", err);
	a.mgm = NULL;
	/* A wrong current PIN: refused before anything changes. */
	a.pin = "999999";
	ck_assert_int_eq(ofp_card_init(p, &a, &r, err, sizeof(err)), OFP_CARD_FAILED);
	ck_assert_msg(strstr(err, "the current PIN: VERIFY: 63C2 (2 tries left)") != NULL, "%s", err);
	ck_assert_int_eq(ofp_piv_get_metadata(p, OFP_PIV_SLOT_AUTH, &md), OFP_PIV_ABSENT);
	ck_assert_int_eq(ofp_piv_get_metadata(p, OFP_PIV_REF_PIN, &md), OFP_PIV_OK);
	ck_assert(md.is_default);
	a.pin = NULL;
	/* A key in the slot is never replaced without force. */
	auth_default();
	ck_assert_int_eq(ofp_piv_generate(p, OFP_PIV_SLOT_AUTH, 0, pub), OFP_PIV_OK);
	ck_assert_int_eq(ofp_card_init(p, &a, &r, err, sizeof(err)), OFP_CARD_REFUSED);
	ck_assert_msg(strstr(err, "slot 9A holds a key already") != NULL, "%s", err);
	a.force = true;
	ck_assert_msg(ofp_card_init(p, &a, &r, err, sizeof(err)) == OFP_CARD_OK, "%s", err);
	ck_assert(memcmp(r.pub, pub, 65) != 0);
	ofp_card_init_result_free(&r);
	/* Now the PIN is not the default: without --current-pin-file, refused
	 * with no try spent. */
	a.slot = OFP_PIV_SLOT_SIGN;
	a.force = false;
	ck_assert_int_eq(ofp_card_init(p, &a, &r, err, sizeof(err)), OFP_CARD_REFUSED);
	ck_assert_msg(strstr(err, "PIN is not the factory default") != NULL, "%s", err);
	ck_assert_int_eq(ofp_piv_get_metadata(p, OFP_PIV_REF_PIN, &md), OFP_PIV_OK);
	ck_assert_int_eq(md.tries_left, 3);
}
END_TEST

/* 9C (PIN always): init signs the certificate with the VERIFY right
 * before; a second key in 9C beside 9A, keeping PIN and keys. */
START_TEST(test_init_9c_keeps_secrets)
{
	ofp_card_init_result_t r, r2;
	ofp_card_init_args_t a = { .slot = OFP_PIV_SLOT_SIGN, .pin = "24681357", .mgm = &new_mgm, .now = T0 };
	char err[OFP_CARD_ERR_LEN];
	ofp_piv_metadata_t md;

	init_card(OFP_PIV_SLOT_AUTH, &r);
	ck_assert_msg(ofp_card_init(p, &a, &r2, err, sizeof(err)) == OFP_CARD_OK, "%s", err);
	ck_assert(!r2.pin_changed && !r2.puk_changed && !r2.mgm_changed);
	ck_assert_int_eq(ofp_piv_get_metadata(p, OFP_PIV_SLOT_SIGN, &md), OFP_PIV_OK);
	ck_assert_uint_eq(md.pin_policy, OFP_PIV_PIN_POLICY_ALWAYS);
	ck_assert_int_eq(ofp_piv_get_metadata(p, OFP_PIV_SLOT_AUTH, &md), OFP_PIV_OK);
	ck_assert_mem_eq(md.pub, r.pub, 65);
	ck_assert_int_eq(ofp_card_authenticate(p, &new_mgm, err, sizeof(err)), OFP_CARD_OK);
	ofp_card_init_result_free(&r);
	ofp_card_init_result_free(&r2);
}
END_TEST

START_TEST(test_selfsign_errors)
{
	uint8_t pub[65], *der = NULL;
	size_t len = 0;
	char err[OFP_CARD_ERR_LEN];

	auth_default();
	ck_assert_int_eq(ofp_piv_generate(p, OFP_PIV_SLOT_AUTH, 0, pub), OFP_PIV_OK);
	ck_assert_int_eq(ofp_card_selfsign(p, OFP_PIV_SLOT_AUTH, pub, PIN, "", 10, T0, &der, &len, err, sizeof(err)),
			 OFP_CARD_FAILED);
	ck_assert_int_eq(ofp_card_selfsign(p, OFP_PIV_SLOT_AUTH, pub, PIN, "x", 0, T0, &der, &len, err, sizeof(err)),
			 OFP_CARD_FAILED);
	/* A wrong PIN: no signature, and the error says so. */
	ck_assert_int_eq(
		ofp_card_selfsign(p, OFP_PIV_SLOT_AUTH, pub, "000000", "x", 10, T0, &der, &len, err, sizeof(err)),
		OFP_CARD_FAILED);
	ck_assert_msg(strstr(err, "VERIFY: 63C2") != NULL, "%s", err);
	/* A public key that is not the slot's: the signature does not verify. */
	pub[0] = 0x05;
	ck_assert_int_eq(ofp_card_selfsign(p, OFP_PIV_SLOT_AUTH, pub, PIN, "x", 10, T0, &der, &len, err, sizeof(err)),
			 OFP_CARD_FAILED);
	ck_assert_msg(strstr(err, "not a P-256 point") != NULL, "%s", err);
	ck_assert_ptr_null(der);
}
END_TEST

/* ---- the credential ---------------------------------------------------------------------------------- */

/* A credential for the card key pub (the card does not check the issuer's
 * signature: the holder and the verifier do). */
static size_t make_credential(const uint8_t pub[65], uint32_t not_after, uint8_t *out)
{
	ofp_credential_t c;
	ofp_fmt_error_t fe;
	size_t len = 0;

	memset(&c, 0, sizeof(c));
	c.holder_alg = OFP_ALG_P256;
	c.serial = 7;
	memset(c.holder_id, 0xab, sizeof(c.holder_id));
	ck_assert_int_eq(ofp_p256_compress(pub, c.holder_key, &fe), OFP_FMT_OK);
	c.not_before = T0 - 10;
	c.not_after = not_after;
	c.grant.per_op_max = 500;
	c.grant.offline_total = 5000;
	memset(c.issuer_sig, 0x11, sizeof(c.issuer_sig));
	ck_assert_int_eq(ofp_credential_encode(&c, out, OFP_CREDENTIAL_MAX, &len, &fe), OFP_FMT_OK);
	return len;
}

START_TEST(test_cred_merge)
{
	static const uint8_t ykman[] = { 0x88, 0x03, 0x89, 0x01, 0x42 };
	static const uint8_t cred[] = { 1, 2, 3 };
	uint8_t *out = NULL, big[OFP_PIV_OBJECT_MAX];
	const uint8_t *c;
	size_t len = 0, clen = 0;

	ck_assert_int_eq(ofp_card_cred_merge(NULL, 0, cred, sizeof(cred), &out, &len), 0);
	ck_assert_uint_eq(len, 2 + 3 + 2);
	ck_assert_int_eq(ofp_card_cred_extract(out, len, &c, &clen), 0);
	ck_assert_mem_eq(c, cred, 3);
	free(out);
	/* Another tool's tag stays; ours is replaced, FE stays last. */
	ck_assert_int_eq(ofp_card_cred_merge(ykman, sizeof(ykman), cred, sizeof(cred), &out, &len), 0);
	ck_assert_mem_eq(out, ykman, sizeof(ykman));
	ck_assert_uint_eq(out[len - 2], 0xfe);
	{
		uint8_t *again = NULL;
		size_t again_len = 0;
		ck_assert_int_eq(ofp_card_cred_merge(out, len, NULL, 0, &again, &again_len), 0);
		ck_assert_int_eq(ofp_card_cred_extract(again, again_len, &c, &clen), 1);
		ck_assert_mem_eq(again, ykman, sizeof(ykman));
		free(again);
	}
	free(out);
	/* Malformed or too full: refused. */
	ck_assert_int_eq(ofp_card_cred_merge(ykman, 3, cred, sizeof(cred), &out, &len), -1);
	ck_assert_ptr_null(out);
	memset(big, 0, sizeof(big));
	big[0] = 0x01;
	big[1] = 0x82;
	big[2] = (OFP_PIV_OBJECT_MAX - 4) >> 8;
	big[3] = (OFP_PIV_OBJECT_MAX - 4) & 0xff;
	ck_assert_int_eq(ofp_card_cred_merge(big, sizeof(big), cred, sizeof(cred), &out, &len), -1);
	ck_assert_int_eq(ofp_card_cred_extract(ykman, 3, &c, &clen), -1);
}
END_TEST

START_TEST(test_put_get_credential)
{
	static const uint8_t ykman[] = { 0x88, 0x03, 0x89, 0x01, 0x42 };
	ofp_card_init_result_t r;
	uint8_t cred[OFP_CREDENTIAL_MAX], other[OFP_CREDENTIAL_MAX], *back = NULL, *obj = NULL, slot = 0;
	uint8_t other_pub[65];
	size_t len, other_len, back_len = 0, obj_len = 0;
	char err[OFP_CARD_ERR_LEN];
	ofp_tlv_t t;

	init_card(OFP_PIV_SLOT_AUTH, &r);
	len = make_credential(r.pub, T0 + 86400, cred);
	/* None yet. */
	ck_assert_int_eq(ofp_card_get_credential(p, "24681357", &back, &back_len, err, sizeof(err)), 1);
	ck_assert_msg(strstr(err, "no credential") != NULL, "%s", err);
	/* Someone else's data in the object stays. */
	ck_assert_int_eq(ofp_card_authenticate(p, &new_mgm, err, sizeof(err)), OFP_CARD_OK);
	ck_assert_int_eq(ofp_piv_put_data(p, OFP_PIV_OBJ_PRINTED, ykman, sizeof(ykman)), OFP_PIV_OK);
	ck_assert_msg(ofp_card_put_credential(p, "24681357", cred, len, T0, &slot, err, sizeof(err)) == OFP_CARD_OK,
		      "%s", err);
	ck_assert_uint_eq(slot, OFP_PIV_SLOT_AUTH);
	ck_assert_int_eq(ofp_card_get_credential(p, "24681357", &back, &back_len, err, sizeof(err)), OFP_CARD_OK);
	ck_assert_uint_eq(back_len, len);
	ck_assert_mem_eq(back, cred, len);
	free(back);
	ck_assert_int_eq(ofp_piv_get_data(p, OFP_PIV_OBJ_PRINTED, &obj, &obj_len), OFP_PIV_OK);
	ck_assert_int_eq(ofp_tlv_find(obj, obj_len, 0x88, &t), 0);
	free(obj);
	/* Refused: for another key, expired, not a credential, wrong PIN. */
	memcpy(other_pub, r.pub, 65);
	other_pub[64] ^= 1; /* parity of Y: the other point with this X */
	other_len = make_credential(other_pub, T0 + 86400, other);
	ck_assert_int_eq(ofp_card_put_credential(p, "24681357", other, other_len, T0, &slot, err, sizeof(err)),
			 OFP_CARD_REFUSED);
	ck_assert_msg(strstr(err, "issued for another key") != NULL, "%s", err);
	ck_assert_int_eq(ofp_card_put_credential(p, "24681357", cred, len, T0 + 86400, &slot, err, sizeof(err)),
			 OFP_CARD_REFUSED);
	ck_assert_msg(strstr(err, "expired") != NULL, "%s", err);
	ck_assert_int_eq(ofp_card_put_credential(p, "24681357", cred, len - 1, T0, &slot, err, sizeof(err)),
			 OFP_CARD_REFUSED);
	ck_assert_msg(strstr(err, "not a valid credential") != NULL, "%s", err);
	ck_assert_int_eq(ofp_card_put_credential(p, "000000", cred, len, T0, &slot, err, sizeof(err)),
			 OFP_CARD_FAILED);
	ck_assert_msg(strstr(err, "VERIFY: 63C2") != NULL, "%s", err);
	/* Without the management key (a fresh session): the PUT DATA fails. */
	ofp_piv_close(p);
	piv_reset(&card);
	p = open_card();
	ck_assert_int_eq(ofp_card_put_credential(p, "24681357", cred, len, T0, &slot, err, sizeof(err)),
			 OFP_CARD_FAILED);
	ck_assert_msg(strstr(err, "management key is needed") != NULL, "%s", err);
	ofp_card_init_result_free(&r);
}
END_TEST

START_TEST(test_status)
{
	ofp_card_init_result_t r;
	ofp_card_status_t st;
	uint8_t cred[OFP_CREDENTIAL_MAX], slot;
	size_t len;
	char err[OFP_CARD_ERR_LEN], *text = NULL;
	size_t text_len = 0;
	FILE *f;

	ck_assert_int_eq(ofp_card_status(p, NULL, &st, err, sizeof(err)), OFP_CARD_OK);
	ck_assert_int_eq(st.pin_tries, 3);
	ck_assert_int_eq(st.pin_default, 1);
	ck_assert_int_eq(st.slots[0].key, 0);
	ck_assert_int_eq(st.cred_state, OFP_CARD_CRED_UNREAD);
	init_card(OFP_PIV_SLOT_AUTH, &r);
	ck_assert_int_eq(ofp_card_authenticate(p, &new_mgm, err, sizeof(err)), OFP_CARD_OK);
	len = make_credential(r.pub, T0 + 86400, cred);
	ck_assert_int_eq(ofp_card_put_credential(p, "24681357", cred, len, T0, &slot, err, sizeof(err)), OFP_CARD_OK);
	/* A fresh session, one wrong PIN first. */
	ofp_piv_close(p);
	piv_reset(&card);
	p = open_card();
	ck_assert_int_eq(ofp_piv_verify_pin(p, "000000"), OFP_PIV_ERR);
	ck_assert_int_eq(ofp_card_status(p, NULL, &st, err, sizeof(err)), OFP_CARD_OK);
	ck_assert_int_eq(st.pin_tries, 2);
	ck_assert_int_eq(st.pin_default, 0);
	ck_assert_int_eq(st.puk_tries, 3);
	ck_assert_uint_eq(st.mgm_alg, OFP_PIV_ALG_AES128);
	ck_assert_int_eq(st.slots[0].key, 1);
	ck_assert_int_eq(st.slots[1].key, 0);
	ck_assert_int_eq(ofp_card_status(p, "24681357", &st, err, sizeof(err)), OFP_CARD_OK);
	ck_assert_int_eq(st.cred_state, OFP_CARD_CRED_PRESENT);
	ck_assert_mem_eq(st.cred, cred, len);
	f = open_memstream(&text, &text_len);
	ofp_card_status_print(f, &st, T0);
	fclose(f);
	ck_assert_msg(strstr(text, "reader:     fake reader") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "version 5.4.3, serial 4242") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "slot 9A:    ECCP256 key, generated on the card, PIN once; certificate "
				   "/CN=alice card") != NULL,
		      "%s", text);
	ck_assert_msg(strstr(text, "'PIV AUTH key', id 01") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "slot 9C:    empty") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "credential: serial 7, holder abababababababab, valid") != NULL, "%s", text);
	free(text);
	/* A wrong PIN is an error for status with a PIN. */
	ck_assert_int_eq(ofp_card_status(p, "000000", &st, err, sizeof(err)), OFP_CARD_FAILED);
	ofp_card_init_result_free(&r);
}
END_TEST

/* ---- standard PIV cards: probe, plan, then act ------------------------------------------------------- */

static void ck_card_untouched(void)
{
	ck_assert_int_eq(fake.ins_seen[0x24], 0); /* CHANGE REFERENCE DATA */
	ck_assert_int_eq(fake.ins_seen[0x2c], 0); /* RESET RETRY COUNTER */
	ck_assert_int_eq(fake.ins_seen[0x47], 0); /* GENERATE */
	ck_assert_int_eq(fake.ins_seen[0xdb], 0); /* PUT DATA */
	ck_assert_uint_eq(card.p.pin_left, 3);
	ck_assert_uint_eq(card.p.puk_left, 3);
	ck_assert_uint_eq(card.p.keys[0].alg, 0);
	ck_assert_uint_eq(card.p.mgm_alg, OFP_PIV_ALG_3DES);
	ck_assert_mem_eq(card.p.mgm_key, ofp_piv_default_mgm_key, 24);
}

#define ck_err_has(text) ck_assert_msg(strstr(err, (text)) != NULL, "'%s' lacks '%s'", err, (text))

/* A YubiKey-like card has every extension; the probe changes nothing. */
START_TEST(test_probe_yubikey)
{
	ofp_card_caps_t c;
	char err[OFP_CARD_ERR_LEN];

	ck_assert_int_eq(ofp_card_probe(p, &c, err, sizeof(err)), OFP_CARD_OK);
	ck_assert_int_eq(c.version, OFP_CARD_CAP_YES);
	ck_assert_int_eq(c.metadata, OFP_CARD_CAP_YES);
	ck_assert_int_eq(c.set_mgm, OFP_CARD_CAP_YES);
	ck_assert_int_eq(c.pin_retries, OFP_CARD_CAP_YES);
	ck_assert_int_eq(c.reset, OFP_CARD_CAP_YES);
	ck_assert_int_eq(c.pin_tries, 3);
	ck_assert(!c.pin_verified);
	ck_card_untouched();
	/* A PIN left verified (by another program) is reset to learn the tries. */
	ck_assert_int_eq(ofp_piv_verify_pin(p, "000000"), OFP_PIV_ERR);
	ck_assert_int_eq(ofp_piv_verify_pin(p, PIN), OFP_PIV_OK);
	ck_assert_int_eq(ofp_card_probe(p, &c, err, sizeof(err)), OFP_CARD_OK);
	ck_assert(!c.pin_verified);
	ck_assert_int_eq(c.pin_tries, 3);
	ck_assert_int_eq(c.pin_retries, OFP_CARD_CAP_YES);
	/* A blocked PIN: RESET is not probed (it could erase the card). */
	card.p.pin_left = 0;
	ck_assert_int_eq(ofp_card_probe(p, &c, err, sizeof(err)), OFP_CARD_OK);
	ck_assert_int_eq(c.pin_tries, 0);
	ck_assert_int_eq(c.reset, OFP_CARD_CAP_UNKNOWN);
	card.p.pin_left = 3;
	/* The transport failing is an error, not "unsupported". */
	fake.fail_at = fake.n + 2;
	ck_assert_int_eq(ofp_card_probe(p, &c, err, sizeof(err)), OFP_CARD_FAILED);
	ck_err_has("the reader went away");
}
END_TEST

/* A standard PIV card: none of YubiKey's extensions, and the probe for
 * RESET is not even sent. */
START_TEST(test_probe_standard)
{
	ofp_card_caps_t c;
	char err[OFP_CARD_ERR_LEN], *text = NULL;
	size_t text_len = 0;
	FILE *f;

	piv_set_profile(&card, PIV_PROFILE_STANDARD);
	ck_assert_int_eq(ofp_card_probe(p, &c, err, sizeof(err)), OFP_CARD_OK);
	ck_assert_int_eq(c.version, OFP_CARD_CAP_NO);
	ck_assert_int_eq(c.metadata, OFP_CARD_CAP_NO);
	ck_assert_int_eq(c.set_mgm, OFP_CARD_CAP_NO);
	ck_assert_int_eq(c.pin_retries, OFP_CARD_CAP_NO);
	ck_assert_int_eq(c.reset, OFP_CARD_CAP_UNKNOWN);
	ck_assert_int_eq(fake.ins_seen[0xfb], 0);
	ck_assert_int_eq(c.pin_tries, 3);
	f = open_memstream(&text, &text_len);
	ofp_card_caps_print(f, &c);
	fclose(f);
	ck_assert_str_eq(text, "GET VERSION no, GET METADATA no, SET MANAGEMENT KEY no, SET PIN RETRIES no, "
			       "RESET not probed");
	free(text);
	ck_card_untouched();
}
END_TEST

/* The plan alone, for every kind of card. */
START_TEST(test_init_plan)
{
	ofp_card_caps_t yk = { .version = OFP_CARD_CAP_YES, .metadata = OFP_CARD_CAP_YES,
			       .set_mgm = OFP_CARD_CAP_YES, .pin_tries = 3 };
	ofp_card_caps_t std = { .version = OFP_CARD_CAP_NO, .metadata = OFP_CARD_CAP_NO,
				.set_mgm = OFP_CARD_CAP_NO, .pin_tries = 2 };
	ofp_card_init_args_t a = { .slot = OFP_PIV_SLOT_AUTH, .new_pin = "24681357", .new_puk = "87654321",
				   .new_mgm = &new_mgm };
	char err[OFP_CARD_ERR_LEN], *text = NULL;
	size_t text_len = 0;
	unsigned plan = 99;
	FILE *f;

	ck_assert_int_eq(ofp_card_init_plan(&yk, &a, &plan, err, sizeof(err)), OFP_CARD_OK);
	ck_assert_uint_eq(plan, OFP_CARD_STEP_PUK | OFP_CARD_STEP_PIN | OFP_CARD_STEP_KEY | OFP_CARD_STEP_CERT |
					OFP_CARD_STEP_MGM);
	f = open_memstream(&text, &text_len);
	ofp_card_plan_print(f, &a, plan);
	fclose(f);
	ck_assert_str_eq(text, "change the PUK; change the PIN; generate an EC P-256 key in slot 9A; have the card "
			       "sign its certificate and store it; set the new AES-128 management key");
	free(text);
	/* A standard card: no new management key, and no guessed PIN or PUK. */
	ck_assert_int_eq(ofp_card_init_plan(&std, &a, &plan, err, sizeof(err)), OFP_CARD_REFUSED);
	ck_assert_uint_eq(plan, 0);
	ck_err_has("nothing was changed: this card cannot change its management key");
	ck_err_has("--keep-management-key");
	ck_err_has("without the PIN");
	a.new_mgm = NULL;
	ck_assert_int_eq(ofp_card_init_plan(&std, &a, &plan, err, sizeof(err)), OFP_CARD_REFUSED);
	ck_err_has("no new management key: the card would keep the factory key");
	a.keep_mgm = true;
	ck_assert_int_eq(ofp_card_init_plan(&std, &a, &plan, err, sizeof(err)), OFP_CARD_REFUSED);
	ck_err_has("init never guesses a PIN (the PIN has 2 tries left)");
	ck_err_has("--current-pin-file");
	a.pin = "123456";
	ck_assert_int_eq(ofp_card_init_plan(&std, &a, &plan, err, sizeof(err)), OFP_CARD_REFUSED);
	ck_err_has("init never guesses a PUK");
	a.new_puk = NULL;
	ck_assert_int_eq(ofp_card_init_plan(&std, &a, &plan, err, sizeof(err)), OFP_CARD_OK);
	ck_assert_uint_eq(plan, OFP_CARD_STEP_PIN | OFP_CARD_STEP_KEY | OFP_CARD_STEP_CERT);
	/* Both at once cannot be meant. */
	a.new_mgm = &new_mgm;
	ck_assert_int_eq(ofp_card_init_plan(&yk, &a, &plan, err, sizeof(err)), OFP_CARD_FAILED);
	a.new_mgm = NULL;
	/* A blocked PIN is refused before anything is sent. */
	std.pin_tries = 0;
	ck_assert_int_eq(ofp_card_init_plan(&std, &a, &plan, err, sizeof(err)), OFP_CARD_REFUSED);
	ck_err_has("the PIN is blocked");
}
END_TEST

/* init on a standard card: refused before any change until the holder
 * says how, then done without YubiKey commands. */
START_TEST(test_init_standard_card)
{
	ofp_card_init_result_t r;
	ofp_card_init_args_t a = { .slot = OFP_PIV_SLOT_AUTH, .new_pin = "24681357", .new_puk = "87654321",
				   .new_mgm = &new_mgm, .subject = "std card", .now = T0 };
	char err[OFP_CARD_ERR_LEN];
	ofp_card_slot_t s;

	piv_set_profile(&card, PIV_PROFILE_STANDARD);
	ck_assert_int_eq(ofp_card_init(p, &a, &r, err, sizeof(err)), OFP_CARD_REFUSED);
	ck_err_has("cannot change its management key");
	ck_card_untouched();
	a.new_mgm = NULL;
	a.keep_mgm = true;
	ck_assert_int_eq(ofp_card_init(p, &a, &r, err, sizeof(err)), OFP_CARD_REFUSED);
	ck_err_has("never guesses a PIN");
	ck_card_untouched();
	ck_assert_int_eq(fake.ins_seen[0x20], 2); /* only VERIFY without data, once per init */
	a.pin = PIN;
	a.puk = PUK;
	a.dry_run = true;
	ck_assert_msg(ofp_card_init(p, &a, &r, err, sizeof(err)) == OFP_CARD_OK, "%s", err);
	ck_assert_uint_eq(r.plan, OFP_CARD_STEP_PUK | OFP_CARD_STEP_PIN | OFP_CARD_STEP_KEY | OFP_CARD_STEP_CERT);
	ck_assert_uint_eq(r.done, 0);
	ck_card_untouched();
	a.dry_run = false;
	ck_assert_msg(ofp_card_init(p, &a, &r, err, sizeof(err)) == OFP_CARD_OK, "%s", err);
	ck_assert_uint_eq(r.done, r.plan);
	ck_assert(r.factory_mgm_kept && r.pin_changed && r.puk_changed && !r.mgm_changed);
	ck_assert_int_eq(ofp_card_slot_info(p, OFP_PIV_SLOT_AUTH, &s, err, sizeof(err)), OFP_CARD_OK);
	ck_assert_int_eq(s.key, -1); /* no GET METADATA: unknown, but the certificate says */
	ck_assert(s.has_cert);
	ck_assert_mem_eq(s.pub, r.pub, 65);
	ck_assert_int_eq(fake.ins_seen[0xff], 4); /* one probe per init, never a SET */
	ck_assert_mem_eq(card.p.mgm_key, ofp_piv_default_mgm_key, 24);
	ck_assert_int_eq(ofp_piv_verify_pin(p, "24681357"), OFP_PIV_OK);
	ofp_card_init_result_free(&r);
}
END_TEST

/* A step failing half-way: the error says what the card now has and the
 * init that finishes; following it works. */
START_TEST(test_init_failure_says_the_way_on)
{
	ofp_card_init_result_t r;
	ofp_card_init_args_t a = { .slot = OFP_PIV_SLOT_AUTH, .new_pin = "24681357", .new_puk = "87654321",
				   .new_mgm = &new_mgm, .now = T0 };
	char err[OFP_CARD_ERR_LEN];

	/* GENERATE fails after the PUK and the PIN changed. */
	fake.inject_ins = 0x47;
	fake.inject_sw = 0x6a84;
	fake.inject_count = 1;
	ck_assert_int_eq(ofp_card_init(p, &a, &r, err, sizeof(err)), OFP_CARD_FAILED);
	ck_assert_uint_eq(r.done, OFP_CARD_STEP_PUK | OFP_CARD_STEP_PIN);
	ck_err_has("generating the key: GENERATE ASYMMETRIC KEY PAIR 9A: 6A84");
	ck_err_has("Already changed on the card: the PUK is the new one; the PIN is the new one; the management "
		   "key is still the factory one.");
	ck_err_has("--current-puk-file (the new PUK) and no --puk-file, --current-pin-file (the new PIN)");
	ck_assert_ptr_null(strstr(err, "--force"));
	ofp_card_init_result_free(&r);
	/* As it says; then SET MANAGEMENT KEY fails (the probe passes). */
	a.pin = a.new_pin;
	a.puk = a.new_puk;
	a.new_pin = a.new_puk = NULL;
	fake.inject_ins = 0xff;
	fake.inject_sw = 0x6a80;
	fake.inject_count = 2;
	ck_assert_int_eq(ofp_card_init(p, &a, &r, err, sizeof(err)), OFP_CARD_FAILED);
	ck_assert_uint_eq(r.done, OFP_CARD_STEP_KEY | OFP_CARD_STEP_CERT);
	ck_err_has("setting the new management key: SET MANAGEMENT KEY: 6A80");
	ck_err_has("slot 9A holds a new key (any old one there is gone); its certificate is stored;");
	ck_err_has("--force (the new key in 9A is replaced");
	ofp_card_init_result_free(&r);
	a.force = true;
	ck_assert_msg(ofp_card_init(p, &a, &r, err, sizeof(err)) == OFP_CARD_OK, "%s", err);
	ck_assert(r.mgm_changed);
	ck_assert_uint_eq(card.p.mgm_alg, OFP_PIV_ALG_AES128);
	ofp_card_init_result_free(&r);
	/* Nothing done: nothing to undo. */
	ofp_card_init_resume(&a, 0, err, sizeof(err));
	ck_err_has("init changed nothing on the card");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("piv-client");
	TCase *tc = tcase_create("client");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_open_and_select);
	tcase_add_test(tc, test_transport_errors);
	tcase_add_test(tc, test_sw_texts);
	tcase_add_test(tc, test_wrong_le_retried);
	tcase_add_test(tc, test_chaining_and_get_response);
	tcase_add_test(tc, test_data_errors);
	tcase_add_test(tc, test_pin_counting);
	tcase_add_test(tc, test_pin_format);
	tcase_add_test(tc, test_change_pin_puk);
	tcase_add_test(tc, test_puk_blocked_final);
	tcase_add_test(tc, test_mgm_key);
	tcase_add_test(tc, test_mgm_card_proves_key);
	tcase_add_test(tc, test_generate_and_sign);
	tcase_add_test(tc, test_version_serial_metadata);
	tcase_add_test(tc, test_reset);
	tcase_add_test(tc, test_tlv);
	suite_add_tcase(s, tc);

	tc = tcase_create("card");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_init);
	tcase_add_test(tc, test_init_refusals);
	tcase_add_test(tc, test_init_9c_keeps_secrets);
	tcase_add_test(tc, test_selfsign_errors);
	tcase_add_test(tc, test_cred_merge);
	tcase_add_test(tc, test_put_get_credential);
	tcase_add_test(tc, test_status);
	tcase_add_test(tc, test_probe_yubikey);
	tcase_add_test(tc, test_probe_standard);
	tcase_add_test(tc, test_init_plan);
	tcase_add_test(tc, test_init_standard_card);
	tcase_add_test(tc, test_init_failure_says_the_way_on);
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
