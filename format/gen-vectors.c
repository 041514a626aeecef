/* gen-vectors.c - writes the test vectors of tests/vectors/ (see the README
 * there): valid artifacts signed with fixed test keys, invalid ones made by
 * changing bytes of the valid ones, and vectors.txt, the list of files with
 * the result a decoder must give for each.
 *
 * Usage: format/gen-vectors DIR. Everything is deterministic except the
 * ECDSA signatures (OpenSSL 3.0 draws a random nonce), so a new run changes
 * those bytes and nothing else; the vectors are committed, not rebuilt. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/format-testkit.h"
#include "format/format.h"

#define NOT_BEFORE 1767225600u /* 2026-01-01T00:00:00Z */
#define NOT_AFTER (NOT_BEFORE + 2u * 86400u)
#define AUTH_TIME (NOT_BEFORE + 3600u)
#define LIST_FROM 1735689600u /* 2025-01-01 */
#define LIST_UNTIL 1893456000u /* 2030-01-01 */

enum { K_ISSUER_P256, K_ISSUER_ED25519, K_SEALING, K_HOLDER_P256, K_HOLDER_ED25519, K_VERIFIER, K_EPHEMERAL, K_N };

static const struct {
	const char *name;
	unsigned alg;
} key_spec[K_N] = {
	[K_ISSUER_P256] = { "issuer-p256", OFP_ALG_P256 },
	[K_ISSUER_ED25519] = { "issuer-ed25519", OFP_ALG_ED25519 },
	[K_SEALING] = { "sealing-p256", OFP_ALG_P256 },
	[K_HOLDER_P256] = { "holder-p256", OFP_ALG_P256 },
	[K_HOLDER_ED25519] = { "holder-ed25519", OFP_ALG_ED25519 },
	[K_VERIFIER] = { "verifier-p256", OFP_ALG_P256 },
	[K_EPHEMERAL] = { "ephemeral-p256", OFP_ALG_P256 },
};

static ofp_tk_key_t keys[K_N];
static const char *out_dir;
static FILE *manifest;

static void die(const char *what)
{
	fprintf(stderr, "gen-vectors: %s\n", what);
	exit(1);
}

static void need(ofp_fmt_rc_t rc, const ofp_fmt_error_t *err)
{
	if (rc != OFP_FMT_OK)
		die(err->reason);
}

/* Write name.hex and its line of vectors.txt. */
static void emit(const char *name, const uint8_t *data, size_t len, const char *artifact, const char *expect,
		 const char *field, const char *sigs)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s.hex", out_dir, name);
	if (!ofp_tk_hex_write(path, data, len))
		die(path);
	fprintf(manifest, "%-36s %-14s %-13s %-44s %s\n", name, artifact, expect, field, sigs);
}

static void sign(unsigned k, const uint8_t *msg, size_t len, uint8_t sig[OFP_SIG_LEN])
{
	if (!ofp_tk_sign(&keys[k], msg, len, sig))
		die("signing failed");
}

static void make_credential(ofp_credential_t *c, unsigned holder, unsigned issuer, uint64_t serial,
			    const char *holder_id)
{
	ofp_fmt_error_t err;

	memset(c, 0, sizeof(*c));
	c->holder_alg = (uint8_t)keys[holder].alg;
	c->serial = serial;
	memcpy(c->holder_id, holder_id, OFP_ID_LEN);
	memcpy(c->holder_key, keys[holder].holder_pub, ofp_holder_key_len(c->holder_alg));
	c->not_before = NOT_BEFORE;
	c->not_after = NOT_AFTER;
	c->grant = (ofp_grant_t){ .resource_class = 1, .per_op_max = 250, .offline_total = 5000 };
	need(ofp_tk_sign_credential(c, &keys[issuer], &err), &err);
}

static size_t make_presentation(uint8_t *out, ofp_presentation_t *p, unsigned holder, uint32_t counter,
				uint32_t amount, uint8_t challenge_len)
{
	size_t len;
	ofp_fmt_error_t err;

	memset(&p->auth, 0, sizeof(p->auth));
	p->auth.time = AUTH_TIME;
	p->auth.counter = counter;
	p->auth.amount = amount;
	p->auth.challenge_len = challenge_len;
	for (uint8_t i = 0; i < challenge_len; i++)
		p->auth.challenge[i] = (uint8_t)(0xc0 + i);
	need(ofp_tk_sign_authorization(p, &keys[holder], &err), &err);
	need(ofp_presentation_encode(p, out, OFP_PRESENTATION_MAX, &len, &err), &err);
	return len;
}

