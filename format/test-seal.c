/* test-seal.c - Check suite of format/sig.c and format/seal.c: raw
 * signatures against OpenSSL, key parsing, and sealing against the test
 * vector and against itself (bit flips, wrong keys, wrong envelopes). */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "format/seal.h"
#include "format/sig.h"
#include "verifier/test-util.h"

static ofp_tk_key_t vk; /* verifier-p256 of tests/vectors */

static void setup(void)
{
	tu_keys_init();
	if (vk.pkey == NULL)
		ck_assert(ofp_tk_key_derive(&vk, "verifier-p256", OFP_ALG_P256));
}

static uint8_t *vector(const char *name, size_t *len)
{
	char path[512];
	uint8_t *buf = NULL;

	snprintf(path, sizeof(path), "%s/%s.hex", OFP_VECTORS_DIR, name);
	ck_assert_msg(ofp_tk_hex_read(path, &buf, len), "%s", path);
	return buf;
}

/* --- sig.c ---------------------------------------------------------- */

START_TEST(test_public_key_forms)
{
	const ofp_tk_key_t *k = &tu_keys[TK_HOLDER];
	uint8_t bad[OFP_P256_UNCOMPRESSED_LEN], raw[65];
	size_t raw_len;
	EVP_PKEY *a = ofp_sig_public_key(OFP_ALG_P256, k->pub, 65);
	EVP_PKEY *b = ofp_sig_public_key(OFP_ALG_P256, k->holder_pub, 33);
	EVP_PKEY *e = ofp_sig_public_key(OFP_ALG_ED25519, tu_keys[TK_HOLDER_ED25519].pub, 32);

	ck_assert(a != NULL && b != NULL && e != NULL);
	ck_assert(EVP_PKEY_eq(a, b) == 1);
	ck_assert(ofp_sig_public_raw(b, OFP_ALG_P256, raw, &raw_len));
	ck_assert_uint_eq(raw_len, 65);
	ck_assert_mem_eq(raw, k->pub, 65);
	ck_assert(ofp_sig_public_raw(e, OFP_ALG_ED25519, raw, &raw_len));
	ck_assert_uint_eq(raw_len, 32);
	ck_assert_mem_eq(raw, tu_keys[TK_HOLDER_ED25519].pub, 32);
	ck_assert(!ofp_sig_public_raw(e, OFP_ALG_P256, raw, &raw_len));
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	EVP_PKEY_free(e);

	/* Wrong prefixes, lengths, algorithms; a point off the curve. */
	memcpy(bad, k->pub, 65);
	bad[0] = 0x06;
	ck_assert_ptr_null(ofp_sig_public_key(OFP_ALG_P256, bad, 65));
	bad[0] = 0x02;
	ck_assert_ptr_null(ofp_sig_public_key(OFP_ALG_P256, bad, 65));
	memcpy(bad, k->holder_pub, 33);
	bad[0] = 0x04;
	ck_assert_ptr_null(ofp_sig_public_key(OFP_ALG_P256, bad, 33));
	ck_assert_ptr_null(ofp_sig_public_key(OFP_ALG_P256, k->pub, 64));
	ck_assert_ptr_null(ofp_sig_public_key(OFP_ALG_P256, k->pub, 32));
	ck_assert_ptr_null(ofp_sig_public_key(OFP_ALG_ED25519, k->pub, 33));
	ck_assert_ptr_null(ofp_sig_public_key(9, k->pub, 65));
	ck_assert_ptr_null(ofp_sig_public_key(OFP_ALG_P256, NULL, 65));
	memcpy(bad, k->pub, 65);
	bad[64] ^= 0x01; /* same X, wrong Y */
	ck_assert_ptr_null(ofp_sig_public_key(OFP_ALG_P256, bad, 65));
	memset(bad + 1, 0xff, 32); /* X >= p */
	bad[0] = 0x02;
	ck_assert_ptr_null(ofp_sig_public_key(OFP_ALG_P256, bad, 33));
}
END_TEST

