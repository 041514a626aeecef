/* test-format.c - the wire format: round trips of every artifact, every
 * refusal rule, the sizes that must fit a QR code, and the committed test
 * vectors of tests/vectors/ (decoded, re-encoded byte for byte, signatures
 * verified with OpenSSL, the sealed batch opened). */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/x509.h>

#include "format/format-testkit.h"
#include "format/format.h"
#include "format/sig.h"

static ofp_fmt_error_t E;

/* rc_expr must give want, and the reason must start with "field:". */
#define ck_fmt(rc_expr, want, field)                                                                       \
	do {                                                                                               \
		ofp_fmt_rc_t rc_ = (rc_expr);                                                              \
		const char *f_ = (field);                                                                  \
		ck_assert_msg(rc_ == (want), "%s: got %s (%s), want %s", #rc_expr, ofp_fmt_rc_name(rc_),   \
			      rc_ == OFP_FMT_OK ? "" : E.reason, ofp_fmt_rc_name(want));                   \
		if (f_ != NULL)                                                                            \
			ck_assert_msg(strncmp(E.reason, f_, strlen(f_)) == 0 && E.reason[strlen(f_)] == ':', \
				      "reason \"%s\" does not name %s", E.reason, f_);                     \
	} while (0)

/* --- sample artifacts (signatures are patterns: not checked here) ------ */

#define T0 1767225600u

static void fill(uint8_t *p, size_t n, uint8_t base)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(base + i);
}

static void sample_credential(ofp_credential_t *c, unsigned alg)
{
	memset(c, 0, sizeof(*c));
	c->holder_alg = (uint8_t)alg;
	fill(c->issuer_kid, OFP_KEY_ID_LEN, 1);
	c->serial = 0x0102030405060708ull;
	memcpy(c->holder_id, "HOLDER01", OFP_ID_LEN);
	fill(c->holder_key, ofp_holder_key_len(alg), 0xa0);
	if (alg == OFP_ALG_P256)
		c->holder_key[0] = 0x03;
	c->not_before = T0;
	c->not_after = T0 + 86400;
	c->grant = (ofp_grant_t){ .resource_class = 7, .per_op_max = 250, .offline_total = 5000 };
	fill(c->issuer_sig, OFP_SIG_LEN, 0x40);
}

static void sample_presentation(ofp_presentation_t *p, unsigned alg, uint8_t challenge_len)
{
	memset(p, 0, sizeof(*p));
	sample_credential(&p->cred, alg);
	p->auth.time = T0 + 3600;
	p->auth.counter = 77;
	p->auth.amount = 250;
	p->auth.challenge_len = challenge_len;
	fill(p->auth.challenge, challenge_len, 0xc0);
	fill(p->auth.holder_sig, OFP_SIG_LEN, 0x80);
}

static size_t encode_presentation(uint8_t *out, unsigned alg, uint8_t challenge_len)
{
	ofp_presentation_t p;
	size_t len;

	sample_presentation(&p, alg, challenge_len);
	ck_fmt(ofp_presentation_encode(&p, out, OFP_PRESENTATION_MAX, &len, &E), OFP_FMT_OK, NULL);
	return len;
}

static void sample_enrollment(ofp_enrollment_t *e, unsigned alg)
{
	memset(e, 0, sizeof(*e));
	e->holder_alg = (uint8_t)alg;
	memcpy(e->holder_id, "HOLDER01", OFP_ID_LEN);
	fill(e->holder_key, ofp_holder_key_len(alg), 0xa0);
	if (alg == OFP_ALG_P256)
		e->holder_key[0] = 0x02;
	e->time = T0 - 60;
	fill(e->holder_sig, OFP_SIG_LEN, 0x11);
	fill(e->code_mac, OFP_HASH_LEN, 0x22);
}

/* An operate record over a P-256 presentation, or a malformed one over
 * pres (any bytes). */
static void sample_record(ofp_journal_record_t *r, uint8_t reason, const uint8_t *pres, size_t pres_len,
			  uint32_t time)
{
	uint8_t buf[OFP_PRESENTATION_MAX];

	memset(r, 0, sizeof(*r));
	r->decision = reason == OFP_REASON_OK ? OFP_DECISION_OPERATE : OFP_DECISION_REFUSE;
	r->reason = reason;
	r->time = time;
	memcpy(r->verifier_id, "GATE0001", OFP_ID_LEN);
	if (pres == NULL) {
		pres_len = encode_presentation(buf, OFP_ALG_P256, 0);
		pres = buf;
	}
	if (reason == OFP_REASON_MALFORMED) {
		r->presentation_len = (uint16_t)pres_len;
		memcpy(r->presentation, pres, pres_len);
		return;
	}
	ck_fmt(ofp_journal_record_set_presentation(r, pres, pres_len, &E), OFP_FMT_OK, NULL);
}

static size_t encode_record(uint8_t *out, const ofp_journal_record_t *r)
{
	size_t len;

	ck_fmt(ofp_journal_record_encode(r, out, OFP_JOURNAL_RECORD_MAX, &len, &E), OFP_FMT_OK, NULL);
	return len;
}

/* n chained records (operate, replay, malformed...) back to back. */
static size_t sample_records(uint8_t *out, unsigned n)
{
	static const uint8_t reasons[] = { OFP_REASON_OK, OFP_REASON_REPLAY, OFP_REASON_MALFORMED };
	uint8_t prev[OFP_HASH_LEN] = { 0 };
	ofp_journal_record_t r;
	size_t off = 0;

	for (unsigned i = 0; i < n; i++) {
		uint8_t reason = reasons[i % 3];
		size_t len;

		sample_record(&r, reason, reason == OFP_REASON_MALFORMED ? (const uint8_t *)"\x99junk" : NULL,
			      reason == OFP_REASON_MALFORMED ? 5 : 0, T0 + 10 * i);
		memcpy(r.prev_hash, prev, OFP_HASH_LEN);
		len = encode_record(out + off, &r);
		ck_assert(ofp_sha256(out + off, len, prev));
		off += len;
	}
	return off;
}

static void sample_sealed(ofp_sealed_batch_t *s, const uint8_t *ct, uint32_t ct_len, uint32_t count)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->verifier_id, "GATE0001", OFP_ID_LEN);
	fill(s->verifier_kid, OFP_KEY_ID_LEN, 0x21);
	s->sequence = 9;
	s->period_start = T0;
	s->period_end = T0 + 86399;
	s->record_count = count;
	fill(s->sealing_kid, OFP_KEY_ID_LEN, 0x31);
	fill(s->ephemeral_key, OFP_P256_COMPRESSED_LEN, 0x50);
	s->ephemeral_key[0] = 0x02;
	fill(s->nonce, OFP_GCM_NONCE_LEN, 0);
	s->ciphertext = ct;
	s->ciphertext_len = ct_len;
	fill(s->tag, OFP_GCM_TAG_LEN, 0x70);
	fill(s->verifier_sig, OFP_SIG_LEN, 0x90);
}

static void sample_trust_entry(ofp_trust_entry_t *e, unsigned alg, unsigned usage, uint8_t seed)
{
	memset(e, 0, sizeof(*e));
	e->alg = (uint8_t)alg;
	e->usage = (uint8_t)usage;
	e->not_before = T0 - 86400;
	e->not_after = T0 + 365 * 86400;
	fill(e->key, ofp_trust_key_len(alg), seed);
	if (alg == OFP_ALG_P256)
		e->key[0] = 0x04;
	ck_fmt(ofp_key_id(alg, e->key, ofp_trust_key_len(alg), e->kid, &E), OFP_FMT_OK, NULL);
}

static void sample_trust(ofp_trust_list_t *t, unsigned n)
{
	memset(t, 0, sizeof(*t));
	t->version = 2;
	t->issued_at = T0;
	fill(t->signer_kid, OFP_KEY_ID_LEN, 0x61);
	t->count = (uint8_t)n;
	for (unsigned i = 0; i < n; i++)
		sample_trust_entry(&t->entries[i], i % 3 == 1 ? OFP_ALG_ED25519 : OFP_ALG_P256,
				   i % 3 == 2 ? OFP_USAGE_SEALING : OFP_USAGE_CREDENTIAL_SIGNING, (uint8_t)(i * 7));
	ofp_trust_list_sort(t);
	fill(t->issuer_sig, OFP_SIG_LEN, 0x12);
}

static uint8_t deny_entries[4 * OFP_DENY_ENTRY_LEN];

static void sample_deny(ofp_deny_list_t *d, unsigned n)
{
	ofp_deny_entry_serial(deny_entries, 42);
	ofp_deny_entry_holder(deny_entries + 9, (const uint8_t *)"HOLDER99");
	ofp_deny_entry_serial(deny_entries + 18, 7);
	ofp_deny_entry_holder(deny_entries + 27, (const uint8_t *)"HOLDER02");
	memset(d, 0, sizeof(*d));
	d->version = 4;
	d->issued_at = T0;
	fill(d->signer_kid, OFP_KEY_ID_LEN, 0x61);
	d->count = (uint32_t)ofp_deny_entries_normalize(deny_entries, n);
	d->entries = deny_entries;
	fill(d->issuer_sig, OFP_SIG_LEN, 0x13);
}

/* --- one interface over every decoder --------------------------------- */

typedef ofp_fmt_rc_t (*reencode_fn)(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

#define REENCODE(name, type_t, dec, enc)                                                                  \
	static ofp_fmt_rc_t name(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len) \
	{                                                                                                  \
		static type_t v;                                                                           \
		ofp_fmt_rc_t rc = dec(in, len, &v, &E);                                                    \
		*out_len = 0;                                                                              \
		if (rc != OFP_FMT_OK || out == NULL)                                                       \
			return rc;                                                                         \
		return enc(&v, out, cap, out_len, &E);                                                     \
	}
REENCODE(re_credential, ofp_credential_t, ofp_credential_decode, ofp_credential_encode)
REENCODE(re_presentation, ofp_presentation_t, ofp_presentation_decode, ofp_presentation_encode)
REENCODE(re_enrollment, ofp_enrollment_t, ofp_enrollment_decode, ofp_enrollment_encode)
REENCODE(re_record, ofp_journal_record_t, ofp_journal_record_decode, ofp_journal_record_encode)
REENCODE(re_batch, ofp_batch_t, ofp_batch_decode, ofp_batch_encode)
REENCODE(re_sealed, ofp_sealed_batch_t, ofp_sealed_batch_decode, ofp_sealed_batch_encode)
REENCODE(re_trust, ofp_trust_list_t, ofp_trust_list_decode, ofp_trust_list_encode)
REENCODE(re_deny, ofp_deny_list_t, ofp_deny_list_decode, ofp_deny_list_encode)

static const struct artifact {
	const char *name; /* as in vectors.txt */
	unsigned type;
	reencode_fn reencode;
} artifacts[] = {
	{ "credential", OFP_TYPE_CREDENTIAL, re_credential },
	{ "presentation", OFP_TYPE_PRESENTATION, re_presentation },
	{ "enrollment", OFP_TYPE_ENROLLMENT, re_enrollment },
	{ "journal-record", OFP_TYPE_JOURNAL_RECORD, re_record },
	{ "batch", OFP_TYPE_BATCH, re_batch },
	{ "sealed-batch", OFP_TYPE_SEALED_BATCH, re_sealed },
	{ "trust-list", OFP_TYPE_TRUST_LIST, re_trust },
	{ "deny-list", OFP_TYPE_DENY_LIST, re_deny },
};

static const struct artifact *artifact_by_name(const char *name)
{
	for (size_t i = 0; i < OFP_ARRAY_LEN(artifacts); i++)
		if (strcmp(artifacts[i].name, name) == 0)
			return &artifacts[i];
	return NULL;
}

/* Decode from an exactly sized heap copy, so that a read past the end is
 * caught by the sanitizer build. */
static ofp_fmt_rc_t decode_exact(const struct artifact *a, const uint8_t *in, size_t len)
{
	uint8_t *copy = malloc(len == 0 ? 1 : len);
	size_t out_len;
	ofp_fmt_rc_t rc;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, in, len);
	rc = a->reencode(len == 0 ? NULL : copy, len, NULL, 0, &out_len);
	free(copy);
	return rc;
}

/* --- samples for the loop tests --------------------------------------- */

static struct sample {
	const char *what;
	const struct artifact *a;
	uint8_t bytes[2 * 1024];
	size_t len;
} samples[17];
static uint8_t batch_records[3 * OFP_JOURNAL_RECORD_MAX];
static uint8_t sealed_ct[5 + OFP_JOURNAL_RECORD_MIN];

static void add(size_t i, const char *what, const char *artifact)
{
	samples[i].what = what;
	samples[i].a = artifact_by_name(artifact);
}

