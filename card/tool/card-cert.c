/* card-cert.c - the key slot's certificate, self-signed by the card: the
 * private key never leaves it. OpenSSL builds the TBSCertificate for the
 * card's public key and encodes the final certificate; between the two the
 * card signs the TBS hash through GENERAL AUTHENTICATE. (yubico-piv-tool's
 * selfsign does the same, and fails on OpenSSL 3: Yubico/yubico-piv-tool#388.) */
#include "config.h"
#include "card/tool/card.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define MAX_DAYS 36500u

uint32_t ofp_card_cert_object(uint8_t slot)
{
	switch (slot) {
	case OFP_PIV_SLOT_AUTH:
		return OFP_PIV_OBJ_CERT_9A;
	case OFP_PIV_SLOT_SIGN:
		return OFP_PIV_OBJ_CERT_9C;
	case OFP_PIV_SLOT_KEYMGMT:
		return OFP_PIV_OBJ_CERT_9D;
	case OFP_PIV_SLOT_CARDAUTH:
		return OFP_PIV_OBJ_CERT_9E;
	default:
		return 0;
	}
}

/* The public key as OpenSSL holds it. */
static EVP_PKEY *p256_public(const uint8_t pub[OFP_PIV_P256_POINT_LEN])
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *key = NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pub, OFP_PIV_P256_POINT_LEN),
		OSSL_PARAM_construct_end(),
	};

	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
		key = NULL;
	EVP_PKEY_CTX_free(ctx);
	return key;
}

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext == NULL)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

/* A positive random 16-byte serial (RFC 5280 4.1.2.2: at most 20 bytes). */
static int random_serial(X509 *x)
{
	BIGNUM *bn = BN_new();
	int rv = -1;

	if (bn != NULL && BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL)
		rv = 0;
	BN_free(bn);
	return rv;
}

/* Both AlgorithmIdentifiers (in the TBS and around the signature) say
 * ecdsa-with-SHA256. X509_sign would set them, but it needs the private
 * key; the card has it, so they are set here through the pointers OpenSSL
 * hands out for the certificate being built. */
static int set_sig_algs(X509 *x)
{
	const ASN1_BIT_STRING *sig;
	const X509_ALGOR *outer;
	X509_ALGOR *tbs = (X509_ALGOR *)X509_get0_tbs_sigalg(x);

	X509_get0_signature(&sig, &outer, x);
	if (X509_ALGOR_set0(tbs, OBJ_nid2obj(NID_ecdsa_with_SHA256), V_ASN1_UNDEF, NULL) != 1 ||
	    X509_ALGOR_set0((X509_ALGOR *)outer, OBJ_nid2obj(NID_ecdsa_with_SHA256), V_ASN1_UNDEF, NULL) != 1)
		return -1;
	return 0;
}

