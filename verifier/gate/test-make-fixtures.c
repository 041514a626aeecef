/* test-make-fixtures.c - what tests/integration/gate.sh feeds the real
 * offpass-gate: signed trust and deny lists and presentations of every
 * kind (good, stale, replayed, over the grant, badly signed, malformed),
 * made with the wire format (format/format.h) and the fixed test keys of
 * format/format-testkit.h; and the opening of the gate's sealed batches,
 * to count what they hold.
 *
 *   test-make-fixtures make OUTDIR NOW       every file, times around NOW
 *   test-make-fixtures bulk OUTDIR NOW N     bulk-0001.bin.. (one holder)
 *   test-make-fixtures unseal BATCH GATEPUB  one line per record, and a
 *                                           summary: the issuer's view
 * Test code: every key here is public. Exit 0, or 1 with a message. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "atomic_file.h"
#include "cli.h"
#include "hex.h"
#include "test-qrkit.h"
#include "format/format-testkit.h"
#include "format/format.h"
#include "format/seal.h"
#include "format/sig.h"

#define DAY 86400u

enum { K_ISSUER_A, K_ISSUER_B, K_SEAL, K_MALLORY, K_HOLDER, K_HOLDER_ED, K_HOLDER_2, K_COUNT };
static const struct {
	const char *name;
	unsigned alg;
} key_specs[K_COUNT] = {
	{ "gate-issuer-a", OFP_ALG_P256 }, { "gate-issuer-b", OFP_ALG_P256 },  { "gate-seal", OFP_ALG_P256 },
	{ "gate-mallory", OFP_ALG_P256 },  { "gate-holder", OFP_ALG_P256 },    { "gate-holder-ed", OFP_ALG_ED25519 },
	{ "gate-holder-2", OFP_ALG_P256 },
};
static ofp_tk_key_t keys[K_COUNT];
static const char *out_dir;
static uint32_t now;

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "test-make-fixtures: %s%s%s\n", what, detail != NULL ? ": " : "", detail != NULL ? detail : "");
	exit(1);
}

static void need(ofp_fmt_rc_t rc, const ofp_fmt_error_t *err)
{
	if (rc != OFP_FMT_OK)
		die("format", err->reason);
}

static void load_keys(void)
{
	for (unsigned i = 0; i < K_COUNT; i++)
		if (!ofp_tk_key_derive(&keys[i], key_specs[i].name, key_specs[i].alg))
			die("key", key_specs[i].name);
}

static void write_out(const char *name, const uint8_t *data, size_t len)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", out_dir, name);
	if (!tq_write_file(path, data, len))
		die("cannot write", path);
}

/* --- lists ------------------------------------------------------------ */

static void trust_entry(ofp_trust_entry_t *e, unsigned k, uint8_t usage)
{
	ofp_tk_trust_entry(e, &keys[k], usage, now - 30 * DAY, now + 365 * DAY);
}

/* A trust list of the signing keys in `signers` (and the sealing key),
 * signed by `by`; corrupt flips a signature bit. */
static void make_trust(const char *name, uint64_t version, const unsigned *signers, unsigned n, unsigned by,
		       bool corrupt)
{
	static ofp_trust_list_t t;
	uint8_t buf[OFP_TRUST_LIST_MAX];
	ofp_fmt_error_t err;
	size_t len;

	memset(&t, 0, sizeof(t));
	t.version = version;
	t.issued_at = now - DAY;
	for (unsigned i = 0; i < n; i++)
		trust_entry(&t.entries[t.count++], signers[i], OFP_USAGE_CREDENTIAL_SIGNING);
	trust_entry(&t.entries[t.count++], K_SEAL, OFP_USAGE_SEALING);
	need(ofp_tk_sign_trust_list(&t, &keys[by], &err), &err);
	t.issuer_sig[5] ^= corrupt ? 0x01 : 0x00;
	need(ofp_trust_list_encode(&t, buf, sizeof(buf), &len, &err), &err);
	write_out(name, buf, len);
}

static void make_deny(const char *name, uint64_t version, bool with_serial, unsigned by)
{
	uint8_t entries[2 * OFP_DENY_ENTRY_LEN], buf[512];
	ofp_deny_list_t d;
	ofp_fmt_error_t err;
	size_t len;

	memset(&d, 0, sizeof(d));
	d.version = version;
	d.issued_at = now - 3600;
	ofp_deny_entry_holder(entries, (const uint8_t *)"DENIEDH1");
	ofp_deny_entry_serial(entries + OFP_DENY_ENTRY_LEN, 77);
	d.count = (uint32_t)ofp_deny_entries_normalize(entries, with_serial ? 2 : 1);
	d.entries = entries;
	need(ofp_tk_sign_deny_list(&d, &keys[by], &err), &err);
	need(ofp_deny_list_encode(&d, buf, sizeof(buf), &len, &err), &err);
	write_out(name, buf, len);
}

