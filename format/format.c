/* format.c - credential, presentation (authorization) and enrollment
 * request: the holder-facing artifacts.
 *
 * A presentation is the credential with its header byte replaced by the
 * presentation's, then the authorization: that substitution and the two
 * presentation types (with and without challenge) are what fits a P-256
 * presentation in 213 bytes, QR version 10 at level M (docs/FORMAT.md). */
#include "config.h"
#include "format/format_internal.h"

#include <stdio.h>
#include <string.h>

/* --- credential ------------------------------------------------------- */

void fmt_credential_put_body(fmt_writer_t *w, const ofp_credential_t *c, bool with_sig)
{
	fmt_put_u8(w, c->holder_alg);
	fmt_put_bytes(w, c->issuer_kid, OFP_KEY_ID_LEN);
	fmt_put_u64(w, c->serial);
	fmt_put_bytes(w, c->holder_id, OFP_ID_LEN);
	fmt_put_bytes(w, c->holder_key, ofp_holder_key_len(c->holder_alg));
	fmt_put_u32(w, c->not_before);
	fmt_put_u32(w, c->not_after);
	fmt_put_u16(w, c->grant.resource_class);
	fmt_put_u32(w, c->grant.per_op_max);
	fmt_put_u32(w, c->grant.offline_total);
	if (with_sig)
		fmt_put_bytes(w, c->issuer_sig, OFP_SIG_LEN);
}

void fmt_credential_get_body(fmt_reader_t *r, ofp_credential_t *c)
{
	memset(c, 0, sizeof(*c));
	fmt_get_u8(r, "holder_alg", &c->holder_alg);
	FMT_CHECK(r, fmt_check_holder_alg(r->ctx, c->holder_alg, r->err));
	fmt_get_bytes(r, "issuer_key_id", c->issuer_kid, OFP_KEY_ID_LEN);
	fmt_get_u64(r, "serial", &c->serial);
	fmt_get_bytes(r, "holder_id", c->holder_id, OFP_ID_LEN);
	fmt_get_bytes(r, "holder_key", c->holder_key, ofp_holder_key_len(c->holder_alg));
	FMT_CHECK(r, fmt_check_holder_key(r->ctx, c->holder_alg, c->holder_key, r->err));
	fmt_get_u32(r, "not_before", &c->not_before);
	fmt_get_u32(r, "not_after", &c->not_after);
	FMT_CHECK(r, fmt_check_window(r->ctx, "not_after", c->not_before, c->not_after, false, r->err));
	fmt_get_u16(r, "resource_class", &c->grant.resource_class);
	fmt_get_u32(r, "per_op_max", &c->grant.per_op_max);
	fmt_get_u32(r, "offline_total", &c->grant.offline_total);
	fmt_get_bytes(r, "issuer_signature", c->issuer_sig, OFP_SIG_LEN);
}

ofp_fmt_rc_t fmt_credential_check(const char *ctx, const ofp_credential_t *c, ofp_fmt_error_t *err)
{
	ofp_fmt_rc_t rc = fmt_check_holder_alg(ctx, c->holder_alg, err);

	if (rc == OFP_FMT_OK)
		rc = fmt_check_holder_key(ctx, c->holder_alg, c->holder_key, err);
	if (rc == OFP_FMT_OK)
		rc = fmt_check_window(ctx, "not_after", c->not_before, c->not_after, false, err);
	return rc;
}

ofp_fmt_rc_t ofp_credential_encode(const ofp_credential_t *c, uint8_t *out, size_t cap, size_t *len,
				   ofp_fmt_error_t *err)
{
	fmt_writer_t w;
	ofp_fmt_rc_t rc;

	*len = 0;
	rc = fmt_credential_check("credential", c, err);
	if (rc != OFP_FMT_OK)
		return rc;
	fmt_writer_init(&w, out, cap);
	fmt_put_u8(&w, fmt_header(OFP_TYPE_CREDENTIAL));
	fmt_credential_put_body(&w, c, true);
	return fmt_writer_finish(&w, len, "credential", err);
}

ofp_fmt_rc_t ofp_credential_decode(const uint8_t *in, size_t len, ofp_credential_t *c, ofp_fmt_error_t *err)
{
	fmt_reader_t r;
	unsigned type;

	memset(c, 0, sizeof(*c));
	fmt_reader_init(&r, in, len, "credential", err);
	fmt_get_header(&r, OFP_TYPE_CREDENTIAL, 0, &type);
	fmt_credential_get_body(&r, c);
	fmt_end(&r);
	if (r.rc != OFP_FMT_OK)
		memset(c, 0, sizeof(*c));
	return r.rc;
}

ofp_fmt_rc_t ofp_credential_tbs(const ofp_credential_t *c, uint8_t *out, size_t cap, size_t *len,
				ofp_fmt_error_t *err)
{
	fmt_writer_t w;
	ofp_fmt_rc_t rc;

	*len = 0;
	rc = fmt_credential_check("credential", c, err);
	if (rc != OFP_FMT_OK)
		return rc;
	fmt_writer_init(&w, out, cap);
	fmt_put_domain(&w, OFP_DOMAIN_CREDENTIAL);
	fmt_put_u8(&w, fmt_header(OFP_TYPE_CREDENTIAL));
	fmt_credential_put_body(&w, c, false);
	return fmt_writer_finish(&w, len, "credential", err);
}

