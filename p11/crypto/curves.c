/* curves.c - the curves the token knows (P-256, P-384, Ed25519) and
 * their encodings: CKA_EC_PARAMS, CKA_EC_POINT and the SubjectPublicKeyInfo
 * prefix of each (see keygen.c for why it is written directly).
 *
 * Attribute formats (PKCS#11 v3.0 section 2.3):
 *   CKA_EC_PARAMS   DER OID (P-256, P-384, Ed25519) or the DER
 *                   PrintableString "edwards25519"; kept as given.
 *   CKA_EC_POINT    DER OCTET STRING of 04||X||Y, of the 32 raw bytes for
 *                   Ed25519; the bare form is accepted on input.
 * Only uncompressed Weierstrass points are accepted (no CKF_EC_COMPRESS). */
#include "config.h"
#include "p11/crypto/internal.h"

#include <stdatomic.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/obj_mac.h>

/* ---- Curves ------------------------------------------------------------ */

typedef struct curve_entry {
	curve_t c;
	const CK_BYTE *oid; /* DER, tag and length included */
	size_t oid_len;
	const CK_BYTE *spki; /* SPKI DER up to the BIT STRING's unused-bits byte */
	size_t spki_len;
} curve_entry_t;

static const CK_BYTE oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const CK_BYTE oid_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const CK_BYTE oid_ed25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
static const CK_BYTE name_ed25519[] = "edwards25519";
static const CK_BYTE oid_x25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x6e };
static const CK_BYTE name_x25519[] = "curve25519";

/* SEQUENCE { SEQUENCE { id-ecPublicKey, curve }, BIT STRING { 00 point } } */
static const CK_BYTE spki_p256[] = {
	0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
};
static const CK_BYTE spki_p384[] = {
	0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
};
/* RFC 8410: SEQUENCE { SEQUENCE { id-Ed25519 }, BIT STRING { 00 key } } */
static const CK_BYTE spki_ed25519[] = {
	0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
};
/* RFC 8410 likewise for id-X25519. */
static const CK_BYTE spki_x25519[] = {
	0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00,
};

static const curve_entry_t curves[] = {
	{ { "prime256v1", KEYTYPE_EC, NID_X9_62_prime256v1, 32, 32, CKK_EC },
	  oid_p256, sizeof(oid_p256), spki_p256, sizeof(spki_p256) },
	{ { "secp384r1", KEYTYPE_EC, NID_secp384r1, 48, 48, CKK_EC },
	  oid_p384, sizeof(oid_p384), spki_p384, sizeof(spki_p384) },
	{ { NULL, "ED25519", NID_ED25519, 32, 32, CKK_EC_EDWARDS },
	  oid_ed25519, sizeof(oid_ed25519), spki_ed25519, sizeof(spki_ed25519) },
	{ { NULL, "X25519", NID_X25519, 32, 32, CKK_EC_MONTGOMERY },
	  oid_x25519, sizeof(oid_x25519), spki_x25519, sizeof(spki_x25519) },
};
#define ED25519_ENTRY (&curves[2])
#define X25519_ENTRY (&curves[3])

static const curve_entry_t *entry_of(const curve_t *c)
{
	return (const curve_entry_t *)c; /* c is the first member */
}

/* One whole DER TLV with a minimally encoded definite length. */
static bool der_tlv(const CK_BYTE *in, size_t len, CK_BYTE *tag, const CK_BYTE **val, size_t *vlen)
{
	size_t hdr, n;

	if (in == NULL || len < 2)
		return false;
	if (in[1] < 0x80) {
		n = in[1];
		hdr = 2;
	} else if (in[1] == 0x81 && len >= 3 && in[2] >= 0x80) {
		n = in[2];
		hdr = 3;
	} else if (in[1] == 0x82 && len >= 4 && in[2] != 0) {
		n = ((size_t)in[2] << 8) | in[3];
		hdr = 4;
	} else {
		return false;
	}
	if (len - hdr != n)
		return false;
	*tag = in[0];
	*val = in + hdr;
	*vlen = n;
	return true;
}

/* X.690 8.19: at least one subidentifier, none with a leading 0x80 octet,
 * the last one complete. */
static bool oid_well_formed(const CK_BYTE *v, size_t n)
{
	bool start = true;

	if (n == 0 || (v[n - 1] & 0x80) != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (start && v[i] == 0x80)
			return false;
		start = (v[i] & 0x80) == 0;
	}
	return true;
}