static void make_lists(void)
{
	static const unsigned a[] = { K_ISSUER_A }, ab[] = { K_ISSUER_A, K_ISSUER_B },
			      am[] = { K_ISSUER_A, K_MALLORY };

	make_trust("trust-v1.bin", 1, a, 1, K_ISSUER_A, false);
	make_trust("trust-v2.bin", 2, ab, 2, K_ISSUER_A, false);
	make_trust("trust-v3-mallory.bin", 3, am, 2, K_MALLORY, false);
	make_trust("trust-v3-badsig.bin", 3, ab, 2, K_ISSUER_A, true);
	make_deny("deny-v1.bin", 1, false, K_ISSUER_A);
	make_deny("deny-v2.bin", 2, true, K_ISSUER_A);
	make_deny("deny-v3-mallory.bin", 3, true, K_MALLORY);
}

/* --- presentations ---------------------------------------------------- */

typedef struct pres_spec {
	unsigned holder, issuer;
	const char *holder_id;
	uint64_t serial;
	uint32_t not_before, not_after;
	ofp_grant_t grant;
	uint32_t time, counter, amount;
	uint8_t challenge_len;
	bool bad_issuer_sig, bad_holder_sig;
} pres_spec_t;

/* Holder HOLDER01's everyday credential: serial 1, valid an hour ago to a
 * day from now, 500 a passage, 100000 offline in all. */
static pres_spec_t base_spec(uint32_t counter)
{
	pres_spec_t s = {
		.holder = K_HOLDER,
		.issuer = K_ISSUER_A,
		.holder_id = "HOLDER01",
		.serial = 1,
		.not_before = now - 3600,
		.not_after = now + DAY,
		.grant = { .resource_class = 1, .per_op_max = 500, .offline_total = 100000 },
		.time = now,
		.counter = counter,
		.amount = 250,
	};
	return s;
}

static void make_credential(const pres_spec_t *s, ofp_credential_t *c)
{
	ofp_fmt_error_t err;

	memset(c, 0, sizeof(*c));
	c->holder_alg = (uint8_t)keys[s->holder].alg;
	c->serial = s->serial;
	memcpy(c->holder_id, s->holder_id, OFP_ID_LEN);
	memcpy(c->holder_key, keys[s->holder].holder_pub, ofp_holder_key_len(c->holder_alg));
	c->not_before = s->not_before;
	c->not_after = s->not_after;
	c->grant = s->grant;
	need(ofp_tk_sign_credential(c, &keys[s->issuer], &err), &err);
	c->issuer_sig[7] ^= s->bad_issuer_sig ? 0x40 : 0x00;
}

static size_t encode_presentation(const pres_spec_t *s, uint8_t out[OFP_PRESENTATION_MAX])
{
	ofp_presentation_t p;
	ofp_fmt_error_t err;
	size_t len;

	memset(&p, 0, sizeof(p));
	make_credential(s, &p.cred);
	p.auth.time = s->time;
	p.auth.counter = s->counter;
	p.auth.amount = s->amount;
	p.auth.challenge_len = s->challenge_len;
	for (uint8_t i = 0; i < s->challenge_len; i++)
		p.auth.challenge[i] = (uint8_t)(0xc0 + i);
	need(ofp_tk_sign_authorization(&p, &keys[s->holder], &err), &err);
	p.auth.holder_sig[3] ^= s->bad_holder_sig ? 0x08 : 0x00;
	need(ofp_presentation_encode(&p, out, OFP_PRESENTATION_MAX, &len, &err), &err);
	return len;
}

static size_t write_presentation(const char *name, const pres_spec_t *s)
{
	uint8_t buf[OFP_PRESENTATION_MAX];
	size_t len = encode_presentation(s, buf);

	write_out(name, buf, len);
	return len;
}

static void write_qr_png(const char *name, const pres_spec_t *s, bool pgm)
{
	uint8_t buf[OFP_PRESENTATION_MAX], *img = NULL;
	size_t len = encode_presentation(s, buf), img_len = 0;
	gate_grey_t g;
	int version = 0;

	if (!tq_qr_grey(buf, len, 4, &g, &version) ||
	    !(pgm ? tq_pgm_encode(&g, &img, &img_len) : tq_png_encode(&g, &img, &img_len)))
		die("QR image", name);
	printf("%s: %zu-byte presentation, QR version %d (level M)\n", name, len, version);
	write_out(name, img, img_len);
	free(img);
	free(g.pixels);
}