static void build_samples(void)
{
	ofp_credential_t c;
	ofp_enrollment_t e;
	ofp_journal_record_t r;
	ofp_batch_t b;
	ofp_sealed_batch_t s;
	static ofp_trust_list_t t;
	ofp_deny_list_t d;
	struct sample *x = samples;

	add(0, "credential P-256", "credential");
	sample_credential(&c, OFP_ALG_P256);
	ck_fmt(ofp_credential_encode(&c, x[0].bytes, sizeof(x[0].bytes), &x[0].len, &E), OFP_FMT_OK, NULL);
	add(1, "credential Ed25519", "credential");
	sample_credential(&c, OFP_ALG_ED25519);
	ck_fmt(ofp_credential_encode(&c, x[1].bytes, sizeof(x[1].bytes), &x[1].len, &E), OFP_FMT_OK, NULL);
	add(2, "presentation P-256", "presentation");
	x[2].len = encode_presentation(x[2].bytes, OFP_ALG_P256, 0);
	add(3, "presentation P-256 challenge", "presentation");
	x[3].len = encode_presentation(x[3].bytes, OFP_ALG_P256, OFP_CHALLENGE_MAX);
	add(4, "presentation Ed25519", "presentation");
	x[4].len = encode_presentation(x[4].bytes, OFP_ALG_ED25519, 0);
	add(5, "presentation Ed25519 challenge", "presentation");
	x[5].len = encode_presentation(x[5].bytes, OFP_ALG_ED25519, 1);
	add(6, "enrollment P-256", "enrollment");
	sample_enrollment(&e, OFP_ALG_P256);
	ck_fmt(ofp_enrollment_encode(&e, x[6].bytes, sizeof(x[6].bytes), &x[6].len, &E), OFP_FMT_OK, NULL);
	add(7, "enrollment Ed25519", "enrollment");
	sample_enrollment(&e, OFP_ALG_ED25519);
	ck_fmt(ofp_enrollment_encode(&e, x[7].bytes, sizeof(x[7].bytes), &x[7].len, &E), OFP_FMT_OK, NULL);
	add(8, "journal record operate", "journal-record");
	sample_record(&r, OFP_REASON_OK, NULL, 0, T0);
	x[8].len = encode_record(x[8].bytes, &r);
	add(9, "journal record malformed", "journal-record");
	sample_record(&r, OFP_REASON_MALFORMED, (const uint8_t *)"\x21\x01garbage", 9, T0);
	x[9].len = encode_record(x[9].bytes, &r);
	add(10, "journal record malformed, empty", "journal-record");
	sample_record(&r, OFP_REASON_MALFORMED, (const uint8_t *)"", 0, T0);
	x[10].len = encode_record(x[10].bytes, &r);
	add(11, "batch of 3", "batch");
	b = (ofp_batch_t){ .count = 3, .records = batch_records, .records_len = sample_records(batch_records, 3) };
	ck_fmt(ofp_batch_encode(&b, x[11].bytes, sizeof(x[11].bytes), &x[11].len, &E), OFP_FMT_OK, NULL);
	add(12, "empty batch", "batch");
	b = (ofp_batch_t){ .count = 0, .records = NULL, .records_len = 0 };
	ck_fmt(ofp_batch_encode(&b, x[12].bytes, sizeof(x[12].bytes), &x[12].len, &E), OFP_FMT_OK, NULL);
	add(13, "sealed batch", "sealed-batch");
	fill(sealed_ct, 5 + OFP_JOURNAL_RECORD_MIN, 0x33);
	sample_sealed(&s, sealed_ct, 5 + OFP_JOURNAL_RECORD_MIN, 1);
	ck_fmt(ofp_sealed_batch_encode(&s, x[13].bytes, sizeof(x[13].bytes), &x[13].len, &E), OFP_FMT_OK, NULL);
	add(14, "trust list", "trust-list");
	sample_trust(&t, 3);
	ck_fmt(ofp_trust_list_encode(&t, x[14].bytes, sizeof(x[14].bytes), &x[14].len, &E), OFP_FMT_OK, NULL);
	add(15, "deny list", "deny-list");
	sample_deny(&d, 4);
	ck_fmt(ofp_deny_list_encode(&d, x[15].bytes, sizeof(x[15].bytes), &x[15].len, &E), OFP_FMT_OK, NULL);
	add(16, "empty deny list", "deny-list");
	sample_deny(&d, 0);
	ck_fmt(ofp_deny_list_encode(&d, x[16].bytes, sizeof(x[16].bytes), &x[16].len, &E), OFP_FMT_OK, NULL);
}

/* --- every artifact: round trip, truncation, trailing, header --------- */

START_TEST(test_roundtrip)
{
	const struct sample *x = &samples[_i];
	uint8_t out[sizeof(x->bytes) + 1];
	size_t len = 0, need = 0;
	unsigned type;

	ck_fmt(x->a->reencode(x->bytes, x->len, out, sizeof(out), &len), OFP_FMT_OK, NULL);
	ck_assert_uint_eq(len, x->len);
	ck_assert_mem_eq(out, x->bytes, len);
	ck_fmt(ofp_peek_type(x->bytes, x->len, &type, &E), OFP_FMT_OK, NULL);
	ck_assert_uint_eq(type == OFP_TYPE_PRESENTATION_CHALLENGE ? OFP_TYPE_PRESENTATION : type, x->a->type);

	/* A buffer one byte short is refused, its size reported, and nothing
	 * is written past it. */
	memset(out, 0xee, sizeof(out));
	ck_fmt(x->a->reencode(x->bytes, x->len, out, x->len - 1, &need), OFP_FMT_EBUFFER, NULL);
	ck_assert_uint_eq(need, x->len);
	ck_assert_uint_eq(out[x->len - 1], 0xee);
}
END_TEST

START_TEST(test_truncated_everywhere)
{
	const struct sample *x = &samples[_i];

	for (size_t n = 0; n < x->len; n++)
		ck_assert_msg(decode_exact(x->a, x->bytes, n) == OFP_FMT_ETRUNCATED, "%s cut to %zu: %s (%s)", x->what,
			      n, ofp_fmt_rc_name(decode_exact(x->a, x->bytes, n)), E.reason);
}
END_TEST

START_TEST(test_trailing)
{
	const struct sample *x = &samples[_i];
	uint8_t buf[sizeof(x->bytes) + 8];

	memcpy(buf, x->bytes, x->len);
	memset(buf + x->len, 0, 8);
	ck_fmt(decode_exact(x->a, buf, x->len + 1), OFP_FMT_ETRAILING, NULL);
	ck_fmt(decode_exact(x->a, buf, x->len + 8), OFP_FMT_ETRAILING, NULL);
}
END_TEST

START_TEST(test_header)
{
	const struct sample *x = &samples[_i];
	uint8_t buf[sizeof(x->bytes)];
	unsigned own = x->bytes[0] >> 4, t;

	memcpy(buf, x->bytes, x->len);
	for (unsigned v = 0; v < 16; v++) {
		bool enrollment = own == OFP_TYPE_ENROLLMENT;

		if (v == (enrollment ? OFP_ENROLLMENT_VERSION : OFP_FORMAT_VERSION))
			continue;
		buf[0] = (uint8_t)(own << 4 | v);
		ck_fmt(decode_exact(x->a, buf, x->len), OFP_FMT_EVERSION, NULL);
		ck_assert_msg(strstr(E.reason, enrollment && v == 1 ? "no enrollment code" : "unsupported version") !=
				      NULL,
			      "%s", E.reason);
		ck_fmt(ofp_peek_type(buf, x->len, &t, &E), OFP_FMT_EVERSION, "artifact.header");
	}
	for (unsigned type = 0; type < 16; type++) {
		bool presentation = x->a->type == OFP_TYPE_PRESENTATION;

		if (type == own || (presentation && type == OFP_TYPE_PRESENTATION_CHALLENGE) ||
		    (presentation && type == OFP_TYPE_PRESENTATION))
			continue;
		buf[0] = (uint8_t)(type << 4 | OFP_FORMAT_VERSION);
		ck_fmt(decode_exact(x->a, buf, x->len), OFP_FMT_ETYPE, NULL);
		ck_assert_msg(strstr(E.reason, ".header: ") != NULL, "%s", E.reason);
	}
	buf[0] = 0xf1;
	ck_fmt(ofp_peek_type(buf, 1, &t, &E), OFP_FMT_ETYPE, "artifact.header");
	ck_fmt(ofp_peek_type(buf, 0, &t, &E), OFP_FMT_ETRUNCATED, "artifact.header");
}
END_TEST

/* Measuring (out == NULL) gives the size, for every encoder. */
START_TEST(test_measure)
{
	ofp_presentation_t p;
	ofp_trust_list_t t;
	size_t len = 1;

	sample_presentation(&p, OFP_ALG_P256, 5);
	ck_fmt(ofp_presentation_encode(&p, NULL, 0, &len, &E), OFP_FMT_OK, NULL);
	ck_assert_uint_eq(len, OFP_PRESENTATION_QR_P256 + 1 + 5);
	sample_trust(&t, 2);
	ck_fmt(ofp_trust_list_encode(&t, NULL, 0, &len, &E), OFP_FMT_OK, NULL);
	ck_assert_uint_eq(len, 18 + 79 + 46 + 64);
	ck_fmt(ofp_trust_list_tbs(&t, NULL, 0, &len, &E), OFP_FMT_OK, NULL);
	ck_assert_uint_eq(len, strlen(OFP_DOMAIN_TRUST_LIST) + 18 + 79 + 46);
}
END_TEST

/* --- sizes and layout ------------------------------------------------- */

START_TEST(test_sizes)
{
	uint8_t buf[OFP_PRESENTATION_MAX];
	ofp_journal_record_t r;
	ofp_trust_list_t t;
	ofp_credential_t c;
	size_t p256, ed, len;

	p256 = encode_presentation(buf, OFP_ALG_P256, 0);
	ed = encode_presentation(buf, OFP_ALG_ED25519, 0);
	printf("presentation size: P-256 %zu bytes, Ed25519 %zu bytes (QR version 10-M holds 213)\n", p256, ed);
	ck_assert_uint_eq(p256, 213);
	ck_assert_uint_eq(p256, OFP_PRESENTATION_QR_P256);
	ck_assert_uint_eq(ed, 212);
	ck_assert_uint_eq(encode_presentation(buf, OFP_ALG_P256, 16), 230);
	ck_assert_uint_eq(encode_presentation(buf, OFP_ALG_P256, OFP_CHALLENGE_MAX), OFP_PRESENTATION_MAX);

	sample_credential(&c, OFP_ALG_P256);
	ck_fmt(ofp_credential_encode(&c, NULL, 0, &len, &E), OFP_FMT_OK, NULL);
	ck_assert_uint_eq(len, OFP_CREDENTIAL_MAX);
	ck_fmt(ofp_credential_tbs(&c, NULL, 0, &len, &E), OFP_FMT_OK, NULL);
	ck_assert_uint_le(len, OFP_TBS_MAX);

	sample_record(&r, OFP_REASON_MALFORMED, buf, OFP_PRESENTATION_MAX, T0);
	ck_fmt(ofp_journal_record_encode(&r, NULL, 0, &len, &E), OFP_FMT_OK, NULL);
	ck_assert_uint_eq(len, OFP_JOURNAL_RECORD_MAX);
	r.presentation_len = 0;
	ck_fmt(ofp_journal_record_encode(&r, NULL, 0, &len, &E), OFP_FMT_OK, NULL);
	ck_assert_uint_eq(len, OFP_JOURNAL_RECORD_MIN);

	memset(&t, 0, sizeof(t));
	t.version = 1;
	t.count = OFP_TRUST_MAX_ENTRIES;
	for (unsigned i = 0; i < t.count; i++)
		sample_trust_entry(&t.entries[i], OFP_ALG_P256, OFP_USAGE_CREDENTIAL_SIGNING, (uint8_t)i);
	ofp_trust_list_sort(&t);
	ck_fmt(ofp_trust_list_encode(&t, NULL, 0, &len, &E), OFP_FMT_OK, NULL);
	ck_assert_uint_eq(len, OFP_TRUST_LIST_MAX);
}
END_TEST

static uint64_t get_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* The offsets of docs/FORMAT.md, read back from the bytes. */
START_TEST(test_layout)
{
	uint8_t pres[OFP_PRESENTATION_MAX], cred[OFP_CREDENTIAL_MAX];
	ofp_presentation_t p;
	size_t len;

	sample_presentation(&p, OFP_ALG_P256, 0);
	ck_fmt(ofp_presentation_encode(&p, pres, sizeof(pres), &len, &E), OFP_FMT_OK, NULL);
	ck_fmt(ofp_credential_encode(&p.cred, cred, sizeof(cred), &len, &E), OFP_FMT_OK, NULL);
	ck_assert_uint_eq(cred[0], 0x11);
	ck_assert_uint_eq(pres[0], 0x21);
	/* The presentation is the credential with the header byte swapped. */
	ck_assert_mem_eq(pres + 1, cred + 1, OFP_CREDENTIAL_MAX - 1);
	ck_assert_uint_eq(pres[1], OFP_ALG_P256);
	ck_assert_mem_eq(pres + 2, p.cred.issuer_kid, 4);
	ck_assert_uint_eq(get_be(pres + 6, 8), p.cred.serial);
	ck_assert_mem_eq(pres + 14, "HOLDER01", 8);
	ck_assert_mem_eq(pres + 22, p.cred.holder_key, 33);
	ck_assert_uint_eq(get_be(pres + 55, 4), T0);
	ck_assert_uint_eq(get_be(pres + 59, 4), T0 + 86400);
	ck_assert_uint_eq(get_be(pres + 63, 2), 7);
	ck_assert_uint_eq(get_be(pres + 65, 4), 250);
	ck_assert_uint_eq(get_be(pres + 69, 4), 5000);
	ck_assert_mem_eq(pres + 73, p.cred.issuer_sig, 64);
	ck_assert_uint_eq(get_be(pres + 137, 4), T0 + 3600);
	ck_assert_uint_eq(get_be(pres + 141, 4), 77);
	ck_assert_uint_eq(get_be(pres + 145, 4), 250);
	ck_assert_mem_eq(pres + 149, p.auth.holder_sig, 64);

	sample_presentation(&p, OFP_ALG_P256, 3);
	ck_fmt(ofp_presentation_encode(&p, pres, sizeof(pres), &len, &E), OFP_FMT_OK, NULL);
	ck_assert_uint_eq(pres[0], 0x31);
	ck_assert_uint_eq(pres[149], 3);
	ck_assert_mem_eq(pres + 150, p.auth.challenge, 3);
	ck_assert_mem_eq(pres + 153, p.auth.holder_sig, 64);
}
END_TEST

