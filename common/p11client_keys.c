/* p11client_keys.c - find and generate key pairs, and read their public
 * halves: from the public key object, else from a certificate (PIV cards
 * hold no public key object). */
#include "config.h"
#include "p11client_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#define MATCH_MAX 8
#define CERT_MAX 16384

/* CKA_EC_PARAMS: the named curve as a DER OID, or as the PrintableString
 * that SoftHSM2 2.6 wants for Ed25519. */
static const uint8_t oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t name_p256[] = { 0x13, 0x0a, 'p', 'r', 'i', 'm', 'e', '2', '5', '6', 'v', '1' };
static const uint8_t oid_ed25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
static const uint8_t name_ed25519[] = { 0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's',
					'2', '5', '5', '1', '9' };

static CK_BBOOL ck_true = CK_TRUE, ck_false = CK_FALSE;

static void reset_key(ofp_p11_key_t *k)
{
	memset(k, 0, sizeof(*k));
	k->priv = CK_INVALID_HANDLE;
	k->pub = CK_INVALID_HANDLE;
}

static bool same(const uint8_t *a, size_t n, const uint8_t *b, size_t m)
{
	return n == m && memcmp(a, b, n) == 0;
}

/* ---- algorithm and public point -------------------------------------------- */

static void curve_name(const uint8_t *params, size_t len, char *buf, size_t blen)
{
	const unsigned char *q = params;
	ASN1_OBJECT *o = len > 0 ? d2i_ASN1_OBJECT(NULL, &q, (long)len) : NULL;

	if (o != NULL && OBJ_obj2txt(buf, (int)blen, o, 0) > 0)
		;
	else if (len > 2 && len < 40 && params[0] == 0x13 && params[1] == len - 2)
		snprintf(buf, blen, "%.*s", (int)(len - 2), (const char *)params + 2);
	else
		p11c_hex(buf, blen, params, len);
	ASN1_OBJECT_free(o);
}

static const char *key_type_name(CK_KEY_TYPE kt)
{
	switch (kt) {
	case CKK_RSA: return "an RSA key";
	case CKK_DSA: return "a DSA key";
	case CKK_DH: return "a DH key";
	default: return "a key of an unknown type";
	}
}

/* The offpass algorithm of a key type and CKA_EC_PARAMS, or an error that
 * names what the key is instead. */
static int alg_of(ofp_p11_t *p, CK_KEY_TYPE kt, const uint8_t *params, size_t len,
		  unsigned *alg, const char *what)
{
	char curve[80];

	if (kt == CKK_EC && (same(params, len, oid_p256, sizeof(oid_p256)) ||
			     same(params, len, name_p256, sizeof(name_p256))))
		*alg = OFP_P11_ALG_P256;
	else if (kt == CKK_EC_EDWARDS && (same(params, len, oid_ed25519, sizeof(oid_ed25519)) ||
					  same(params, len, name_ed25519, sizeof(name_ed25519))))
		*alg = OFP_P11_ALG_ED25519;
	else if (kt == CKK_EC || kt == CKK_EC_EDWARDS) {
		curve_name(params, len, curve, sizeof(curve));
		p11c_error(p, "%s: curve %s is not supported (only P-256 and Ed25519)", what, curve);
		return -1;
	} else {
		p11c_error(p, "%s: %s is not supported (only P-256 and Ed25519)", what,
			   key_type_name(kt));
		return -1;
	}
	return 0;
}

/* CKA_EC_POINT is a DER OCTET STRING by the standard, the bare point on
 * some tokens: accept both. */
static int take_point(ofp_p11_t *p, const uint8_t *v, size_t n, ofp_p11_key_t *out,
		      const char *what)
{
	size_t want = out->alg == OFP_P11_ALG_P256 ? 65 : 32;

	if (n == want + 2 && v[0] == 0x04 && v[1] == want) {
		v += 2;
		n -= 2;
	}
	if (n != want || (out->alg == OFP_P11_ALG_P256 && v[0] != 0x04)) {
		p11c_error(p, "%s: CKA_EC_POINT of %zu bytes is not a%s public key", what, n,
			   out->alg == OFP_P11_ALG_P256 ? "n uncompressed P-256" : " raw Ed25519");
		return -1;
	}
	memcpy(out->pub_raw, v, n);
	out->pub_len = n;
	return 0;
}

