/* test-make-proof.c - a software wallet for tests/integration/issuerd.sh:
 * the OpenID4VCI credential request body with a proof JWT signed by a
 * PEM key (ES256 for P-256, EdDSA for Ed25519). Not installed.
 *
 *   test-make-proof --key KEY.pem --aud URL --nonce NONCE [--iat T]
 *       [--cred CRED] [--jwk-key OTHER.pem] [--typ TYP] -o BODY.json
 *
 * --cred adds offpass_credential (a refresh); --jwk-key puts another
 * key's jwk in the header (the signature stays KEY's: a proof that must
 * fail); --typ overrides the header's typ. */
#include "config.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atomic_file.h"
#include "b64url.h"
#include "cli.h"
#include "format/format.h"
#include "format/sig.h"
#include "issuer/test-kit.h"

typedef struct opts {
	const char *key, *aud, *nonce, *cred, *jwk_key, *typ, *out;
	uint64_t iat;
	bool iat_set;
} opts_t;

static int fail(const char *what)
{
	fprintf(stderr, "test-make-proof: %s\n", what);
	return 1;
}

static char *b64(const uint8_t *p, size_t n)
{
	char *s = malloc(B64URL_LEN(n) + 1);
	if (s != NULL)
		b64url_encode(p, n, s);
	return s;
}

/* The key's public JWK; *alg the format's algorithm. */
static json_t *jwk_of(EVP_PKEY *key, unsigned *alg)
{
	uint8_t raw[65];
	size_t len = 0;
	char *x, *y;
	json_t *j;

	*alg = EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 ? OFP_ALG_ED25519 : OFP_ALG_P256;
	if (!ofp_sig_public_raw(key, *alg, raw, &len))
		return NULL;
	if (*alg == OFP_ALG_ED25519) {
		x = b64(raw, 32);
		j = json_pack("{s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x", x);
		free(x);
		return j;
	}
	x = b64(raw + 1, 32);
	y = b64(raw + 33, 32);
	j = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", x, "y", y);
	free(x);
	free(y);
	return j;
}

static char *part(json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT), *enc;

	if (text == NULL)
		return NULL;
	enc = b64((const uint8_t *)text, strlen(text));
	free(text);
	return enc;
}

static char *make_jwt(const opts_t *o, EVP_PKEY *key, EVP_PKEY *jwk_key)
{
	unsigned alg = 0, jalg;
	json_t *jwk = jwk_of(jwk_key != NULL ? jwk_key : key, &jalg);
	json_t *h, *p;
	char *hs, *ps, *input = NULL, *sig_s = NULL, *jwt = NULL;
	uint8_t sig[OFP_SIG_LEN];

	json_t *own = jwk_of(key, &alg); /* the signing algorithm is KEY's */

	json_decref(own);
	if (jwk == NULL || own == NULL) {
		json_decref(jwk);
		return NULL;
	}
	h = json_pack("{s:s, s:s, s:o}", "typ", o->typ != NULL ? o->typ : "openid4vci-proof+jwt", "alg",
		      alg == OFP_ALG_ED25519 ? "EdDSA" : "ES256", "jwk", jwk);
	p = json_pack("{s:s, s:I, s:s}", "aud", o->aud, "iat",
		      (json_int_t)(o->iat_set ? o->iat : (uint64_t)time(NULL)), "nonce", o->nonce);
	hs = part(h);
	ps = part(p);
	json_decref(h);
	json_decref(p);
	if (hs != NULL && ps != NULL && (input = malloc(strlen(hs) + strlen(ps) + 2)) != NULL) {
		sprintf(input, "%s.%s", hs, ps);
		if (ofp_sig_sign(key, alg, (const uint8_t *)input, strlen(input), sig) &&
		    (sig_s = b64(sig, sizeof(sig))) != NULL && (jwt = malloc(strlen(input) + strlen(sig_s) + 2)) != NULL)
			sprintf(jwt, "%s.%s", input, sig_s);
	}
	free(hs);
	free(ps);
	free(input);
	free(sig_s);
	return jwt;
}

static int parse(int argc, char **argv, opts_t *o)
{
	static const struct option longs[] = {
		{ "key", required_argument, NULL, 'k' },  { "aud", required_argument, NULL, 'a' },
		{ "nonce", required_argument, NULL, 'n' }, { "iat", required_argument, NULL, 'i' },
		{ "cred", required_argument, NULL, 'c' },  { "jwk-key", required_argument, NULL, 'j' },
		{ "typ", required_argument, NULL, 't' },   { 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "o:", longs, NULL)) != -1) {
		switch (c) {
		case 'o': o->out = optarg; break;
		case 'k': o->key = optarg; break;
		case 'a': o->aud = optarg; break;
		case 'n': o->nonce = optarg; break;
		case 'c': o->cred = optarg; break;
		case 'j': o->jwk_key = optarg; break;
		case 't': o->typ = optarg; break;
		case 'i':
			if (ofp_parse_u64(optarg, UINT32_MAX, &o->iat) != 0)
				return fail("--iat: a number");
			o->iat_set = true;
			break;
		default: return fail("unknown option");
		}
	}
	return o->key != NULL && o->aud != NULL && o->nonce != NULL && o->out != NULL ? 0
										: fail("--key, --aud, --nonce and -o are required");
}

int main(int argc, char **argv)
{
	opts_t o = { 0 };
	EVP_PKEY *key = NULL, *jwk_key = NULL;
	unsigned char *cred = NULL;
	size_t cred_len = 0;
	char *jwt = NULL, *body = NULL, *cred_s = NULL;
	json_t *req;
	int rc = 1;

	if (parse(argc, argv, &o) != 0)
		return 2;
	key = tk_key_read(o.key);
	if (key == NULL)
		return fail("cannot read --key");
	if (o.jwk_key != NULL && (jwk_key = tk_key_read(o.jwk_key)) == NULL) {
		rc = fail("cannot read --jwk-key");
		goto out;
	}
	if (o.cred != NULL && file_read_all(o.cred, OFP_CREDENTIAL_MAX, &cred, &cred_len) != 0) {
		rc = fail("cannot read --cred");
		goto out;
	}
	jwt = make_jwt(&o, key, jwk_key);
	if (jwt == NULL) {
		rc = fail("cannot sign the proof");
		goto out;
	}
	req = json_pack("{s:s, s:{s:[s]}}", "credential_configuration_id", "offpass", "proofs", "jwt", jwt);
	if (cred != NULL && (cred_s = b64(cred, cred_len)) != NULL)
		json_object_set_new(req, "offpass_credential", json_string(cred_s));
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	rc = body != NULL && atomic_file_write(o.out, body, strlen(body), 0644) == 0 ? 0 : fail("cannot write -o");
out:
	free(body);
	free(cred_s);
	free(jwt);
	free(cred);
	EVP_PKEY_free(key);
	EVP_PKEY_free(jwk_key);
	return rc;
}
