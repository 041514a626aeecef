/* sym.c - operations with secret keys: AES ECB/CBC/CBC_PAD/CTR/GCM, AES
 * key wrap (RFC 3394, RFC 5649), DES3 ECB/CBC/CBC_PAD, HMAC and AES-CMAC.
 *
 * One EVP_CIPHER_CTX or EVP_MAC_CTX per operation, made in sym_op_new
 * with the cipher or MAC fetched once per process; every Update goes
 * straight to it.
 *
 * Sizes follow v2.40 5.2: a NULL output buffer asks for the size, which
 * may exceed what is produced (CBC_PAD and KWP decryption learn the exact
 * length only by decrypting); a too-small buffer is CKR_BUFFER_TOO_SMALL
 * and leaves the operation as it was. Where the length is only known
 * afterwards the work is done on a copy of the context, into wiped memory.
 *
 * GCM decryption releases no plaintext before the tag is checked: Update
 * only collects the ciphertext (the tag is its last ulTagBits / 8 bytes),
 * Final decrypts and checks, and wipes the output when the tag is wrong.
 * MAC verification compares in constant time. */
#include "config.h"
#include "p11/crypto/internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include "secmem.h"

/* v2.40's CK_GCM_PARAMS, without ulIvBits: still sent by older clients. */
typedef struct gcm_params_240 {
	CK_BYTE_PTR pIv;
	CK_ULONG ulIvLen;
	CK_BYTE_PTR pAAD;
	CK_ULONG ulAADLen;
	CK_ULONG ulTagBits;
} gcm_params_240_t;

#define GCM_IV_MAX 256
#define GCM_AAD_MAX (1UL << 24)
/* GCM decryption holds the whole ciphertext until Final. */
#define GCM_HOLD_MAX (1UL << 28)
#define MAC_MAX 64

struct sym_op {
	crypto_op_kind_t kind;
	const mech_def_t *m;
	EVP_CIPHER_CTX *cctx; /* ciphers, GCM, key wrap */
	EVP_MAC_CTX *mac;     /* HMAC, CMAC */
	size_t block;         /* cipher block size; 1 for CTR and GCM */
	size_t pending;       /* ECB/CBC: bytes taken in, not yet given out */
	size_t mac_len;       /* MAC output length */
	size_t tag_len;       /* GCM */
	CK_BYTE *hold;        /* GCM decryption: ciphertext || tag so far */
	size_t hold_len, hold_cap;
	uint64_t ctr_room;    /* CTR: bytes before the counter bits wrap; UINT64_MAX none */
	const EVP_PKEY *key;  /* borrowed from the crypto_op, which outlives this */
	bool pooled;          /* cctx / mac go back to the key's spare when done */
	size_t gcm_iv_len;
};

static bool encrypting(const sym_op_t *op)
{
	return op->kind == CRYPTO_ENCRYPT;
}

/* ---- Setup ------------------------------------------------------------- */

