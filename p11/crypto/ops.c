/* ops.c - digest, sign, verify, encrypt and decrypt operations.
 *
 * An operation holds at most two OpenSSL contexts, made once in
 * crypto_op_new: an EVP_MD_CTX for the token-side hash (digests,
 * hash-and-sign mechanisms, EdDSA's own one-shot signing) and an
 * EVP_PKEY_CTX for the private- or public-key step (ECDSA, RSA). Hashing
 * in our own EVP_MD_CTX with a digest fetched once, then signing the hash,
 * costs less per operation than EVP_DigestSignInit, which fetches the
 * digest again every time on OpenSSL 3.0.
 *
 * EdDSA (PureEdDSA) hashes the message twice, so it cannot be streamed:
 * multi-part CKM_EDDSA (C_SignUpdate/C_VerifyUpdate, which the current
 * OASIS text allows) buffers the message, up to CRYPTO_EDDSA_BUFFER_MAX
 * bytes (CKR_DATA_LEN_RANGE beyond), and signs or verifies it at Final.
 *
 * Output conventions: out == NULL reports the size with CKR_OK and a
 * too-small buffer CKR_BUFFER_TOO_SMALL, both without consuming the
 * operation, so a sign operation survives a size query even when the
 * module did not ask crypto_op_output_size first. */
#include "config.h"
#include "p11/crypto/internal.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include "secmem.h"

struct crypto_op {
	crypto_op_kind_t kind;
	const mech_def_t *m;
	EVP_PKEY *key;
	EVP_PKEY_CTX *pctx; /* ECDSA and RSA */
	EVP_MD_CTX *mctx;   /* the hash of digest and hash-and-sign; EdDSA */
	size_t order_len;   /* ECDSA: bytes of r and of s */
	size_t out_size;    /* digest, signature, ciphertext or modulus size */
	size_t in_max;      /* raw RSA input limit (PKCS#1 v1.5, OAEP); 0: none */
	size_t in_exact;    /* raw PSS: the hash length; 0: any */
	CK_BYTE *msg;       /* multi-part EdDSA: the message so far */
	size_t msg_len, msg_cap;
	sym_op_t *sym;      /* secret-key mechanisms: all of the work (sym.c) */
};

/* Big enough for a DER ECDSA-Sig-Value on P-384 (at most 104 bytes). */
#define ECDSA_DER_MAX 128

static CK_FLAGS kind_flag(crypto_op_kind_t kind)
{
	switch (kind) {
	case CRYPTO_DIGEST: return CKF_DIGEST;
	case CRYPTO_SIGN: return CKF_SIGN;
	case CRYPTO_VERIFY: return CKF_VERIFY;
	case CRYPTO_ENCRYPT: return CKF_ENCRYPT;
	case CRYPTO_DECRYPT: return CKF_DECRYPT;
	default: return 0;
	}
}

/* ---- Setup ------------------------------------------------------------- */

static CK_RV hash_init(crypto_op_t *op, crypto_hash_t h)
{
	const EVP_MD *md = crypto_md(h);

	op->mctx = EVP_MD_CTX_new();
	if (op->mctx == NULL)
		return CKR_HOST_MEMORY;
	if (md == NULL || EVP_DigestInit_ex(op->mctx, md, NULL) != 1)
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	return CKR_OK;
}

static CK_RV pctx_init(crypto_op_t *op)
{
	int r;

	op->pctx = crypto_tmpl_pkey_ctx(op->key, op->kind);
	if (op->pctx != NULL)
		return CKR_OK;
	op->pctx = EVP_PKEY_CTX_new_from_pkey(NULL, op->key, NULL);
	if (op->pctx == NULL)
		return crypto_ossl_fail(CKR_HOST_MEMORY);
	switch (op->kind) {
	case CRYPTO_SIGN: r = EVP_PKEY_sign_init(op->pctx); break;
	case CRYPTO_VERIFY: r = EVP_PKEY_verify_init(op->pctx); break;
	case CRYPTO_ENCRYPT: r = EVP_PKEY_encrypt_init(op->pctx); break;
	case CRYPTO_DECRYPT: r = EVP_PKEY_decrypt_init(op->pctx); break;
	default: r = 0; break;
	}
	return r == 1 ? CKR_OK : crypto_ossl_fail(CKR_FUNCTION_FAILED);
}