/* Algorithm from the object's key type and curve, then the point. */
static int pub_from_object(ofp_p11_t *p, CK_OBJECT_HANDLE o, ofp_p11_key_t *out, const char *what)
{
	uint8_t *params = NULL, *point = NULL;
	size_t params_len = 0, point_len = 0;
	CK_KEY_TYPE kt;
	int ret = -1;

	if (p11c_get_ulong(p, o, CKA_KEY_TYPE, &kt, what) != 0)
		goto out;
	if ((kt == CKK_EC || kt == CKK_EC_EDWARDS) &&
	    p11c_get_bytes(p, o, CKA_EC_PARAMS, 64, &params, &params_len, what) != 0)
		goto out;
	if (alg_of(p, kt, params, params_len, &out->alg, what) != 0)
		goto out;
	if (p11c_get_bytes(p, o, CKA_EC_POINT, 128, &point, &point_len, what) != 0)
		goto out;
	ret = take_point(p, point, point_len, out, what);
out:
	free(params);
	free(point);
	return ret;
}

static int pub_from_pkey(ofp_p11_t *p, EVP_PKEY *pk, ofp_p11_key_t *out, const char *what)
{
	char group[64] = "";
	size_t n = 0;

	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519) {
		n = sizeof(out->pub_raw);
		if (EVP_PKEY_get_raw_public_key(pk, out->pub_raw, &n) != 1 || n != 32)
			goto bad;
		out->alg = OFP_P11_ALG_ED25519;
	} else if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC &&
		   EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) == 1 &&
		   strcmp(group, "prime256v1") == 0) {
		/* A certificate may carry a compressed point; we hand out uncompressed. */
		(void)EVP_PKEY_set_utf8_string_param(pk, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
						     "uncompressed");
		if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
						    out->pub_raw, sizeof(out->pub_raw), &n) != 1 ||
		    n != 65 || out->pub_raw[0] != 0x04)
			goto bad;
		out->alg = OFP_P11_ALG_P256;
	} else {
		p11c_error(p, "%s: the certificate's key is %s%s%s, not P-256 or Ed25519", what,
			   OBJ_nid2sn(EVP_PKEY_get_base_id(pk)), group[0] ? " " : "", group);
		return -1;
	}
	out->pub_len = n;
	return 0;
bad:
	p11c_error(p, "%s: cannot read the certificate's public key", what);
	return -1;
}

static int pub_from_cert(ofp_p11_t *p, CK_OBJECT_HANDLE cert, ofp_p11_key_t *out, const char *what)
{
	uint8_t *der = NULL;
	size_t len = 0;
	const unsigned char *q;
	X509 *x = NULL;
	EVP_PKEY *pk = NULL;
	int ret = -1;

	if (p11c_get_bytes(p, cert, CKA_VALUE, CERT_MAX, &der, &len, what) != 0)
		goto out;
	q = der;
	x = d2i_X509(NULL, &q, (long)len);
	pk = x != NULL ? X509_get_pubkey(x) : NULL;
	if (pk == NULL || q != der + len) {
		p11c_error(p, "%s: the certificate (CKA_VALUE, %zu bytes) is not DER X.509", what, len);
		goto out;
	}
	ret = pub_from_pkey(p, pk, out, what);
out:
	EVP_PKEY_free(pk);
	X509_free(x);
	free(der);
	return ret;
}

/* ---- finding ---------------------------------------------------------------- */

static const char *class_name(CK_OBJECT_CLASS klass)
{
	switch (klass) {
	case CKO_PRIVATE_KEY: return "private keys";
	case CKO_PUBLIC_KEY: return "public keys";
	case CKO_CERTIFICATE: return "certificates";
	default: return "objects";
	}
}

static void ambiguous(ofp_p11_t *p, CK_OBJECT_CLASS klass, const CK_OBJECT_HANDLE *h,
		      CK_ULONG n, const char *what)
{
	char list[300] = "";
	size_t used = 0;
	uint8_t *label;
	size_t len;

	for (CK_ULONG i = 0; i < n && used + 40 < sizeof(list); i++) {
		if (p11c_get_bytes(p, h[i], CKA_LABEL, P11C_LABEL_MAX, &label, &len, what) != 0)
			continue;
		for (size_t j = 0; j < len; j++)
			label[j] = label[j] < 0x20 || label[j] == 0x7f ? '?' : label[j];
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s'%.*s'", i ? ", " : "",
					 (int)len, (char *)label);
		free(label);
	}
	p11c_error(p, "%s: %s%lu %s match (%s); choose one by label or id", what,
		   n == MATCH_MAX ? "at least " : "", (unsigned long)n, class_name(klass), list);
}

