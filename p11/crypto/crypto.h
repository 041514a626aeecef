/* crypto.h - the token's cryptography, all of it through OpenSSL 3 EVP.
 *
 * This layer knows mechanisms, key material and attribute encodings
 * (CKA_EC_PARAMS, CKA_EC_POINT, CKA_VALUE, CKA_MODULUS ...); it knows
 * nothing of sessions, handles or storage. */
#ifndef OFFPASS_P11_CRYPTO_H
#define OFFPASS_P11_CRYPTO_H

#include <stdbool.h>
#include <openssl/evp.h>
#include "p11/object/attrs.h"

/* ---- Mechanisms ---------------------------------------------------- */

/* The mechanism list (C_GetMechanismList, two-call convention). */
CK_RV crypto_mechanism_list(CK_MECHANISM_TYPE *list, CK_ULONG *count) OFP_WUR;
/* CKR_MECHANISM_INVALID for a mechanism the token does not have. Key sizes
 * in bits for RSA (2048..4096) and EC (256..384; Ed25519 256..256, as
 * SoftHSM2 2.6 and kryoptic report it), in bytes for generic secrets
 * (1..512). */
CK_RV crypto_mechanism_info(CK_MECHANISM_TYPE type, CK_MECHANISM_INFO *info) OFP_WUR;
/* True when the mechanism supports the usage flag (CKF_SIGN, CKF_VERIFY, ...). */
bool crypto_mechanism_has(CK_MECHANISM_TYPE type, CK_FLAGS flag);

/* ---- Key generation -------------------------------------------------- */

/* C_GenerateKeyPair's crypto. pub and priv already hold the policy-built
 * templates; this reads the parameters (CKA_EC_PARAMS from pub: an OID of
 * P-256/P-384 or, for CKM_EC_EDWARDS_KEY_PAIR_GEN, of Ed25519 or the
 * PrintableString "edwards25519"; CKA_MODULUS_BITS and optional
 * CKA_PUBLIC_EXPONENT for RSA), generates, and adds the key material and
 * CKA_KEY_TYPE to both lists: EC -> pub CKA_EC_POINT (DER OCTET STRING of
 * the uncompressed point; for Ed25519 of the 32 raw bytes), priv
 * CKA_EC_PARAMS + CKA_VALUE; RSA -> pub CKA_MODULUS + CKA_PUBLIC_EXPONENT,
 * priv all CRT components. Both get CKA_PUBLIC_KEY_INFO (SPKI DER).
 * Errors: CKR_MECHANISM_INVALID, CKR_MECHANISM_PARAM_INVALID,
 * CKR_CURVE_NOT_SUPPORTED (CKR_DOMAIN_PARAMS_INVALID for unparseable
 * params), CKR_KEY_SIZE_RANGE, CKR_TEMPLATE_INCOMPLETE. */
CK_RV crypto_generate_key_pair(const CK_MECHANISM *mech, attr_list_t *pub, attr_list_t *priv) OFP_WUR;
/* CKM_GENERIC_SECRET_KEY_GEN: CKA_VALUE of CKA_VALUE_LEN random bytes
 * (1..512), CKA_KEY_TYPE CKK_GENERIC_SECRET. */
CK_RV crypto_generate_secret(const CK_MECHANISM *mech, attr_list_t *secret) OFP_WUR;

/* An EVP_PKEY for an object's key material (public or private key
 * object). Validates it (point on curve, sizes): CKR_ATTRIBUTE_VALUE_INVALID
 * or CKR_TEMPLATE_INCOMPLETE for a bad or incomplete key,
 * CKR_CURVE_NOT_SUPPORTED / CKR_DOMAIN_PARAMS_INVALID for its
 * CKA_EC_PARAMS, CKR_KEY_TYPE_INCONSISTENT for a class or key type
 * without one. The module caches the result per object: EC and Ed25519
 * keys carry a ready sign (private) or verify (public) context that makes
 * crypto_op_new cheap, so the cached EVP_PKEY, not a fresh one, is what
 * crypto_op_new should get. */
CK_RV crypto_pkey_from_attrs(CK_OBJECT_CLASS klass, const attr_list_t *attrs, EVP_PKEY **out) OFP_WUR;
/* For C_CreateObject of a private key: fill derived public attributes the
 * application did not give (e.g. CKA_PUBLIC_KEY_INFO, CKA_EC_POINT is not a
 * private key attribute so nothing for EC). May be a no-op. */
CK_RV crypto_complete_imported(CK_OBJECT_CLASS klass, attr_list_t *attrs) OFP_WUR;

/* ---- Operations ------------------------------------------------------ */

typedef enum crypto_op_kind {
	CRYPTO_DIGEST,
	CRYPTO_SIGN,
	CRYPTO_VERIFY,
	CRYPTO_ENCRYPT,
	CRYPTO_DECRYPT,
} crypto_op_kind_t;

