/* internal.h - what the crypto layer's files share and nobody else sees:
 * the mechanism table entries, the curve table, the cached message digests
 * and the DER helpers for CKA_EC_PARAMS / CKA_EC_POINT. */
#ifndef OFFPASS_P11_CRYPTO_INTERNAL_H
#define OFFPASS_P11_CRYPTO_INTERNAL_H

#include <stddef.h>
#include "p11/crypto/crypto.h"

/* v3.0 types p11-kit 0.24 does not declare (OASIS v3.0 layout). */
typedef struct crypto_eddsa_params {
	CK_BBOOL phFlag;
	CK_ULONG ulContextDataLen;
	CK_BYTE_PTR pContextData;
} crypto_eddsa_params_t;

/* ---- Message digests --------------------------------------------------- */

typedef enum crypto_hash {
	HASH_NONE = 0,
	HASH_SHA1,
	HASH_SHA224,
	HASH_SHA256,
	HASH_SHA384,
	HASH_SHA512,
	HASH_COUNT_,
} crypto_hash_t;

/* The EVP_MD for a hash, fetched once per process (an explicitly fetched
 * digest saves OpenSSL 3.0 an implicit fetch in every EVP_DigestInit_ex).
 * NULL for HASH_NONE or when the provider lacks it. */
const EVP_MD *crypto_md(crypto_hash_t h);
/* CKM_SHA_1 ... CKM_SHA512 -> hash; HASH_NONE when not a digest mechanism. */
crypto_hash_t crypto_hash_from_mech(CK_MECHANISM_TYPE m);
/* CKG_MGF1_SHA* -> hash; HASH_NONE when unknown. */
crypto_hash_t crypto_hash_from_mgf(CK_ULONG mgf);

/* ---- Mechanism table --------------------------------------------------- */

/* What a mechanism does, beyond CK_MECHANISM_INFO. */
typedef enum mech_alg {
	ALG_DIGEST,
	ALG_ECDSA,
	ALG_EDDSA,
	ALG_RSA_PKCS,
	ALG_RSA_PSS,
	ALG_RSA_OAEP,
	ALG_ECDH,
	ALG_KEYGEN,
	ALG_CIPHER,  /* AES ECB/CBC/CBC_PAD/CTR, DES3 ECB/CBC/CBC_PAD: EVP_CIPHER */
	ALG_GCM,     /* AES-GCM, tag appended to the ciphertext */
	ALG_KEYWRAP, /* AES-KW (RFC 3394), AES-KWP (RFC 5649): single-part */
	ALG_HMAC,
	ALG_CMAC,
} mech_alg_t;

/* Which symmetric variant a mechanism is (ALG_CIPHER and the MACs). */
typedef enum sym_mode {
	SYM_NONE = 0,
	SYM_ECB,
	SYM_CBC,
	SYM_CBC_PAD,
	SYM_CTR,
	SYM_GCM,
	SYM_KW,
	SYM_KWP,
	SYM_MAC,     /* output the full MAC */
	SYM_MAC_GEN, /* _GENERAL: CK_MAC_GENERAL_PARAMS gives the length */
} sym_mode_t;

#define MECH_NO_KEY ((CK_KEY_TYPE)-1)

typedef struct mech_def {
	CK_MECHANISM_TYPE type;
	CK_MECHANISM_INFO info;
	mech_alg_t alg;
	CK_KEY_TYPE key_type; /* MECH_NO_KEY for digests */
	crypto_hash_t hash;   /* hashed by the token before signing; HASH_NONE: raw input */
	sym_mode_t mode;      /* symmetric mechanisms: the variant */
} mech_def_t;

/* The entry for type, or NULL. */
const mech_def_t *crypto_mech_find(CK_MECHANISM_TYPE type);
/* Whether a key of type kt may serve mechanism m: its own key type, and
 * for HMAC also a generic secret (CKK_SHA256_HMAC for CKM_SHA256_HMAC ...). */
bool crypto_mech_key_ok(const mech_def_t *m, CK_KEY_TYPE kt);
/* True for mechanisms of secret keys (ciphers, MACs, AES key wrap). */
bool crypto_mech_is_symmetric(const mech_def_t *m);

/* ---- Secret keys --------------------------------------------------------- */

/* The key bytes of a secret key's EVP_PKEY (made by crypto_pkey_from_attrs
 * for CKO_SECRET_KEY); NULL for any other key. Borrowed from the key. */
const CK_BYTE *crypto_secret_bytes(const EVP_PKEY *pkey, size_t *len);
/* The secret key's CKK_* type, CK_UNAVAILABLE_INFORMATION for other keys. */
CK_KEY_TYPE crypto_secret_key_type(const EVP_PKEY *pkey);
/* The EVP_PKEY of a secret key object (CKA_KEY_TYPE, CKA_VALUE of a length
 * the key type allows). CKR_ATTRIBUTE_VALUE_INVALID, CKR_TEMPLATE_INCOMPLETE. */
