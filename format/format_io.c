/* format_io.c - bounded big-endian reader and writer, errors, header byte,
 * key ids: the ground every codec of the wire format stands on.
 *
 * All reads go through fmt_get_*: they check the remaining length before
 * touching a byte, so no codec indexes the input itself. */
#include "config.h"
#include "format/format_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

ofp_fmt_rc_t fmt_fail(ofp_fmt_error_t *err, ofp_fmt_rc_t code, const char *ctx, const char *field, const char *what,
		      ...)
{
	char msg[96];
	va_list ap;

	if (err == NULL)
		return code;
	va_start(ap, what);
	vsnprintf(msg, sizeof(msg), what, ap);
	va_end(ap);
	err->code = code;
	if (field != NULL)
		snprintf(err->reason, sizeof(err->reason), "%s.%s: %s", ctx, field, msg);
	else
		snprintf(err->reason, sizeof(err->reason), "%s: %s", ctx, msg);
	return code;
}

static const char *const rc_names[] = {
	[OFP_FMT_OK] = "ok",
	[OFP_FMT_ETRUNCATED] = "truncated",
	[OFP_FMT_ETRAILING] = "trailing",
	[OFP_FMT_ETYPE] = "type",
	[OFP_FMT_EVERSION] = "version",
	[OFP_FMT_EVALUE] = "value",
	[OFP_FMT_ENONCANONICAL] = "noncanonical",
	[OFP_FMT_EORDER] = "order",
	[OFP_FMT_ELIMIT] = "limit",
	[OFP_FMT_EMISMATCH] = "mismatch",
	[OFP_FMT_EBUFFER] = "buffer",
	[OFP_FMT_EINTERNAL] = "internal",
};

const char *ofp_fmt_rc_name(ofp_fmt_rc_t rc)
{
	if ((unsigned)rc < OFP_ARRAY_LEN(rc_names))
		return rc_names[rc];
	return "unknown";
}

static const char *const type_names[] = {
	[OFP_TYPE_CREDENTIAL] = "credential",
	[OFP_TYPE_PRESENTATION] = "presentation",
	[OFP_TYPE_PRESENTATION_CHALLENGE] = "presentation with challenge",
	[OFP_TYPE_ENROLLMENT] = "enrollment",
	[OFP_TYPE_JOURNAL_RECORD] = "journal record",
	[OFP_TYPE_BATCH] = "batch",
	[OFP_TYPE_SEALED_BATCH] = "sealed batch",
	[OFP_TYPE_TRUST_LIST] = "trust list",
	[OFP_TYPE_DENY_LIST] = "deny list",
};

const char *ofp_type_name(unsigned type)
{
	if (type < OFP_ARRAY_LEN(type_names) && type_names[type] != NULL)
		return type_names[type];
	return "unknown";
}

/* The one version of each type a decoder accepts. */
static unsigned type_version(unsigned type)
{
	return type == OFP_TYPE_ENROLLMENT ? OFP_ENROLLMENT_VERSION : OFP_FORMAT_VERSION;
}

uint8_t fmt_header(unsigned type)
{
	return (uint8_t)(type << 4 | type_version(type));
}

/* The header rule, one place for ofp_peek_type and every decoder. */
static ofp_fmt_rc_t check_header(uint8_t h, unsigned want_a, unsigned want_b, const char *ctx, ofp_fmt_error_t *err)
{
	unsigned type = h >> 4, version = h & 0x0f;

	if (type < OFP_TYPE_CREDENTIAL || type > OFP_TYPE_DENY_LIST)
		return fmt_fail(err, OFP_FMT_ETYPE, ctx, "header", "unknown type %u", type);
	if (want_a != 0 && type != want_a && type != want_b)
		return fmt_fail(err, OFP_FMT_ETYPE, ctx, "header", "type %u (%s) where %s expected", type,
				ofp_type_name(type), ofp_type_name(want_a));
	if (type == OFP_TYPE_ENROLLMENT && version == 1)
		return fmt_fail(err, OFP_FMT_EVERSION, ctx, "header",
				"version 1 has no enrollment code; version 2 is required (a new holder)");
	if (version != type_version(type))
		return fmt_fail(err, OFP_FMT_EVERSION, ctx, "header", "unsupported version %u", version);
	return OFP_FMT_OK;
}