static CK_RV setup_digest(crypto_op_t *op, const CK_MECHANISM *mech)
{
	CK_RV rv;

	if (mech->ulParameterLen != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	rv = hash_init(op, op->m->hash);
	if (rv == CKR_OK)
		op->out_size = (size_t)EVP_MD_CTX_get_size(op->mctx);
	return rv;
}

static CK_RV setup_ecdsa(crypto_op_t *op, const CK_MECHANISM *mech)
{
	const curve_t *c = crypto_curve_of_pkey(op->key);
	CK_RV rv;

	if (mech->ulParameterLen != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	if (c == NULL || c->key_type != CKK_EC)
		return CKR_KEY_TYPE_INCONSISTENT;
	op->order_len = c->order_len;
	op->out_size = 2 * c->order_len;
	rv = pctx_init(op);
	if (rv == CKR_OK && op->m->hash != HASH_NONE)
		rv = hash_init(op, op->m->hash);
	return rv;
}

/* Plain Ed25519 only: no parameter, or CK_EDDSA_PARAMS asking for neither
 * prehashing (Ed25519ph) nor a context (Ed25519ctx). */
static CK_RV setup_eddsa(crypto_op_t *op, const CK_MECHANISM *mech)
{
	const crypto_eddsa_params_t *p = mech->pParameter;
	const curve_t *c = crypto_curve_of_pkey(op->key);
	int r;

	if (mech->ulParameterLen != 0) {
		if (p == NULL || mech->ulParameterLen != sizeof(*p) || p->phFlag != CK_FALSE ||
		    p->ulContextDataLen != 0)
			return CKR_MECHANISM_PARAM_INVALID;
	}
	if (c == NULL || c->key_type != CKK_EC_EDWARDS)
		return CKR_KEY_TYPE_INCONSISTENT;
	op->out_size = 2 * c->order_len;
	op->mctx = crypto_tmpl_md_ctx(op->key, op->kind);
	if (op->mctx != NULL)
		return CKR_OK;
	op->mctx = EVP_MD_CTX_new();
	if (op->mctx == NULL)
		return CKR_HOST_MEMORY;
	if (op->kind == CRYPTO_SIGN)
		r = EVP_DigestSignInit_ex(op->mctx, NULL, NULL, NULL, NULL, op->key, NULL);
	else
		r = EVP_DigestVerifyInit_ex(op->mctx, NULL, NULL, NULL, NULL, op->key, NULL);
	return r == 1 ? CKR_OK : crypto_ossl_fail(CKR_FUNCTION_FAILED);
}

static CK_RV setup_rsa_pkcs(crypto_op_t *op, const CK_MECHANISM *mech)
{
	if (mech->ulParameterLen != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	if (EVP_PKEY_CTX_set_rsa_padding(op->pctx, RSA_PKCS1_PADDING) != 1)
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	if (op->m->hash == HASH_NONE) {
		op->in_max = op->out_size - 11; /* RFC 8017: 8 padding bytes + 3 */
		return CKR_OK;
	}
	if (EVP_PKEY_CTX_set_signature_md(op->pctx, crypto_md(op->m->hash)) != 1)
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	return hash_init(op, op->m->hash);
}

static CK_RV setup_rsa_pss(crypto_op_t *op, const CK_MECHANISM *mech)
{
	const CK_RSA_PKCS_PSS_PARAMS *p = mech->pParameter;
	crypto_hash_t h, mgf;
	size_t hlen, em_len;

	if (p == NULL || mech->ulParameterLen != sizeof(*p))
		return CKR_MECHANISM_PARAM_INVALID;
	h = crypto_hash_from_mech(p->hashAlg);
	mgf = crypto_hash_from_mgf(p->mgf);
	if (h == HASH_NONE || mgf == HASH_NONE || crypto_md(h) == NULL || crypto_md(mgf) == NULL)
		return CKR_MECHANISM_PARAM_INVALID;
	if (op->m->hash != HASH_NONE && h != op->m->hash)
		return CKR_MECHANISM_PARAM_INVALID;
	/* RFC 8017 9.1.1: emLen >= hLen + sLen + 2, emLen = ceil((modBits - 1) / 8). */
	hlen = (size_t)EVP_MD_get_size(crypto_md(h));
	em_len = ((size_t)EVP_PKEY_get_bits(op->key) + 6) / 8;
	if (p->sLen > em_len || hlen + p->sLen + 2 > em_len)
		return CKR_MECHANISM_PARAM_INVALID;
	if (EVP_PKEY_CTX_set_rsa_padding(op->pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(op->pctx, crypto_md(h)) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(op->pctx, crypto_md(mgf)) != 1 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(op->pctx, (int)p->sLen) != 1)
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	if (op->m->hash == HASH_NONE) {
		op->in_exact = hlen;
		return CKR_OK;
	}
	return hash_init(op, h);
}

static CK_RV setup_rsa_oaep(crypto_op_t *op, const CK_MECHANISM *mech)
{
	const CK_RSA_PKCS_OAEP_PARAMS *p = mech->pParameter;
	crypto_hash_t h, mgf;
	size_t hlen;
	void *label = NULL;

	if (p == NULL || mech->ulParameterLen != sizeof(*p))
		return CKR_MECHANISM_PARAM_INVALID;
	h = crypto_hash_from_mech(p->hashAlg);
	mgf = crypto_hash_from_mgf(p->mgf);
	if (h == HASH_NONE || mgf == HASH_NONE || crypto_md(h) == NULL || crypto_md(mgf) == NULL)
		return CKR_MECHANISM_PARAM_INVALID;
	/* CKZ_DATA_SPECIFIED is the only source; some clients send 0 with no label. */
	if (p->source != CKZ_DATA_SPECIFIED && !(p->source == 0 && p->ulSourceDataLen == 0))
		return CKR_MECHANISM_PARAM_INVALID;
	if (p->ulSourceDataLen > ATTR_VALUE_MAX || (p->ulSourceDataLen != 0 && p->pSourceData == NULL))
		return CKR_MECHANISM_PARAM_INVALID;
	hlen = (size_t)EVP_MD_get_size(crypto_md(h));
	if (op->out_size < 2 * hlen + 2)
		return CKR_KEY_SIZE_RANGE;
	op->in_max = op->out_size - 2 * hlen - 2;
	if (EVP_PKEY_CTX_set_rsa_padding(op->pctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(op->pctx, crypto_md(h)) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(op->pctx, crypto_md(mgf)) != 1)
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	if (p->ulSourceDataLen == 0)
		return CKR_OK;
	label = OPENSSL_memdup(p->pSourceData, p->ulSourceDataLen);
	if (label == NULL)
		return CKR_HOST_MEMORY;
	/* set0: the context owns the label from here on, even on failure. */
	if (EVP_PKEY_CTX_set0_rsa_oaep_label(op->pctx, label, (int)p->ulSourceDataLen) <= 0)
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	return CKR_OK;
}

static CK_RV setup_rsa(crypto_op_t *op, const CK_MECHANISM *mech)
{
	int bits = EVP_PKEY_get_bits(op->key);
	CK_RV rv;

	if (EVP_PKEY_get_id(op->key) != EVP_PKEY_RSA)
		return CKR_KEY_TYPE_INCONSISTENT;
	if (bits < (int)op->m->info.ulMinKeySize || bits > (int)op->m->info.ulMaxKeySize)
		return CKR_KEY_SIZE_RANGE;
	op->out_size = (size_t)EVP_PKEY_get_size(op->key);
	rv = pctx_init(op);
	if (rv != CKR_OK)
		return rv;
	switch (op->m->alg) {
	case ALG_RSA_PKCS: return setup_rsa_pkcs(op, mech);
	case ALG_RSA_PSS: return setup_rsa_pss(op, mech);
	case ALG_RSA_OAEP: return setup_rsa_oaep(op, mech);
	default: return CKR_MECHANISM_INVALID;
	}
}

CK_RV crypto_op_new(crypto_op_kind_t kind, const CK_MECHANISM *mech, EVP_PKEY *key,
		    CK_KEY_TYPE key_type, crypto_op_t **out)
{
	const mech_def_t *m;
	crypto_op_t *op;
	CK_RV rv;

	if (mech == NULL || out == NULL)
		return CKR_ARGUMENTS_BAD;
	*out = NULL;
	m = crypto_mech_find(mech->mechanism);
	if (m == NULL || kind_flag(kind) == 0 || (m->info.flags & kind_flag(kind)) == 0)
		return CKR_MECHANISM_INVALID;
	if (kind != CRYPTO_DIGEST && key == NULL)
		return CKR_ARGUMENTS_BAD;
	if (kind != CRYPTO_DIGEST && !crypto_mech_key_ok(m, key_type))
		return CKR_KEY_TYPE_INCONSISTENT;
	op = calloc(1, sizeof(*op));
	if (op == NULL)
		return CKR_HOST_MEMORY;
	op->kind = kind;
	op->m = m;
	if (kind == CRYPTO_DIGEST) {
		rv = setup_digest(op, mech);
		goto out;
	}
	if (EVP_PKEY_up_ref(key) != 1) {
		rv = CKR_FUNCTION_FAILED;
		goto out;
	}
	op->key = key;
	if (crypto_mech_is_symmetric(m)) {
		rv = sym_op_new(kind, m, mech, key, &op->sym);
		goto out;
	}
	switch (m->alg) {
	case ALG_ECDSA: rv = setup_ecdsa(op, mech); break;
	case ALG_EDDSA: rv = setup_eddsa(op, mech); break;
	default: rv = setup_rsa(op, mech); break;
	}
out:
	if (rv != CKR_OK)
		crypto_op_free(op);
	else
		*out = op;
	return rv;
}

void crypto_op_free(crypto_op_t *op)
{
	if (op == NULL)
		return;
	sym_op_free(op->sym);
	EVP_MD_CTX_free(op->mctx);
	EVP_PKEY_CTX_free(op->pctx);
	EVP_PKEY_free(op->key);
	free(op->msg);
	free(op);
}

bool crypto_op_keep(crypto_op_t *op)
{
	return op->sym != NULL && sym_op_keep(op->sym);
}

CK_RV crypto_op_restart(crypto_op_t *op, crypto_op_kind_t kind, const CK_MECHANISM *mech)
{
	if (mech == NULL || op->kind != kind || op->m->type != mech->mechanism || op->sym == NULL ||
	    !sym_op_restartable(op->sym))
		return CKR_OPERATION_NOT_INITIALIZED;
	return sym_op_restart(op->sym, mech);
}

bool crypto_op_multipart(const crypto_op_t *op)
{
	if (op == NULL)
		return false;
	if (op->sym != NULL)
		return sym_op_multipart(op->sym);
	if (op->m->alg == ALG_DIGEST)
		return true;
	if (op->kind != CRYPTO_SIGN && op->kind != CRYPTO_VERIFY)
		return false;
	return op->m->hash != HASH_NONE || op->m->alg == ALG_EDDSA;
}

CK_ULONG crypto_op_output_size(const crypto_op_t *op, CK_ULONG in_len)
{
	if (op != NULL && op->sym != NULL)
		return sym_op_output_size(op->sym, in_len);
	/* every other output has a fixed maximum */
	return op != NULL ? (CK_ULONG)op->out_size : 0;
}

bool crypto_op_symmetric(const crypto_op_t *op)
{
	return op != NULL && op->sym != NULL;
}

CK_ULONG crypto_op_update_size(const crypto_op_t *op, CK_ULONG in_len)
{
	return op != NULL && op->sym != NULL ? sym_op_update_size(op->sym, in_len) : 0;
}

CK_RV crypto_op_update_out(crypto_op_t *op, const CK_BYTE *in, CK_ULONG in_len, CK_BYTE *out, CK_ULONG *out_len)
{
	if (op == NULL || out_len == NULL || (in == NULL && in_len != 0))
		return CKR_ARGUMENTS_BAD;
	if (op->sym == NULL || !sym_op_multipart(op->sym))
		return CKR_FUNCTION_NOT_SUPPORTED;
	return sym_op_update(op->sym, in, in_len, out, out_len);
}

/* ---- Sign and verify of a hash (or raw input) --------------------------- */

/* One DER INTEGER of an ECDSA-Sig-Value that OpenSSL just made, into n
 * big-endian bytes, left-padded: positive, minimally encoded, below
 * 2^(8n). Anything else is refused rather than guessed at. */
static bool der_uint(const CK_BYTE **p, const CK_BYTE *end, CK_BYTE *out, size_t n)
{
	const CK_BYTE *v = *p;
	size_t len;

	if (end - v < 2 || v[0] != 0x02 || v[1] == 0 || v[1] >= 0x80 || (size_t)(end - v - 2) < v[1])
		return false;
	len = v[1];
	v += 2;
	*p = v + len;
	if (v[0] & 0x80)
		return false; /* negative */
	if (v[0] == 0 && len > 1) {
		if (!(v[1] & 0x80))
			return false; /* not minimal */
		v++;
		len--;
	}
	if (len > n)
		return false;
	memset(out, 0, n - len);
	memcpy(out + n - len, v, len);
	return true;
}

/* PKCS#11 wants r||s, each padded to the order size; OpenSSL 3.0's EVP
 * gives DER only. Reading the two integers here costs a few dozen
 * instructions where d2i_ECDSA_SIG and two BIGNUM round trips cost about
 * 4,000 (2% of a P-256 signature). The sequence is short form for P-256
 * and P-384 alike (at most 2 * (2 + 49) content bytes). */
static CK_RV ecdsa_rs(const crypto_op_t *op, const CK_BYTE *der, size_t der_len, CK_BYTE *out)
{
	const CK_BYTE *p = der + 2, *end = der + der_len;

	if (der_len < 2 || der[0] != 0x30 || der[1] >= 0x80 || der[1] != der_len - 2)
		return CKR_FUNCTION_FAILED;
	if (!der_uint(&p, end, out, op->order_len) ||
	    !der_uint(&p, end, out + op->order_len, op->order_len) || p != end)
		return CKR_FUNCTION_FAILED;
	return CKR_OK;
}

static CK_RV ecdsa_sign(crypto_op_t *op, const CK_BYTE *tbs, size_t tbs_len, CK_BYTE *out)
{
	CK_BYTE der[ECDSA_DER_MAX];
	size_t der_len = sizeof(der);

	if (EVP_PKEY_sign(op->pctx, der, &der_len, tbs, tbs_len) != 1)
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	return ecdsa_rs(op, der, der_len, out);
}

static CK_RV sign_tbs(crypto_op_t *op, const CK_BYTE *tbs, size_t tbs_len, CK_BYTE *out, CK_ULONG *out_len)
{
	size_t sig_len = op->out_size;

	if ((op->in_max != 0 && tbs_len > op->in_max) || (op->in_exact != 0 && tbs_len != op->in_exact))
		return CKR_DATA_LEN_RANGE;
	if (op->m->alg == ALG_ECDSA) {
		CK_RV rv = ecdsa_sign(op, tbs, tbs_len, out);
		if (rv == CKR_OK)
			*out_len = (CK_ULONG)op->out_size;
		return rv;
	}
	if (EVP_PKEY_sign(op->pctx, out, &sig_len, tbs, tbs_len) != 1)
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	*out_len = (CK_ULONG)sig_len;
	return CKR_OK;
}

/* r||s -> DER ECDSA-Sig-Value. */
static CK_RV ecdsa_der(const crypto_op_t *op, const CK_BYTE *sig, CK_BYTE der[ECDSA_DER_MAX], size_t *der_len)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)op->order_len, NULL);
	BIGNUM *s = BN_bin2bn(sig + op->order_len, (int)op->order_len, NULL);
	unsigned char *p = der;
	CK_RV rv = CKR_HOST_MEMORY;
	int n;

	if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1)
		goto out;
	r = s = NULL; /* owned by es */
	n = i2d_ECDSA_SIG(es, NULL);
	if (n <= 0 || n > ECDSA_DER_MAX || i2d_ECDSA_SIG(es, &p) != n) {
		rv = crypto_ossl_fail(CKR_FUNCTION_FAILED);
		goto out;
	}
	*der_len = (size_t)n;
	rv = CKR_OK;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return rv;
}

static CK_RV verify_tbs(crypto_op_t *op, const CK_BYTE *tbs, size_t tbs_len, const CK_BYTE *sig)
{
	CK_BYTE der[ECDSA_DER_MAX];
	size_t der_len = 0;
	int r;

	if ((op->in_max != 0 && tbs_len > op->in_max) || (op->in_exact != 0 && tbs_len != op->in_exact))
		return CKR_DATA_LEN_RANGE;
	if (op->m->alg == ALG_ECDSA) {
		CK_RV rv = ecdsa_der(op, sig, der, &der_len);
		if (rv != CKR_OK)
			return rv;
		r = EVP_PKEY_verify(op->pctx, der, der_len, tbs, tbs_len);
	} else {
		r = EVP_PKEY_verify(op->pctx, sig, op->out_size, tbs, tbs_len);
	}
	/* 0 is a bad signature, < 0 a malformed one (e.g. r or s zero or out
	 * of range): both are CKR_SIGNATURE_INVALID, never CKR_OK. */
	return r == 1 ? CKR_OK : crypto_ossl_fail(CKR_SIGNATURE_INVALID);
}

static CK_RV hash_final(crypto_op_t *op, CK_BYTE md[EVP_MAX_MD_SIZE], size_t *len)
{
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(op->mctx, md, &n) != 1)
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	*len = n;
	return CKR_OK;
}