typedef struct crypto_op crypto_op_t;

/* Start an operation. key is NULL for CRYPTO_DIGEST; the op takes its own
 * reference. key_type is the object's CKA_KEY_TYPE. Errors:
 * CKR_MECHANISM_INVALID (unknown, or not for this kind of operation),
 * CKR_MECHANISM_PARAM_INVALID (bad PSS/OAEP parameters),
 * CKR_KEY_TYPE_INCONSISTENT (mechanism does not fit the key),
 * CKR_KEY_SIZE_RANGE. */
CK_RV crypto_op_new(crypto_op_kind_t kind, const CK_MECHANISM *mech, EVP_PKEY *key,
		    CK_KEY_TYPE key_type, crypto_op_t **out) OFP_WUR;
void crypto_op_free(crypto_op_t *op);
/* Whether a finished operation can be kept to start again
 * (crypto_op_restart): AES-GCM with a 96-bit IV, whose keyed context then
 * only takes a new IV, as an application keeping its EVP_CIPHER_CTX does.
 * When it can, it lets go of what it holds besides that context (the input
 * multi-part GCM decryption collected). */
bool crypto_op_keep(crypto_op_t *op);
/* Start a finished (or abandoned) reusable operation over, with its key,
 * for the same kind and mechanism type with mech's parameters (that the
 * key is still the one wanted, and still allowed, is the caller's). Any
 * error (another kind or mechanism, parameters it cannot take) means:
 * free it and use crypto_op_new, which reports bad parameters properly. */
CK_RV crypto_op_restart(crypto_op_t *op, crypto_op_kind_t kind, const CK_MECHANISM *mech) OFP_WUR;
/* True when the mechanism allows C_*Update (hash-and-sign and digest). */
bool crypto_op_multipart(const crypto_op_t *op);

/* True for secret-key operations (ciphers, MACs, key wrap): their
 * single-part, Update and Final calls answer the NULL-buffer and
 * too-small cases themselves (with the exact length where only decrypting
 * tells it), so the caller should not check sizes first. */
bool crypto_op_symmetric(const crypto_op_t *op);
/* C_EncryptUpdate / C_DecryptUpdate of a symmetric cipher: output of up to
 * crypto_op_update_size(op, in_len) bytes (GCM decryption gives none until
 * Final); NULL out and a too-small buffer as for crypto_op_oneshot. */
CK_ULONG crypto_op_update_size(const crypto_op_t *op, CK_ULONG in_len);
CK_RV crypto_op_update_out(crypto_op_t *op, const CK_BYTE *in, CK_ULONG in_len,
			   CK_BYTE *out, CK_ULONG *out_len) OFP_WUR;
/* The class of key a mechanism works with for an operation of kind:
 * CKO_SECRET_KEY for ciphers and MACs, else the asymmetric class
 * (sign/decrypt/unwrap: private, verify/encrypt/wrap: public). 0 when
 * the mechanism is unknown. */
CK_OBJECT_CLASS crypto_mechanism_key_class(CK_MECHANISM_TYPE type, crypto_op_kind_t kind);

/* Output size of the single-part or final call for in_len bytes of input
 * (the maximum: RSA decrypt reports the modulus size). crypto_op_oneshot
 * and crypto_op_final also answer out == NULL with this size and CKR_OK,
 * and a too-small buffer with CKR_BUFFER_TOO_SMALL, without consuming the
 * operation. */
CK_ULONG crypto_op_output_size(const crypto_op_t *op, CK_ULONG in_len);

/* Single-part digest/sign/encrypt/decrypt. The caller has already handled
 * the NULL-buffer and too-small cases with crypto_op_output_size, except
 * for decrypt where the exact length is only known afterwards: then
 * CKR_BUFFER_TOO_SMALL with *out_len set (or CKR_OK and *out_len for a
 * NULL out), and the op stays usable.
 * Errors: CKR_DATA_LEN_RANGE (RSA PKCS#1 v1.5 input over k - 11 bytes,
 * OAEP over k - 2 hLen - 2, raw PSS input not exactly the hash; raw
 * CKM_ECDSA takes any length and truncates per FIPS 186),
 * CKR_ENCRYPTED_DATA_INVALID, CKR_ENCRYPTED_DATA_LEN_RANGE (not k bytes),
 * CKR_FUNCTION_FAILED. */
CK_RV crypto_op_oneshot(crypto_op_t *op, const CK_BYTE *in, CK_ULONG in_len,
			CK_BYTE *out, CK_ULONG *out_len) OFP_WUR;
/* Multi-part. CKR_FUNCTION_NOT_SUPPORTED when !crypto_op_multipart(op).
 * Multi-part CKM_EDDSA buffers the message: at most this many bytes
 * (CKR_DATA_LEN_RANGE beyond). */
