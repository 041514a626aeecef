/* test-crypto.c - the crypto layer against plain OpenSSL, both ways.
 *
 * Every mechanism: what this layer signs (or encrypts, or derives) plain
 * OpenSSL verifies (decrypts, derives from the other side) with a key it
 * builds itself from the SubjectPublicKeyInfo, and what OpenSSL signs with
 * a key it generated this layer verifies after importing the attributes
 * the test extracts on its own. Then the encodings and the bad input. */
#include "config.h"
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "p11/crypto/crypto.h"
#include "p11/crypto/internal.h"

static const CK_BYTE P256_OID[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const CK_BYTE P384_OID[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const CK_BYTE ED_OID[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
static const CK_BYTE ED_NAME[] = { 0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's', '2', '5', '5', '1', '9' };
static const CK_BYTE P521_OID[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23 };
static const CK_BYTE K256_OID[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a };

static const CK_BYTE MSG[] = "offpass: a gate passage right, checked offline";

/* ---- helpers ------------------------------------------------------------ */

static CK_MECHANISM mech0(CK_MECHANISM_TYPE t)
{
	CK_MECHANISM m = { t, NULL, 0 };
	return m;
}

static const attr_t *must_find(const attr_list_t *l, CK_ATTRIBUTE_TYPE t)
{
	const attr_t *a = attr_list_find(l, t);
	ck_assert_msg(a != NULL, "attribute 0x%lx missing", (unsigned long)t);
	return a;
}

static CK_RV gen_ec(CK_MECHANISM_TYPE mt, const CK_BYTE *params, size_t plen, attr_list_t *pub, attr_list_t *priv)
{
	CK_MECHANISM m = mech0(mt);

	attr_list_init(pub);
	attr_list_init(priv);
	if (params != NULL)
		ck_assert_int_eq(attr_list_set(pub, CKA_EC_PARAMS, params, plen), CKR_OK);
	return crypto_generate_key_pair(&m, pub, priv);
}

static CK_RV gen_rsa(CK_ULONG bits, const CK_BYTE *e, size_t elen, attr_list_t *pub, attr_list_t *priv)
{
	CK_MECHANISM m = mech0(CKM_RSA_PKCS_KEY_PAIR_GEN);

	attr_list_init(pub);
	attr_list_init(priv);
	ck_assert_int_eq(attr_list_set_ulong(pub, CKA_MODULUS_BITS, bits), CKR_OK);
	if (e != NULL)
		ck_assert_int_eq(attr_list_set(pub, CKA_PUBLIC_EXPONENT, e, elen), CKR_OK);
	return crypto_generate_key_pair(&m, pub, priv);
}

static EVP_PKEY *our_key(CK_OBJECT_CLASS klass, const attr_list_t *l)
{
	EVP_PKEY *k = NULL;
	ck_assert_int_eq(crypto_pkey_from_attrs(klass, l, &k), CKR_OK);
	ck_assert_ptr_nonnull(k);
	return k;
}

/* Plain OpenSSL's own reading of the SubjectPublicKeyInfo. */
static EVP_PKEY *spki_key(const attr_list_t *l)
{
	const attr_t *a = must_find(l, CKA_PUBLIC_KEY_INFO);
	const unsigned char *p = a->value;
	EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)a->len);
	unsigned char *re = NULL;
	int n;

	ck_assert_ptr_nonnull(k);
	ck_assert_ptr_eq(p, a->value + a->len);
	/* Canonical: OpenSSL writes back the very same bytes. */
	n = i2d_PUBKEY(k, &re);
	ck_assert_int_eq(n, (int)a->len);
	ck_assert_mem_eq(re, a->value, a->len);
	OPENSSL_free(re);
	return k;
}

static CK_RV our_sign(EVP_PKEY *k, CK_KEY_TYPE kt, const CK_MECHANISM *m, const CK_BYTE *d, size_t dl,
		      CK_BYTE *sig, CK_ULONG *sl)
{
	crypto_op_t *op = NULL;
	CK_RV rv = crypto_op_new(CRYPTO_SIGN, m, k, kt, &op);

	if (rv != CKR_OK)
		return rv;
	ck_assert_uint_le(crypto_op_output_size(op, dl), *sl);
	rv = crypto_op_oneshot(op, d, dl, sig, sl);
	crypto_op_free(op);
	return rv;
}

/* Multi-part in uneven pieces, with an empty update among them. */
static CK_RV our_sign_parts(EVP_PKEY *k, CK_KEY_TYPE kt, const CK_MECHANISM *m, const CK_BYTE *d, size_t dl,
			    CK_BYTE *sig, CK_ULONG *sl)
{
	crypto_op_t *op = NULL;
	CK_RV rv = crypto_op_new(CRYPTO_SIGN, m, k, kt, &op);
	size_t cut = dl / 3;

	if (rv != CKR_OK)
		return rv;
	ck_assert(crypto_op_multipart(op));
	ck_assert_int_eq(crypto_op_update(op, d, cut), CKR_OK);
	ck_assert_int_eq(crypto_op_update(op, NULL, 0), CKR_OK);
	ck_assert_int_eq(crypto_op_update(op, d + cut, dl - cut), CKR_OK);
	rv = crypto_op_final(op, sig, sl);
	crypto_op_free(op);
	return rv;
}

static CK_RV our_verify(EVP_PKEY *k, CK_KEY_TYPE kt, const CK_MECHANISM *m, const CK_BYTE *d, size_t dl,
			const CK_BYTE *sig, size_t sl)
{
	crypto_op_t *op = NULL;
	CK_RV rv = crypto_op_new(CRYPTO_VERIFY, m, k, kt, &op);

	if (rv != CKR_OK)
		return rv;
	rv = crypto_op_verify_oneshot(op, d, dl, sig, sl);
	crypto_op_free(op);
	return rv;
}

static CK_RV our_verify_parts(EVP_PKEY *k, CK_KEY_TYPE kt, const CK_MECHANISM *m, const CK_BYTE *d,
			      size_t dl, const CK_BYTE *sig, size_t sl)
{
	crypto_op_t *op = NULL;
	CK_RV rv = crypto_op_new(CRYPTO_VERIFY, m, k, kt, &op);

	if (rv != CKR_OK)
		return rv;
	ck_assert(crypto_op_multipart(op));
	ck_assert_int_eq(crypto_op_update(op, d, 1), CKR_OK);
	ck_assert_int_eq(crypto_op_update(op, d + 1, dl - 1), CKR_OK);
	rv = crypto_op_verify_final(op, sig, sl);
	crypto_op_free(op);
	return rv;
}

static const EVP_MD *md_of(CK_MECHANISM_TYPE mt)
{
	switch (mt) {
	case CKM_ECDSA_SHA1: return EVP_sha1();
	case CKM_ECDSA_SHA256:
	case CKM_SHA256_RSA_PKCS:
	case CKM_SHA256_RSA_PKCS_PSS:
	case CKM_SHA256: return EVP_sha256();
	case CKM_ECDSA_SHA384:
	case CKM_SHA384: return EVP_sha384();
	default: return NULL;
	}
}

/* r||s -> DER, written here with OpenSSL's ECDSA_SIG. */
static int rs_to_der(const CK_BYTE *sig, size_t sl, unsigned char **der)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)(sl / 2), NULL), *s = BN_bin2bn(sig + sl / 2, (int)(sl / 2), NULL);
	int n;

	ck_assert(es != NULL && r != NULL && s != NULL);
	ck_assert_int_eq(ECDSA_SIG_set0(es, r, s), 1);
	*der = NULL;
	n = i2d_ECDSA_SIG(es, der);
	ECDSA_SIG_free(es);
	ck_assert_int_gt(n, 0);
	return n;
}

static size_t der_to_rs(const unsigned char *der, size_t dl, size_t half, CK_BYTE *out)
{
	const unsigned char *p = der;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dl);
	const BIGNUM *r, *s;

	ck_assert_ptr_nonnull(es);
	ECDSA_SIG_get0(es, &r, &s);
	ck_assert_int_eq(BN_bn2binpad(r, out, (int)half), (int)half);
	ck_assert_int_eq(BN_bn2binpad(s, out + half, (int)half), (int)half);
	ECDSA_SIG_free(es);
	return 2 * half;
}

/* OpenSSL verifies an ECDSA r||s signature over data (hashing per mechanism). */
static int ossl_ecdsa_verify(EVP_PKEY *pub, CK_MECHANISM_TYPE mt, const CK_BYTE *d, size_t dl,
			     const CK_BYTE *sig, size_t sl)
{
	unsigned char *der = NULL;
	int n = rs_to_der(sig, sl, &der), r;

	if (mt == CKM_ECDSA) {
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pub, NULL);
		ck_assert_int_eq(EVP_PKEY_verify_init(c), 1);
		r = EVP_PKEY_verify(c, der, (size_t)n, d, dl);
		EVP_PKEY_CTX_free(c);
	} else {
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		ck_assert_int_eq(EVP_DigestVerifyInit(c, NULL, md_of(mt), NULL, pub), 1);
		r = EVP_DigestVerify(c, der, (size_t)n, d, dl);
		EVP_MD_CTX_free(c);
	}
	OPENSSL_free(der);
	return r;
}

static size_t ossl_ecdsa_sign(EVP_PKEY *priv, CK_MECHANISM_TYPE mt, const CK_BYTE *d, size_t dl,
			      size_t half, CK_BYTE *out)
{
	unsigned char der[160];
	size_t n = sizeof(der);

	if (mt == CKM_ECDSA) {
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(priv, NULL);
		ck_assert_int_eq(EVP_PKEY_sign_init(c), 1);
		ck_assert_int_eq(EVP_PKEY_sign(c, der, &n, d, dl), 1);
		EVP_PKEY_CTX_free(c);
	} else {
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		ck_assert_int_eq(EVP_DigestSignInit(c, NULL, md_of(mt), NULL, priv), 1);
		ck_assert_int_eq(EVP_DigestSign(c, der, &n, d, dl), 1);
		EVP_MD_CTX_free(c);
	}
	return der_to_rs(der, n, half, out);
}

/* Attributes of an OpenSSL-generated EC key, extracted by the test. The
 * point goes in DER or bare, to cover both accepted forms. */
static void ossl_ec_attrs(EVP_PKEY *k, const CK_BYTE *oid, size_t oid_len, size_t half, bool bare,
			  attr_list_t *pub, attr_list_t *priv)
{
	CK_BYTE pt[2 + 97], d[48];
	size_t plen = 0;
	BIGNUM *bn = NULL;

	attr_list_init(pub);
	attr_list_init(priv);
	ck_assert_int_eq(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pt + 2, 97, &plen), 1);
	ck_assert_uint_eq(plen, 1 + 2 * half);
	pt[0] = 0x04;
	pt[1] = (CK_BYTE)plen;
	ck_assert_int_eq(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &bn), 1);
	ck_assert_int_eq(BN_bn2binpad(bn, d, (int)half), (int)half);
	BN_clear_free(bn);
	ck_assert_int_eq(attr_list_set_ulong(pub, CKA_KEY_TYPE, CKK_EC), CKR_OK);
	ck_assert_int_eq(attr_list_set(pub, CKA_EC_PARAMS, oid, oid_len), CKR_OK);
	ck_assert_int_eq(attr_list_set(pub, CKA_EC_POINT, bare ? pt + 2 : pt, bare ? plen : plen + 2), CKR_OK);
	ck_assert_int_eq(attr_list_set_ulong(priv, CKA_KEY_TYPE, CKK_EC), CKR_OK);
	ck_assert_int_eq(attr_list_set(priv, CKA_EC_PARAMS, oid, oid_len), CKR_OK);
	ck_assert_int_eq(attr_list_set(priv, CKA_VALUE, d, half), CKR_OK);
}

static EVP_PKEY *ossl_keygen_ec(const char *group)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
	ck_assert_ptr_nonnull(k);
	return k;
}

/* ---- RSA keys, made once (in the parent: fixtures are unchecked) ------- */

static attr_list_t rsa_pub, rsa_priv;     /* generated by the layer */
static EVP_PKEY *rsa_ossl;                /* generated by OpenSSL */
static attr_list_t rsa_opub, rsa_opriv;   /* its attributes, extracted here */

static void bn_attr(attr_list_t *l, CK_ATTRIBUTE_TYPE t, EVP_PKEY *k, const char *name)
{
	BIGNUM *bn = NULL;
	CK_BYTE buf[600];
	int n;

	ck_assert_int_eq(EVP_PKEY_get_bn_param(k, name, &bn), 1);
	n = BN_bn2bin(bn, buf);
	BN_clear_free(bn);
	ck_assert_int_eq(attr_list_set(l, t, buf, (CK_ULONG)n), CKR_OK);
}

static void rsa_setup(void)
{
	ck_assert_int_eq(gen_rsa(2048, NULL, 0, &rsa_pub, &rsa_priv), CKR_OK);
	rsa_ossl = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ck_assert_ptr_nonnull(rsa_ossl);
	attr_list_init(&rsa_opub);
	attr_list_init(&rsa_opriv);
	ck_assert_int_eq(attr_list_set_ulong(&rsa_opub, CKA_KEY_TYPE, CKK_RSA), CKR_OK);
	ck_assert_int_eq(attr_list_set_ulong(&rsa_opriv, CKA_KEY_TYPE, CKK_RSA), CKR_OK);
	bn_attr(&rsa_opub, CKA_MODULUS, rsa_ossl, OSSL_PKEY_PARAM_RSA_N);
	bn_attr(&rsa_opub, CKA_PUBLIC_EXPONENT, rsa_ossl, OSSL_PKEY_PARAM_RSA_E);
	bn_attr(&rsa_opriv, CKA_MODULUS, rsa_ossl, OSSL_PKEY_PARAM_RSA_N);
	bn_attr(&rsa_opriv, CKA_PUBLIC_EXPONENT, rsa_ossl, OSSL_PKEY_PARAM_RSA_E);
	bn_attr(&rsa_opriv, CKA_PRIVATE_EXPONENT, rsa_ossl, OSSL_PKEY_PARAM_RSA_D);
	bn_attr(&rsa_opriv, CKA_PRIME_1, rsa_ossl, OSSL_PKEY_PARAM_RSA_FACTOR1);
	bn_attr(&rsa_opriv, CKA_PRIME_2, rsa_ossl, OSSL_PKEY_PARAM_RSA_FACTOR2);
	bn_attr(&rsa_opriv, CKA_EXPONENT_1, rsa_ossl, OSSL_PKEY_PARAM_RSA_EXPONENT1);
	bn_attr(&rsa_opriv, CKA_EXPONENT_2, rsa_ossl, OSSL_PKEY_PARAM_RSA_EXPONENT2);
	bn_attr(&rsa_opriv, CKA_COEFFICIENT, rsa_ossl, OSSL_PKEY_PARAM_RSA_COEFFICIENT1);
}

static void rsa_teardown(void)
{
	attr_list_clear(&rsa_pub);
	attr_list_clear(&rsa_priv);
	attr_list_clear(&rsa_opub);
	attr_list_clear(&rsa_opriv);
	EVP_PKEY_free(rsa_ossl);
}

/* OpenSSL verifies an RSA signature; pss_salt < 0 means PKCS#1 v1.5. With
 * md NULL the input is the DigestInfo (v1.5) or the hash (PSS, SHA-256). */
static int ossl_rsa_verify(EVP_PKEY *pub, const EVP_MD *md, int pss_salt, const CK_BYTE *d, size_t dl,
			   const CK_BYTE *sig, size_t sl)
{
	EVP_PKEY_CTX *pc = NULL;
	int r;

	if (md == NULL) {
		pc = EVP_PKEY_CTX_new(pub, NULL);
		ck_assert_int_eq(EVP_PKEY_verify_init(pc), 1);
		if (pss_salt >= 0) {
			ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING), 0);
			ck_assert_int_gt(EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()), 0);
			ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, pss_salt), 0);
		} else {
			ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING), 0);
		}
		r = EVP_PKEY_verify(pc, sig, sl, d, dl);
		EVP_PKEY_CTX_free(pc);
		return r;
	}
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	ck_assert_int_eq(EVP_DigestVerifyInit(c, &pc, md, NULL, pub), 1);
	if (pss_salt >= 0) {
		ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING), 0);
		ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, pss_salt), 0);
	}
	r = EVP_DigestVerify(c, sig, sl, d, dl);
	EVP_MD_CTX_free(c);
	return r;
}

