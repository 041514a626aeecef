/* api_parse.c - the issuer API's request parsers: bounded, strict, and
 * every refusal names the field. No ledger, no token, no socket. */
#include "config.h"
#include "issuer/api.h"
#include "format/sig.h"
#include "b64url.h"
#include "secmem.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int fault_set(ofp_api_fault_t *f, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fault_set(ofp_api_fault_t *f, const char *field, const char *fmt, ...)
{
	va_list ap;

	snprintf(f->field, sizeof(f->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(f->why, sizeof(f->why), fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- application/x-www-form-urlencoded ------------------------------------------ */

static int hex_nibble(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode [in, in+len) into out (cap bytes, NUL-terminated).
 * Refuses a bad escape, a NUL or a control character, and overflow. */
static int form_decode(const uint8_t *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int c = in[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;
			if (i + 2 >= len)
				return -1;
			hi = hex_nibble(in[i + 1]);
			lo = hex_nibble(in[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi << 4 | lo;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f || o + 1 >= cap)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* One name=value pair of the token request. */
static int token_pair(const uint8_t *p, size_t len, ofp_token_request_t *out, unsigned *seen, ofp_api_fault_t *f)
{
	const uint8_t *eq = memchr(p, '=', len);
	char name[32];
	size_t nlen;

	if (eq == NULL)
		return fault_set(f, "body", "a form field without '='");
	nlen = (size_t)(eq - p);
	if (form_decode(p, nlen, name, sizeof(name)) != 0)
		return 0; /* a name we do not know (too long to be ours) */
	p = eq + 1;
	len -= nlen + 1;
	if (strcmp(name, "grant_type") == 0) {
		if (*seen & 1)
			return fault_set(f, "grant_type", "given twice");
		*seen |= 1;
		if (form_decode(p, len, out->grant_type, sizeof(out->grant_type)) != 0)
			return fault_set(f, "grant_type", "too long or badly encoded");
	} else if (strcmp(name, "pre-authorized_code") == 0) {
		if (*seen & 2)
			return fault_set(f, "pre-authorized_code", "given twice");
		*seen |= 2;
		if (form_decode(p, len, out->code, sizeof(out->code)) != 0)
			return fault_set(f, "pre-authorized_code", "too long or badly encoded");
	} else if (strcmp(name, "tx_code") == 0) {
		if (*seen & 4)
			return fault_set(f, "tx_code", "given twice");
		*seen |= 4;
		if (form_decode(p, len, out->tx_code, sizeof(out->tx_code)) != 0)
			return fault_set(f, "tx_code", "too long or badly encoded");
	}
	return 0;
}

int ofp_api_parse_token_request(const uint8_t *body, size_t len, ofp_token_request_t *out, ofp_api_fault_t *fault)
{
	unsigned seen = 0;
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	if (len > OFP_API_JSON_MAX)
		return fault_set(fault, "body", "longer than %u bytes", OFP_API_JSON_MAX);
	while (i < len) {
		const uint8_t *amp = memchr(body + i, '&', len - i);
		size_t plen = amp != NULL ? (size_t)(amp - (body + i)) : len - i;
		if (plen > 0 && token_pair(body + i, plen, out, &seen, fault) != 0) {
			secmem_wipe(out->tx_code, sizeof(out->tx_code));
			return -1;
		}
		i += plen + 1;
	}
	if (!(seen & 1))
		return fault_set(fault, "grant_type", "missing");
	if (!(seen & 2) || out->code[0] == '\0')
		return fault_set(fault, "pre-authorized_code", "missing");
	if (!(seen & 4) || out->tx_code[0] == '\0')
		return fault_set(fault, "tx_code", "missing: the enrollment code the operator gave");
	return 0;
}

/* ---- the credential request (JSON) ---------------------------------------------------- */

static int credential_proofs(json_t *root, ofp_credential_request_t *out, ofp_api_fault_t *f)
{
	json_t *proofs = json_object_get(root, "proofs"), *jwts, *jwt;
	size_t n;

	if (json_object_get(root, "proof") != NULL)
		return fault_set(f, "proof", "the draft's single proof: send proofs.jwt (OpenID4VCI 1.0)");
	if (!json_is_object(proofs))
		return fault_set(f, "proofs", "missing or not an object");
	if (json_object_size(proofs) != 1)
		return fault_set(f, "proofs", "exactly one proof type (jwt)");
	jwts = json_object_get(proofs, "jwt");
	if (!json_is_array(jwts))
		return fault_set(f, "proofs.jwt", "missing or not an array (proof type jwt only)");
	if (json_array_size(jwts) != 1)
		return fault_set(f, "proofs.jwt", "one proof: one credential per request");
	jwt = json_array_get(jwts, 0);
	if (!json_is_string(jwt))
		return fault_set(f, "proofs.jwt[0]", "not a string");
	n = json_string_length(jwt);
	if (n == 0 || n > OFP_API_PROOF_MAX)
		return fault_set(f, "proofs.jwt[0]", "empty or longer than %u characters", OFP_API_PROOF_MAX);
	memcpy(out->proof_jwt, json_string_value(jwt), n);
	out->proof_jwt[n] = '\0';
	if (strlen(out->proof_jwt) != n)
		return fault_set(f, "proofs.jwt[0]", "contains a NUL");
	return 0;
}

static int credential_fields(json_t *root, ofp_credential_request_t *out, ofp_api_fault_t *f)
{
	json_t *id = json_object_get(root, "credential_configuration_id");
	json_t *cred = json_object_get(root, "offpass_credential");

	if (!json_is_object(root))
		return fault_set(f, "body", "not a JSON object");
	if (json_object_get(root, "credential_identifier") != NULL)
		return fault_set(f, "credential_identifier", "not supported: use credential_configuration_id");
	if (!json_is_string(id))
		return fault_set(f, "credential_configuration_id", "missing or not a string");
	if (strcmp(json_string_value(id), OFP_API_CONFIGURATION_ID) != 0)
		return fault_set(f, "credential_configuration_id", "unknown (this issuer has \"%s\")",
				 OFP_API_CONFIGURATION_ID);
	if (cred != NULL) {
		if (!json_is_string(cred) || json_string_length(cred) > B64URL_LEN(OFP_CREDENTIAL_MAX) ||
		    b64url_decode(json_string_value(cred), json_string_length(cred), out->credential,
				  sizeof(out->credential), &out->credential_len) != 0)
			return fault_set(f, "offpass_credential", "not a base64url credential");
		out->has_credential = true;
	}
	return credential_proofs(root, out, f);
}

int ofp_api_parse_credential_request(const uint8_t *body, size_t len, ofp_credential_request_t *out,
				     ofp_api_fault_t *fault)
{
	json_error_t jerr;
	json_t *root;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > OFP_API_JSON_MAX)
		return fault_set(fault, "body", "longer than %u bytes", OFP_API_JSON_MAX);
	root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return fault_set(fault, "body", "not JSON: %s at byte %d", jerr.text, jerr.position);
	rc = credential_fields(root, out, fault);
	json_decref(root);
	return rc;
}

/* ---- the proof JWT ------------------------------------------------------------------------ */

#define JWT_PART_MAX 1024

/* Decode one base64url part into a JSON object. */
static json_t *jwt_part(const char *s, size_t len, const char *field, ofp_api_fault_t *f)
{
	uint8_t buf[JWT_PART_MAX];
	size_t n;
	json_error_t jerr;
	json_t *obj;

	if (len > B64URL_LEN(sizeof(buf)) || b64url_decode(s, len, buf, sizeof(buf), &n) != 0) {
		fault_set(f, field, "not base64url, or longer than %u bytes", JWT_PART_MAX);
		return NULL;
	}
	obj = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(obj)) {
		json_decref(obj);
		fault_set(f, field, "not a JSON object");
		return NULL;
	}
	return obj;
}

/* A base64url member of a JWK of exactly len bytes. */
static int jwk_bytes(json_t *jwk, const char *name, uint8_t *out, size_t len, ofp_api_fault_t *f)
{
	json_t *v = json_object_get(jwk, name);
	char field[40];
	size_t n;

	snprintf(field, sizeof(field), "proof.header.jwk.%s", name);
	if (!json_is_string(v) || b64url_decode(json_string_value(v), json_string_length(v), out, len, &n) != 0 ||
	    n != len)
		return fault_set(f, field, "missing, not base64url or not %zu bytes", len);
	return 0;
}

static const char *jwk_str(json_t *jwk, const char *name)
{
	json_t *v = json_object_get(jwk, name);
	return json_is_string(v) ? json_string_value(v) : "";
}

/* The header's jwk, for alg, into the credential's key form. */
static int proof_key(json_t *jwk, ofp_proof_t *p, ofp_api_fault_t *f)
{
	uint8_t point[OFP_P256_UNCOMPRESSED_LEN];

	if (!json_is_object(jwk))
		return fault_set(f, "proof.header.jwk", "missing or not an object (the holder key)");
	if (json_object_get(jwk, "d") != NULL)
		return fault_set(f, "proof.header.jwk.d", "a private key: never send it");
	if (p->alg == OFP_ALG_P256) {
		if (strcmp(jwk_str(jwk, "kty"), "EC") != 0 || strcmp(jwk_str(jwk, "crv"), "P-256") != 0)
			return fault_set(f, "proof.header.jwk", "ES256 needs kty EC, crv P-256");
		point[0] = 0x04;
		if (jwk_bytes(jwk, "x", point + 1, 32, f) != 0 || jwk_bytes(jwk, "y", point + 33, 32, f) != 0)
			return -1;
		p->key[0] = (uint8_t)(0x02 | (point[64] & 1));
		memcpy(p->key + 1, point + 1, 32);
		p->key_len = OFP_P256_COMPRESSED_LEN;
	} else {
		if (strcmp(jwk_str(jwk, "kty"), "OKP") != 0 || strcmp(jwk_str(jwk, "crv"), "Ed25519") != 0)
			return fault_set(f, "proof.header.jwk", "EdDSA needs kty OKP, crv Ed25519");
		if (jwk_bytes(jwk, "x", p->key, OFP_ED25519_KEY_LEN, f) != 0)
			return -1;
		p->key_len = OFP_ED25519_KEY_LEN;
	}
	/* Parsed once, from the point as sent (no decompression), and kept
	 * for the signature check. */
	p->pkey = p->alg == OFP_ALG_P256 ? ofp_sig_public_key(p->alg, point, sizeof(point))
					 : ofp_sig_public_key(p->alg, p->key, p->key_len);
	if (p->pkey == NULL)
		return fault_set(f, "proof.header.jwk", "not a valid public key");
	return 0;
}

static int proof_header(json_t *h, ofp_proof_t *p, ofp_api_fault_t *f)
{
	static const char *const other_keys[] = { "kid", "x5c", "trust_chain", "key_attestation" };
	const char *alg = jwk_str(h, "alg");

	if (strcmp(jwk_str(h, "typ"), OFP_API_PROOF_TYP) != 0)
		return fault_set(f, "proof.header.typ", "must be \"%s\"", OFP_API_PROOF_TYP);
	if (strcmp(alg, "ES256") == 0)
		p->alg = OFP_ALG_P256;
	else if (strcmp(alg, "EdDSA") == 0 || strcmp(alg, "Ed25519") == 0)
		p->alg = OFP_ALG_ED25519;
	else
		return fault_set(f, "proof.header.alg", "must be ES256 or EdDSA");
	if (json_object_get(h, "crit") != NULL)
		return fault_set(f, "proof.header.crit", "no critical extension is understood here");
	for (size_t i = 0; i < sizeof(other_keys) / sizeof(other_keys[0]); i++)
		if (json_object_get(h, other_keys[i]) != NULL) {
			char field[40];
			snprintf(field, sizeof(field), "proof.header.%s", other_keys[i]);
			return fault_set(f, field, "the key is given by jwk alone");
		}
	return proof_key(json_object_get(h, "jwk"), p, f);
}

static int proof_payload(json_t *pl, ofp_proof_t *p, ofp_api_fault_t *f)
{
	json_t *aud = json_object_get(pl, "aud"), *iat = json_object_get(pl, "iat");
	json_t *nonce = json_object_get(pl, "nonce");

	if (!json_is_string(aud) || json_string_length(aud) >= sizeof(p->aud))
		return fault_set(f, "proof.payload.aud", "missing or not one string (the credential issuer)");
	snprintf(p->aud, sizeof(p->aud), "%s", json_string_value(aud));
	if (!json_is_integer(iat))
		return fault_set(f, "proof.payload.iat", "missing or not an integer");
	p->iat = (int64_t)json_integer_value(iat);
	if (!json_is_string(nonce) || json_string_length(nonce) == 0 || json_string_length(nonce) >= sizeof(p->nonce))
		return fault_set(f, "proof.payload.nonce", "missing or not a c_nonce of this issuer");
	snprintf(p->nonce, sizeof(p->nonce), "%s", json_string_value(nonce));
	return 0;
}

int ofp_api_parse_proof(const char *jwt, ofp_proof_t *out, ofp_api_fault_t *fault)
{
	const char *dot1 = strchr(jwt, '.'), *dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
	const char *sig;
	json_t *h = NULL, *pl = NULL;
	size_t n;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (dot2 == NULL || strchr(dot2 + 1, '.') != NULL)
		return fault_set(fault, "proof", "not a compact JWS (three parts)");
	sig = dot2 + 1;
	if (b64url_decode(sig, strlen(sig), out->sig, sizeof(out->sig), &n) != 0 || n != OFP_SIG_LEN)
		return fault_set(fault, "proof.signature", "not base64url of %d bytes", OFP_SIG_LEN);
	h = jwt_part(jwt, (size_t)(dot1 - jwt), "proof.header", fault);
	if (h != NULL)
		pl = jwt_part(dot1 + 1, (size_t)(dot2 - dot1 - 1), "proof.payload", fault);
	if (pl != NULL && proof_header(h, out, fault) == 0 && proof_payload(pl, out, fault) == 0) {
		out->signing_input = jwt;
		out->signing_input_len = (size_t)(dot2 - jwt);
		rc = 0;
	}
	if (rc != 0)
		ofp_api_proof_free(out);
	json_decref(h);
	json_decref(pl);
	return rc;
}

bool ofp_api_proof_verify(const ofp_proof_t *p)
{
	return p->pkey != NULL &&
	       ofp_sig_verify(p->pkey, p->alg, (const uint8_t *)p->signing_input, p->signing_input_len, p->sig);
}

void ofp_api_proof_free(ofp_proof_t *p)
{
	EVP_PKEY_free(p->pkey);
	p->pkey = NULL;
}
