/* fuzz-credential.c - libFuzzer target for the credential decoder: the
 * issuer-signed part of every presentation, and what the holder stores.
 *
 * Properties: decoding never crashes or reads out of bounds; a refusal
 * carries its code and a reason; what decodes is canonical (re-encoding
 * gives the input back, and that decodes to the same credential), and its
 * signed message and digest can be computed. Built by tests/fuzz/run.sh. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[OFP_CREDENTIAL_MAX], tbs[OFP_TBS_MAX];
	uint8_t digest[OFP_HASH_LEN], again[OFP_HASH_LEN];
	ofp_credential_t c, back;
	ofp_fmt_error_t err;
	ofp_fmt_rc_t rc;
	size_t len;

	memset(&err, 0, sizeof(err));
	rc = ofp_credential_decode(data, size, &c, &err);
	if (rc != OFP_FMT_OK) {
		fuzz_check_refusal(rc, &err);
		return 0;
	}
	FUZZ_ASSERT(size <= OFP_CREDENTIAL_MAX);
	FUZZ_ASSERT(ofp_credential_encode(&c, NULL, 0, &len, NULL) == OFP_FMT_OK && len == size);
	FUZZ_ASSERT(ofp_credential_encode(&c, out, sizeof(out), &len, NULL) == OFP_FMT_OK);
	FUZZ_ASSERT(len == size && memcmp(out, data, size) == 0);
	FUZZ_ASSERT(ofp_credential_decode(out, len, &back, NULL) == OFP_FMT_OK);
	FUZZ_ASSERT(memcmp(&back, &c, sizeof(c)) == 0);
	FUZZ_ASSERT(c.not_before < c.not_after);
	FUZZ_ASSERT(ofp_holder_key_len(c.holder_alg) != 0);
	FUZZ_ASSERT(ofp_credential_tbs(&c, tbs, sizeof(tbs), &len, NULL) == OFP_FMT_OK);
	FUZZ_ASSERT(len == strlen(OFP_DOMAIN_CREDENTIAL) + size - OFP_SIG_LEN);
	FUZZ_ASSERT(memcmp(tbs + strlen(OFP_DOMAIN_CREDENTIAL), data, size - OFP_SIG_LEN) == 0);
	FUZZ_ASSERT(ofp_credential_digest(&c, digest, NULL) == OFP_FMT_OK);
	FUZZ_ASSERT(ofp_sha256(data, size, again) && memcmp(digest, again, OFP_HASH_LEN) == 0);
	return 0;
}
