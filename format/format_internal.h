/* format_internal.h - the bounded reader and writer under every codec of
 * format.h, and the field checks that encoders and decoders share. */
#ifndef OFFPASS_VERIFIER_FORMAT_INTERNAL_H
#define OFFPASS_VERIFIER_FORMAT_INTERNAL_H

#include "format/format.h"

/* A reader over [p, p+len). The first failure latches rc and err; every
 * later get is a no-op that zeroes its output, so a decoder reads field
 * after field and looks at rc once. ctx names the artifact in reasons. */
typedef struct fmt_reader {
	const uint8_t *p;
	size_t len;
	size_t off;
	const char *ctx;
	ofp_fmt_error_t *err;
	ofp_fmt_rc_t rc;
} fmt_reader_t;

/* A writer into [p, p+cap); p == NULL measures. Bytes past cap are
 * counted but not written, so off is always the full size. */
typedef struct fmt_writer {
	uint8_t *p;
	size_t cap;
	size_t off;
} fmt_writer_t;

ofp_fmt_rc_t fmt_fail(ofp_fmt_error_t *err, ofp_fmt_rc_t code, const char *ctx, const char *field, const char *what,
		      ...) __attribute__((format(printf, 5, 6)));

void fmt_reader_init(fmt_reader_t *r, const uint8_t *p, size_t len, const char *ctx, ofp_fmt_error_t *err);
/* Latch a failure (only the first one counts); false afterwards. */
bool fmt_reader_fail(fmt_reader_t *r, ofp_fmt_rc_t code, const char *field, const char *what, ...)
	__attribute__((format(printf, 4, 5)));
/* Latch the result of a check that has already written err. */
bool fmt_reader_check(fmt_reader_t *r, ofp_fmt_rc_t rc);
/* Run a field rule only while no failure is latched, so the first reason
 * stays in err. */
#define FMT_CHECK(r, expr)                         \
	do {                                       \
		if ((r)->rc == OFP_FMT_OK)         \
			(r)->rc = (expr);          \
	} while (0)
bool fmt_get_u8(fmt_reader_t *r, const char *field, uint8_t *v);
bool fmt_get_u16(fmt_reader_t *r, const char *field, uint16_t *v);
bool fmt_get_u32(fmt_reader_t *r, const char *field, uint32_t *v);
bool fmt_get_u64(fmt_reader_t *r, const char *field, uint64_t *v);
bool fmt_get_bytes(fmt_reader_t *r, const char *field, uint8_t *dst, size_t n);
/* n bytes left in place: *v points into the input. */
bool fmt_get_view(fmt_reader_t *r, const char *field, size_t n, const uint8_t **v);
/* The header byte: type must be one of want_a, want_b (0: none). */
bool fmt_get_header(fmt_reader_t *r, unsigned want_a, unsigned want_b, unsigned *type);
/* No byte may follow. */
bool fmt_end(fmt_reader_t *r);
static inline size_t fmt_left(const fmt_reader_t *r)
{
	return r->len - r->off;
}

void fmt_writer_init(fmt_writer_t *w, uint8_t *p, size_t cap);
void fmt_put_u8(fmt_writer_t *w, uint8_t v);
void fmt_put_u16(fmt_writer_t *w, uint16_t v);
void fmt_put_u32(fmt_writer_t *w, uint32_t v);
void fmt_put_u64(fmt_writer_t *w, uint64_t v);
void fmt_put_bytes(fmt_writer_t *w, const void *src, size_t n);
/* *len = the size; OFP_FMT_EBUFFER when it did not fit. */
ofp_fmt_rc_t fmt_writer_finish(const fmt_writer_t *w, size_t *len, const char *ctx, ofp_fmt_error_t *err) OFP_WUR;

/* Field rules shared by encoders and decoders; each writes err. */
ofp_fmt_rc_t fmt_check_holder_alg(const char *ctx, unsigned alg, ofp_fmt_error_t *err) OFP_WUR;
ofp_fmt_rc_t fmt_check_holder_key(const char *ctx, unsigned alg, const uint8_t *key, ofp_fmt_error_t *err) OFP_WUR;
ofp_fmt_rc_t fmt_check_window(const char *ctx, const char *field, uint32_t start, uint32_t end, bool allow_equal,
			      ofp_fmt_error_t *err) OFP_WUR;

/* Signed messages: the domain string, then the body as the writer makes
 * it (the encoder called with a sub-writer). */
void fmt_put_domain(fmt_writer_t *w, const char *domain);

/* Credential body (everything after its header byte), for credential and
 * presentation codecs. */
void fmt_credential_put_body(fmt_writer_t *w, const ofp_credential_t *c, bool with_sig);
void fmt_credential_get_body(fmt_reader_t *r, ofp_credential_t *c);
ofp_fmt_rc_t fmt_credential_check(const char *ctx, const ofp_credential_t *c, ofp_fmt_error_t *err) OFP_WUR;

/* Decoders under a context prefix (a presentation inside a journal
 * record, a record inside a batch): ctx names the artifact in reasons. */
ofp_fmt_rc_t fmt_presentation_decode(const uint8_t *in, size_t len, ofp_presentation_t *p, const char *ctx,
				     ofp_fmt_error_t *err) OFP_WUR;
ofp_fmt_rc_t fmt_journal_record_decode(const uint8_t *in, size_t len, ofp_journal_record_t *r, const char *ctx,
				       ofp_fmt_error_t *err) OFP_WUR;

uint8_t fmt_header(unsigned type);

#endif