static size_t make_record(uint8_t *out, uint8_t decision, uint8_t reason, uint32_t time, const uint8_t *pres,
			  size_t pres_len, const uint8_t prev[OFP_HASH_LEN])
{
	ofp_journal_record_t r;
	ofp_fmt_error_t err;
	size_t len;

	memset(&r, 0, sizeof(r));
	r.decision = decision;
	r.reason = reason;
	r.time = time;
	memcpy(r.verifier_id, "GATE0001", OFP_ID_LEN);
	memcpy(r.prev_hash, prev, OFP_HASH_LEN);
	if (ofp_journal_record_set_presentation(&r, pres, pres_len, &err) != OFP_FMT_OK &&
	    reason != OFP_REASON_MALFORMED)
		die(err.reason);
	need(ofp_journal_record_encode(&r, out, OFP_JOURNAL_RECORD_MAX, &len, &err), &err);
	return len;
}

/* A copy of in with bytes changed at off: n bytes replaced by with,
 * removed (with NULL), or inserted (insert). out may be in. */
static size_t mutate(uint8_t *out, const uint8_t *in, size_t len, size_t off, const uint8_t *with, size_t n,
		     bool insert)
{
	uint8_t tmp[4096];

	if (len > sizeof(tmp))
		die("vector too large to mutate");
	memcpy(tmp, in, len);
	memcpy(out, tmp, off);
	if (insert) {
		memcpy(out + off, with, n);
		memcpy(out + off + n, tmp + off, len - off);
		return len + n;
	}
	if (with == NULL) {
		memcpy(out + off, tmp + off + n, len - off - n);
		return len - n;
	}
	memcpy(out + off, with, n);
	memcpy(out + off + n, tmp + off + n, len - off - n);
	return len;
}

static void write_keys(void)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/keys.txt", out_dir);
	f = fopen(path, "w");
	if (f == NULL)
		die(path);
	fprintf(f, "# Test keys only. <name> <alg> <private key> <public key (trust-list form)> <key id>\n"
		   "# private key = SHA-256(\"offpass test key \" || name); alg 1 = P-256, 2 = Ed25519\n");
	for (int i = 0; i < K_N; i++) {
		fprintf(f, "%s %u ", keys[i].name, keys[i].alg);
		for (int j = 0; j < 32; j++)
			fprintf(f, "%02x", keys[i].priv[j]);
		fputc(' ', f);
		for (size_t j = 0; j < keys[i].pub_len; j++)
			fprintf(f, "%02x", keys[i].pub[j]);
		fputc(' ', f);
		for (int j = 0; j < OFP_KEY_ID_LEN; j++)
			fprintf(f, "%02x", keys[i].kid[j]);
		fputc('\n', f);
	}
	if (fclose(f) != 0)
		die(path);
}

