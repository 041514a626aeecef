/* trust.h - a trust list with its keys loaded, and the rules every party
 * that trusts an issuer applies with it: which key signs credentials at a
 * time, whether a new list may take its place (the anchor rule of
 * docs/VERIFIER.md 5), whether a credential was signed by it. The gate's
 * verifier (verifier/lists.c) and the holder's pinned list
 * (holder/trust.c) both use these, so the two cannot drift apart.
 * Internal to offpass; not part of the public API.
 *
 * Times are judged with a tolerance skew: an entry [nb, na] is valid at
 * now when nb - skew <= now <= na + skew. On a refusal, why (why_len
 * bytes) names the field at fault, in the words of docs/FORMAT.md. */
#ifndef OFFPASS_FORMAT_TRUST_H
#define OFFPASS_FORMAT_TRUST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include "compiler.h"
#include "format/format.h"

typedef struct ofp_trust_set {
	bool loaded;
	ofp_trust_list_t list;
	EVP_PKEY *keys[OFP_TRUST_MAX_ENTRIES]; /* entry i's key, loaded once */
} ofp_trust_set_t;

/* Decode a signed trust list strictly and load every key (a list with a
 * key that is not a valid point is refused whole). The signature is not
 * checked here: ofp_trust_set_accept does. t is zeroed first. */
bool ofp_trust_set_load(ofp_trust_set_t *t, const uint8_t *bytes, size_t len, char *why, size_t why_len) OFP_WUR;
void ofp_trust_set_free(ofp_trust_set_t *t);

/* The credential-signing entry kid of t, valid at now; its key (borrowed
 * from t) in *key. NULL when there is none. */
const ofp_trust_entry_t *ofp_trust_set_signer(const ofp_trust_set_t *t, const uint8_t kid[OFP_KEY_ID_LEN],
					      uint32_t now, uint32_t skew, EVP_PKEY **key) OFP_WUR;

/* May next take the place of cur? cur NULL or not loaded: next is the
 * first list, the anchor, and must be signed by a credential-signing key
 * of its own. Otherwise next must have a higher version than cur and be
 * signed by a credential-signing key of cur. Always: the signer valid at
 * now, next issued no more than max_ahead after now (a gate passes its
 * clock_skew: a list from the future would stretch the deny list's age
 * counted from it; a holder, which ages nothing from it, UINT32_MAX), at
 * least one credential-signing key in next (else no later list could
 * follow), and the signature verifies. */
bool ofp_trust_set_accept(const ofp_trust_set_t *cur, const ofp_trust_set_t *next, uint32_t now, uint32_t skew,
			  uint32_t max_ahead, char *why, size_t why_len) OFP_WUR;

/* Was credential c signed by t's credential-signing key it names, valid
 * at `at`? (The issuer signature over the credential's signed bytes.) */
bool ofp_trust_set_check_credential(const ofp_trust_set_t *t, const ofp_credential_t *c, uint32_t at,
				    uint32_t skew, char *why, size_t why_len) OFP_WUR;

#endif
