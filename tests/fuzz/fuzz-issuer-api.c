/* fuzz-issuer-api.c - libFuzzer target for offpass-issuerd's request
 * parsers: what anyone on the network can send. The first byte picks the
 * parser (token form, credential request JSON, proof JWT, base64url); the
 * rest is the input.
 *
 * Properties: no crash, leak or out-of-bounds read; a refusal names a
 * field and says why (both terminated, non-empty); what a parser accepts
 * is within its bounds (a proof's key is 33 or 32 bytes for its
 * algorithm, its signing input a prefix of the JWT); base64url decodes
 * only what it would encode the same way. Built by tests/fuzz/run.sh. */
#include "fuzz.h"
#include "issuer/api.h"
#include "b64url.h"

static void check_fault(const ofp_api_fault_t *f)
{
	FUZZ_ASSERT(memchr(f->field, '\0', sizeof(f->field)) != NULL && f->field[0] != '\0');
	FUZZ_ASSERT(memchr(f->why, '\0', sizeof(f->why)) != NULL && f->why[0] != '\0');
}

static void fuzz_token(const uint8_t *data, size_t size)
{
	ofp_token_request_t t;
	ofp_api_fault_t f;

	memset(&f, 0, sizeof(f));
	if (ofp_api_parse_token_request(data, size, &t, &f) != 0) {
		check_fault(&f);
		return;
	}
	FUZZ_ASSERT(t.grant_type[0] != '\0' || memchr(t.grant_type, '\0', sizeof(t.grant_type)) != NULL);
	FUZZ_ASSERT(t.code[0] != '\0' && memchr(t.code, '\0', sizeof(t.code)) != NULL);
	FUZZ_ASSERT(t.tx_code[0] != '\0' && memchr(t.tx_code, '\0', sizeof(t.tx_code)) != NULL);
}

static void fuzz_proof_text(const char *jwt)
{
	ofp_proof_t p;
	ofp_api_fault_t f;

	memset(&f, 0, sizeof(f));
	if (ofp_api_parse_proof(jwt, &p, &f) != 0) {
		check_fault(&f);
		return;
	}
	FUZZ_ASSERT(p.alg == OFP_ALG_P256 || p.alg == OFP_ALG_ED25519);
	FUZZ_ASSERT(p.key_len == (p.alg == OFP_ALG_P256 ? 33u : 32u));
	FUZZ_ASSERT(p.signing_input == jwt && p.signing_input_len < strlen(jwt));
	FUZZ_ASSERT(jwt[p.signing_input_len] == '.');
	FUZZ_ASSERT(p.pkey != NULL);
	(void)ofp_api_proof_verify(&p);
	ofp_api_proof_free(&p);
	FUZZ_ASSERT(p.pkey == NULL);
}

static void fuzz_credential_request(const uint8_t *data, size_t size)
{
	static ofp_credential_request_t r;
	ofp_api_fault_t f;

	memset(&f, 0, sizeof(f));
	if (ofp_api_parse_credential_request(data, size, &r, &f) != 0) {
		check_fault(&f);
		return;
	}
	FUZZ_ASSERT(strlen(r.proof_jwt) > 0 && strlen(r.proof_jwt) <= OFP_API_PROOF_MAX);
	FUZZ_ASSERT(!r.has_credential || r.credential_len <= OFP_CREDENTIAL_MAX);
	fuzz_proof_text(r.proof_jwt);
}

static void fuzz_b64url(const uint8_t *data, size_t size)
{
	static uint8_t out[4096];
	static char back[B64URL_LEN(4096) + 1];
	size_t n;

	if (b64url_decode((const char *)data, size, out, sizeof(out), &n) != 0)
		return;
	b64url_encode(out, n, back);
	FUZZ_ASSERT(strlen(back) == size && memcmp(back, data, size) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size == 0)
		return 0;
	switch (data[0] % 4) {
	case 0: fuzz_token(data + 1, size - 1); break;
	case 1: fuzz_credential_request(data + 1, size - 1); break;
	case 2:
		text = malloc(size);
		FUZZ_ASSERT(text != NULL);
		memcpy(text, data + 1, size - 1);
		text[size - 1] = '\0';
		fuzz_proof_text(text);
		free(text);
		break;
	default: fuzz_b64url(data + 1, size - 1); break;
	}
	return 0;
}