static void gen_holder_artifacts(uint8_t *pres_p256, size_t *pres_p256_len)
{
	uint8_t buf[OFP_PRESENTATION_MAX + 8], bad[OFP_PRESENTATION_MAX + 8], tbs[OFP_TBS_MAX];
	ofp_presentation_t p;
	ofp_enrollment_t e;
	ofp_fmt_error_t err;
	size_t len, n;

	make_credential(&p.cred, K_HOLDER_P256, K_ISSUER_P256, 1001, "HOLDER01");
	need(ofp_credential_encode(&p.cred, buf, sizeof(buf), &len, &err), &err);
	emit("credential-p256", buf, len, "credential", "ok", "-", "valid");
	/* not_after := not_before */
	n = mutate(bad, buf, len, 59, buf + 55, 4, false);
	emit("bad-credential-window", bad, n, "credential", "value", "credential.not_after", "-");

	len = make_presentation(buf, &p, K_HOLDER_P256, 7, 250, 0);
	memcpy(pres_p256, buf, len);
	*pres_p256_len = len;
	emit("presentation-p256", buf, len, "presentation", "ok", "-", "valid");
	n = mutate(bad, buf, len, len - 1, NULL, 1, false);
	emit("bad-presentation-truncated", bad, n, "presentation", "truncated", "presentation.holder_signature", "-");
	n = mutate(bad, buf, len, len, (const uint8_t *)"", 1, true);
	emit("bad-presentation-trailing", bad, n, "presentation", "trailing", "presentation", "-");
	n = mutate(bad, buf, len, 0, (const uint8_t *)"\x22", 1, false);
	emit("bad-presentation-version", bad, n, "presentation", "version", "presentation.header", "-");
	n = mutate(bad, buf, len, 0, (const uint8_t *)"\xa1", 1, false);
	emit("bad-presentation-type", bad, n, "presentation", "type", "presentation.header", "-");
	n = mutate(bad, buf, len, 22, (const uint8_t *)"\x04", 1, false);
	emit("bad-presentation-point", bad, n, "presentation", "noncanonical", "presentation.credential.holder_key",
	     "-");
	/* type 3 with a challenge_length of 0 after amount */
	n = mutate(bad, buf, len, 0, (const uint8_t *)"\x31", 1, false);
	n = mutate(bad, bad, n, 149, (const uint8_t *)"", 1, true);
	emit("bad-presentation-empty-challenge", bad, n, "presentation", "noncanonical",
	     "presentation.challenge_length", "-");
	n = mutate(bad, buf, len, len - 1, (const uint8_t[]){ (uint8_t)(buf[len - 1] ^ 1) }, 1, false);
	emit("bad-presentation-signature", bad, n, "presentation", "ok", "-", "invalid");

	len = make_presentation(buf, &p, K_HOLDER_P256, 8, 250, 16);
	emit("presentation-p256-challenge", buf, len, "presentation", "ok", "-", "valid");

	make_credential(&p.cred, K_HOLDER_ED25519, K_ISSUER_ED25519, 1002, "HOLDER02");
	len = make_presentation(buf, &p, K_HOLDER_ED25519, 1, 180, 0);
	emit("presentation-ed25519", buf, len, "presentation", "ok", "-", "valid");

	memset(&e, 0, sizeof(e));
	e.holder_alg = OFP_ALG_P256;
	memcpy(e.holder_id, "HOLDER01", OFP_ID_LEN);
	memcpy(e.holder_key, keys[K_HOLDER_P256].holder_pub, OFP_P256_COMPRESSED_LEN);
	e.time = NOT_BEFORE - 600;
	need(ofp_enrollment_tbs(&e, tbs, sizeof(tbs), &len, &err), &err);
	sign(K_HOLDER_P256, tbs, len, e.holder_sig);
	if (!ofp_tk_enroll_code_mac(&e))
		die("enrollment code MAC failed");
	need(ofp_enrollment_encode(&e, buf, sizeof(buf), &len, &err), &err);
	emit("enrollment-p256", buf, len, "enrollment", "ok", "-", "valid");
	/* One bit of the code MAC flipped: decodes, does not verify. */
	n = mutate(bad, buf, len, len - 1, (const uint8_t[]){ (uint8_t)(buf[len - 1] ^ 1) }, 1, false);
	emit("bad-enrollment-code-mac", bad, n, "enrollment", "ok", "-", "invalid");
	/* The version 1 form (no code_mac), which the issuer no longer takes. */
	n = mutate(bad, buf, len - OFP_HASH_LEN, 0, (const uint8_t *)"\x41", 1, false);
	emit("bad-enrollment-version1", bad, n, "enrollment", "version", "enrollment.header", "-");
}

static void trust_entry(ofp_trust_entry_t *e, unsigned k, uint8_t usage)
{
	ofp_tk_trust_entry(e, &keys[k], usage, LIST_FROM, LIST_UNTIL);
}