static size_t ossl_rsa_sign(EVP_PKEY *priv, const EVP_MD *md, int pss_salt, const CK_BYTE *d, size_t dl,
			    CK_BYTE *sig)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	size_t n = 512;

	ck_assert_int_eq(EVP_DigestSignInit(c, &pc, md, NULL, priv), 1);
	if (pss_salt >= 0) {
		ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING), 0);
		ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, pss_salt), 0);
	}
	ck_assert_int_eq(EVP_DigestSign(c, sig, &n, d, dl), 1);
	EVP_MD_CTX_free(c);
	return n;
}

static const CK_BYTE SHA256_DIGESTINFO[] = {
	0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
	0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
};

static size_t digest_info(const CK_BYTE *d, size_t dl, CK_BYTE out[51])
{
	unsigned int n = 0;
	memcpy(out, SHA256_DIGESTINFO, sizeof(SHA256_DIGESTINFO));
	ck_assert_int_eq(EVP_Digest(d, dl, out + sizeof(SHA256_DIGESTINFO), &n, EVP_sha256(), NULL), 1);
	return sizeof(SHA256_DIGESTINFO) + n;
}

/* ---- mechanisms --------------------------------------------------------- */

static const CK_MECHANISM_TYPE expected_mechs[] = {
	CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512,
	CKM_EC_KEY_PAIR_GEN, CKM_ECDSA, CKM_ECDSA_SHA1, CKM_ECDSA_SHA224, CKM_ECDSA_SHA256,
	CKM_ECDSA_SHA384, CKM_ECDSA_SHA512, CKM_ECDH1_DERIVE,
	CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA, CKM_EC_MONTGOMERY_KEY_PAIR_GEN,
	CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_RSA_PKCS, CKM_SHA1_RSA_PKCS, CKM_SHA224_RSA_PKCS,
	CKM_SHA256_RSA_PKCS, CKM_SHA384_RSA_PKCS, CKM_SHA512_RSA_PKCS, CKM_RSA_PKCS_PSS,
	CKM_SHA1_RSA_PKCS_PSS, CKM_SHA224_RSA_PKCS_PSS, CKM_SHA256_RSA_PKCS_PSS,
	CKM_SHA384_RSA_PKCS_PSS, CKM_SHA512_RSA_PKCS_PSS, CKM_RSA_PKCS_OAEP,
	CKM_GENERIC_SECRET_KEY_GEN, CKM_SHA_1_HMAC, CKM_SHA_1_HMAC_GENERAL, CKM_SHA224_HMAC,
	CKM_SHA224_HMAC_GENERAL, CKM_SHA256_HMAC, CKM_SHA256_HMAC_GENERAL, CKM_SHA384_HMAC,
	CKM_SHA384_HMAC_GENERAL, CKM_SHA512_HMAC, CKM_SHA512_HMAC_GENERAL,
	CKM_AES_KEY_GEN, CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CBC_PAD, CKM_AES_CTR, CKM_AES_GCM,
	CKM_AES_CMAC, CKM_AES_CMAC_GENERAL, CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_KWP,
	CKM_DES3_KEY_GEN, CKM_DES3_ECB, CKM_DES3_CBC, CKM_DES3_CBC_PAD,
};

START_TEST(mech_list_two_call)
{
	CK_MECHANISM_TYPE list[96];
	CK_ULONG n = 0, small;

	ck_assert_int_eq(crypto_mechanism_list(NULL, &n), CKR_OK);
	ck_assert_uint_eq(n, OFP_ARRAY_LEN(expected_mechs));
	small = n - 1;
	ck_assert_int_eq(crypto_mechanism_list(list, &small), CKR_BUFFER_TOO_SMALL);
	ck_assert_uint_eq(small, n);
	ck_assert_int_eq(crypto_mechanism_list(NULL, NULL), CKR_ARGUMENTS_BAD);
	n = OFP_ARRAY_LEN(list);
	ck_assert_int_eq(crypto_mechanism_list(list, &n), CKR_OK);
	ck_assert_uint_eq(n, OFP_ARRAY_LEN(expected_mechs));
	for (size_t i = 0; i < OFP_ARRAY_LEN(expected_mechs); i++) {
		bool found = false;
		for (CK_ULONG j = 0; j < n; j++)
			found = found || list[j] == expected_mechs[i];
		ck_assert_msg(found, "mechanism 0x%lx missing", (unsigned long)expected_mechs[i]);
	}
}
END_TEST

static void check_info(CK_MECHANISM_TYPE t, CK_ULONG min, CK_ULONG max, CK_FLAGS flags)
{
	CK_MECHANISM_INFO info;

	ck_assert_int_eq(crypto_mechanism_info(t, &info), CKR_OK);
	ck_assert_uint_eq(info.ulMinKeySize, min);
	ck_assert_uint_eq(info.ulMaxKeySize, max);
	ck_assert_msg(info.flags == flags, "mechanism 0x%lx flags 0x%lx, want 0x%lx", (unsigned long)t,
		      (unsigned long)info.flags, (unsigned long)flags);
	ck_assert((info.flags & CKF_HW) == 0);
}

START_TEST(mech_info)
{
	const CK_FLAGS ec = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;
	const CK_FLAGS ed = CKF_EC_F_P | CKF_EC_NAMEDCURVE;
	const CK_FLAGS sv = CKF_SIGN | CKF_VERIFY;
	CK_MECHANISM_INFO info;

	check_info(CKM_EC_KEY_PAIR_GEN, 256, 384, CKF_GENERATE_KEY_PAIR | ec);
	check_info(CKM_ECDSA, 256, 384, sv | ec);
	check_info(CKM_ECDSA_SHA1, 256, 384, sv | ec);
	check_info(CKM_ECDSA_SHA256, 256, 384, sv | ec);
	check_info(CKM_ECDSA_SHA384, 256, 384, sv | ec);
	check_info(CKM_ECDH1_DERIVE, 256, 384, CKF_DERIVE | ec);
	check_info(CKM_EC_EDWARDS_KEY_PAIR_GEN, 256, 256, CKF_GENERATE_KEY_PAIR | ed);
	check_info(CKM_EDDSA, 256, 256, sv | ed);
	check_info(CKM_SHA256, 0, 0, CKF_DIGEST);
	check_info(CKM_SHA384, 0, 0, CKF_DIGEST);
	check_info(CKM_RSA_PKCS_KEY_PAIR_GEN, 2048, 4096, CKF_GENERATE_KEY_PAIR);
	check_info(CKM_RSA_PKCS, 2048, 4096, sv | CKF_ENCRYPT | CKF_DECRYPT);
	check_info(CKM_SHA256_RSA_PKCS, 2048, 4096, sv);
	check_info(CKM_RSA_PKCS_PSS, 2048, 4096, sv);
	check_info(CKM_SHA256_RSA_PKCS_PSS, 2048, 4096, sv);
	check_info(CKM_RSA_PKCS_OAEP, 2048, 4096, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP);
	check_info(CKM_SHA512, 0, 0, CKF_DIGEST);
	check_info(CKM_ECDSA_SHA512, 256, 384, sv | ec);
	check_info(CKM_SHA512_RSA_PKCS_PSS, 2048, 4096, sv);
	check_info(CKM_AES_KEY_GEN, 16, 32, CKF_GENERATE);
	check_info(CKM_AES_GCM, 16, 32, CKF_ENCRYPT | CKF_DECRYPT);
	check_info(CKM_AES_CMAC_GENERAL, 16, 32, sv);
	check_info(CKM_AES_KEY_WRAP_KWP, 16, 32, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP);
	check_info(CKM_SHA256_HMAC, 1, 512, sv);
	check_info(CKM_DES3_KEY_GEN, 24, 24, CKF_GENERATE);
	check_info(CKM_DES3_CBC_PAD, 24, 24, CKF_ENCRYPT | CKF_DECRYPT);
	check_info(CKM_GENERIC_SECRET_KEY_GEN, 1, 512, CKF_GENERATE);

	ck_assert_int_eq(crypto_mechanism_info(CKM_MD5, &info), CKR_MECHANISM_INVALID);
	ck_assert_int_eq(crypto_mechanism_info(CKM_DES_CBC, &info), CKR_MECHANISM_INVALID);
	ck_assert_int_eq(crypto_mechanism_info(CKM_ECDSA, NULL), CKR_ARGUMENTS_BAD);
	ck_assert(crypto_mechanism_has(CKM_ECDSA, CKF_SIGN));
	ck_assert(crypto_mechanism_has(CKM_RSA_PKCS, CKF_SIGN | CKF_DECRYPT));
	ck_assert(!crypto_mechanism_has(CKM_RSA_PKCS_OAEP, CKF_SIGN));
	ck_assert(!crypto_mechanism_has(CKM_ECDSA, CKF_DERIVE));
	ck_assert(!crypto_mechanism_has(CKM_MD5, CKF_DIGEST));
	ck_assert(!crypto_mechanism_has(CKM_ECDSA, 0));
}
END_TEST

/* ---- digest ------------------------------------------------------------- */

START_TEST(digest_matches_openssl)
{
	const CK_MECHANISM_TYPE mechs[] = { CKM_SHA256, CKM_SHA384 };
	CK_BYTE big[3000], want[64], got[64];
	unsigned int wl;

	ck_assert_int_eq(RAND_bytes(big, sizeof(big)), 1);
	for (size_t i = 0; i < OFP_ARRAY_LEN(mechs); i++) {
		CK_MECHANISM m = mech0(mechs[i]);
		crypto_op_t *op = NULL;
		CK_ULONG gl;

		ck_assert_int_eq(EVP_Digest(big, sizeof(big), want, &wl, md_of(mechs[i]), NULL), 1);
		/* one-shot, with the size query and a too-small buffer first */
		ck_assert_int_eq(crypto_op_new(CRYPTO_DIGEST, &m, NULL, 0, &op), CKR_OK);
		ck_assert_uint_eq(crypto_op_output_size(op, sizeof(big)), wl);
		gl = 0;
		ck_assert_int_eq(crypto_op_oneshot(op, big, sizeof(big), NULL, &gl), CKR_OK);
		ck_assert_uint_eq(gl, wl);
		gl = wl - 1;
		ck_assert_int_eq(crypto_op_oneshot(op, big, sizeof(big), got, &gl), CKR_BUFFER_TOO_SMALL);
		ck_assert_uint_eq(gl, wl);
		gl = sizeof(got);
		ck_assert_int_eq(crypto_op_oneshot(op, big, sizeof(big), got, &gl), CKR_OK);
		ck_assert_uint_eq(gl, wl);
		ck_assert_mem_eq(got, want, wl);
		crypto_op_free(op);

		/* multi-part */
		ck_assert_int_eq(crypto_op_new(CRYPTO_DIGEST, &m, NULL, 0, &op), CKR_OK);
		ck_assert(crypto_op_multipart(op));
		for (size_t off = 0; off < sizeof(big); off += 700) {
			size_t n = sizeof(big) - off < 700 ? sizeof(big) - off : 700;
			ck_assert_int_eq(crypto_op_update(op, big + off, n), CKR_OK);
		}
		gl = sizeof(got);
		ck_assert_int_eq(crypto_op_final(op, got, &gl), CKR_OK);
		ck_assert_uint_eq(gl, wl);
		ck_assert_mem_eq(got, want, wl);
		crypto_op_free(op);

		/* the empty message */
		ck_assert_int_eq(EVP_Digest("", 0, want, &wl, md_of(mechs[i]), NULL), 1);
		ck_assert_int_eq(crypto_op_new(CRYPTO_DIGEST, &m, NULL, 0, &op), CKR_OK);
		gl = sizeof(got);
		ck_assert_int_eq(crypto_op_oneshot(op, NULL, 0, got, &gl), CKR_OK);
		ck_assert_mem_eq(got, want, wl);
		crypto_op_free(op);
	}
}
END_TEST

START_TEST(digest_bad_use)
{
	CK_MECHANISM m = mech0(CKM_SHA256);
	CK_MECHANISM bad = mech0(CKM_MD5);
	CK_BYTE junk[4];
	crypto_op_t *op = NULL;

	ck_assert_int_eq(crypto_op_new(CRYPTO_DIGEST, &bad, NULL, 0, &op), CKR_MECHANISM_INVALID);
	ck_assert_ptr_null(op);
	m.pParameter = junk;
	m.ulParameterLen = sizeof(junk);
	ck_assert_int_eq(crypto_op_new(CRYPTO_DIGEST, &m, NULL, 0, &op), CKR_MECHANISM_PARAM_INVALID);
	/* a sign mechanism is no digest, and a digest signs nothing */
	m = mech0(CKM_ECDSA_SHA256);
	ck_assert_int_eq(crypto_op_new(CRYPTO_DIGEST, &m, NULL, 0, &op), CKR_MECHANISM_INVALID);
	m = mech0(CKM_SHA256);
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &m, NULL, 0, &op), CKR_MECHANISM_INVALID);
	ck_assert_int_eq(crypto_op_new(CRYPTO_DIGEST, NULL, NULL, 0, &op), CKR_ARGUMENTS_BAD);
}
END_TEST

/* ---- ECDSA -------------------------------------------------------------- */

static const CK_MECHANISM_TYPE ecdsa_mechs[] = { CKM_ECDSA, CKM_ECDSA_SHA1, CKM_ECDSA_SHA256, CKM_ECDSA_SHA384 };

static void ecdsa_both_ways(const CK_BYTE *oid, size_t oid_len, const char *group, size_t half)
{
	attr_list_t pub, priv, opub, opriv;
	EVP_PKEY *k_priv, *k_pub, *o_pub, *oss, *imp_priv, *imp_pub;
	CK_BYTE hash[48], sig[96];
	CK_ULONG sl;

	ck_assert_int_eq(RAND_bytes(hash, sizeof(hash)), 1);
	ck_assert_int_eq(gen_ec(CKM_EC_KEY_PAIR_GEN, oid, oid_len, &pub, &priv), CKR_OK);
	k_priv = our_key(CKO_PRIVATE_KEY, &priv);
	k_pub = our_key(CKO_PUBLIC_KEY, &pub);
	o_pub = spki_key(&pub);
	oss = ossl_keygen_ec(group);
	ossl_ec_attrs(oss, oid, oid_len, half, half == 48, &opub, &opriv);
	imp_priv = our_key(CKO_PRIVATE_KEY, &opriv);
	imp_pub = our_key(CKO_PUBLIC_KEY, &opub);

	for (size_t i = 0; i < OFP_ARRAY_LEN(ecdsa_mechs); i++) {
		CK_MECHANISM m = mech0(ecdsa_mechs[i]);
		const CK_BYTE *d = ecdsa_mechs[i] == CKM_ECDSA ? hash : MSG;
		size_t dl = ecdsa_mechs[i] == CKM_ECDSA ? half : sizeof(MSG);

		/* layer signs (generated key), OpenSSL verifies via the SPKI */
		sl = sizeof(sig);
		ck_assert_int_eq(our_sign(k_priv, CKK_EC, &m, d, dl, sig, &sl), CKR_OK);
		ck_assert_uint_eq(sl, 2 * half);
		ck_assert_int_eq(ossl_ecdsa_verify(o_pub, m.mechanism, d, dl, sig, sl), 1);
		ck_assert_int_eq(our_verify(k_pub, CKK_EC, &m, d, dl, sig, sl), CKR_OK);
		if (m.mechanism != CKM_ECDSA) {
			sl = sizeof(sig);
			ck_assert_int_eq(our_sign_parts(k_priv, CKK_EC, &m, d, dl, sig, &sl), CKR_OK);
			ck_assert_int_eq(ossl_ecdsa_verify(o_pub, m.mechanism, d, dl, sig, sl), 1);
			ck_assert_int_eq(our_verify_parts(k_pub, CKK_EC, &m, d, dl, sig, sl), CKR_OK);
		}
		/* OpenSSL signs (its own key), the layer verifies the imported key */
		sl = ossl_ecdsa_sign(oss, m.mechanism, d, dl, half, sig);
		ck_assert_int_eq(our_verify(imp_pub, CKK_EC, &m, d, dl, sig, sl), CKR_OK);
		/* the imported private key signs what OpenSSL's public key accepts */
		sl = sizeof(sig);
		ck_assert_int_eq(our_sign(imp_priv, CKK_EC, &m, d, dl, sig, &sl), CKR_OK);
		ck_assert_int_eq(ossl_ecdsa_verify(oss, m.mechanism, d, dl, sig, sl), 1);
	}
	EVP_PKEY_free(k_priv);
	EVP_PKEY_free(k_pub);
	EVP_PKEY_free(o_pub);
	EVP_PKEY_free(oss);
	EVP_PKEY_free(imp_priv);
	EVP_PKEY_free(imp_pub);
	attr_list_clear(&pub);
	attr_list_clear(&priv);
	attr_list_clear(&opub);
	attr_list_clear(&opriv);
}

