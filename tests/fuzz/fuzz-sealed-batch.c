/* fuzz-sealed-batch.c - libFuzzer target for the sealed batch decoder: the
 * envelope the issuer reads from any gate before it verifies or opens it.
 *
 * Properties: no crash or out-of-bounds read, whatever the lengths claim;
 * a refusal carries its code and a reason; what decodes is canonical
 * (re-encoding gives the input back, and that decodes to the same
 * envelope); the ciphertext is borrowed from inside the input; the AAD is
 * the first 86 bytes; the signed message is the domain string then the
 * envelope before the signature. Built by tests/fuzz/run.sh. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t aad[OFP_SEALED_BATCH_AAD_LEN], *buf;
	ofp_sealed_batch_t s, back;
	ofp_fmt_error_t err;
	ofp_fmt_rc_t rc;
	size_t len, dom = strlen(OFP_DOMAIN_SEALED_BATCH);

	memset(&err, 0, sizeof(err));
	rc = ofp_sealed_batch_decode(data, size, &s, &err);
	if (rc != OFP_FMT_OK) {
		fuzz_check_refusal(rc, &err);
		return 0;
	}
	FUZZ_ASSERT(size == OFP_SEALED_BATCH_OVERHEAD + (size_t)s.ciphertext_len);
	FUZZ_ASSERT(s.ciphertext == data + OFP_SEALED_BATCH_AAD_LEN);
	FUZZ_ASSERT(s.sequence >= 1 && s.period_start <= s.period_end && s.record_count <= OFP_BATCH_MAX_RECORDS);
	buf = malloc(size + dom);
	FUZZ_ASSERT(buf != NULL);
	FUZZ_ASSERT(ofp_sealed_batch_encode(&s, buf, size, &len, NULL) == OFP_FMT_OK);
	FUZZ_ASSERT(len == size && memcmp(buf, data, size) == 0);
	FUZZ_ASSERT(ofp_sealed_batch_decode(buf, len, &back, NULL) == OFP_FMT_OK);
	FUZZ_ASSERT(back.ciphertext == buf + OFP_SEALED_BATCH_AAD_LEN);
	back.ciphertext = s.ciphertext;
	FUZZ_ASSERT(memcmp(&back, &s, sizeof(s)) == 0);
	FUZZ_ASSERT(ofp_sealed_batch_aad(&s, aad, NULL) == OFP_FMT_OK);
	FUZZ_ASSERT(memcmp(aad, data, sizeof(aad)) == 0);
	FUZZ_ASSERT(ofp_sealed_batch_tbs(&s, buf, size + dom, &len, NULL) == OFP_FMT_OK);
	FUZZ_ASSERT(len == dom + size - OFP_SIG_LEN && memcmp(buf + dom, data, size - OFP_SIG_LEN) == 0);
	free(buf);
	return 0;
}