/* Everything but the signature. */
static X509 *build_tbs(EVP_PKEY *key, const char *subject, unsigned days, time_t now)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	bool ok = x != NULL && name != NULL && X509_set_version(x, X509_VERSION_3) == 1 && random_serial(x) == 0 &&
		  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)subject, -1, -1, 0) ==
			  1 &&
		  X509_set_subject_name(x, name) == 1 && X509_set_issuer_name(x, name) == 1 &&
		  X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &now) != NULL &&
		  X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, &now) != NULL && X509_set_pubkey(x, key) == 1 &&
		  add_ext(x, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
		  add_ext(x, NID_key_usage, "critical,digitalSignature") == 0 &&
		  add_ext(x, NID_subject_key_identifier, "hash") == 0 && set_sig_algs(x) == 0;

	X509_NAME_free(name);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* The card's DER signature over SHA-256(TBS), put in place. */
static int card_signs(ofp_piv_t *p, uint8_t slot, const char *pin, X509 *x, char *err, size_t err_len)
{
	unsigned char *tbs = NULL;
	uint8_t digest[32], sig[OFP_PIV_SIG_MAX];
	size_t sig_len = 0;
	const ASN1_BIT_STRING *bits;
	const X509_ALGOR *alg;
	int tbs_len = i2d_re_X509_tbs(x, &tbs);
	int rv = OFP_CARD_FAILED;

	if (tbs_len <= 0 || EVP_Digest(tbs, (size_t)tbs_len, digest, NULL, EVP_sha256(), NULL) != 1) {
		snprintf(err, err_len, "certificate: cannot encode the TBSCertificate (OpenSSL)");
		goto out;
	}
	/* The VERIFY right before the signature: a PIN-always key (9C) asks for it. */
	if (ofp_piv_verify_pin(p, pin) != OFP_PIV_OK ||
	    ofp_piv_sign(p, slot, digest, sizeof(digest), sig, &sig_len) != OFP_PIV_OK) {
		snprintf(err, err_len, "reader '%s': certificate: %s", ofp_piv_reader(p), ofp_piv_error(p));
		goto out;
	}
	X509_get0_signature(&bits, &alg, x);
	if (ASN1_BIT_STRING_set((ASN1_BIT_STRING *)bits, sig, (int)sig_len) != 1) {
		snprintf(err, err_len, "certificate: out of memory");
		goto out;
	}
	/* No unused bits in the last byte. */
	((ASN1_BIT_STRING *)bits)->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	((ASN1_BIT_STRING *)bits)->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	rv = OFP_CARD_OK;
out:
	OPENSSL_free(tbs);
	return rv;
}

int ofp_card_selfsign(ofp_piv_t *p, uint8_t slot, const uint8_t pub[OFP_PIV_P256_POINT_LEN], const char *pin,
		      const char *subject, unsigned days, time_t now, uint8_t **der, size_t *der_len, char *err,
		      size_t err_len)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	unsigned char *out = NULL;
	int len, rv = OFP_CARD_FAILED;

	*der = NULL;
	*der_len = 0;
	if (subject == NULL || subject[0] == '\0' || strlen(subject) > 64 || days == 0 || days > MAX_DAYS) {
		snprintf(err, err_len, "certificate: the subject must be 1 to 64 characters and the validity 1 to "
				       "%u days", MAX_DAYS);
		return OFP_CARD_FAILED;
	}
	key = p256_public(pub);
	if (key == NULL) {
		snprintf(err, err_len, "certificate: the card's public key is not a P-256 point");
		goto out;
	}
	x = build_tbs(key, subject, days, now);
	if (x == NULL) {
		snprintf(err, err_len, "certificate: cannot build it for '%s' (OpenSSL)", subject);
		goto out;
	}
	if (card_signs(p, slot, pin, x, err, err_len) != OFP_CARD_OK)
		goto out;
	/* The card signed with the key it says it has: check before storing. */
	if (X509_verify(x, key) != 1) {
		snprintf(err, err_len, "reader '%s': certificate: the card's signature does not verify with the "
				       "public key of slot %02X", ofp_piv_reader(p), slot);
		goto out;
	}
	len = i2d_X509(x, &out);
	if (len <= 0) {
		snprintf(err, err_len, "certificate: cannot encode it (OpenSSL)");
		goto out;
	}
	*der = malloc((size_t)len);
	if (*der == NULL) {
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	memcpy(*der, out, (size_t)len);
	*der_len = (size_t)len;
	rv = OFP_CARD_OK;
out:
	OPENSSL_free(out);
	X509_free(x);
	EVP_PKEY_free(key);
	return rv;
}

int ofp_card_store_cert(ofp_piv_t *p, uint8_t slot, const uint8_t *der, size_t len, char *err, size_t err_len)
{
	static const uint8_t tail[] = { 0x71, 0x01, 0x00, 0xfe, 0x00 }; /* not compressed; no LRC */
	uint8_t *obj = malloc(len + 16);
	size_t n = 0;
	int rv = OFP_CARD_FAILED;

	if (obj == NULL) {
		snprintf(err, err_len, "out of memory");
		return OFP_CARD_FAILED;
	}
	if (ofp_card_cert_object(slot) == 0 || ofp_tlv_put(obj, len + 16, &n, 0x70, der, len) != 0) {
		snprintf(err, err_len, "certificate: slot %02X has no certificate object, or the certificate is "
				       "too long", slot);
		goto out;
	}
	memcpy(obj + n, tail, sizeof(tail));
	n += sizeof(tail);
	if (ofp_piv_put_data(p, ofp_card_cert_object(slot), obj, n) != OFP_PIV_OK) {
		snprintf(err, err_len, "reader '%s': storing the certificate: %s", ofp_piv_reader(p),
			 ofp_piv_error(p));
		goto out;
	}
	rv = OFP_CARD_OK;
out:
	free(obj);
	return rv;
}