/* ---- Entry points -------------------------------------------------------- */

/* NULL: report the size (CKR_OK); too small: CKR_BUFFER_TOO_SMALL. */
static bool output_fits(const crypto_op_t *op, const CK_BYTE *out, CK_ULONG *out_len, CK_RV *rv)
{
	if (out != NULL && *out_len >= op->out_size)
		return true;
	*rv = out == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
	*out_len = (CK_ULONG)op->out_size;
	return false;
}

static CK_RV decrypt(crypto_op_t *op, const CK_BYTE *in, CK_ULONG in_len, CK_BYTE *out, CK_ULONG *out_len)
{
	size_t n = op->out_size;
	CK_BYTE *buf;
	CK_RV rv;

	if (in_len != op->out_size)
		return CKR_ENCRYPTED_DATA_LEN_RANGE;
	buf = secmem_alloc(op->out_size);
	if (buf == NULL)
		return CKR_HOST_MEMORY;
	if (EVP_PKEY_decrypt(op->pctx, buf, &n, in, in_len) != 1) {
		rv = crypto_ossl_fail(CKR_ENCRYPTED_DATA_INVALID);
	} else if (out == NULL) {
		rv = CKR_OK;
	} else if (*out_len < n) {
		rv = CKR_BUFFER_TOO_SMALL;
	} else {
		memcpy(out, buf, n);
		rv = CKR_OK;
	}
	if (rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL)
		*out_len = (CK_ULONG)n;
	secmem_free(buf, op->out_size);
	return rv;
}

