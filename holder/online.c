/* online.c - refresh through offpass-issuerd (OpenID4VCI pre-authorized
 * code flow, refresh by proof of possession). */
#include "config.h"
#include "holder/online.h"
#include "b64url.h"
#include "cli.h"
#include "hex.h"

#include <inttypes.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ISSUER_URL_MAX 256

typedef struct endpoints {
	char issuer[ISSUER_URL_MAX];
	char nonce[ISSUER_URL_MAX + 64];
	char credential[ISSUER_URL_MAX + 64];
	char token[ISSUER_URL_MAX + 64];
	char trust[ISSUER_URL_MAX + 64]; /* "" when the issuer names none */
} endpoints_t;

static int say(char *err, size_t len, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int say(char *err, size_t len, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return rc;
}

static char *b64(const uint8_t *p, size_t n)
{
	char *s = malloc(B64URL_LEN(n) + 1);
	if (s != NULL)
		b64url_encode(p, n, s);
	return s;
}

static char *b64_json(json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT), *enc = NULL;

	if (text != NULL)
		enc = b64((const uint8_t *)text, strlen(text));
	free(text);
	return enc;
}

static json_t *jwk_of(const ofp_p11_key_t *key)
{
	char x[B64URL_LEN(32) + 1], y[B64URL_LEN(32) + 1];

	if (key->alg == OFP_ALG_ED25519 && key->pub_len == OFP_ED25519_KEY_LEN) {
		b64url_encode(key->pub_raw, 32, x);
		return json_pack("{s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x", x);
	}
	if (key->alg == OFP_ALG_P256 && key->pub_len == OFP_P256_UNCOMPRESSED_LEN) {
		b64url_encode(key->pub_raw + 1, 32, x);
		b64url_encode(key->pub_raw + 33, 32, y);
		return json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", x, "y", y);
	}
	return NULL;
}

int ofp_holder_proof_jwt(ofp_p11_t *p, const ofp_p11_key_t *key, const char *aud, const char *nonce, uint32_t iat,
			 char **out, char *err, size_t err_len)
{
	json_t *jwk = jwk_of(key), *h, *pl;
	char *hs = NULL, *ps = NULL, *sig_s = NULL, *jwt = NULL;
	uint8_t sig[OFP_SIG_LEN];
	size_t n;
	int rc = OFP_HOLDER_FAILED;

	*out = NULL;
	if (jwk == NULL)
		return say(err, err_len, OFP_HOLDER_FAILED, "the token key is neither P-256 nor Ed25519");
	h = json_pack("{s:s, s:s, s:o}", "typ", "openid4vci-proof+jwt", "alg",
		      key->alg == OFP_ALG_ED25519 ? "EdDSA" : "ES256", "jwk", jwk);
	pl = json_pack("{s:s, s:I, s:s}", "aud", aud, "iat", (json_int_t)iat, "nonce", nonce);
	hs = h != NULL ? b64_json(h) : NULL;
	ps = pl != NULL ? b64_json(pl) : NULL;
	json_decref(h);
	json_decref(pl);
	if (hs == NULL || ps == NULL) {
		rc = say(err, err_len, OFP_HOLDER_FAILED, "out of memory");
		goto out;
	}
	n = strlen(hs) + strlen(ps) + 1;
	jwt = malloc(n + 1 + B64URL_LEN(OFP_SIG_LEN) + 1);
	if (jwt == NULL) {
		rc = say(err, err_len, OFP_HOLDER_FAILED, "out of memory");
		goto out;
	}
	snprintf(jwt, n + 1, "%s.%s", hs, ps);
	/* The token signs the JWS signing input: ES256 is SHA-256 + ECDSA r||s,
	 * EdDSA is PureEdDSA, exactly what ofp_p11_sign makes. */
	if (ofp_p11_sign(p, key, (const uint8_t *)jwt, n, sig) != 0) {
		rc = say(err, err_len, OFP_HOLDER_FAILED, "token: %s", ofp_p11_error(p));
		goto out;
	}
	sig_s = b64(sig, sizeof(sig));
	if (sig_s == NULL) {
		rc = say(err, err_len, OFP_HOLDER_FAILED, "out of memory");
		goto out;
	}
	jwt[n] = '.';
	memcpy(jwt + n + 1, sig_s, strlen(sig_s) + 1);
	*out = jwt;
	jwt = NULL;
	rc = OFP_HOLDER_OK;
out:
	free(hs);
	free(ps);
	free(sig_s);
	free(jwt);
	return rc;
}