static void gen_lists(void)
{
	static uint8_t buf[4096], bad[4096], entries[5 * OFP_DENY_ENTRY_LEN];
	static const uint8_t big_count[4] = { 0x00, 0x10, 0x00, 0x01 };
	ofp_trust_list_t t;
	ofp_deny_list_t d;
	ofp_fmt_error_t err;
	size_t len, n, e0;

	memset(&t, 0, sizeof(t));
	t.version = 3;
	t.issued_at = NOT_BEFORE - 86400;
	t.count = 3;
	trust_entry(&t.entries[0], K_ISSUER_P256, OFP_USAGE_CREDENTIAL_SIGNING);
	trust_entry(&t.entries[1], K_ISSUER_ED25519, OFP_USAGE_CREDENTIAL_SIGNING);
	trust_entry(&t.entries[2], K_SEALING, OFP_USAGE_SEALING);
	need(ofp_tk_sign_trust_list(&t, &keys[K_ISSUER_P256], &err), &err);
	need(ofp_trust_list_encode(&t, buf, sizeof(buf), &len, &err), &err);
	emit("trust-list", buf, len, "trust-list", "ok", "-", "valid");
	n = mutate(bad, buf, len, 18 + 3, (const uint8_t[]){ (uint8_t)(buf[18 + 3] ^ 1) }, 1, false);
	emit("bad-trust-key-id", bad, n, "trust-list", "mismatch", "trust_list.entry[0].key_id", "-");

	memset(&d, 0, sizeof(d));
	d.version = 5;
	d.issued_at = NOT_BEFORE - 3600;
	ofp_deny_entry_holder(entries, (const uint8_t *)"HOLDER99");
	ofp_deny_entry_serial(entries + 9, 42);
	ofp_deny_entry_serial(entries + 18, 1000);
	ofp_deny_entry_holder(entries + 27, (const uint8_t *)"BLOCKED1");
	ofp_deny_entry_serial(entries + 36, 42);
	d.count = (uint32_t)ofp_deny_entries_normalize(entries, 5);
	d.entries = entries;
	need(ofp_tk_sign_deny_list(&d, &keys[K_ISSUER_P256], &err), &err);
	need(ofp_deny_list_encode(&d, buf, sizeof(buf), &len, &err), &err);
	emit("deny-list", buf, len, "deny-list", "ok", "-", "valid");
	e0 = 21; /* first entry */
	n = mutate(bad, buf, len, e0, buf + e0 + 9, 9, false);
	n = mutate(bad, bad, n, e0 + 9, buf + e0, 9, false);
	emit("bad-deny-unsorted", bad, n, "deny-list", "order", "deny_list.entry[1]", "-");
	n = mutate(bad, buf, len, e0 + 9, buf + e0, 9, false);
	emit("bad-deny-duplicate", bad, n, "deny-list", "order", "deny_list.entry[1]", "-");
	n = mutate(bad, buf, len, e0, (const uint8_t *)"\x03", 1, false);
	emit("bad-deny-kind", bad, n, "deny-list", "value", "deny_list.entry[0].kind", "-");
	n = mutate(bad, buf, len, 17, big_count, 4, false);
	emit("bad-deny-count", bad, n, "deny-list", "limit", "deny_list.count", "-");
}

static void gen_journal(const uint8_t *pres, size_t pres_len)
{
	static uint8_t recs[3 * OFP_JOURNAL_RECORD_MAX], batch[8 + 3 * OFP_JOURNAL_RECORD_MAX], ct[sizeof(batch)],
		sealed[sizeof(batch) + OFP_SEALED_BATCH_OVERHEAD], bad[sizeof(sealed) + 8], tbs[sizeof(sealed) + 32];
	static const uint8_t garbage[] = "not a presentation";
	uint8_t prev[OFP_HASH_LEN] = { 0 }, aad[OFP_SEALED_BATCH_AAD_LEN], key[32];
	ofp_sealed_batch_t s;
	ofp_batch_t b;
	ofp_fmt_error_t err;
	size_t n1, n2, n3, len, n;

	n1 = make_record(recs, OFP_DECISION_OPERATE, OFP_REASON_OK, AUTH_TIME + 2, pres, pres_len, prev);
	emit("journal-record", recs, n1, "journal-record", "ok", "-", "valid");
	n = mutate(bad, recs, n1, 25 + 3, (const uint8_t *)"\x09", 1, false);
	emit("bad-journal-mismatch", bad, n, "journal-record", "mismatch", "journal_record.counter", "-");
	/* Reason 15 (wrong amount), standalone: the batch below is unchanged.
	 * Byte 4 is the reason; OFP_REASON_LAST + 1 is not assigned. */
	n = make_record(bad, OFP_DECISION_REFUSE, OFP_REASON_WRONG_AMOUNT, AUTH_TIME + 3, pres, pres_len, prev);
	emit("journal-record-wrong-amount", bad, n, "journal-record", "ok", "-", "-");
	bad[4] = OFP_REASON_LAST + 1;
	emit("bad-journal-reason", bad, n, "journal-record", "value", "journal_record.reason", "-");
	if (!ofp_sha256(recs, n1, prev))
		die("sha256");
	n2 = make_record(recs + n1, OFP_DECISION_REFUSE, OFP_REASON_REPLAY, AUTH_TIME + 5, pres, pres_len, prev);
	if (!ofp_sha256(recs + n1, n2, prev))
		die("sha256");
	n3 = make_record(recs + n1 + n2, OFP_DECISION_REFUSE, OFP_REASON_MALFORMED, AUTH_TIME + 9, garbage,
			 sizeof(garbage) - 1, prev);
	b = (ofp_batch_t){ .count = 3, .records = recs, .records_len = n1 + n2 + n3 };
	need(ofp_batch_encode(&b, batch, sizeof(batch), &len, &err), &err);
	emit("batch", batch, len, "batch", "ok", "-", "-");

	memset(&s, 0, sizeof(s));
	memcpy(s.verifier_id, "GATE0001", OFP_ID_LEN);
	memcpy(s.verifier_kid, keys[K_VERIFIER].kid, OFP_KEY_ID_LEN);
	s.sequence = 12;
	s.period_start = NOT_BEFORE;
	s.period_end = NOT_BEFORE + 86399;
	s.record_count = 3;
	memcpy(s.sealing_kid, keys[K_SEALING].kid, OFP_KEY_ID_LEN);
	memcpy(s.ephemeral_key, keys[K_EPHEMERAL].holder_pub, OFP_P256_COMPRESSED_LEN);
	for (int i = 0; i < OFP_GCM_NONCE_LEN; i++)
		s.nonce[i] = (uint8_t)i;
	s.ciphertext_len = (uint32_t)len;
	need(ofp_sealed_batch_aad(&s, aad, &err), &err);
	if (!ofp_tk_seal_key(&keys[K_EPHEMERAL], keys[K_SEALING].pub, keys[K_SEALING].pub_len, s.ephemeral_key,
			     keys[K_SEALING].pub, key) ||
	    !ofp_tk_gcm(true, key, s.nonce, aad, sizeof(aad), batch, len, ct, s.tag))
		die("sealing failed");
	s.ciphertext = ct;
	need(ofp_sealed_batch_tbs(&s, tbs, sizeof(tbs), &n, &err), &err);
	sign(K_VERIFIER, tbs, n, s.verifier_sig);
	need(ofp_sealed_batch_encode(&s, sealed, sizeof(sealed), &n, &err), &err);
	emit("sealed-batch", sealed, n, "sealed-batch", "ok", "-", "valid");
	len = mutate(bad, sealed, n, 29, (const uint8_t *)"\0\0\0\0", 4, false);
	emit("bad-sealed-batch-count", bad, len, "sealed-batch", "mismatch", "sealed_batch.ciphertext_length", "-");
}

