/* issue.c - from an enrollment request to a signed credential (claims 5,
 * 6, 21-23): the request proves possession of the holder key; the issuer
 * checks the holder's rights (balance + credit line >= threshold) and
 * signs the grant of its configuration. */
#include "config.h"
#include "issuer/internal.h"
#include "format/sig.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Strict decoding and the proof of possession: no token, no ledger. */
static ofp_issuer_rc_t check_request(ofp_issuer_t *iss, const uint8_t *req, size_t len, ofp_enrollment_t *e)
{
	uint8_t tbs[OFP_TBS_MAX];
	size_t tbs_len;
	ofp_fmt_error_t ferr;
	EVP_PKEY *key;
	bool ok;

	if (ofp_enrollment_decode(req, len, e, &ferr) != OFP_FMT_OK)
		return iss_fail(iss, OFP_ISSUER_REFUSED, "enrollment request: %s", ferr.reason);
	key = ofp_sig_public_key(e->holder_alg, e->holder_key, ofp_holder_key_len(e->holder_alg));
	if (key == NULL)
		return iss_fail(iss, OFP_ISSUER_REFUSED, "enrollment request: holder_key is not a valid public key");
	ok = ofp_enrollment_tbs(e, tbs, sizeof(tbs), &tbs_len, &ferr) == OFP_FMT_OK &&
	     ofp_sig_verify(key, e->holder_alg, tbs, tbs_len, e->holder_sig);
	EVP_PKEY_free(key);
	if (!ok)
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"enrollment request: proof of possession fails (holder_signature does not verify with "
				"holder_key)");
	if (iss->cfg.enrollment_max_age != 0 && e->time < iss->now && iss->now - e->time > iss->cfg.enrollment_max_age)
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"enrollment request: made at %" PRIu32 ", more than %" PRIu32 " s ago (enrollment_max_age)",
				e->time, iss->cfg.enrollment_max_age);
	if (e->time > iss->now && e->time - iss->now > iss->cfg.enrollment_future_skew)
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"enrollment request: dated %" PRIu32 ", %" PRIu32 " s ahead of the issuer's clock", e->time,
				e->time - iss->now);
	return OFP_ISSUER_OK;
}

/* The holder's rights now (claim 22): called before the token is opened
 * (a clear refusal without a PIN prompt) and again inside the transaction
 * that issues. */
static ofp_issuer_rc_t check_rights(ofp_issuer_t *iss, const ofp_enrollment_t *e, ofp_account_t *a)
{
	char hex[2 * OFP_ID_LEN + 1];
	uint8_t entry[OFP_DENY_ENTRY_LEN];
	uint64_t serial = 0;
	int lrc;

	iss_hex(hex, e->holder_id, OFP_ID_LEN);
	lrc = ofp_ledger_account_by_holder(iss->ledger, e->holder_id, a);
	if (lrc == OFP_LEDGER_NOT_FOUND)
		return iss_fail(iss, OFP_ISSUER_REFUSED, "enrollment request: no account has holder id %s", hex);
	if (lrc != OFP_LEDGER_OK)
		return iss_ledger_fail(iss, lrc);
	ofp_deny_entry_holder(entry, e->holder_id);
	lrc = ofp_ledger_denied(iss->ledger, entry);
	if (lrc == OFP_LEDGER_OK)
		return iss_fail(iss, OFP_ISSUER_REFUSED, "account '%s' (holder %s) is on the deny list", a->name, hex);
	if (lrc != OFP_LEDGER_NOT_FOUND)
		return iss_ledger_fail(iss, lrc);
	lrc = ofp_ledger_key_revoked(iss->ledger, e->holder_key, ofp_holder_key_len(e->holder_alg), &serial);
	if (lrc == OFP_LEDGER_OK)
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"account '%s': this holder key is revoked (credential %" PRIu64
				" was denied): enroll a new key",
				a->name, serial);
	if (lrc != OFP_LEDGER_NOT_FOUND)
		return iss_ledger_fail(iss, lrc);
	/* Both are within +-10^15 (ledger CHECKs): the sum cannot overflow. */
	if (a->balance + a->credit_line < iss->cfg.threshold)
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"account '%s': balance %" PRId64 " + credit line %" PRId64 " = %" PRId64
				" is below the threshold %" PRId64,
				a->name, a->balance, a->credit_line, a->balance + a->credit_line, iss->cfg.threshold);
	return OFP_ISSUER_OK;
}