/* --- signed messages -------------------------------------------------- */

static void put_be(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = n; i-- > 0; v >>= 8)
		p[i] = (uint8_t)v;
}

START_TEST(test_tbs)
{
	uint8_t enc[OFP_TRUST_LIST_MAX], tbs[OFP_TRUST_LIST_MAX + 32], want[OFP_TBS_MAX], digest[32];
	ofp_presentation_t p;
	ofp_enrollment_t e;
	ofp_trust_list_t t;
	ofp_deny_list_t d;
	size_t len, tlen, dl;

	/* Credential: domain || every byte before the signature. */
	sample_credential(&p.cred, OFP_ALG_ED25519);
	ck_fmt(ofp_credential_encode(&p.cred, enc, sizeof(enc), &len, &E), OFP_FMT_OK, NULL);
	ck_fmt(ofp_credential_tbs(&p.cred, tbs, sizeof(tbs), &tlen, &E), OFP_FMT_OK, NULL);
	dl = strlen(OFP_DOMAIN_CREDENTIAL);
	ck_assert_uint_eq(tlen, dl + len - OFP_SIG_LEN);
	ck_assert_mem_eq(tbs, "offpass-cred-v1", dl);
	ck_assert_mem_eq(tbs + dl, enc, len - OFP_SIG_LEN);
	ck_assert(ofp_sha256(enc, len, digest));

	/* Authorization: domain || SHA-256(credential) || fields, with the
	 * challenge length byte even when there is no challenge. */
	sample_presentation(&p, OFP_ALG_ED25519, 0);
	ck_fmt(ofp_authorization_tbs(&p.cred, &p.auth, tbs, sizeof(tbs), &tlen, &E), OFP_FMT_OK, NULL);
	memcpy(want, "offpass-auth-v1", 15);
	memcpy(want + 15, digest, 32);
	put_be(want + 47, T0 + 3600, 4);
	put_be(want + 51, 77, 4);
	put_be(want + 55, 250, 4);
	want[59] = 0;
	ck_assert_uint_eq(tlen, 60);
	ck_assert_mem_eq(tbs, want, 60);
	p.auth.challenge_len = 2;
	p.auth.challenge[0] = 0xaa;
	p.auth.challenge[1] = 0xbb;
	ck_fmt(ofp_authorization_tbs(&p.cred, &p.auth, tbs, sizeof(tbs), &tlen, &E), OFP_FMT_OK, NULL);
	want[59] = 2;
	want[60] = 0xaa;
	want[61] = 0xbb;
	ck_assert_uint_eq(tlen, 62);
	ck_assert_mem_eq(tbs, want, 62);
	ck_fmt(ofp_credential_digest(&p.cred, want, &E), OFP_FMT_OK, NULL);
	ck_assert_mem_eq(want, digest, 32);

	sample_enrollment(&e, OFP_ALG_P256);
	ck_fmt(ofp_enrollment_encode(&e, enc, sizeof(enc), &len, &E), OFP_FMT_OK, NULL);
	ck_fmt(ofp_enrollment_tbs(&e, tbs, sizeof(tbs), &tlen, &E), OFP_FMT_OK, NULL);
	dl = strlen(OFP_DOMAIN_ENROLLMENT);
	ck_assert_uint_eq(tlen, dl + len - OFP_SIG_LEN - OFP_HASH_LEN);
	ck_assert_mem_eq(tbs, "offpass-enroll-v2", dl);
	ck_assert_mem_eq(tbs + dl, enc, len - OFP_SIG_LEN - OFP_HASH_LEN);
	ck_assert_uint_eq(enc[0], 0x42);

	sample_trust(&t, 3);
	ck_fmt(ofp_trust_list_encode(&t, enc, sizeof(enc), &len, &E), OFP_FMT_OK, NULL);
	ck_fmt(ofp_trust_list_tbs(&t, tbs, sizeof(tbs), &tlen, &E), OFP_FMT_OK, NULL);
	dl = strlen(OFP_DOMAIN_TRUST_LIST);
	ck_assert_mem_eq(tbs, "offpass-trust-v1", dl);
	ck_assert_uint_eq(tlen, dl + len - OFP_SIG_LEN);
	ck_assert_mem_eq(tbs + dl, enc, len - OFP_SIG_LEN);

	sample_deny(&d, 4);
	ck_fmt(ofp_deny_list_encode(&d, enc, sizeof(enc), &len, &E), OFP_FMT_OK, NULL);
	ck_fmt(ofp_deny_list_tbs(&d, tbs, sizeof(tbs), &tlen, &E), OFP_FMT_OK, NULL);
	dl = strlen(OFP_DOMAIN_DENY_LIST);
	ck_assert_mem_eq(tbs, "offpass-deny-v1", dl);
	ck_assert_uint_eq(tlen, dl + len - OFP_SIG_LEN);
	ck_assert_mem_eq(tbs + dl, enc, len - OFP_SIG_LEN);
}
END_TEST

START_TEST(test_sealed_tbs_aad)
{
	uint8_t ct[5 + 2 * OFP_JOURNAL_RECORD_MIN], enc[512], tbs[512], aad[OFP_SEALED_BATCH_AAD_LEN];
	ofp_sealed_batch_t s;
	size_t len, tlen, dl = strlen(OFP_DOMAIN_SEALED_BATCH);

	fill(ct, sizeof(ct), 1);
	sample_sealed(&s, ct, sizeof(ct), 2);
	ck_fmt(ofp_sealed_batch_encode(&s, enc, sizeof(enc), &len, &E), OFP_FMT_OK, NULL);
	ck_assert_uint_eq(len, OFP_SEALED_BATCH_OVERHEAD + sizeof(ct));
	ck_fmt(ofp_sealed_batch_tbs(&s, tbs, sizeof(tbs), &tlen, &E), OFP_FMT_OK, NULL);
	ck_assert_uint_eq(tlen, dl + len - OFP_SIG_LEN);
	ck_assert_mem_eq(tbs, "offpass-batch-v1", dl);
	ck_assert_mem_eq(tbs + dl, enc, len - OFP_SIG_LEN);
	/* The AAD needs no ciphertext yet: it is computed before encrypting. */
	s.ciphertext = NULL;
	ck_fmt(ofp_sealed_batch_aad(&s, aad, &E), OFP_FMT_OK, NULL);
	ck_assert_mem_eq(aad, enc, OFP_SEALED_BATCH_AAD_LEN);
	ck_assert_uint_eq(get_be(enc + 82, 4), sizeof(ct));
	ck_assert_mem_eq(enc + 86, ct, sizeof(ct));
	ck_fmt(ofp_sealed_batch_encode(&s, enc, sizeof(enc), &len, &E), OFP_FMT_EVALUE, "sealed_batch.ciphertext");
}
END_TEST

/* --- credential, presentation, enrollment refusals -------------------- */

START_TEST(test_credential_rules)
{
	uint8_t buf[OFP_CREDENTIAL_MAX];
	ofp_credential_t c;
	size_t len;

	sample_credential(&c, OFP_ALG_P256);
	ck_fmt(ofp_credential_encode(&c, buf, sizeof(buf), &len, &E), OFP_FMT_OK, NULL);

	/* Names the field, at each place the input may end. */
	ck_fmt(ofp_credential_decode(buf, 60, &c, &E), OFP_FMT_ETRUNCATED, "credential.not_after");
	ck_assert_str_eq(E.reason, "credential.not_after: truncated");
	ck_fmt(ofp_credential_decode(buf, 1, &c, &E), OFP_FMT_ETRUNCATED, "credential.holder_alg");
	ck_fmt(ofp_credential_decode(buf, 30, &c, &E), OFP_FMT_ETRUNCATED, "credential.holder_key");
	ck_fmt(ofp_credential_decode(buf, 136, &c, &E), OFP_FMT_ETRUNCATED, "credential.issuer_signature");
	ck_fmt(ofp_credential_decode(NULL, 0, &c, &E), OFP_FMT_ETRUNCATED, "credential.header");

	for (unsigned alg = 0; alg < 256; alg++) {
		if (alg == OFP_ALG_P256 || alg == OFP_ALG_ED25519)
			continue;
		buf[1] = (uint8_t)alg;
		ck_fmt(ofp_credential_decode(buf, len, &c, &E), OFP_FMT_EVALUE, "credential.holder_alg");
	}
	buf[1] = OFP_ALG_P256;
	for (unsigned prefix = 0; prefix < 256; prefix++) {
		buf[22] = (uint8_t)prefix;
		ck_fmt(ofp_credential_decode(buf, len, &c, &E),
		       prefix == 2 || prefix == 3 ? OFP_FMT_OK : OFP_FMT_ENONCANONICAL,
		       prefix == 2 || prefix == 3 ? NULL : "credential.holder_key");
	}
	buf[22] = 0x03;
	/* not_after must be after not_before. */
	memcpy(buf + 59, buf + 55, 4);
	ck_fmt(ofp_credential_decode(buf, len, &c, &E), OFP_FMT_EVALUE, "credential.not_after");

	/* The encoder keeps the same rules. */
	sample_credential(&c, OFP_ALG_P256);
	c.holder_key[0] = 0x04;
	ck_fmt(ofp_credential_encode(&c, buf, sizeof(buf), &len, &E), OFP_FMT_ENONCANONICAL, "credential.holder_key");
	ck_fmt(ofp_credential_tbs(&c, buf, sizeof(buf), &len, &E), OFP_FMT_ENONCANONICAL, "credential.holder_key");
	sample_credential(&c, OFP_ALG_P256);
	c.holder_alg = 9;
	ck_fmt(ofp_credential_encode(&c, buf, sizeof(buf), &len, &E), OFP_FMT_EVALUE, "credential.holder_alg");
	sample_credential(&c, OFP_ALG_P256);
	c.not_after = c.not_before - 1;
	ck_fmt(ofp_credential_encode(&c, buf, sizeof(buf), &len, &E), OFP_FMT_EVALUE, "credential.not_after");
	/* Ed25519 keys have no prefix rule: any 32 bytes. */
	sample_credential(&c, OFP_ALG_ED25519);
	c.holder_key[0] = 0x04;
	ck_fmt(ofp_credential_encode(&c, buf, sizeof(buf), &len, &E), OFP_FMT_OK, NULL);
	ck_assert_uint_eq(len, OFP_CREDENTIAL_MAX - 1);
}
END_TEST

START_TEST(test_presentation_rules)
{
	uint8_t buf[OFP_PRESENTATION_MAX + 2], qr[OFP_PRESENTATION_MAX];
	ofp_presentation_t p;
	size_t len, qr_len;

	qr_len = encode_presentation(qr, OFP_ALG_P256, 0);
	ck_fmt(ofp_presentation_decode(qr, qr_len, &p, &E), OFP_FMT_OK, NULL);
	ck_assert_uint_eq(p.auth.challenge_len, 0);
	ck_assert_uint_eq(p.auth.counter, 77);

	/* Type 3 with an empty challenge: type 2 is the one encoding. */
	buf[0] = 0x31;
	memcpy(buf + 1, qr + 1, 148);
	buf[149] = 0;
	memcpy(buf + 150, qr + 149, 64);
	ck_fmt(ofp_presentation_decode(buf, 214, &p, &E), OFP_FMT_ENONCANONICAL, "presentation.challenge_length");
	/* At most 32 bytes of challenge. */
	len = encode_presentation(buf, OFP_ALG_P256, OFP_CHALLENGE_MAX);
	buf[149] = OFP_CHALLENGE_MAX + 1;
	ck_fmt(ofp_presentation_decode(buf, len, &p, &E), OFP_FMT_ELIMIT, "presentation.challenge_length");
	buf[149] = OFP_CHALLENGE_MAX - 1;
	ck_fmt(ofp_presentation_decode(buf, len, &p, &E), OFP_FMT_ETRAILING, "presentation");
	sample_presentation(&p, OFP_ALG_P256, 0);
	p.auth.challenge_len = OFP_CHALLENGE_MAX + 1;
	ck_fmt(ofp_presentation_encode(&p, buf, sizeof(buf), &len, &E), OFP_FMT_ELIMIT,
	       "presentation.challenge_length");
	ck_fmt(ofp_authorization_tbs(&p.cred, &p.auth, buf, sizeof(buf), &len, &E), OFP_FMT_ELIMIT,
	       "authorization.challenge_length");

	/* Credential rules apply inside, under their own name. */
	memcpy(buf, qr, qr_len);
	buf[22] = 0x04;
	ck_fmt(ofp_presentation_decode(buf, qr_len, &p, &E), OFP_FMT_ENONCANONICAL,
	       "presentation.credential.holder_key");
	memcpy(buf, qr, qr_len);
	buf[1] = OFP_ALG_ED25519; /* every later field moves by one byte */
	ck_assert(ofp_presentation_decode(buf, qr_len, &p, &E) != OFP_FMT_OK);
	ck_fmt(ofp_presentation_decode(qr, 140, &p, &E), OFP_FMT_ETRUNCATED, "presentation.time");
	ck_fmt(ofp_presentation_decode(qr, 100, &p, &E), OFP_FMT_ETRUNCATED, "presentation.credential.issuer_signature");
	/* A credential is not a presentation. */
	buf[0] = 0x11;
	ck_fmt(ofp_presentation_decode(buf, qr_len, &p, &E), OFP_FMT_ETYPE, "presentation.header");

	/* A failed decode leaves nothing half-filled. */
	ck_assert_uint_eq(p.auth.counter, 0);
	ck_assert_uint_eq(p.cred.serial, 0);
}
END_TEST