/* The issuer's text (error, field, description) as the holder may print
 * it (ofp_printable): no terminal escapes or lines of its own. */
static const char *printable(json_t *v, char *out, size_t cap)
{
	return ofp_printable(json_is_string(v) ? json_string_value(v) : NULL, out, cap);
}

/* An HTTP exchange whose answer is a JSON object; *obj set on status 200.
 * Another status: REFUSED with the server's error description. */
static int exchange(const ofp_http_opts_t *http, const ofp_http_req_t *req, json_t **obj, char *err, size_t err_len)
{
	ofp_http_resp_t resp;
	json_t *o;
	int rc;

	*obj = NULL;
	if (ofp_http_do(http, req, &resp, err, err_len) != 0)
		return OFP_HOLDER_FAILED;
	o = json_loadb((const char *)resp.body, resp.len, JSON_REJECT_DUPLICATES, NULL);
	if (resp.status == 200 && json_is_object(o)) {
		*obj = o;
		rc = OFP_HOLDER_OK;
	} else if (json_is_object(o) && json_is_string(json_object_get(o, "error"))) {
		json_t *d = json_object_get(o, "error_description"), *f = json_object_get(o, "field");
		char error[64], field[64], desc[512];

		rc = say(err, err_len, resp.status >= 500 ? OFP_HOLDER_FAILED : OFP_HOLDER_REFUSED,
			 "issuer: %s (HTTP %ld%s%s): %s", printable(json_object_get(o, "error"), error, sizeof(error)),
			 resp.status, json_is_string(f) ? ", field " : "", printable(f, field, sizeof(field)),
			 json_is_string(d) ? printable(d, desc, sizeof(desc)) : "no description");
		json_decref(o);
	} else {
		rc = say(err, err_len, OFP_HOLDER_FAILED, "%s: HTTP %ld, not a JSON answer", req->url, resp.status);
		json_decref(o);
	}
	ofp_http_resp_free(&resp);
	return rc;
}

static int copy_url(json_t *o, const char *name, char *out, size_t len, char *err, size_t err_len)
{
	json_t *v = json_object_get(o, name);

	if (!json_is_string(v) || json_string_length(v) >= len || !ofp_http_url_allowed(json_string_value(v)))
		return say(err, err_len, OFP_HOLDER_FAILED, "issuer metadata: %s missing or not an https URL", name);
	snprintf(out, len, "%s", json_string_value(v));
	return OFP_HOLDER_OK;
}

/* The credential issuer metadata: the issuer must call itself by the URL
 * we asked (OpenID4VCI 1.0 section 12.2.2), and name its endpoints. */
static int discover(const char *issuer_url, const ofp_http_opts_t *http, endpoints_t *ep, char *err, size_t err_len)
{
	char url[ISSUER_URL_MAX + 64];
	ofp_http_req_t req = { "GET", url, NULL, NULL, 0, NULL, NULL };
	size_t n = strlen(issuer_url);
	json_t *o;
	int rc;

	while (n > 0 && issuer_url[n - 1] == '/')
		n--;
	if (n == 0 || n >= sizeof(ep->issuer))
		return say(err, err_len, OFP_HOLDER_FAILED, "--issuer: empty or too long");
	snprintf(ep->issuer, sizeof(ep->issuer), "%.*s", (int)n, issuer_url);
	snprintf(url, sizeof(url), "%s/.well-known/openid-credential-issuer", ep->issuer);
	rc = exchange(http, &req, &o, err, err_len);
	if (rc != OFP_HOLDER_OK)
		return rc;
	if (!json_is_string(json_object_get(o, "credential_issuer")) ||
	    strcmp(json_string_value(json_object_get(o, "credential_issuer")), ep->issuer) != 0)
		rc = say(err, err_len, OFP_HOLDER_FAILED, "issuer metadata: credential_issuer is not %s", ep->issuer);
	if (rc == OFP_HOLDER_OK)
		rc = copy_url(o, "nonce_endpoint", ep->nonce, sizeof(ep->nonce), err, err_len);
	if (rc == OFP_HOLDER_OK)
		rc = copy_url(o, "credential_endpoint", ep->credential, sizeof(ep->credential), err, err_len);
	ep->trust[0] = '\0';
	if (rc == OFP_HOLDER_OK && json_object_get(o, "offpass_trust_list_endpoint") != NULL)
		rc = copy_url(o, "offpass_trust_list_endpoint", ep->trust, sizeof(ep->trust), err, err_len);
	json_decref(o);
	return rc;
}

