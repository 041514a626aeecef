/* enroll.c - the holder key (generated inside the token, never exported)
 * and the enrollment request that carries its public key to the issuer
 * with a proof of possession signed by the token. */
#include "config.h"
#include "holder/holder.h"
#include "format/sig.h"

#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>

int ofp_holder_key_form(const ofp_p11_key_t *key, uint8_t *out, size_t *len, char *err, size_t err_len)
{
	ofp_fmt_error_t fe;

	if (key->alg == OFP_ALG_P256 && key->pub_len == OFP_P256_UNCOMPRESSED_LEN) {
		if (ofp_p256_compress(key->pub_raw, out, &fe) != OFP_FMT_OK) {
			snprintf(err, err_len, "holder key: public key: %s", fe.reason);
			return OFP_HOLDER_FAILED;
		}
		*len = OFP_P256_COMPRESSED_LEN;
		return OFP_HOLDER_OK;
	}
	if (key->alg == OFP_ALG_ED25519 && key->pub_len == OFP_ED25519_KEY_LEN) {
		if (!ofp_ed25519_point_ok(key->pub_raw)) {
			snprintf(err, err_len, "holder key: a non-canonical or small-order Ed25519 point, "
					       "which no issuer or gate accepts");
			return OFP_HOLDER_REFUSED;
		}
		memcpy(out, key->pub_raw, OFP_ED25519_KEY_LEN);
		*len = OFP_ED25519_KEY_LEN;
		return OFP_HOLDER_OK;
	}
	snprintf(err, err_len, "holder key: algorithm %u with a %zu-byte public key is not P-256 or Ed25519",
		 key->alg, key->pub_len);
	return OFP_HOLDER_FAILED;
}

/* Any key object (public or private) with this label. */
static int label_taken(ofp_p11_t *p, const char *label, bool *taken, char *err, size_t err_len)
{
	CK_FUNCTION_LIST *fn = ofp_p11_functions(p);
	CK_SESSION_HANDLE s = ofp_p11_session(p);
	static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY, CKO_PUBLIC_KEY };

	*taken = false;
	for (size_t i = 0; i < OFP_ARRAY_LEN(classes) && !*taken; i++) {
		CK_OBJECT_CLASS klass = classes[i];
		CK_ATTRIBUTE tmpl[] = {
			{ CKA_CLASS, &klass, sizeof(klass) },
			{ CKA_LABEL, (void *)label, strlen(label) },
		};
		CK_OBJECT_HANDLE h;
		CK_ULONG n = 0;
		CK_RV rv = fn->C_FindObjectsInit(s, tmpl, OFP_ARRAY_LEN(tmpl));
		if (rv == CKR_OK) {
			rv = fn->C_FindObjects(s, &h, 1, &n);
			CK_RV rv2 = fn->C_FindObjectsFinal(s);
			if (rv == CKR_OK)
				rv = rv2;
		}
		if (rv != CKR_OK) {
			snprintf(err, err_len, "token '%s': looking for key '%s': C_FindObjects: %s",
				 ofp_p11_token_label(p), label, ofp_p11_rv_name(rv));
			return OFP_HOLDER_FAILED;
		}
		*taken = n > 0;
	}
	return OFP_HOLDER_OK;
}

int ofp_holder_keygen(ofp_p11_t *p, unsigned alg, const char *label, ofp_p11_key_t *out, char *err,
		      size_t err_len)
{
	bool taken;

	if (alg != OFP_ALG_P256 && alg != OFP_ALG_ED25519) {
		snprintf(err, err_len, "keygen: algorithm %u is not P-256 or Ed25519", alg);
		return OFP_HOLDER_FAILED;
	}
	if (label_taken(p, label, &taken, err, err_len) != OFP_HOLDER_OK)
		return OFP_HOLDER_FAILED;
	if (taken) {
		snprintf(err, err_len,
			 "token '%s' already holds a key '%s': a holder key is never replaced; delete it "
			 "first (it cannot be recovered) or use another label or token",
			 ofp_p11_token_label(p), label);
		return OFP_HOLDER_REFUSED;
	}
	if (ofp_p11_generate_key(p, alg, OFP_P11_USE_SIGN, label, NULL, 0, out) != 0) {
		snprintf(err, err_len, "keygen: %s", ofp_p11_error(p));
		return OFP_HOLDER_FAILED;
	}
	return OFP_HOLDER_OK;
}

int ofp_holder_enroll(ofp_p11_t *p, const ofp_p11_key_t *key, const uint8_t holder_id[OFP_ID_LEN],
		      const uint8_t code[OFP_ENROLL_CODE_LEN], uint32_t now, uint8_t *out, size_t *len, char *err,
		      size_t err_len)
{
	ofp_enrollment_t e;
	ofp_fmt_error_t fe;
	uint8_t tbs[OFP_TBS_MAX], code_key[OFP_HASH_LEN];
	size_t tbs_len = 0, key_len = 0;
	int rv = OFP_HOLDER_FAILED;

	memset(&e, 0, sizeof(e));
	if (ofp_holder_key_form(key, e.holder_key, &key_len, err, err_len) != OFP_HOLDER_OK)
		goto out;
	e.holder_alg = (uint8_t)key->alg;
	memcpy(e.holder_id, holder_id, OFP_ID_LEN);
	e.time = now;
	if (ofp_enrollment_tbs(&e, tbs, sizeof(tbs), &tbs_len, &fe) != OFP_FMT_OK) {
		snprintf(err, err_len, "enrollment request: %s", fe.reason);
		goto out;
	}
	if (ofp_p11_sign(p, key, tbs, tbs_len, e.holder_sig) != 0) {
		snprintf(err, err_len, "enrollment request: signing: %s", ofp_p11_error(p));
		goto out;
	}
	/* The MAC covers what the signature covers: it binds the code to this
	 * key, holder id and time without sending the code. */
	if (code != NULL && (ofp_enroll_code_key(code, holder_id, code_key, &fe) != OFP_FMT_OK ||
			     ofp_enrollment_mac(&e, code_key, e.code_mac, &fe) != OFP_FMT_OK)) {
		snprintf(err, err_len, "enrollment request: %s", fe.reason);
		goto out;
	}
	if (ofp_enrollment_encode(&e, out, OFP_ENROLLMENT_MAX, len, &fe) != OFP_FMT_OK) {
		snprintf(err, err_len, "enrollment request: %s", fe.reason);
		goto out;
	}
	rv = OFP_HOLDER_OK;
out:
	OPENSSL_cleanse(code_key, sizeof(code_key));
	return rv;
}