/* The one object of class klass matching q; *h stays CK_INVALID_HANDLE
 * when there is none. Several are an error. */
static int find_one(ofp_p11_t *p, CK_OBJECT_CLASS klass, const p11c_query_t *q,
		    CK_OBJECT_HANDLE *h, const char *what)
{
	CK_OBJECT_HANDLE found[MATCH_MAX];
	CK_ULONG n = 0;

	*h = CK_INVALID_HANDLE;
	if (p11c_find(p, klass, q, NULL, 0, found, MATCH_MAX, &n, what) != 0)
		return -1;
	if (n > 1) {
		ambiguous(p, klass, found, n, what);
		return -1;
	}
	if (n == 1)
		*h = found[0];
	return 0;
}

static int read_id(ofp_p11_t *p, CK_OBJECT_HANDLE o, ofp_p11_key_t *out, const char *what)
{
	uint8_t *id = NULL;
	size_t len = 0;

	if (p11c_get_bytes(p, o, CKA_ID, sizeof(out->id), &id, &len, what) != 0)
		return -1;
	memcpy(out->id, id, len);
	out->id_len = len;
	free(id);
	return 0;
}

/* What to look for: the arguments, else the URI's object= and id=. */
static void key_query(ofp_p11_t *p, const char *label, const uint8_t *id, size_t id_len,
		      p11c_query_t *q)
{
	CK_ATTRIBUTE *a;

	memset(q, 0, sizeof(*q));
	if (label != NULL || id != NULL) {
		q->label = label;
		q->label_len = label ? strlen(label) : 0;
		q->id = id;
		q->id_len = id ? id_len : 0;
		return;
	}
	if (p->uri == NULL)
		return;
	if ((a = p11_kit_uri_get_attribute(p->uri, CKA_LABEL)) != NULL) {
		q->label = a->pValue;
		q->label_len = a->ulValueLen;
	}
	if ((a = p11_kit_uri_get_attribute(p->uri, CKA_ID)) != NULL) {
		q->id = a->pValue;
		q->id_len = a->ulValueLen;
	}
}

/* The public half shares the private key's CKA_ID; without one, the label. */
static void pub_query(const ofp_p11_key_t *k, const p11c_query_t *q, p11c_query_t *pq)
{
	*pq = *q;
	if (k->priv != CK_INVALID_HANDLE && k->id_len > 0) {
		memset(pq, 0, sizeof(*pq));
		pq->id = k->id;
		pq->id_len = k->id_len;
	}
}

static int check_priv_type(ofp_p11_t *p, const ofp_p11_key_t *k, const char *what)
{
	CK_KEY_TYPE kt;
	CK_KEY_TYPE want = k->alg == OFP_P11_ALG_P256 ? CKK_EC : CKK_EC_EDWARDS;

	if (p11c_get_ulong(p, k->priv, CKA_KEY_TYPE, &kt, what) != 0)
		return -1;
	if (kt != want) {
		p11c_error(p, "%s: the private key's type (0x%lx) does not match its public key",
			   what, (unsigned long)kt);
		return -1;
	}
	return 0;
}

static void not_found(ofp_p11_t *p, const char *what, bool priv)
{
	const char *hint = p11c_logged_in(p) ? "" : " (not logged in: private objects are hidden)";

	if (priv)
		p11c_error(p, "%s: found the private key but no public key or certificate "
			      "with its id", what);
	else
		p11c_error(p, "%s: no such key on the token%s", what, hint);
}