/* The issuer's signed trust list (the gates' trust.bin) into the pin:
 * the first one when none is pinned and first is true (enrollment: trust
 * on first use, over TLS), else only as a successor the pinned list's key
 * signed (ofp_holder_trust_pin). A list that does not verify is REFUSED:
 * an issuer that serves one is not trusted with anything else either. */
static int update_pin(const ofp_p11_key_t *key, const char *dir, const endpoints_t *ep, const ofp_http_opts_t *http,
		      uint32_t now, char *err, size_t err_len)
{
	ofp_http_req_t req = { "GET", ep->trust, NULL, NULL, 0, NULL, NULL };
	ofp_http_resp_t resp;
	uint64_t version;
	bool changed;
	int rc;

	if (ep->trust[0] == '\0')
		return OFP_HOLDER_OK; /* the pinned list decides (the caller made sure there is one) */
	if (ofp_http_do(http, &req, &resp, err, err_len) != 0)
		return OFP_HOLDER_FAILED;
	if (resp.status != 200 || resp.len > OFP_TRUST_LIST_MAX)
		rc = say(err, err_len, resp.status >= 500 ? OFP_HOLDER_FAILED : OFP_HOLDER_REFUSED,
			 "%s: HTTP %ld, %zu bytes: not a trust list", ep->trust, resp.status, resp.len);
	else
		rc = ofp_holder_trust_pin(dir, key, resp.body, resp.len, now, &version, &changed, err, err_len);
	ofp_http_resp_free(&resp);
	return rc;
}

/* A pin to check the answer with, before the issuer is asked anything
 * that changes state: one pinned already, or (first) the issuer's own. */
static int need_pin(const ofp_p11_key_t *key, const char *dir, const endpoints_t *ep, bool first, char *err,
		    size_t err_len)
{
	ofp_trust_set_t *pin = calloc(1, sizeof(*pin));
	int rc;

	if (pin == NULL)
		return say(err, err_len, OFP_HOLDER_FAILED, "out of memory");
	rc = ofp_holder_trust_pinned(dir, key, pin, err, err_len);
	ofp_trust_set_free(pin);
	free(pin);
	if (rc != 1)
		return rc;
	if (!first)
		return say(err, err_len, OFP_HOLDER_REFUSED,
			   "no issuer trust list is pinned for this key, so no credential from %s can be checked: "
			   "give the issuer's trust.bin with --trust FILE (or enroll online again)",
			   ep->issuer);
	if (ep->trust[0] == '\0')
		return say(err, err_len, OFP_HOLDER_REFUSED,
			   "issuer metadata: no offpass_trust_list_endpoint, and no trust list pinned: give the "
			   "issuer's trust.bin with --trust FILE");
	return OFP_HOLDER_OK;
}

static int fetch_nonce(const endpoints_t *ep, const ofp_http_opts_t *http, char *nonce, size_t len, char *err,
		       size_t err_len)
{
	ofp_http_req_t req = { "POST", ep->nonce, NULL, NULL, 0, NULL, NULL };
	json_t *o, *v;
	int rc = exchange(http, &req, &o, err, err_len);

	if (rc != OFP_HOLDER_OK)
		return rc;
	v = json_object_get(o, "c_nonce");
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= len)
		rc = say(err, err_len, OFP_HOLDER_FAILED, "nonce endpoint: no c_nonce");
	else
		snprintf(nonce, len, "%s", json_string_value(v));
	json_decref(o);
	return rc;
}

