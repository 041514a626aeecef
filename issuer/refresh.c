/* refresh.c - the next credential for a holder who shows a current one:
 * the online refresh (offpass-issuerd) needs no enrollment code, only
 * this issuer's credential, still valid, and proof of possession of the
 * key it certifies (checked by the caller against a fresh nonce). The
 * balance rule and the deny list decide as for any issuance. */
#include "config.h"
#include "issuer/internal.h"
#include "format/sig.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The issuer signature on c, by one of the ledger's signing keys. */
static ofp_issuer_rc_t check_issuer_signature(ofp_issuer_t *iss, const ofp_credential_t *c)
{
	uint8_t tbs[OFP_TBS_MAX];
	size_t tbs_len, n = 0;
	ofp_fmt_error_t ferr;
	ofp_ledger_key_t *keys = NULL;
	const ofp_ledger_key_t *k = NULL;
	EVP_PKEY *pkey;
	bool ok;
	ofp_issuer_rc_t rc = ofp_issuer_keys(iss, &keys, &n);

	if (rc != OFP_ISSUER_OK)
		return rc;
	for (size_t i = 0; i < n && k == NULL; i++)
		if (keys[i].usage == OFP_USAGE_CREDENTIAL_SIGNING && memcmp(keys[i].kid, c->issuer_kid, OFP_KEY_ID_LEN) == 0)
			k = &keys[i];
	if (k == NULL) {
		free(keys);
		return iss_fail(iss, OFP_ISSUER_REFUSED, "credential: issuer_kid is not a key of this issuer");
	}
	pkey = iss_verify_key(iss, k); /* the handle's: parsed once */
	ok = pkey != NULL && ofp_credential_tbs(c, tbs, sizeof(tbs), &tbs_len, &ferr) == OFP_FMT_OK &&
	     ofp_sig_verify(pkey, k->alg, tbs, tbs_len, c->issuer_sig);
	free(keys);
	if (!ok)
		return iss_fail(iss, OFP_ISSUER_REFUSED, "credential: issuer_signature does not verify");
	return OFP_ISSUER_OK;
}

/* The credential shown is this issuer's: byte for byte the ledger's copy
 * of its serial, which is what the issuer signed and delivered under it
 * (stored in the issuing transaction). Equal bytes need no ECDSA verify:
 * the issuer signature in them is the one the issuer made. Other bytes are
 * refused whatever their signature (a credential from a rolled-back
 * issuance, or from before a restore, whose serial the ledger now holds
 * for another credential), with no verify spent on them. Only without a
 * copy (a ledger row that never got one) the signature decides.
 * *denied: the serial is on the deny list (read with the copy). */
static ofp_issuer_rc_t check_issued_here(ofp_issuer_t *iss, const uint8_t *cred, size_t len, const ofp_credential_t *c,
					 bool *denied)
{
	uint8_t copy[OFP_CREDENTIAL_MAX], entry[OFP_DENY_ENTRY_LEN];
	size_t copy_len = 0;
	int lrc;

	ofp_deny_entry_serial(entry, c->serial);
	lrc = ofp_ledger_credential_copy(iss->ledger, c->serial, entry, copy, sizeof(copy), &copy_len, denied);

	if (lrc == OFP_LEDGER_NOT_FOUND)
		return iss_fail(iss, OFP_ISSUER_REFUSED, "credential: serial %" PRIu64 " was not issued here", c->serial);
	if (lrc != OFP_LEDGER_OK)
		return iss_ledger_fail(iss, lrc);
	if (copy_len == 0)
		return check_issuer_signature(iss, c);
	if (copy_len == len && memcmp(copy, cred, len) == 0)
		return OFP_ISSUER_OK;
	return iss_fail(iss, OFP_ISSUER_REFUSED, "credential: not the one the ledger holds for serial %" PRIu64,
			c->serial);
}

