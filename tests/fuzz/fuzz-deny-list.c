/* fuzz-deny-list.c - libFuzzer target for the deny list decoder: up to a
 * million entries a verifier installs and searches in place.
 *
 * Properties: no crash or out-of-bounds read, whatever the count claims;
 * a refusal carries its code and a reason; what decodes is canonical
 * (re-encoding gives the input back, and that decodes to the same list);
 * the entries are already normalized; the search finds every entry and
 * nothing that is not one; the signed message is the domain string then
 * the list before the signature. Built by tests/fuzz/run.sh. */
#include "fuzz.h"

static void check_search(const ofp_deny_list_t *d)
{
	size_t n = (size_t)d->count * OFP_DENY_ENTRY_LEN;
	uint8_t probe[OFP_DENY_ENTRY_LEN], *copy = malloc(n + 1);

	FUZZ_ASSERT(copy != NULL);
	if (n > 0)
		memcpy(copy, d->entries, n);
	FUZZ_ASSERT(ofp_deny_entries_normalize(copy, d->count) == d->count);
	FUZZ_ASSERT(n == 0 || memcmp(copy, d->entries, n) == 0);
	free(copy);
	for (uint32_t i = 0; i < d->count; i++) {
		const uint8_t *e = d->entries + (size_t)i * OFP_DENY_ENTRY_LEN;

		FUZZ_ASSERT(ofp_deny_list_contains(d, e));
		/* The next value up is in the list only as the next entry. */
		memcpy(probe, e, sizeof(probe));
		for (int k = OFP_DENY_ENTRY_LEN - 1; k >= 1 && ++probe[k] == 0; k--)
			;
		bool next_is = i + 1 < d->count && memcmp(e + OFP_DENY_ENTRY_LEN, probe, sizeof(probe)) == 0;
		FUZZ_ASSERT(ofp_deny_list_contains(d, probe) == next_is || memcmp(probe, e, sizeof(probe)) < 0);
	}
	memset(probe, 0, sizeof(probe)); /* kind 0 never appears */
	FUZZ_ASSERT(!ofp_deny_list_contains(d, probe));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ofp_deny_list_t d, back;
	ofp_fmt_error_t err;
	ofp_fmt_rc_t rc;
	uint8_t *buf;
	size_t len, dom = strlen(OFP_DOMAIN_DENY_LIST);

	memset(&err, 0, sizeof(err));
	rc = ofp_deny_list_decode(data, size, &d, &err);
	if (rc != OFP_FMT_OK) {
		fuzz_check_refusal(rc, &err);
		return 0;
	}
	FUZZ_ASSERT(d.version >= 1 && d.count <= OFP_DENY_MAX_ENTRIES);
	FUZZ_ASSERT(d.count == 0 || (d.entries >= data && d.entries + (size_t)d.count * OFP_DENY_ENTRY_LEN <= data + size));
	buf = malloc(size + dom);
	FUZZ_ASSERT(buf != NULL);
	FUZZ_ASSERT(ofp_deny_list_encode(&d, buf, size, &len, NULL) == OFP_FMT_OK);
	FUZZ_ASSERT(len == size && memcmp(buf, data, size) == 0);
	FUZZ_ASSERT(ofp_deny_list_decode(buf, len, &back, NULL) == OFP_FMT_OK);
	FUZZ_ASSERT(back.version == d.version && back.issued_at == d.issued_at && back.count == d.count);
	FUZZ_ASSERT(memcmp(back.signer_kid, d.signer_kid, OFP_KEY_ID_LEN) == 0);
	FUZZ_ASSERT(memcmp(back.issuer_sig, d.issuer_sig, OFP_SIG_LEN) == 0);
	FUZZ_ASSERT(d.count == 0 || back.entries == buf + (d.entries - data));
	FUZZ_ASSERT(ofp_deny_list_tbs(&d, buf, size + dom, &len, NULL) == OFP_FMT_OK);
	FUZZ_ASSERT(len == dom + size - OFP_SIG_LEN && memcmp(buf + dom, data, size - OFP_SIG_LEN) == 0);
	free(buf);
	check_search(&d);
	return 0;
}
