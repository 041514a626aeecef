/* deny.c - the signed, versioned deny list: holders and credentials a
 * verifier must refuse. Each change is a new version, signed and kept in
 * the ledger in the same transaction as the entry, then written out. */
#include "config.h"
#include "issuer/internal.h"
#include "hex.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DENY_BLOB OFP_ISSUER_BLOB_DENY
#define DENY_VERSION "deny_version"

ofp_issuer_rc_t iss_deny_publish(ofp_issuer_t *iss, uint64_t version, uint8_t **out, size_t *len)
{
	ofp_deny_list_t d;
	ofp_ledger_key_t signer;
	ofp_fmt_error_t ferr;
	uint8_t *entries = NULL, *tbs = NULL, *buf = NULL;
	size_t count = 0, tbs_len = 0, cap;
	ofp_issuer_rc_t rc = iss_list_signer(iss, &signer);

	*out = NULL;
	if (rc != OFP_ISSUER_OK)
		return rc;
	rc = iss_ledger_fail(iss, ofp_ledger_deny_entries(iss->ledger, &entries, &count));
	if (rc != OFP_ISSUER_OK)
		return rc;
	if (count > OFP_DENY_MAX_ENTRIES) {
		rc = iss_fail(iss, OFP_ISSUER_REFUSED, "deny list: %zu entries, at most %u fit", count,
			      OFP_DENY_MAX_ENTRIES);
		goto out;
	}
	memset(&d, 0, sizeof(d));
	d.version = version;
	d.issued_at = iss->now;
	memcpy(d.signer_kid, signer.kid, OFP_KEY_ID_LEN);
	d.count = (uint32_t)ofp_deny_entries_normalize(entries, count);
	d.entries = entries;
	cap = 85 + (size_t)d.count * OFP_DENY_ENTRY_LEN + 32;
	tbs = malloc(cap);
	buf = malloc(cap);
	if (tbs == NULL || buf == NULL) {
		rc = iss_fail(iss, OFP_ISSUER_ERROR, "out of memory");
		goto out;
	}
	if (ofp_deny_list_tbs(&d, tbs, cap, &tbs_len, &ferr) != OFP_FMT_OK) {
		rc = iss_fail(iss, OFP_ISSUER_ERROR, "deny list: %s", ferr.reason);
		goto out;
	}
	rc = iss_sign(iss, &signer, tbs, tbs_len, d.issuer_sig);
	if (rc != OFP_ISSUER_OK)
		goto out;
	if (ofp_deny_list_encode(&d, buf, cap, len, &ferr) != OFP_FMT_OK) {
		rc = iss_fail(iss, OFP_ISSUER_ERROR, "deny list: %s", ferr.reason);
		goto out;
	}
	rc = iss_ledger_fail(iss, ofp_ledger_blob_set(iss->ledger, DENY_BLOB, buf, *len));
	if (rc == OFP_ISSUER_OK)
		rc = iss_ledger_fail(iss, ofp_ledger_meta_set(iss->ledger, DENY_VERSION, (int64_t)version));
out:
	if (rc == OFP_ISSUER_OK) {
		*out = buf;
		buf = NULL;
	}
	free(entries);
	free(tbs);
	free(buf);
	return rc;
}

/* Add one entry and publish the next version; the file is written after
 * the commit (the ledger keeps the list, `deny-list -o` writes it again). */
struct deny_tx {
	const uint8_t *entry;
	uint64_t serial;
	int64_t version; /* before */
	bool already;	 /* on the list before: nothing published */
	uint8_t *list;
	size_t list_len;
};