START_TEST(test_enrollment_rules)
{
	uint8_t buf[OFP_ENROLLMENT_MAX];
	ofp_enrollment_t e;
	size_t len;

	sample_enrollment(&e, OFP_ALG_P256);
	ck_fmt(ofp_enrollment_encode(&e, buf, sizeof(buf), &len, &E), OFP_FMT_OK, NULL);
	ck_assert_uint_eq(len, OFP_ENROLLMENT_MAX);
	buf[10] = 0x05;
	ck_fmt(ofp_enrollment_decode(buf, len, &e, &E), OFP_FMT_ENONCANONICAL, "enrollment.holder_key");
	buf[1] = 0;
	ck_fmt(ofp_enrollment_decode(buf, len, &e, &E), OFP_FMT_EVALUE, "enrollment.holder_alg");
	sample_enrollment(&e, OFP_ALG_P256);
	e.holder_key[0] = 0;
	ck_fmt(ofp_enrollment_tbs(&e, buf, sizeof(buf), &len, &E), OFP_FMT_ENONCANONICAL, "enrollment.holder_key");
	/* Version 1 (no code MAC, 32 bytes shorter) is refused by its header,
	 * with a reason that says why. */
	sample_enrollment(&e, OFP_ALG_P256);
	ck_fmt(ofp_enrollment_encode(&e, buf, sizeof(buf), &len, &E), OFP_FMT_OK, NULL);
	buf[0] = 0x41;
	ck_fmt(ofp_enrollment_decode(buf, len - OFP_HASH_LEN, &e, &E), OFP_FMT_EVERSION, "enrollment.header");
	ck_assert_ptr_nonnull(strstr(E.reason, "enrollment code"));
	buf[0] = 0x42;
	ck_fmt(ofp_enrollment_decode(buf, len - 1, &e, &E), OFP_FMT_ETRUNCATED, "enrollment.code_mac");
}
END_TEST

START_TEST(test_enroll_code)
{
	uint8_t code[OFP_ENROLL_CODE_LEN], back[OFP_ENROLL_CODE_LEN], k1[OFP_HASH_LEN], k2[OFP_HASH_LEN];
	uint8_t mac1[OFP_HASH_LEN], mac2[OFP_HASH_LEN];
	char text[OFP_ENROLL_CODE_TEXT_LEN + 1];
	ofp_enrollment_t e;

	for (size_t i = 0; i < sizeof(code); i++)
		code[i] = (uint8_t)(i * 37 + 5);
	ofp_enroll_code_text(code, text);
	ck_assert_uint_eq(strlen(text), OFP_ENROLL_CODE_TEXT_LEN);
	for (size_t i = 4; i < OFP_ENROLL_CODE_TEXT_LEN; i += 5)
		ck_assert_int_eq(text[i], '-');
	ck_fmt(ofp_enroll_code_parse(text, back, &E), OFP_FMT_OK, NULL);
	ck_assert_mem_eq(back, code, sizeof(code));
	/* Typed by a person: lower case, spaces, 0/1/8 for O/I/B. */
	for (char *p = text; *p != '\0'; p++) {
		if (*p == '-')
			*p = ' ';
		else if (*p == 'O')
			*p = '0';
		else if (*p == 'I')
			*p = '1';
		else if (*p == 'B')
			*p = '8';
		else if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	}
	ck_fmt(ofp_enroll_code_parse(text, back, &E), OFP_FMT_OK, NULL);
	ck_assert_mem_eq(back, code, sizeof(code));
	ck_fmt(ofp_enroll_code_parse("ABCD-EFGH", back, &E), OFP_FMT_EVALUE, "enrollment code.text");
	ck_fmt(ofp_enroll_code_parse("ABCD-EFGH-ABCD-EFGH-ABCD-EFGH-ABCD-EFG9", back, &E), OFP_FMT_EVALUE,
	       "enrollment code.text");
	ck_fmt(ofp_enroll_code_parse("ABCD-EFGH-ABCD-EFGH-ABCD-EFGH-ABCD-EFGHA", back, &E), OFP_FMT_EVALUE,
	       "enrollment code.text");
	/* The key depends on the code and on the holder id; the MAC on every
	 * signed byte. */
	ck_fmt(ofp_enroll_code_key(code, (const uint8_t *)"HOLDER01", k1, &E), OFP_FMT_OK, NULL);
	ck_fmt(ofp_enroll_code_key(code, (const uint8_t *)"HOLDER02", k2, &E), OFP_FMT_OK, NULL);
	ck_assert(memcmp(k1, k2, sizeof(k1)) != 0);
	sample_enrollment(&e, OFP_ALG_P256);
	ck_fmt(ofp_enrollment_mac(&e, k1, mac1, &E), OFP_FMT_OK, NULL);
	e.time++;
	ck_fmt(ofp_enrollment_mac(&e, k1, mac2, &E), OFP_FMT_OK, NULL);
	ck_assert(memcmp(mac1, mac2, sizeof(mac1)) != 0);
}
END_TEST

/* --- journal records -------------------------------------------------- */

START_TEST(test_record_rules)
{
	uint8_t buf[OFP_JOURNAL_RECORD_MAX + 8], pres[OFP_PRESENTATION_MAX + 40];
	ofp_journal_record_t r, d;
	size_t len, plen, n;

	sample_record(&r, OFP_REASON_OK, NULL, 0, T0);
	len = encode_record(buf, &r);
	ck_fmt(ofp_journal_record_decode(buf, len, &d, &E), OFP_FMT_OK, NULL);
	ck_assert_uint_eq(d.counter, 77);
	ck_assert_uint_eq(d.amount, 250);
	ck_assert_uint_eq(d.serial, 0x0102030405060708ull);
	ck_assert_mem_eq(d.holder_id, "HOLDER01", 8);
	ck_assert_uint_eq(d.presentation_len, 213);
	ck_fmt(ofp_journal_record_peek_len(buf, 3, &n, &E), OFP_FMT_OK, NULL);
	ck_assert_uint_eq(n, len);
	ck_fmt(ofp_journal_record_peek_len(buf, 2, &n, &E), OFP_FMT_ETRUNCATED, "journal_record.length");

	/* Decision and reason. */
	for (unsigned v = 0; v < 256; v++) {
		buf[3] = (uint8_t)v;
		ck_fmt(ofp_journal_record_decode(buf, len, &d, &E), v == 1 ? OFP_FMT_OK : v == 2 ? OFP_FMT_EMISMATCH : OFP_FMT_EVALUE,
		       v == 1 ? NULL : v == 2 ? "journal_record.reason" : "journal_record.decision");
	}
	buf[3] = OFP_DECISION_OPERATE;
	buf[4] = OFP_REASON_REPLAY;
	ck_fmt(ofp_journal_record_decode(buf, len, &d, &E), OFP_FMT_EMISMATCH, "journal_record.reason");
	buf[4] = OFP_REASON_LAST + 1;
	ck_fmt(ofp_journal_record_decode(buf, len, &d, &E), OFP_FMT_EVALUE, "journal_record.reason");
	buf[3] = OFP_DECISION_REFUSE;
	buf[4] = OFP_REASON_REPLAY;
	ck_fmt(ofp_journal_record_decode(buf, len, &d, &E), OFP_FMT_OK, NULL);
	buf[3] = OFP_DECISION_OPERATE;
	buf[4] = OFP_REASON_OK;

	/* Each copied field must agree with the presentation. */
	struct {
		size_t off;
		const char *field;
	} copies[] = { { 17, "journal_record.holder_id" }, { 25, "journal_record.counter" },
		       { 29, "journal_record.amount" }, { 33, "journal_record.serial" } };
	for (size_t i = 0; i < OFP_ARRAY_LEN(copies); i++) {
		buf[copies[i].off + 1] ^= 0x40;
		ck_fmt(ofp_journal_record_decode(buf, len, &d, &E), OFP_FMT_EMISMATCH, copies[i].field);
		buf[copies[i].off + 1] ^= 0x40;
	}
	r.serial++;
	ck_fmt(ofp_journal_record_encode(&r, buf, sizeof(buf), &n, &E), OFP_FMT_EMISMATCH, "journal_record.serial");
	r.serial--;

	/* A broken presentation in a non-malformed record. */
	buf[73 + 22] = 0x04;
	ck_fmt(ofp_journal_record_decode(buf, len, &d, &E), OFP_FMT_ENONCANONICAL,
	       "journal_record.presentation.credential.holder_key");
	buf[73 + 22] = r.presentation[22];

	/* Length field: bounds, and the record it announces. */
	put_be(buf + 1, 69, 2);
	ck_fmt(ofp_journal_record_decode(buf, len, &d, &E), OFP_FMT_EVALUE, "journal_record.length");
	put_be(buf + 1, 70 + OFP_PRESENTATION_MAX + 1, 2);
	ck_fmt(ofp_journal_record_decode(buf, len, &d, &E), OFP_FMT_ELIMIT, "journal_record.length");
	ck_fmt(ofp_journal_record_peek_len(buf, len, &n, &E), OFP_FMT_ELIMIT, "journal_record.length");
	put_be(buf + 1, len - 3 - 1, 2);
	ck_fmt(ofp_journal_record_decode(buf, len, &d, &E), OFP_FMT_ETRAILING, "journal_record");
	put_be(buf + 1, len - 3, 2);

	/* Malformed: whatever bytes came, nothing else known. */
	sample_record(&r, OFP_REASON_MALFORMED, (const uint8_t *)"\x21", 1, T0);
	len = encode_record(buf, &r);
	ck_fmt(ofp_journal_record_decode(buf, len, &d, &E), OFP_FMT_OK, NULL);
	r.counter = 1;
	ck_fmt(ofp_journal_record_encode(&r, buf, sizeof(buf), &n, &E), OFP_FMT_ENONCANONICAL,
	       "journal_record.holder_id");
	r.counter = 0;
	r.presentation_len = OFP_PRESENTATION_MAX + 1;
	ck_fmt(ofp_journal_record_encode(&r, buf, sizeof(buf), &n, &E), OFP_FMT_ELIMIT, "journal_record.presentation");

	/* set_presentation: decoded fields, or the bytes kept and the error. */
	plen = encode_presentation(pres, OFP_ALG_ED25519, 4);
	ck_fmt(ofp_journal_record_set_presentation(&r, pres, plen, &E), OFP_FMT_OK, NULL);
	ck_assert_uint_eq(r.presentation_len, plen);
	ck_assert_uint_eq(r.counter, 77);
	memset(pres, 0x21, sizeof(pres));
	ck_fmt(ofp_journal_record_set_presentation(&r, pres, sizeof(pres), &E), OFP_FMT_EVALUE,
	       "presentation.credential.holder_alg");
	ck_assert_uint_eq(r.presentation_len, OFP_PRESENTATION_MAX);
	ck_assert_uint_eq(r.counter, 0);
	ck_assert_uint_eq(r.serial, 0);
}
END_TEST

/* --- batch and sealed batch ------------------------------------------- */

START_TEST(test_batch_rules)
{
	static uint8_t recs[4 * OFP_JOURNAL_RECORD_MAX], buf[8 + sizeof(recs)];
	ofp_journal_record_t r;
	ofp_batch_t b;
	ofp_batch_iter_t it;
	const uint8_t *raw;
	size_t recs_len, len, raw_len;
	unsigned n = 0;

	recs_len = sample_records(recs, 4);
	b = (ofp_batch_t){ .count = 4, .records = recs, .records_len = recs_len };
	ck_fmt(ofp_batch_encode(&b, buf, sizeof(buf), &len, &E), OFP_FMT_OK, NULL);
	ck_fmt(ofp_batch_decode(buf, len, &b, &E), OFP_FMT_OK, NULL);
	ck_assert_uint_eq(b.count, 4);
	ck_assert_ptr_eq(b.records, buf + 5);
	ofp_batch_iter_init(&it, &b);
	while (ofp_batch_next(&it, &r, &raw, &raw_len)) {
		ck_assert_uint_eq(r.time, T0 + 10 * n);
		n++;
	}
	ck_assert_uint_eq(n, 4);

	/* The count against the records present. */
	put_be(buf + 1, 5, 4);
	ck_fmt(ofp_batch_decode(buf, len, &b, &E), OFP_FMT_ETRUNCATED, "batch.record[4].header");
	put_be(buf + 1, 3, 4);
	ck_fmt(ofp_batch_decode(buf, len, &b, &E), OFP_FMT_ETRAILING, "batch");
	put_be(buf + 1, OFP_BATCH_MAX_RECORDS + 1, 4);
	ck_fmt(ofp_batch_decode(buf, len, &b, &E), OFP_FMT_ELIMIT, "batch.count");
	put_be(buf + 1, 4, 4);
	/* A bad record is named by its index. */
	buf[5 + 3] = 7; /* record[0].decision */
	ck_fmt(ofp_batch_decode(buf, len, &b, &E), OFP_FMT_EVALUE, "batch.record[0].decision");
	buf[5 + 3] = OFP_DECISION_OPERATE;

	/* The encoder checks the records it is given. */
	b = (ofp_batch_t){ .count = 3, .records = recs, .records_len = recs_len };
	ck_fmt(ofp_batch_encode(&b, buf, sizeof(buf), &len, &E), OFP_FMT_ETRAILING, "batch");
	b = (ofp_batch_t){ .count = 4, .records = recs, .records_len = recs_len - 1 };
	ck_fmt(ofp_batch_encode(&b, buf, sizeof(buf), &len, &E), OFP_FMT_ETRUNCATED, "batch.record[3].presentation");
	b = (ofp_batch_t){ .count = OFP_BATCH_MAX_RECORDS + 1, .records = recs, .records_len = recs_len };
	ck_fmt(ofp_batch_encode(&b, buf, sizeof(buf), &len, &E), OFP_FMT_ELIMIT, "batch.count");
}
END_TEST