static void sign_verify(unsigned k)
{
	static const uint8_t msg[] = "offpass-test message";
	uint8_t sig[64], tk_sig[64];
	EVP_PKEY *pub = ofp_sig_public_key(tu_keys[k].alg, tu_keys[k].pub, tu_keys[k].pub_len);

	ck_assert_ptr_nonnull(pub);
	ck_assert(ofp_sig_sign(tu_keys[k].pkey, tu_keys[k].alg, msg, sizeof(msg), sig));
	ck_assert(ofp_sig_verify(pub, tu_keys[k].alg, msg, sizeof(msg), sig));
	/* Interoperates with the independent test-kit implementation. */
	ck_assert(ofp_tk_verify(tu_keys[k].alg, tu_keys[k].pub, tu_keys[k].pub_len, msg, sizeof(msg), sig));
	ck_assert(ofp_tk_sign(&tu_keys[k], msg, sizeof(msg), tk_sig));
	ck_assert(ofp_sig_verify(pub, tu_keys[k].alg, msg, sizeof(msg), tk_sig));
	/* Another message, a flipped bit, the wrong algorithm, another key. */
	ck_assert(!ofp_sig_verify(pub, tu_keys[k].alg, msg, sizeof(msg) - 1, sig));
	sig[10] ^= 0x04;
	ck_assert(!ofp_sig_verify(pub, tu_keys[k].alg, msg, sizeof(msg), sig));
	sig[10] ^= 0x04;
	ck_assert(!ofp_sig_verify(pub, tu_keys[k].alg == OFP_ALG_P256 ? OFP_ALG_ED25519 : OFP_ALG_P256, msg,
				  sizeof(msg), sig));
	ck_assert(!ofp_sig_verify(NULL, tu_keys[k].alg, msg, sizeof(msg), sig));
	EVP_PKEY_free(pub);
}

START_TEST(test_sign_verify)
{
	sign_verify(TK_ISSUER);
	sign_verify(TK_HOLDER_ED25519);
}
END_TEST

START_TEST(test_ecdsa_range)
{
	static const uint8_t msg[] = "range";
	static const uint8_t order[32] = { 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
					   0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
					   0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51 };
	EVP_PKEY *pub = ofp_sig_public_key(OFP_ALG_P256, tu_keys[TK_ISSUER].pub, 65);
	uint8_t sig[64], bad[64];

	ck_assert(ofp_sig_sign(tu_keys[TK_ISSUER].pkey, OFP_ALG_P256, msg, sizeof(msg), sig));
	ck_assert(ofp_sig_verify(pub, OFP_ALG_P256, msg, sizeof(msg), sig));
	memcpy(bad, sig, 64);
	memset(bad, 0, 32); /* r = 0 */
	ck_assert(!ofp_sig_verify(pub, OFP_ALG_P256, msg, sizeof(msg), bad));
	memcpy(bad, sig, 64);
	memcpy(bad + 32, order, 32); /* s = n */
	ck_assert(!ofp_sig_verify(pub, OFP_ALG_P256, msg, sizeof(msg), bad));
	memset(bad + 32, 0xff, 32); /* s > n */
	ck_assert(!ofp_sig_verify(pub, OFP_ALG_P256, msg, sizeof(msg), bad));
	EVP_PKEY_free(pub);
}
END_TEST

/* The credential of the vectors verifies with the issuer key of keys.txt. */
START_TEST(test_vector_signature)
{
	size_t len, n;
	uint8_t *buf = vector("presentation-p256", &len), tbs[OFP_TBS_MAX];
	ofp_presentation_t p;
	EVP_PKEY *issuer = ofp_sig_public_key(OFP_ALG_P256, tu_keys[TK_ISSUER].pub, 65), *holder;

	ck_assert_int_eq(ofp_presentation_decode(buf, len, &p, NULL), OFP_FMT_OK);
	ck_assert_int_eq(ofp_credential_tbs(&p.cred, tbs, sizeof(tbs), &n, NULL), OFP_FMT_OK);
	ck_assert(ofp_sig_verify(issuer, OFP_ALG_P256, tbs, n, p.cred.issuer_sig));
	holder = ofp_sig_public_key(OFP_ALG_P256, p.cred.holder_key, 33);
	ck_assert_int_eq(ofp_authorization_tbs(&p.cred, &p.auth, tbs, sizeof(tbs), &n, NULL), OFP_FMT_OK);
	ck_assert(ofp_sig_verify(holder, OFP_ALG_P256, tbs, n, p.auth.holder_sig));
	EVP_PKEY_free(holder);
	EVP_PKEY_free(issuer);
	free(buf);
}
END_TEST

