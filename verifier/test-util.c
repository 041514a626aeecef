/* test-util.c - see test-util.h. */
#include "config.h"
#include "verifier/test-util.h"

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"

ofp_tk_key_t tu_keys[TK_N];

static const struct {
	const char *name;
	unsigned alg;
} key_spec[TK_N] = {
	[TK_ISSUER] = { "issuer-p256", OFP_ALG_P256 },
	[TK_ISSUER2] = { "issuer2-p256", OFP_ALG_P256 },
	[TK_ISSUER_ED25519] = { "issuer-ed25519", OFP_ALG_ED25519 },
	[TK_ROGUE] = { "rogue-p256", OFP_ALG_P256 },
	[TK_SEALING] = { "sealing-p256", OFP_ALG_P256 },
	[TK_HOLDER] = { "holder-p256", OFP_ALG_P256 },
	[TK_HOLDER2] = { "holder2-p256", OFP_ALG_P256 },
	[TK_HOLDER_ED25519] = { "holder-ed25519", OFP_ALG_ED25519 },
};

void tu_keys_init(void)
{
	static bool done;

	if (done)
		return;
	for (unsigned i = 0; i < TK_N; i++)
		ck_assert_msg(ofp_tk_key_derive(&tu_keys[i], key_spec[i].name, key_spec[i].alg), "key %s",
			      key_spec[i].name);
	done = true;
}

const ofp_tk_key_t *tu_extra_key(unsigned n)
{
	static ofp_tk_key_t *extra[TU_EXTRA_KEYS + 1];
	char name[32];

	ck_assert_msg(n >= 1 && n <= TU_EXTRA_KEYS, "extra key %u", n);
	if (extra[n] == NULL) {
		extra[n] = calloc(1, sizeof(*extra[n]));
		ck_assert_ptr_nonnull(extra[n]);
		snprintf(name, sizeof(name), "extra-holder-%u", n);
		ck_assert(ofp_tk_key_derive(extra[n], name, OFP_ALG_P256));
	}
	return extra[n];
}

static const ofp_tk_key_t *holder_key_of(const tu_cred_spec_t *s)
{
	return s->extra_key != 0 ? tu_extra_key(s->extra_key) : &tu_keys[s->holder];
}

void tu_trust_entry(ofp_trust_entry_t *e, unsigned k, unsigned usage, uint32_t not_before, uint32_t not_after)
{
	ofp_tk_trust_entry(e, &tu_keys[k], usage, not_before, not_after);
}

size_t tu_trust_list(uint8_t *out, uint64_t version, unsigned signer, const ofp_trust_entry_t *entries,
		     unsigned count)
{
	return tu_trust_list_at(out, version, signer, entries, count, T_NOW - 60);
}

size_t tu_trust_list_at(uint8_t *out, uint64_t version, unsigned signer, const ofp_trust_entry_t *entries,
			unsigned count, uint32_t issued_at)
{
	ofp_trust_list_t t;
	size_t n;
	ofp_fmt_error_t err;

	memset(&t, 0, sizeof(t));
	t.version = version;
	t.issued_at = issued_at;
	t.count = (uint8_t)count;
	memcpy(t.entries, entries, count * sizeof(*entries));
	ck_assert_msg(ofp_tk_sign_trust_list(&t, &tu_keys[signer], &err) == OFP_FMT_OK, "%s", err.reason);
	ck_assert_msg(ofp_trust_list_encode(&t, out, OFP_TRUST_LIST_MAX, &n, &err) == OFP_FMT_OK, "%s", err.reason);
	return n;
}

size_t tu_default_trust(uint8_t *out, uint64_t version)
{
	ofp_trust_entry_t e[3];

	tu_trust_entry(&e[0], TK_SEALING, OFP_USAGE_SEALING, T_LIST_FROM, T_LIST_UNTIL);
	tu_trust_entry(&e[1], TK_ISSUER, OFP_USAGE_CREDENTIAL_SIGNING, T_LIST_FROM, T_LIST_UNTIL);
	tu_trust_entry(&e[2], TK_ISSUER_ED25519, OFP_USAGE_CREDENTIAL_SIGNING, T_LIST_FROM, T_LIST_UNTIL);
	return tu_trust_list(out, version, TK_ISSUER, e, 3);
}

