/* enroll_code.c - the enrollment code: its text form for people, and the
 * key and MAC by which an enrollment request proves knowledge of it
 * without carrying it (docs/FORMAT.md, "Enrollment request"). */
#include "config.h"
#include "format/format_internal.h"

#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>

static const char base32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

void ofp_enroll_code_text(const uint8_t code[OFP_ENROLL_CODE_LEN], char out[OFP_ENROLL_CODE_TEXT_LEN + 1])
{
	size_t o = 0, chars = 0;

	/* 20 bytes = 160 bits = 32 groups of 5 bits, no padding. */
	for (size_t i = 0; i < OFP_ENROLL_CODE_LEN; i += 5) {
		uint64_t v = 0;
		for (size_t j = 0; j < 5; j++)
			v = v << 8 | code[i + j];
		for (int k = 7; k >= 0; k--) {
			if (chars > 0 && chars % 4 == 0)
				out[o++] = '-';
			out[o++] = base32[(v >> (5 * k)) & 31];
			chars++;
		}
	}
	out[o] = '\0';
}

/* The 5-bit value of one character, or -1; -2 for a separator. */
static int char_value(char c)
{
	if (c == '-' || c == ' ' || c == '\t')
		return -2;
	if (c >= 'a' && c <= 'z')
		c = (char)(c - 'a' + 'A');
	if (c == '0')
		c = 'O';
	else if (c == '1')
		c = 'I';
	else if (c == '8')
		c = 'B';
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

ofp_fmt_rc_t ofp_enroll_code_parse(const char *text, uint8_t code[OFP_ENROLL_CODE_LEN], ofp_fmt_error_t *err)
{
	uint8_t vals[2 * OFP_ENROLL_CODE_LEN];
	size_t n = 0;

	memset(code, 0, OFP_ENROLL_CODE_LEN);
	for (const char *p = text; *p != '\0'; p++) {
		int v = char_value(*p);
		if (v == -2)
			continue;
		if (v == -1)
			return fmt_fail(err, OFP_FMT_EVALUE, "enrollment code", "text",
					"'%c' is not a code character (A-Z, 2-7)", (*p >= 0x20 && *p < 0x7f) ? *p : '?');
		if (n == 32)
			return fmt_fail(err, OFP_FMT_EVALUE, "enrollment code", "text", "more than 32 characters");
		vals[n++] = (uint8_t)v;
	}
	if (n != 32) {
		OPENSSL_cleanse(vals, sizeof(vals));
		return fmt_fail(err, OFP_FMT_EVALUE, "enrollment code", "text", "%zu characters, expected 32", n);
	}
	for (size_t g = 0; g < 4; g++) {
		uint64_t v = 0;
		for (size_t k = 0; k < 8; k++)
			v = v << 5 | vals[8 * g + k];
		for (size_t j = 0; j < 5; j++)
			code[5 * g + j] = (uint8_t)(v >> (8 * (4 - j)));
	}
	OPENSSL_cleanse(vals, sizeof(vals));
	return OFP_FMT_OK;
}

ofp_fmt_rc_t ofp_enroll_code_key(const uint8_t code[OFP_ENROLL_CODE_LEN], const uint8_t holder_id[OFP_ID_LEN],
				 uint8_t key[OFP_HASH_LEN], ofp_fmt_error_t *err)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5];
	ofp_fmt_rc_t rc = OFP_FMT_OK;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)code, OFP_ENROLL_CODE_LEN);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)OFP_ENROLL_CODE_HKDF_SALT,
						      strlen(OFP_ENROLL_CODE_HKDF_SALT));
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)holder_id, OFP_ID_LEN);
	params[4] = OSSL_PARAM_construct_end();
	if (ctx == NULL || EVP_KDF_derive(ctx, key, OFP_HASH_LEN, params) != 1)
		rc = fmt_fail(err, OFP_FMT_EINTERNAL, "enrollment code", "key", "HKDF-SHA256 failed (OpenSSL)");
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

ofp_fmt_rc_t ofp_enrollment_mac(const ofp_enrollment_t *e, const uint8_t key[OFP_HASH_LEN], uint8_t mac[OFP_HASH_LEN],
				ofp_fmt_error_t *err)
{
	uint8_t tbs[OFP_TBS_MAX];
	size_t tbs_len = 0;
	unsigned int mac_len = 0;
	ofp_fmt_rc_t rc = ofp_enrollment_tbs(e, tbs, sizeof(tbs), &tbs_len, err);

	if (rc != OFP_FMT_OK)
		return rc;
	if (HMAC(EVP_sha256(), key, OFP_HASH_LEN, tbs, tbs_len, mac, &mac_len) == NULL || mac_len != OFP_HASH_LEN)
		return fmt_fail(err, OFP_FMT_EINTERNAL, "enrollment", "code_mac", "HMAC-SHA256 failed (OpenSSL)");
	return OFP_FMT_OK;
}
