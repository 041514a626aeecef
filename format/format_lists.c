/* format_lists.c - the issuer-signed lists a verifier installs: the trust
 * list (issuer public keys) and the deny list (holders and credentials).
 *
 * Both are strictly ascending by their key, so that one list has one
 * encoding and a verifier can binary-search it; the deny list is searched
 * in place, in the bytes it was decoded from. */
#include "config.h"
#include "format/format_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static ofp_fmt_rc_t check_list_version(const char *ctx, uint64_t version, ofp_fmt_error_t *err)
{
	if (version == 0)
		return fmt_fail(err, OFP_FMT_EVALUE, ctx, "version", "0; lists are numbered from 1");
	return OFP_FMT_OK;
}

/* --- trust list ------------------------------------------------------- */

static ofp_fmt_rc_t check_trust_count(unsigned count, ofp_fmt_error_t *err)
{
	if (count == 0)
		return fmt_fail(err, OFP_FMT_EVALUE, "trust_list", "count", "no entry");
	if (count > OFP_TRUST_MAX_ENTRIES)
		return fmt_fail(err, OFP_FMT_ELIMIT, "trust_list", "count", "%u entries, at most %u", count,
				OFP_TRUST_MAX_ENTRIES);
	return OFP_FMT_OK;
}

static ofp_fmt_rc_t check_trust_alg(const char *ctx, unsigned alg, ofp_fmt_error_t *err)
{
	if (ofp_trust_key_len(alg) == 0)
		return fmt_fail(err, OFP_FMT_EVALUE, ctx, "alg", "unknown algorithm %u", alg);
	return OFP_FMT_OK;
}

/* One entry, after the one before it (prev NULL for the first). */
static ofp_fmt_rc_t check_trust_entry(const char *ctx, const ofp_trust_entry_t *e, const ofp_trust_entry_t *prev,
				      ofp_fmt_error_t *err)
{
	uint8_t kid[OFP_KEY_ID_LEN];
	ofp_fmt_rc_t rc;
	int order = prev == NULL ? -1 : memcmp(prev->kid, e->kid, OFP_KEY_ID_LEN);

	if (order >= 0)
		return fmt_fail(err, OFP_FMT_EORDER, ctx, "key_id", order == 0 ? "duplicate" : "not ascending");
	rc = check_trust_alg(ctx, e->alg, err);
	if (rc != OFP_FMT_OK)
		return rc;
	if (e->usage != OFP_USAGE_CREDENTIAL_SIGNING && e->usage != OFP_USAGE_SEALING)
		return fmt_fail(err, OFP_FMT_EVALUE, ctx, "usage", "unknown usage %u", e->usage);
	if (e->usage == OFP_USAGE_SEALING && e->alg != OFP_ALG_P256)
		return fmt_fail(err, OFP_FMT_EVALUE, ctx, "usage", "a sealing key must be P-256");
	rc = fmt_check_window(ctx, "not_after", e->not_before, e->not_after, false, err);
	if (rc != OFP_FMT_OK)
		return rc;
	if (e->alg == OFP_ALG_P256 && e->key[0] != 0x04)
		return fmt_fail(err, OFP_FMT_ENONCANONICAL, ctx, "key", "P-256 point prefix 0x%02x, not 0x04",
				e->key[0]);
	rc = ofp_key_id(e->alg, e->key, ofp_trust_key_len(e->alg), kid, err);
	if (rc != OFP_FMT_OK)
		return rc;
	if (memcmp(kid, e->kid, OFP_KEY_ID_LEN) != 0)
		return fmt_fail(err, OFP_FMT_EMISMATCH, ctx, "key_id", "not the id of the key");
	return OFP_FMT_OK;
}

static ofp_fmt_rc_t trust_check(const ofp_trust_list_t *t, ofp_fmt_error_t *err)
{
	char ctx[48];
	ofp_fmt_rc_t rc = check_list_version("trust_list", t->version, err);

	if (rc == OFP_FMT_OK)
		rc = check_trust_count(t->count, err);
	for (unsigned i = 0; rc == OFP_FMT_OK && i < t->count; i++) {
		snprintf(ctx, sizeof(ctx), "trust_list.entry[%u]", i);
		rc = check_trust_entry(ctx, &t->entries[i], i == 0 ? NULL : &t->entries[i - 1], err);
	}
	return rc;
}