/* Re-runnable: each try reads the version again and signs its own list. */
static ofp_issuer_rc_t deny_body(ofp_issuer_t *iss, void *ctx)
{
	struct deny_tx *t = ctx;
	int lrc;
	ofp_issuer_rc_t rc;

	free(t->list);
	t->list = NULL;
	t->already = false;
	rc = iss_ledger_fail(iss, ofp_ledger_meta_get(iss->ledger, DENY_VERSION, &t->version));
	if (rc != OFP_ISSUER_OK)
		return rc;
	lrc = ofp_ledger_deny_add(iss->ledger, t->entry, iss->now);
	if (lrc == OFP_LEDGER_REFUSED) { /* already denied: nothing to publish */
		t->already = true;
		return OFP_ISSUER_OK;
	}
	rc = iss_ledger_fail(iss, lrc);
	if (rc == OFP_ISSUER_OK && t->entry[0] == OFP_DENY_SERIAL)
		rc = iss_ledger_fail(iss, ofp_ledger_key_revoke(iss->ledger, t->serial, iss->now));
	if (rc == OFP_ISSUER_OK)
		rc = iss_deny_publish(iss, (uint64_t)t->version + 1, &t->list, &t->list_len);
	return rc;
}

static ofp_issuer_rc_t deny_entry(ofp_issuer_t *iss, const uint8_t entry[OFP_DENY_ENTRY_LEN], uint64_t serial,
				  bool *added, uint64_t *version)
{
	struct deny_tx t = { .entry = entry, .serial = serial };
	ofp_issuer_rc_t rc = iss_token(iss);

	if (added != NULL)
		*added = false;
	if (rc == OFP_ISSUER_OK)
		rc = iss_transact_queued(iss, OFP_LEDGER_QUEUE_ISSUANCE_BARRIER, deny_body, &t);
	if (rc != OFP_ISSUER_OK)
		goto out;
	if (version != NULL)
		*version = (uint64_t)t.version + (t.already ? 0 : 1);
	if (t.already)
		goto out;
	if (added != NULL)
		*added = true;
	rc = iss_write_file(iss, OFP_ISSUER_DENY, t.list, t.list_len);
	if (rc != OFP_ISSUER_OK) {
		char why[ISS_ERR_LEN];
		snprintf(why, sizeof(why), "%s", iss->err);
		rc = iss_fail(iss, OFP_ISSUER_ERROR,
			      "deny list version %" PRId64 " is in the ledger but not written (%.600s): run 'deny-list -o FILE'",
			      t.version + 1, why);
	}
out:
	free(t.list);
	return rc;
}

/* An account name, or 16 hex digits of a holder id (names never are). */
static ofp_issuer_rc_t resolve_holder(ofp_issuer_t *iss, const char *who, ofp_account_t *a)
{
	uint8_t id[OFP_ID_LEN];

	if (strlen(who) == 2 * OFP_ID_LEN && hex_decode(who, id, sizeof(id)) == 0)
		return iss_ledger_fail(iss, ofp_ledger_account_by_holder(iss->ledger, id, a));
	return iss_ledger_fail(iss, ofp_ledger_account_get(iss->ledger, who, a));
}

ofp_issuer_rc_t ofp_issuer_deny_holder(ofp_issuer_t *iss, const char *who, bool *added, uint64_t *version)
{
	uint8_t entry[OFP_DENY_ENTRY_LEN];
	ofp_account_t a;
	ofp_issuer_rc_t rc = resolve_holder(iss, who, &a);

	if (rc != OFP_ISSUER_OK)
		return rc;
	ofp_deny_entry_holder(entry, a.holder_id);
	return deny_entry(iss, entry, 0, added, version);
}

ofp_issuer_rc_t ofp_issuer_deny_serial(ofp_issuer_t *iss, uint64_t serial, bool *added, uint64_t *version)
{
	uint8_t entry[OFP_DENY_ENTRY_LEN];
	ofp_issuer_rc_t rc = iss_ledger_fail(iss, ofp_ledger_credential_exists(iss->ledger, serial));

	if (rc != OFP_ISSUER_OK)
		return rc;
	ofp_deny_entry_serial(entry, serial);
	return deny_entry(iss, entry, serial, added, version);
}

/* Whether the list as stored is recent enough to hand out: issued less
 * than OFP_ISSUER_DENY_REISSUE ago and at most OFP_ISSUER_DENY_AHEAD
 * after now (and decodable). */