START_TEST(test_batch_check)
{
	static uint8_t recs[4 * OFP_JOURNAL_RECORD_MAX], cut[sizeof(recs)], buf[8 + sizeof(recs)];
	uint8_t first[32], last[32], want[32];
	ofp_sealed_batch_t s;
	ofp_batch_t b;
	size_t recs_len, len, l0, l1;

	recs_len = sample_records(recs, 4);
	b = (ofp_batch_t){ .count = 4, .records = recs, .records_len = recs_len };
	ck_fmt(ofp_batch_encode(&b, buf, sizeof(buf), &len, &E), OFP_FMT_OK, NULL);
	ck_fmt(ofp_batch_decode(buf, len, &b, &E), OFP_FMT_OK, NULL);
	sample_sealed(&s, buf, (uint32_t)len, 4);
	ck_fmt(ofp_batch_check(&s, &b, first, last, &E), OFP_FMT_OK, NULL);
	memset(want, 0, 32);
	ck_assert_mem_eq(first, want, 32);
	ck_fmt(ofp_journal_record_peek_len(recs, recs_len, &l0, &E), OFP_FMT_OK, NULL);
	ck_fmt(ofp_journal_record_peek_len(recs + l0, recs_len - l0, &l1, &E), OFP_FMT_OK, NULL);
	/* last = hash of the 4th record: the sample chain's final value. */
	{
		const uint8_t *p = recs;
		size_t left = recs_len, n = 0;

		for (int i = 0; i < 4; i++) {
			ck_fmt(ofp_journal_record_peek_len(p, left, &n, &E), OFP_FMT_OK, NULL);
			if (i < 3) {
				p += n;
				left -= n;
			}
		}
		ck_assert(ofp_sha256(p, n, want));
		ck_assert_mem_eq(last, want, 32);
	}

	s.record_count = 3;
	ck_fmt(ofp_batch_check(&s, &b, NULL, NULL, &E), OFP_FMT_EMISMATCH, "batch.count");
	s.record_count = 4;
	s.verifier_id[0] ^= 1;
	ck_fmt(ofp_batch_check(&s, &b, NULL, NULL, &E), OFP_FMT_EMISMATCH, "batch.record[0].verifier_id");
	s.verifier_id[0] ^= 1;
	s.period_end = T0 + 15; /* record[2] is at T0 + 20 */
	ck_fmt(ofp_batch_check(&s, &b, NULL, NULL, &E), OFP_FMT_EMISMATCH, "batch.record[2].time");
	s.period_end = T0 + 86399;
	s.period_start = T0 + 1;
	ck_fmt(ofp_batch_check(&s, &b, NULL, NULL, &E), OFP_FMT_EMISMATCH, "batch.record[0].time");
	s.period_start = T0;

	/* A record taken out breaks the chain at the next one. */
	memcpy(cut, recs, l0);
	memcpy(cut + l0, recs + l0 + l1, recs_len - l0 - l1);
	b = (ofp_batch_t){ .count = 3, .records = cut, .records_len = recs_len - l1 };
	ck_fmt(ofp_batch_encode(&b, buf, sizeof(buf), &len, &E), OFP_FMT_OK, NULL);
	ck_fmt(ofp_batch_decode(buf, len, &b, &E), OFP_FMT_OK, NULL);
	s.record_count = 3;
	ck_fmt(ofp_batch_check(&s, &b, NULL, NULL, &E), OFP_FMT_EMISMATCH, "batch.record[1].prev_hash");

	/* An empty batch: nothing to link, zeros. */
	b = (ofp_batch_t){ .count = 0 };
	s.record_count = 0;
	memset(first, 1, 32);
	ck_fmt(ofp_batch_check(&s, &b, first, last, &E), OFP_FMT_OK, NULL);
	memset(want, 0, 32);
	ck_assert_mem_eq(first, want, 32);
	ck_assert_mem_eq(last, want, 32);
}
END_TEST

START_TEST(test_sealed_rules)
{
	uint8_t ct[5 + 2 * OFP_JOURNAL_RECORD_MIN], buf[512];
	ofp_sealed_batch_t s, d;
	size_t len, n;

	fill(ct, sizeof(ct), 9);
	sample_sealed(&s, ct, sizeof(ct), 2);
	ck_fmt(ofp_sealed_batch_encode(&s, buf, sizeof(buf), &len, &E), OFP_FMT_OK, NULL);
	ck_fmt(ofp_sealed_batch_decode(buf, len, &d, &E), OFP_FMT_OK, NULL);
	ck_assert_ptr_eq(d.ciphertext, buf + 86);
	ck_assert_uint_eq(d.sequence, 9);

	put_be(buf + 13, 0, 8);
	ck_fmt(ofp_sealed_batch_decode(buf, len, &d, &E), OFP_FMT_EVALUE, "sealed_batch.sequence");
	put_be(buf + 13, 9, 8);
	put_be(buf + 25, T0 - 1, 4);
	ck_fmt(ofp_sealed_batch_decode(buf, len, &d, &E), OFP_FMT_EVALUE, "sealed_batch.period_end");
	put_be(buf + 25, T0, 4); /* a period of one second is allowed */
	ck_fmt(ofp_sealed_batch_decode(buf, len, &d, &E), OFP_FMT_OK, NULL);
	put_be(buf + 29, OFP_BATCH_MAX_RECORDS + 1, 4);
	ck_fmt(ofp_sealed_batch_decode(buf, len, &d, &E), OFP_FMT_ELIMIT, "sealed_batch.record_count");
	put_be(buf + 29, 3, 4); /* 151 bytes cannot hold 3 records */
	ck_fmt(ofp_sealed_batch_decode(buf, len, &d, &E), OFP_FMT_EMISMATCH, "sealed_batch.ciphertext_length");
	put_be(buf + 29, 0, 4);
	ck_fmt(ofp_sealed_batch_decode(buf, len, &d, &E), OFP_FMT_EMISMATCH, "sealed_batch.ciphertext_length");
	put_be(buf + 29, 2, 4);
	buf[37] = 0x04;
	ck_fmt(ofp_sealed_batch_decode(buf, len, &d, &E), OFP_FMT_ENONCANONICAL, "sealed_batch.ephemeral_key");
	buf[37] = 0x03;
	ck_fmt(ofp_sealed_batch_decode(buf, len, &d, &E), OFP_FMT_OK, NULL);
	put_be(buf + 82, sizeof(ct) + 1, 4);
	ck_fmt(ofp_sealed_batch_decode(buf, len, &d, &E), OFP_FMT_ETRUNCATED, "sealed_batch.verifier_signature");
	put_be(buf + 82, 0xffffffffu, 4);
	ck_fmt(ofp_sealed_batch_decode(buf, len, &d, &E), OFP_FMT_EMISMATCH, "sealed_batch.ciphertext_length");

	s.record_count = OFP_BATCH_MAX_RECORDS + 1;
	ck_fmt(ofp_sealed_batch_encode(&s, buf, sizeof(buf), &n, &E), OFP_FMT_ELIMIT, "sealed_batch.record_count");
	s.record_count = 2;
	s.sequence = 0;
	ck_fmt(ofp_sealed_batch_tbs(&s, buf, sizeof(buf), &n, &E), OFP_FMT_EVALUE, "sealed_batch.sequence");
}
END_TEST

/* --- trust list and deny list ----------------------------------------- */

START_TEST(test_trust_rules)
{
	static uint8_t buf[OFP_TRUST_LIST_MAX + 100];
	ofp_trust_list_t t, d;
	ofp_trust_entry_t tmp;
	size_t len, e0 = 18;

	sample_trust(&t, 3);
	ck_fmt(ofp_trust_list_encode(&t, buf, sizeof(buf), &len, &E), OFP_FMT_OK, NULL);
	ck_fmt(ofp_trust_list_decode(buf, len, &d, &E), OFP_FMT_OK, NULL);
	for (unsigned i = 0; i < 3; i++)
		ck_assert_ptr_eq(ofp_trust_list_find(&d, t.entries[i].kid), &d.entries[i]);
	tmp = t.entries[0];
	tmp.kid[3] ^= 0x80;
	ck_assert_ptr_null(ofp_trust_list_find(&d, tmp.kid));

	/* Entry rules, encode side. */
	tmp = t.entries[0];
	t.entries[0] = t.entries[1];
	t.entries[1] = tmp;
	ck_fmt(ofp_trust_list_encode(&t, buf, sizeof(buf), &len, &E), OFP_FMT_EORDER, "trust_list.entry[1].key_id");
	t.entries[0] = t.entries[1];
	ck_fmt(ofp_trust_list_encode(&t, buf, sizeof(buf), &len, &E), OFP_FMT_EORDER, "trust_list.entry[1].key_id");
	ck_assert_str_eq(E.reason, "trust_list.entry[1].key_id: duplicate");
	sample_trust(&t, 3);
	t.entries[0].kid[0] ^= 1;
	ck_fmt(ofp_trust_list_encode(&t, buf, sizeof(buf), &len, &E), OFP_FMT_EMISMATCH, "trust_list.entry[0].key_id");
	sample_trust(&t, 3);
	t.count = 0;
	ck_fmt(ofp_trust_list_encode(&t, buf, sizeof(buf), &len, &E), OFP_FMT_EVALUE, "trust_list.count");
	t.count = OFP_TRUST_MAX_ENTRIES + 1;
	ck_fmt(ofp_trust_list_encode(&t, buf, sizeof(buf), &len, &E), OFP_FMT_ELIMIT, "trust_list.count");
	sample_trust(&t, 1);
	t.version = 0;
	ck_fmt(ofp_trust_list_encode(&t, buf, sizeof(buf), &len, &E), OFP_FMT_EVALUE, "trust_list.version");
	t.version = 1;
	t.entries[0].usage = 3;
	ck_fmt(ofp_trust_list_encode(&t, buf, sizeof(buf), &len, &E), OFP_FMT_EVALUE, "trust_list.entry[0].usage");
	t.entries[0].usage = OFP_USAGE_SEALING;
	ck_fmt(ofp_trust_list_encode(&t, buf, sizeof(buf), &len, &E), OFP_FMT_OK, NULL);
	sample_trust_entry(&t.entries[0], OFP_ALG_ED25519, OFP_USAGE_SEALING, 1);
	ck_fmt(ofp_trust_list_encode(&t, buf, sizeof(buf), &len, &E), OFP_FMT_EVALUE, "trust_list.entry[0].usage");
	sample_trust_entry(&t.entries[0], OFP_ALG_P256, OFP_USAGE_SEALING, 1);
	t.entries[0].not_after = t.entries[0].not_before;
	ck_fmt(ofp_trust_list_encode(&t, buf, sizeof(buf), &len, &E), OFP_FMT_EVALUE, "trust_list.entry[0].not_after");
	sample_trust_entry(&t.entries[0], OFP_ALG_P256, OFP_USAGE_SEALING, 1);
	t.entries[0].key[0] = 0x02;
	ck_fmt(ofp_trust_list_encode(&t, buf, sizeof(buf), &len, &E), OFP_FMT_ENONCANONICAL, "trust_list.entry[0].key");
	t.entries[0].alg = 0;
	ck_fmt(ofp_trust_list_encode(&t, buf, sizeof(buf), &len, &E), OFP_FMT_EVALUE, "trust_list.entry[0].alg");

	/* Decode side: same rules from bytes. */
	sample_trust(&t, 3);
	ck_fmt(ofp_trust_list_encode(&t, buf, sizeof(buf), &len, &E), OFP_FMT_OK, NULL);
	buf[17] = 0;
	ck_fmt(ofp_trust_list_decode(buf, len, &d, &E), OFP_FMT_EVALUE, "trust_list.count");
	buf[17] = OFP_TRUST_MAX_ENTRIES + 1;
	ck_fmt(ofp_trust_list_decode(buf, len, &d, &E), OFP_FMT_ELIMIT, "trust_list.count");
	buf[17] = 4; /* the signature is read as a 4th entry */
	ck_assert(ofp_trust_list_decode(buf, len, &d, &E) != OFP_FMT_OK);
	buf[17] = 2; /* the 3rd entry is read as the signature */
	ck_fmt(ofp_trust_list_decode(buf, len, &d, &E), OFP_FMT_ETRAILING, "trust_list");
	buf[17] = 3;
	buf[e0 + 4] = 7; /* entry[0].alg */
	ck_fmt(ofp_trust_list_decode(buf, len, &d, &E), OFP_FMT_EVALUE, "trust_list.entry[0].alg");
	buf[e0 + 4] = t.entries[0].alg;
	buf[e0 + 5] = 0; /* entry[0].usage */
	ck_fmt(ofp_trust_list_decode(buf, len, &d, &E), OFP_FMT_EVALUE, "trust_list.entry[0].usage");
	buf[e0 + 5] = t.entries[0].usage;
	buf[e0 + 14 + 5] ^= 1; /* a key byte: its id no longer matches */
	ck_fmt(ofp_trust_list_decode(buf, len, &d, &E), OFP_FMT_EMISMATCH, "trust_list.entry[0].key_id");
	buf[e0 + 14 + 5] ^= 1;
	put_be(buf + 1, 0, 8);
	ck_fmt(ofp_trust_list_decode(buf, len, &d, &E), OFP_FMT_EVALUE, "trust_list.version");
}
END_TEST