static CK_RV encrypt(crypto_op_t *op, const CK_BYTE *in, CK_ULONG in_len, CK_BYTE *out, CK_ULONG *out_len)
{
	size_t n = *out_len;

	if (in_len > op->in_max)
		return CKR_DATA_LEN_RANGE;
	if (EVP_PKEY_encrypt(op->pctx, out, &n, in, in_len) != 1)
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	*out_len = (CK_ULONG)n;
	return CKR_OK;
}

static CK_RV sign_oneshot(crypto_op_t *op, const CK_BYTE *in, CK_ULONG in_len, CK_BYTE *out, CK_ULONG *out_len)
{
	size_t n = op->out_size;

	if (op->m->alg == ALG_EDDSA) {
		if (EVP_DigestSign(op->mctx, out, &n, in, in_len) != 1)
			return crypto_ossl_fail(CKR_FUNCTION_FAILED);
		*out_len = (CK_ULONG)n;
		return CKR_OK;
	}
	if (op->mctx != NULL) {
		CK_RV rv = crypto_op_update(op, in, in_len);
		return rv == CKR_OK ? crypto_op_final(op, out, out_len) : rv;
	}
	return sign_tbs(op, in, in_len, out, out_len);
}

CK_RV crypto_op_oneshot(crypto_op_t *op, const CK_BYTE *in, CK_ULONG in_len, CK_BYTE *out, CK_ULONG *out_len)
{
	CK_RV rv = CKR_OK;

	if (op == NULL || out_len == NULL || (in == NULL && in_len != 0))
		return CKR_ARGUMENTS_BAD;
	if (op->sym != NULL)
		return op->kind == CRYPTO_VERIFY ? CKR_FUNCTION_FAILED : sym_op_oneshot(op->sym, in, in_len, out, out_len);
	if (op->kind == CRYPTO_DECRYPT)
		return decrypt(op, in, in_len, out, out_len);
	if (!output_fits(op, out, out_len, &rv))
		return rv;
	switch (op->kind) {
	case CRYPTO_DIGEST:
		rv = crypto_op_update(op, in, in_len);
		return rv == CKR_OK ? crypto_op_final(op, out, out_len) : rv;
	case CRYPTO_SIGN:
		return sign_oneshot(op, in, in_len, out, out_len);
	case CRYPTO_ENCRYPT:
		return encrypt(op, in, in_len, out, out_len);
	default:
		return CKR_FUNCTION_FAILED; /* verify has its own entry points */
	}
}