/* The credential request; the answer's credential decoded into cred. */
static int request_credential(const endpoints_t *ep, const ofp_http_opts_t *http, const char *jwt,
			      const uint8_t *cur, size_t cur_len, const char *bearer, uint8_t *cred, size_t *cred_len,
			      char *err, size_t err_len)
{
	char cur_s[B64URL_LEN(OFP_CREDENTIAL_MAX) + 1];
	ofp_http_req_t req = { "POST", ep->credential, "application/json", NULL, 0, NULL, bearer };
	json_t *body, *o = NULL, *list, *c;
	char *text;
	int rc;

	body = json_pack("{s:s, s:{s:[s]}}", "credential_configuration_id", "offpass", "proofs", "jwt", jwt);
	if (body != NULL && cur != NULL) {
		b64url_encode(cur, cur_len, cur_s);
		json_object_set_new(body, "offpass_credential", json_string(cur_s));
	}
	text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (text == NULL)
		return say(err, err_len, OFP_HOLDER_FAILED, "out of memory");
	req.body = (const uint8_t *)text;
	req.body_len = strlen(text);
	rc = exchange(http, &req, &o, err, err_len);
	free(text);
	if (rc != OFP_HOLDER_OK)
		return rc;
	list = json_object_get(o, "credentials");
	c = json_is_array(list) && json_array_size(list) == 1 ? json_object_get(json_array_get(list, 0), "credential")
							       : NULL;
	if (!json_is_string(c) || b64url_decode(json_string_value(c), json_string_length(c), cred, OFP_CREDENTIAL_MAX,
						cred_len) != 0)
		rc = say(err, err_len, OFP_HOLDER_FAILED, "credential endpoint: no credentials[0].credential in base64url");
	json_decref(o);
	return rc;
}

/* What a refresh may bring, beyond the checks of every install (the
 * token's key, not expired): a credential for the same holder id that
 * ends after the one held. Anything else (another holder's, a shorter or
 * an earlier window, from a confused or hostile issuer) would replace a
 * credential that works with one that does not, or for less long. */
static int check_refreshed(const ofp_credential_t *cur, const uint8_t *next, size_t next_len, ofp_credential_t *nc,
			   char *err, size_t err_len)
{
	char want[2 * OFP_ID_LEN + 1], got[2 * OFP_ID_LEN + 1];
	ofp_fmt_error_t fe;

	if (ofp_credential_decode(next, next_len, nc, &fe) != OFP_FMT_OK)
		return say(err, err_len, OFP_HOLDER_REFUSED, "credential endpoint: not a credential (%s)", fe.reason);
	if (memcmp(nc->holder_id, cur->holder_id, OFP_ID_LEN) != 0) {
		hex_encode(cur->holder_id, OFP_ID_LEN, want);
		hex_encode(nc->holder_id, OFP_ID_LEN, got);
		return say(err, err_len, OFP_HOLDER_REFUSED,
			   "credential endpoint: the credential (serial %llu) is for holder %s, not this holder's %s; "
			   "nothing installed",
			   (unsigned long long)nc->serial, got, want);
	}
	if (nc->not_after <= cur->not_after)
		return say(err, err_len, OFP_HOLDER_REFUSED,
			   "credential endpoint: the credential (serial %llu) ends at %" PRIu32
			   ", not after the one held (serial %llu, until %" PRIu32 "); nothing installed",
			   (unsigned long long)nc->serial, nc->not_after, (unsigned long long)cur->serial,
			   cur->not_after);
	return OFP_HOLDER_OK;
}