/* --- ofp_unseal of the vector ------------------------------------------------ */

static int unseal_vector(const uint8_t *in, size_t len, EVP_PKEY *vpub, const uint8_t *sealing_pub,
			 ofp_seal_ecdh_fn ecdh, uint8_t **plain, size_t *plain_len, ofp_sealed_batch_t *env,
			 ofp_fmt_error_t *err)
{
	return ofp_unseal(in, len, vpub, OFP_ALG_P256, sealing_pub, ecdh, NULL, env, plain, plain_len, err);
}

START_TEST(test_unseal_vector)
{
	size_t len, batch_len, plain_len;
	uint8_t *sealed = vector("sealed-batch", &len), *batch = vector("batch", &batch_len), *plain = NULL;
	EVP_PKEY *vpub = ofp_sig_public_key(OFP_ALG_P256, vk.pub, 65);
	ofp_sealed_batch_t env;
	ofp_fmt_error_t err;

	ck_assert_msg(unseal_vector(sealed, len, vpub, tu_keys[TK_SEALING].pub, tu_ecdh, &plain, &plain_len, &env,
				    &err) == 0,
		      "%s", err.reason);
	ck_assert_uint_eq(plain_len, batch_len);
	ck_assert_mem_eq(plain, batch, batch_len);
	ck_assert_uint_eq(env.sequence, 12);
	ck_assert_uint_eq(env.record_count, 3);
	ck_assert_mem_eq(env.verifier_id, "GATE0001", 8);
	free(plain);
	EVP_PKEY_free(vpub);
	free(batch);
	free(sealed);
}
END_TEST

static int failing_ecdh(void *ctx, const uint8_t eph_pub[65], uint8_t shared[32])
{
	(void)ctx;
	(void)eph_pub;
	memset(shared, 0, 32);
	return -1;
}

START_TEST(test_unseal_vector_refused)
{
	size_t len, plain_len = 7;
	uint8_t *sealed = vector("sealed-batch", &len), *bad = malloc(len + 1), *plain = (uint8_t *)1;
	EVP_PKEY *vpub = ofp_sig_public_key(OFP_ALG_P256, vk.pub, 65);
	EVP_PKEY *other = ofp_sig_public_key(OFP_ALG_P256, tu_keys[TK_ROGUE].pub, 65);
	ofp_fmt_error_t err;

	/* Every single bit flip is refused (decode, signature or tag). */
	for (size_t i = 0; i < len * 8; i += 7) {
		memcpy(bad, sealed, len);
		bad[i / 8] ^= (uint8_t)(1u << (i % 8));
		ck_assert_msg(unseal_vector(bad, len, vpub, tu_keys[TK_SEALING].pub, tu_ecdh, &plain, &plain_len,
					    NULL, &err) == -1,
			      "bit %zu accepted", i);
		ck_assert_ptr_null(plain);
		ck_assert_uint_eq(plain_len, 0);
	}
	/* Truncated, extended. */
	ck_assert_int_eq(unseal_vector(sealed, len - 1, vpub, tu_keys[TK_SEALING].pub, tu_ecdh, &plain, &plain_len,
				       NULL, &err),
			 -1);
	ck_assert_int_eq(err.code, OFP_FMT_ETRUNCATED);
	/* Wrong verifier key: the signature. */
	ck_assert_int_eq(unseal_vector(sealed, len, other, tu_keys[TK_SEALING].pub, tu_ecdh, &plain, &plain_len,
				       NULL, &err),
			 -1);
	ck_assert_msg(strstr(err.reason, "verifier_signature") != NULL, "%s", err.reason);
	/* Wrong sealing key: named by key id. */
	ck_assert_int_eq(unseal_vector(sealed, len, vpub, tu_keys[TK_ROGUE].pub, tu_ecdh, &plain, &plain_len, NULL,
				       &err),
			 -1);
	ck_assert_msg(strstr(err.reason, "sealing_key_id") != NULL, "%s", err.reason);
	/* The token's ECDH fails. */
	ck_assert_int_eq(unseal_vector(sealed, len, vpub, tu_keys[TK_SEALING].pub, failing_ecdh, &plain,
				       &plain_len, NULL, &err),
			 -1);
	ck_assert_ptr_null(plain);
	free(bad);
	EVP_PKEY_free(other);
	EVP_PKEY_free(vpub);
	free(sealed);
}
END_TEST