ofp_issuer_rc_t ofp_issuer_check_credential(ofp_issuer_t *iss, const uint8_t *cred, size_t len, ofp_credential_t *c)
{
	ofp_fmt_error_t ferr;
	bool denied = false;
	ofp_issuer_rc_t rc;

	if (ofp_credential_decode(cred, len, c, &ferr) != OFP_FMT_OK)
		return iss_fail(iss, OFP_ISSUER_REFUSED, "%s", ferr.reason);
	rc = check_issued_here(iss, cred, len, c, &denied);
	if (rc != OFP_ISSUER_OK)
		return rc;
	if (iss->now >= c->not_after)
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"credential: serial %" PRIu64 " expired at %" PRIu32 ": enroll again with a code",
				c->serial, c->not_after);
	if (denied)
		return iss_fail(iss, OFP_ISSUER_REFUSED, "credential: serial %" PRIu64 " is on the deny list", c->serial);
	return OFP_ISSUER_OK;
}

ofp_issuer_rc_t ofp_issuer_refresh(ofp_issuer_t *iss, const ofp_credential_t *c, uint8_t *out, size_t *out_len,
				   ofp_credential_t *next)
{
	return ofp_issuer_refresh_opts(iss, c, NULL, out, out_len, next);
}

ofp_issuer_rc_t ofp_issuer_refresh_opts(ofp_issuer_t *iss, const ofp_credential_t *c, const ofp_issue_opts_t *opts,
					uint8_t *out, size_t *out_len, ofp_credential_t *next)
{
	ofp_enrollment_t e;

	memset(&e, 0, sizeof(e));
	e.holder_alg = c->holder_alg;
	memcpy(e.holder_id, c->holder_id, OFP_ID_LEN);
	memcpy(e.holder_key, c->holder_key, sizeof(e.holder_key));
	e.time = iss->now;
	return iss_issue_checked(iss, &e, opts, out, out_len, next);
}

static ofp_issuer_rc_t issue_online(ofp_issuer_t *iss, const uint8_t holder_id[OFP_ID_LEN], unsigned alg,
				    const uint8_t *key, size_t key_len, const uint8_t tag[OFP_CODE_TAG_LEN], bool in_tx,
				    uint8_t *out, size_t *out_len, ofp_credential_t *cred)
{
	ofp_issue_opts_t opts;
	ofp_enrollment_t e;

	if (key_len != ofp_holder_key_len(alg))
		return iss_fail(iss, OFP_ISSUER_REFUSED, "holder key: %zu bytes is not a key of its algorithm", key_len);
	memset(&opts, 0, sizeof(opts));
	opts.code_tag = tag;
	opts.in_transaction = in_tx;
	memset(&e, 0, sizeof(e));
	e.holder_alg = (uint8_t)alg;
	memcpy(e.holder_id, holder_id, OFP_ID_LEN);
	memcpy(e.holder_key, key, key_len);
	e.time = iss->now;
	return iss_issue_checked(iss, &e, &opts, out, out_len, cred);
}

ofp_issuer_rc_t ofp_issuer_issue_online(ofp_issuer_t *iss, const uint8_t holder_id[OFP_ID_LEN], unsigned alg,
					const uint8_t *key, size_t key_len, const uint8_t tag[OFP_CODE_TAG_LEN],
					uint8_t *out, size_t *out_len, ofp_credential_t *cred)
{
	return issue_online(iss, holder_id, alg, key, key_len, tag, false, out, out_len, cred);
}

ofp_issuer_rc_t ofp_issuer_issue_online_in_tx(ofp_issuer_t *iss, const uint8_t holder_id[OFP_ID_LEN], unsigned alg,
					      const uint8_t *key, size_t key_len, const uint8_t tag[OFP_CODE_TAG_LEN],
					      uint8_t *out, size_t *out_len, ofp_credential_t *cred)
{
	return issue_online(iss, holder_id, alg, key, key_len, tag, true, out, out_len, cred);
}