static CK_RV setup_mac(sym_op_t *op, const CK_MECHANISM *mech, const EVP_PKEY *pkey, const CK_BYTE *key,
		       size_t klen)
{
	EVP_MAC *mac = crypto_mac(op->m->alg);
	OSSL_PARAM p[2];
	size_t full;

	if (op->m->alg == ALG_HMAC) {
		const EVP_MD *md = crypto_md(op->m->hash);
		if (md == NULL)
			return CKR_FUNCTION_FAILED;
		full = (size_t)EVP_MD_get_size(md);
		p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)EVP_MD_get0_name(md), 0);
	} else {
		const EVP_CIPHER *c = crypto_cipher(CKK_AES, SYM_CBC, klen);
		if (c == NULL)
			return CKR_KEY_SIZE_RANGE;
		full = 16;
		p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, (char *)EVP_CIPHER_get0_name(c), 0);
	}
	p[1] = OSSL_PARAM_construct_end();
	if (op->m->mode == SYM_MAC_GEN) {
		CK_MAC_GENERAL_PARAMS want;
		if (mech->pParameter == NULL || mech->ulParameterLen != sizeof(want))
			return CKR_MECHANISM_PARAM_INVALID;
		memcpy(&want, mech->pParameter, sizeof(want));
		if (want == 0 || want > full)
			return CKR_MECHANISM_PARAM_INVALID;
		op->mac_len = want;
	} else {
		if (mech->ulParameterLen != 0)
			return CKR_MECHANISM_PARAM_INVALID;
		op->mac_len = full;
	}
	op->mac = crypto_secret_mac_ctx(pkey, op->m->alg, op->m->hash);
	if (op->mac != NULL) {
		op->pooled = true;
		return CKR_OK;
	}
	if (mac == NULL)
		return CKR_FUNCTION_FAILED;
	op->mac = EVP_MAC_CTX_new(mac);
	if (op->mac == NULL)
		return CKR_HOST_MEMORY;
	return EVP_MAC_init(op->mac, key, klen, p) == 1 ? CKR_OK : crypto_ossl_fail(CKR_FUNCTION_FAILED);
}

/* CK_AES_CTR_PARAMS: the counter block and how many of its low bits count.
 * OpenSSL counts with all 128; the two agree as long as the counter bits do
 * not wrap, so the room they leave is enforced. */
static CK_RV ctr_params(sym_op_t *op, const CK_MECHANISM *mech, const CK_BYTE **iv)
{
	const CK_AES_CTR_PARAMS *p = mech->pParameter;
	uint64_t used = 0;

	if (p == NULL || mech->ulParameterLen != sizeof(*p))
		return CKR_MECHANISM_PARAM_INVALID;
	if (p->ulCounterBits == 0 || p->ulCounterBits > 128)
		return CKR_MECHANISM_PARAM_INVALID;
	*iv = p->cb;
	op->ctr_room = UINT64_MAX;
	if (p->ulCounterBits >= 60)
		return CKR_OK; /* 2^64 bytes and more: beyond any input */
	for (size_t i = 8; i < 16; i++)
		used = (used << 8) | p->cb[i];
	used &= (UINT64_C(1) << p->ulCounterBits) - 1;
	op->ctr_room = ((UINT64_C(1) << p->ulCounterBits) - used) * 16;
	return CKR_OK;
}

static CK_RV setup_cipher(sym_op_t *op, const CK_MECHANISM *mech, const EVP_PKEY *pkey, CK_KEY_TYPE kt,
			  const CK_BYTE *key, size_t klen)
{
	const EVP_CIPHER *c = crypto_cipher(kt, op->m->mode, klen);
	const CK_BYTE *iv = NULL;
	bool reused;
	CK_RV rv = CKR_OK;

	if (c == NULL)
		return CKR_KEY_SIZE_RANGE;
	op->block = (size_t)EVP_CIPHER_get_block_size(c);
	op->ctr_room = UINT64_MAX;
	switch (op->m->mode) {
	case SYM_ECB:
		if (mech->ulParameterLen != 0)
			return CKR_MECHANISM_PARAM_INVALID;
		break;
	case SYM_CBC:
	case SYM_CBC_PAD:
		if (mech->pParameter == NULL || mech->ulParameterLen != op->block)
			return CKR_MECHANISM_PARAM_INVALID;
		iv = mech->pParameter;
		break;
	case SYM_CTR:
		rv = ctr_params(op, mech, &iv);
		break;
	default:
		return CKR_MECHANISM_INVALID;
	}
	if (rv != CKR_OK)
		return rv;
	op->cctx = crypto_secret_cipher_ctx(pkey, op->m->mode, encrypting(op), &reused);
	if (op->cctx != NULL) {
		op->pooled = true;
		/* A reused context starts over: the IV, or for ECB the whole init. */
		if (EVP_CipherInit_ex(op->cctx, NULL, NULL, NULL, iv, encrypting(op)) != 1 ||
		    EVP_CIPHER_CTX_set_padding(op->cctx, op->m->mode == SYM_CBC_PAD) != 1)
			return crypto_ossl_fail(CKR_FUNCTION_FAILED);
		return CKR_OK;
	}
	op->cctx = EVP_CIPHER_CTX_new();
	if (op->cctx == NULL)
		return CKR_HOST_MEMORY;
	if (EVP_CipherInit_ex2(op->cctx, c, key, iv, encrypting(op), NULL) != 1 ||
	    EVP_CIPHER_CTX_set_padding(op->cctx, op->m->mode == SYM_CBC_PAD) != 1)
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	return CKR_OK;
}

