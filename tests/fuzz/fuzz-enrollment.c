/* fuzz-enrollment.c - libFuzzer target for the enrollment request decoder:
 * what the issuer reads from any holder that asks for a credential.
 *
 * Properties: no crash or out-of-bounds read; a refusal carries its code
 * and a reason; what decodes is canonical (re-encoding gives the input
 * back, and that decodes to the same request), and its signed message is
 * the domain string then the request before the signature (which the
 * code MAC follows, version 2). Built by tests/fuzz/run.sh. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[OFP_ENROLLMENT_MAX], tbs[OFP_TBS_MAX];
	ofp_enrollment_t e, back;
	ofp_fmt_error_t err;
	ofp_fmt_rc_t rc;
	size_t len;

	memset(&err, 0, sizeof(err));
	rc = ofp_enrollment_decode(data, size, &e, &err);
	if (rc != OFP_FMT_OK) {
		fuzz_check_refusal(rc, &err);
		return 0;
	}
	FUZZ_ASSERT(size <= OFP_ENROLLMENT_MAX);
	FUZZ_ASSERT(ofp_enrollment_encode(&e, out, sizeof(out), &len, NULL) == OFP_FMT_OK);
	FUZZ_ASSERT(len == size && memcmp(out, data, size) == 0);
	FUZZ_ASSERT(ofp_enrollment_decode(out, len, &back, NULL) == OFP_FMT_OK);
	FUZZ_ASSERT(memcmp(&back, &e, sizeof(e)) == 0);
	FUZZ_ASSERT(ofp_enrollment_tbs(&e, tbs, sizeof(tbs), &len, NULL) == OFP_FMT_OK);
	FUZZ_ASSERT(size >= OFP_SIG_LEN + OFP_HASH_LEN);
	FUZZ_ASSERT(len == strlen(OFP_DOMAIN_ENROLLMENT) + size - OFP_SIG_LEN - OFP_HASH_LEN);
	FUZZ_ASSERT(memcmp(tbs + strlen(OFP_DOMAIN_ENROLLMENT), data, size - OFP_SIG_LEN - OFP_HASH_LEN) == 0);
	FUZZ_ASSERT(memcmp(data + size - OFP_SIG_LEN - OFP_HASH_LEN, e.holder_sig, OFP_SIG_LEN) == 0);
	FUZZ_ASSERT(memcmp(data + size - OFP_HASH_LEN, e.code_mac, OFP_HASH_LEN) == 0);
	return 0;
}