/* Public key object, else certificate, else nothing: fills out. */
static int find_public(ofp_p11_t *p, const p11c_query_t *q, ofp_p11_key_t *out, const char *what)
{
	CK_OBJECT_HANDLE cert = CK_INVALID_HANDLE;
	p11c_query_t pq;

	pub_query(out, q, &pq);
	if (find_one(p, CKO_PUBLIC_KEY, &pq, &out->pub, what) != 0)
		return -1;
	if (out->pub == CK_INVALID_HANDLE && find_one(p, CKO_CERTIFICATE, &pq, &cert, what) != 0)
		return -1;
	if (out->pub == CK_INVALID_HANDLE && cert == CK_INVALID_HANDLE) {
		not_found(p, what, out->priv != CK_INVALID_HANDLE);
		return -1;
	}
	if (out->priv == CK_INVALID_HANDLE &&
	    read_id(p, out->pub != CK_INVALID_HANDLE ? out->pub : cert, out, what) != 0)
		return -1;
	if (out->pub != CK_INVALID_HANDLE)
		return pub_from_object(p, out->pub, out, what);
	return pub_from_cert(p, cert, out, what);
}

int ofp_p11_find_key(ofp_p11_t *p, const char *label, const uint8_t *id, size_t id_len,
		     ofp_p11_key_t *out)
{
	char what[P11C_LABEL_MAX + 96];
	p11c_query_t q;
	int ret = -1;

	reset_key(out);
	key_query(p, label, id, id_len, &q);
	p11c_name(what, sizeof(what), "key", &q);
	if (find_one(p, CKO_PRIVATE_KEY, &q, &out->priv, what) != 0)
		goto out;
	if (out->priv != CK_INVALID_HANDLE && read_id(p, out->priv, out, what) != 0)
		goto out;
	if (find_public(p, &q, out, what) != 0)
		goto out;
	if (out->priv != CK_INVALID_HANDLE && check_priv_type(p, out, what) != 0)
		goto out;
	ret = 0;
out:
	if (ret != 0)
		reset_key(out);
	return ret;
}

/* ---- generation ------------------------------------------------------------- */

static int check_gen_args(ofp_p11_t *p, unsigned alg, ofp_p11_use_t use, const char *label,
			  const uint8_t *id, size_t id_len)
{
	if (alg != OFP_P11_ALG_P256 && alg != OFP_P11_ALG_ED25519)
		p11c_error(p, "key generation: unknown algorithm %u", alg);
	else if (use != OFP_P11_USE_SIGN && use != OFP_P11_USE_DERIVE)
		p11c_error(p, "key generation: unknown key use %d", (int)use);
	else if (use == OFP_P11_USE_DERIVE && alg != OFP_P11_ALG_P256)
		p11c_error(p, "key generation: key agreement needs a P-256 key");
	else if (label != NULL && (label[0] == '\0' || strlen(label) > P11C_LABEL_MAX))
		p11c_error(p, "key generation: the label must be 1 to %d bytes", P11C_LABEL_MAX);
	else if (id != NULL && (id_len == 0 || id_len > sizeof(((ofp_p11_key_t *)0)->id)))
		p11c_error(p, "key generation: the id must be 1 to %zu bytes",
			   sizeof(((ofp_p11_key_t *)0)->id));
	else
		return 0;
	return -1;
}

/* A second key with the same label or id would make find_key ambiguous. */
static int refuse_existing(ofp_p11_t *p, const p11c_query_t *q, const char *what)
{
	static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY, CKO_PUBLIC_KEY };
	CK_OBJECT_HANDLE h[1];
	CK_ULONG n = 0;
	p11c_query_t one;

	for (size_t i = 0; i < 2 * OFP_ARRAY_LEN(classes); i++) {
		memset(&one, 0, sizeof(one));
		if (i % 2 == 0 && q->label == NULL)
			continue;
		if (i % 2 == 0) {
			one.label = q->label;
			one.label_len = q->label_len;
		} else {
			one.id = q->id;
			one.id_len = q->id_len;
		}
		if (p11c_find(p, classes[i / 2], &one, NULL, 0, h, 1, &n, what) != 0)
			return -1;
		if (n > 0) {
			p11c_error(p, "%s: the token already has a key with this %s", what,
				   i % 2 == 0 ? "label" : "id");
			return -1;
		}
	}
	return 0;
}