START_TEST(ecdsa_p256) { ecdsa_both_ways(P256_OID, sizeof(P256_OID), "P-256", 32); }
END_TEST
START_TEST(ecdsa_p384) { ecdsa_both_ways(P384_OID, sizeof(P384_OID), "P-384", 48); }
END_TEST

/* r or s below 2^248 comes once in 128 signatures: sign enough to meet it
 * many times, both ways, and check every one. */
START_TEST(ecdsa_leading_zeros)
{
	attr_list_t pub, priv;
	EVP_PKEY *k, *o_pub;
	CK_MECHANISM m = mech0(CKM_ECDSA);
	CK_BYTE hash[32], sig[64];
	CK_ULONG sl;
	int ours = 0, theirs = 0;

	ck_assert_int_eq(gen_ec(CKM_EC_KEY_PAIR_GEN, P256_OID, sizeof(P256_OID), &pub, &priv), CKR_OK);
	k = our_key(CKO_PRIVATE_KEY, &priv);
	o_pub = spki_key(&pub);
	for (int i = 0; i < 3000; i++) {
		ck_assert_int_eq(RAND_bytes(hash, sizeof(hash)), 1);
		sl = sizeof(sig);
		ck_assert_int_eq(our_sign(k, CKK_EC, &m, hash, sizeof(hash), sig, &sl), CKR_OK);
		ck_assert_uint_eq(sl, 64);
		if (sig[0] == 0 || sig[32] == 0)
			ours++;
		ck_assert_int_eq(ossl_ecdsa_verify(o_pub, CKM_ECDSA, hash, sizeof(hash), sig, sl), 1);

		/* OpenSSL's short integers, padded by the test, verified by us */
		sl = ossl_ecdsa_sign(k, CKM_ECDSA, hash, sizeof(hash), 32, sig);
		if (sig[0] == 0 || sig[32] == 0)
			theirs++;
		ck_assert_int_eq(our_verify(k, CKK_EC, &m, hash, sizeof(hash), sig, sl), CKR_OK);
	}
	ck_assert_int_gt(ours, 0);
	ck_assert_int_gt(theirs, 0);
	EVP_PKEY_free(k);
	EVP_PKEY_free(o_pub);
	attr_list_clear(&pub);
	attr_list_clear(&priv);
}
END_TEST

/* The same for P-384 in our direction: the token reads r and s out of
 * OpenSSL's DER itself, for any order size. */
START_TEST(ecdsa_leading_zeros_p384)
{
	attr_list_t pub, priv;
	EVP_PKEY *k, *o_pub;
	CK_MECHANISM m = mech0(CKM_ECDSA);
	CK_BYTE hash[48], sig[96];
	CK_ULONG sl;
	int ours = 0;

	ck_assert_int_eq(gen_ec(CKM_EC_KEY_PAIR_GEN, P384_OID, sizeof(P384_OID), &pub, &priv), CKR_OK);
	k = our_key(CKO_PRIVATE_KEY, &priv);
	o_pub = spki_key(&pub);
	for (int i = 0; i < 2000; i++) {
		ck_assert_int_eq(RAND_bytes(hash, sizeof(hash)), 1);
		sl = sizeof(sig);
		ck_assert_int_eq(our_sign(k, CKK_EC, &m, hash, sizeof(hash), sig, &sl), CKR_OK);
		ck_assert_uint_eq(sl, 96);
		if (sig[0] == 0 || sig[48] == 0)
			ours++;
		ck_assert_int_eq(ossl_ecdsa_verify(o_pub, CKM_ECDSA, hash, sizeof(hash), sig, sl), 1);
	}
	ck_assert_int_gt(ours, 0);
	EVP_PKEY_free(k);
	EVP_PKEY_free(o_pub);
	attr_list_clear(&pub);
	attr_list_clear(&priv);
}
END_TEST

START_TEST(ecdsa_bad_signatures)
{
	attr_list_t pub, priv;
	EVP_PKEY *k, *kp;
	CK_MECHANISM m = mech0(CKM_ECDSA_SHA256);
	CK_BYTE sig[64 + 1], bad[64];
	CK_ULONG sl = sizeof(sig);
	CK_BYTE msg2[sizeof(MSG)];
	static const CK_BYTE order[32] = {
		0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
	};

	ck_assert_int_eq(gen_ec(CKM_EC_KEY_PAIR_GEN, P256_OID, sizeof(P256_OID), &pub, &priv), CKR_OK);
	k = our_key(CKO_PRIVATE_KEY, &priv);
	kp = our_key(CKO_PUBLIC_KEY, &pub);
	ck_assert_int_eq(our_sign(k, CKK_EC, &m, MSG, sizeof(MSG), sig, &sl), CKR_OK);
	ck_assert_int_eq(our_verify(kp, CKK_EC, &m, MSG, sizeof(MSG), sig, 64), CKR_OK);

	/* lengths */
	ck_assert_int_eq(our_verify(kp, CKK_EC, &m, MSG, sizeof(MSG), sig, 63), CKR_SIGNATURE_LEN_RANGE);
	ck_assert_int_eq(our_verify(kp, CKK_EC, &m, MSG, sizeof(MSG), sig, 65), CKR_SIGNATURE_LEN_RANGE);
	ck_assert_int_eq(our_verify(kp, CKK_EC, &m, MSG, sizeof(MSG), sig, 0), CKR_SIGNATURE_LEN_RANGE);
	ck_assert_int_eq(our_verify(kp, CKK_EC, &m, MSG, sizeof(MSG), sig, 96), CKR_SIGNATURE_LEN_RANGE);
	/* every bit of the signature matters */
	for (size_t bit = 0; bit < 64 * 8; bit += 7) {
		memcpy(bad, sig, 64);
		bad[bit / 8] ^= (CK_BYTE)(1u << (bit % 8));
		ck_assert_int_eq(our_verify(kp, CKK_EC, &m, MSG, sizeof(MSG), bad, 64), CKR_SIGNATURE_INVALID);
	}
	/* and of the message */
	memcpy(msg2, MSG, sizeof(MSG));
	msg2[3] ^= 0x20;
	ck_assert_int_eq(our_verify(kp, CKK_EC, &m, msg2, sizeof(msg2), sig, 64), CKR_SIGNATURE_INVALID);
	/* r = 0, s = 0, r = n: out of range, refused */
	memset(bad, 0, 32);
	memcpy(bad + 32, sig + 32, 32);
	ck_assert_int_eq(our_verify(kp, CKK_EC, &m, MSG, sizeof(MSG), bad, 64), CKR_SIGNATURE_INVALID);
	memcpy(bad, sig, 32);
	memset(bad + 32, 0, 32);
	ck_assert_int_eq(our_verify(kp, CKK_EC, &m, MSG, sizeof(MSG), bad, 64), CKR_SIGNATURE_INVALID);
	memcpy(bad, order, 32);
	memcpy(bad + 32, sig + 32, 32);
	ck_assert_int_eq(our_verify(kp, CKK_EC, &m, MSG, sizeof(MSG), bad, 64), CKR_SIGNATURE_INVALID);
	memset(bad, 0xff, 64);
	ck_assert_int_eq(our_verify(kp, CKK_EC, &m, MSG, sizeof(MSG), bad, 64), CKR_SIGNATURE_INVALID);
	/* multi-part verify checks the length before it hashes */
	{
		crypto_op_t *op = NULL;
		ck_assert_int_eq(crypto_op_new(CRYPTO_VERIFY, &m, kp, CKK_EC, &op), CKR_OK);
		ck_assert_int_eq(crypto_op_update(op, MSG, sizeof(MSG)), CKR_OK);
		ck_assert_int_eq(crypto_op_verify_final(op, sig, 48), CKR_SIGNATURE_LEN_RANGE);
		crypto_op_free(op);
	}
	EVP_PKEY_free(k);
	EVP_PKEY_free(kp);
	attr_list_clear(&pub);
	attr_list_clear(&priv);
}
END_TEST

/* The size query must not use up a sign operation (two-call convention). */
START_TEST(sign_size_query_keeps_op)
{
	attr_list_t pub, priv;
	EVP_PKEY *k, *o_pub;
	CK_MECHANISM m = mech0(CKM_ECDSA_SHA256);
	CK_BYTE sig[64];
	CK_ULONG sl;
	crypto_op_t *op = NULL;

	ck_assert_int_eq(gen_ec(CKM_EC_KEY_PAIR_GEN, P256_OID, sizeof(P256_OID), &pub, &priv), CKR_OK);
	k = our_key(CKO_PRIVATE_KEY, &priv);
	o_pub = spki_key(&pub);

	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &m, k, CKK_EC, &op), CKR_OK);
	sl = 0;
	ck_assert_int_eq(crypto_op_oneshot(op, MSG, sizeof(MSG), NULL, &sl), CKR_OK);
	ck_assert_uint_eq(sl, 64);
	sl = 10;
	ck_assert_int_eq(crypto_op_oneshot(op, MSG, sizeof(MSG), sig, &sl), CKR_BUFFER_TOO_SMALL);
	ck_assert_uint_eq(sl, 64);
	sl = sizeof(sig);
	ck_assert_int_eq(crypto_op_oneshot(op, MSG, sizeof(MSG), sig, &sl), CKR_OK);
	ck_assert_int_eq(ossl_ecdsa_verify(o_pub, CKM_ECDSA_SHA256, MSG, sizeof(MSG), sig, sl), 1);
	crypto_op_free(op);

	/* the same for C_SignFinal */
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &m, k, CKK_EC, &op), CKR_OK);
	ck_assert_int_eq(crypto_op_update(op, MSG, sizeof(MSG)), CKR_OK);
	sl = 0;
	ck_assert_int_eq(crypto_op_final(op, NULL, &sl), CKR_OK);
	ck_assert_uint_eq(sl, 64);
	sl = 63;
	ck_assert_int_eq(crypto_op_final(op, sig, &sl), CKR_BUFFER_TOO_SMALL);
	sl = sizeof(sig);
	ck_assert_int_eq(crypto_op_final(op, sig, &sl), CKR_OK);
	ck_assert_int_eq(ossl_ecdsa_verify(o_pub, CKM_ECDSA_SHA256, MSG, sizeof(MSG), sig, sl), 1);
	crypto_op_free(op);

	EVP_PKEY_free(k);
	EVP_PKEY_free(o_pub);
	attr_list_clear(&pub);
	attr_list_clear(&priv);
}
END_TEST

/* Keys from crypto_pkey_from_attrs carry a ready context; what is built
 * on it must behave like a key without one, survive the key, and a
 * duplicate of the key must not share it. */
static EVP_PKEY *shared_key;
static EVP_PKEY *shared_pub;

static void *sign_many(void *arg)
{
	CK_MECHANISM m = mech0(arg != NULL ? CKM_EDDSA : CKM_ECDSA_SHA256);
	CK_KEY_TYPE kt = arg != NULL ? CKK_EC_EDWARDS : CKK_EC;
	CK_BYTE sig[64];

	for (int i = 0; i < 300; i++) {
		CK_ULONG sl = sizeof(sig);
		if (our_sign(shared_key, kt, &m, MSG, sizeof(MSG), sig, &sl) != CKR_OK ||
		    our_verify(shared_pub, kt, &m, MSG, sizeof(MSG), sig, sl) != CKR_OK)
			return (void *)1;
	}
	return NULL;
}

static void templates_for(const CK_BYTE *params, size_t plen, CK_MECHANISM_TYPE gen, bool ed)
{
	attr_list_t pub, priv;
	EVP_PKEY *dup, *plain;
	CK_MECHANISM m = mech0(ed ? CKM_EDDSA : CKM_ECDSA_SHA256);
	CK_KEY_TYPE kt = ed ? CKK_EC_EDWARDS : CKK_EC;
	crypto_op_t *op = NULL;
	CK_BYTE sig[64];
	CK_ULONG sl = sizeof(sig);
	pthread_t t[2];
	void *r0, *r1;

	ck_assert_int_eq(gen_ec(gen, params, plen, &pub, &priv), CKR_OK);
	shared_key = our_key(CKO_PRIVATE_KEY, &priv);
	shared_pub = our_key(CKO_PUBLIC_KEY, &pub);
	/* two threads on one key */
	ck_assert_int_eq(pthread_create(&t[0], NULL, sign_many, ed ? &m : NULL), 0);
	ck_assert_int_eq(pthread_create(&t[1], NULL, sign_many, ed ? &m : NULL), 0);
	ck_assert_int_eq(pthread_join(t[0], &r0), 0);
	ck_assert_int_eq(pthread_join(t[1], &r1), 0);
	ck_assert_ptr_null(r0);
	ck_assert_ptr_null(r1);
	/* a duplicate works on its own (no template) and frees cleanly */
	dup = EVP_PKEY_dup(shared_key);
	ck_assert_ptr_nonnull(dup);
	ck_assert_int_eq(our_sign(dup, kt, &m, MSG, sizeof(MSG), sig, &sl), CKR_OK);
	ck_assert_int_eq(our_verify(shared_pub, kt, &m, MSG, sizeof(MSG), sig, sl), CKR_OK);
	EVP_PKEY_free(dup);
	/* a sign op begun on the template outlives the key */
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &m, shared_key, kt, &op), CKR_OK);
	EVP_PKEY_free(shared_key);
	sl = sizeof(sig);
	ck_assert_int_eq(crypto_op_oneshot(op, MSG, sizeof(MSG), sig, &sl), CKR_OK);
	crypto_op_free(op);
	plain = spki_key(&pub); /* OpenSSL's own key: no template */
	ck_assert_int_eq(our_verify(plain, kt, &m, MSG, sizeof(MSG), sig, sl), CKR_OK);
	ck_assert_int_eq(our_verify(shared_pub, kt, &m, MSG, sizeof(MSG), sig, sl), CKR_OK);
	sig[5] ^= 1;
	ck_assert_int_eq(our_verify(plain, kt, &m, MSG, sizeof(MSG), sig, sl), CKR_SIGNATURE_INVALID);
	ck_assert_int_eq(our_verify(shared_pub, kt, &m, MSG, sizeof(MSG), sig, sl), CKR_SIGNATURE_INVALID);
	EVP_PKEY_free(plain);
	EVP_PKEY_free(shared_pub);
	attr_list_clear(&pub);
	attr_list_clear(&priv);
}

START_TEST(key_templates)
{
	templates_for(P256_OID, sizeof(P256_OID), CKM_EC_KEY_PAIR_GEN, false);
	templates_for(ED_NAME, sizeof(ED_NAME), CKM_EC_EDWARDS_KEY_PAIR_GEN, true);
}
END_TEST

/* ---- EdDSA -------------------------------------------------------------- */