ofp_fmt_rc_t ofp_peek_type(const uint8_t *in, size_t len, unsigned *type, ofp_fmt_error_t *err)
{
	ofp_fmt_rc_t rc;

	*type = 0;
	if (len == 0)
		return fmt_fail(err, OFP_FMT_ETRUNCATED, "artifact", "header", "truncated");
	rc = check_header(in[0], 0, 0, "artifact", err);
	if (rc == OFP_FMT_OK)
		*type = in[0] >> 4;
	return rc;
}

/* --- reader ----------------------------------------------------------- */

void fmt_reader_init(fmt_reader_t *r, const uint8_t *p, size_t len, const char *ctx, ofp_fmt_error_t *err)
{
	r->p = p;
	r->len = p == NULL ? 0 : len;
	r->off = 0;
	r->ctx = ctx;
	r->err = err;
	r->rc = OFP_FMT_OK;
}

bool fmt_reader_fail(fmt_reader_t *r, ofp_fmt_rc_t code, const char *field, const char *what, ...)
{
	char msg[96];
	va_list ap;

	if (r->rc != OFP_FMT_OK)
		return false;
	va_start(ap, what);
	vsnprintf(msg, sizeof(msg), what, ap);
	va_end(ap);
	r->rc = fmt_fail(r->err, code, r->ctx, field, "%s", msg);
	return false;
}

bool fmt_reader_check(fmt_reader_t *r, ofp_fmt_rc_t rc)
{
	if (r->rc == OFP_FMT_OK)
		r->rc = rc;
	return r->rc == OFP_FMT_OK;
}

/* The n bytes at the cursor, or NULL (and a latched truncation). */
static const uint8_t *take(fmt_reader_t *r, const char *field, size_t n)
{
	const uint8_t *at;

	if (r->rc != OFP_FMT_OK)
		return NULL;
	if (n > fmt_left(r)) {
		fmt_reader_fail(r, OFP_FMT_ETRUNCATED, field, "truncated");
		return NULL;
	}
	at = r->p + r->off;
	r->off += n;
	return at;
}

bool fmt_get_u8(fmt_reader_t *r, const char *field, uint8_t *v)
{
	const uint8_t *b = take(r, field, 1);

	*v = b == NULL ? 0 : b[0];
	return b != NULL;
}

bool fmt_get_u16(fmt_reader_t *r, const char *field, uint16_t *v)
{
	const uint8_t *b = take(r, field, 2);

	*v = b == NULL ? 0 : (uint16_t)(b[0] << 8 | b[1]);
	return b != NULL;
}