static bool deny_list_recent(const ofp_issuer_t *iss, const uint8_t *list, size_t len)
{
	ofp_deny_list_t d;

	if (ofp_deny_list_decode(list, len, &d, NULL) != OFP_FMT_OK)
		return false;
	return iss->now < (uint64_t)d.issued_at + OFP_ISSUER_DENY_REISSUE &&
	       (uint64_t)iss->now + OFP_ISSUER_DENY_AHEAD >= d.issued_at;
}

struct reissue_tx {
	uint8_t *list;
	size_t len;
	bool fresh; /* another process re-signed it meanwhile: nothing to write */
};

/* Re-runnable: each try looks again whether the stored list became recent
 * (another issuerd re-signed it), else signs the next version. */
static ofp_issuer_rc_t reissue_body(ofp_issuer_t *iss, void *ctx)
{
	struct reissue_tx *t = ctx;
	int64_t version = 0;
	ofp_issuer_rc_t rc;

	free(t->list);
	t->list = NULL;
	t->fresh = false;
	rc = iss_ledger_fail(iss, ofp_ledger_blob_get(iss->ledger, DENY_BLOB, &t->list, &t->len));
	if (rc == OFP_ISSUER_OK && deny_list_recent(iss, t->list, t->len)) {
		t->fresh = true;
		return OFP_ISSUER_OK;
	}
	free(t->list);
	t->list = NULL;
	if (rc == OFP_ISSUER_OK)
		rc = iss_ledger_fail(iss, ofp_ledger_meta_get(iss->ledger, DENY_VERSION, &version));
	if (rc == OFP_ISSUER_OK)
		rc = iss_deny_publish(iss, (uint64_t)version + 1, &t->list, &t->len);
	return rc;
}

/* The same entries under the next version, signed now: gates measure the
 * deny list's age from issued_at (VERIFIER.md 3.5), so an unchanged list
 * must still be re-signed for a gate that syncs to stay fresh. The list
 * is read again in the transaction: when another process (issuerd, the
 * CLI) re-signed it since the first look, that one is the answer, so
 * concurrent requests bump the version once, not once each. */
static ofp_issuer_rc_t deny_reissue(ofp_issuer_t *iss, uint8_t **out, size_t *len)
{
	struct reissue_tx t = { 0 };
	ofp_issuer_rc_t rc = iss_token(iss);

	if (rc == OFP_ISSUER_OK)
		rc = iss_transact(iss, reissue_body, &t);
	if (rc == OFP_ISSUER_OK && !t.fresh)
		rc = iss_write_file(iss, OFP_ISSUER_DENY, t.list, t.len);
	if (rc != OFP_ISSUER_OK) {
		free(t.list);
		*out = NULL;
		return rc;
	}
	*out = t.list;
	*len = t.len;
	return rc;
}

ofp_issuer_rc_t ofp_issuer_deny_list(ofp_issuer_t *iss, uint8_t **out, size_t *len)
{
	uint8_t *fresh = NULL;
	size_t fresh_len = 0;
	ofp_issuer_rc_t rc = iss_ledger_fail(iss, ofp_ledger_blob_get(iss->ledger, DENY_BLOB, out, len));

	if (rc != OFP_ISSUER_OK || deny_list_recent(iss, *out, *len))
		return rc;
	/* Not re-signed (no token, another process holds the ledger): the
	 * stored list is still the truth, only older. Read again: another
	 * process may have stored a newer version since the first look, and
	 * a client must never be handed a lower version than one already
	 * handed out. */
	if (deny_reissue(iss, &fresh, &fresh_len) != OFP_ISSUER_OK) {
		if (ofp_ledger_blob_get(iss->ledger, DENY_BLOB, &fresh, &fresh_len) != OFP_LEDGER_OK)
			return OFP_ISSUER_OK;
	}
	free(*out);
	*out = fresh;
	*len = fresh_len;
	return OFP_ISSUER_OK;
}