START_TEST(eddsa_both_ways)
{
	attr_list_t pub, priv, opub, opriv;
	EVP_PKEY *k, *kp, *o_pub, *oss, *imp;
	CK_MECHANISM m = mech0(CKM_EDDSA);
	crypto_eddsa_params_t ep = { CK_FALSE, 0, NULL };
	CK_BYTE sig[64], raw[32];
	size_t n = sizeof(sig), rl = sizeof(raw);
	CK_ULONG sl = sizeof(sig);
	EVP_MD_CTX *c;

	ck_assert_int_eq(gen_ec(CKM_EC_EDWARDS_KEY_PAIR_GEN, ED_OID, sizeof(ED_OID), &pub, &priv), CKR_OK);
	k = our_key(CKO_PRIVATE_KEY, &priv);
	kp = our_key(CKO_PUBLIC_KEY, &pub);
	o_pub = spki_key(&pub);

	ck_assert_int_eq(our_sign(k, CKK_EC_EDWARDS, &m, MSG, sizeof(MSG), sig, &sl), CKR_OK);
	ck_assert_uint_eq(sl, 64);
	c = EVP_MD_CTX_new();
	ck_assert_int_eq(EVP_DigestVerifyInit(c, NULL, NULL, NULL, o_pub), 1);
	ck_assert_int_eq(EVP_DigestVerify(c, sig, 64, MSG, sizeof(MSG)), 1);
	EVP_MD_CTX_free(c);
	ck_assert_int_eq(our_verify(kp, CKK_EC_EDWARDS, &m, MSG, sizeof(MSG), sig, 64), CKR_OK);
	/* CK_EDDSA_PARAMS for plain Ed25519 is the same mechanism */
	m.pParameter = &ep;
	m.ulParameterLen = sizeof(ep);
	ck_assert_int_eq(our_verify(kp, CKK_EC_EDWARDS, &m, MSG, sizeof(MSG), sig, 64), CKR_OK);
	sl = sizeof(sig);
	ck_assert_int_eq(our_sign(k, CKK_EC_EDWARDS, &m, NULL, 0, sig, &sl), CKR_OK);
	ck_assert_int_eq(our_verify(kp, CKK_EC_EDWARDS, &m, NULL, 0, sig, 64), CKR_OK);
	m = mech0(CKM_EDDSA);

	/* OpenSSL's key and signature, imported and verified here */
	oss = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	ck_assert_ptr_nonnull(oss);
	c = EVP_MD_CTX_new();
	ck_assert_int_eq(EVP_DigestSignInit(c, NULL, NULL, NULL, oss), 1);
	ck_assert_int_eq(EVP_DigestSign(c, sig, &n, MSG, sizeof(MSG)), 1);
	EVP_MD_CTX_free(c);
	attr_list_init(&opub);
	attr_list_init(&opriv);
	ck_assert_int_eq(EVP_PKEY_get_raw_public_key(oss, raw, &rl), 1);
	ck_assert_int_eq(attr_list_set_ulong(&opub, CKA_KEY_TYPE, CKK_EC_EDWARDS), CKR_OK);
	ck_assert_int_eq(attr_list_set(&opub, CKA_EC_PARAMS, ED_NAME, sizeof(ED_NAME)), CKR_OK);
	ck_assert_int_eq(attr_list_set(&opub, CKA_EC_POINT, raw, 32), CKR_OK); /* bare form */
	imp = our_key(CKO_PUBLIC_KEY, &opub);
	ck_assert_int_eq(our_verify(imp, CKK_EC_EDWARDS, &m, MSG, sizeof(MSG), sig, 64), CKR_OK);
	EVP_PKEY_free(imp);
	rl = sizeof(raw);
	ck_assert_int_eq(EVP_PKEY_get_raw_private_key(oss, raw, &rl), 1);
	ck_assert_int_eq(attr_list_set_ulong(&opriv, CKA_KEY_TYPE, CKK_EC_EDWARDS), CKR_OK);
	ck_assert_int_eq(attr_list_set(&opriv, CKA_EC_PARAMS, ED_OID, sizeof(ED_OID)), CKR_OK);
	ck_assert_int_eq(attr_list_set(&opriv, CKA_VALUE, raw, 32), CKR_OK);
	imp = our_key(CKO_PRIVATE_KEY, &opriv);
	{
		CK_BYTE mine[64];
		sl = sizeof(mine);
		/* Ed25519 is deterministic: the same key signs the same bytes */
		ck_assert_int_eq(our_sign(imp, CKK_EC_EDWARDS, &m, MSG, sizeof(MSG), mine, &sl), CKR_OK);
		ck_assert_mem_eq(mine, sig, 64);
	}
	EVP_PKEY_free(imp);
	EVP_PKEY_free(oss);
	EVP_PKEY_free(k);
	EVP_PKEY_free(kp);
	EVP_PKEY_free(o_pub);
	attr_list_clear(&pub);
	attr_list_clear(&priv);
	attr_list_clear(&opub);
	attr_list_clear(&opriv);
}
END_TEST

/* RFC 8032 section 7.1, TEST 2: seed, public key, signature over 0x72. */
START_TEST(eddsa_rfc8032_vector)
{
	static const CK_BYTE seed[32] = {
		0x4c, 0xcd, 0x08, 0x9b, 0x28, 0xff, 0x96, 0xda, 0x9d, 0xb6, 0xc3, 0x46, 0xec, 0x11, 0x4e, 0x0f,
		0x5b, 0x8a, 0x31, 0x9f, 0x35, 0xab, 0xa6, 0x24, 0xda, 0x8c, 0xf6, 0xed, 0x4f, 0xb8, 0xa6, 0xfb,
	};
	static const CK_BYTE pk[34] = {
		0x04, 0x20,
		0x3d, 0x40, 0x17, 0xc3, 0xe8, 0x43, 0x89, 0x5a, 0x92, 0xb7, 0x0a, 0xa7, 0x4d, 0x1b, 0x7e, 0xbc,
		0x9c, 0x98, 0x2c, 0xcf, 0x2e, 0xc4, 0x96, 0x8c, 0xc0, 0xcd, 0x55, 0xf1, 0x2a, 0xf4, 0x66, 0x0c,
	};
	static const CK_BYTE want[64] = {
		0x92, 0xa0, 0x09, 0xa9, 0xf0, 0xd4, 0xca, 0xb8, 0x72, 0x0e, 0x82, 0x0b, 0x5f, 0x64, 0x25, 0x40,
		0xa2, 0xb2, 0x7b, 0x54, 0x16, 0x50, 0x3f, 0x8f, 0xb3, 0x76, 0x22, 0x23, 0xeb, 0xdb, 0x69, 0xda,
		0x08, 0x5a, 0xc1, 0xe4, 0x3e, 0x15, 0x99, 0x6e, 0x45, 0x8f, 0x36, 0x13, 0xd0, 0xf1, 0x1d, 0x8c,
		0x38, 0x7b, 0x2e, 0xae, 0xb4, 0x30, 0x2a, 0xee, 0xb0, 0x0d, 0x29, 0x16, 0x12, 0xbb, 0x0c, 0x00,
	};
	static const CK_BYTE msg[1] = { 0x72 };
	attr_list_t pub, priv;
	EVP_PKEY *k, *kp;
	CK_MECHANISM m = mech0(CKM_EDDSA);
	CK_BYTE sig[64];
	CK_ULONG sl = sizeof(sig);

	attr_list_init(&pub);
	attr_list_init(&priv);
	ck_assert_int_eq(attr_list_set_ulong(&priv, CKA_KEY_TYPE, CKK_EC_EDWARDS), CKR_OK);
	ck_assert_int_eq(attr_list_set(&priv, CKA_EC_PARAMS, ED_NAME, sizeof(ED_NAME)), CKR_OK);
	ck_assert_int_eq(attr_list_set(&priv, CKA_VALUE, seed, 32), CKR_OK);
	ck_assert_int_eq(attr_list_set_ulong(&pub, CKA_KEY_TYPE, CKK_EC_EDWARDS), CKR_OK);
	ck_assert_int_eq(attr_list_set(&pub, CKA_EC_PARAMS, ED_OID, sizeof(ED_OID)), CKR_OK);
	ck_assert_int_eq(attr_list_set(&pub, CKA_EC_POINT, pk, sizeof(pk)), CKR_OK);
	k = our_key(CKO_PRIVATE_KEY, &priv);
	kp = our_key(CKO_PUBLIC_KEY, &pub);
	ck_assert_int_eq(our_sign(k, CKK_EC_EDWARDS, &m, msg, 1, sig, &sl), CKR_OK);
	ck_assert_mem_eq(sig, want, 64);
	ck_assert_int_eq(our_verify(kp, CKK_EC_EDWARDS, &m, msg, 1, want, 64), CKR_OK);
	/* the derived SPKI names the RFC's public key */
	ck_assert_int_eq(crypto_complete_imported(CKO_PRIVATE_KEY, &priv), CKR_OK);
	{
		const attr_t *spki = must_find(&priv, CKA_PUBLIC_KEY_INFO);
		ck_assert_uint_eq(spki->len, 44);
		ck_assert_mem_eq(spki->value + 12, pk + 2, 32);
	}
	EVP_PKEY_free(k);
	EVP_PKEY_free(kp);
	attr_list_clear(&pub);
	attr_list_clear(&priv);
}
END_TEST

START_TEST(eddsa_bad_input)
{
	attr_list_t pub, priv;
	EVP_PKEY *k, *kp;
	CK_MECHANISM m = mech0(CKM_EDDSA);
	crypto_eddsa_params_t ep = { CK_TRUE, 0, NULL };
	CK_BYTE ctx[3] = { 1, 2, 3 }, sig[64], bad[64];
	CK_ULONG sl = sizeof(sig);
	crypto_op_t *op = NULL;

	ck_assert_int_eq(gen_ec(CKM_EC_EDWARDS_KEY_PAIR_GEN, ED_NAME, sizeof(ED_NAME), &pub, &priv), CKR_OK);
	k = our_key(CKO_PRIVATE_KEY, &priv);
	kp = our_key(CKO_PUBLIC_KEY, &pub);
	/* Ed25519ph and Ed25519ctx are not offered */
	m.pParameter = &ep;
	m.ulParameterLen = sizeof(ep);
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &m, k, CKK_EC_EDWARDS, &op), CKR_MECHANISM_PARAM_INVALID);
	ep.phFlag = CK_FALSE;
	ep.ulContextDataLen = sizeof(ctx);
	ep.pContextData = ctx;
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &m, k, CKK_EC_EDWARDS, &op), CKR_MECHANISM_PARAM_INVALID);
	m.ulParameterLen = sizeof(ep) - 1;
	ck_assert_int_eq(crypto_op_new(CRYPTO_VERIFY, &m, kp, CKK_EC_EDWARDS, &op), CKR_MECHANISM_PARAM_INVALID);
	m.pParameter = NULL;
	m.ulParameterLen = sizeof(ep);
	ck_assert_int_eq(crypto_op_new(CRYPTO_VERIFY, &m, kp, CKK_EC_EDWARDS, &op), CKR_MECHANISM_PARAM_INVALID);
	m = mech0(CKM_EDDSA);

	/* Multi-part: the message is buffered and signed at Final, so the
	 * signature (deterministic) is the single-part one. */
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &m, k, CKK_EC_EDWARDS, &op), CKR_OK);
	ck_assert_int_eq(crypto_op_oneshot(op, MSG, sizeof(MSG), sig, &sl), CKR_OK);
	crypto_op_free(op);
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &m, k, CKK_EC_EDWARDS, &op), CKR_OK);
	ck_assert(crypto_op_multipart(op));
	ck_assert_int_eq(crypto_op_update(op, MSG, 4), CKR_OK);
	ck_assert_int_eq(crypto_op_update(op, NULL, 0), CKR_OK);
	ck_assert_int_eq(crypto_op_update(op, MSG + 4, sizeof(MSG) - 4), CKR_OK);
	sl = sizeof(bad);
	ck_assert_int_eq(crypto_op_final(op, bad, &sl), CKR_OK);
	ck_assert_uint_eq(sl, 64);
	ck_assert_mem_eq(bad, sig, 64);
	crypto_op_free(op);
	ck_assert_int_eq(crypto_op_new(CRYPTO_VERIFY, &m, kp, CKK_EC_EDWARDS, &op), CKR_OK);
	ck_assert_int_eq(crypto_op_update(op, MSG, 7), CKR_OK);
	ck_assert_int_eq(crypto_op_update(op, MSG + 7, sizeof(MSG) - 7), CKR_OK);
	ck_assert_int_eq(crypto_op_verify_final(op, sig, 64), CKR_OK);
	crypto_op_free(op);
	ck_assert_int_eq(crypto_op_new(CRYPTO_VERIFY, &m, kp, CKK_EC_EDWARDS, &op), CKR_OK);
	ck_assert_int_eq(crypto_op_update(op, MSG, sizeof(MSG) - 1), CKR_OK);
	ck_assert_int_eq(crypto_op_verify_final(op, sig, 64), CKR_SIGNATURE_INVALID);
	crypto_op_free(op);
	/* The buffer is bounded. */
	{
		CK_BYTE *big = calloc(1, CRYPTO_EDDSA_BUFFER_MAX);

		ck_assert_ptr_nonnull(big);
		ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &m, k, CKK_EC_EDWARDS, &op), CKR_OK);
		ck_assert_int_eq(crypto_op_update(op, big, CRYPTO_EDDSA_BUFFER_MAX), CKR_OK);
		ck_assert_int_eq(crypto_op_update(op, big, 1), CKR_DATA_LEN_RANGE);
		crypto_op_free(op);
		free(big);
	}

	ck_assert_int_eq(our_verify(kp, CKK_EC_EDWARDS, &m, MSG, sizeof(MSG), sig, 63), CKR_SIGNATURE_LEN_RANGE);
	ck_assert_int_eq(our_verify(kp, CKK_EC_EDWARDS, &m, MSG, sizeof(MSG), sig, 65), CKR_SIGNATURE_LEN_RANGE);
	for (size_t bit = 0; bit < 512; bit += 5) {
		memcpy(bad, sig, 64);
		bad[bit / 8] ^= (CK_BYTE)(1u << (bit % 8));
		ck_assert_int_eq(our_verify(kp, CKK_EC_EDWARDS, &m, MSG, sizeof(MSG), bad, 64),
				 CKR_SIGNATURE_INVALID);
	}
	ck_assert_int_eq(our_verify(kp, CKK_EC_EDWARDS, &m, MSG, sizeof(MSG) - 1, sig, 64), CKR_SIGNATURE_INVALID);
	EVP_PKEY_free(k);
	EVP_PKEY_free(kp);
	attr_list_clear(&pub);
	attr_list_clear(&priv);
}
END_TEST

/* ---- RSA ---------------------------------------------------------------- */

START_TEST(rsa_pkcs1_both_ways)
{
	EVP_PKEY *k = our_key(CKO_PRIVATE_KEY, &rsa_priv), *kp = our_key(CKO_PUBLIC_KEY, &rsa_pub);
	EVP_PKEY *o_pub = spki_key(&rsa_pub);
	EVP_PKEY *imp = our_key(CKO_PRIVATE_KEY, &rsa_opriv), *imp_pub = our_key(CKO_PUBLIC_KEY, &rsa_opub);
	CK_MECHANISM raw = mech0(CKM_RSA_PKCS), hashed = mech0(CKM_SHA256_RSA_PKCS);
	CK_BYTE di[51], sig[256];
	size_t dil = digest_info(MSG, sizeof(MSG), di);
	CK_ULONG sl;

	/* CKM_RSA_PKCS over a DigestInfo is SHA256withRSA to OpenSSL */
	sl = sizeof(sig);
	ck_assert_int_eq(our_sign(k, CKK_RSA, &raw, di, dil, sig, &sl), CKR_OK);
	ck_assert_uint_eq(sl, 256);
	ck_assert_int_eq(ossl_rsa_verify(o_pub, EVP_sha256(), -1, MSG, sizeof(MSG), sig, sl), 1);
	ck_assert_int_eq(ossl_rsa_verify(o_pub, NULL, -1, di, dil, sig, sl), 1);
	ck_assert_int_eq(our_verify(kp, CKK_RSA, &raw, di, dil, sig, sl), CKR_OK);
	ck_assert_int_eq(our_verify(kp, CKK_RSA, &hashed, MSG, sizeof(MSG), sig, sl), CKR_OK);

	sl = sizeof(sig);
	ck_assert_int_eq(our_sign(k, CKK_RSA, &hashed, MSG, sizeof(MSG), sig, &sl), CKR_OK);
	ck_assert_int_eq(ossl_rsa_verify(o_pub, EVP_sha256(), -1, MSG, sizeof(MSG), sig, sl), 1);
	sl = sizeof(sig);
	ck_assert_int_eq(our_sign_parts(k, CKK_RSA, &hashed, MSG, sizeof(MSG), sig, &sl), CKR_OK);
	ck_assert_int_eq(ossl_rsa_verify(o_pub, EVP_sha256(), -1, MSG, sizeof(MSG), sig, sl), 1);
	ck_assert_int_eq(our_verify_parts(kp, CKK_RSA, &hashed, MSG, sizeof(MSG), sig, sl), CKR_OK);

	/* OpenSSL's key signs; the layer verifies; the imported key signs alike */
	sl = ossl_rsa_sign(rsa_ossl, EVP_sha256(), -1, MSG, sizeof(MSG), sig);
	ck_assert_int_eq(our_verify(imp_pub, CKK_RSA, &hashed, MSG, sizeof(MSG), sig, sl), CKR_OK);
	ck_assert_int_eq(our_verify(imp_pub, CKK_RSA, &raw, di, dil, sig, sl), CKR_OK);
	{
		CK_BYTE mine[256];
		CK_ULONG ml = sizeof(mine);
		/* PKCS#1 v1.5 is deterministic */
		ck_assert_int_eq(our_sign(imp, CKK_RSA, &hashed, MSG, sizeof(MSG), mine, &ml), CKR_OK);
		ck_assert_mem_eq(mine, sig, 256);
	}
	EVP_PKEY_free(k);
	EVP_PKEY_free(kp);
	EVP_PKEY_free(o_pub);
	EVP_PKEY_free(imp);
	EVP_PKEY_free(imp_pub);
}
END_TEST

