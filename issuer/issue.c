/* issue.c - from an enrollment request to a signed credential (claims 5,
 * 6, 21-23): the request proves possession of the holder key and, for a
 * key not enrolled yet, knowledge of the account's enrollment code
 * (enroll.c); the issuer checks the holder's rights and signs a grant no
 * larger than what the account can pay for (docs/ISSUER.md, "Bounded
 * exposure"): credentials of one account never overlap in time, and the
 * offline totals of those not yet settled never exceed balance + credit
 * line. The credential is handed to the caller before the ledger commits,
 * so that an output that cannot be written changes nothing. */
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
		return iss_fail(iss, OFP_ISSUER_REFUSED, "enrollment request: %s%s", ferr.reason,
				ferr.code == OFP_FMT_EVERSION && len > 0 && req[0] == 0x41
					? " (ask the operator for an enrollment code and enroll with a current holder)"
					: "");
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
static ofp_issuer_rc_t check_rights(ofp_issuer_t *iss, const ofp_enrollment_t *e, ofp_account_t *a,
				    iss_key_owner_t *owner)
{
	char hex[2 * OFP_ID_LEN + 1];
	uint8_t entry[OFP_DENY_ENTRY_LEN];
	ofp_holder_standing_t hs;
	int lrc;

	/* The account, the deny list and the revoked keys: one statement. */
	iss_hex(hex, e->holder_id, OFP_ID_LEN);
	ofp_deny_entry_holder(entry, e->holder_id);
	lrc = ofp_ledger_holder_standing(iss->ledger, e->holder_id, entry, e->holder_key,
					 ofp_holder_key_len(e->holder_alg), &hs);
	if (lrc == OFP_LEDGER_NOT_FOUND)
		return iss_fail(iss, OFP_ISSUER_REFUSED, "enrollment request: no account has holder id %s", hex);
	if (lrc != OFP_LEDGER_OK)
		return iss_ledger_fail(iss, lrc);
	*a = hs.account;
	if (owner != NULL) {
		owner->enrolled = hs.key_enrolled;
		owner->account = hs.key_owner;
	}
	if (hs.denied)
		return iss_fail(iss, OFP_ISSUER_REFUSED, "account '%s' (holder %s) is on the deny list", a->name, hex);
	if (hs.revoked_serial != 0)
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"account '%s': this holder key is revoked (credential %" PRIu64
				" was denied): enroll a new key",
				a->name, hs.revoked_serial);
	/* Both are within +-10^15 (ledger CHECKs): the sum cannot overflow. */
	if (a->balance + a->credit_line < iss->cfg.threshold)
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"account '%s': balance %" PRId64 " + credit line %" PRId64 " = %" PRId64
				" is below the threshold %" PRId64,
				a->name, a->balance, a->credit_line, a->balance + a->credit_line, iss->cfg.threshold);
	return OFP_ISSUER_OK;
}

/* ---- bounded exposure ------------------------------------------------------------ */

/* What the account's other credentials hold, and the window a new one gets. */
typedef struct window {
	ofp_issuer_t *iss;
	uint32_t through;	   /* every gate settled through this time */
	int64_t outstanding;	   /* offline totals not yet settled */
	uint32_t counted;	   /* credentials in outstanding */
	bool covered;		   /* a live credential not replaced */
	ofp_ledger_cred_t latest;  /* the one that ends last */
	uint64_t undenied;	   /* a live credential not on the deny list (0: none) */
	int lrc;
} window_t;

/* A credential stops counting once every gate has settled past its end
 * (nothing more can come: a gate operates it only up to not_after +
 * skew), or settlement_window after its end (a gate that never reports). */
static bool released(const window_t *w, const ofp_ledger_cred_t *c)
{
	const ofp_issuer_config_t *cfg = &w->iss->cfg;

	return (uint64_t)c->not_after + cfg->gate_clock_skew <= w->through ||
	       (uint64_t)w->iss->now >= (uint64_t)c->not_after + cfg->settlement_window;
}

static int window_visit(void *ctx, const ofp_ledger_cred_t *c)
{
	window_t *w = ctx;
	uint8_t entry[OFP_DENY_ENTRY_LEN];

	if (!released(w, c)) {
		w->outstanding += c->charged < c->offline_total ? c->offline_total - c->charged : 0;
		w->counted++;
	}
	if (c->replaced || c->not_after <= w->iss->now)
		return 0;
	if (!w->covered || c->not_after > w->latest.not_after)
		w->latest = *c;
	w->covered = true;
	ofp_deny_entry_serial(entry, c->serial);
	w->lrc = ofp_ledger_denied(w->iss->ledger, entry);
	if (w->lrc == OFP_LEDGER_NOT_FOUND && w->undenied == 0)
		w->undenied = c->serial;
	return w->lrc == OFP_LEDGER_OK || w->lrc == OFP_LEDGER_NOT_FOUND ? 0 : 1;
}