CK_RV crypto_secret_pkey(const attr_list_t *attrs, EVP_PKEY **out) OFP_WUR;
/* Whether len bytes is a valid key of key type kt (AES 16/24/32, DES3 24,
 * generic and HMAC secrets 1..512); false for other key types. */
bool crypto_secret_len_ok(CK_KEY_TYPE kt, size_t len);
/* Check the value's length against the key type, compute CKA_CHECK_VALUE
 * when empty or absent, compare it when given (CKR_ATTRIBUTE_VALUE_INVALID). */
CK_RV crypto_complete_secret(attr_list_t *attrs) OFP_WUR;
/* len random bytes for a new key of type kt (DES3: odd parity, three
 * distinct keys). */
CK_RV crypto_secret_random(CK_KEY_TYPE kt, CK_BYTE *buf, size_t len) OFP_WUR;

/* The EVP_CIPHER for a key type, mode and key length (fetched once per
 * process); NULL when there is none. */
const EVP_CIPHER *crypto_cipher(CK_KEY_TYPE kt, sym_mode_t mode, size_t key_len);
/* The fetched EVP_MAC "HMAC" or "CMAC"; NULL when the provider lacks it. */
EVP_MAC *crypto_mac(mech_alg_t alg);

/* A context keyed with the secret key for mode (ECB, CBC, CBC_PAD, CTR,
 * GCM) and direction: the spare an earlier operation handed back
 * (*reused: it may carry another IV length and padding, which the caller
 * sets again), else a copy of one made on first use and kept with the
 * key. The caller sets the IV. NULL when the key has none (then
 * initialise one from scratch). */
EVP_CIPHER_CTX *crypto_secret_cipher_ctx(const EVP_PKEY *key, sym_mode_t mode, int enc, bool *reused);
/* Hand a context back when the operation ends (kept as the spare, or freed). */
void crypto_secret_cipher_done(const EVP_PKEY *key, sym_mode_t mode, int enc, EVP_CIPHER_CTX *ctx);
/* A MAC context (HMAC with hash h, or CMAC) keyed and initialised, ready
 * for updates: the spare, started over, or a copy of the kept one. NULL
 * when there is none. */
EVP_MAC_CTX *crypto_secret_mac_ctx(const EVP_PKEY *key, mech_alg_t alg, crypto_hash_t h);
void crypto_secret_mac_done(const EVP_PKEY *key, mech_alg_t alg, crypto_hash_t h, EVP_MAC_CTX *ctx);

/* ---- Symmetric operations (sym.c) ---------------------------------------- */

typedef struct sym_op sym_op_t;
CK_RV sym_op_new(crypto_op_kind_t kind, const mech_def_t *m, const CK_MECHANISM *mech,
		 EVP_PKEY *key, sym_op_t **out) OFP_WUR;
void sym_op_free(sym_op_t *op);
/* Whether a finished operation's keyed context can start over with new
 * parameters (AES-GCM with a 96-bit IV), and starting it over: CKR_OK, or
 * an error after which the operation must be freed. */
bool sym_op_restartable(const sym_op_t *op);
/* sym_op_restartable, and when it is, let go of the collected input. */
bool sym_op_keep(sym_op_t *op);
CK_RV sym_op_restart(sym_op_t *op, const CK_MECHANISM *mech) OFP_WUR;
bool sym_op_multipart(const sym_op_t *op);
CK_ULONG sym_op_output_size(const sym_op_t *op, CK_ULONG in_len);
CK_ULONG sym_op_update_size(const sym_op_t *op, CK_ULONG in_len);
CK_RV sym_op_oneshot(sym_op_t *op, const CK_BYTE *in, CK_ULONG in_len, CK_BYTE *out, CK_ULONG *out_len) OFP_WUR;
CK_RV sym_op_update(sym_op_t *op, const CK_BYTE *in, CK_ULONG in_len, CK_BYTE *out, CK_ULONG *out_len) OFP_WUR;
CK_RV sym_op_final(sym_op_t *op, CK_BYTE *out, CK_ULONG *out_len) OFP_WUR;
CK_RV sym_op_verify_oneshot(sym_op_t *op, const CK_BYTE *data, CK_ULONG data_len,
			    const CK_BYTE *sig, CK_ULONG sig_len) OFP_WUR;
CK_RV sym_op_verify_final(sym_op_t *op, const CK_BYTE *sig, CK_ULONG sig_len) OFP_WUR;

/* ---- Curves ------------------------------------------------------------ */