START_TEST(rsa_pss_both_ways)
{
	EVP_PKEY *k = our_key(CKO_PRIVATE_KEY, &rsa_priv), *kp = our_key(CKO_PUBLIC_KEY, &rsa_pub);
	EVP_PKEY *o_pub = spki_key(&rsa_pub);
	EVP_PKEY *imp_pub = our_key(CKO_PUBLIC_KEY, &rsa_opub);
	CK_RSA_PKCS_PSS_PARAMS pp = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
	CK_MECHANISM raw = { CKM_RSA_PKCS_PSS, &pp, sizeof(pp) };
	CK_MECHANISM hashed = { CKM_SHA256_RSA_PKCS_PSS, &pp, sizeof(pp) };
	CK_BYTE h[32], sig[256];
	unsigned int hl;
	CK_ULONG sl;

	ck_assert_int_eq(EVP_Digest(MSG, sizeof(MSG), h, &hl, EVP_sha256(), NULL), 1);
	sl = sizeof(sig);
	ck_assert_int_eq(our_sign(k, CKK_RSA, &raw, h, 32, sig, &sl), CKR_OK);
	ck_assert_int_eq(ossl_rsa_verify(o_pub, EVP_sha256(), 32, MSG, sizeof(MSG), sig, sl), 1);
	ck_assert_int_eq(ossl_rsa_verify(o_pub, NULL, 32, h, 32, sig, sl), 1);
	ck_assert_int_eq(our_verify(kp, CKK_RSA, &raw, h, 32, sig, sl), CKR_OK);
	ck_assert_int_eq(our_verify(kp, CKK_RSA, &hashed, MSG, sizeof(MSG), sig, sl), CKR_OK);
	/* a different salt length is a different signature scheme */
	pp.sLen = 20;
	ck_assert_int_eq(our_verify(kp, CKK_RSA, &raw, h, 32, sig, sl), CKR_SIGNATURE_INVALID);
	pp.sLen = 32;

	sl = sizeof(sig);
	ck_assert_int_eq(our_sign_parts(k, CKK_RSA, &hashed, MSG, sizeof(MSG), sig, &sl), CKR_OK);
	ck_assert_int_eq(ossl_rsa_verify(o_pub, EVP_sha256(), 32, MSG, sizeof(MSG), sig, sl), 1);
	ck_assert_int_eq(our_verify_parts(kp, CKK_RSA, &hashed, MSG, sizeof(MSG), sig, sl), CKR_OK);

	sl = ossl_rsa_sign(rsa_ossl, EVP_sha256(), 32, MSG, sizeof(MSG), sig);
	ck_assert_int_eq(our_verify(imp_pub, CKK_RSA, &hashed, MSG, sizeof(MSG), sig, sl), CKR_OK);
	ck_assert_int_eq(our_verify(imp_pub, CKK_RSA, &raw, h, 32, sig, sl), CKR_OK);
	sig[100] ^= 1;
	ck_assert_int_eq(our_verify(imp_pub, CKK_RSA, &raw, h, 32, sig, sl), CKR_SIGNATURE_INVALID);

	/* raw PSS input must be exactly the hash */
	sl = sizeof(sig);
	ck_assert_int_eq(our_sign(k, CKK_RSA, &raw, h, 31, sig, &sl), CKR_DATA_LEN_RANGE);
	ck_assert_int_eq(our_verify(kp, CKK_RSA, &raw, h, 33, sig, 256), CKR_DATA_LEN_RANGE);
	EVP_PKEY_free(k);
	EVP_PKEY_free(kp);
	EVP_PKEY_free(o_pub);
	EVP_PKEY_free(imp_pub);
}
END_TEST

START_TEST(rsa_pss_bad_params)
{
	EVP_PKEY *k = our_key(CKO_PRIVATE_KEY, &rsa_priv);
	CK_RSA_PKCS_PSS_PARAMS pp = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
	CK_MECHANISM m = { CKM_RSA_PKCS_PSS, NULL, 0 };
	crypto_op_t *op = NULL;

	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &m, k, CKK_RSA, &op), CKR_MECHANISM_PARAM_INVALID);
	m.pParameter = &pp;
	m.ulParameterLen = sizeof(pp) - 1;
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &m, k, CKK_RSA, &op), CKR_MECHANISM_PARAM_INVALID);
	m.ulParameterLen = sizeof(pp);
	pp.hashAlg = CKM_MD5;
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &m, k, CKK_RSA, &op), CKR_MECHANISM_PARAM_INVALID);
	pp.hashAlg = CKM_SHA256;
	pp.mgf = 0x77;
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &m, k, CKK_RSA, &op), CKR_MECHANISM_PARAM_INVALID);
	pp.mgf = CKG_MGF1_SHA256;
	pp.sLen = 256 - 32 - 1; /* emLen 256 < hLen + sLen + 2 */
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &m, k, CKK_RSA, &op), CKR_MECHANISM_PARAM_INVALID);
	pp.sLen = (CK_ULONG)-1;
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &m, k, CKK_RSA, &op), CKR_MECHANISM_PARAM_INVALID);
	pp.sLen = 256 - 32 - 2;
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &m, k, CKK_RSA, &op), CKR_OK);
	crypto_op_free(op);
	/* SHA256_RSA_PKCS_PSS hashes with SHA-256: nothing else */
	m.mechanism = CKM_SHA256_RSA_PKCS_PSS;
	pp.sLen = 32;
	pp.hashAlg = CKM_SHA384;
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &m, k, CKK_RSA, &op), CKR_MECHANISM_PARAM_INVALID);
	EVP_PKEY_free(k);
}
END_TEST

static size_t ossl_rsa_crypt(EVP_PKEY *k, bool enc, int pad, const EVP_MD *md, const void *label, size_t ll,
			     const CK_BYTE *in, size_t il, CK_BYTE *out)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
	size_t n = 512;

	ck_assert_int_eq(enc ? EVP_PKEY_encrypt_init(c) : EVP_PKEY_decrypt_init(c), 1);
	ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_padding(c, pad), 0);
	if (md != NULL) {
		ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_oaep_md(c, md), 0);
		ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_mgf1_md(c, md), 0);
	}
	if (ll != 0)
		ck_assert_int_gt(EVP_PKEY_CTX_set0_rsa_oaep_label(c, OPENSSL_memdup(label, ll), (int)ll), 0);
	ck_assert_int_eq(enc ? EVP_PKEY_encrypt(c, out, &n, in, il) : EVP_PKEY_decrypt(c, out, &n, in, il), 1);
	EVP_PKEY_CTX_free(c);
	return n;
}

static CK_RV our_crypt(EVP_PKEY *k, crypto_op_kind_t kind, const CK_MECHANISM *m, const CK_BYTE *in, size_t il,
		       CK_BYTE *out, CK_ULONG *ol)
{
	crypto_op_t *op = NULL;
	CK_RV rv = crypto_op_new(kind, m, k, CKK_RSA, &op);

	if (rv != CKR_OK)
		return rv;
	rv = crypto_op_oneshot(op, in, il, out, ol);
	crypto_op_free(op);
	return rv;
}

static void rsa_crypt_round(CK_MECHANISM *m, int pad, const EVP_MD *md, const void *label, size_t ll)
{
	EVP_PKEY *k = our_key(CKO_PRIVATE_KEY, &rsa_priv), *kp = our_key(CKO_PUBLIC_KEY, &rsa_pub);
	EVP_PKEY *o_pub = spki_key(&rsa_pub);
	EVP_PKEY *imp_pub = our_key(CKO_PUBLIC_KEY, &rsa_opub), *imp = our_key(CKO_PRIVATE_KEY, &rsa_opriv);
	CK_BYTE ct[256], pt[256];
	CK_ULONG cl = sizeof(ct), pl = sizeof(pt);
	size_t n;

	/* layer encrypts, OpenSSL decrypts with its own key */
	ck_assert_int_eq(our_crypt(imp_pub, CRYPTO_ENCRYPT, m, MSG, sizeof(MSG), ct, &cl), CKR_OK);
	ck_assert_uint_eq(cl, 256);
	n = ossl_rsa_crypt(rsa_ossl, false, pad, md, label, ll, ct, cl, pt);
	ck_assert_uint_eq(n, sizeof(MSG));
	ck_assert_mem_eq(pt, MSG, n);
	/* OpenSSL encrypts to the layer's key (via SPKI), the layer decrypts */
	n = ossl_rsa_crypt(o_pub, true, pad, md, label, ll, MSG, sizeof(MSG), ct);
	ck_assert_int_eq(our_crypt(k, CRYPTO_DECRYPT, m, ct, n, pt, &pl), CKR_OK);
	ck_assert_uint_eq(pl, sizeof(MSG));
	ck_assert_mem_eq(pt, MSG, pl);
	/* and the layer with itself, through the imported key too */
	cl = sizeof(ct);
	ck_assert_int_eq(our_crypt(kp, CRYPTO_ENCRYPT, m, MSG, 5, ct, &cl), CKR_OK);
	pl = sizeof(pt);
	ck_assert_int_eq(our_crypt(k, CRYPTO_DECRYPT, m, ct, cl, pt, &pl), CKR_OK);
	ck_assert_uint_eq(pl, 5);
	ck_assert_mem_eq(pt, MSG, 5);
	n = ossl_rsa_crypt(rsa_ossl, true, pad, md, label, ll, MSG, 7, ct);
	pl = sizeof(pt);
	ck_assert_int_eq(our_crypt(imp, CRYPTO_DECRYPT, m, ct, n, pt, &pl), CKR_OK);
	ck_assert_uint_eq(pl, 7);
	EVP_PKEY_free(k);
	EVP_PKEY_free(kp);
	EVP_PKEY_free(o_pub);
	EVP_PKEY_free(imp_pub);
	EVP_PKEY_free(imp);
}

START_TEST(rsa_pkcs1_crypt)
{
	CK_MECHANISM m = mech0(CKM_RSA_PKCS);
	rsa_crypt_round(&m, RSA_PKCS1_PADDING, NULL, NULL, 0);
}
END_TEST

START_TEST(rsa_oaep_crypt)
{
	static const char label[] = "offpass batch";
	CK_RSA_PKCS_OAEP_PARAMS op = { CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, (void *)label, sizeof(label) };
	CK_MECHANISM m = { CKM_RSA_PKCS_OAEP, &op, sizeof(op) };

	rsa_crypt_round(&m, RSA_PKCS1_OAEP_PADDING, EVP_sha256(), label, sizeof(label));
	op.hashAlg = CKM_SHA_1;
	op.mgf = CKG_MGF1_SHA1;
	op.pSourceData = NULL;
	op.ulSourceDataLen = 0;
	rsa_crypt_round(&m, RSA_PKCS1_OAEP_PADDING, EVP_sha1(), NULL, 0);
}
END_TEST

START_TEST(rsa_crypt_bad_input)
{
	EVP_PKEY *k = our_key(CKO_PRIVATE_KEY, &rsa_priv), *kp = our_key(CKO_PUBLIC_KEY, &rsa_pub);
	CK_RSA_PKCS_OAEP_PARAMS oaep = { CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0 };
	CK_MECHANISM m = mech0(CKM_RSA_PKCS), mo = { CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep) };
	CK_BYTE big[256] = { 0 }, ct[256], pt[256];
	CK_ULONG cl = sizeof(ct), pl;
	crypto_op_t *op = NULL;

	/* PKCS#1 v1.5 carries at most k - 11 bytes, OAEP(SHA-256) k - 66 */
	ck_assert_int_eq(our_crypt(kp, CRYPTO_ENCRYPT, &m, big, 246, ct, &cl), CKR_DATA_LEN_RANGE);
	cl = sizeof(ct);
	ck_assert_int_eq(our_crypt(kp, CRYPTO_ENCRYPT, &m, big, 245, ct, &cl), CKR_OK);
	cl = sizeof(ct);
	ck_assert_int_eq(our_crypt(kp, CRYPTO_ENCRYPT, &mo, big, 191, ct, &cl), CKR_DATA_LEN_RANGE);
	cl = sizeof(ct);
	ck_assert_int_eq(our_crypt(kp, CRYPTO_ENCRYPT, &mo, big, 190, ct, &cl), CKR_OK);
	pl = sizeof(pt);
	ck_assert_int_eq(our_crypt(k, CRYPTO_DECRYPT, &mo, ct, cl, pt, &pl), CKR_OK);
	ck_assert_uint_eq(pl, 190);

	/* decrypt: too small a buffer reports the exact length and keeps the op */
	ck_assert_int_eq(crypto_op_new(CRYPTO_DECRYPT, &mo, k, CKK_RSA, &op), CKR_OK);
	ck_assert_uint_eq(crypto_op_output_size(op, cl), 256);
	pl = 100;
	ck_assert_int_eq(crypto_op_oneshot(op, ct, cl, pt, &pl), CKR_BUFFER_TOO_SMALL);
	ck_assert_uint_eq(pl, 190);
	pl = 0;
	ck_assert_int_eq(crypto_op_oneshot(op, ct, cl, NULL, &pl), CKR_OK);
	ck_assert_uint_eq(pl, 190);
	pl = 190;
	ck_assert_int_eq(crypto_op_oneshot(op, ct, cl, pt, &pl), CKR_OK);
	ck_assert_uint_eq(pl, 190);
	/* wrong lengths and corrupt ciphertext */
	ck_assert_int_eq(crypto_op_oneshot(op, ct, cl - 1, pt, &pl), CKR_ENCRYPTED_DATA_LEN_RANGE);
	ck_assert_int_eq(crypto_op_oneshot(op, big, 0, pt, &pl), CKR_ENCRYPTED_DATA_LEN_RANGE);
	ct[77] ^= 0x40;
	pl = sizeof(pt);
	ck_assert_int_eq(crypto_op_oneshot(op, ct, cl, pt, &pl), CKR_ENCRYPTED_DATA_INVALID);
	crypto_op_free(op);
	/* OAEP label mismatch */
	ct[77] ^= 0x40;
	oaep.pSourceData = (void *)"x";
	oaep.ulSourceDataLen = 1;
	pl = sizeof(pt);
	ck_assert_int_eq(our_crypt(k, CRYPTO_DECRYPT, &mo, ct, cl, pt, &pl), CKR_ENCRYPTED_DATA_INVALID);

	/* bad OAEP parameters */
	oaep.source = 5;
	ck_assert_int_eq(crypto_op_new(CRYPTO_ENCRYPT, &mo, kp, CKK_RSA, &op), CKR_MECHANISM_PARAM_INVALID);
	oaep.source = CKZ_DATA_SPECIFIED;
	oaep.pSourceData = NULL;
	ck_assert_int_eq(crypto_op_new(CRYPTO_ENCRYPT, &mo, kp, CKK_RSA, &op), CKR_MECHANISM_PARAM_INVALID);
	oaep.ulSourceDataLen = 0;
	oaep.mgf = 0;
	ck_assert_int_eq(crypto_op_new(CRYPTO_ENCRYPT, &mo, kp, CKK_RSA, &op), CKR_MECHANISM_PARAM_INVALID);
	oaep.mgf = CKG_MGF1_SHA256;
	oaep.hashAlg = CKM_SHA256_RSA_PKCS;
	ck_assert_int_eq(crypto_op_new(CRYPTO_ENCRYPT, &mo, kp, CKK_RSA, &op), CKR_MECHANISM_PARAM_INVALID);
	mo.pParameter = NULL;
	ck_assert_int_eq(crypto_op_new(CRYPTO_ENCRYPT, &mo, kp, CKK_RSA, &op), CKR_MECHANISM_PARAM_INVALID);
	/* OAEP signs nothing; PKCS#1 with a parameter is wrong */
	mo = mech0(CKM_RSA_PKCS_OAEP);
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &mo, k, CKK_RSA, &op), CKR_MECHANISM_INVALID);
	m.pParameter = big;
	m.ulParameterLen = 4;
	ck_assert_int_eq(crypto_op_new(CRYPTO_ENCRYPT, &m, kp, CKK_RSA, &op), CKR_MECHANISM_PARAM_INVALID);
	EVP_PKEY_free(k);
	EVP_PKEY_free(kp);
}
END_TEST

