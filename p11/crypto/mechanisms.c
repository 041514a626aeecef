/* mechanisms.c - the token's mechanisms, one declarative table.
 *
 * Key sizes are in bits for RSA and EC (the field size: 256 and 384), and
 * for Ed25519 256 as SoftHSM2 and kryoptic report it (the key and the
 * encoded point are 256 bits; the field is 255). Generic secrets count in
 * bytes. CKF_HW is never set: this is software.
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

static const mech_def_t mechs[] = {
	{ CKM_SHA256, { 0, 0, CKF_DIGEST }, ALG_DIGEST, MECH_NO_KEY, HASH_SHA256 },
	{ CKM_SHA384, { 0, 0, CKF_DIGEST }, ALG_DIGEST, MECH_NO_KEY, HASH_SHA384 },

	{ CKM_EC_KEY_PAIR_GEN, { 256, 384, CKF_GENERATE_KEY_PAIR | EC_FLAGS }, ALG_KEYGEN, CKK_EC, HASH_NONE },
	{ CKM_ECDSA, { 256, 384, SIGVER | EC_FLAGS }, ALG_ECDSA, CKK_EC, HASH_NONE },
	{ CKM_ECDSA_SHA1, { 256, 384, SIGVER | EC_FLAGS }, ALG_ECDSA, CKK_EC, HASH_SHA1 },
	{ CKM_ECDSA_SHA256, { 256, 384, SIGVER | EC_FLAGS }, ALG_ECDSA, CKK_EC, HASH_SHA256 },
	{ CKM_ECDSA_SHA384, { 256, 384, SIGVER | EC_FLAGS }, ALG_ECDSA, CKK_EC, HASH_SHA384 },
	{ CKM_ECDH1_DERIVE, { 256, 384, CKF_DERIVE | EC_FLAGS }, ALG_ECDH, CKK_EC, HASH_NONE },

	{ CKM_EC_EDWARDS_KEY_PAIR_GEN, { 256, 256, CKF_GENERATE_KEY_PAIR | ED_FLAGS }, ALG_KEYGEN,
	  CKK_EC_EDWARDS, HASH_NONE },
	{ CKM_EDDSA, { 256, 256, SIGVER | ED_FLAGS }, ALG_EDDSA, CKK_EC_EDWARDS, HASH_NONE },

	{ CKM_RSA_PKCS_KEY_PAIR_GEN, { 2048, 4096, CKF_GENERATE_KEY_PAIR }, ALG_KEYGEN, CKK_RSA, HASH_NONE },
	{ CKM_RSA_PKCS, { 2048, 4096, SIGVER | ENCDEC }, ALG_RSA_PKCS, CKK_RSA, HASH_NONE },
	{ CKM_SHA256_RSA_PKCS, { 2048, 4096, SIGVER }, ALG_RSA_PKCS, CKK_RSA, HASH_SHA256 },
	{ CKM_RSA_PKCS_PSS, { 2048, 4096, SIGVER }, ALG_RSA_PSS, CKK_RSA, HASH_NONE },
	{ CKM_SHA256_RSA_PKCS_PSS, { 2048, 4096, SIGVER }, ALG_RSA_PSS, CKK_RSA, HASH_SHA256 },
	{ CKM_RSA_PKCS_OAEP, { 2048, 4096, ENCDEC }, ALG_RSA_OAEP, CKK_RSA, HASH_NONE },

	{ CKM_GENERIC_SECRET_KEY_GEN, { 1, 512, CKF_GENERATE }, ALG_KEYGEN, CKK_GENERIC_SECRET, HASH_NONE },
};

const mech_def_t *crypto_mech_find(CK_MECHANISM_TYPE type)
{
	for (size_t i = 0; i < OFP_ARRAY_LEN(mechs); i++)
		if (mechs[i].type == type)
			return &mechs[i];
	return NULL;
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