/* CK_GCM_PARAMS in the v3.0 layout or the v2.40 one (no ulIvBits). */
static CK_RV gcm_params(const CK_MECHANISM *mech, gcm_params_240_t *out)
{
	if (mech->pParameter != NULL && mech->ulParameterLen == sizeof(CK_GCM_PARAMS)) {
		const CK_GCM_PARAMS *p = mech->pParameter;
		/* ulIvBits is redundant; some clients leave it 0. */
		if (p->ulIvBits != 0 && p->ulIvBits != p->ulIvLen * 8)
			return CKR_MECHANISM_PARAM_INVALID;
		*out = (gcm_params_240_t){ p->pIv, p->ulIvLen, p->pAAD, p->ulAADLen, p->ulTagBits };
	} else if (mech->pParameter != NULL && mech->ulParameterLen == sizeof(gcm_params_240_t)) {
		memcpy(out, mech->pParameter, sizeof(*out));
	} else {
		return CKR_MECHANISM_PARAM_INVALID;
	}
	if (out->pIv == NULL || out->ulIvLen == 0 || out->ulIvLen > GCM_IV_MAX)
		return CKR_MECHANISM_PARAM_INVALID;
	if ((out->pAAD == NULL && out->ulAADLen != 0) || out->ulAADLen > GCM_AAD_MAX)
		return CKR_MECHANISM_PARAM_INVALID;
	if (out->ulTagBits == 0 || out->ulTagBits > 128 || out->ulTagBits % 8 != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	return CKR_OK;
}

static CK_RV setup_gcm(sym_op_t *op, const CK_MECHANISM *mech, const EVP_PKEY *pkey, const CK_BYTE *key,
		       size_t klen)
{
	const EVP_CIPHER *c = crypto_cipher(CKK_AES, SYM_GCM, klen);
	gcm_params_240_t p;
	OSSL_PARAM ivp[2];
	size_t ivlen;
	bool reused;
	int n;
	CK_RV rv = gcm_params(mech, &p);

	if (rv != CKR_OK)
		return rv;
	if (c == NULL)
		return CKR_KEY_SIZE_RANGE;
	op->block = 1;
	op->tag_len = p.ulTagBits / 8;
	ivlen = p.ulIvLen;
	ivp[0] = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivlen);
	ivp[1] = OSSL_PARAM_construct_end();
	op->cctx = crypto_secret_cipher_ctx(pkey, SYM_GCM, encrypting(op), &reused);
	if (op->cctx != NULL) {
		op->pooled = true;
		/* The keyed context takes the IV, and its length when not 96 bits
		 * (only contexts left with 96 are handed back: see sym_op_free). */
		(void)reused;
		op->gcm_iv_len = ivlen;
		if ((ivlen != 12 && EVP_CIPHER_CTX_set_params(op->cctx, ivp) != 1) ||
		    EVP_CipherInit_ex(op->cctx, NULL, NULL, NULL, p.pIv, encrypting(op)) != 1)
			return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	} else {
		op->cctx = EVP_CIPHER_CTX_new();
		if (op->cctx == NULL)
			return CKR_HOST_MEMORY;
		if (EVP_CipherInit_ex2(op->cctx, c, NULL, NULL, encrypting(op), ivlen == 12 ? NULL : ivp) != 1 ||
		    EVP_CipherInit_ex2(op->cctx, NULL, key, p.pIv, encrypting(op), NULL) != 1)
			return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	}
	if (p.ulAADLen != 0 && EVP_CipherUpdate(op->cctx, NULL, &n, p.pAAD, (int)p.ulAADLen) != 1)
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	return CKR_OK;
}

