/* mechanisms.c - the token's mechanisms, one declarative table.
 *
 * Key sizes are in bits for RSA and EC (the field size: 256 and 384), and
 * for Ed25519 256 as SoftHSM2 and kryoptic report it (the key and the
 * encoded point are 256 bits; the field is 255). Secret keys (generic,
 * HMAC, AES, DES3) count in bytes, as v3.0 says for each of them. CKF_HW is
 * never set: this is software. Single DES (and 2-key DES3) is left out on
 * purpose: a 56-bit key falls to a brute-force search.
 *
 * Edwards mechanisms carry CKF_EC_F_P (Ed25519 is over a prime field) and
 * CKF_EC_NAMEDCURVE (curves are named, by OID or name), but not
 * CKF_EC_UNCOMPRESS: an Ed25519 point has only its one 32-byte encoding. */
#include "config.h"
#include "p11/crypto/internal.h"

#include <pthread.h>
#include <string.h>
#include <openssl/err.h>

#define EC_FLAGS (CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS)
#define ED_FLAGS (CKF_EC_F_P | CKF_EC_NAMEDCURVE)
#define SIGVER (CKF_SIGN | CKF_VERIFY)
#define ENCDEC (CKF_ENCRYPT | CKF_DECRYPT)
#define WRAPUNWRAP (CKF_WRAP | CKF_UNWRAP)

/* Shorthands: a row is { type, { min, max, flags }, alg, key type, hash, mode }. */
#define DIGEST(t, h) { t, { 0, 0, CKF_DIGEST }, ALG_DIGEST, MECH_NO_KEY, h, SYM_NONE }
#define ECDSA(t, h) { t, { 256, 384, SIGVER | EC_FLAGS }, ALG_ECDSA, CKK_EC, h, SYM_NONE }
#define RSA_SIG(t, alg, h) { t, { 2048, 4096, SIGVER }, alg, CKK_RSA, h, SYM_NONE }
/* Symmetric key sizes are in bytes (v3.0 2.x for AES, DES3, generic secrets). */
#define AES(t, flags, alg, mode) { t, { 16, 32, flags }, alg, CKK_AES, HASH_NONE, mode }
#define DES3(t, mode) { t, { 24, 24, ENCDEC }, ALG_CIPHER, CKK_DES3, HASH_NONE, mode }
#define HMAC(t, kt, h, mode) { t, { 1, 512, SIGVER }, ALG_HMAC, kt, h, mode }