static CK_RV gen_pair(ofp_p11_t *p, unsigned alg, ofp_p11_use_t use, const p11c_query_t *q,
		      const uint8_t *params, size_t params_len, CK_OBJECT_HANDLE *pub,
		      CK_OBJECT_HANDLE *priv)
{
	bool sign = use == OFP_P11_USE_SIGN;
	CK_MECHANISM m = { alg == OFP_P11_ALG_P256 ? CKM_EC_KEY_PAIR_GEN
						   : CKM_EC_EDWARDS_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pt[] = {
		{ CKA_TOKEN, &ck_true, 1 },
		{ CKA_PRIVATE, &ck_false, 1 },
		{ CKA_VERIFY, sign ? &ck_true : &ck_false, 1 },
		{ CKA_EC_PARAMS, (void *)params, params_len },
		{ CKA_ID, (void *)q->id, q->id_len },
		{ CKA_LABEL, (void *)q->label, q->label_len },
	};
	CK_ATTRIBUTE kt[] = {
		{ CKA_TOKEN, &ck_true, 1 },
		{ CKA_PRIVATE, &ck_true, 1 },
		{ CKA_SENSITIVE, &ck_true, 1 },
		{ CKA_EXTRACTABLE, &ck_false, 1 },
		{ CKA_SIGN, sign ? &ck_true : &ck_false, 1 },
		{ CKA_DERIVE, sign ? &ck_false : &ck_true, 1 },
		{ CKA_ID, (void *)q->id, q->id_len },
		{ CKA_LABEL, (void *)q->label, q->label_len },
	};
	/* Without a label the last entry (CKA_LABEL) is left out. */
	CK_ULONG drop = q->label == NULL ? 1 : 0;

	return p->fn->C_GenerateKeyPair(p->session, &m, pt, OFP_ARRAY_LEN(pt) - drop, kt,
					OFP_ARRAY_LEN(kt) - drop, pub, priv);
}

static int generate(ofp_p11_t *p, unsigned alg, ofp_p11_use_t use, const p11c_query_t *q,
		    ofp_p11_key_t *out, const char *what)
{
	CK_RV rv;

	if (alg == OFP_P11_ALG_P256) {
		rv = gen_pair(p, alg, use, q, oid_p256, sizeof(oid_p256), &out->pub, &out->priv);
	} else {
		rv = gen_pair(p, alg, use, q, oid_ed25519, sizeof(oid_ed25519), &out->pub, &out->priv);
		if (rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_CURVE_NOT_SUPPORTED ||
		    rv == CKR_DOMAIN_PARAMS_INVALID)
			rv = gen_pair(p, alg, use, q, name_ed25519, sizeof(name_ed25519), &out->pub,
				      &out->priv);
	}
	if (rv != CKR_OK) {
		out->pub = out->priv = CK_INVALID_HANDLE;
		return p11c_fail(p, rv, "C_GenerateKeyPair", what);
	}
	out->alg = alg;
	memcpy(out->id, q->id, q->id_len);
	out->id_len = q->id_len;
	return 0;
}

int ofp_p11_generate_key(ofp_p11_t *p, unsigned alg, ofp_p11_use_t use, const char *label,
			 const uint8_t *id, size_t id_len, ofp_p11_key_t *out)
{
	char what[P11C_LABEL_MAX + 96];
	uint8_t random_id[8];
	p11c_query_t q = { label, label ? strlen(label) : 0, id, id_len };
	int ret = -1;

	reset_key(out);
	if (check_gen_args(p, alg, use, label, id, id_len) != 0)
		return -1;
	if (id == NULL) {
		if (RAND_bytes(random_id, sizeof(random_id)) != 1)
			return p11c_fail(p, CKR_FUNCTION_FAILED, "RAND_bytes", "key generation");
		q.id = random_id;
		q.id_len = sizeof(random_id);
	}
	p11c_name(what, sizeof(what), "key", &q);
	if (refuse_existing(p, &q, what) != 0 || generate(p, alg, use, &q, out, what) != 0)
		goto out;
	if (pub_from_object(p, out->pub, out, what) != 0)
		goto out;
	if (out->alg != alg) {
		p11c_error(p, "%s: the token made a key of another algorithm", what);
		goto out;
	}
	ret = 0;
out:
	if (ret != 0 && out->priv != CK_INVALID_HANDLE)
		(void)p->fn->C_DestroyObject(p->session, out->priv);
	if (ret != 0 && out->pub != CK_INVALID_HANDLE)
		(void)p->fn->C_DestroyObject(p->session, out->pub);
	if (ret != 0)
		reset_key(out);
	return ret;
}