/* The optional initial value: 8 bytes for KW, 4 for KWP; default when absent. */
static CK_RV setup_keywrap(sym_op_t *op, const CK_MECHANISM *mech, const CK_BYTE *key, size_t klen)
{
	const EVP_CIPHER *c = crypto_cipher(CKK_AES, op->m->mode, klen);
	size_t iv_len = op->m->mode == SYM_KW ? 8 : 4;
	const CK_BYTE *iv = NULL;

	if (mech->ulParameterLen != 0) {
		if (mech->pParameter == NULL || mech->ulParameterLen != iv_len)
			return CKR_MECHANISM_PARAM_INVALID;
		iv = mech->pParameter;
	}
	if (c == NULL)
		return CKR_KEY_SIZE_RANGE;
	op->block = 8;
	op->cctx = EVP_CIPHER_CTX_new();
	if (op->cctx == NULL)
		return CKR_HOST_MEMORY;
	EVP_CIPHER_CTX_set_flags(op->cctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_CipherInit_ex2(op->cctx, c, key, iv, encrypting(op), NULL) != 1)
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	return CKR_OK;
}

CK_RV sym_op_new(crypto_op_kind_t kind, const mech_def_t *m, const CK_MECHANISM *mech, EVP_PKEY *key,
		 sym_op_t **out)
{
	size_t klen = 0;
	const CK_BYTE *kb = crypto_secret_bytes(key, &klen);
	CK_KEY_TYPE kt = crypto_secret_key_type(key);
	sym_op_t *op;
	CK_RV rv;

	if (kb == NULL || !crypto_mech_key_ok(m, kt))
		return CKR_KEY_TYPE_INCONSISTENT;
	op = calloc(1, sizeof(*op));
	if (op == NULL)
		return CKR_HOST_MEMORY;
	op->kind = kind;
	op->m = m;
	op->key = key;
	switch (m->alg) {
	case ALG_HMAC:
	case ALG_CMAC: rv = setup_mac(op, mech, key, kb, klen); break;
	case ALG_CIPHER: rv = setup_cipher(op, mech, key, kt, kb, klen); break;
	case ALG_GCM: rv = setup_gcm(op, mech, key, kb, klen); break;
	case ALG_KEYWRAP: rv = setup_keywrap(op, mech, kb, klen); break;
	default: rv = CKR_MECHANISM_INVALID; break;
	}
	if (rv != CKR_OK)
		sym_op_free(op);
	else
		*out = op;
	return rv;
}

void sym_op_free(sym_op_t *op)
{
	if (op == NULL)
		return;
	if (op->pooled && op->m->mode == SYM_GCM && op->gcm_iv_len != 12) {
		EVP_CIPHER_CTX_free(op->cctx); /* keep the spare at the default IV length */
	} else if (op->pooled) {
		crypto_secret_cipher_done(op->key, op->m->mode, encrypting(op), op->cctx);
		crypto_secret_mac_done(op->key, op->m->alg, op->m->hash, op->mac);
	} else {
		EVP_CIPHER_CTX_free(op->cctx);
		EVP_MAC_CTX_free(op->mac);
	}
	free(op->hold);
	free(op);
}

bool sym_op_restartable(const sym_op_t *op)
{
	return op->m->mode == SYM_GCM && op->pooled && op->gcm_iv_len == 12;
}

bool sym_op_keep(sym_op_t *op)
{
	if (!sym_op_restartable(op))
		return false;
	/* What multi-part GCM decryption collected (up to GCM_HOLD_MAX) is
	 * not kept in an idle session. */
	free(op->hold);
	op->hold = NULL;
	op->hold_len = op->hold_cap = 0;
	return true;
}