static const mech_def_t mechs[] = {
	DIGEST(CKM_SHA_1, HASH_SHA1),
	DIGEST(CKM_SHA224, HASH_SHA224),
	DIGEST(CKM_SHA256, HASH_SHA256),
	DIGEST(CKM_SHA384, HASH_SHA384),
	DIGEST(CKM_SHA512, HASH_SHA512),

	{ CKM_EC_KEY_PAIR_GEN, { 256, 384, CKF_GENERATE_KEY_PAIR | EC_FLAGS }, ALG_KEYGEN, CKK_EC, HASH_NONE, SYM_NONE },
	ECDSA(CKM_ECDSA, HASH_NONE),
	ECDSA(CKM_ECDSA_SHA1, HASH_SHA1),
	ECDSA(CKM_ECDSA_SHA224, HASH_SHA224),
	ECDSA(CKM_ECDSA_SHA256, HASH_SHA256),
	ECDSA(CKM_ECDSA_SHA384, HASH_SHA384),
	ECDSA(CKM_ECDSA_SHA512, HASH_SHA512),
	{ CKM_ECDH1_DERIVE, { 256, 384, CKF_DERIVE | EC_FLAGS }, ALG_ECDH, CKK_EC, HASH_NONE, SYM_NONE },

	{ CKM_EC_EDWARDS_KEY_PAIR_GEN, { 256, 256, CKF_GENERATE_KEY_PAIR | ED_FLAGS }, ALG_KEYGEN,
	  CKK_EC_EDWARDS, HASH_NONE, SYM_NONE },
	{ CKM_EDDSA, { 256, 256, SIGVER | ED_FLAGS }, ALG_EDDSA, CKK_EC_EDWARDS, HASH_NONE, SYM_NONE },
	{ CKM_EC_MONTGOMERY_KEY_PAIR_GEN, { 256, 256, CKF_GENERATE_KEY_PAIR | ED_FLAGS }, ALG_KEYGEN,
	  CKK_EC_MONTGOMERY, HASH_NONE, SYM_NONE },

	{ CKM_RSA_PKCS_KEY_PAIR_GEN, { 2048, 4096, CKF_GENERATE_KEY_PAIR }, ALG_KEYGEN, CKK_RSA, HASH_NONE, SYM_NONE },
	{ CKM_RSA_PKCS, { 2048, 4096, SIGVER | ENCDEC }, ALG_RSA_PKCS, CKK_RSA, HASH_NONE, SYM_NONE },
	RSA_SIG(CKM_SHA1_RSA_PKCS, ALG_RSA_PKCS, HASH_SHA1),
	RSA_SIG(CKM_SHA224_RSA_PKCS, ALG_RSA_PKCS, HASH_SHA224),
	RSA_SIG(CKM_SHA256_RSA_PKCS, ALG_RSA_PKCS, HASH_SHA256),
	RSA_SIG(CKM_SHA384_RSA_PKCS, ALG_RSA_PKCS, HASH_SHA384),
	RSA_SIG(CKM_SHA512_RSA_PKCS, ALG_RSA_PKCS, HASH_SHA512),
	RSA_SIG(CKM_RSA_PKCS_PSS, ALG_RSA_PSS, HASH_NONE),
	RSA_SIG(CKM_SHA1_RSA_PKCS_PSS, ALG_RSA_PSS, HASH_SHA1),
	RSA_SIG(CKM_SHA224_RSA_PKCS_PSS, ALG_RSA_PSS, HASH_SHA224),
	RSA_SIG(CKM_SHA256_RSA_PKCS_PSS, ALG_RSA_PSS, HASH_SHA256),
	RSA_SIG(CKM_SHA384_RSA_PKCS_PSS, ALG_RSA_PSS, HASH_SHA384),
	RSA_SIG(CKM_SHA512_RSA_PKCS_PSS, ALG_RSA_PSS, HASH_SHA512),
	{ CKM_RSA_PKCS_OAEP, { 2048, 4096, ENCDEC | WRAPUNWRAP }, ALG_RSA_OAEP, CKK_RSA, HASH_NONE, SYM_NONE },

	{ CKM_GENERIC_SECRET_KEY_GEN, { 1, 512, CKF_GENERATE }, ALG_KEYGEN, CKK_GENERIC_SECRET, HASH_NONE, SYM_NONE },
	HMAC(CKM_SHA_1_HMAC, CKK_SHA_1_HMAC, HASH_SHA1, SYM_MAC),
	HMAC(CKM_SHA_1_HMAC_GENERAL, CKK_SHA_1_HMAC, HASH_SHA1, SYM_MAC_GEN),
	HMAC(CKM_SHA224_HMAC, CKK_SHA224_HMAC, HASH_SHA224, SYM_MAC),
	HMAC(CKM_SHA224_HMAC_GENERAL, CKK_SHA224_HMAC, HASH_SHA224, SYM_MAC_GEN),
	HMAC(CKM_SHA256_HMAC, CKK_SHA256_HMAC, HASH_SHA256, SYM_MAC),
	HMAC(CKM_SHA256_HMAC_GENERAL, CKK_SHA256_HMAC, HASH_SHA256, SYM_MAC_GEN),
	HMAC(CKM_SHA384_HMAC, CKK_SHA384_HMAC, HASH_SHA384, SYM_MAC),
	HMAC(CKM_SHA384_HMAC_GENERAL, CKK_SHA384_HMAC, HASH_SHA384, SYM_MAC_GEN),
	HMAC(CKM_SHA512_HMAC, CKK_SHA512_HMAC, HASH_SHA512, SYM_MAC),
	HMAC(CKM_SHA512_HMAC_GENERAL, CKK_SHA512_HMAC, HASH_SHA512, SYM_MAC_GEN),

	AES(CKM_AES_KEY_GEN, CKF_GENERATE, ALG_KEYGEN, SYM_NONE),
	AES(CKM_AES_ECB, ENCDEC, ALG_CIPHER, SYM_ECB),
	AES(CKM_AES_CBC, ENCDEC, ALG_CIPHER, SYM_CBC),
	AES(CKM_AES_CBC_PAD, ENCDEC, ALG_CIPHER, SYM_CBC_PAD),
	AES(CKM_AES_CTR, ENCDEC, ALG_CIPHER, SYM_CTR),
	AES(CKM_AES_GCM, ENCDEC, ALG_GCM, SYM_GCM),
	AES(CKM_AES_CMAC, SIGVER, ALG_CMAC, SYM_MAC),
	AES(CKM_AES_CMAC_GENERAL, SIGVER, ALG_CMAC, SYM_MAC_GEN),
	AES(CKM_AES_KEY_WRAP, ENCDEC | WRAPUNWRAP, ALG_KEYWRAP, SYM_KW),
	AES(CKM_AES_KEY_WRAP_KWP, ENCDEC | WRAPUNWRAP, ALG_KEYWRAP, SYM_KWP),

	{ CKM_DES3_KEY_GEN, { 24, 24, CKF_GENERATE }, ALG_KEYGEN, CKK_DES3, HASH_NONE, SYM_NONE },
	DES3(CKM_DES3_ECB, SYM_ECB),
	DES3(CKM_DES3_CBC, SYM_CBC),
	DES3(CKM_DES3_CBC_PAD, SYM_CBC_PAD),
};