static void write_hex(const char *name, const pres_spec_t *s)
{
	uint8_t buf[OFP_PRESENTATION_MAX];
	char hex[2 * OFP_PRESENTATION_MAX + 2];
	size_t len = encode_presentation(s, buf);

	hex_encode(buf, len, hex);
	strcat(hex, "\n");
	write_out(name, (const uint8_t *)hex, strlen(hex));
}

/* Inputs that are not presentations: cut, with a byte too many, too big
 * for a presentation, far too big. */
static void make_malformed(void)
{
	pres_spec_t s = base_spec(13);
	uint8_t buf[20000];
	size_t len = encode_presentation(&s, buf);

	write_out("truncated.bin", buf, len - 10);
	s.counter = 15;
	len = encode_presentation(&s, buf);
	buf[len] = 0x00;
	write_out("trailing.bin", buf, len + 1);
	memset(buf + len, 0x5a, sizeof(buf) - len);
	write_out("oversized.bin", buf, 300);
	write_out("huge.bin", buf, sizeof(buf));
	/* A bit flipped in the counter (type 2 ends counter, amount,
	 * signature): the holder's signature no longer matches. */
	s.counter = 14;
	len = encode_presentation(&s, buf);
	buf[len - OFP_SIG_LEN - 4 - 1] ^= 0x01;
	write_out("bitflip.bin", buf, len);
}

/* Wrong in their credential. */
static void make_bad_credentials(void)
{
	pres_spec_t s = base_spec(1);

	s.issuer = K_MALLORY, s.serial = 2;
	write_presentation("unknown-issuer.bin", &s);
	s = base_spec(1);
	s.serial = 3, s.not_before = now - 10 * DAY, s.not_after = now - DAY;
	write_presentation("expired.bin", &s);
	s = base_spec(1);
	s.serial = 4, s.not_before = now + DAY, s.not_after = now + 10 * DAY;
	write_presentation("not-yet-valid.bin", &s);
	s = base_spec(1);
	s.holder = K_HOLDER_2, s.holder_id = "DENIEDH1", s.serial = 5;
	write_presentation("denied-holder.bin", &s);
	s = base_spec(1);
	s.holder = K_HOLDER_2, s.holder_id = "HOLDER77", s.serial = 77;
	write_presentation("denied-serial.bin", &s);
	s = base_spec(1);
	s.holder = K_HOLDER_2, s.holder_id = "HOLDER06", s.serial = 6, s.grant.resource_class = 9;
	write_presentation("wrong-resource.bin", &s);
	s = base_spec(7);
	s.bad_issuer_sig = true;
	write_presentation("bad-issuer-sig.bin", &s);
}

static void make_presentations(void)
{
	pres_spec_t s = base_spec(1);
	size_t len = write_presentation("ok-1.bin", &s);

	printf("P-256 presentation: %zu bytes (at most %d for QR version 10-M)\n", len, OFP_PRESENTATION_QR_P256);
	s = base_spec(2), s.time = now - 30;
	write_presentation("ok-2.bin", &s);
	s = base_spec(3), s.time = now - 3600;
	write_presentation("stale.bin", &s);
	s = base_spec(4), s.time = now + 3600;
	write_presentation("future.bin", &s);
	s = base_spec(5), s.amount = 600;
	write_presentation("over-op.bin", &s);
	s = base_spec(6), s.bad_holder_sig = true;
	write_presentation("bad-holder-sig.bin", &s);
	s = base_spec(8), s.challenge_len = 16;
	write_presentation("challenge.bin", &s);
	s = base_spec(9);
	write_qr_png("qr.png", &s, false);
	s = base_spec(10);
	write_qr_png("qr.pgm", &s, true);
	s = base_spec(11);
	write_hex("ok.hex", &s);
	s = base_spec(12);
	write_presentation("stdin.bin", &s);
	s = base_spec(1);
	s.holder = K_HOLDER_ED, s.holder_id = "HOLDER02", s.serial = 8;
	len = write_presentation("ed25519.bin", &s);
	printf("Ed25519 presentation: %zu bytes\n", len);
	/* K_HOLDER_2 also signs total-*.bin with counters 1..3: replay state
	 * is per holder key, so its counters go on from there. */
	s = base_spec(100);
	s.issuer = K_ISSUER_B, s.holder = K_HOLDER_2, s.holder_id = "HOLDER03", s.serial = 9;
	write_presentation("issuer-b.bin", &s);
	for (uint32_t i = 1; i <= 3; i++) {
		char name[32];

		s = base_spec(i);
		s.holder = K_HOLDER_2, s.holder_id = "HOLDER04", s.serial = 10;
		s.grant = (ofp_grant_t){ .resource_class = 1, .per_op_max = 250, .offline_total = 500 };
		snprintf(name, sizeof(name), "total-%u.bin", i);
		write_presentation(name, &s);
	}
	make_bad_credentials();
	make_malformed();
}