#define CRYPTO_EDDSA_BUFFER_MAX ((size_t)1 << 20)
CK_RV crypto_op_update(crypto_op_t *op, const CK_BYTE *in, CK_ULONG in_len) OFP_WUR;
CK_RV crypto_op_final(crypto_op_t *op, CK_BYTE *out, CK_ULONG *out_len) OFP_WUR;
/* Verify: CKR_OK, CKR_SIGNATURE_INVALID or CKR_SIGNATURE_LEN_RANGE.
 * Signatures are in PKCS#11 form: ECDSA r||s each the size of the group
 * order, EdDSA the 64 raw bytes, RSA the modulus size. */
CK_RV crypto_op_verify_oneshot(crypto_op_t *op, const CK_BYTE *data, CK_ULONG data_len,
			       const CK_BYTE *sig, CK_ULONG sig_len) OFP_WUR;
CK_RV crypto_op_verify_final(crypto_op_t *op, const CK_BYTE *sig, CK_ULONG sig_len) OFP_WUR;

/* ---- Wrapping ---------------------------------------------------------- */

/* C_WrapKey's crypto: target's material (a secret key's CKA_VALUE, a
 * private key as PKCS#8 DER) encrypted under the wrapping key with a
 * mechanism that has CKF_WRAP (AES-KW, AES-KWP, RSA-OAEP). out NULL asks
 * for the size, a too-small buffer is CKR_BUFFER_TOO_SMALL (*out_len set).
 * Errors: CKR_MECHANISM_INVALID, CKR_MECHANISM_PARAM_INVALID,
 * CKR_WRAPPING_KEY_TYPE_INCONSISTENT, CKR_WRAPPING_KEY_SIZE_RANGE,
 * CKR_KEY_NOT_WRAPPABLE (not a secret or private key),
 * CKR_KEY_SIZE_RANGE (the key does not fit the mechanism: KW wants a
 * multiple of 8 bytes, OAEP a short one). The attribute rules are the
 * caller's. */
CK_RV crypto_wrap(const CK_MECHANISM *mech, EVP_PKEY *wrapping, CK_KEY_TYPE wrapping_type,
		  const attr_list_t *target, CK_BYTE *out, CK_ULONG *out_len) OFP_WUR;
/* C_UnwrapKey's crypto: decrypt and put the material into key, which holds
 * the policy-built template (CKA_CLASS secret or private key). Secret:
 * CKA_VALUE (a template CKA_VALUE_LEN must agree: CKR_TEMPLATE_INCONSISTENT);
 * private: the PKCS#8 key's attributes as crypto_export_private makes them.
 * Errors: CKR_WRAPPED_KEY_INVALID, CKR_WRAPPED_KEY_LEN_RANGE,
 * CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, CKR_UNWRAPPING_KEY_SIZE_RANGE,
 * CKR_MECHANISM_INVALID, CKR_MECHANISM_PARAM_INVALID,
 * CKR_TEMPLATE_INCONSISTENT. */
CK_RV crypto_unwrap(const CK_MECHANISM *mech, EVP_PKEY *unwrapping, CK_KEY_TYPE unwrapping_type,
		    const CK_BYTE *in, CK_ULONG in_len, attr_list_t *key) OFP_WUR;

/* ---- Derivation and randomness -------------------------------------- */

/* CKM_ECDH1_DERIVE (CKD_NULL; CKD_SHA256_KDF welcome) with the private key
 * base and the peer's point in the mechanism parameter (raw uncompressed
 * point or DER OCTET STRING). Puts CKA_VALUE into derived, truncated to the
 * template's CKA_VALUE_LEN when given (else the full shared secret), and
 * CKA_KEY_TYPE CKK_GENERIC_SECRET unless the template named one.
 * CKD_NULL keeps the rightmost CKA_VALUE_LEN bytes of Z (as NSS and
 * SoftHSM2); CKD_SHA1/224/256/384/512_KDF are the ANSI X9.63 KDF with the
 * shared data, producing CKA_VALUE_LEN (at most 512) bytes. CKA_VALUE_LEN
 * is added for generic secret and AES keys when the template had none.
 * Errors: CKR_MECHANISM_PARAM_INVALID (bad parameters or peer point),
 * CKR_KEY_TYPE_INCONSISTENT (base not an EC key), CKR_KEY_SIZE_RANGE. */
CK_RV crypto_derive(const CK_MECHANISM *mech, EVP_PKEY *base, attr_list_t *derived) OFP_WUR;

CK_RV crypto_random(CK_BYTE *out, CK_ULONG len) OFP_WUR;
CK_RV crypto_seed(const CK_BYTE *seed, CK_ULONG len) OFP_WUR;

/* Free what the layer keeps between calls (the curve parameters key
 * generation starts from); it is made again when next needed. C_Finalize,
 * with no other thread in the module. */
void crypto_release(void);

#endif
