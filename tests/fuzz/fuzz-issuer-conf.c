/* fuzz-issuer-conf.c - libFuzzer target for ofp_issuer_config_parse:
 * issuer.conf, the issuer's settings file.
 *
 * Properties: no crash, out-of-bounds access or leak; a refusal names the
 * file; what parses passes the cross-key check, and the text that
 * ofp_issuer_config_format writes for it parses back to the same
 * configuration. Built by tests/fuzz/run.sh. */
#include "fuzz.h"

#include "issuer/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static ofp_issuer_config_t c, back;
	char err[512], *text;

	memset(err, 0, sizeof(err));
	if (ofp_issuer_config_parse("issuer.conf", (const char *)data, size, &c, err, sizeof(err)) != 0) {
		fuzz_check_message(err, sizeof(err));
		FUZZ_ASSERT(strncmp(err, "issuer.conf", 11) == 0);
		return 0;
	}
	FUZZ_ASSERT(ofp_issuer_config_check(&c, err, sizeof(err)) == 0);
	FUZZ_ASSERT(c.signing_alg == OFP_ALG_P256 || c.signing_alg == OFP_ALG_ED25519);
	FUZZ_ASSERT(c.threshold >= 0 && c.threshold <= OFP_AMOUNT_MAX);
	FUZZ_ASSERT(memchr(c.module, '\0', sizeof(c.module)) && memchr(c.uri, '\0', sizeof(c.uri)) &&
		    memchr(c.token_label, '\0', sizeof(c.token_label)));
	text = ofp_issuer_config_format(&c);
	FUZZ_ASSERT(text != NULL);
	memset(err, 0, sizeof(err));
	if (ofp_issuer_config_parse("formatted", text, strlen(text), &back, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz: formatted issuer.conf refused (%s):\n%s", err, text);
		abort();
	}
	FUZZ_ASSERT(memcmp(&back, &c, sizeof(c)) == 0);
	free(text);
	return 0;
}