static void make_bulk(unsigned n)
{
	for (unsigned i = 1; i <= n; i++) {
		pres_spec_t s = base_spec(i);
		char name[32];

		s.holder_id = "BULKHOLD", s.serial = 100, s.amount = 1;
		s.grant = (ofp_grant_t){ .resource_class = 1, .per_op_max = 1000, .offline_total = 1000000 };
		snprintf(name, sizeof(name), "bulk-%04u.bin", i);
		write_presentation(name, &s);
	}
}

/* --- unseal: the issuer's side, with the test sealing key -------------- */

static void print_records(const ofp_sealed_batch_t *env, const uint8_t *plain, size_t plain_len)
{
	ofp_batch_t b;
	ofp_batch_iter_t it;
	ofp_journal_record_t r;
	ofp_fmt_error_t err;
	unsigned operate = 0, refuse = 0;
	char holder[17];

	need(ofp_batch_decode(plain, plain_len, &b, &err), &err);
	ofp_batch_iter_init(&it, &b);
	while (ofp_batch_next(&it, &r, NULL, NULL)) {
		hex_encode(r.holder_id, OFP_ID_LEN, holder);
		printf("record %s %s holder=%s serial=%llu counter=%u amount=%u\n",
		       r.decision == OFP_DECISION_OPERATE ? "operate" : "refuse", ofp_reason_name(r.reason), holder,
		       (unsigned long long)r.serial, r.counter, r.amount);
		operate += r.decision == OFP_DECISION_OPERATE;
		refuse += r.decision != OFP_DECISION_OPERATE;
	}
	printf("batch sequence=%llu records=%u operate=%u refuse=%u\n", (unsigned long long)env->sequence,
	       env->record_count, operate, refuse);
}

static void unseal(const char *batch_path, const char *pub_path)
{
	unsigned char *batch = NULL, *pub = NULL;
	uint8_t *plain = NULL;
	size_t batch_len = 0, pub_len = 0, plain_len = 0;
	ofp_sealed_batch_t env;
	ofp_fmt_error_t err;
	EVP_PKEY *gate_key;

	if (file_read_all(batch_path, 64u << 20, &batch, &batch_len) != 0)
		die("cannot read", batch_path);
	if (file_read_all(pub_path, 65, &pub, &pub_len) != 0 || pub_len != 65)
		die("cannot read a 65-byte key from", pub_path);
	gate_key = ofp_sig_public_key(OFP_ALG_P256, pub, pub_len);
	if (gate_key == NULL)
		die("not a P-256 key", pub_path);
	if (ofp_unseal(batch, batch_len, gate_key, OFP_ALG_P256, keys[K_SEAL].pub, ofp_tk_ecdh, &keys[K_SEAL], &env, &plain,
		       &plain_len, &err) != 0)
		die("unseal", err.reason);
	print_records(&env, plain, plain_len);
	free(plain);
	EVP_PKEY_free(gate_key);
	free(pub);
	free(batch);
}

static uint32_t parse_u32(const char *s, const char *what)
{
	uint32_t v;

	if (ofp_parse_u32(s, UINT32_MAX, &v) != 0)
		die("bad number", what);
	return v;
}

int main(int argc, char **argv)
{
	load_keys();
	if (argc == 4 && strcmp(argv[1], "make") == 0) {
		out_dir = argv[2];
		now = parse_u32(argv[3], "NOW");
		make_lists();
		make_presentations();
	} else if (argc == 5 && strcmp(argv[1], "bulk") == 0) {
		out_dir = argv[2];
		now = parse_u32(argv[3], "NOW");
		make_bulk(parse_u32(argv[4], "N"));
	} else if (argc == 4 && strcmp(argv[1], "unseal") == 0) {
		unseal(argv[2], argv[3]);
	} else {
		fprintf(stderr, "usage: test-make-fixtures make OUTDIR NOW | bulk OUTDIR NOW N | unseal BATCH GATEPUB\n");
		return 2;
	}
	for (unsigned i = 0; i < K_COUNT; i++)
		ofp_tk_key_free(&keys[i]);
	return 0;
}
