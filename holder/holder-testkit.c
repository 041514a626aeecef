/* holder-testkit.c - a software test issuer and checker for
 * tests/integration/holder.sh, so that the holder CLI is tested on its own:
 *
 *   holder-testkit issue REQUEST CREDENTIAL NOW [LIFETIME [PER_OP_MAX]]
 *       verify the enrollment request's proof of possession and write a
 *       credential for its key, valid [NOW-60, NOW+LIFETIME), signed by the
 *       fixed test issuer key;
 *   holder-testkit trust TRUSTLIST NOW
 *       write the test issuer's trust list (version 1, issued at NOW, its
 *       key for credential signing from NOW - 1 day for ten years, signed
 *       by itself): what a holder pins to check the credentials;
 *   holder-testkit check PRESENTATION
 *       decode it, verify the issuer and the holder signatures, print
 *       "type=2 size=213 serial=... counter=... amount=... time=...".
 *
 * Test code only (the issuer key is derived from a public name). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "cli.h"
#include "hex.h"
#include "format/format-testkit.h"

#define ISSUER_NAME "holder-test-issuer"

static int fail(const char *what, const char *why)
{
	fprintf(stderr, "holder-testkit: %s: %s\n", what, why);
	return 1;
}

static int issue(int argc, char **argv, const ofp_tk_key_t *issuer)
{
	unsigned char *req = NULL;
	size_t req_len = 0, len = 0;
	uint8_t out[OFP_CREDENTIAL_MAX];
	ofp_enrollment_t e;
	ofp_credential_t c;
	ofp_fmt_error_t fe;
	uint32_t now, lifetime = 86400, per_op_max = 500;
	int rv = 1;

	if (argc < 5)
		return fail("issue", "REQUEST CREDENTIAL NOW [LIFETIME [PER_OP_MAX]]");
	if (ofp_parse_u32(argv[4], UINT32_MAX, &now) != 0 ||
	    (argc > 5 && ofp_parse_u32(argv[5], UINT32_MAX, &lifetime) != 0) ||
	    (argc > 6 && ofp_parse_u32(argv[6], UINT32_MAX, &per_op_max) != 0))
		return fail("issue", "NOW, LIFETIME and PER_OP_MAX are whole numbers (u32)");
	if (file_read_all(argv[2], 4096, &req, &req_len) != 0)
		return fail(argv[2], "cannot read");
	if (ofp_enrollment_decode(req, req_len, &e, &fe) != OFP_FMT_OK) {
		rv = fail(argv[2], fe.reason);
		goto out;
	}
	if (!ofp_tk_enrollment_verifies(&e)) {
		rv = fail(argv[2], "the proof of possession does not verify");
		goto out;
	}
	if (!ofp_tk_enroll_code_verifies(&e)) {
		rv = fail(argv[2], "the enrollment code MAC is not the test code's (tests/vectors/README.md)");
		goto out;
	}
	memset(&c, 0, sizeof(c));
	c.holder_alg = e.holder_alg;
	c.serial = 77;
	memcpy(c.holder_id, e.holder_id, OFP_ID_LEN);
	memcpy(c.holder_key, e.holder_key, sizeof(c.holder_key));
	c.not_before = now - 60;
	c.not_after = now + lifetime;
	c.grant.resource_class = 1;
	c.grant.per_op_max = per_op_max;
	c.grant.offline_total = 20 * c.grant.per_op_max;
	if (ofp_tk_sign_credential(&c, issuer, &fe) != OFP_FMT_OK ||
	    ofp_credential_encode(&c, out, sizeof(out), &len, &fe) != OFP_FMT_OK) {
		rv = fail("issue", "cannot build the credential");
		goto out;
	}
	if (atomic_file_write(argv[3], out, len, 0644) != 0) {
		rv = fail(argv[3], "cannot write");
		goto out;
	}
	rv = 0;
out:
	free(req);
	return rv;
}

static int trust(int argc, char **argv, const ofp_tk_key_t *issuer)
{
	uint8_t out[OFP_TRUST_LIST_MAX];
	ofp_trust_list_t t;
	ofp_fmt_error_t fe;
	size_t len = 0;
	uint32_t now;

	if (argc < 4 || ofp_parse_u32(argv[3], UINT32_MAX - 3650u * 86400u, &now) != 0 || now < 86400)
		return fail("trust", "TRUSTLIST NOW (a whole number, a time)");
	memset(&t, 0, sizeof(t));
	t.version = 1;
	t.issued_at = now;
	t.count = 1;
	ofp_tk_trust_entry(&t.entries[0], issuer, OFP_USAGE_CREDENTIAL_SIGNING, now - 86400, now + 3650u * 86400u);
	if (ofp_tk_sign_trust_list(&t, issuer, &fe) != OFP_FMT_OK ||
	    ofp_trust_list_encode(&t, out, sizeof(out), &len, &fe) != OFP_FMT_OK)
		return fail("trust", fe.reason);
	if (atomic_file_write(argv[2], out, len, 0644) != 0)
		return fail(argv[2], "cannot write");
	return 0;
}

static int check(int argc, char **argv, const ofp_tk_key_t *issuer)
{
	unsigned char *in = NULL;
	size_t len = 0;
	char challenge[2 * OFP_CHALLENGE_MAX + 1];
	ofp_presentation_t p;
	ofp_fmt_error_t fe;
	int rv = 1;

	if (argc < 3)
		return fail("check", "PRESENTATION");
	if (file_read_all(argv[2], 4096, &in, &len) != 0)
		return fail(argv[2], "cannot read");
	if (ofp_presentation_decode(in, len, &p, &fe) != OFP_FMT_OK) {
		rv = fail(argv[2], fe.reason);
		goto out;
	}
	if (memcmp(p.cred.issuer_kid, issuer->kid, OFP_KEY_ID_LEN) != 0 ||
	    !ofp_tk_credential_verifies(&p.cred, issuer->alg, issuer->pub, issuer->pub_len)) {
		rv = fail(argv[2], "bad issuer signature");
		goto out;
	}
	if (!ofp_tk_authorization_verifies(&p)) {
		rv = fail(argv[2], "bad holder signature");
		goto out;
	}
	hex_encode(p.auth.challenge, p.auth.challenge_len, challenge);
	printf("type=%u size=%zu serial=%llu counter=%u amount=%u time=%u challenge=%s\n", in[0] >> 4, len,
	       (unsigned long long)p.cred.serial, (unsigned)p.auth.counter, (unsigned)p.auth.amount,
	       (unsigned)p.auth.time, challenge[0] ? challenge : "-");
	rv = 0;
out:
	free(in);
	return rv;
}

int main(int argc, char **argv)
{
	ofp_tk_key_t issuer;
	int rv;

	if (argc < 2)
		return fail("usage", "issue|trust|check ...");
	if (!ofp_tk_key_derive(&issuer, ISSUER_NAME, OFP_ALG_P256))
		return fail("issuer key", "OpenSSL failed");
	if (strcmp(argv[1], "issue") == 0)
		rv = issue(argc, argv, &issuer);
	else if (strcmp(argv[1], "trust") == 0)
		rv = trust(argc, argv, &issuer);
	else if (strcmp(argv[1], "check") == 0)
		rv = check(argc, argv, &issuer);
	else
		rv = fail(argv[1], "unknown command");
	ofp_tk_key_free(&issuer);
	return rv;
}