int ofp_holder_refresh_online(ofp_p11_t *p, const ofp_p11_key_t *key, const char *dir, const char *issuer_url,
			      const ofp_http_opts_t *http, uint32_t now, ofp_credential_t *out, ofp_cred_place_t *place,
			      char *err, size_t err_len)
{
	ofp_credential_t cur, nc;
	uint8_t cur_bytes[OFP_CREDENTIAL_MAX], next[OFP_CREDENTIAL_MAX];
	size_t cur_len = 0, next_len = 0;
	char nonce[128], *jwt = NULL;
	endpoints_t ep;
	int rc = ofp_holder_next_promote(p, key, dir, now, err, err_len);

	if (rc == OFP_HOLDER_OK)
		rc = ofp_holder_credential_dir(p, key, dir, &cur, NULL, err, err_len);
	if (rc == 1)
		return say(err, err_len, OFP_HOLDER_REFUSED, "no credential on the token: enroll first");
	if (rc != OFP_HOLDER_OK)
		return rc;
	if (ofp_holder_validity(&cur, now) == OFP_VALIDITY_EXPIRED)
		return say(err, err_len, OFP_HOLDER_REFUSED,
			   "the credential (serial %llu) has expired: a refresh needs a valid one; enroll again with a "
			   "code", (unsigned long long)cur.serial);
	if (ofp_credential_encode(&cur, cur_bytes, sizeof(cur_bytes), &cur_len, NULL) != OFP_FMT_OK)
		return say(err, err_len, OFP_HOLDER_FAILED, "the installed credential does not encode");
	rc = discover(issuer_url, http, &ep, err, err_len);
	if (rc == OFP_HOLDER_OK)
		rc = need_pin(key, dir, &ep, false, err, err_len);
	if (rc == OFP_HOLDER_OK)
		rc = update_pin(key, dir, &ep, http, now, err, err_len);
	if (rc == OFP_HOLDER_OK)
		rc = fetch_nonce(&ep, http, nonce, sizeof(nonce), err, err_len);
	if (rc == OFP_HOLDER_OK)
		rc = ofp_holder_proof_jwt(p, key, ep.issuer, nonce, now, &jwt, err, err_len);
	if (rc == OFP_HOLDER_OK)
		rc = request_credential(&ep, http, jwt, cur_bytes, cur_len, NULL, next, &next_len, err, err_len);
	free(jwt);
	if (rc == OFP_HOLDER_OK)
		rc = check_refreshed(&cur, next, next_len, &nc, err, err_len);
	/* The issuer's signature, before anything is kept or replaced. */
	if (rc == OFP_HOLDER_OK)
		rc = ofp_holder_check_issued(dir, key, &nc, now, err, err_len);
	if (rc != OFP_HOLDER_OK)
		return rc;
	/* The next window: the current credential stays in use until it ends. */
	if (nc.not_before > now && dir != NULL)
		return ofp_holder_next_keep(key, dir, next, next_len, out, place, err, err_len);
	return ofp_holder_install_dir(p, key, dir, next, next_len, now, out, place, err, err_len);
}

/* The token endpoint, from the authorization server metadata (the issuer
 * is its own: OpenID4VCI 1.0 section 12.2.4, authorization_servers absent). */
static int discover_token(const ofp_http_opts_t *http, endpoints_t *ep, char *err, size_t err_len)
{
	char url[ISSUER_URL_MAX + 64];
	ofp_http_req_t req = { "GET", url, NULL, NULL, 0, NULL, NULL };
	json_t *o;
	int rc;

	snprintf(url, sizeof(url), "%s/.well-known/oauth-authorization-server", ep->issuer);
	rc = exchange(http, &req, &o, err, err_len);
	if (rc != OFP_HOLDER_OK)
		return rc;
	rc = copy_url(o, "token_endpoint", ep->token, sizeof(ep->token), err, err_len);
	json_decref(o);
	return rc;
}

/* Redeem the pre-authorized code (the holder id) with the tx_code (the
 * enrollment code): "Bearer <access token>" into bearer. */
