/* trust.c - a loaded trust list and the rules of trusting with it
 * (format/trust.h): the gate's verifier and the holder's pin share them. */
#include "config.h"
#include "format/trust.h"

#include <stdio.h>
#include <string.h>

#include "format/sig.h"

static void kid_hex(const uint8_t kid[OFP_KEY_ID_LEN], char out[2 * OFP_KEY_ID_LEN + 1])
{
	snprintf(out, 2 * OFP_KEY_ID_LEN + 1, "%02x%02x%02x%02x", kid[0], kid[1], kid[2], kid[3]);
}

static bool within(uint32_t not_before, uint32_t not_after, uint32_t now, uint32_t skew)
{
	return (uint64_t)now + skew >= not_before && (uint64_t)now <= (uint64_t)not_after + skew;
}

void ofp_trust_set_free(ofp_trust_set_t *t)
{
	for (size_t i = 0; i < OFP_TRUST_MAX_ENTRIES; i++) {
		EVP_PKEY_free(t->keys[i]);
		t->keys[i] = NULL;
	}
	t->loaded = false;
}

bool ofp_trust_set_load(ofp_trust_set_t *t, const uint8_t *bytes, size_t len, char *why, size_t why_len)
{
	ofp_fmt_error_t ferr;

	memset(t, 0, sizeof(*t));
	if (ofp_trust_list_decode(bytes, len, &t->list, &ferr) != OFP_FMT_OK) {
		snprintf(why, why_len, "%s", ferr.reason);
		return false;
	}
	for (unsigned i = 0; i < t->list.count; i++) {
		const ofp_trust_entry_t *e = &t->list.entries[i];

		t->keys[i] = ofp_sig_public_key(e->alg, e->key, ofp_trust_key_len(e->alg));
		if (t->keys[i] == NULL) {
			snprintf(why, why_len, "trust_list.entry[%u].key: not a valid public key", i);
			ofp_trust_set_free(t);
			return false;
		}
	}
	t->loaded = true;
	return true;
}

const ofp_trust_entry_t *ofp_trust_set_signer(const ofp_trust_set_t *t, const uint8_t kid[OFP_KEY_ID_LEN],
					      uint32_t now, uint32_t skew, EVP_PKEY **key)
{
	const ofp_trust_entry_t *e;

	*key = NULL;
	if (t == NULL || !t->loaded)
		return NULL;
	e = ofp_trust_list_find(&t->list, kid);
	if (e == NULL || e->usage != OFP_USAGE_CREDENTIAL_SIGNING || !within(e->not_before, e->not_after, now, skew))
		return NULL;
	*key = t->keys[e - t->list.entries];
	return e;
}

static bool has_signing_key(const ofp_trust_list_t *t)
{
	for (unsigned i = 0; i < t->count; i++)
		if (t->entries[i].usage == OFP_USAGE_CREDENTIAL_SIGNING)
			return true;
	return false;
}

bool ofp_trust_set_accept(const ofp_trust_set_t *cur, const ofp_trust_set_t *next, uint32_t now, uint32_t skew,
			  uint32_t max_ahead, char *why, size_t why_len)
{
	bool anchor = cur == NULL || !cur->loaded;
	const ofp_trust_entry_t *e;
	uint8_t tbs[OFP_TRUST_LIST_MAX + 32];
	size_t tbs_len;
	EVP_PKEY *key;
	char kid[2 * OFP_KEY_ID_LEN + 1];

	if (!next->loaded) {
		snprintf(why, why_len, "trust_list: not loaded");
		return false;
	}
	if (!has_signing_key(&next->list)) {
		snprintf(why, why_len, "no credential-signing key (no later list could be installed)");
		return false;
	}
	if (!anchor && next->list.version <= cur->list.version) {
		snprintf(why, why_len, "trust_list.version: %llu is not newer than the installed %llu",
			 (unsigned long long)next->list.version, (unsigned long long)cur->list.version);
		return false;
	}
	if (next->list.issued_at > now && next->list.issued_at - now > max_ahead) {
		snprintf(why, why_len,
			 "trust_list.issued_at: %u is more than clock_skew %u s after this gate's clock (%u); "
			 "the issuer's clock or this gate's is wrong",
			 next->list.issued_at, max_ahead, now);
		return false;
	}
	kid_hex(next->list.signer_kid, kid);
	e = ofp_trust_set_signer(anchor ? next : cur, next->list.signer_kid, now, skew, &key);
	if (e == NULL) {
		snprintf(why, why_len, "trust_list.signer_key_id: %s is not a credential-signing key of the %s valid now",
			 kid, anchor ? "list itself" : "installed trust list");
		return false;
	}
	if (ofp_trust_list_tbs(&next->list, tbs, sizeof(tbs), &tbs_len, NULL) != OFP_FMT_OK ||
	    !ofp_sig_verify(key, e->alg, tbs, tbs_len, next->list.issuer_sig)) {
		snprintf(why, why_len, "trust_list.issuer_signature: does not verify");
		return false;
	}
	return true;
}

bool ofp_trust_set_check_credential(const ofp_trust_set_t *t, const ofp_credential_t *c, uint32_t at,
				    uint32_t skew, char *why, size_t why_len)
{
	const ofp_trust_entry_t *e;
	uint8_t tbs[OFP_TBS_MAX];
	size_t tbs_len;
	EVP_PKEY *key;
	char kid[2 * OFP_KEY_ID_LEN + 1];

	kid_hex(c->issuer_kid, kid);
	e = ofp_trust_set_signer(t, c->issuer_kid, at, skew, &key);
	if (e == NULL) {
		snprintf(why, why_len,
			 "credential.issuer_key_id: %s is not a credential-signing key of the trust list valid at %u",
			 kid, at);
		return false;
	}
	if (ofp_credential_tbs(c, tbs, sizeof(tbs), &tbs_len, NULL) != OFP_FMT_OK ||
	    !ofp_sig_verify(key, e->alg, tbs, tbs_len, c->issuer_sig)) {
		snprintf(why, why_len, "credential.issuer_signature: does not verify with issuer key %s", kid);
		return false;
	}
	return true;
}