/* The keyed GCM context of a finished (or abandoned) operation takes the
 * new IV, which starts GCM over (counter, GHASH, AAD), and the new AAD.
 * Only for a 96-bit IV, which the context was left with; anything else
 * (and a failure half-way) is left to sym_op_new. */
CK_RV sym_op_restart(sym_op_t *op, const CK_MECHANISM *mech)
{
	gcm_params_240_t p;
	int n;
	CK_RV rv = gcm_params(mech, &p);

	if (rv != CKR_OK || p.ulIvLen != 12 || !sym_op_restartable(op))
		return rv != CKR_OK ? rv : CKR_MECHANISM_PARAM_INVALID;
	op->tag_len = p.ulTagBits / 8;
	op->hold_len = 0;
	op->pending = 0;
	if (EVP_CipherInit_ex(op->cctx, NULL, NULL, NULL, p.pIv, encrypting(op)) != 1 ||
	    (p.ulAADLen != 0 && EVP_CipherUpdate(op->cctx, NULL, &n, p.pAAD, (int)p.ulAADLen) != 1))
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	return CKR_OK;
}

bool sym_op_multipart(const sym_op_t *op)
{
	return op->m->alg != ALG_KEYWRAP;
}

/* ---- Sizes --------------------------------------------------------------- */

static bool is_mac(const sym_op_t *op)
{
	return op->mac != NULL;
}

/* The length rules of the single-part call (and of Final, for in_len the
 * whole input). */
static CK_RV check_len(const sym_op_t *op, CK_ULONG in_len)
{
	CK_RV bad = encrypting(op) ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;

	switch (op->m->mode) {
	case SYM_ECB:
	case SYM_CBC:
		return in_len % op->block == 0 ? CKR_OK : bad;
	case SYM_CBC_PAD:
		return encrypting(op) || (in_len % op->block == 0 && in_len > 0) ? CKR_OK : bad;
	case SYM_CTR:
		return in_len <= op->ctr_room ? CKR_OK : bad;
	case SYM_GCM:
		return encrypting(op) || in_len >= op->tag_len ? CKR_OK : bad;
	case SYM_KW:
		return in_len % 8 == 0 && in_len >= (encrypting(op) ? 16u : 24u) ? CKR_OK : bad;
	case SYM_KWP:
		if (encrypting(op))
			return in_len > 0 && in_len <= INT32_MAX ? CKR_OK : bad;
		return in_len % 8 == 0 && in_len >= 16 ? CKR_OK : bad;
	default:
		return CKR_OK;
	}
}

CK_ULONG sym_op_output_size(const sym_op_t *op, CK_ULONG in_len)
{
	if (is_mac(op))
		return (CK_ULONG)op->mac_len;
	switch (op->m->mode) {
	case SYM_CBC_PAD:
		return encrypting(op) ? (in_len / op->block + 1) * op->block : in_len;
	case SYM_GCM:
		return encrypting(op) ? in_len + op->tag_len : in_len >= op->tag_len ? in_len - op->tag_len : 0;
	case SYM_KW:
		return encrypting(op) ? in_len + 8 : in_len >= 8 ? in_len - 8 : 0;
	case SYM_KWP:
		return encrypting(op) ? (in_len + 7) / 8 * 8 + 8 : in_len >= 8 ? in_len - 8 : 0;
	default:
		return in_len;
	}
}

CK_ULONG sym_op_update_size(const sym_op_t *op, CK_ULONG in_len)
{
	if (is_mac(op) || (op->m->mode == SYM_GCM && !encrypting(op)))
		return 0;
	if (op->block <= 1)
		return in_len;
	return (CK_ULONG)((op->pending + in_len) / op->block * op->block);
}

/* ---- Work ---------------------------------------------------------------- */