START_TEST(rsa_sign_bad_input)
{
	EVP_PKEY *k = our_key(CKO_PRIVATE_KEY, &rsa_priv), *kp = our_key(CKO_PUBLIC_KEY, &rsa_pub);
	CK_MECHANISM raw = mech0(CKM_RSA_PKCS), hashed = mech0(CKM_SHA256_RSA_PKCS);
	CK_BYTE big[256] = { 1 }, sig[256];
	CK_ULONG sl = sizeof(sig);

	ck_assert_int_eq(our_sign(k, CKK_RSA, &raw, big, 246, sig, &sl), CKR_DATA_LEN_RANGE);
	sl = sizeof(sig);
	ck_assert_int_eq(our_sign(k, CKK_RSA, &hashed, MSG, sizeof(MSG), sig, &sl), CKR_OK);
	ck_assert_int_eq(our_verify(kp, CKK_RSA, &hashed, MSG, sizeof(MSG), sig, 255), CKR_SIGNATURE_LEN_RANGE);
	ck_assert_int_eq(our_verify(kp, CKK_RSA, &hashed, MSG, sizeof(MSG), sig, 257), CKR_SIGNATURE_LEN_RANGE);
	ck_assert_int_eq(our_verify(kp, CKK_RSA, &raw, big, 246, sig, 256), CKR_DATA_LEN_RANGE);
	for (size_t i = 0; i < 256; i += 17) {
		sig[i] ^= 0x80;
		ck_assert_int_eq(our_verify(kp, CKK_RSA, &hashed, MSG, sizeof(MSG), sig, 256), CKR_SIGNATURE_INVALID);
		sig[i] ^= 0x80;
	}
	ck_assert_int_eq(our_verify(kp, CKK_RSA, &hashed, MSG, sizeof(MSG), sig, 256), CKR_OK);
	EVP_PKEY_free(k);
	EVP_PKEY_free(kp);
}
END_TEST

/* ---- key generation ------------------------------------------------------ */

START_TEST(keygen_ec_encodings)
{
	static const struct {
		const CK_BYTE *params;
		size_t plen;
		CK_MECHANISM_TYPE mech;
		CK_KEY_TYPE kt;
		size_t point, value;
	} cases[] = {
		{ P256_OID, sizeof(P256_OID), CKM_EC_KEY_PAIR_GEN, CKK_EC, 65, 32 },
		{ P384_OID, sizeof(P384_OID), CKM_EC_KEY_PAIR_GEN, CKK_EC, 97, 48 },
		{ ED_OID, sizeof(ED_OID), CKM_EC_EDWARDS_KEY_PAIR_GEN, CKK_EC_EDWARDS, 32, 32 },
		{ ED_NAME, sizeof(ED_NAME), CKM_EC_EDWARDS_KEY_PAIR_GEN, CKK_EC_EDWARDS, 32, 32 },
	};

	for (size_t i = 0; i < OFP_ARRAY_LEN(cases); i++) {
		attr_list_t pub, priv;
		const attr_t *a, *spki;
		CK_ULONG kt;
		EVP_PKEY *o;

		ck_assert_int_eq(gen_ec(cases[i].mech, cases[i].params, cases[i].plen, &pub, &priv), CKR_OK);
		/* CKA_EC_PARAMS kept as given, on both halves */
		a = must_find(&pub, CKA_EC_PARAMS);
		ck_assert_uint_eq(a->len, cases[i].plen);
		ck_assert_mem_eq(a->value, cases[i].params, a->len);
		a = must_find(&priv, CKA_EC_PARAMS);
		ck_assert_uint_eq(a->len, cases[i].plen);
		ck_assert_mem_eq(a->value, cases[i].params, a->len);
		ck_assert(attr_list_get_ulong(&pub, CKA_KEY_TYPE, &kt) && kt == cases[i].kt);
		ck_assert(attr_list_get_ulong(&priv, CKA_KEY_TYPE, &kt) && kt == cases[i].kt);
		/* CKA_EC_POINT: DER OCTET STRING of the point */
		a = must_find(&pub, CKA_EC_POINT);
		ck_assert_uint_eq(a->len, cases[i].point + 2);
		ck_assert_uint_eq(a->value[0], 0x04);
		ck_assert_uint_eq(a->value[1], cases[i].point);
		if (cases[i].kt == CKK_EC)
			ck_assert_uint_eq(a->value[2], 0x04);
		/* the SPKI holds the same point, and OpenSSL reads it back */
		spki = must_find(&pub, CKA_PUBLIC_KEY_INFO);
		ck_assert_mem_eq(spki->value + spki->len - cases[i].point, a->value + 2, cases[i].point);
		o = spki_key(&pub);
		EVP_PKEY_free(o);
		a = must_find(&priv, CKA_PUBLIC_KEY_INFO);
		ck_assert_uint_eq(a->len, spki->len);
		ck_assert_mem_eq(a->value, spki->value, spki->len);
		ck_assert_uint_eq(must_find(&priv, CKA_VALUE)->len, cases[i].value);
		ck_assert_ptr_null(attr_list_find(&pub, CKA_VALUE));
		ck_assert_ptr_null(attr_list_find(&priv, CKA_EC_POINT));
		attr_list_clear(&pub);
		attr_list_clear(&priv);
	}
}
END_TEST

START_TEST(keygen_ec_bad_params)
{
	static const CK_BYTE truncated[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01 };
	static const CK_BYTE trailing[] = { 0x06, 0x03, 0x2b, 0x65, 0x70, 0x00 };
	static const CK_BYTE badoid[] = { 0x06, 0x03, 0x2b, 0x80, 0x70 };
	static const CK_BYTE badoid2[] = { 0x06, 0x02, 0x2b, 0x85 };
	static const CK_BYTE longlen[] = { 0x06, 0x81, 0x03, 0x2b, 0x65, 0x70 };
	static const CK_BYTE ed448[] = { 0x13, 0x0a, 'e', 'd', 'w', 'a', 'r', 'd', 's', '4', '4', '8' };
	static const CK_BYTE explicit_params[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	static const CK_BYTE empty_oid[] = { 0x06, 0x00 };
	attr_list_t pub, priv;
	CK_MECHANISM m = mech0(CKM_EC_KEY_PAIR_GEN);

	ck_assert_int_eq(gen_ec(CKM_EC_KEY_PAIR_GEN, P521_OID, sizeof(P521_OID), &pub, &priv), CKR_CURVE_NOT_SUPPORTED);
	attr_list_clear(&pub);
	ck_assert_int_eq(gen_ec(CKM_EC_KEY_PAIR_GEN, K256_OID, sizeof(K256_OID), &pub, &priv), CKR_CURVE_NOT_SUPPORTED);
	attr_list_clear(&pub);
	ck_assert_int_eq(gen_ec(CKM_EC_KEY_PAIR_GEN, ED_OID, sizeof(ED_OID), &pub, &priv), CKR_CURVE_NOT_SUPPORTED);
	attr_list_clear(&pub);
	ck_assert_int_eq(gen_ec(CKM_EC_EDWARDS_KEY_PAIR_GEN, P256_OID, sizeof(P256_OID), &pub, &priv),
			 CKR_CURVE_NOT_SUPPORTED);
	attr_list_clear(&pub);
	ck_assert_int_eq(gen_ec(CKM_EC_EDWARDS_KEY_PAIR_GEN, ed448, sizeof(ed448), &pub, &priv), CKR_CURVE_NOT_SUPPORTED);
	attr_list_clear(&pub);
	ck_assert_int_eq(gen_ec(CKM_EC_KEY_PAIR_GEN, explicit_params, sizeof(explicit_params), &pub, &priv),
			 CKR_CURVE_NOT_SUPPORTED);
	attr_list_clear(&pub);
	ck_assert_int_eq(gen_ec(CKM_EC_KEY_PAIR_GEN, truncated, sizeof(truncated), &pub, &priv), CKR_DOMAIN_PARAMS_INVALID);
	attr_list_clear(&pub);
	ck_assert_int_eq(gen_ec(CKM_EC_EDWARDS_KEY_PAIR_GEN, trailing, sizeof(trailing), &pub, &priv),
			 CKR_DOMAIN_PARAMS_INVALID);
	attr_list_clear(&pub);
	ck_assert_int_eq(gen_ec(CKM_EC_EDWARDS_KEY_PAIR_GEN, badoid, sizeof(badoid), &pub, &priv),
			 CKR_DOMAIN_PARAMS_INVALID);
	attr_list_clear(&pub);
	ck_assert_int_eq(gen_ec(CKM_EC_EDWARDS_KEY_PAIR_GEN, badoid2, sizeof(badoid2), &pub, &priv),
			 CKR_DOMAIN_PARAMS_INVALID);
	attr_list_clear(&pub);
	ck_assert_int_eq(gen_ec(CKM_EC_EDWARDS_KEY_PAIR_GEN, longlen, sizeof(longlen), &pub, &priv),
			 CKR_DOMAIN_PARAMS_INVALID);
	attr_list_clear(&pub);
	ck_assert_int_eq(gen_ec(CKM_EC_KEY_PAIR_GEN, empty_oid, sizeof(empty_oid), &pub, &priv), CKR_DOMAIN_PARAMS_INVALID);
	attr_list_clear(&pub);
	ck_assert_int_eq(gen_ec(CKM_EC_KEY_PAIR_GEN, P256_OID, 1, &pub, &priv), CKR_DOMAIN_PARAMS_INVALID);
	attr_list_clear(&pub);
	ck_assert_int_eq(gen_ec(CKM_EC_KEY_PAIR_GEN, NULL, 0, &pub, &priv), CKR_TEMPLATE_INCOMPLETE);
	/* nothing was added on failure */
	ck_assert_ptr_null(attr_list_find(&pub, CKA_EC_POINT));
	ck_assert_ptr_null(attr_list_find(&priv, CKA_VALUE));

	/* a parameter the mechanism does not take; a mechanism that is no keygen */
	ck_assert_int_eq(attr_list_set(&pub, CKA_EC_PARAMS, P256_OID, sizeof(P256_OID)), CKR_OK);
	m.pParameter = (void *)P256_OID;
	m.ulParameterLen = sizeof(P256_OID);
	ck_assert_int_eq(crypto_generate_key_pair(&m, &pub, &priv), CKR_MECHANISM_PARAM_INVALID);
	m = mech0(CKM_ECDSA);
	ck_assert_int_eq(crypto_generate_key_pair(&m, &pub, &priv), CKR_MECHANISM_INVALID);
	m = mech0(CKM_GENERIC_SECRET_KEY_GEN);
	ck_assert_int_eq(crypto_generate_key_pair(&m, &pub, &priv), CKR_MECHANISM_INVALID);
	/* templates that name another key type or other params */
	m = mech0(CKM_EC_KEY_PAIR_GEN);
	ck_assert_int_eq(attr_list_set_ulong(&priv, CKA_KEY_TYPE, CKK_RSA), CKR_OK);
	ck_assert_int_eq(crypto_generate_key_pair(&m, &pub, &priv), CKR_TEMPLATE_INCONSISTENT);
	attr_list_clear(&priv);
	ck_assert_int_eq(attr_list_set(&priv, CKA_EC_PARAMS, P384_OID, sizeof(P384_OID)), CKR_OK);
	ck_assert_int_eq(crypto_generate_key_pair(&m, &pub, &priv), CKR_TEMPLATE_INCONSISTENT);
	attr_list_clear(&priv);
	ck_assert_int_eq(attr_list_set_ulong(&pub, CKA_KEY_TYPE, CKK_EC), CKR_OK);
	ck_assert_int_eq(crypto_generate_key_pair(&m, &pub, &priv), CKR_OK);
	attr_list_clear(&pub);
	attr_list_clear(&priv);
}
END_TEST

START_TEST(keygen_rsa)
{
	static const CK_BYTE e3[] = { 0x03 };
	static const CK_BYTE e_even[] = { 0x01, 0x00, 0x00 };
	static const CK_BYTE e_padded[] = { 0x00, 0x01, 0x00, 0x01 };
	static const CK_BYTE f4[] = { 0x01, 0x00, 0x01 };
	static const CK_BYTE one[] = { 0x01 };
	static const CK_BYTE huge[9] = { 1, 0, 0, 0, 0, 0, 0, 0, 1 };
	const attr_t *a;
	CK_ULONG kt;
	attr_list_t pub, priv;

	/* the layer-made key from the fixture */
	a = must_find(&rsa_pub, CKA_MODULUS);
	ck_assert_uint_eq(a->len, 256);
	ck_assert(a->value[0] & 0x80);
	a = must_find(&rsa_pub, CKA_PUBLIC_EXPONENT);
	ck_assert_uint_eq(a->len, 3);
	ck_assert_mem_eq(a->value, f4, 3);
	ck_assert(attr_list_get_ulong(&rsa_pub, CKA_KEY_TYPE, &kt) && kt == CKK_RSA);
	ck_assert(attr_list_get_ulong(&rsa_priv, CKA_KEY_TYPE, &kt) && kt == CKK_RSA);
	{
		static const CK_ATTRIBUTE_TYPE parts[] = {
			CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT, CKA_PRIME_1,
			CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT,
		};
		for (size_t i = 0; i < OFP_ARRAY_LEN(parts); i++)
			ck_assert_uint_gt(must_find(&rsa_priv, parts[i])->len, 0);
		ck_assert_uint_eq(must_find(&rsa_priv, CKA_PRIME_1)->len, 128);
	}
	ck_assert_ptr_null(attr_list_find(&rsa_pub, CKA_PRIVATE_EXPONENT));
	a = must_find(&rsa_priv, CKA_PUBLIC_KEY_INFO);
	ck_assert_mem_eq(a->value, must_find(&rsa_pub, CKA_PUBLIC_KEY_INFO)->value, a->len);

	ck_assert_int_eq(gen_rsa(1024, NULL, 0, &pub, &priv), CKR_ATTRIBUTE_VALUE_INVALID);
	attr_list_clear(&pub);
	attr_list_clear(&priv);
	ck_assert_int_eq(gen_rsa(2047, NULL, 0, &pub, &priv), CKR_ATTRIBUTE_VALUE_INVALID);
	attr_list_clear(&pub);
	attr_list_clear(&priv);
	ck_assert_int_eq(gen_rsa(8192, NULL, 0, &pub, &priv), CKR_ATTRIBUTE_VALUE_INVALID);
	attr_list_clear(&pub);
	attr_list_clear(&priv);
	ck_assert_int_eq(gen_rsa(2048, e_even, sizeof(e_even), &pub, &priv), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_uint_eq(priv.count, 0); /* nothing added on failure */
	attr_list_clear(&pub);
	attr_list_clear(&priv);
	ck_assert_int_eq(gen_rsa(2048, one, sizeof(one), &pub, &priv), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_uint_eq(priv.count, 0); /* nothing added on failure */
	attr_list_clear(&pub);
	attr_list_clear(&priv);
	ck_assert_int_eq(gen_rsa(2048, huge, sizeof(huge), &pub, &priv), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_uint_eq(priv.count, 0); /* nothing added on failure */
	attr_list_clear(&pub);
	attr_list_clear(&priv);
	ck_assert_int_eq(gen_rsa(2048, e_padded, 0, &pub, &priv), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_uint_eq(priv.count, 0); /* nothing added on failure */
	attr_list_clear(&pub);
	attr_list_clear(&priv);
	{
		CK_MECHANISM m = mech0(CKM_RSA_PKCS_KEY_PAIR_GEN);
		attr_list_init(&pub);
		attr_list_init(&priv);
		ck_assert_int_eq(crypto_generate_key_pair(&m, &pub, &priv), CKR_TEMPLATE_INCOMPLETE);
	}
	/* a given exponent is honoured and stored minimal */
	ck_assert_int_eq(gen_rsa(2048, e_padded, sizeof(e_padded), &pub, &priv), CKR_OK);
	a = must_find(&pub, CKA_PUBLIC_EXPONENT);
	ck_assert_uint_eq(a->len, 3);
	ck_assert_mem_eq(a->value, f4, 3);
	attr_list_clear(&pub);
	attr_list_clear(&priv);
	ck_assert_int_eq(gen_rsa(2048, e3, sizeof(e3), &pub, &priv), CKR_OK);
	a = must_find(&priv, CKA_PUBLIC_EXPONENT);
	ck_assert_uint_eq(a->len, 1);
	ck_assert_uint_eq(a->value[0], 3);
	attr_list_clear(&pub);
	attr_list_clear(&priv);
}
END_TEST

START_TEST(keygen_secret)
{
	CK_MECHANISM m = mech0(CKM_GENERIC_SECRET_KEY_GEN);
	attr_list_t a, b;
	CK_ULONG kt;

	attr_list_init(&a);
	attr_list_init(&b);
	ck_assert_int_eq(crypto_generate_secret(&m, &a), CKR_TEMPLATE_INCOMPLETE);
	ck_assert_int_eq(attr_list_set_ulong(&a, CKA_VALUE_LEN, 0), CKR_OK);
	ck_assert_int_eq(crypto_generate_secret(&m, &a), CKR_KEY_SIZE_RANGE);
	ck_assert_int_eq(attr_list_set_ulong(&a, CKA_VALUE_LEN, 513), CKR_OK);
	ck_assert_int_eq(crypto_generate_secret(&m, &a), CKR_KEY_SIZE_RANGE);
	ck_assert_int_eq(attr_list_set_ulong(&a, CKA_VALUE_LEN, 32), CKR_OK);
	ck_assert_int_eq(attr_list_set_ulong(&b, CKA_VALUE_LEN, 32), CKR_OK);
	ck_assert_int_eq(crypto_generate_secret(&m, &a), CKR_OK);
	ck_assert_int_eq(crypto_generate_secret(&m, &b), CKR_OK);
	ck_assert_uint_eq(must_find(&a, CKA_VALUE)->len, 32);
	ck_assert(memcmp(must_find(&a, CKA_VALUE)->value, must_find(&b, CKA_VALUE)->value, 32) != 0);
	ck_assert(attr_list_get_ulong(&a, CKA_KEY_TYPE, &kt) && kt == CKK_GENERIC_SECRET);
	ck_assert_int_eq(attr_list_set_ulong(&b, CKA_VALUE_LEN, 512), CKR_OK);
	ck_assert_int_eq(crypto_generate_secret(&m, &b), CKR_OK);
	ck_assert_uint_eq(must_find(&b, CKA_VALUE)->len, 512);
	m.ulParameterLen = 1;
	ck_assert_int_eq(crypto_generate_secret(&m, &b), CKR_MECHANISM_PARAM_INVALID);
	m = mech0(CKM_EC_KEY_PAIR_GEN);
	ck_assert_int_eq(crypto_generate_secret(&m, &b), CKR_MECHANISM_INVALID);
	attr_list_clear(&a);
	attr_list_clear(&b);
}
END_TEST

/* ---- importing key material --------------------------------------------- */

START_TEST(import_ec_point_forms)
{
	attr_list_t pub, priv, l;
	EVP_PKEY *k;
	const attr_t *pt;
	CK_BYTE buf[80];

	ck_assert_int_eq(gen_ec(CKM_EC_KEY_PAIR_GEN, P256_OID, sizeof(P256_OID), &pub, &priv), CKR_OK);
	pt = must_find(&pub, CKA_EC_POINT);
	ck_assert_int_eq(attr_list_copy(&l, &pub), CKR_OK);

	/* bare 04||X||Y */
	ck_assert_int_eq(attr_list_set(&l, CKA_EC_POINT, pt->value + 2, 65), CKR_OK);
	k = our_key(CKO_PUBLIC_KEY, &l);
	EVP_PKEY_free(k);
	/* compressed, truncated, wrongly wrapped, empty: refused */
	memcpy(buf, pt->value + 2, 65);
	buf[0] = 0x02 | (buf[64] & 1);
	ck_assert_int_eq(attr_list_set(&l, CKA_EC_POINT, buf, 33), CKR_OK);
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PUBLIC_KEY, &l, &k), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(attr_list_set(&l, CKA_EC_POINT, pt->value, 66), CKR_OK);
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PUBLIC_KEY, &l, &k), CKR_ATTRIBUTE_VALUE_INVALID);
	memcpy(buf, pt->value, 67);
	buf[0] = 0x03;
	ck_assert_int_eq(attr_list_set(&l, CKA_EC_POINT, buf, 67), CKR_OK);
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PUBLIC_KEY, &l, &k), CKR_ATTRIBUTE_VALUE_INVALID);
	memcpy(buf, pt->value, 67);
	buf[1] = 0x42;
	ck_assert_int_eq(attr_list_set(&l, CKA_EC_POINT, buf, 67), CKR_OK);
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PUBLIC_KEY, &l, &k), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(attr_list_set(&l, CKA_EC_POINT, NULL, 0), CKR_OK);
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PUBLIC_KEY, &l, &k), CKR_ATTRIBUTE_VALUE_INVALID);
	/* a P-256 point under P-384 params */
	ck_assert_int_eq(attr_list_set(&l, CKA_EC_POINT, pt->value, pt->len), CKR_OK);
	ck_assert_int_eq(attr_list_set(&l, CKA_EC_PARAMS, P384_OID, sizeof(P384_OID)), CKR_OK);
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PUBLIC_KEY, &l, &k), CKR_ATTRIBUTE_VALUE_INVALID);
	/* P-256 params on an EC_EDWARDS key */
	ck_assert_int_eq(attr_list_set(&l, CKA_EC_PARAMS, P256_OID, sizeof(P256_OID)), CKR_OK);
	ck_assert_int_eq(attr_list_set_ulong(&l, CKA_KEY_TYPE, CKK_EC_EDWARDS), CKR_OK);
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PUBLIC_KEY, &l, &k), CKR_CURVE_NOT_SUPPORTED);
	ck_assert_int_eq(attr_list_set_ulong(&l, CKA_KEY_TYPE, CKK_EC), CKR_OK);
	attr_list_remove(&l, CKA_EC_POINT);
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PUBLIC_KEY, &l, &k), CKR_TEMPLATE_INCOMPLETE);
	attr_list_remove(&l, CKA_KEY_TYPE);
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PUBLIC_KEY, &l, &k), CKR_TEMPLATE_INCOMPLETE);
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_DATA, &pub, &k), CKR_KEY_TYPE_INCONSISTENT);
	attr_list_clear(&l);
	attr_list_clear(&pub);
	attr_list_clear(&priv);
}
END_TEST