/* Multi-part EdDSA: keep the message for Final, within the bound. */
static CK_RV eddsa_append(crypto_op_t *op, const CK_BYTE *in, size_t in_len)
{
	if (in_len > CRYPTO_EDDSA_BUFFER_MAX - op->msg_len)
		return CKR_DATA_LEN_RANGE;
	if (op->msg_len + in_len > op->msg_cap) {
		size_t cap = op->msg_cap ? op->msg_cap : 256;
		while (cap < op->msg_len + in_len)
			cap *= 2;
		if (cap > CRYPTO_EDDSA_BUFFER_MAX)
			cap = CRYPTO_EDDSA_BUFFER_MAX;
		CK_BYTE *more = realloc(op->msg, cap);
		if (more == NULL)
			return CKR_HOST_MEMORY;
		op->msg = more;
		op->msg_cap = cap;
	}
	if (in_len > 0)
		memcpy(op->msg + op->msg_len, in, in_len);
	op->msg_len += in_len;
	return CKR_OK;
}

CK_RV crypto_op_update(crypto_op_t *op, const CK_BYTE *in, CK_ULONG in_len)
{
	if (op == NULL || (in == NULL && in_len != 0))
		return CKR_ARGUMENTS_BAD;
	if (!crypto_op_multipart(op))
		return CKR_FUNCTION_NOT_SUPPORTED;
	if (op->sym != NULL) {
		CK_ULONG none = 0;
		if (op->kind != CRYPTO_SIGN && op->kind != CRYPTO_VERIFY)
			return CKR_FUNCTION_FAILED; /* ciphers give output: crypto_op_update_out */
		return sym_op_update(op->sym, in, in_len, NULL, &none);
	}
	if (op->m->alg == ALG_EDDSA)
		return eddsa_append(op, in, in_len);
	if (in_len != 0 && EVP_DigestUpdate(op->mctx, in, in_len) != 1)
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	return CKR_OK;
}