/* Update then Final of ctx into out; *n the bytes written. */
static CK_RV run_cipher(const sym_op_t *op, EVP_CIPHER_CTX *ctx, const CK_BYTE *in, size_t in_len,
			CK_BYTE *out, size_t *n)
{
	int a = 0, b = 0;

	if (in_len > INT32_MAX)
		return encrypting(op) ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;
	if ((in_len != 0 && EVP_CipherUpdate(ctx, out, &a, in, (int)in_len) != 1) ||
	    EVP_CipherFinal_ex(ctx, out + a, &b) != 1)
		return crypto_ossl_fail(encrypting(op) ? CKR_FUNCTION_FAILED : CKR_ENCRYPTED_DATA_INVALID);
	*n = (size_t)a + (size_t)b;
	return CKR_OK;
}

/* GCM decryption of ct || tag into out (in_len - tag bytes); out is wiped
 * when the tag is wrong. */
static CK_RV gcm_open(sym_op_t *op, const CK_BYTE *in, size_t in_len, CK_BYTE *out, size_t *n)
{
	size_t ct_len = in_len - op->tag_len;
	int a = 0, b = 0;

	if (ct_len > INT32_MAX)
		return CKR_ENCRYPTED_DATA_LEN_RANGE;
	if (EVP_CIPHER_CTX_ctrl(op->cctx, EVP_CTRL_AEAD_SET_TAG, (int)op->tag_len, (void *)(in + ct_len)) != 1 ||
	    EVP_DecryptUpdate(op->cctx, out, &a, in, (int)ct_len) != 1)
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	if (EVP_DecryptFinal_ex(op->cctx, out + a, &b) != 1) {
		OPENSSL_cleanse(out, ct_len);
		return crypto_ossl_fail(CKR_ENCRYPTED_DATA_INVALID);
	}
	*n = (size_t)a + (size_t)b;
	return CKR_OK;
}