/* ---- Ed25519 points of small order (FORMAT.md 3.2) -------------------------
 * Each decodes (the decoder does not look at points) and OpenSSL alone
 * verifies the holder signatures of the first ones; a verifier of the
 * format refuses the keys and the R. The "signature" R = identity, S = 0
 * verifies for every message under the identity as the key. */

/* Little-endian y, bit 255 the sign of x. */
static const uint8_t ed_identity[32] = { 0x01 };
static const uint8_t ed_identity_plus_p[32] = { /* y = p + 1 */
	0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f
};
static const uint8_t ed_order2_negative_zero[32] = { /* y = p - 1, x = 0 with the sign bit set */
	0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
};
static const uint8_t ed_order4[32] = { 0x00 }; /* y = 0 */
static const uint8_t ed_order8[32] = {
	0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
	0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a
};

/* A presentation of an Ed25519 credential for holder_key, signed by
 * issuer-ed25519, with the holder signature sig (R || S). */
static size_t small_order_presentation(uint8_t *out, const uint8_t holder_key[32], const uint8_t sig[OFP_SIG_LEN])
{
	ofp_presentation_t p;
	ofp_fmt_error_t err;
	size_t len;

	make_credential(&p.cred, K_HOLDER_ED25519, K_ISSUER_ED25519, 1003, "HOLDER03");
	memcpy(p.cred.holder_key, holder_key, OFP_ED25519_KEY_LEN);
	need(ofp_tk_sign_credential(&p.cred, &keys[K_ISSUER_ED25519], &err), &err);
	memset(&p.auth, 0, sizeof(p.auth));
	p.auth.time = AUTH_TIME;
	p.auth.counter = 1;
	p.auth.amount = 250;
	memcpy(p.auth.holder_sig, sig, OFP_SIG_LEN);
	need(ofp_presentation_encode(&p, out, OFP_PRESENTATION_MAX, &len, &err), &err);
	return len;
}