START_TEST(test_deny_rules)
{
	uint8_t buf[256], e[OFP_DENY_ENTRY_LEN], hid[8];
	ofp_deny_list_t l, d;
	size_t len;

	sample_deny(&l, 4);
	ck_fmt(ofp_deny_list_encode(&l, buf, sizeof(buf), &len, &E), OFP_FMT_OK, NULL);
	ck_fmt(ofp_deny_list_decode(buf, len, &d, &E), OFP_FMT_OK, NULL);
	ck_assert_uint_eq(d.count, 4);
	ck_assert_ptr_eq(d.entries, buf + 21);
	ofp_deny_entry_serial(e, 42);
	ck_assert(ofp_deny_list_contains(&d, e));
	ofp_deny_entry_serial(e, 43);
	ck_assert(!ofp_deny_list_contains(&d, e));
	ofp_deny_entry_holder(e, (const uint8_t *)"HOLDER99");
	ck_assert(ofp_deny_list_contains(&d, e));
	memcpy(hid, "HOLDER99", 8);
	hid[7] = '8';
	ofp_deny_entry_holder(e, hid);
	ck_assert(!ofp_deny_list_contains(&d, e));
	/* Holders sort before serials; serials by number. */
	ck_assert_uint_eq(buf[21], OFP_DENY_HOLDER);
	ck_assert_uint_eq(buf[21 + 27], OFP_DENY_SERIAL);
	ck_assert_uint_eq(get_be(buf + 21 + 19, 8), 7);
	ck_assert_uint_eq(get_be(buf + 21 + 28, 8), 42);

	/* Unsorted, duplicate, unknown kind; encode and decode. */
	memcpy(e, buf + 21, 9);
	memcpy(buf + 21, buf + 30, 9);
	memcpy(buf + 30, e, 9);
	ck_fmt(ofp_deny_list_decode(buf, len, &d, &E), OFP_FMT_EORDER, "deny_list.entry[1]");
	ck_assert_str_eq(E.reason, "deny_list.entry[1]: not ascending");
	memcpy(buf + 21, buf + 30, 9);
	ck_fmt(ofp_deny_list_decode(buf, len, &d, &E), OFP_FMT_EORDER, "deny_list.entry[1]");
	ck_assert_str_eq(E.reason, "deny_list.entry[1]: duplicate");
	l.entries = buf + 21;
	ck_fmt(ofp_deny_list_encode(&l, buf + 128, 128, &len, &E), OFP_FMT_EORDER, "deny_list.entry[1]");
	buf[21 + 27] = 0;
	ck_fmt(ofp_deny_list_decode(buf, 21 + 36 + 64, &d, &E), OFP_FMT_EORDER, NULL);
	sample_deny(&l, 4);
	ck_fmt(ofp_deny_list_encode(&l, buf, sizeof(buf), &len, &E), OFP_FMT_OK, NULL);
	buf[21 + 27] = 3;
	ck_fmt(ofp_deny_list_decode(buf, len, &d, &E), OFP_FMT_EVALUE, "deny_list.entry[3].kind");

	/* The count: bounded before anything is read, and honoured. */
	sample_deny(&l, 4);
	ck_fmt(ofp_deny_list_encode(&l, buf, sizeof(buf), &len, &E), OFP_FMT_OK, NULL);
	put_be(buf + 17, OFP_DENY_MAX_ENTRIES + 1, 4);
	ck_fmt(ofp_deny_list_decode(buf, len, &d, &E), OFP_FMT_ELIMIT, "deny_list.count");
	put_be(buf + 17, 0xffffffffu, 4);
	ck_fmt(ofp_deny_list_decode(buf, len, &d, &E), OFP_FMT_ELIMIT, "deny_list.count");
	put_be(buf + 17, 12, 4);
	ck_fmt(ofp_deny_list_decode(buf, len, &d, &E), OFP_FMT_ETRUNCATED, "deny_list.entries");
	put_be(buf + 17, 3, 4);
	ck_fmt(ofp_deny_list_decode(buf, len, &d, &E), OFP_FMT_ETRAILING, "deny_list");
	put_be(buf + 1, 0, 8);
	ck_fmt(ofp_deny_list_decode(buf, len, &d, &E), OFP_FMT_EVALUE, "deny_list.version");
	l.count = OFP_DENY_MAX_ENTRIES + 1;
	ck_fmt(ofp_deny_list_encode(&l, NULL, 0, &len, &E), OFP_FMT_ELIMIT, "deny_list.count");
}
END_TEST

/* A list at its maximum: decoded in place and searched. */
START_TEST(test_deny_large)
{
	size_t n = OFP_DENY_MAX_ENTRIES, len;
	uint8_t *entries = malloc(n * OFP_DENY_ENTRY_LEN), *buf = malloc(n * OFP_DENY_ENTRY_LEN + 128), e[9];
	ofp_deny_list_t l, d;

	ck_assert_ptr_nonnull(entries);
	ck_assert_ptr_nonnull(buf);
	/* Serials 3n+1 in reverse order, plus one duplicate: normalize sorts
	 * and drops it. */
	for (size_t i = 0; i < n; i++)
		ofp_deny_entry_serial(entries + i * 9, 3 * (uint64_t)(n - 1 - (i == 0 ? 1 : i)) + 1);
	ck_assert_uint_eq(ofp_deny_entries_normalize(entries, n), n - 1);
	memset(&l, 0, sizeof(l));
	l.version = 1;
	l.count = (uint32_t)(n - 1);
	l.entries = entries;
	ck_fmt(ofp_deny_list_encode(&l, buf, n * OFP_DENY_ENTRY_LEN + 128, &len, &E), OFP_FMT_OK, NULL);
	ck_fmt(ofp_deny_list_decode(buf, len, &d, &E), OFP_FMT_OK, NULL);
	for (uint64_t s = 0; s < 3000; s++) {
		ofp_deny_entry_serial(e, s);
		ck_assert(ofp_deny_list_contains(&d, e) == (s % 3 == 1 && s != 3 * (n - 1) + 1));
	}
	free(entries);
	free(buf);
}
END_TEST

/* --- keys ------------------------------------------------------------- */

START_TEST(test_key_ids)
{
	static const unsigned algs[] = { OFP_ALG_P256, OFP_ALG_ED25519 };

	for (size_t i = 0; i < OFP_ARRAY_LEN(algs); i++) {
		ofp_tk_key_t k;
		uint8_t *der = NULL, spki[91], md[32], kid[4], comp[40];
		size_t spki_len, comp_len = 0;
		int der_len;

		ck_assert(ofp_tk_key_derive(&k, "key-id-test", algs[i]));
		/* Our fixed SPKI prefix is what OpenSSL writes. */
		der_len = i2d_PUBKEY(k.pkey, &der);
		ck_fmt(ofp_spki(algs[i], k.pub, k.pub_len, spki, &spki_len, &E), OFP_FMT_OK, NULL);
		ck_assert_int_eq(der_len, (int)spki_len);
		ck_assert_mem_eq(der, spki, spki_len);
		ck_assert(ofp_sha256(der, (size_t)der_len, md));
		ck_fmt(ofp_key_id(algs[i], k.pub, k.pub_len, kid, &E), OFP_FMT_OK, NULL);
		ck_assert_mem_eq(kid, md, 4);
		ck_fmt(ofp_key_id(algs[i], k.pub, k.pub_len - 1, kid, &E), OFP_FMT_EVALUE, NULL);
		if (algs[i] == OFP_ALG_P256) {
			/* Compression agrees with OpenSSL's. */
			EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
			EC_POINT *q = EC_POINT_new(g);

			ck_assert_int_eq(EC_POINT_oct2point(g, q, k.pub, k.pub_len, NULL), 1);
			comp_len = EC_POINT_point2oct(g, q, POINT_CONVERSION_COMPRESSED, comp, sizeof(comp), NULL);
			EC_POINT_free(q);
			EC_GROUP_free(g);
			ck_assert_uint_eq(comp_len, 33);
			ck_assert_mem_eq(comp, k.holder_pub, 33);
			k.pub[0] = 0x03;
			ck_fmt(ofp_p256_compress(k.pub, comp, &E), OFP_FMT_ENONCANONICAL, "key");
			ck_fmt(ofp_key_id(algs[i], k.pub, k.pub_len, kid, &E), OFP_FMT_ENONCANONICAL, "key");
		}
		OPENSSL_free(der);
		ofp_tk_key_free(&k);
	}
	{
		uint8_t kid[4];

		ck_fmt(ofp_key_id(7, NULL, 0, kid, &E), OFP_FMT_EVALUE, "key.alg");
	}
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(ofp_fmt_rc_name(OFP_FMT_ETRUNCATED), "truncated");
	ck_assert_str_eq(ofp_fmt_rc_name(OFP_FMT_EINTERNAL), "internal");
	ck_assert_str_eq(ofp_fmt_rc_name((ofp_fmt_rc_t)99), "unknown");
	ck_assert_str_eq(ofp_type_name(OFP_TYPE_DENY_LIST), "deny list");
	ck_assert_str_eq(ofp_type_name(0), "unknown");
	ck_assert_str_eq(ofp_reason_name(OFP_REASON_REPLAY), "replay");
	ck_assert_str_eq(ofp_reason_name(OFP_REASON_LAST + 1), "unknown");
	for (unsigned r = 0; r <= OFP_REASON_LAST; r++)
		ck_assert_str_ne(ofp_reason_name(r), "unknown");
}
END_TEST

/* --- the committed vectors -------------------------------------------- */

static char vdir[512];
static ofp_trust_list_t vtrust;
static ofp_tk_key_t vkeys[8];
static size_t nvkeys;

static uint8_t *read_vector(const char *name, size_t *len)
{
	char path[700];
	uint8_t *data;

	snprintf(path, sizeof(path), "%s/%s.hex", vdir, name);
	ck_assert_msg(ofp_tk_hex_read(path, &data, len), "cannot read %s", path);
	return data;
}

static const ofp_tk_key_t *vkey(const char *name)
{
	for (size_t i = 0; i < nvkeys; i++)
		if (strcmp(vkeys[i].name, name) == 0)
			return &vkeys[i];
	ck_abort_msg("no key %s in keys.txt", name);
	return NULL;
}

/* keys.txt: each line's public key and id follow from its private key,
 * which is SHA-256("offpass test key " || name). */
static void load_keys(void)
{
	char path[700], line[512], name[32], priv_hex[80], pub_hex[160], kid_hex[16];
	uint8_t priv[32], pub[65], kid[4];
	size_t n;
	unsigned alg;
	FILE *f;

	snprintf(path, sizeof(path), "%s/keys.txt", vdir);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		ofp_tk_key_t derived;

		if (line[0] == '#')
			continue;
		ck_assert_int_eq(sscanf(line, "%31s %u %79s %159s %15s", name, &alg, priv_hex, pub_hex, kid_hex), 5);
		ck_assert(nvkeys < OFP_ARRAY_LEN(vkeys));
		ck_assert(ofp_tk_hex_parse(priv_hex, priv, sizeof(priv), &n) && n == 32);
		ck_assert(ofp_tk_key_from_private(&vkeys[nvkeys], name, alg, priv));
		ck_assert(ofp_tk_hex_parse(pub_hex, pub, sizeof(pub), &n));
		ck_assert_uint_eq(n, vkeys[nvkeys].pub_len);
		ck_assert_mem_eq(pub, vkeys[nvkeys].pub, n);
		ck_assert(ofp_tk_hex_parse(kid_hex, kid, sizeof(kid), &n) && n == 4);
		ck_assert_mem_eq(kid, vkeys[nvkeys].kid, 4);
		ck_assert(ofp_tk_key_derive(&derived, name, alg));
		ck_assert_mem_eq(derived.priv, priv, 32);
		ofp_tk_key_free(&derived);
		nvkeys++;
	}
	fclose(f);
}

static void vectors_setup(void)
{
	const char *top = getenv("top_srcdir");
	uint8_t *data;
	size_t len;

	if (top != NULL)
		snprintf(vdir, sizeof(vdir), "%s/tests/vectors", top);
	else
		snprintf(vdir, sizeof(vdir), "%s", OFP_VECTORS_DIR);
	load_keys();
	data = read_vector("trust-list", &len);
	ck_fmt(ofp_trust_list_decode(data, len, &vtrust, &E), OFP_FMT_OK, NULL);
	free(data);
}

static void vectors_teardown(void)
{
	for (size_t i = 0; i < nvkeys; i++)
		ofp_tk_key_free(&vkeys[i]);
	nvkeys = 0;
}

/* A signature by an issuer key of the trust list vector. */
static bool issuer_verify(const uint8_t kid[4], const uint8_t *msg, size_t len, const uint8_t sig[64])
{
	const ofp_trust_entry_t *e = ofp_trust_list_find(&vtrust, kid);

	return e != NULL && e->usage == OFP_USAGE_CREDENTIAL_SIGNING &&
	       ofp_tk_verify(e->alg, e->key, ofp_trust_key_len(e->alg), msg, len, sig);
}