size_t tu_deny_list(uint8_t **out, uint64_t version, unsigned signer, const uint8_t *entries, uint32_t count)
{
	return tu_deny_list_at(out, version, signer, entries, count, T_NOW - 60);
}

size_t tu_deny_list_at(uint8_t **out, uint64_t version, unsigned signer, const uint8_t *entries, uint32_t count,
		       uint32_t issued_at)
{
	uint8_t *sorted = malloc((size_t)count * OFP_DENY_ENTRY_LEN + 1);
	size_t cap = 128 + (size_t)count * OFP_DENY_ENTRY_LEN, n;
	ofp_deny_list_t d;
	ofp_fmt_error_t err;

	ck_assert_ptr_nonnull(sorted);
	memcpy(sorted, entries, (size_t)count * OFP_DENY_ENTRY_LEN);
	memset(&d, 0, sizeof(d));
	d.version = version;
	d.issued_at = issued_at;
	d.count = (uint32_t)ofp_deny_entries_normalize(sorted, count);
	d.entries = sorted;
	*out = malloc(cap);
	ck_assert_ptr_nonnull(*out);
	ck_assert_msg(ofp_tk_sign_deny_list(&d, &tu_keys[signer], &err) == OFP_FMT_OK, "%s", err.reason);
	ck_assert_int_eq(ofp_deny_list_encode(&d, *out, cap, &n, &err), OFP_FMT_OK);
	free(sorted);
	return n;
}

void tu_cred_default(tu_cred_spec_t *s)
{
	memset(s, 0, sizeof(*s));
	s->issuer = TK_ISSUER;
	s->holder = TK_HOLDER;
	s->serial = 1001;
	memcpy(s->holder_id, "HOLDER01", OFP_ID_LEN);
	s->not_before = T_NOW - 3600;
	s->not_after = T_NOW + 86400;
	s->resource_class = 1;
	s->per_op_max = 250;
	s->offline_total = 1000;
}

void tu_auth_default(tu_auth_spec_t *a, uint32_t counter)
{
	memset(a, 0, sizeof(*a));
	a->time = T_NOW;
	a->counter = counter;
	a->amount = T_FARE;
	a->signer = -1;
}

/* One credential per spec: a holder shows the same credential (same
 * ECDSA signature, same digest) in every presentation until it is renewed. */
static struct {
	tu_cred_spec_t spec;
	ofp_credential_t cred;
} memo[64];
static unsigned memo_count, memo_next;

static void sign_credential(ofp_credential_t *c, const tu_cred_spec_t *s);

static void make_credential(ofp_credential_t *c, const tu_cred_spec_t *s)
{
	for (unsigned i = 0; i < memo_count; i++)
		if (memcmp(&memo[i].spec, s, sizeof(*s)) == 0) {
			*c = memo[i].cred;
			return;
		}
	sign_credential(c, s);
	memo[memo_next].spec = *s;
	memo[memo_next].cred = *c;
	memo_next = (memo_next + 1) % 64;
	if (memo_count < 64)
		memo_count++;
}

static void sign_credential(ofp_credential_t *c, const tu_cred_spec_t *s)
{
	const ofp_tk_key_t *h = holder_key_of(s);
	ofp_fmt_error_t err;

	memset(c, 0, sizeof(*c));
	c->holder_alg = (uint8_t)h->alg;
	c->serial = s->serial;
	memcpy(c->holder_id, s->holder_id, OFP_ID_LEN);
	memcpy(c->holder_key, h->holder_pub, ofp_holder_key_len(h->alg));
	c->not_before = s->not_before;
	c->not_after = s->not_after;
	c->grant.resource_class = s->resource_class;
	c->grant.per_op_max = s->per_op_max;
	c->grant.offline_total = s->offline_total;
	ck_assert_msg(ofp_tk_sign_credential(c, &tu_keys[s->issuer], &err) == OFP_FMT_OK, "%s", err.reason);
	if (s->bad_issuer_sig)
		c->issuer_sig[5] ^= 0x10;
}