static int redeem_code(const endpoints_t *ep, const ofp_http_opts_t *http, const uint8_t holder_id[OFP_ID_LEN],
		       const uint8_t code[OFP_ENROLL_CODE_LEN], char *bearer, size_t len, char *err, size_t err_len)
{
	char hex[2 * OFP_ID_LEN + 1], text[OFP_ENROLL_CODE_TEXT_LEN + 1], form[256];
	ofp_http_req_t req = { "POST", ep->token, "application/x-www-form-urlencoded", NULL, 0, NULL, NULL };
	json_t *o, *v;
	int rc;

	for (size_t i = 0; i < OFP_ID_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", holder_id[i]);
	ofp_enroll_code_text(code, text);
	/* The code text is [A-Z2-7-]: nothing to percent-encode. */
	snprintf(form, sizeof(form),
		 "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Apre-authorized_code"
		 "&pre-authorized_code=%s&tx_code=%s",
		 hex, text);
	req.body = (const uint8_t *)form;
	req.body_len = strlen(form);
	rc = exchange(http, &req, &o, err, err_len);
	OPENSSL_cleanse(form, sizeof(form));
	OPENSSL_cleanse(text, sizeof(text));
	if (rc != OFP_HOLDER_OK)
		return rc;
	v = json_object_get(o, "access_token");
	if (!json_is_string(v) || json_string_length(v) + 8 > len)
		rc = say(err, err_len, OFP_HOLDER_FAILED, "token endpoint: no access_token");
	else
		snprintf(bearer, len, "Bearer %s", json_string_value(v));
	json_decref(o);
	return rc;
}

int ofp_holder_enroll_online(ofp_p11_t *p, const ofp_p11_key_t *key, const char *dir,
			     const uint8_t holder_id[OFP_ID_LEN], const uint8_t code[OFP_ENROLL_CODE_LEN],
			     const char *issuer_url, const ofp_http_opts_t *http, uint32_t now, ofp_credential_t *out,
			     ofp_cred_place_t *place, char *err, size_t err_len)
{
	uint8_t cred[OFP_CREDENTIAL_MAX];
	size_t cred_len = 0;
	char nonce[128], bearer[160], *jwt = NULL;
	endpoints_t ep;
	ofp_credential_t c;
	ofp_fmt_error_t fe;
	int rc = discover(issuer_url, http, &ep, err, err_len);

	/* The trust list before the code is spent: an issuer whose list does
	 * not verify gets no enrollment code. */
	if (rc == OFP_HOLDER_OK)
		rc = need_pin(key, dir, &ep, true, err, err_len);
	if (rc == OFP_HOLDER_OK)
		rc = update_pin(key, dir, &ep, http, now, err, err_len);
	if (rc == OFP_HOLDER_OK)
		rc = discover_token(http, &ep, err, err_len);
	if (rc == OFP_HOLDER_OK)
		rc = redeem_code(&ep, http, holder_id, code, bearer, sizeof(bearer), err, err_len);
	if (rc == OFP_HOLDER_OK)
		rc = fetch_nonce(&ep, http, nonce, sizeof(nonce), err, err_len);
	if (rc == OFP_HOLDER_OK)
		rc = ofp_holder_proof_jwt(p, key, ep.issuer, nonce, now, &jwt, err, err_len);
	if (rc == OFP_HOLDER_OK)
		rc = request_credential(&ep, http, jwt, NULL, 0, bearer, cred, &cred_len, err, err_len);
	free(jwt);
	OPENSSL_cleanse(bearer, sizeof(bearer));
	if (rc != OFP_HOLDER_OK)
		return rc;
	if (ofp_credential_decode(cred, cred_len, &c, &fe) != OFP_FMT_OK)
		return say(err, err_len, OFP_HOLDER_REFUSED, "credential endpoint: not a credential (%s)", fe.reason);
	if (memcmp(c.holder_id, holder_id, OFP_ID_LEN) != 0)
		return say(err, err_len, OFP_HOLDER_REFUSED,
			   "credential endpoint: the credential (serial %llu) is not for this holder id; nothing installed",
			   (unsigned long long)c.serial);
	rc = ofp_holder_check_issued(dir, key, &c, now, err, err_len);
	if (rc != OFP_HOLDER_OK)
		return rc;
	return ofp_holder_install_dir(p, key, dir, cred, cred_len, now, out, place, err, err_len);
}