static bool presentation_verify(const uint8_t *in, size_t len)
{
	uint8_t tbs[OFP_TBS_MAX];
	ofp_presentation_t p;
	size_t n;

	ck_fmt(ofp_presentation_decode(in, len, &p, &E), OFP_FMT_OK, NULL);
	ck_fmt(ofp_credential_tbs(&p.cred, tbs, sizeof(tbs), &n, &E), OFP_FMT_OK, NULL);
	if (!issuer_verify(p.cred.issuer_kid, tbs, n, p.cred.issuer_sig))
		return false;
	ck_fmt(ofp_authorization_tbs(&p.cred, &p.auth, tbs, sizeof(tbs), &n, &E), OFP_FMT_OK, NULL);
	return ofp_tk_verify(p.cred.holder_alg, p.cred.holder_key, ofp_holder_key_len(p.cred.holder_alg), tbs, n,
			     p.auth.holder_sig);
}

/* Every signature an artifact carries, checked as a verifier would. */
static bool signatures_verify(const char *artifact, const uint8_t *in, size_t len)
{
	static uint8_t tbs[8192];
	size_t n;

	if (strcmp(artifact, "presentation") == 0)
		return presentation_verify(in, len);
	if (strcmp(artifact, "credential") == 0) {
		ofp_credential_t c;

		ck_fmt(ofp_credential_decode(in, len, &c, &E), OFP_FMT_OK, NULL);
		ck_fmt(ofp_credential_tbs(&c, tbs, sizeof(tbs), &n, &E), OFP_FMT_OK, NULL);
		return issuer_verify(c.issuer_kid, tbs, n, c.issuer_sig);
	}
	if (strcmp(artifact, "enrollment") == 0) {
		ofp_enrollment_t e;

		ck_fmt(ofp_enrollment_decode(in, len, &e, &E), OFP_FMT_OK, NULL);
		ck_fmt(ofp_enrollment_tbs(&e, tbs, sizeof(tbs), &n, &E), OFP_FMT_OK, NULL);
		return ofp_tk_verify(e.holder_alg, e.holder_key, ofp_holder_key_len(e.holder_alg), tbs, n,
				     e.holder_sig) &&
		       ofp_tk_enroll_code_verifies(&e);
	}
	if (strcmp(artifact, "trust-list") == 0) {
		static ofp_trust_list_t t;

		ck_fmt(ofp_trust_list_decode(in, len, &t, &E), OFP_FMT_OK, NULL);
		ck_fmt(ofp_trust_list_tbs(&t, tbs, sizeof(tbs), &n, &E), OFP_FMT_OK, NULL);
		return issuer_verify(t.signer_kid, tbs, n, t.issuer_sig);
	}
	if (strcmp(artifact, "deny-list") == 0) {
		ofp_deny_list_t d;

		ck_fmt(ofp_deny_list_decode(in, len, &d, &E), OFP_FMT_OK, NULL);
		ck_fmt(ofp_deny_list_tbs(&d, tbs, sizeof(tbs), &n, &E), OFP_FMT_OK, NULL);
		return issuer_verify(d.signer_kid, tbs, n, d.issuer_sig);
	}
	if (strcmp(artifact, "journal-record") == 0) {
		ofp_journal_record_t r;

		ck_fmt(ofp_journal_record_decode(in, len, &r, &E), OFP_FMT_OK, NULL);
		return presentation_verify(r.presentation, r.presentation_len);
	}
	if (strcmp(artifact, "sealed-batch") == 0) {
		const ofp_tk_key_t *k = vkey("verifier-p256");
		ofp_sealed_batch_t s;

		ck_fmt(ofp_sealed_batch_decode(in, len, &s, &E), OFP_FMT_OK, NULL);
		ck_fmt(ofp_sealed_batch_tbs(&s, tbs, sizeof(tbs), &n, &E), OFP_FMT_OK, NULL);
		return memcmp(s.verifier_kid, k->kid, 4) == 0 &&
		       ofp_tk_verify(k->alg, k->pub, k->pub_len, tbs, n, s.verifier_sig);
	}
	ck_abort_msg("no signatures to check in %s", artifact);
	return false;
}

static void check_vector(const char *file, const char *artifact, const char *expect, const char *field,
			 const char *sigs)
{
	const struct artifact *a = artifact_by_name(artifact);
	size_t len, out_len;
	uint8_t *in = read_vector(file, &len), *out = malloc(len + 1);
	ofp_fmt_rc_t rc;

	ck_assert_msg(a != NULL, "%s: unknown artifact %s", file, artifact);
	rc = decode_exact(a, in, len);
	ck_assert_msg(strcmp(ofp_fmt_rc_name(rc), expect) == 0, "%s: got %s (%s), want %s", file, ofp_fmt_rc_name(rc),
		      E.reason, expect);
	if (strcmp(field, "-") != 0)
		ck_assert_msg(strncmp(E.reason, field, strlen(field)) == 0 && E.reason[strlen(field)] == ':',
			      "%s: reason \"%s\" does not name %s", file, E.reason, field);
	if (rc == OFP_FMT_OK) {
		/* Decoding and re-encoding gives the same bytes. */
		ck_fmt(a->reencode(in, len, out, len + 1, &out_len), OFP_FMT_OK, NULL);
		ck_assert_uint_eq(out_len, len);
		ck_assert_mem_eq(out, in, len);
	}
	if (strcmp(sigs, "-") != 0)
		ck_assert_msg(signatures_verify(artifact, in, len) == (strcmp(sigs, "valid") == 0),
			      "%s: signatures should be %s", file, sigs);
	free(out);
	free(in);
}

START_TEST(test_vectors_manifest)
{
	char path[700], line[512], file[64], artifact[32], expect[32], field[80], sigs[16];
	unsigned n = 0, ok = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/vectors.txt", vdir);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (line[0] == '#')
			continue;
		ck_assert_int_eq(sscanf(line, "%63s %31s %31s %79s %15s", file, artifact, expect, field, sigs), 5);
		check_vector(file, artifact, expect, field, sigs);
		n++;
		ok += strcmp(expect, "ok") == 0;
	}
	fclose(f);
	/* The brief's minimum: every artifact, valid and invalid ones. */
	ck_assert_uint_ge(ok, 10);
	ck_assert_uint_ge(n - ok, 10);
}
END_TEST

START_TEST(test_vectors_sizes)
{
	size_t len;
	uint8_t *p = read_vector("presentation-p256", &len);

	printf("vector presentation-p256: %zu bytes\n", len);
	ck_assert_uint_eq(len, 213);
	ck_assert_uint_eq(p[0], 0x21);
	free(p);
	p = read_vector("presentation-ed25519", &len);
	printf("vector presentation-ed25519: %zu bytes\n", len);
	ck_assert_uint_eq(len, 212);
	free(p);
	p = read_vector("presentation-p256-challenge", &len);
	ck_assert_uint_eq(len, 230);
	ck_assert_uint_eq(p[0], 0x31);
	free(p);
}
END_TEST

/* The sealed batch opens, with the sealing private key, to the batch
 * vector, whose records are consistent with the envelope; the journal
 * record vector is its first record, over the P-256 presentation. */
START_TEST(test_vectors_sealed)
{
	const ofp_tk_key_t *sealing = vkey("sealing-p256");
	uint8_t *sealed, *batch, *rec, *pres, *plain, aad[OFP_SEALED_BATCH_AAD_LEN], key[32], tag[16];
	uint8_t first[32], last[32], zero[32] = { 0 };
	size_t sealed_len, batch_len, rec_len, pres_len, raw_len;
	const ofp_trust_entry_t *e;
	ofp_sealed_batch_t s;
	ofp_batch_t b;
	ofp_batch_iter_t it;
	ofp_journal_record_t r;
	const uint8_t *raw;

	sealed = read_vector("sealed-batch", &sealed_len);
	batch = read_vector("batch", &batch_len);
	rec = read_vector("journal-record", &rec_len);
	pres = read_vector("presentation-p256", &pres_len);
	ck_fmt(ofp_sealed_batch_decode(sealed, sealed_len, &s, &E), OFP_FMT_OK, NULL);
	e = ofp_trust_list_find(&vtrust, s.sealing_kid);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->usage, OFP_USAGE_SEALING);
	ck_assert_mem_eq(e->key, sealing->pub, 65);

	ck_fmt(ofp_sealed_batch_aad(&s, aad, &E), OFP_FMT_OK, NULL);
	ck_assert(ofp_tk_seal_key(sealing, s.ephemeral_key, 33, s.ephemeral_key, e->key, key));
	plain = malloc(s.ciphertext_len);
	memcpy(tag, s.tag, 16);
	ck_assert(ofp_tk_gcm(false, key, s.nonce, aad, sizeof(aad), s.ciphertext, s.ciphertext_len, plain, tag));
	ck_assert_uint_eq(s.ciphertext_len, batch_len);
	ck_assert_mem_eq(plain, batch, batch_len);
	/* A changed AAD byte (the sequence) fails authentication. */
	aad[20] ^= 1;
	ck_assert(!ofp_tk_gcm(false, key, s.nonce, aad, sizeof(aad), s.ciphertext, s.ciphertext_len, plain, tag));

	ck_fmt(ofp_batch_decode(batch, batch_len, &b, &E), OFP_FMT_OK, NULL);
	ck_fmt(ofp_batch_check(&s, &b, first, last, &E), OFP_FMT_OK, NULL);
	ck_assert_mem_eq(first, zero, 32);
	ofp_batch_iter_init(&it, &b);
	ck_assert(ofp_batch_next(&it, &r, &raw, &raw_len));
	ck_assert_uint_eq(raw_len, rec_len);
	ck_assert_mem_eq(raw, rec, rec_len);
	ck_assert_uint_eq(r.presentation_len, pres_len);
	ck_assert_mem_eq(r.presentation, pres, pres_len);
	free(plain);
	free(pres);
	free(rec);
	free(batch);
	free(sealed);
}
END_TEST

/* ---- Ed25519 points of small order (FORMAT.md 3.2) ------------------------- */

/* OpenSSL alone: does the raw signature verify under the raw key? */
static bool openssl_ed25519_verifies(const uint8_t key[32], const uint8_t *msg, size_t len, const uint8_t sig[64])
{
	EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key, 32);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = pkey != NULL && ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
		  EVP_DigestVerify(ctx, sig, 64, msg, len) == 1;

	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return ok;
}

/* ---- P-256 public keys: every party imports them through ofp_sig_public_key,
 * which copies one set of domain parameters for each key ---- */

static const uint8_t p256_p[32] = { 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
				    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
				    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t p256_b[32] = { 0x5a, 0xc6, 0x35, 0xd8, 0xaa, 0x3a, 0x93, 0xe7, 0xb3, 0xeb, 0xbd,
				    0x55, 0x76, 0x98, 0x86, 0xbc, 0x65, 0x1d, 0x06, 0xb0, 0xcc, 0x53,
				    0xb0, 0xf6, 0x3b, 0xce, 0x3c, 0x3e, 0x27, 0xd2, 0x60, 0x4b };

/* A fresh P-256 key pair, its public point in both forms. */
static EVP_PKEY *p256_generate(uint8_t unc[65], uint8_t cmp[33])
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	size_t n = 0;

	ck_assert_ptr_nonnull(k);
	ck_assert(ofp_sig_public_raw(k, OFP_ALG_P256, unc, &n));
	ck_assert_uint_eq(n, 65);
	cmp[0] = (uint8_t)(0x02 | (unc[64] & 1));
	memcpy(cmp + 1, unc + 1, 32);
	return k;
}

static bool p256_refused(const uint8_t *pub, size_t len)
{
	EVP_PKEY *k = ofp_sig_public_key(OFP_ALG_P256, pub, len);

	EVP_PKEY_free(k);
	return k == NULL;
}

/* Keys imported one after another, in both forms, each hold their own
 * point and verify their own signatures only: nothing of one import
 * stays for the next. */
START_TEST(test_p256_public_keys)
{
	static const uint8_t msg[] = "a message";
	static const int owner[4] = { 0, 1, 0, 1 };
	uint8_t unc[2][65], cmp[2][33], sig[2][64], raw[65];
	EVP_PKEY *priv[2], *pub[4];
	size_t n;

	for (int i = 0; i < 2; i++) {
		priv[i] = p256_generate(unc[i], cmp[i]);
		ck_assert(ofp_sig_sign(priv[i], OFP_ALG_P256, msg, sizeof(msg), sig[i]));
	}
	pub[0] = ofp_sig_public_key(OFP_ALG_P256, unc[0], 65);
	pub[1] = ofp_sig_public_key(OFP_ALG_P256, cmp[1], 33);
	pub[2] = ofp_sig_public_key(OFP_ALG_P256, cmp[0], 33);
	pub[3] = ofp_sig_public_key(OFP_ALG_P256, unc[1], 65);
	for (int j = 0; j < 4; j++) {
		int i = owner[j];
		ck_assert_ptr_nonnull(pub[j]);
		ck_assert(ofp_sig_public_raw(pub[j], OFP_ALG_P256, raw, &n));
		ck_assert_uint_eq(n, 65);
		ck_assert_mem_eq(raw, unc[i], 65);
		ck_assert(ofp_sig_verify(pub[j], OFP_ALG_P256, msg, sizeof(msg), sig[i]));
		ck_assert(!ofp_sig_verify(pub[j], OFP_ALG_P256, msg, sizeof(msg), sig[1 - i]));
		EVP_PKEY_free(pub[j]);
	}
	for (int i = 0; i < 2; i++)
		EVP_PKEY_free(priv[i]);
}
END_TEST