size_t tu_presentation(uint8_t *out, const tu_cred_spec_t *c, const tu_auth_spec_t *a)
{
	const ofp_tk_key_t *signer = a->signer < 0 ? holder_key_of(c) : &tu_keys[a->signer];
	ofp_presentation_t p;
	size_t n;
	ofp_fmt_error_t err;

	tu_keys_init();
	make_credential(&p.cred, c);
	memset(&p.auth, 0, sizeof(p.auth));
	p.auth.time = a->time;
	p.auth.counter = a->counter;
	p.auth.amount = a->amount;
	p.auth.challenge_len = a->challenge_len;
	if (a->challenge_len > 0)
		memcpy(p.auth.challenge, a->challenge, a->challenge_len);
	ck_assert_msg(ofp_tk_sign_authorization(&p, signer, &err) == OFP_FMT_OK, "%s", err.reason);
	if (a->bad_holder_sig)
		p.auth.holder_sig[40] ^= 0x01;
	ck_assert_msg(ofp_presentation_encode(&p, out, OFP_PRESENTATION_MAX, &n, &err) == OFP_FMT_OK, "%s",
		      err.reason);
	return n;
}

size_t tu_simple(uint8_t *out, uint32_t counter)
{
	tu_cred_spec_t c;
	tu_auth_spec_t a;

	tu_cred_default(&c);
	tu_auth_default(&a, counter);
	return tu_presentation(out, &c, &a);
}

void tu_tmpdir(char *out, size_t cap)
{
	ck_assert_int_lt(snprintf(out, cap, "/tmp/offpass-verifier-test.XXXXXX"), (int)cap);
	ck_assert_ptr_nonnull(mkdtemp(out));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void tu_rmdir(const char *dir)
{
	(void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void tu_config(offpass_verifier_config_t *cfg, const char *dir)
{
	offpass_verifier_config_init(cfg);
	cfg->fare_mode = OFFPASS_FARE_TILL;
	cfg->state_dir = dir;
	memcpy(cfg->verifier_id, "GATE0001", OFP_ID_LEN);
}

offpass_verifier_t *tu_open(const offpass_verifier_config_t *cfg)
{
	offpass_verifier_t *v = NULL;
	char err[256];
	offpass_status_t st = offpass_verifier_open(cfg, &v, err, sizeof(err));

	ck_assert_msg(st == OFFPASS_STATUS_OK, "open: %d %s", st, err);
	ck_assert_ptr_nonnull(v);
	return v;
}

offpass_verifier_t *tu_open_trusted(const offpass_verifier_config_t *cfg)
{
	offpass_verifier_t *v = tu_open(cfg);
	uint8_t list[OFP_TRUST_LIST_MAX];
	size_t n = tu_default_trust(list, 1);

	ck_assert_msg(offpass_verifier_install_trust_list(v, list, n, T_NOW) == OFFPASS_STATUS_OK, "%s",
		      offpass_verifier_error(v));
	return v;
}

offpass_reason_t tu_check(offpass_verifier_t *v, const uint8_t *p, size_t len, uint32_t fare,
			  const uint8_t *challenge, size_t challenge_len, uint32_t now, offpass_result_t *res)
{
	offpass_result_t local;
	offpass_result_t *r = res != NULL ? res : &local;
	ofp_presentation_t pres;
	offpass_status_t st;

	if (fare == 0)
		fare = ofp_presentation_decode(p, len, &pres, NULL) == OFP_FMT_OK && pres.auth.amount != 0
			       ? pres.auth.amount
			       : 1;
	st = offpass_verifier_check(v, p, len, fare, challenge, challenge_len, now, r);

	ck_assert_msg(st == OFFPASS_STATUS_OK, "check: status %d: %s", st, offpass_verifier_error(v));
	ck_assert((r->decision == OFFPASS_OPERATE) == (r->reason == OFFPASS_REASON_OK));
	ck_assert_str_eq(r->reason_text, offpass_reason_text(r->reason));
	return r->reason;
}

int tu_ecdh(void *ctx, const uint8_t eph_pub[OFP_P256_UNCOMPRESSED_LEN], uint8_t shared[32])
{
	return ofp_tk_ecdh(ctx != NULL ? ctx : &tu_keys[TK_SEALING], eph_pub, shared);
}

bool tu_read(const char *path, uint8_t **out, size_t *len)
{
	return file_read_all(path, 64u << 20, out, len) == 0;
}

bool tu_write(const char *path, const uint8_t *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	bool ok;

	if (f == NULL)
		return false;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok;
}