ofp_fmt_rc_t ofp_credential_digest(const ofp_credential_t *c, uint8_t out[OFP_HASH_LEN], ofp_fmt_error_t *err)
{
	uint8_t buf[OFP_CREDENTIAL_MAX];
	size_t len;
	ofp_fmt_rc_t rc;

	memset(out, 0, OFP_HASH_LEN);
	rc = ofp_credential_encode(c, buf, sizeof(buf), &len, err);
	if (rc != OFP_FMT_OK)
		return rc;
	if (!ofp_sha256(buf, len, out))
		return fmt_fail(err, OFP_FMT_EINTERNAL, "credential", NULL, "SHA-256 failed");
	return OFP_FMT_OK;
}

/* --- authorization and presentation ----------------------------------- */

static ofp_fmt_rc_t auth_check(const char *ctx, const ofp_authorization_t *a, ofp_fmt_error_t *err)
{
	if (a->challenge_len > OFP_CHALLENGE_MAX)
		return fmt_fail(err, OFP_FMT_ELIMIT, ctx, "challenge_length", "%u bytes, at most %u",
				a->challenge_len, OFP_CHALLENGE_MAX);
	return OFP_FMT_OK;
}

static ofp_fmt_rc_t presentation_check(const ofp_presentation_t *p, ofp_fmt_error_t *err)
{
	ofp_fmt_rc_t rc = fmt_credential_check("presentation.credential", &p->cred, err);

	if (rc == OFP_FMT_OK)
		rc = auth_check("presentation", &p->auth, err);
	return rc;
}

ofp_fmt_rc_t ofp_presentation_encode(const ofp_presentation_t *p, uint8_t *out, size_t cap, size_t *len,
				     ofp_fmt_error_t *err)
{
	const ofp_authorization_t *a = &p->auth;
	fmt_writer_t w;
	ofp_fmt_rc_t rc;

	*len = 0;
	rc = presentation_check(p, err);
	if (rc != OFP_FMT_OK)
		return rc;
	fmt_writer_init(&w, out, cap);
	fmt_put_u8(&w, fmt_header(a->challenge_len == 0 ? OFP_TYPE_PRESENTATION : OFP_TYPE_PRESENTATION_CHALLENGE));
	fmt_credential_put_body(&w, &p->cred, true);
	fmt_put_u32(&w, a->time);
	fmt_put_u32(&w, a->counter);
	fmt_put_u32(&w, a->amount);
	if (a->challenge_len != 0) {
		fmt_put_u8(&w, a->challenge_len);
		fmt_put_bytes(&w, a->challenge, a->challenge_len);
	}
	fmt_put_bytes(&w, a->holder_sig, OFP_SIG_LEN);
	return fmt_writer_finish(&w, len, "presentation", err);
}

static void get_challenge(fmt_reader_t *r, ofp_authorization_t *a)
{
	if (!fmt_get_u8(r, "challenge_length", &a->challenge_len))
		return;
	if (a->challenge_len == 0) {
		fmt_reader_fail(r, OFP_FMT_ENONCANONICAL, "challenge_length",
				"0 in a presentation with challenge (type 3); type 2 has none");
		return;
	}
	if (a->challenge_len > OFP_CHALLENGE_MAX) {
		fmt_reader_fail(r, OFP_FMT_ELIMIT, "challenge_length", "%u bytes, at most %u", a->challenge_len,
				OFP_CHALLENGE_MAX);
		return;
	}
	fmt_get_bytes(r, "challenge", a->challenge, a->challenge_len);
}

ofp_fmt_rc_t fmt_presentation_decode(const uint8_t *in, size_t len, ofp_presentation_t *p, const char *ctx,
				     ofp_fmt_error_t *err)
{
	ofp_authorization_t *a = &p->auth;
	char cred_ctx[80];
	fmt_reader_t r;
	unsigned type;

	memset(p, 0, sizeof(*p));
	snprintf(cred_ctx, sizeof(cred_ctx), "%s.credential", ctx);
	fmt_reader_init(&r, in, len, ctx, err);
	fmt_get_header(&r, OFP_TYPE_PRESENTATION, OFP_TYPE_PRESENTATION_CHALLENGE, &type);
	r.ctx = cred_ctx;
	fmt_credential_get_body(&r, &p->cred);
	r.ctx = ctx;
	fmt_get_u32(&r, "time", &a->time);
	fmt_get_u32(&r, "counter", &a->counter);
	fmt_get_u32(&r, "amount", &a->amount);
	if (type == OFP_TYPE_PRESENTATION_CHALLENGE)
		get_challenge(&r, a);
	fmt_get_bytes(&r, "holder_signature", a->holder_sig, OFP_SIG_LEN);
	fmt_end(&r);
	if (r.rc != OFP_FMT_OK)
		memset(p, 0, sizeof(*p));
	return r.rc;
}