/* x^3 - 3x + b (mod p) is a square: a compressed x names a point. */
static bool p256_x_on_curve(unsigned x)
{
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *p = BN_bin2bn(p256_p, 32, NULL), *b = BN_bin2bn(p256_b, 32, NULL), *r = BN_new();
	int k;

	ck_assert(ctx != NULL && p != NULL && b != NULL && r != NULL);
	/* x small: x^3 - 3x + b computed in integers, then reduced. */
	ck_assert(BN_set_word(r, (BN_ULONG)x * x * x) && BN_add(r, r, b) && BN_sub_word(r, 3 * (BN_ULONG)x) &&
		  BN_nnmod(r, r, p, ctx));
	k = BN_kronecker(r, p, ctx);
	ck_assert_int_ne(k, -2);
	BN_free(r);
	BN_free(b);
	BN_free(p);
	BN_CTX_free(ctx);
	return k != -1;
}

START_TEST(test_p256_public_key_refusals)
{
	static const uint8_t infinity[1] = { 0x00 };
	uint8_t unc[65], cmp[33], bad[65];
	EVP_PKEY *k = p256_generate(unc, cmp);
	unsigned named = 0, not_named = 0;

	EVP_PKEY_free(k);
	ck_assert(!p256_refused(unc, 65));
	ck_assert(!p256_refused(cmp, 33));
	memcpy(bad, unc, 65); /* off the curve */
	bad[64] ^= 1;
	ck_assert(p256_refused(bad, 65));
	memcpy(bad + 1, p256_p, 32); /* x = p */
	ck_assert(p256_refused(bad, 65));
	bad[0] = 0x02;
	ck_assert(p256_refused(bad, 33));
	memset(bad + 1, 0xff, 32); /* x > p */
	ck_assert(p256_refused(bad, 33));
	memcpy(bad, unc, 65); /* the hybrid form OpenSSL would take */
	bad[0] = (uint8_t)(0x06 | (unc[64] & 1));
	ck_assert(p256_refused(bad, 65));
	ck_assert(p256_refused(unc, 33)); /* the forms' prefixes with the other's length */
	ck_assert(p256_refused(cmp, 32));
	memcpy(bad, unc, 65);
	bad[0] = cmp[0];
	ck_assert(p256_refused(bad, 65));
	ck_assert(p256_refused(unc, 64));
	ck_assert(p256_refused(infinity, 1));
	ck_assert(p256_refused(unc, 0));
	memset(bad, 0, 65); /* (0, 0) */
	bad[0] = 0x04;
	ck_assert(p256_refused(bad, 65));
	/* A compressed x is a key exactly when the curve has a point there. */
	for (unsigned x = 0; x < 16; x++) {
		bool on = p256_x_on_curve(x);
		memset(bad, 0, 33);
		bad[0] = 0x02;
		bad[32] = (uint8_t)x;
		ck_assert_msg(p256_refused(bad, 33) == !on, "x = %u", x);
		named += on;
		not_named += !on;
	}
	ck_assert_uint_gt(named, 0);
	ck_assert_uint_gt(not_named, 0);
}
END_TEST

/* Threads importing at once: each gets its own key. */
static void *p256_import_thread(void *arg)
{
	static const uint8_t msg[] = "thread";
	uint8_t unc[65], cmp[33], sig[64];
	EVP_PKEY *priv = p256_generate(unc, cmp);
	bool ok = ofp_sig_sign(priv, OFP_ALG_P256, msg, sizeof(msg), sig);

	(void)arg;
	for (int i = 0; ok && i < 100; i++) {
		EVP_PKEY *pub = ofp_sig_public_key(OFP_ALG_P256, i % 2 ? cmp : unc, i % 2 ? 33 : 65);
		ok = pub != NULL && ofp_sig_verify(pub, OFP_ALG_P256, msg, sizeof(msg), sig);
		EVP_PKEY_free(pub);
	}
	EVP_PKEY_free(priv);
	return ok ? arg : NULL;
}

START_TEST(test_p256_public_keys_threads)
{
	pthread_t t[4];
	int marks[4];
	void *ret;

	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, p256_import_thread, &marks[i]), 0);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], &ret), 0);
		ck_assert_ptr_eq(ret, &marks[i]);
	}
}
END_TEST

/* Every spelling of the eight small-order points, and y >= p, is refused
 * as a key and as R; the attack (identity key, R = identity, S = 0) that
 * OpenSSL verifies for any message fails in ofp_sig_verify. */
START_TEST(test_ed25519_small_order)
{
	/* y of the small-order points, little-endian, sign bit clear. */
	static const uint8_t small_y[5][32] = {
		{ 0x01 },
		{ 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
		{ 0x00 },
		{ 0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
		  0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a },
		{ 0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
		  0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05 },
	};
	const ofp_tk_key_t *holder = vkey("holder-ed25519");
	uint8_t enc[32], sig[64] = { 0x01 }, good_sig[64];
	static const uint8_t m1[] = "pay 1000", m2[] = "pay 9999";
	EVP_PKEY *k;

	for (int i = 0; i < 5; i++) {
		for (int sign = 0; sign < 2; sign++) {
			memcpy(enc, small_y[i], 32);
			enc[31] |= (uint8_t)(sign << 7);
			ck_assert_msg(!ofp_ed25519_point_ok(enc), "small-order y #%d sign %d accepted", i, sign);
			ck_assert_ptr_null(ofp_sig_public_key(OFP_ALG_ED25519, enc, 32));
		}
	}
	/* y = p .. 2^255 - 1: every non-canonical y (p + 0 and p + 1 are the
	 * order-4 and identity points). */
	for (int extra = 0; extra < 19; extra++) {
		memset(enc, 0xff, 32);
		enc[0] = (uint8_t)(0xed + extra);
		enc[31] = 0x7f;
		ck_assert_msg(!ofp_ed25519_point_ok(enc), "y = p + %d accepted", extra);
	}
	/* p - 2 is a canonical y; the test keys are fine. */
	memset(enc, 0xff, 32);
	enc[0] = 0xeb;
	enc[31] = 0x7f;
	ck_assert(ofp_ed25519_point_ok(enc));
	ck_assert(ofp_ed25519_point_ok(holder->pub));
	ck_assert(ofp_ed25519_point_ok(vkey("issuer-ed25519")->pub));

	/* The attack: OpenSSL verifies R = identity, S = 0 under the identity
	 * key for two different messages; the format's checks refuse it. */
	ck_assert(openssl_ed25519_verifies(small_y[0], m1, sizeof(m1), sig));
	ck_assert(openssl_ed25519_verifies(small_y[0], m2, sizeof(m2), sig));
	ck_assert(!ofp_tk_verify(OFP_ALG_ED25519, small_y[0], 32, m1, sizeof(m1), sig));
	k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, small_y[0], 32);
	ck_assert(!ofp_sig_verify(k, OFP_ALG_ED25519, m1, sizeof(m1), sig)); /* R refused */
	EVP_PKEY_free(k);

	/* A real signature still verifies; with R or S changed to a form the
	 * format forbids, it does not. */
	ck_assert(ofp_tk_sign(holder, m1, sizeof(m1), good_sig));
	k = ofp_sig_public_key(OFP_ALG_ED25519, holder->pub, 32);
	ck_assert_ptr_nonnull(k);
	ck_assert(ofp_sig_verify(k, OFP_ALG_ED25519, m1, sizeof(m1), good_sig));
	memcpy(sig, good_sig, 64);
	memcpy(sig, small_y[3], 32);
	ck_assert(!ofp_sig_verify(k, OFP_ALG_ED25519, m1, sizeof(m1), sig));
	memcpy(sig, good_sig, 64);
	sig[63] |= 0xf0; /* S >= L */
	ck_assert(!ofp_sig_verify(k, OFP_ALG_ED25519, m1, sizeof(m1), sig));
	EVP_PKEY_free(k);
}
END_TEST

/* The small-order vectors: each decodes; the key or R in it is refused by
 * the one check every party uses (ofp_sig_public_key / ofp_sig_verify),
 * and OpenSSL alone accepts the first (the reason for the rule). */
START_TEST(test_vectors_small_order)
{
	static const char *const keyed[] = { "bad-ed25519-key-identity", "bad-ed25519-key-identity-plus-p",
					     "bad-ed25519-key-order2-sign-bit", "bad-ed25519-key-order4",
					     "bad-ed25519-key-order8" };
	static const char *const r_bad[] = { "bad-ed25519-signature-r-order8", "bad-ed25519-signature-r-plus-p" };
	uint8_t tbs[OFP_TBS_MAX], *in;
	ofp_presentation_t p;
	ofp_enrollment_t e;
	ofp_trust_list_t t;
	EVP_PKEY *k;
	size_t len, n;

	for (size_t i = 0; i < OFP_ARRAY_LEN(keyed); i++) {
		in = read_vector(keyed[i], &len);
		ck_fmt(ofp_presentation_decode(in, len, &p, &E), OFP_FMT_OK, NULL);
		ck_assert_uint_eq(p.cred.holder_alg, OFP_ALG_ED25519);
		ck_assert_msg(ofp_sig_public_key(OFP_ALG_ED25519, p.cred.holder_key, 32) == NULL,
			      "%s: holder key accepted", keyed[i]);
		ck_fmt(ofp_authorization_tbs(&p.cred, &p.auth, tbs, sizeof(tbs), &n, &E), OFP_FMT_OK, NULL);
		if (i == 0)
			ck_assert_msg(openssl_ed25519_verifies(p.cred.holder_key, tbs, n, p.auth.holder_sig),
				      "%s: OpenSSL no longer accepts the identity forgery", keyed[i]);
		free(in);
	}
	for (size_t i = 0; i < OFP_ARRAY_LEN(r_bad); i++) {
		in = read_vector(r_bad[i], &len);
		ck_fmt(ofp_presentation_decode(in, len, &p, &E), OFP_FMT_OK, NULL);
		k = ofp_sig_public_key(OFP_ALG_ED25519, p.cred.holder_key, 32);
		ck_assert_ptr_nonnull(k);
		ck_fmt(ofp_authorization_tbs(&p.cred, &p.auth, tbs, sizeof(tbs), &n, &E), OFP_FMT_OK, NULL);
		ck_assert(!ofp_ed25519_point_ok(p.auth.holder_sig));
		ck_assert(!ofp_sig_verify(k, OFP_ALG_ED25519, tbs, n, p.auth.holder_sig));
		EVP_PKEY_free(k);
		free(in);
	}
	in = read_vector("bad-ed25519-enrollment-identity", &len);
	ck_fmt(ofp_enrollment_decode(in, len, &e, &E), OFP_FMT_OK, NULL);
	ck_assert_ptr_null(ofp_sig_public_key(e.holder_alg, e.holder_key, 32));
	ck_fmt(ofp_enrollment_tbs(&e, tbs, sizeof(tbs), &n, &E), OFP_FMT_OK, NULL);
	ck_assert(openssl_ed25519_verifies(e.holder_key, tbs, n, e.holder_sig));
	free(in);
	in = read_vector("bad-ed25519-trust-identity", &len);
	ck_fmt(ofp_trust_list_decode(in, len, &t, &E), OFP_FMT_OK, NULL);
	ck_assert_uint_eq(t.count, 1);
	ck_assert_ptr_null(ofp_sig_public_key(t.entries[0].alg, t.entries[0].key, 32));
	free(in);
}
END_TEST

static Suite *format_suite(void)
{
	Suite *s = suite_create("format");
	TCase *tc;

	tc = tcase_create("every artifact");
	tcase_add_checked_fixture(tc, build_samples, NULL);
	tcase_add_loop_test(tc, test_roundtrip, 0, OFP_ARRAY_LEN(samples));
	tcase_add_loop_test(tc, test_truncated_everywhere, 0, OFP_ARRAY_LEN(samples));
	tcase_add_loop_test(tc, test_trailing, 0, OFP_ARRAY_LEN(samples));
	tcase_add_loop_test(tc, test_header, 0, OFP_ARRAY_LEN(samples));
	tcase_add_test(tc, test_measure);
	suite_add_tcase(s, tc);

	tc = tcase_create("layout");
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_layout);
	tcase_add_test(tc, test_tbs);
	tcase_add_test(tc, test_sealed_tbs_aad);
	tcase_add_test(tc, test_key_ids);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("refusals");
	tcase_add_test(tc, test_credential_rules);
	tcase_add_test(tc, test_presentation_rules);
	tcase_add_test(tc, test_enrollment_rules);
	tcase_add_test(tc, test_enroll_code);
	tcase_add_test(tc, test_record_rules);
	tcase_add_test(tc, test_batch_rules);
	tcase_add_test(tc, test_batch_check);
	tcase_add_test(tc, test_sealed_rules);
	tcase_add_test(tc, test_trust_rules);
	tcase_add_test(tc, test_deny_rules);
	tcase_add_test(tc, test_deny_large);
	suite_add_tcase(s, tc);

	tc = tcase_create("vectors");
	tcase_add_checked_fixture(tc, vectors_setup, vectors_teardown);
	tcase_add_test(tc, test_vectors_manifest);
	tcase_add_test(tc, test_vectors_sizes);
	tcase_add_test(tc, test_vectors_sealed);
	tcase_add_test(tc, test_vectors_small_order);
	tcase_add_test(tc, test_ed25519_small_order);
	suite_add_tcase(s, tc);

	tc = tcase_create("p256 keys");
	tcase_add_test(tc, test_p256_public_keys);
	tcase_add_test(tc, test_p256_public_key_refusals);
	tcase_add_test(tc, test_p256_public_keys_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(format_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
