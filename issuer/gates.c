/* gates.c - the registry of gates: each verifier id with the public key
 * that signs its sealed batches, so a gate cannot be impersonated. */
#include "config.h"
#include "issuer/internal.h"
#include "hex.h"
#include "format/sig.h"

#include <string.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* The key in its trust-list form: 65-byte uncompressed P-256, or 32-byte
 * Ed25519. A P-256 key must be on the curve (ofp_sig_public_key checks). */
static ofp_issuer_rc_t from_pkey(ofp_issuer_t *iss, EVP_PKEY *pk, ofp_gate_t *g)
{
	char group[32] = "";
	size_t len = 0;

	if (EVP_PKEY_is_a(pk, "ED25519")) {
		len = OFP_ED25519_KEY_LEN;
		if (EVP_PKEY_get_raw_public_key(pk, g->key, &len) != 1 || len != OFP_ED25519_KEY_LEN)
			return iss_fail(iss, OFP_ISSUER_REFUSED, "gate key: unreadable Ed25519 key");
		g->alg = OFP_ALG_ED25519;
		g->key_len = len;
		return OFP_ISSUER_OK;
	}
	if (!EVP_PKEY_is_a(pk, "EC") || EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group,
									 sizeof(group), NULL) != 1 ||
	    strcmp(group, "prime256v1") != 0)
		return iss_fail(iss, OFP_ISSUER_REFUSED, "gate key: not a P-256 or Ed25519 key%s%s",
				group[0] != '\0' ? " (curve " : "", group[0] != '\0' ? group : "");
	if (EVP_PKEY_set_utf8_string_param(pk, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
					   OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED) != 1 ||
	    EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, g->key, sizeof(g->key), &len) != 1 ||
	    len != OFP_P256_UNCOMPRESSED_LEN)
		return iss_fail(iss, OFP_ISSUER_REFUSED, "gate key: cannot read the P-256 point");
	g->alg = OFP_ALG_P256;
	g->key_len = len;
	return OFP_ISSUER_OK;
}

/* Raw bytes: the length says the form. */
static EVP_PKEY *raw_key(const uint8_t *data, size_t len)
{
	if (len == OFP_P256_UNCOMPRESSED_LEN || len == OFP_P256_COMPRESSED_LEN)
		return ofp_sig_public_key(OFP_ALG_P256, data, len);
	if (len == OFP_ED25519_KEY_LEN)
		return ofp_sig_public_key(OFP_ALG_ED25519, data, len);
	return NULL;
}

/* Hex text of a raw key (whitespace around it is ignored). */
static EVP_PKEY *hex_key(const uint8_t *data, size_t len)
{
	char text[2 * OFP_P256_UNCOMPRESSED_LEN + 1];
	uint8_t raw[OFP_P256_UNCOMPRESSED_LEN];
	size_t n = 0;

	while (len > 0 && strchr(" \t\r\n", data[len - 1]) != NULL)
		len--;
	while (len > 0 && strchr(" \t\r\n", data[0]) != NULL) {
		data++;
		len--;
	}
	if (len >= sizeof(text) + 1 || len % 2 != 0)
		return NULL;
	memcpy(text, data, len);
	text[len] = '\0';
	if (hex_decode_var(text, raw, sizeof(raw), &n) != 0)
		return NULL;
	return raw_key(raw, n);
}

ofp_issuer_rc_t ofp_issuer_parse_gate_key(ofp_issuer_t *iss, const uint8_t *data, size_t len, ofp_gate_t *out)
{
	const unsigned char *p = data;
	EVP_PKEY *pk = NULL;
	ofp_fmt_error_t ferr;
	ofp_issuer_rc_t rc;

	memset(out, 0, sizeof(*out));
	if (len >= 10 && memcmp(data, "-----BEGIN", 10) == 0) {
		BIO *bio = BIO_new_mem_buf(data, (int)len);
		pk = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
		BIO_free(bio);
	} else if (len <= OFP_P256_UNCOMPRESSED_LEN) {
		pk = raw_key(data, len);
	}
	if (pk == NULL && len > 0 && data[0] == 0x30)
		pk = d2i_PUBKEY(NULL, &p, (long)len);
	if (pk == NULL)
		pk = hex_key(data, len);
	if (pk == NULL)
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"gate key: not a public key (expected 65, 33 or 32 raw bytes, hex, or PEM/DER "
				"SubjectPublicKeyInfo; %zu bytes given)",
				len);
	rc = from_pkey(iss, pk, out);
	EVP_PKEY_free(pk);
	if (rc == OFP_ISSUER_OK && ofp_key_id(out->alg, out->key, out->key_len, out->kid, &ferr) != OFP_FMT_OK)
		rc = iss_fail(iss, OFP_ISSUER_REFUSED, "gate key: %s", ferr.reason);
	return rc;
}

ofp_issuer_rc_t ofp_issuer_gate_add(ofp_issuer_t *iss, const uint8_t verifier_id[OFP_ID_LEN], const uint8_t *key,
				    size_t key_len, bool replace, ofp_gate_t *out)
{
	ofp_gate_t g;
	ofp_issuer_rc_t rc = ofp_issuer_parse_gate_key(iss, key, key_len, &g);

	if (rc != OFP_ISSUER_OK)
		return rc;
	memcpy(g.verifier_id, verifier_id, OFP_ID_LEN);
	g.added = iss->now;
	rc = iss_ledger_fail(iss, ofp_ledger_gate_add(iss->ledger, &g, replace));
	if (rc == OFP_ISSUER_OK && out != NULL)
		*out = g;
	return rc;
}