/* A flipped ciphertext bit with a valid signature: only GCM catches it. */
START_TEST(test_unseal_tag)
{
	size_t len, n, plain_len;
	uint8_t *sealed = vector("sealed-batch", &len), *tbs = malloc(len + 64), *plain = NULL;
	EVP_PKEY *vpub = ofp_sig_public_key(OFP_ALG_P256, vk.pub, 65);
	ofp_sealed_batch_t s;
	ofp_fmt_error_t err;

	ck_assert_int_eq(ofp_sealed_batch_decode(sealed, len, &s, NULL), OFP_FMT_OK);
	sealed[OFP_SEALED_BATCH_AAD_LEN + 20] ^= 0x80; /* inside the ciphertext */
	ck_assert_int_eq(ofp_sealed_batch_decode(sealed, len, &s, NULL), OFP_FMT_OK);
	ck_assert_int_eq(ofp_sealed_batch_tbs(&s, tbs, len + 64, &n, NULL), OFP_FMT_OK);
	ck_assert(ofp_tk_sign(&vk, tbs, n, sealed + len - 64));
	ck_assert_int_eq(unseal_vector(sealed, len, vpub, tu_keys[TK_SEALING].pub, tu_ecdh, &plain, &plain_len,
				       NULL, &err),
			 -1);
	ck_assert_msg(strstr(err.reason, "tag") != NULL, "%s", err.reason);
	ck_assert_ptr_null(plain);
	free(tbs);
	EVP_PKEY_free(vpub);
	free(sealed);
}
END_TEST

/* --- ofp_seal ----------------------------------------------------------------- */

/* n chained records of GATE0001 into a batch; *out malloc'ed. */
static size_t make_batch(uint8_t **out, uint32_t n)
{
	uint8_t *recs = malloc((size_t)n * OFP_JOURNAL_RECORD_MAX + 1), prev[32] = { 0 };
	uint8_t pres[OFP_PRESENTATION_MAX];
	size_t off = 0, len, plen;
	ofp_journal_record_t r;
	ofp_batch_t b;

	for (uint32_t i = 0; i < n; i++) {
		memset(&r, 0, sizeof(r));
		r.decision = OFP_DECISION_OPERATE;
		r.time = T_NOW + i;
		memcpy(r.verifier_id, "GATE0001", 8);
		memcpy(r.prev_hash, prev, 32);
		plen = tu_simple(pres, i + 1);
		ck_assert_int_eq(ofp_journal_record_set_presentation(&r, pres, plen, NULL), OFP_FMT_OK);
		ck_assert_int_eq(ofp_journal_record_encode(&r, recs + off, OFP_JOURNAL_RECORD_MAX, &len, NULL),
				 OFP_FMT_OK);
		ck_assert(ofp_sha256(recs + off, len, prev));
		off += len;
	}
	b = (ofp_batch_t){ .count = n, .records = recs, .records_len = off };
	*out = malloc(off + 5);
	ck_assert_int_eq(ofp_batch_encode(&b, *out, off + 5, &len, NULL), OFP_FMT_OK);
	free(recs);
	return len;
}

static void make_env(ofp_sealed_batch_t *env, uint32_t count)
{
	memset(env, 0, sizeof(*env));
	memcpy(env->verifier_id, "GATE0001", 8);
	memcpy(env->verifier_kid, vk.kid, 4);
	env->sequence = 3;
	env->period_start = T_NOW;
	env->period_end = T_NOW + 3600;
	env->record_count = count;
	memcpy(env->sealing_kid, tu_keys[TK_SEALING].kid, 4);
}