START_TEST(import_ec_point_not_on_curve)
{
	attr_list_t pub, priv;
	EVP_PKEY *k = NULL;
	CK_BYTE pt[67];
	int refused = 0;

	ck_assert_int_eq(gen_ec(CKM_EC_KEY_PAIR_GEN, P256_OID, sizeof(P256_OID), &pub, &priv), CKR_OK);
	memcpy(pt, must_find(&pub, CKA_EC_POINT)->value, 67);
	/* y + 1, and a few other single-bit changes: none is on the curve
	 * (x determines y up to sign, and -y differs in far more than a bit) */
	for (int i = 0; i < 16; i++) {
		pt[66 - i] ^= (CK_BYTE)(1u << (i % 8));
		ck_assert_int_eq(attr_list_set(&pub, CKA_EC_POINT, pt, sizeof(pt)), CKR_OK);
		ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PUBLIC_KEY, &pub, &k), CKR_ATTRIBUTE_VALUE_INVALID);
		ck_assert_ptr_null(k);
		pt[66 - i] ^= (CK_BYTE)(1u << (i % 8));
		refused++;
	}
	/* x = p (out of range), and the all-zero "point" */
	memset(pt + 3, 0xff, 32);
	ck_assert_int_eq(attr_list_set(&pub, CKA_EC_POINT, pt, sizeof(pt)), CKR_OK);
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PUBLIC_KEY, &pub, &k), CKR_ATTRIBUTE_VALUE_INVALID);
	memset(pt + 3, 0, 64);
	ck_assert_int_eq(attr_list_set(&pub, CKA_EC_POINT, pt, sizeof(pt)), CKR_OK);
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PUBLIC_KEY, &pub, &k), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(refused, 16);
	attr_list_clear(&pub);
	attr_list_clear(&priv);
}
END_TEST

START_TEST(import_ec_private_bad_scalar)
{
	static const CK_BYTE order[32] = {
		0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
	};
	CK_BYTE d[33] = { 0 };
	attr_list_t l;
	EVP_PKEY *k = NULL;

	attr_list_init(&l);
	ck_assert_int_eq(attr_list_set_ulong(&l, CKA_KEY_TYPE, CKK_EC), CKR_OK);
	ck_assert_int_eq(attr_list_set(&l, CKA_EC_PARAMS, P256_OID, sizeof(P256_OID)), CKR_OK);
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PRIVATE_KEY, &l, &k), CKR_TEMPLATE_INCOMPLETE);
	ck_assert_int_eq(attr_list_set(&l, CKA_VALUE, d, 32), CKR_OK); /* zero */
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PRIVATE_KEY, &l, &k), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(attr_list_set(&l, CKA_VALUE, order, 32), CKR_OK); /* n */
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PRIVATE_KEY, &l, &k), CKR_ATTRIBUTE_VALUE_INVALID);
	d[32] = 1;
	ck_assert_int_eq(attr_list_set(&l, CKA_VALUE, d, 33), CKR_OK); /* too long */
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PRIVATE_KEY, &l, &k), CKR_ATTRIBUTE_VALUE_INVALID);
	/* d = 1 without its leading zeros is a (silly but) valid key: pub = G */
	ck_assert_int_eq(attr_list_set(&l, CKA_VALUE, d + 32, 1), CKR_OK);
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PRIVATE_KEY, &l, &k), CKR_OK);
	EVP_PKEY_free(k);
	/* Ed25519 seed of the wrong size */
	ck_assert_int_eq(attr_list_set_ulong(&l, CKA_KEY_TYPE, CKK_EC_EDWARDS), CKR_OK);
	ck_assert_int_eq(attr_list_set(&l, CKA_EC_PARAMS, ED_OID, sizeof(ED_OID)), CKR_OK);
	ck_assert_int_eq(attr_list_set(&l, CKA_VALUE, d, 31), CKR_OK);
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PRIVATE_KEY, &l, &k), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(attr_list_set(&l, CKA_VALUE, d, 33), CKR_OK);
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PRIVATE_KEY, &l, &k), CKR_ATTRIBUTE_VALUE_INVALID);
	attr_list_clear(&l);
}
END_TEST

START_TEST(import_rsa_checks)
{
	attr_list_t l;
	EVP_PKEY *k = NULL;
	const attr_t *p;
	CK_BYTE buf[256];

	/* n, e, d alone make a usable private key */
	ck_assert_int_eq(attr_list_copy(&l, &rsa_opriv), CKR_OK);
	attr_list_remove(&l, CKA_PRIME_1);
	k = our_key(CKO_PRIVATE_KEY, &l);
	{
		CK_MECHANISM m = mech0(CKM_SHA256_RSA_PKCS);
		CK_BYTE sig[256];
		CK_ULONG sl = sizeof(sig);
		ck_assert_int_eq(our_sign(k, CKK_RSA, &m, MSG, sizeof(MSG), sig, &sl), CKR_OK);
		ck_assert_int_eq(ossl_rsa_verify(rsa_ossl, EVP_sha256(), -1, MSG, sizeof(MSG), sig, sl), 1);
	}
	EVP_PKEY_free(k);
	attr_list_clear(&l);
	/* a corrupt prime is caught at load */
	ck_assert_int_eq(attr_list_copy(&l, &rsa_opriv), CKR_OK);
	p = must_find(&l, CKA_PRIME_1);
	memcpy(buf, p->value, p->len);
	buf[p->len - 1] ^= 2;
	ck_assert_int_eq(attr_list_set(&l, CKA_PRIME_1, buf, p->len), CKR_OK);
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PRIVATE_KEY, &l, &k), CKR_ATTRIBUTE_VALUE_INVALID);
	attr_list_remove(&l, CKA_PRIVATE_EXPONENT);
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PRIVATE_KEY, &l, &k), CKR_TEMPLATE_INCOMPLETE);
	attr_list_clear(&l);
	/* public: even modulus, even exponent, missing exponent */
	ck_assert_int_eq(attr_list_copy(&l, &rsa_opub), CKR_OK);
	p = must_find(&l, CKA_MODULUS);
	memcpy(buf, p->value, 256);
	buf[255] &= 0xfe;
	ck_assert_int_eq(attr_list_set(&l, CKA_MODULUS, buf, 256), CKR_OK);
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PUBLIC_KEY, &l, &k), CKR_ATTRIBUTE_VALUE_INVALID);
	buf[255] |= 1;
	ck_assert_int_eq(attr_list_set(&l, CKA_MODULUS, buf, 256), CKR_OK);
	ck_assert_int_eq(attr_list_set(&l, CKA_PUBLIC_EXPONENT, "\x01\x00\x00", 3), CKR_OK);
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PUBLIC_KEY, &l, &k), CKR_ATTRIBUTE_VALUE_INVALID);
	attr_list_remove(&l, CKA_PUBLIC_EXPONENT);
	ck_assert_int_eq(crypto_pkey_from_attrs(CKO_PUBLIC_KEY, &l, &k), CKR_TEMPLATE_INCOMPLETE);
	attr_list_clear(&l);
}
END_TEST

/* A 1024-bit key can be imported but no RSA mechanism will use it. */
START_TEST(rsa_small_key_refused)
{
	EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	attr_list_t l;
	EVP_PKEY *k;
	crypto_op_t *op = NULL;
	CK_MECHANISM m = mech0(CKM_SHA256_RSA_PKCS);

	ck_assert_ptr_nonnull(small);
	attr_list_init(&l);
	ck_assert_int_eq(attr_list_set_ulong(&l, CKA_KEY_TYPE, CKK_RSA), CKR_OK);
	bn_attr(&l, CKA_MODULUS, small, OSSL_PKEY_PARAM_RSA_N);
	bn_attr(&l, CKA_PUBLIC_EXPONENT, small, OSSL_PKEY_PARAM_RSA_E);
	k = our_key(CKO_PUBLIC_KEY, &l);
	ck_assert_int_eq(crypto_op_new(CRYPTO_VERIFY, &m, k, CKK_RSA, &op), CKR_KEY_SIZE_RANGE);
	ck_assert_ptr_null(op);
	EVP_PKEY_free(k);
	EVP_PKEY_free(small);
	attr_list_clear(&l);
}
END_TEST

START_TEST(complete_imported_spki)
{
	attr_list_t pub, priv, l;
	const attr_t *a;

	ck_assert_int_eq(gen_ec(CKM_EC_KEY_PAIR_GEN, P384_OID, sizeof(P384_OID), &pub, &priv), CKR_OK);
	ck_assert_int_eq(attr_list_copy(&l, &priv), CKR_OK);
	attr_list_remove(&l, CKA_PUBLIC_KEY_INFO);
	ck_assert_int_eq(crypto_complete_imported(CKO_PRIVATE_KEY, &l), CKR_OK);
	a = must_find(&l, CKA_PUBLIC_KEY_INFO);
	ck_assert_uint_eq(a->len, must_find(&pub, CKA_PUBLIC_KEY_INFO)->len);
	ck_assert_mem_eq(a->value, must_find(&pub, CKA_PUBLIC_KEY_INFO)->value, a->len);
	/* an SPKI of another key is refused; an empty one is filled */
	ck_assert_int_eq(attr_list_set(&l, CKA_PUBLIC_KEY_INFO, must_find(&rsa_pub, CKA_PUBLIC_KEY_INFO)->value,
				       must_find(&rsa_pub, CKA_PUBLIC_KEY_INFO)->len), CKR_OK);
	ck_assert_int_eq(crypto_complete_imported(CKO_PRIVATE_KEY, &l), CKR_TEMPLATE_INCONSISTENT);
	ck_assert_int_eq(attr_list_set(&l, CKA_PUBLIC_KEY_INFO, NULL, 0), CKR_OK);
	ck_assert_int_eq(crypto_complete_imported(CKO_PRIVATE_KEY, &l), CKR_OK);
	ck_assert_uint_eq(must_find(&l, CKA_PUBLIC_KEY_INFO)->len, 120);
	attr_list_clear(&l);
	/* public keys too, RSA included; other classes untouched */
	ck_assert_int_eq(attr_list_copy(&l, &rsa_opub), CKR_OK);
	ck_assert_int_eq(crypto_complete_imported(CKO_PUBLIC_KEY, &l), CKR_OK);
	{
		unsigned char *der = NULL;
		int n = i2d_PUBKEY(rsa_ossl, &der);
		a = must_find(&l, CKA_PUBLIC_KEY_INFO);
		ck_assert_int_eq(n, (int)a->len);
		ck_assert_mem_eq(a->value, der, a->len);
		OPENSSL_free(der);
	}
	attr_list_clear(&l);
	attr_list_init(&l);
	ck_assert_int_eq(crypto_complete_imported(CKO_DATA, &l), CKR_OK);
	ck_assert_uint_eq(l.count, 0);
	/* a broken key is reported, not completed */
	ck_assert_int_eq(attr_list_copy(&l, &pub), CKR_OK);
	ck_assert_int_eq(attr_list_set(&l, CKA_EC_POINT, "\x04\x01\x04", 3), CKR_OK);
	ck_assert_int_eq(crypto_complete_imported(CKO_PUBLIC_KEY, &l), CKR_ATTRIBUTE_VALUE_INVALID);
	attr_list_clear(&l);
	attr_list_clear(&pub);
	attr_list_clear(&priv);
}
END_TEST

/* ---- mechanism / key mismatches ------------------------------------------ */