static void gen_small_order(void)
{
	static const struct {
		const char *name;
		const uint8_t *key;
	} keyed[] = {
		{ "bad-ed25519-key-identity", ed_identity },
		{ "bad-ed25519-key-identity-plus-p", ed_identity_plus_p },
		{ "bad-ed25519-key-order2-sign-bit", ed_order2_negative_zero },
		{ "bad-ed25519-key-order4", ed_order4 },
		{ "bad-ed25519-key-order8", ed_order8 },
	};
	uint8_t buf[OFP_PRESENTATION_MAX], sig[OFP_SIG_LEN] = { 0 };
	ofp_presentation_t p;
	ofp_enrollment_t e;
	ofp_trust_list_t t;
	ofp_tk_key_t fake;
	ofp_fmt_error_t err;
	size_t len;

	memcpy(sig, ed_identity, 32); /* R = identity, S = 0 */
	for (size_t i = 0; i < OFP_ARRAY_LEN(keyed); i++) {
		len = small_order_presentation(buf, keyed[i].key, sig);
		emit(keyed[i].name, buf, len, "presentation", "ok", "-", "invalid");
	}

	/* A good key, and R of order 8 in its signature. */
	make_credential(&p.cred, K_HOLDER_ED25519, K_ISSUER_ED25519, 1002, "HOLDER02");
	len = make_presentation(buf, &p, K_HOLDER_ED25519, 2, 180, 0);
	memcpy(buf + len - OFP_SIG_LEN, ed_order8, 32);
	emit("bad-ed25519-signature-r-order8", buf, len, "presentation", "ok", "-", "invalid");
	/* R = identity spelled y = p + 1. */
	memcpy(buf + len - OFP_SIG_LEN, ed_identity_plus_p, 32);
	emit("bad-ed25519-signature-r-plus-p", buf, len, "presentation", "ok", "-", "invalid");

	memset(&e, 0, sizeof(e));
	e.holder_alg = OFP_ALG_ED25519;
	memcpy(e.holder_id, "HOLDER03", OFP_ID_LEN);
	memcpy(e.holder_key, ed_identity, OFP_ED25519_KEY_LEN);
	e.time = NOT_BEFORE - 600;
	memcpy(e.holder_sig, sig, OFP_SIG_LEN);
	if (!ofp_tk_enroll_code_mac(&e)) /* a valid code: only the key is wrong */
		die("enrollment code MAC failed");
	need(ofp_enrollment_encode(&e, buf, sizeof(buf), &len, &err), &err);
	emit("bad-ed25519-enrollment-identity", buf, len, "enrollment", "ok", "-", "invalid");

	/* A trust list, validly signed, whose Ed25519 issuer key is the
	 * identity: the list signature verifies; loading the key must fail. */
	memset(&fake, 0, sizeof(fake));
	fake.alg = OFP_ALG_ED25519;
	fake.pub_len = OFP_ED25519_KEY_LEN;
	memcpy(fake.pub, ed_identity, OFP_ED25519_KEY_LEN);
	need(ofp_key_id(OFP_ALG_ED25519, fake.pub, fake.pub_len, fake.kid, &err), &err);
	memset(&t, 0, sizeof(t));
	t.version = 4;
	t.issued_at = NOT_BEFORE - 86400;
	t.count = 1;
	ofp_tk_trust_entry(&t.entries[0], &fake, OFP_USAGE_CREDENTIAL_SIGNING, LIST_FROM, LIST_UNTIL);
	need(ofp_tk_sign_trust_list(&t, &keys[K_ISSUER_P256], &err), &err);
	need(ofp_trust_list_encode(&t, buf, sizeof(buf), &len, &err), &err);
	emit("bad-ed25519-trust-identity", buf, len, "trust-list", "ok", "-", "valid");
}

int main(int argc, char **argv)
{
	uint8_t pres[OFP_PRESENTATION_MAX];
	size_t pres_len;
	char path[512];

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	out_dir = argv[1];
	for (int i = 0; i < K_N; i++)
		if (!ofp_tk_key_derive(&keys[i], key_spec[i].name, key_spec[i].alg))
			die(key_spec[i].name);
	write_keys();
	snprintf(path, sizeof(path), "%s/vectors.txt", out_dir);
	manifest = fopen(path, "w");
	if (manifest == NULL)
		die(path);
	fprintf(manifest, "# Written by format/gen-vectors; described in README.md.\n"
			  "# <file>.hex <artifact> <expected result> <field named by the error> <signatures>\n");
	gen_holder_artifacts(pres, &pres_len);
	gen_lists();
	gen_journal(pres, pres_len);
	gen_small_order();
	if (fclose(manifest) != 0)
		die(path);
	for (int i = 0; i < K_N; i++)
		ofp_tk_key_free(&keys[i]);
	return 0;
}