static void trust_put(fmt_writer_t *w, const ofp_trust_list_t *t, bool with_sig)
{
	fmt_put_u8(w, fmt_header(OFP_TYPE_TRUST_LIST));
	fmt_put_u64(w, t->version);
	fmt_put_u32(w, t->issued_at);
	fmt_put_bytes(w, t->signer_kid, OFP_KEY_ID_LEN);
	fmt_put_u8(w, t->count);
	for (unsigned i = 0; i < t->count; i++) {
		const ofp_trust_entry_t *e = &t->entries[i];

		fmt_put_bytes(w, e->kid, OFP_KEY_ID_LEN);
		fmt_put_u8(w, e->alg);
		fmt_put_u8(w, e->usage);
		fmt_put_u32(w, e->not_before);
		fmt_put_u32(w, e->not_after);
		fmt_put_bytes(w, e->key, ofp_trust_key_len(e->alg));
	}
	if (with_sig)
		fmt_put_bytes(w, t->issuer_sig, OFP_SIG_LEN);
}

ofp_fmt_rc_t ofp_trust_list_encode(const ofp_trust_list_t *t, uint8_t *out, size_t cap, size_t *len,
				   ofp_fmt_error_t *err)
{
	fmt_writer_t w;
	ofp_fmt_rc_t rc;

	*len = 0;
	rc = trust_check(t, err);
	if (rc != OFP_FMT_OK)
		return rc;
	fmt_writer_init(&w, out, cap);
	trust_put(&w, t, true);
	return fmt_writer_finish(&w, len, "trust_list", err);
}

ofp_fmt_rc_t ofp_trust_list_tbs(const ofp_trust_list_t *t, uint8_t *out, size_t cap, size_t *len,
				ofp_fmt_error_t *err)
{
	fmt_writer_t w;
	ofp_fmt_rc_t rc;

	*len = 0;
	rc = trust_check(t, err);
	if (rc != OFP_FMT_OK)
		return rc;
	fmt_writer_init(&w, out, cap);
	fmt_put_domain(&w, OFP_DOMAIN_TRUST_LIST);
	trust_put(&w, t, false);
	return fmt_writer_finish(&w, len, "trust_list", err);
}

static void trust_get_entry(fmt_reader_t *r, unsigned i, ofp_trust_list_t *t)
{
	ofp_trust_entry_t *e = &t->entries[i];
	char ctx[48];

	snprintf(ctx, sizeof(ctx), "trust_list.entry[%u]", i);
	r->ctx = ctx;
	fmt_get_bytes(r, "key_id", e->kid, OFP_KEY_ID_LEN);
	fmt_get_u8(r, "alg", &e->alg);
	FMT_CHECK(r, check_trust_alg(ctx, e->alg, r->err));
	fmt_get_u8(r, "usage", &e->usage);
	fmt_get_u32(r, "not_before", &e->not_before);
	fmt_get_u32(r, "not_after", &e->not_after);
	fmt_get_bytes(r, "key", e->key, ofp_trust_key_len(e->alg));
	FMT_CHECK(r, check_trust_entry(ctx, e, i == 0 ? NULL : &t->entries[i - 1], r->err));
	r->ctx = "trust_list";
}

ofp_fmt_rc_t ofp_trust_list_decode(const uint8_t *in, size_t len, ofp_trust_list_t *t, ofp_fmt_error_t *err)
{
	fmt_reader_t r;
	unsigned type;

	memset(t, 0, sizeof(*t));
	fmt_reader_init(&r, in, len, "trust_list", err);
	fmt_get_header(&r, OFP_TYPE_TRUST_LIST, 0, &type);
	fmt_get_u64(&r, "version", &t->version);
	FMT_CHECK(&r, check_list_version(r.ctx, t->version, err));
	fmt_get_u32(&r, "issued_at", &t->issued_at);
	fmt_get_bytes(&r, "signer_key_id", t->signer_kid, OFP_KEY_ID_LEN);
	fmt_get_u8(&r, "count", &t->count);
	FMT_CHECK(&r, check_trust_count(t->count, err));
	for (unsigned i = 0; r.rc == OFP_FMT_OK && i < t->count; i++)
		trust_get_entry(&r, i, t);
	fmt_get_bytes(&r, "issuer_signature", t->issuer_sig, OFP_SIG_LEN);
	fmt_end(&r);
	if (r.rc != OFP_FMT_OK)
		memset(t, 0, sizeof(*t));
	return r.rc;
}