CK_RV crypto_curve_from_params(const CK_BYTE *der, CK_ULONG len, const curve_t **out)
{
	CK_BYTE tag;
	const CK_BYTE *val;
	size_t vlen;

	if (!der_tlv(der, len, &tag, &val, &vlen))
		return CKR_DOMAIN_PARAMS_INVALID;
	if (tag == 0x06) {
		if (!oid_well_formed(val, vlen))
			return CKR_DOMAIN_PARAMS_INVALID;
		for (size_t i = 0; i < OFP_ARRAY_LEN(curves); i++) {
			if (curves[i].oid_len == len && memcmp(curves[i].oid, der, len) == 0) {
				*out = &curves[i].c;
				return CKR_OK;
			}
		}
		return CKR_CURVE_NOT_SUPPORTED;
	}
	/* PrintableString: the curve name OpenSC's pkcs11-tool sends. */
	if (tag == 0x13 && vlen == sizeof(name_ed25519) - 1 && memcmp(val, name_ed25519, vlen) == 0) {
		*out = &ED25519_ENTRY->c;
		return CKR_OK;
	}
	if (tag == 0x13 && vlen == sizeof(name_x25519) - 1 && memcmp(val, name_x25519, vlen) == 0) {
		*out = &X25519_ENTRY->c;
		return CKR_OK;
	}
	/* Other names, explicit parameters, implicitlyCA: well-formed, unsupported. */
	return CKR_CURVE_NOT_SUPPORTED;
}

const CK_BYTE *crypto_curve_oid(const curve_t *c, size_t *len)
{
	*len = entry_of(c)->oid_len;
	return entry_of(c)->oid;
}

const curve_t *crypto_curve_of_pkey(const EVP_PKEY *pkey)
{
	/* Both are plain field reads on OpenSSL 3.0; a group-name lookup would
	 * cost a provider round trip on every operation. Keys reach this layer
	 * only from crypto_pkey_from_attrs or key generation, which admit no
	 * other 256- or 384-bit curve. */
	switch (EVP_PKEY_get_id(pkey)) {
	case EVP_PKEY_EC:
		switch (EVP_PKEY_get_bits(pkey)) {
		case 256: return &curves[0].c;
		case 384: return &curves[1].c;
		default: return NULL;
		}
	case EVP_PKEY_ED25519:
		return &ED25519_ENTRY->c;
	case EVP_PKEY_X25519:
		return &X25519_ENTRY->c;
	default:
		return NULL;
	}
}

size_t crypto_point_len(const curve_t *c)
{
	return c->key_type == CKK_EC ? 1 + 2 * c->field_len : c->field_len;
}

static bool point_form_ok(const curve_t *c, const CK_BYTE *p, size_t len)
{
	return len == crypto_point_len(c) && (c->key_type != CKK_EC || p[0] == 0x04);
}

CK_RV crypto_ec_point_unwrap(const curve_t *c, const CK_BYTE *in, CK_ULONG len,
			     const CK_BYTE **point, size_t *plen)
{
	CK_BYTE tag;
	const CK_BYTE *val;
	size_t vlen;

	if (in == NULL)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	/* The bare form is two bytes shorter than the wrapped one, so the
	 * length alone tells them apart. */
	if (point_form_ok(c, in, len)) {
		*point = in;
		*plen = len;
		return CKR_OK;
	}
	if (der_tlv(in, len, &tag, &val, &vlen) && tag == 0x04 && point_form_ok(c, val, vlen)) {
		*point = val;
		*plen = vlen;
		return CKR_OK;
	}
	return CKR_ATTRIBUTE_VALUE_INVALID;
}


/* CKA_PUBLIC_KEY_INFO of a curve key from its raw point: the curve's fixed
 * prefix and the point. */
CK_RV crypto_spki_from_point(attr_list_t *l, const curve_t *c, const CK_BYTE *pt, size_t plen)
{
	const curve_entry_t *e = entry_of(c);
	CK_BYTE der[sizeof(spki_p384) + POINT_MAX];

	memcpy(der, e->spki, e->spki_len);
	memcpy(der + e->spki_len, pt, plen);
	return attr_list_set(l, CKA_PUBLIC_KEY_INFO, der, (CK_ULONG)(e->spki_len + plen));
}

/* Each Weierstrass curve's domain parameters as an EVP_PKEY, made on first
 * use and kept until crypto_release. Generating from a context made on it
 * copies its group, where a context made by key type and group name builds
 * the group anew (precomputation, Montgomery constants) and fetches the
 * key manager: 140,000 instructions of a P-256 generation's 317,000.
 * Published once with a compare-and-swap (a losing racer frees its copy)
 * and only read afterwards, as the operation templates are. */
static _Atomic(EVP_PKEY *) curve_params[OFP_ARRAY_LEN(curves)];

EVP_PKEY *crypto_curve_params(const curve_t *c)
{
	_Atomic(EVP_PKEY *) *slot = &curve_params[entry_of(c) - curves];
	EVP_PKEY *have = atomic_load_explicit(slot, memory_order_acquire), *mine;
	OSSL_PARAM p[2];

	if (have != NULL)
		return have;
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)c->group, 0);
	p[1] = OSSL_PARAM_construct_end();
	mine = crypto_pkey_fromdata(c->keytype, EVP_PKEY_KEY_PARAMETERS, p);
	if (mine == NULL)
		return NULL;
	if (atomic_compare_exchange_strong_explicit(slot, &have, mine, memory_order_acq_rel,
						    memory_order_acquire))
		return mine;
	EVP_PKEY_free(mine);
	return have;
}

void crypto_release(void)
{
	for (size_t i = 0; i < OFP_ARRAY_LEN(curve_params); i++)
		EVP_PKEY_free(atomic_exchange(&curve_params[i], NULL));
}