static ofp_issuer_rc_t window_load(ofp_issuer_t *iss, const ofp_account_t *a, window_t *w)
{
	uint32_t since = iss->now > iss->cfg.settlement_window ? iss->now - iss->cfg.settlement_window : 0;
	ofp_issuer_rc_t rc;

	memset(w, 0, sizeof(*w));
	w->iss = iss;
	rc = iss_ledger_fail(iss, ofp_ledger_gates_settled_through(iss->ledger, &w->through, NULL));
	if (rc != OFP_ISSUER_OK)
		return rc;
	rc = iss_ledger_fail(iss, ofp_ledger_credentials_of(iss->ledger, a->holder_id, since, window_visit, w));
	if (rc == OFP_ISSUER_OK && w->lrc != OFP_LEDGER_OK && w->lrc != OFP_LEDGER_NOT_FOUND)
		rc = iss_ledger_fail(iss, w->lrc);
	return rc;
}

/* The window of the next credential: the next one after the live one (a
 * refresh), now when there is none, now over denied ones with replace. */
static ofp_issuer_rc_t next_window(ofp_issuer_t *iss, const ofp_account_t *a, const window_t *w, bool replace,
				   uint32_t *not_before)
{
	*not_before = iss->now;
	if (!w->covered)
		return OFP_ISSUER_OK;
	if (replace) {
		if (w->undenied != 0)
			return iss_fail(iss, OFP_ISSUER_REFUSED,
					"account '%s': --replace: credential %" PRIu64
					" is still valid and not denied (deny serial %" PRIu64 " first)",
					a->name, w->undenied, w->undenied);
		return iss_ledger_fail(iss, ofp_ledger_credentials_replace(iss->ledger, a->holder_id, iss->now));
	}
	if (w->latest.not_before > iss->now)
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"account '%s': %" PRIu32 "..%" PRIu32 " is covered already by credential %" PRIu64
				" (the next window was issued; a lost key: deny serial %" PRIu64 ", then issue --replace)",
				a->name, w->latest.not_before, w->latest.not_after, w->latest.serial, w->latest.serial);
	*not_before = w->latest.not_after;
	return OFP_ISSUER_OK;
}

/* The grant: the configured one, its offline total cut to what the
 * account can pay for beyond what its other credentials may still bring. */
static ofp_issuer_rc_t bounded_grant(ofp_issuer_t *iss, const ofp_account_t *a, const window_t *w, ofp_grant_t *g)
{
	int64_t available = a->balance + a->credit_line - w->outstanding;

	*g = iss->cfg.grant;
	if (available < iss->cfg.threshold)
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"account '%s': balance %" PRId64 " + credit line %" PRId64 " - %" PRId64
				" still open offline on %" PRIu32 " credential%s = %" PRId64 " is below the threshold %" PRId64,
				a->name, a->balance, a->credit_line, w->outstanding, w->counted, w->counted == 1 ? "" : "s",
				available, iss->cfg.threshold);
	if (available < (int64_t)g->offline_total)
		g->offline_total = (uint32_t)available;
	if (g->per_op_max > g->offline_total)
		g->per_op_max = g->offline_total;
	return OFP_ISSUER_OK;
}

/* The unsigned credential: from not_before for the configured lifetime,
 * no longer than the signing key is trusted. */
static ofp_issuer_rc_t fill_credential(ofp_issuer_t *iss, const ofp_enrollment_t *e, const ofp_ledger_key_t *signer,
				       uint32_t not_before, const ofp_grant_t *grant, ofp_credential_t *c)
{
	uint32_t not_after = iss_time_add(not_before, iss->cfg.credential_lifetime);

	memset(c, 0, sizeof(*c));
	c->holder_alg = e->holder_alg;
	memcpy(c->issuer_kid, signer->kid, OFP_KEY_ID_LEN);
	memcpy(c->holder_id, e->holder_id, OFP_ID_LEN);
	memcpy(c->holder_key, e->holder_key, ofp_holder_key_len(e->holder_alg));
	c->not_before = not_before;
	c->not_after = not_after < signer->not_after ? not_after : signer->not_after;
	c->grant = *grant;
	if (c->not_after <= c->not_before)
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"the next window starts at %" PRIu32 ", when the signing key '%s' is no longer trusted "
				"(rollover first)",
				not_before, signer->label);
	return OFP_ISSUER_OK;
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

/* In the transaction: spend the code and bind the key (first enrollment). */
static ofp_issuer_rc_t enroll_key(ofp_issuer_t *iss, const ofp_enrollment_t *e, ofp_account_t *a)
{
	char ref[64];
	ofp_issuer_rc_t rc = iss_ledger_fail(iss, ofp_ledger_enroll_code_use(iss->ledger, a->id, iss->now));

	if (rc == OFP_ISSUER_OK)
		rc = iss_ledger_fail(iss, ofp_ledger_holder_key_add(iss->ledger, a->id, e->holder_alg, e->holder_key,
								    ofp_holder_key_len(e->holder_alg), iss->now));
	snprintf(ref, sizeof(ref), "%s key enrolled with the code", e->holder_alg == OFP_ALG_ED25519 ? "Ed25519" : "P-256");
	if (rc == OFP_ISSUER_OK)
		rc = iss_ledger_fail(iss, ofp_ledger_note(iss->ledger, a, "enroll", 0, ref, iss->now));
	return rc;
}