static CK_RV gcm_seal_final(sym_op_t *op, CK_BYTE *tag)
{
	CK_BYTE none[16];
	int n = 0;

	if (EVP_EncryptFinal_ex(op->cctx, none, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(op->cctx, EVP_CTRL_AEAD_GET_TAG, (int)op->tag_len, tag) != 1)
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	return CKR_OK;
}

/* Decrypt on a copy of the context into wiped memory, to learn the exact
 * length: CBC_PAD and KWP. The caller's buffer gets the result when it
 * fits; the operation's own context is untouched either way. */
static CK_RV decrypt_measured(sym_op_t *op, const CK_BYTE *in, size_t in_len, CK_BYTE *out, CK_ULONG *out_len)
{
	size_t cap = in_len + op->block, n = 0;
	EVP_CIPHER_CTX *copy = EVP_CIPHER_CTX_new();
	CK_BYTE *tmp = secmem_alloc(cap);
	CK_RV rv = CKR_HOST_MEMORY;

	if (copy == NULL || tmp == NULL)
		goto out;
	if (EVP_CIPHER_CTX_copy(copy, op->cctx) != 1) {
		rv = crypto_ossl_fail(CKR_FUNCTION_FAILED);
		goto out;
	}
	rv = run_cipher(op, copy, in, in_len, tmp, &n);
	if (rv != CKR_OK)
		goto out;
	if (out != NULL && *out_len < n)
		rv = CKR_BUFFER_TOO_SMALL;
	else if (out != NULL)
		memcpy(out, tmp, n);
	*out_len = (CK_ULONG)n;
out:
	secmem_free(tmp, cap);
	EVP_CIPHER_CTX_free(copy);
	return rv;
}

static CK_RV mac_final(sym_op_t *op, CK_BYTE *out)
{
	CK_BYTE full[MAC_MAX];
	size_t n = 0;

	if (EVP_MAC_final(op->mac, full, &n, sizeof(full)) != 1 || n < op->mac_len)
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	memcpy(out, full, op->mac_len);
	OPENSSL_cleanse(full, sizeof(full));
	return CKR_OK;
}

static CK_RV mac_update(sym_op_t *op, const CK_BYTE *in, CK_ULONG in_len)
{
	if (in_len != 0 && EVP_MAC_update(op->mac, in, in_len) != 1)
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	return CKR_OK;
}

/* NULL: the size; too small: CKR_BUFFER_TOO_SMALL. */
static bool fits(CK_BYTE *out, CK_ULONG *out_len, CK_ULONG need, CK_RV *rv)
{
	if (out != NULL && *out_len >= need)
		return true;
	*rv = out == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
	*out_len = need;
	return false;
}

CK_RV sym_op_oneshot(sym_op_t *op, const CK_BYTE *in, CK_ULONG in_len, CK_BYTE *out, CK_ULONG *out_len)
{
	CK_ULONG need = sym_op_output_size(op, in_len);
	size_t n = 0;
	CK_RV rv = is_mac(op) ? CKR_OK : check_len(op, in_len);

	if (rv != CKR_OK)
		return rv;
	if (!encrypting(op) && (op->m->mode == SYM_CBC_PAD || op->m->mode == SYM_KWP) &&
	    (out == NULL || *out_len < need))
		return decrypt_measured(op, in, in_len, out, out_len);
	if (!fits(out, out_len, need, &rv))
		return rv;
	if (is_mac(op)) {
		rv = mac_update(op, in, in_len);
		if (rv == CKR_OK)
			rv = mac_final(op, out);
		n = op->mac_len;
	} else if (op->m->mode == SYM_GCM && !encrypting(op)) {
		rv = gcm_open(op, in, in_len, out, &n);
	} else if (op->m->mode == SYM_GCM) {
		int a = 0;
		rv = in_len <= INT32_MAX && EVP_EncryptUpdate(op->cctx, out, &a, in, (int)in_len) == 1 ?
			     gcm_seal_final(op, out + a) : crypto_ossl_fail(CKR_DATA_LEN_RANGE);
		n = (size_t)a + op->tag_len;
	} else {
		rv = run_cipher(op, op->cctx, in, in_len, out, &n);
	}
	if (rv == CKR_OK)
		*out_len = (CK_ULONG)n;
	return rv;
}

static CK_RV gcm_hold(sym_op_t *op, const CK_BYTE *in, CK_ULONG in_len)
{
	size_t cap;
	CK_BYTE *grown;

	if (in_len > GCM_HOLD_MAX - op->hold_len)
		return CKR_ENCRYPTED_DATA_LEN_RANGE;
	if (op->hold_len + in_len > op->hold_cap) {
		cap = op->hold_cap == 0 ? 4096 : op->hold_cap;
		while (cap < op->hold_len + in_len)
			cap *= 2;
		grown = realloc(op->hold, cap);
		if (grown == NULL)
			return CKR_HOST_MEMORY;
		op->hold = grown;
		op->hold_cap = cap;
	}
	if (in_len != 0)
		memcpy(op->hold + op->hold_len, in, in_len);
	op->hold_len += in_len;
	return CKR_OK;
}

CK_RV sym_op_update(sym_op_t *op, const CK_BYTE *in, CK_ULONG in_len, CK_BYTE *out, CK_ULONG *out_len)
{
	CK_ULONG need;
	int n = 0;
	CK_RV rv = CKR_OK;

	if (is_mac(op))
		return mac_update(op, in, in_len);
	if (op->m->mode == SYM_GCM && !encrypting(op)) {
		/* Nothing comes out before Final; a NULL buffer is still only
		 * a size query (v2.40 5.2) and takes no input. */
		*out_len = 0;
		return out == NULL ? CKR_OK : gcm_hold(op, in, in_len);
	}
	if (op->m->mode == SYM_CTR) {
		if (in_len > op->ctr_room)
			return encrypting(op) ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;
	}
	need = sym_op_update_size(op, in_len);
	if (!fits(out, out_len, need, &rv))
		return rv;
	if (in_len > INT32_MAX || EVP_CipherUpdate(op->cctx, out, &n, in, (int)in_len) != 1)
		return crypto_ossl_fail(CKR_FUNCTION_FAILED);
	op->pending = op->pending + in_len - (size_t)n;
	if (op->ctr_room != UINT64_MAX)
		op->ctr_room -= in_len;
	*out_len = (CK_ULONG)n;
	return CKR_OK;
}

static CK_RV cipher_final(sym_op_t *op, CK_BYTE *out, CK_ULONG *out_len)
{
	CK_ULONG need = op->m->mode == SYM_CBC_PAD && encrypting(op) ? op->block : 0;
	size_t n = 0;
	CK_RV rv = CKR_OK;

	if (op->m->mode == SYM_CBC_PAD && !encrypting(op)) {
		/* The last block, held back by EVP: the padding is only known now. */
		if (op->pending != op->block)
			return CKR_ENCRYPTED_DATA_LEN_RANGE;
		return decrypt_measured(op, NULL, 0, out, out_len);
	}
	if (op->m->mode != SYM_CBC_PAD && op->block > 1 && op->pending != 0)
		return encrypting(op) ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;
	if (!fits(out, out_len, need, &rv))
		return rv;
	rv = run_cipher(op, op->cctx, NULL, 0, out, &n);
	if (rv == CKR_OK)
		*out_len = (CK_ULONG)n;
	return rv;
}

CK_RV sym_op_final(sym_op_t *op, CK_BYTE *out, CK_ULONG *out_len)
{
	size_t n = 0;
	CK_RV rv = CKR_OK;

	if (is_mac(op)) {
		if (!fits(out, out_len, (CK_ULONG)op->mac_len, &rv))
			return rv;
		rv = mac_final(op, out);
		if (rv == CKR_OK)
			*out_len = (CK_ULONG)op->mac_len;
		return rv;
	}
	if (op->m->mode == SYM_GCM && encrypting(op)) {
		if (!fits(out, out_len, (CK_ULONG)op->tag_len, &rv))
			return rv;
		rv = gcm_seal_final(op, out);
		if (rv == CKR_OK)
			*out_len = (CK_ULONG)op->tag_len;
		return rv;
	}
	if (op->m->mode == SYM_GCM) {
		if (op->hold_len < op->tag_len)
			return CKR_ENCRYPTED_DATA_LEN_RANGE;
		if (!fits(out, out_len, (CK_ULONG)(op->hold_len - op->tag_len), &rv))
			return rv;
		rv = gcm_open(op, op->hold, op->hold_len, out, &n);
		if (rv == CKR_OK)
			*out_len = (CK_ULONG)n;
		return rv;
	}
	return cipher_final(op, out, out_len);
}

static CK_RV mac_check(sym_op_t *op, const CK_BYTE *sig, CK_ULONG sig_len)
{
	CK_BYTE mac[MAC_MAX];
	CK_RV rv;

	if (sig_len != op->mac_len)
		return CKR_SIGNATURE_LEN_RANGE;
	rv = mac_final(op, mac);
	if (rv == CKR_OK && CRYPTO_memcmp(mac, sig, op->mac_len) != 0)
		rv = CKR_SIGNATURE_INVALID;
	OPENSSL_cleanse(mac, sizeof(mac));
	return rv;
}

CK_RV sym_op_verify_oneshot(sym_op_t *op, const CK_BYTE *data, CK_ULONG data_len, const CK_BYTE *sig,
			    CK_ULONG sig_len)
{
	CK_RV rv;

	if (sig_len != op->mac_len)
		return CKR_SIGNATURE_LEN_RANGE;
	rv = mac_update(op, data, data_len);
	return rv == CKR_OK ? mac_check(op, sig, sig_len) : rv;
}

CK_RV sym_op_verify_final(sym_op_t *op, const CK_BYTE *sig, CK_ULONG sig_len)
{
	return mac_check(op, sig, sig_len);
}