/* The unsigned credential: grant and lifetime from the configuration, no
 * longer than the signing key is trusted. */
static void fill_credential(ofp_issuer_t *iss, const ofp_enrollment_t *e, const ofp_ledger_key_t *signer,
			    ofp_credential_t *c)
{
	uint32_t not_after = iss_time_add(iss->now, iss->cfg.credential_lifetime);

	memset(c, 0, sizeof(*c));
	c->holder_alg = e->holder_alg;
	memcpy(c->issuer_kid, signer->kid, OFP_KEY_ID_LEN);
	memcpy(c->holder_id, e->holder_id, OFP_ID_LEN);
	memcpy(c->holder_key, e->holder_key, ofp_holder_key_len(e->holder_alg));
	c->not_before = iss->now;
	c->not_after = not_after < signer->not_after ? not_after : signer->not_after;
	c->grant = iss->cfg.grant;
}

/* In the transaction: serial, signature, the ledger's copy, history. */
static ofp_issuer_rc_t sign_credential(ofp_issuer_t *iss, const ofp_ledger_key_t *signer, ofp_account_t *a,
				       ofp_credential_t *c, uint8_t *out, size_t *out_len)
{
	uint8_t tbs[OFP_TBS_MAX];
	size_t tbs_len;
	char ref[64];
	ofp_fmt_error_t ferr;
	ofp_issuer_rc_t rc;

	rc = iss_ledger_fail(iss, ofp_ledger_credential_new(iss->ledger, c, iss->now, &c->serial));
	if (rc != OFP_ISSUER_OK)
		return rc;
	if (ofp_credential_tbs(c, tbs, sizeof(tbs), &tbs_len, &ferr) != OFP_FMT_OK)
		return iss_fail(iss, OFP_ISSUER_ERROR, "credential: %s", ferr.reason);
	rc = iss_sign(iss, signer, tbs, tbs_len, c->issuer_sig);
	if (rc != OFP_ISSUER_OK)
		return rc;
	if (ofp_credential_encode(c, out, OFP_CREDENTIAL_MAX, out_len, &ferr) != OFP_FMT_OK)
		return iss_fail(iss, OFP_ISSUER_ERROR, "credential: %s", ferr.reason);
	rc = iss_ledger_fail(iss, ofp_ledger_credential_store(iss->ledger, c->serial, out, *out_len));
	snprintf(ref, sizeof(ref), "serial %" PRIu64 " until %" PRIu32, c->serial, c->not_after);
	if (rc == OFP_ISSUER_OK)
		rc = iss_ledger_fail(iss, ofp_ledger_note(iss->ledger, a, "issue", 0, ref, iss->now));
	return rc;
}

ofp_issuer_rc_t iss_issue_checked(ofp_issuer_t *iss, const ofp_enrollment_t *e, uint8_t *out, size_t *out_len,
				  ofp_credential_t *cred)
{
	ofp_account_t a;
	ofp_ledger_key_t signer;
	ofp_credential_t c;
	ofp_issuer_rc_t rc = check_rights(iss, e, &a);

	if (rc == OFP_ISSUER_OK)
		rc = ofp_issuer_current_signing_key(iss, &signer);
	if (rc == OFP_ISSUER_OK)
		rc = iss_token(iss);
	if (rc != OFP_ISSUER_OK)
		return rc;
	rc = iss_ledger_fail(iss, ofp_ledger_begin(iss->ledger));
	if (rc != OFP_ISSUER_OK)
		return rc;
	rc = check_rights(iss, e, &a);
	if (rc == OFP_ISSUER_OK) {
		fill_credential(iss, e, &signer, &c);
		rc = sign_credential(iss, &signer, &a, &c, out, out_len);
	}
	if (rc == OFP_ISSUER_OK)
		rc = iss_ledger_fail(iss, ofp_ledger_commit(iss->ledger));
	if (rc != OFP_ISSUER_OK) {
		ofp_ledger_rollback(iss->ledger);
		return rc;
	}
	if (cred != NULL)
		*cred = c;
	return OFP_ISSUER_OK;
}

ofp_issuer_rc_t ofp_issuer_issue(ofp_issuer_t *iss, const uint8_t *request, size_t len, uint8_t *out,
				 size_t *out_len, ofp_credential_t *cred)
{
	ofp_enrollment_t e;
	ofp_issuer_rc_t rc = check_request(iss, request, len, &e);

	if (rc != OFP_ISSUER_OK)
		return rc;
	return iss_issue_checked(iss, &e, out, out_len, cred);
}