typedef struct curve {
	const char *group;   /* OpenSSL group name; NULL for Ed25519 */
	const char *keytype; /* OpenSSL key type: "EC" or "ED25519" */
	int nid;
	size_t field_len;    /* bytes of a coordinate (Ed25519: of the encoded point) */
	size_t order_len;    /* bytes of the group order: ECDSA r and s, private scalar */
	CK_KEY_TYPE key_type; /* CKK_EC or CKK_EC_EDWARDS */
} curve_t;

/* Key types by OID, not by name: an application that made an ENGINE the
 * default (openssl -engine pkcs11, libp11) has "EC" and "RSA" bound to the
 * engine's legacy methods, and EVP_PKEY_fromdata then fails inside this
 * module. The OID names always reach the provider implementations. */
#define KEYTYPE_EC "1.2.840.10045.2.1"
#define KEYTYPE_RSA "1.2.840.113549.1.1.1"

/* The longest encoded point: 04||X||Y on P-384. */
#define POINT_MAX (1 + 2 * 48)

/* Parse CKA_EC_PARAMS: a DER OBJECT IDENTIFIER of P-256, P-384 or Ed25519,
 * or the DER PrintableString "edwards25519". CKR_DOMAIN_PARAMS_INVALID
 * when it is neither a whole OID nor a whole PrintableString,
 * CKR_CURVE_NOT_SUPPORTED for one we do not have. */
CK_RV crypto_curve_from_params(const CK_BYTE *der, CK_ULONG len, const curve_t **out) OFP_WUR;
/* The curve of an EC or Ed25519 EVP_PKEY; NULL for anything else. */
const curve_t *crypto_curve_of_pkey(const EVP_PKEY *pkey);

/* The encoded point inside CKA_EC_POINT or ECDH public data, which may be
 * a DER OCTET STRING or the bare encoding (both exist in the wild): for a
 * Weierstrass curve the uncompressed 04||X||Y, for Ed25519 32 bytes.
 * Points into in; CKR_ATTRIBUTE_VALUE_INVALID when neither form fits. */
CK_RV crypto_ec_point_unwrap(const curve_t *c, const CK_BYTE *in, CK_ULONG len,
			     const CK_BYTE **point, size_t *point_len) OFP_WUR;

/* CKA_EC_PARAMS of c: the DER OID. */
const CK_BYTE *crypto_curve_oid(const curve_t *c, size_t *len);
/* A private key's attributes from an EVP_PKEY (an unwrapped PKCS#8): key
 * type, EC: CKA_EC_PARAMS, CKA_VALUE; RSA: all CRT components; both
 * CKA_PUBLIC_KEY_INFO. A template that named another key type is
 * CKR_TEMPLATE_INCONSISTENT; a key the token cannot hold (another curve or
 * algorithm) CKR_WRAPPED_KEY_INVALID. */
CK_RV crypto_export_private(const EVP_PKEY *pkey, attr_list_t *priv) OFP_WUR;

/* Bytes of an encoded point of c (uncompressed for Weierstrass curves). */
size_t crypto_point_len(const curve_t *c);

/* CKA_PUBLIC_KEY_INFO of a curve key from its raw point: the curve's fixed
 * SPKI prefix and the point. */
CK_RV crypto_spki_from_point(attr_list_t *l, const curve_t *c, const CK_BYTE *pt, size_t plen) OFP_WUR;
/* CKA_PUBLIC_KEY_INFO of any key (c NULL for RSA). */
CK_RV crypto_set_spki(attr_list_t *l, const curve_t *c, const EVP_PKEY *pkey) OFP_WUR;

/* The domain parameters of a Weierstrass curve as an EVP_PKEY, made on
 * first use and kept until crypto_release; NULL on failure. Not owned. */
EVP_PKEY *crypto_curve_params(const curve_t *c);

/* EVP_PKEY_fromdata by key type name; NULL on failure. */
EVP_PKEY *crypto_pkey_fromdata(const char *keytype, int selection, OSSL_PARAM *params);

/* The public key of a curve point (already unwrapped): for P-256/P-384
 * checked to lie on the curve. CKR_ATTRIBUTE_VALUE_INVALID when not. */
CK_RV crypto_ec_pub_from_point(const curve_t *c, const CK_BYTE *pt, size_t len, EVP_PKEY **out) OFP_WUR;

/* A ready context for an operation of kind on key, copied from the
 * template crypto_pkey_from_attrs attached to it; NULL when it has none
 * (other keys, other kinds, RSA): the caller initialises one itself. */
EVP_PKEY_CTX *crypto_tmpl_pkey_ctx(const EVP_PKEY *key, crypto_op_kind_t kind);
EVP_MD_CTX *crypto_tmpl_md_ctx(const EVP_PKEY *key, crypto_op_kind_t kind);

/* Map an OpenSSL failure to CK_RV and drop the thread's error queue, so a
 * failed call leaves nothing behind for the next one. */
CK_RV crypto_ossl_fail(CK_RV rv);

#endif