START_TEST(test_seal_roundtrip)
{
	uint8_t *batch, *sealed = NULL, *sealed2 = NULL, *plain = NULL;
	size_t batch_len = make_batch(&batch, 5), len, len2, plain_len;
	EVP_PKEY *vpub = ofp_sig_public_key(OFP_ALG_P256, vk.pub, 65);
	ofp_sealed_batch_t env, got;
	ofp_fmt_error_t err;

	make_env(&env, 5);
	ck_assert_msg(ofp_seal(&env, batch, batch_len, tu_keys[TK_SEALING].pub, vk.pkey, OFP_ALG_P256, &sealed, &len,
			       &err) == 0,
		      "%s", err.reason);
	ck_assert_uint_eq(len, batch_len + OFP_SEALED_BATCH_OVERHEAD);
	ck_assert_msg(unseal_vector(sealed, len, vpub, tu_keys[TK_SEALING].pub, tu_ecdh, &plain, &plain_len, &got,
				    &err) == 0,
		      "%s", err.reason);
	ck_assert_uint_eq(plain_len, batch_len);
	ck_assert_mem_eq(plain, batch, batch_len);
	ck_assert_uint_eq(got.sequence, 3);
	/* Fresh ephemeral key and nonce each time. */
	ck_assert_int_eq(ofp_seal(&env, batch, batch_len, tu_keys[TK_SEALING].pub, vk.pkey, OFP_ALG_P256, &sealed2,
				  &len2, &err),
			 0);
	ck_assert_uint_eq(len, len2);
	ck_assert(memcmp(sealed + 37, sealed2 + 37, 33 + 12) != 0);
	free(sealed2);
	free(plain);
	free(sealed);
	EVP_PKEY_free(vpub);
	free(batch);
}
END_TEST

START_TEST(test_seal_refuses)
{
	uint8_t *batch, *sealed = (uint8_t *)1, bad_pub[65];
	size_t batch_len = make_batch(&batch, 2), len = 9;
	ofp_sealed_batch_t env;
	ofp_fmt_error_t err;

	make_env(&env, 3); /* count mismatch */
	ck_assert_int_eq(
		ofp_seal(&env, batch, batch_len, tu_keys[TK_SEALING].pub, vk.pkey, OFP_ALG_P256, &sealed, &len, &err),
		-1);
	ck_assert_ptr_null(sealed);
	ck_assert_uint_eq(len, 0);
	make_env(&env, 2);
	env.verifier_kid[0] ^= 1; /* not the signing key's id */
	ck_assert_int_eq(
		ofp_seal(&env, batch, batch_len, tu_keys[TK_SEALING].pub, vk.pkey, OFP_ALG_P256, &sealed, &len, &err),
		-1);
	make_env(&env, 2);
	ck_assert_int_eq(
		ofp_seal(&env, batch, batch_len, tu_keys[TK_ROGUE].pub, vk.pkey, OFP_ALG_P256, &sealed, &len, &err),
		-1); /* sealing key id mismatch */
	memcpy(bad_pub, tu_keys[TK_SEALING].pub, 65);
	bad_pub[64] ^= 1;
	ck_assert_int_eq(ofp_seal(&env, batch, batch_len, bad_pub, vk.pkey, OFP_ALG_P256, &sealed, &len, &err), -1);
	memcpy(env.verifier_id, "GATE0002", 8); /* records of another verifier */
	ck_assert_int_eq(
		ofp_seal(&env, batch, batch_len, tu_keys[TK_SEALING].pub, vk.pkey, OFP_ALG_P256, &sealed, &len, &err),
		-1);
	make_env(&env, 2);
	env.period_start = T_NOW + 1; /* record 0 outside the period */
	ck_assert_int_eq(
		ofp_seal(&env, batch, batch_len, tu_keys[TK_SEALING].pub, vk.pkey, OFP_ALG_P256, &sealed, &len, &err),
		-1);
	make_env(&env, 2);
	ck_assert_int_eq(ofp_seal(&env, batch, batch_len - 1, tu_keys[TK_SEALING].pub, vk.pkey, OFP_ALG_P256, &sealed,
				  &len, &err),
			 -1);
	ck_assert_int_eq(
		ofp_seal(&env, batch, batch_len, tu_keys[TK_SEALING].pub, vk.pkey, OFP_ALG_P256, &sealed, &len, &err),
		0);
	free(sealed);
	free(batch);
}
END_TEST

static Suite *seal_suite(void)
{
	Suite *s = suite_create("seal");
	TCase *tc = tcase_create("sig");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_public_key_forms);
	tcase_add_test(tc, test_sign_verify);
	tcase_add_test(tc, test_ecdsa_range);
	tcase_add_test(tc, test_vector_signature);
	suite_add_tcase(s, tc);
	tc = tcase_create("seal");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_unseal_vector);
	tcase_add_test(tc, test_unseal_vector_refused);
	tcase_add_test(tc, test_unseal_tag);
	tcase_add_test(tc, test_seal_roundtrip);
	tcase_add_test(tc, test_seal_refuses);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(seal_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