ofp_fmt_rc_t ofp_presentation_decode(const uint8_t *in, size_t len, ofp_presentation_t *p, ofp_fmt_error_t *err)
{
	return fmt_presentation_decode(in, len, p, "presentation", err);
}

ofp_fmt_rc_t ofp_authorization_tbs(const ofp_credential_t *c, const ofp_authorization_t *a, uint8_t *out,
				   size_t cap, size_t *len, ofp_fmt_error_t *err)
{
	uint8_t digest[OFP_HASH_LEN];
	fmt_writer_t w;
	ofp_fmt_rc_t rc;

	*len = 0;
	rc = auth_check("authorization", a, err);
	if (rc == OFP_FMT_OK)
		rc = ofp_credential_digest(c, digest, err);
	if (rc != OFP_FMT_OK)
		return rc;
	fmt_writer_init(&w, out, cap);
	fmt_put_domain(&w, OFP_DOMAIN_AUTHORIZATION);
	fmt_put_bytes(&w, digest, sizeof(digest));
	fmt_put_u32(&w, a->time);
	fmt_put_u32(&w, a->counter);
	fmt_put_u32(&w, a->amount);
	/* Present in the message even when absent on the wire (type 2), so
	 * a signature for one challenge never verifies for another. */
	fmt_put_u8(&w, a->challenge_len);
	fmt_put_bytes(&w, a->challenge, a->challenge_len);
	return fmt_writer_finish(&w, len, "authorization", err);
}

/* --- enrollment request ----------------------------------------------- */

static ofp_fmt_rc_t enrollment_check(const ofp_enrollment_t *e, ofp_fmt_error_t *err)
{
	ofp_fmt_rc_t rc = fmt_check_holder_alg("enrollment", e->holder_alg, err);

	if (rc == OFP_FMT_OK)
		rc = fmt_check_holder_key("enrollment", e->holder_alg, e->holder_key, err);
	return rc;
}

static void enrollment_put(fmt_writer_t *w, const ofp_enrollment_t *e, bool with_sig)
{
	fmt_put_u8(w, fmt_header(OFP_TYPE_ENROLLMENT));
	fmt_put_u8(w, e->holder_alg);
	fmt_put_bytes(w, e->holder_id, OFP_ID_LEN);
	fmt_put_bytes(w, e->holder_key, ofp_holder_key_len(e->holder_alg));
	fmt_put_u32(w, e->time);
	if (with_sig) {
		fmt_put_bytes(w, e->holder_sig, OFP_SIG_LEN);
		fmt_put_bytes(w, e->code_mac, OFP_HASH_LEN);
	}
}

ofp_fmt_rc_t ofp_enrollment_encode(const ofp_enrollment_t *e, uint8_t *out, size_t cap, size_t *len,
				   ofp_fmt_error_t *err)
{
	fmt_writer_t w;
	ofp_fmt_rc_t rc;

	*len = 0;
	rc = enrollment_check(e, err);
	if (rc != OFP_FMT_OK)
		return rc;
	fmt_writer_init(&w, out, cap);
	enrollment_put(&w, e, true);
	return fmt_writer_finish(&w, len, "enrollment", err);
}

ofp_fmt_rc_t ofp_enrollment_decode(const uint8_t *in, size_t len, ofp_enrollment_t *e, ofp_fmt_error_t *err)
{
	fmt_reader_t r;
	unsigned type;

	memset(e, 0, sizeof(*e));
	fmt_reader_init(&r, in, len, "enrollment", err);
	fmt_get_header(&r, OFP_TYPE_ENROLLMENT, 0, &type);
	fmt_get_u8(&r, "holder_alg", &e->holder_alg);
	FMT_CHECK(&r, fmt_check_holder_alg(r.ctx, e->holder_alg, r.err));
	fmt_get_bytes(&r, "holder_id", e->holder_id, OFP_ID_LEN);
	fmt_get_bytes(&r, "holder_key", e->holder_key, ofp_holder_key_len(e->holder_alg));
	FMT_CHECK(&r, fmt_check_holder_key(r.ctx, e->holder_alg, e->holder_key, r.err));
	fmt_get_u32(&r, "time", &e->time);
	fmt_get_bytes(&r, "holder_signature", e->holder_sig, OFP_SIG_LEN);
	fmt_get_bytes(&r, "code_mac", e->code_mac, OFP_HASH_LEN);
	fmt_end(&r);
	if (r.rc != OFP_FMT_OK)
		memset(e, 0, sizeof(*e));
	return r.rc;
}

ofp_fmt_rc_t ofp_enrollment_tbs(const ofp_enrollment_t *e, uint8_t *out, size_t cap, size_t *len,
				ofp_fmt_error_t *err)
{
	fmt_writer_t w;
	ofp_fmt_rc_t rc;

	*len = 0;
	rc = enrollment_check(e, err);
	if (rc != OFP_FMT_OK)
		return rc;
	fmt_writer_init(&w, out, cap);
	fmt_put_domain(&w, OFP_DOMAIN_ENROLLMENT);
	enrollment_put(&w, e, false);
	return fmt_writer_finish(&w, len, "enrollment", err);
}
