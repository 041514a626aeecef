/* fuzz-trust-list.c - libFuzzer target for the trust list decoder: the
 * issuer keys a verifier installs, read before any signature is checked.
 *
 * Properties: no crash or out-of-bounds read; a refusal carries its code
 * and a reason; what decodes is canonical (re-encoding gives the input
 * back, and that decodes to the same list); entries are sorted and each
 * key id is its key's; every entry is found by its key id and nothing
 * else is; the signed message is the domain string then the list before
 * the signature. Built by tests/fuzz/run.sh. */
#include "fuzz.h"

static void check_lookup(const ofp_trust_list_t *t)
{
	static ofp_trust_list_t sorted;
	uint8_t kid[OFP_KEY_ID_LEN];

	for (unsigned i = 0; i < t->count; i++) {
		const ofp_trust_entry_t *e = &t->entries[i];

		FUZZ_ASSERT(ofp_trust_list_find(t, e->kid) == e);
		FUZZ_ASSERT(ofp_key_id(e->alg, e->key, ofp_trust_key_len(e->alg), kid, NULL) == OFP_FMT_OK);
		FUZZ_ASSERT(memcmp(kid, e->kid, OFP_KEY_ID_LEN) == 0);
		/* A neighbour id: found only if it is another entry's. */
		memcpy(kid, e->kid, OFP_KEY_ID_LEN);
		kid[OFP_KEY_ID_LEN - 1] ^= 1;
		const ofp_trust_entry_t *n = ofp_trust_list_find(t, kid);
		FUZZ_ASSERT(n == NULL || memcmp(n->kid, kid, OFP_KEY_ID_LEN) == 0);
	}
	sorted = *t;
	ofp_trust_list_sort(&sorted);
	FUZZ_ASSERT(memcmp(&sorted, t, sizeof(*t)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[OFP_TRUST_LIST_MAX], tbs[OFP_TRUST_LIST_MAX + 32];
	static ofp_trust_list_t t, back;
	ofp_fmt_error_t err;
	ofp_fmt_rc_t rc;
	size_t len, dom = strlen(OFP_DOMAIN_TRUST_LIST);

	memset(&err, 0, sizeof(err));
	rc = ofp_trust_list_decode(data, size, &t, &err);
	if (rc != OFP_FMT_OK) {
		fuzz_check_refusal(rc, &err);
		return 0;
	}
	FUZZ_ASSERT(size <= OFP_TRUST_LIST_MAX);
	FUZZ_ASSERT(t.version >= 1 && t.count >= 1 && t.count <= OFP_TRUST_MAX_ENTRIES);
	FUZZ_ASSERT(ofp_trust_list_encode(&t, out, sizeof(out), &len, NULL) == OFP_FMT_OK);
	FUZZ_ASSERT(len == size && memcmp(out, data, size) == 0);
	FUZZ_ASSERT(ofp_trust_list_decode(out, len, &back, NULL) == OFP_FMT_OK);
	FUZZ_ASSERT(memcmp(&back, &t, sizeof(t)) == 0);
	FUZZ_ASSERT(ofp_trust_list_tbs(&t, tbs, sizeof(tbs), &len, NULL) == OFP_FMT_OK);
	FUZZ_ASSERT(len == dom + size - OFP_SIG_LEN && memcmp(tbs + dom, data, size - OFP_SIG_LEN) == 0);
	check_lookup(&t);
	return 0;
}