CK_RV crypto_op_final(crypto_op_t *op, CK_BYTE *out, CK_ULONG *out_len)
{
	CK_BYTE md[EVP_MAX_MD_SIZE];
	size_t md_len = 0;
	CK_RV rv = CKR_OK;

	if (op == NULL || out_len == NULL)
		return CKR_ARGUMENTS_BAD;
	if (op->sym != NULL)
		return op->kind == CRYPTO_VERIFY || !crypto_op_multipart(op) ? CKR_FUNCTION_NOT_SUPPORTED :
									     sym_op_final(op->sym, out, out_len);
	if (!crypto_op_multipart(op) || (op->kind != CRYPTO_DIGEST && op->kind != CRYPTO_SIGN))
		return CKR_FUNCTION_NOT_SUPPORTED;
	if (!output_fits(op, out, out_len, &rv))
		return rv;
	if (op->kind == CRYPTO_DIGEST) {
		rv = hash_final(op, out, &md_len);
		if (rv == CKR_OK)
			*out_len = (CK_ULONG)md_len;
		return rv;
	}
	if (op->m->alg == ALG_EDDSA)
		return sign_oneshot(op, op->msg != NULL ? op->msg : (const CK_BYTE *)"", op->msg_len, out, out_len);
	rv = hash_final(op, md, &md_len);
	if (rv == CKR_OK)
		rv = sign_tbs(op, md, md_len, out, out_len);
	return rv;
}