static int cmp_trust_entry(const void *a, const void *b)
{
	return memcmp(((const ofp_trust_entry_t *)a)->kid, ((const ofp_trust_entry_t *)b)->kid, OFP_KEY_ID_LEN);
}

void ofp_trust_list_sort(ofp_trust_list_t *t)
{
	size_t n = t->count < OFP_TRUST_MAX_ENTRIES ? t->count : OFP_TRUST_MAX_ENTRIES;

	qsort(t->entries, n, sizeof(t->entries[0]), cmp_trust_entry);
}

const ofp_trust_entry_t *ofp_trust_list_find(const ofp_trust_list_t *t, const uint8_t kid[OFP_KEY_ID_LEN])
{
	size_t lo = 0, hi = t->count < OFP_TRUST_MAX_ENTRIES ? t->count : OFP_TRUST_MAX_ENTRIES;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(t->entries[mid].kid, kid, OFP_KEY_ID_LEN);

		if (c == 0)
			return &t->entries[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* --- deny list -------------------------------------------------------- */

static ofp_fmt_rc_t check_deny_count(uint32_t count, ofp_fmt_error_t *err)
{
	if (count > OFP_DENY_MAX_ENTRIES)
		return fmt_fail(err, OFP_FMT_ELIMIT, "deny_list", "count", "%u entries, at most %u", count,
				OFP_DENY_MAX_ENTRIES);
	return OFP_FMT_OK;
}

/* Kinds and strict order of count packed entries. */
static ofp_fmt_rc_t check_deny_entries(const uint8_t *entries, uint32_t count, ofp_fmt_error_t *err)
{
	char field[32];

	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *e = entries + (size_t)i * OFP_DENY_ENTRY_LEN;
		int order = i == 0 ? -1 : memcmp(e - OFP_DENY_ENTRY_LEN, e, OFP_DENY_ENTRY_LEN);

		if (e[0] != OFP_DENY_HOLDER && e[0] != OFP_DENY_SERIAL) {
			snprintf(field, sizeof(field), "entry[%u].kind", i);
			return fmt_fail(err, OFP_FMT_EVALUE, "deny_list", field, "unknown kind %u", e[0]);
		}
		if (order >= 0) {
			snprintf(field, sizeof(field), "entry[%u]", i);
			return fmt_fail(err, OFP_FMT_EORDER, "deny_list", field,
					order == 0 ? "duplicate" : "not ascending");
		}
	}
	return OFP_FMT_OK;
}

static ofp_fmt_rc_t deny_check(const ofp_deny_list_t *d, ofp_fmt_error_t *err)
{
	ofp_fmt_rc_t rc = check_list_version("deny_list", d->version, err);

	if (rc == OFP_FMT_OK)
		rc = check_deny_count(d->count, err);
	if (rc == OFP_FMT_OK && d->count > 0 && d->entries == NULL)
		rc = fmt_fail(err, OFP_FMT_EVALUE, "deny_list", "entries", "missing");
	if (rc == OFP_FMT_OK)
		rc = check_deny_entries(d->entries, d->count, err);
	return rc;
}

static void deny_put(fmt_writer_t *w, const ofp_deny_list_t *d, bool with_sig)
{
	fmt_put_u8(w, fmt_header(OFP_TYPE_DENY_LIST));
	fmt_put_u64(w, d->version);
	fmt_put_u32(w, d->issued_at);
	fmt_put_bytes(w, d->signer_kid, OFP_KEY_ID_LEN);
	fmt_put_u32(w, d->count);
	fmt_put_bytes(w, d->entries, (size_t)d->count * OFP_DENY_ENTRY_LEN);
	if (with_sig)
		fmt_put_bytes(w, d->issuer_sig, OFP_SIG_LEN);
}

ofp_fmt_rc_t ofp_deny_list_encode(const ofp_deny_list_t *d, uint8_t *out, size_t cap, size_t *len,
				  ofp_fmt_error_t *err)
{
	fmt_writer_t w;
	ofp_fmt_rc_t rc;

	*len = 0;
	rc = deny_check(d, err);
	if (rc != OFP_FMT_OK)
		return rc;
	fmt_writer_init(&w, out, cap);
	deny_put(&w, d, true);
	return fmt_writer_finish(&w, len, "deny_list", err);
}

ofp_fmt_rc_t ofp_deny_list_tbs(const ofp_deny_list_t *d, uint8_t *out, size_t cap, size_t *len,
			       ofp_fmt_error_t *err)
{
	fmt_writer_t w;
	ofp_fmt_rc_t rc;

	*len = 0;
	rc = deny_check(d, err);
	if (rc != OFP_FMT_OK)
		return rc;
	fmt_writer_init(&w, out, cap);
	fmt_put_domain(&w, OFP_DOMAIN_DENY_LIST);
	deny_put(&w, d, false);
	return fmt_writer_finish(&w, len, "deny_list", err);
}

ofp_fmt_rc_t ofp_deny_list_decode(const uint8_t *in, size_t len, ofp_deny_list_t *d, ofp_fmt_error_t *err)
{
	size_t need;
	fmt_reader_t r;
	unsigned type;

	memset(d, 0, sizeof(*d));
	fmt_reader_init(&r, in, len, "deny_list", err);
	fmt_get_header(&r, OFP_TYPE_DENY_LIST, 0, &type);
	fmt_get_u64(&r, "version", &d->version);
	FMT_CHECK(&r, check_list_version(r.ctx, d->version, err));
	fmt_get_u32(&r, "issued_at", &d->issued_at);
	fmt_get_bytes(&r, "signer_key_id", d->signer_kid, OFP_KEY_ID_LEN);
	fmt_get_u32(&r, "count", &d->count);
	FMT_CHECK(&r, check_deny_count(d->count, err));
	/* The count is bounded now, so the size of the entries cannot wrap. */
	need = (size_t)d->count * OFP_DENY_ENTRY_LEN;
	if (r.rc == OFP_FMT_OK && fmt_left(&r) < need)
		fmt_reader_fail(&r, OFP_FMT_ETRUNCATED, "entries", "truncated in entry %zu of %u",
				fmt_left(&r) / OFP_DENY_ENTRY_LEN, d->count);
	fmt_get_view(&r, "entries", need, &d->entries);
	FMT_CHECK(&r, check_deny_entries(d->entries, d->count, err));
	fmt_get_bytes(&r, "issuer_signature", d->issuer_sig, OFP_SIG_LEN);
	fmt_end(&r);
	if (r.rc != OFP_FMT_OK)
		memset(d, 0, sizeof(*d));
	return r.rc;
}

void ofp_deny_entry_holder(uint8_t out[OFP_DENY_ENTRY_LEN], const uint8_t holder_id[OFP_ID_LEN])
{
	out[0] = OFP_DENY_HOLDER;
	memcpy(out + 1, holder_id, OFP_ID_LEN);
}

void ofp_deny_entry_serial(uint8_t out[OFP_DENY_ENTRY_LEN], uint64_t serial)
{
	out[0] = OFP_DENY_SERIAL;
	for (int i = 8; i >= 1; i--, serial >>= 8)
		out[i] = (uint8_t)serial;
}

static int cmp_deny_entry(const void *a, const void *b)
{
	return memcmp(a, b, OFP_DENY_ENTRY_LEN);
}

size_t ofp_deny_entries_normalize(uint8_t *entries, size_t count)
{
	size_t out = 0;

	if (count == 0)
		return 0;
	qsort(entries, count, OFP_DENY_ENTRY_LEN, cmp_deny_entry);
	for (size_t i = 1; i < count; i++) {
		uint8_t *e = entries + i * OFP_DENY_ENTRY_LEN;

		if (memcmp(entries + out * OFP_DENY_ENTRY_LEN, e, OFP_DENY_ENTRY_LEN) != 0) {
			out++;
			memmove(entries + out * OFP_DENY_ENTRY_LEN, e, OFP_DENY_ENTRY_LEN);
		}
	}
	return out + 1;
}

bool ofp_deny_list_contains(const ofp_deny_list_t *d, const uint8_t entry[OFP_DENY_ENTRY_LEN])
{
	size_t lo = 0, hi = d->entries == NULL ? 0 : d->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(d->entries + mid * OFP_DENY_ENTRY_LEN, entry, OFP_DENY_ENTRY_LEN);

		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}