START_TEST(key_type_inconsistent)
{
	attr_list_t ecpub, ecpriv, edpub, edpriv;
	EVP_PKEY *ec, *ed, *rsa = our_key(CKO_PRIVATE_KEY, &rsa_priv);
	CK_MECHANISM ecdsa = mech0(CKM_ECDSA), eddsa = mech0(CKM_EDDSA), pkcs = mech0(CKM_RSA_PKCS);
	crypto_op_t *op = NULL;

	ck_assert_int_eq(gen_ec(CKM_EC_KEY_PAIR_GEN, P256_OID, sizeof(P256_OID), &ecpub, &ecpriv), CKR_OK);
	ck_assert_int_eq(gen_ec(CKM_EC_EDWARDS_KEY_PAIR_GEN, ED_OID, sizeof(ED_OID), &edpub, &edpriv), CKR_OK);
	ec = our_key(CKO_PRIVATE_KEY, &ecpriv);
	ed = our_key(CKO_PRIVATE_KEY, &edpriv);

	/* the object's key type disagrees with the mechanism */
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &ecdsa, rsa, CKK_RSA, &op), CKR_KEY_TYPE_INCONSISTENT);
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &ecdsa, ed, CKK_EC_EDWARDS, &op), CKR_KEY_TYPE_INCONSISTENT);
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &eddsa, ec, CKK_EC, &op), CKR_KEY_TYPE_INCONSISTENT);
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &pkcs, ec, CKK_EC, &op), CKR_KEY_TYPE_INCONSISTENT);
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &ecdsa, ec, CKK_GENERIC_SECRET, &op), CKR_KEY_TYPE_INCONSISTENT);
	/* the key itself disagrees with the claimed key type */
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &ecdsa, ed, CKK_EC, &op), CKR_KEY_TYPE_INCONSISTENT);
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &eddsa, ec, CKK_EC_EDWARDS, &op), CKR_KEY_TYPE_INCONSISTENT);
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &pkcs, ec, CKK_RSA, &op), CKR_KEY_TYPE_INCONSISTENT);
	/* operations a mechanism does not do */
	ck_assert_int_eq(crypto_op_new(CRYPTO_ENCRYPT, &ecdsa, ec, CKK_EC, &op), CKR_MECHANISM_INVALID);
	ck_assert_int_eq(crypto_op_new(CRYPTO_DIGEST, &ecdsa, NULL, 0, &op), CKR_MECHANISM_INVALID);
	{
		CK_MECHANISM m = mech0(CKM_ECDH1_DERIVE);
		ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &m, ec, CKK_EC, &op), CKR_MECHANISM_INVALID);
		m = mech0(CKM_VENDOR_DEFINED | 5);
		ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &m, ec, CKK_EC, &op), CKR_MECHANISM_INVALID);
	}
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &ecdsa, NULL, CKK_EC, &op), CKR_ARGUMENTS_BAD);
	/* ECDSA takes no parameter */
	ecdsa.pParameter = &ecdsa;
	ecdsa.ulParameterLen = 4;
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &ecdsa, ec, CKK_EC, &op), CKR_MECHANISM_PARAM_INVALID);
	ck_assert_ptr_null(op);
	/* a single-part op has no update or final */
	ecdsa = mech0(CKM_ECDSA);
	ck_assert_int_eq(crypto_op_new(CRYPTO_SIGN, &ecdsa, ec, CKK_EC, &op), CKR_OK);
	ck_assert(!crypto_op_multipart(op));
	ck_assert_int_eq(crypto_op_update(op, MSG, 3), CKR_FUNCTION_NOT_SUPPORTED);
	{
		CK_BYTE sig[64];
		CK_ULONG sl = sizeof(sig);
		ck_assert_int_eq(crypto_op_final(op, sig, &sl), CKR_FUNCTION_NOT_SUPPORTED);
	}
	crypto_op_free(op);
	crypto_op_free(NULL);

	EVP_PKEY_free(ec);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(rsa);
	attr_list_clear(&ecpub);
	attr_list_clear(&ecpriv);
	attr_list_clear(&edpub);
	attr_list_clear(&edpriv);
}
END_TEST

/* ---- ECDH --------------------------------------------------------------- */

static void ecdh_check(const CK_BYTE *oid, size_t oid_len, const char *group, size_t field)
{
	attr_list_t pub, priv, d;
	EVP_PKEY *base, *peer = ossl_keygen_ec(group), *o_pub;
	CK_BYTE pt[2 + 97], z[48];
	size_t plen = 0, zl = sizeof(z);
	CK_ECDH1_DERIVE_PARAMS p = { CKD_NULL, 0, NULL, 0, NULL };
	CK_MECHANISM m = { CKM_ECDH1_DERIVE, &p, sizeof(p) };
	EVP_PKEY_CTX *c;
	const attr_t *v;
	CK_ULONG kt;

	ck_assert_int_eq(gen_ec(CKM_EC_KEY_PAIR_GEN, oid, oid_len, &pub, &priv), CKR_OK);
	base = our_key(CKO_PRIVATE_KEY, &priv);
	o_pub = spki_key(&pub);
	/* OpenSSL's side: the peer key with our public key */
	c = EVP_PKEY_CTX_new(peer, NULL);
	ck_assert_int_eq(EVP_PKEY_derive_init(c), 1);
	ck_assert_int_eq(EVP_PKEY_derive_set_peer(c, o_pub), 1);
	ck_assert_int_eq(EVP_PKEY_derive(c, z, &zl), 1);
	ck_assert_uint_eq(zl, field);
	EVP_PKEY_CTX_free(c);
	ck_assert_int_eq(EVP_PKEY_get_octet_string_param(peer, OSSL_PKEY_PARAM_PUB_KEY, pt + 2, 97, &plen), 1);
	pt[0] = 0x04;
	pt[1] = (CK_BYTE)plen;

	/* bare point, no CKA_VALUE_LEN: the whole Z, generic secret */
	p.pPublicData = pt + 2;
	p.ulPublicDataLen = plen;
	attr_list_init(&d);
	ck_assert_int_eq(crypto_derive(&m, base, &d), CKR_OK);
	v = must_find(&d, CKA_VALUE);
	ck_assert_uint_eq(v->len, field);
	ck_assert_mem_eq(v->value, z, field);
	ck_assert(attr_list_get_ulong(&d, CKA_KEY_TYPE, &kt) && kt == CKK_GENERIC_SECRET);
	ck_assert(attr_list_get_ulong(&d, CKA_VALUE_LEN, &kt) && kt == field);
	attr_list_clear(&d);
	/* DER point, CKA_VALUE_LEN 16: the rightmost 16 bytes; key type kept */
	p.pPublicData = pt;
	p.ulPublicDataLen = plen + 2;
	ck_assert_int_eq(attr_list_set_ulong(&d, CKA_VALUE_LEN, 16), CKR_OK);
	ck_assert_int_eq(attr_list_set_ulong(&d, CKA_KEY_TYPE, CKK_AES), CKR_OK);
	ck_assert_int_eq(crypto_derive(&m, base, &d), CKR_OK);
	v = must_find(&d, CKA_VALUE);
	ck_assert_uint_eq(v->len, 16);
	ck_assert_mem_eq(v->value, z + field - 16, 16);
	ck_assert(attr_list_get_ulong(&d, CKA_KEY_TYPE, &kt) && kt == CKK_AES);
	/* more than Z holds */
	ck_assert_int_eq(attr_list_set_ulong(&d, CKA_VALUE_LEN, field + 1), CKR_OK);
	ck_assert_int_eq(crypto_derive(&m, base, &d), CKR_KEY_SIZE_RANGE);
	attr_list_clear(&d);

	/* CKD_SHA256_KDF: X9.63, one block = SHA-256(Z || 00000001 || info) */
	{
		static const CK_BYTE info[] = "offpass-seal";
		CK_BYTE in[48 + 4 + sizeof(info)], want[32];
		unsigned int wl;

		memcpy(in, z, field);
		memcpy(in + field, "\x00\x00\x00\x01", 4);
		memcpy(in + field + 4, info, sizeof(info));
		ck_assert_int_eq(EVP_Digest(in, field + 4 + sizeof(info), want, &wl, EVP_sha256(), NULL), 1);
		p.kdf = CKD_SHA256_KDF;
		p.pSharedData = (CK_BYTE *)info;
		p.ulSharedDataLen = sizeof(info);
		ck_assert_int_eq(attr_list_set_ulong(&d, CKA_VALUE_LEN, 32), CKR_OK);
		ck_assert_int_eq(crypto_derive(&m, base, &d), CKR_OK);
		v = must_find(&d, CKA_VALUE);
		ck_assert_uint_eq(v->len, 32);
		ck_assert_mem_eq(v->value, want, 32);
		attr_list_clear(&d);
		/* a longer output: the first block is the prefix */
		ck_assert_int_eq(attr_list_set_ulong(&d, CKA_VALUE_LEN, 40), CKR_OK);
		ck_assert_int_eq(crypto_derive(&m, base, &d), CKR_OK);
		ck_assert_mem_eq(must_find(&d, CKA_VALUE)->value, want, 32);
		attr_list_clear(&d);
		/* CKD_NULL takes no shared data */
		p.kdf = CKD_NULL;
		ck_assert_int_eq(crypto_derive(&m, base, &d), CKR_MECHANISM_PARAM_INVALID);
		p.pSharedData = NULL;
		p.ulSharedDataLen = 0;
	}
	EVP_PKEY_free(o_pub);
	EVP_PKEY_free(peer);
	EVP_PKEY_free(base);
	attr_list_clear(&pub);
	attr_list_clear(&priv);
}

START_TEST(ecdh_p256) { ecdh_check(P256_OID, sizeof(P256_OID), "P-256", 32); }
END_TEST
START_TEST(ecdh_p384) { ecdh_check(P384_OID, sizeof(P384_OID), "P-384", 48); }
END_TEST

START_TEST(ecdh_bad_input)
{
	attr_list_t pub, priv, pub2, priv2, edpub, edpriv, d;
	EVP_PKEY *base, *ed;
	CK_BYTE pt[67];
	CK_ECDH1_DERIVE_PARAMS p = { CKD_NULL, 0, NULL, 0, NULL };
	CK_MECHANISM m = { CKM_ECDH1_DERIVE, &p, sizeof(p) };

	ck_assert_int_eq(gen_ec(CKM_EC_KEY_PAIR_GEN, P256_OID, sizeof(P256_OID), &pub, &priv), CKR_OK);
	ck_assert_int_eq(gen_ec(CKM_EC_KEY_PAIR_GEN, P384_OID, sizeof(P384_OID), &pub2, &priv2), CKR_OK);
	ck_assert_int_eq(gen_ec(CKM_EC_EDWARDS_KEY_PAIR_GEN, ED_OID, sizeof(ED_OID), &edpub, &edpriv), CKR_OK);
	base = our_key(CKO_PRIVATE_KEY, &priv);
	ed = our_key(CKO_PRIVATE_KEY, &edpriv);
	attr_list_init(&d);
	memcpy(pt, must_find(&pub, CKA_EC_POINT)->value, 67);

	ck_assert_int_eq(crypto_derive(&m, base, &d), CKR_MECHANISM_PARAM_INVALID); /* no point */
	p.pPublicData = pt;
	p.ulPublicDataLen = 67;
	ck_assert_int_eq(crypto_derive(&m, base, &d), CKR_OK); /* with itself: fine */
	attr_list_clear(&d);
	pt[66] ^= 1; /* off the curve */
	ck_assert_int_eq(crypto_derive(&m, base, &d), CKR_MECHANISM_PARAM_INVALID);
	pt[66] ^= 1;
	p.ulPublicDataLen = 66; /* truncated */
	ck_assert_int_eq(crypto_derive(&m, base, &d), CKR_MECHANISM_PARAM_INVALID);
	/* a P-384 point against a P-256 key */
	p.pPublicData = must_find(&pub2, CKA_EC_POINT)->value;
	p.ulPublicDataLen = must_find(&pub2, CKA_EC_POINT)->len;
	ck_assert_int_eq(crypto_derive(&m, base, &d), CKR_MECHANISM_PARAM_INVALID);
	p.pPublicData = pt;
	p.ulPublicDataLen = 67;
	p.kdf = 0x99;
	ck_assert_int_eq(crypto_derive(&m, base, &d), CKR_MECHANISM_PARAM_INVALID);
	p.kdf = CKD_NULL;
	m.ulParameterLen = sizeof(p) - 1;
	ck_assert_int_eq(crypto_derive(&m, base, &d), CKR_MECHANISM_PARAM_INVALID);
	m.ulParameterLen = sizeof(p);
	ck_assert_int_eq(crypto_derive(&m, ed, &d), CKR_KEY_TYPE_INCONSISTENT);
	ck_assert_int_eq(attr_list_set_ulong(&d, CKA_VALUE_LEN, 0), CKR_OK);
	ck_assert_int_eq(crypto_derive(&m, base, &d), CKR_KEY_SIZE_RANGE);
	m.mechanism = CKM_ECDSA;
	ck_assert_int_eq(crypto_derive(&m, base, &d), CKR_MECHANISM_INVALID);
	ck_assert_ptr_null(attr_list_find(&d, CKA_VALUE));

	EVP_PKEY_free(base);
	EVP_PKEY_free(ed);
	attr_list_clear(&d);
	attr_list_clear(&pub);
	attr_list_clear(&priv);
	attr_list_clear(&pub2);
	attr_list_clear(&priv2);
	attr_list_clear(&edpub);
	attr_list_clear(&edpriv);
}
END_TEST

/* ---- randomness ------------------------------------------------------------ */

START_TEST(random_bytes)
{
	CK_BYTE a[64] = { 0 }, b[64] = { 0 };

	ck_assert_int_eq(crypto_random(a, sizeof(a)), CKR_OK);
	ck_assert_int_eq(crypto_random(b, sizeof(b)), CKR_OK);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
	ck_assert_int_eq(crypto_random(NULL, 0), CKR_OK);
	ck_assert_int_eq(crypto_random(NULL, 1), CKR_ARGUMENTS_BAD);
	ck_assert_int_eq(crypto_seed(a, sizeof(a)), CKR_OK);
	ck_assert_int_eq(crypto_seed(NULL, 3), CKR_ARGUMENTS_BAD);
	ck_assert_int_eq(crypto_random(b, sizeof(b)), CKR_OK);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
}
END_TEST

static Suite *crypto_suite(void)
{
	Suite *s = suite_create("crypto");
	TCase *t;

	t = tcase_create("mechanisms");
	tcase_add_test(t, mech_list_two_call);
	tcase_add_test(t, mech_info);
	tcase_add_test(t, digest_matches_openssl);
	tcase_add_test(t, digest_bad_use);
	suite_add_tcase(s, t);

	t = tcase_create("ec");
	tcase_set_timeout(t, 120);
	tcase_add_test(t, ecdsa_p256);
	tcase_add_test(t, ecdsa_p384);
	tcase_add_test(t, ecdsa_leading_zeros);
	tcase_add_test(t, ecdsa_leading_zeros_p384);
	tcase_add_test(t, ecdsa_bad_signatures);
	tcase_add_test(t, sign_size_query_keeps_op);
	tcase_add_test(t, key_templates);
	tcase_add_test(t, eddsa_both_ways);
	tcase_add_test(t, eddsa_rfc8032_vector);
	tcase_add_test(t, eddsa_bad_input);
	tcase_add_test(t, keygen_ec_encodings);
	tcase_add_test(t, keygen_ec_bad_params);
	tcase_add_test(t, import_ec_point_forms);
	tcase_add_test(t, import_ec_point_not_on_curve);
	tcase_add_test(t, import_ec_private_bad_scalar);
	tcase_add_test(t, ecdh_p256);
	tcase_add_test(t, ecdh_p384);
	tcase_add_test(t, ecdh_bad_input);
	tcase_add_test(t, keygen_secret);
	tcase_add_test(t, random_bytes);
	suite_add_tcase(s, t);

	t = tcase_create("rsa");
	tcase_set_timeout(t, 120);
	tcase_add_unchecked_fixture(t, rsa_setup, rsa_teardown);
	tcase_add_test(t, rsa_pkcs1_both_ways);
	tcase_add_test(t, rsa_pss_both_ways);
	tcase_add_test(t, rsa_pss_bad_params);
	tcase_add_test(t, rsa_pkcs1_crypt);
	tcase_add_test(t, rsa_oaep_crypt);
	tcase_add_test(t, rsa_crypt_bad_input);
	tcase_add_test(t, rsa_sign_bad_input);
	tcase_add_test(t, keygen_rsa);
	tcase_add_test(t, import_rsa_checks);
	tcase_add_test(t, rsa_small_key_refused);
	tcase_add_test(t, complete_imported_spki);
	tcase_add_test(t, key_type_inconsistent);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(crypto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