/* In the transaction: every rule again (another process may have issued
 * or settled since the first look), then sign, store and deliver. known:
 * the account as check_rights read it in this same transaction (a
 * grouped unit), or NULL to read it (and check the rights) again. */
static ofp_issuer_rc_t issue_tx(ofp_issuer_t *iss, const ofp_enrollment_t *e, bool needs_code,
				const ofp_ledger_key_t *signer, const ofp_issue_opts_t *o, const ofp_account_t *known,
				uint8_t *out, size_t *out_len, ofp_credential_t *c)
{
	ofp_account_t a;
	window_t w;
	ofp_grant_t grant;
	uint32_t not_before;
	char err[512] = "";
	ofp_issuer_rc_t rc = OFP_ISSUER_OK;

	if (known != NULL)
		a = *known;
	else
		rc = check_rights(iss, e, &a, NULL);

	if (rc == OFP_ISSUER_OK && needs_code && o->code_tag != NULL)
		rc = iss_code_tag_current(iss, &a, o->code_tag);
	if (rc == OFP_ISSUER_OK && needs_code)
		rc = enroll_key(iss, e, &a);
	if (rc == OFP_ISSUER_OK)
		rc = window_load(iss, &a, &w);
	if (rc == OFP_ISSUER_OK)
		rc = bounded_grant(iss, &a, &w, &grant);
	if (rc == OFP_ISSUER_OK)
		rc = next_window(iss, &a, &w, o->replace, &not_before);
	if (rc == OFP_ISSUER_OK)
		rc = fill_credential(iss, e, signer, not_before, &grant, c);
	if (rc == OFP_ISSUER_OK)
		rc = sign_credential(iss, signer, &a, c, out, out_len);
	if (rc == OFP_ISSUER_OK && o->deliver != NULL && o->deliver(o->ctx, out, *out_len, err, sizeof(err)) != 0)
		rc = iss_fail(iss, OFP_ISSUER_ERROR, "%s; nothing issued (the ledger is unchanged)",
			      err[0] != '\0' ? err : "the credential could not be delivered");
	return rc;
}

struct issue_tx {
	const ofp_enrollment_t *e;
	bool needs_code;
	const ofp_ledger_key_t *signer;
	const ofp_issue_opts_t *o;
	uint8_t *out;
	size_t *out_len;
	ofp_credential_t *c;
};

/* Re-runnable: every try reads the account again and signs a new
 * credential (deliver may hear more than once; the last one counts). */
static ofp_issuer_rc_t issue_body(ofp_issuer_t *iss, void *ctx)
{
	struct issue_tx *t = ctx;

	return issue_tx(iss, t->e, t->needs_code, t->signer, t->o, NULL, t->out, t->out_len, t->c);
}

ofp_issuer_rc_t iss_issue_checked(ofp_issuer_t *iss, const ofp_enrollment_t *e, const ofp_issue_opts_t *opts,
				  uint8_t *out, size_t *out_len, ofp_credential_t *cred)
{
	static const ofp_issue_opts_t defaults;
	const ofp_issue_opts_t *o = opts != NULL ? opts : &defaults;
	ofp_account_t a;
	ofp_ledger_key_t signer;
	ofp_credential_t c;
	bool needs_code = false;
	iss_key_owner_t owner;
	ofp_issuer_rc_t rc = check_rights(iss, e, &a, &owner);

	if (rc == OFP_ISSUER_OK)
		rc = o->code_tag != NULL ? iss_enroll_proven(iss, e, &a, &owner, &needs_code)
					 : iss_enroll_check(iss, e, &a, &owner, &needs_code);
	if (rc == OFP_ISSUER_OK)
		rc = ofp_issuer_current_signing_key(iss, &signer);
	if (rc == OFP_ISSUER_OK)
		rc = iss_token(iss);
	if (rc != OFP_ISSUER_OK)
		return rc;
	if (o->in_transaction) {
		/* The caller's transaction (a grouped commit): it rolls back
		 * and runs again as a whole. The rights were checked above
		 * in this transaction: the same reads would say the same. */
		rc = issue_tx(iss, e, needs_code, &signer, o, &a, out, out_len, &c);
	} else {
		struct issue_tx t = { e, needs_code, &signer, o, out, out_len, &c };
		rc = iss_transact_queued(iss, OFP_LEDGER_QUEUE_ISSUANCE, issue_body, &t);
	}
	if (rc != OFP_ISSUER_OK)
		return rc;
	if (cred != NULL)
		*cred = c;
	return OFP_ISSUER_OK;
}

ofp_issuer_rc_t ofp_issuer_issue(ofp_issuer_t *iss, const uint8_t *request, size_t len, const ofp_issue_opts_t *opts,
				 uint8_t *out, size_t *out_len, ofp_credential_t *cred)
{
	ofp_enrollment_t e;
	ofp_issuer_rc_t rc = check_request(iss, request, len, &e);

	if (rc != OFP_ISSUER_OK)
		return rc;
	return iss_issue_checked(iss, &e, opts, out, out_len, cred);
}