bool fmt_get_u32(fmt_reader_t *r, const char *field, uint32_t *v)
{
	const uint8_t *b = take(r, field, 4);

	*v = b == NULL ? 0 : (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	return b != NULL;
}

bool fmt_get_u64(fmt_reader_t *r, const char *field, uint64_t *v)
{
	const uint8_t *b = take(r, field, 8);

	*v = 0;
	if (b == NULL)
		return false;
	for (int i = 0; i < 8; i++)
		*v = *v << 8 | b[i];
	return true;
}

bool fmt_get_bytes(fmt_reader_t *r, const char *field, uint8_t *dst, size_t n)
{
	const uint8_t *b = take(r, field, n);

	if (b == NULL) {
		memset(dst, 0, n);
		return false;
	}
	memcpy(dst, b, n);
	return true;
}

bool fmt_get_view(fmt_reader_t *r, const char *field, size_t n, const uint8_t **v)
{
	*v = take(r, field, n);
	return *v != NULL;
}

bool fmt_get_header(fmt_reader_t *r, unsigned want_a, unsigned want_b, unsigned *type)
{
	uint8_t h;

	*type = 0;
	if (!fmt_get_u8(r, "header", &h))
		return false;
	if (!fmt_reader_check(r, check_header(h, want_a, want_b, r->ctx, r->err)))
		return false;
	*type = h >> 4;
	return true;
}

bool fmt_end(fmt_reader_t *r)
{
	if (r->rc != OFP_FMT_OK)
		return false;
	if (fmt_left(r) != 0)
		return fmt_reader_fail(r, OFP_FMT_ETRAILING, NULL, "%zu trailing bytes", fmt_left(r));
	return true;
}

/* --- writer ----------------------------------------------------------- */

void fmt_writer_init(fmt_writer_t *w, uint8_t *p, size_t cap)
{
	w->p = p;
	w->cap = p == NULL ? 0 : cap;
	w->off = 0;
}

void fmt_put_bytes(fmt_writer_t *w, const void *src, size_t n)
{
	if (w->p != NULL && n <= w->cap && w->off <= w->cap - n && n > 0)
		memcpy(w->p + w->off, src, n);
	w->off += n;
}

void fmt_put_u8(fmt_writer_t *w, uint8_t v)
{
	fmt_put_bytes(w, &v, 1);
}

void fmt_put_u16(fmt_writer_t *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	fmt_put_bytes(w, b, sizeof(b));
}

void fmt_put_u32(fmt_writer_t *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	fmt_put_bytes(w, b, sizeof(b));
}

void fmt_put_u64(fmt_writer_t *w, uint64_t v)
{
	uint8_t b[8];

	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
	fmt_put_bytes(w, b, sizeof(b));
}

void fmt_put_domain(fmt_writer_t *w, const char *domain)
{
	fmt_put_bytes(w, domain, strlen(domain));
}

ofp_fmt_rc_t fmt_writer_finish(const fmt_writer_t *w, size_t *len, const char *ctx, ofp_fmt_error_t *err)
{
	*len = w->off;
	if (w->p != NULL && w->off > w->cap)
		return fmt_fail(err, OFP_FMT_EBUFFER, ctx, NULL, "needs %zu bytes, buffer has %zu", w->off, w->cap);
	return OFP_FMT_OK;
}

/* --- shared field rules ----------------------------------------------- */

ofp_fmt_rc_t fmt_check_holder_alg(const char *ctx, unsigned alg, ofp_fmt_error_t *err)
{
	if (alg != OFP_ALG_P256 && alg != OFP_ALG_ED25519)
		return fmt_fail(err, OFP_FMT_EVALUE, ctx, "holder_alg", "unknown algorithm %u", alg);
	return OFP_FMT_OK;
}

ofp_fmt_rc_t fmt_check_holder_key(const char *ctx, unsigned alg, const uint8_t *key, ofp_fmt_error_t *err)
{
	/* Only the SEC1 compressed form has one encoding per point. */
	if (alg == OFP_ALG_P256 && key[0] != 0x02 && key[0] != 0x03)
		return fmt_fail(err, OFP_FMT_ENONCANONICAL, ctx, "holder_key",
				"P-256 point prefix 0x%02x, not 0x02 or 0x03", key[0]);
	return OFP_FMT_OK;
}

ofp_fmt_rc_t fmt_check_window(const char *ctx, const char *field, uint32_t start, uint32_t end, bool allow_equal,
			      ofp_fmt_error_t *err)
{
	if (end < start || (end == start && !allow_equal))
		return fmt_fail(err, OFP_FMT_EVALUE, ctx, field, "%u is not after %u", end, start);
	return OFP_FMT_OK;
}

/* --- keys ------------------------------------------------------------- */

/* SubjectPublicKeyInfo DER up to the key bytes: SEQUENCE { SEQUENCE {
 * id-ecPublicKey, prime256v1 }, BIT STRING (65 bytes) } and SEQUENCE {
 * SEQUENCE { id-Ed25519 }, BIT STRING (32 bytes) } (RFC 5480, RFC 8410). */
static const uint8_t spki_p256[] = { 0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
				     0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00 };
static const uint8_t spki_ed25519[] = { 0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00 };

size_t ofp_holder_key_len(unsigned alg)
{
	return alg == OFP_ALG_P256 ? OFP_P256_COMPRESSED_LEN : alg == OFP_ALG_ED25519 ? OFP_ED25519_KEY_LEN : 0;
}

size_t ofp_trust_key_len(unsigned alg)
{
	return alg == OFP_ALG_P256 ? OFP_P256_UNCOMPRESSED_LEN : alg == OFP_ALG_ED25519 ? OFP_ED25519_KEY_LEN : 0;
}

ofp_fmt_rc_t ofp_spki(unsigned alg, const uint8_t *pub, size_t pub_len, uint8_t *out, size_t *out_len,
		      ofp_fmt_error_t *err)
{
	const uint8_t *prefix = alg == OFP_ALG_P256 ? spki_p256 : spki_ed25519;
	size_t prefix_len = alg == OFP_ALG_P256 ? sizeof(spki_p256) : sizeof(spki_ed25519);

	*out_len = 0;
	if (ofp_trust_key_len(alg) == 0)
		return fmt_fail(err, OFP_FMT_EVALUE, "key", "alg", "unknown algorithm %u", alg);
	if (pub_len != ofp_trust_key_len(alg))
		return fmt_fail(err, OFP_FMT_EVALUE, "key", NULL, "%zu bytes where %zu expected", pub_len,
				ofp_trust_key_len(alg));
	if (alg == OFP_ALG_P256 && pub[0] != 0x04)
		return fmt_fail(err, OFP_FMT_ENONCANONICAL, "key", NULL, "P-256 point prefix 0x%02x, not 0x04",
				pub[0]);
	memcpy(out, prefix, prefix_len);
	memcpy(out + prefix_len, pub, pub_len);
	*out_len = prefix_len + pub_len;
	return OFP_FMT_OK;
}

ofp_fmt_rc_t ofp_key_id(unsigned alg, const uint8_t *pub, size_t pub_len, uint8_t kid[OFP_KEY_ID_LEN],
			ofp_fmt_error_t *err)
{
	uint8_t spki[sizeof(spki_p256) + OFP_P256_UNCOMPRESSED_LEN], md[OFP_HASH_LEN];
	size_t spki_len;
	ofp_fmt_rc_t rc;

	memset(kid, 0, OFP_KEY_ID_LEN);
	rc = ofp_spki(alg, pub, pub_len, spki, &spki_len, err);
	if (rc != OFP_FMT_OK)
		return rc;
	if (!ofp_sha256(spki, spki_len, md))
		return fmt_fail(err, OFP_FMT_EINTERNAL, "key", NULL, "SHA-256 failed");
	memcpy(kid, md, OFP_KEY_ID_LEN);
	return OFP_FMT_OK;
}

ofp_fmt_rc_t ofp_p256_compress(const uint8_t in[OFP_P256_UNCOMPRESSED_LEN], uint8_t out[OFP_P256_COMPRESSED_LEN],
			       ofp_fmt_error_t *err)
{
	if (in[0] != 0x04)
		return fmt_fail(err, OFP_FMT_ENONCANONICAL, "key", NULL, "P-256 point prefix 0x%02x, not 0x04", in[0]);
	out[0] = (uint8_t)(0x02 | (in[64] & 1));
	memcpy(out + 1, in + 1, 32);
	return OFP_FMT_OK;
}

bool ofp_sha256(const void *data, size_t len, uint8_t out[OFP_HASH_LEN])
{
	unsigned int md_len = 0;

	return EVP_Digest(data, len, out, &md_len, EVP_sha256(), NULL) == 1 && md_len == OFP_HASH_LEN;
}