const mech_def_t *crypto_mech_find(CK_MECHANISM_TYPE type)
{
	for (size_t i = 0; i < OFP_ARRAY_LEN(mechs); i++)
		if (mechs[i].type == type)
			return &mechs[i];
	return NULL;
}

bool crypto_mech_is_symmetric(const mech_def_t *m)
{
	switch (m->alg) {
	case ALG_CIPHER:
	case ALG_GCM:
	case ALG_KEYWRAP:
	case ALG_HMAC:
	case ALG_CMAC:
		return true;
	default:
		return false;
	}
}

bool crypto_mech_key_ok(const mech_def_t *m, CK_KEY_TYPE kt)
{
	return kt == m->key_type || (m->alg == ALG_HMAC && kt == CKK_GENERIC_SECRET) ||
	       (m->alg == ALG_ECDH && kt == CKK_EC_MONTGOMERY);
}


CK_RV crypto_mechanism_list(CK_MECHANISM_TYPE *list, CK_ULONG *count)
{
	CK_ULONG n = OFP_ARRAY_LEN(mechs);
	CK_RV rv = CKR_OK;

	if (count == NULL)
		return CKR_ARGUMENTS_BAD;
	if (list != NULL && *count < n) {
		rv = CKR_BUFFER_TOO_SMALL;
	} else if (list != NULL) {
		for (CK_ULONG i = 0; i < n; i++)
			list[i] = mechs[i].type;
	}
	*count = n;
	return rv;
}

CK_RV crypto_mechanism_info(CK_MECHANISM_TYPE type, CK_MECHANISM_INFO *info)
{
	const mech_def_t *m = crypto_mech_find(type);

	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	if (m == NULL)
		return CKR_MECHANISM_INVALID;
	*info = m->info;
	return CKR_OK;
}

CK_OBJECT_CLASS crypto_mechanism_key_class(CK_MECHANISM_TYPE type, crypto_op_kind_t kind)
{
	const mech_def_t *m = crypto_mech_find(type);

	if (m == NULL)
		return 0;
	if (crypto_mech_is_symmetric(m))
		return CKO_SECRET_KEY;
	return kind == CRYPTO_SIGN || kind == CRYPTO_DECRYPT ? CKO_PRIVATE_KEY : CKO_PUBLIC_KEY;
}

bool crypto_mechanism_has(CK_MECHANISM_TYPE type, CK_FLAGS flag)
{
	const mech_def_t *m = crypto_mech_find(type);

	return m != NULL && flag != 0 && (m->info.flags & flag) == flag;
}

/* ---- Digests ----------------------------------------------------------- */

static const char *const md_names[HASH_COUNT_] = {
	[HASH_SHA1] = "SHA1",     [HASH_SHA224] = "SHA224", [HASH_SHA256] = "SHA256",
	[HASH_SHA384] = "SHA384", [HASH_SHA512] = "SHA512",
};
static EVP_MD *md_cache[HASH_COUNT_];
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

/* Kept for the life of the process: OpenSSL frees fetched methods at exit,
 * and a token is never without its digests. */
static void md_init(void)
{
	for (int h = HASH_SHA1; h < HASH_COUNT_; h++)
		md_cache[h] = EVP_MD_fetch(NULL, md_names[h], NULL);
	ERR_clear_error();
}

const EVP_MD *crypto_md(crypto_hash_t h)
{
	if (h <= HASH_NONE || h >= HASH_COUNT_)
		return NULL;
	(void)pthread_once(&md_once, md_init);
	return md_cache[h];
}

crypto_hash_t crypto_hash_from_mech(CK_MECHANISM_TYPE m)
{
	switch (m) {
	case CKM_SHA_1: return HASH_SHA1;
	case CKM_SHA224: return HASH_SHA224;
	case CKM_SHA256: return HASH_SHA256;
	case CKM_SHA384: return HASH_SHA384;
	case CKM_SHA512: return HASH_SHA512;
	default: return HASH_NONE;
	}
}

crypto_hash_t crypto_hash_from_mgf(CK_ULONG mgf)
{
	switch (mgf) {
	case CKG_MGF1_SHA1: return HASH_SHA1;
	case CKG_MGF1_SHA224: return HASH_SHA224;
	case CKG_MGF1_SHA256: return HASH_SHA256;
	case CKG_MGF1_SHA384: return HASH_SHA384;
	case CKG_MGF1_SHA512: return HASH_SHA512;
	default: return HASH_NONE;
	}
}

CK_RV crypto_ossl_fail(CK_RV rv)
{
	ERR_clear_error();
	return rv;
}
