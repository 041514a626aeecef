/* present.c - a presentation: the installed credential and a fresh
 * authorization (time, counter, amount, optional challenge) signed by the
 * token key through C_Sign. */
#include "config.h"
#include "holder/holder.h"

#include <string.h>

#include "holder/counter.h"

/* What the holder can tell before spending a counter: a verifier would
 * refuse these anyway. */
static int check_usable(const ofp_credential_t *c, const ofp_present_args_t *a, char *err, size_t err_len)
{
	char when[64];

	if (ofp_holder_validity(c, a->now) == OFP_VALIDITY_EXPIRED) {
		ofp_holder_time_text(c->not_after, when, sizeof(when));
		snprintf(err, err_len, "the credential (serial %llu) expired at %s: install a new one",
			 (unsigned long long)c->serial, when);
		return OFP_HOLDER_REFUSED;
	}
	if (a->amount > c->grant.per_op_max) {
		snprintf(err, err_len, "amount %u is over the credential's per-operation maximum %u",
			 (unsigned)a->amount, (unsigned)c->grant.per_op_max);
		return OFP_HOLDER_REFUSED;
	}
	if (a->challenge_len > OFP_CHALLENGE_MAX || (a->challenge_len > 0 && a->challenge == NULL)) {
		snprintf(err, err_len, "challenge: %zu bytes, at most %d", a->challenge_len, OFP_CHALLENGE_MAX);
		return OFP_HOLDER_FAILED;
	}
	return OFP_HOLDER_OK;
}

/* Fill in everything but the signature; the counter is claimed on the
 * token (or derived, counter.h) and durable before this returns, so it is
 * never handed out twice for the key. */
static int build_authorization(ofp_p11_t *p, const ofp_p11_key_t *key, const ofp_present_args_t *a,
			       ofp_authorization_t *auth, char *err, size_t err_len)
{
	ofp_counter_kind_t kind;

	if (ofp_counter_reserve(p, key, a->dir, a->now, &auth->counter, &kind, err, err_len) != 0)
		return OFP_HOLDER_FAILED;
	auth->time = a->now;
	auth->amount = a->amount;
	auth->challenge_len = (uint8_t)a->challenge_len;
	if (a->challenge_len > 0)
		memcpy(auth->challenge, a->challenge, a->challenge_len);
	return OFP_HOLDER_OK;
}

int ofp_holder_present(ofp_p11_t *p, const ofp_p11_key_t *key, const ofp_present_args_t *args, uint8_t *out,
		       size_t *len, ofp_presentation_t *pres, char *err, size_t err_len)
{
	ofp_presentation_t pr;
	ofp_fmt_error_t fe;
	uint8_t tbs[OFP_TBS_MAX];
	size_t tbs_len = 0;
	int rv;

	memset(&pr, 0, sizeof(pr));
	rv = ofp_holder_credential_dir(p, key, args->dir, &pr.cred, NULL, err, err_len);
	/* After a refresh the next window waits in the state directory. */
	if ((rv == 1 || (rv == OFP_HOLDER_OK && ofp_holder_validity(&pr.cred, args->now) != OFP_VALIDITY_VALID)) &&
	    ofp_holder_next_valid(key, args->dir, args->now, &pr.cred) == 0)
		rv = OFP_HOLDER_OK;
	if (rv == 1)
		return OFP_HOLDER_REFUSED;
	if (rv == OFP_HOLDER_OK)
		rv = check_usable(&pr.cred, args, err, err_len);
	if (rv == OFP_HOLDER_OK)
		rv = build_authorization(p, key, args, &pr.auth, err, err_len);
	if (rv != OFP_HOLDER_OK)
		return rv;
	if (ofp_authorization_tbs(&pr.cred, &pr.auth, tbs, sizeof(tbs), &tbs_len, &fe) != OFP_FMT_OK) {
		snprintf(err, err_len, "authorization: %s", fe.reason);
		return OFP_HOLDER_FAILED;
	}
	if (ofp_p11_sign(p, key, tbs, tbs_len, pr.auth.holder_sig) != 0) {
		snprintf(err, err_len, "signing the authorization (counter %u, now skipped): %s",
			 (unsigned)pr.auth.counter, ofp_p11_error(p));
		return OFP_HOLDER_FAILED;
	}
	if (ofp_presentation_encode(&pr, out, OFP_PRESENTATION_MAX, len, &fe) != OFP_FMT_OK) {
		snprintf(err, err_len, "presentation: %s", fe.reason);
		return OFP_HOLDER_FAILED;
	}
	if (pres != NULL)
		*pres = pr;
	return OFP_HOLDER_OK;
}