CK_RV crypto_op_verify_oneshot(crypto_op_t *op, const CK_BYTE *data, CK_ULONG data_len,
			       const CK_BYTE *sig, CK_ULONG sig_len)
{
	CK_RV rv;

	if (op == NULL || (data == NULL && data_len != 0) || (sig == NULL && sig_len != 0))
		return CKR_ARGUMENTS_BAD;
	if (op->kind != CRYPTO_VERIFY)
		return CKR_FUNCTION_FAILED;
	if (op->sym != NULL)
		return sym_op_verify_oneshot(op->sym, data, data_len, sig, sig_len);
	if (sig_len != op->out_size)
		return CKR_SIGNATURE_LEN_RANGE;
	if (op->m->alg == ALG_EDDSA) {
		if (EVP_DigestVerify(op->mctx, sig, sig_len, data, data_len) != 1)
			return crypto_ossl_fail(CKR_SIGNATURE_INVALID);
		return CKR_OK;
	}
	if (op->mctx != NULL) {
		rv = crypto_op_update(op, data, data_len);
		return rv == CKR_OK ? crypto_op_verify_final(op, sig, sig_len) : rv;
	}
	return verify_tbs(op, data, data_len, sig);
}

CK_RV crypto_op_verify_final(crypto_op_t *op, const CK_BYTE *sig, CK_ULONG sig_len)
{
	CK_BYTE md[EVP_MAX_MD_SIZE];
	size_t md_len = 0;
	CK_RV rv;

	if (op == NULL || (sig == NULL && sig_len != 0))
		return CKR_ARGUMENTS_BAD;
	if (op->kind != CRYPTO_VERIFY || !crypto_op_multipart(op))
		return CKR_FUNCTION_NOT_SUPPORTED;
	if (op->sym != NULL)
		return sym_op_verify_final(op->sym, sig, sig_len);
	if (sig_len != op->out_size)
		return CKR_SIGNATURE_LEN_RANGE;
	if (op->m->alg == ALG_EDDSA)
		return crypto_op_verify_oneshot(op, op->msg != NULL ? op->msg : (const CK_BYTE *)"", op->msg_len,
						sig, sig_len);
	rv = hash_final(op, md, &md_len);
	if (rv == CKR_OK)
		rv = verify_tbs(op, md, md_len, sig);
	return rv;
}
