/* test-module.c - the offpass PKCS#11 module as an application sees it:
 * life cycle and locking, interfaces, slots and tokens, PINs, sessions,
 * objects and their attribute rules, every mechanism against plain
 * OpenSSL, threads and fork. Every test runs in its own process (Check's
 * fork mode) with a fresh token directory. */
#include "config.h"
#include "p11/test-util.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

/* Assert that call returns want, naming the call and both values. */
#define CK(want, call)                                                                  \
	do {                                                                            \
		CK_RV got_ = (call);                                                    \
		ck_assert_msg(got_ == (CK_RV)(want), "%s: got 0x%lx, want 0x%lx", #call, \
			      (unsigned long)got_, (unsigned long)(want));              \
	} while (0)
#define OK(call) CK(CKR_OK, call)
#define NOT_OK(call)                                                                \
	do {                                                                        \
		CK_RV got_ = (call);                                                \
		ck_assert_msg(got_ != CKR_OK, "%s: succeeded, should fail", #call); \
	} while (0)

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define ATTR(type, ptr, len) { (type), (void *)(ptr), (CK_ULONG)(len) }
#define ATTR_VAR(type, var) { (type), (void *)&(var), sizeof(var) }
#define ATTR_STR(type, str) { (type), (void *)(str), (CK_ULONG)strlen(str) }

static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
static CK_OBJECT_CLASS class_data = CKO_DATA, class_cert = CKO_CERTIFICATE,
		       class_priv = CKO_PRIVATE_KEY, class_pub = CKO_PUBLIC_KEY,
		       class_secret = CKO_SECRET_KEY;

static const unsigned char msg[] = "offpass: the holder signs an authorization";

/* ==== helpers ==================================================================== */

static void label32(CK_UTF8CHAR out[32], const char *text)
{
	size_t n = strlen(text);
	memset(out, ' ', 32);
	memcpy(out, text, n < 32 ? n : 32);
}

static bool has_flag(CK_FLAGS flags, CK_FLAGS f)
{
	return (flags & f) == f;
}

static CK_ULONG slot_count(void)
{
	CK_ULONG n = 0;
	OK(p11->C_GetSlotList(CK_TRUE, NULL, &n));
	return n;
}

/* A data object; returns the rv. */
static CK_RV make_data(CK_SESSION_HANDLE s, bool token, bool priv, const char *label,
		       const char *value, CK_OBJECT_HANDLE *out)
{
	CK_ATTRIBUTE t[] = {
		ATTR_VAR(CKA_CLASS, class_data),
		ATTR(CKA_TOKEN, token ? &yes : &no, 1),
		ATTR(CKA_PRIVATE, priv ? &yes : &no, 1),
		ATTR_STR(CKA_LABEL, label),
		ATTR_STR(CKA_VALUE, value),
	};
	return p11->C_CreateObject(s, t, ARRAY_LEN(t), out);
}

static CK_ULONG find_label(CK_SESSION_HANDLE s, const char *label, CK_OBJECT_HANDLE *out)
{
	CK_ATTRIBUTE t[] = { ATTR_STR(CKA_LABEL, label) };
	CK_OBJECT_HANDLE dummy[8];
	return tu_find(s, t, 1, out ? out : dummy, out ? 1 : 8);
}

static bool contains(const CK_OBJECT_HANDLE *list, CK_ULONG n, CK_OBJECT_HANDLE h)
{
	for (CK_ULONG i = 0; i < n; i++)
		if (list[i] == h)
			return true;
	return false;
}

static void assert_value(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
			 const void *want, size_t want_len)
{
	CK_ULONG len = 0;
	unsigned char *v = tu_get_bytes(s, o, type, &len);

	ck_assert_uint_eq(len, want_len);
	ck_assert(want_len == 0 || memcmp(v, want, want_len) == 0);
	free(v);
}

/* ---- signatures: the token side --------------------------------------------- */

static size_t token_sign(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE key,
			 const unsigned char *data, size_t len, unsigned char *sig, size_t cap)
{
	CK_ULONG n = 0;

	OK(p11->C_SignInit(s, m, key));
	OK(p11->C_Sign(s, (CK_BYTE_PTR)data, len, NULL, &n));
	ck_assert_uint_le(n, cap);
	n = cap;
	OK(p11->C_Sign(s, (CK_BYTE_PTR)data, len, sig, &n));
	return n;
}

static size_t token_sign_multi(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE key,
			       const unsigned char *data, size_t len, unsigned char *sig, size_t cap)
{
	CK_ULONG n = cap;

	OK(p11->C_SignInit(s, m, key));
	OK(p11->C_SignUpdate(s, (CK_BYTE_PTR)data, len / 3));
	OK(p11->C_SignUpdate(s, (CK_BYTE_PTR)data + len / 3, len - len / 3));
	OK(p11->C_SignFinal(s, sig, &n));
	return n;
}

static CK_RV token_verify(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE key,
			  const unsigned char *data, size_t len, const unsigned char *sig, size_t sig_len)
{
	OK(p11->C_VerifyInit(s, m, key));
	return p11->C_Verify(s, (CK_BYTE_PTR)data, len, (CK_BYTE_PTR)sig, sig_len);
}

static CK_RV token_verify_multi(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE key,
				const unsigned char *data, size_t len, const unsigned char *sig,
				size_t sig_len)
{
	OK(p11->C_VerifyInit(s, m, key));
	OK(p11->C_VerifyUpdate(s, (CK_BYTE_PTR)data, len / 2));
	OK(p11->C_VerifyUpdate(s, (CK_BYTE_PTR)data + len / 2, len - len / 2));
	return p11->C_VerifyFinal(s, (CK_BYTE_PTR)sig, sig_len);
}

/* ---- signatures: the OpenSSL side ------------------------------------------- */

/* How OpenSSL computes what a PKCS#11 mechanism computes. */
typedef struct alg {
	CK_MECHANISM_TYPE mech;
	const char *md;      /* hash-and-sign digest; NULL: the input is signed as given */
	int padding;         /* RSA padding mode; 0 for EC */
	const char *pss_md;  /* raw PSS: the hash the input is (and the MGF1 hash) */
	size_t order_len;    /* ECDSA: r and s length (PKCS#11 form r||s); else 0 */
	bool eddsa;
} alg_t;

static void rsa_setup(EVP_PKEY_CTX *ctx, const alg_t *a)
{
	if (a->padding == 0)
		return;
	ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_padding(ctx, a->padding), 1);
	if (a->padding != RSA_PKCS1_PSS_PADDING)
		return;
	if (a->pss_md != NULL)
		ck_assert_int_eq(EVP_PKEY_CTX_set_signature_md(ctx, EVP_get_digestbyname(a->pss_md)), 1);
	ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_get_digestbyname(a->md ? a->md : a->pss_md)), 1);
	ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST), 1);
}

/* Sign with OpenSSL; the signature in PKCS#11 form. */
static size_t ossl_sign(const alg_t *a, EVP_PKEY *key, const unsigned char *data, size_t len,
			unsigned char *sig, size_t cap)
{
	unsigned char der[600];
	size_t n = sizeof(der);

	if (a->md != NULL || a->eddsa) {
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		EVP_PKEY_CTX *pctx = NULL;
		ck_assert_int_eq(EVP_DigestSignInit_ex(md, &pctx, a->md, NULL, NULL, key, NULL), 1);
		rsa_setup(pctx, a);
		ck_assert_int_eq(EVP_DigestSign(md, der, &n, data, len), 1);
		EVP_MD_CTX_free(md);
	} else {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
		ck_assert_int_eq(EVP_PKEY_sign_init(ctx), 1);
		rsa_setup(ctx, a);
		ck_assert_int_eq(EVP_PKEY_sign(ctx, der, &n, data, len), 1);
		EVP_PKEY_CTX_free(ctx);
	}
	if (a->order_len > 0)
		return tu_ecdsa_from_der(der, n, a->order_len, sig, cap);
	ck_assert_uint_le(n, cap);
	memcpy(sig, der, n);
	return n;
}

/* Verify a PKCS#11-form signature with OpenSSL: true when valid. */
static bool ossl_verify(const alg_t *a, EVP_PKEY *key, const unsigned char *data, size_t len,
			const unsigned char *sig, size_t sig_len)
{
	unsigned char der[600];
	size_t n = sig_len;
	int ok;

	if (a->order_len > 0) {
		if (sig_len != 2 * a->order_len)
			return false;
		n = tu_ecdsa_to_der(sig, sig_len, der, sizeof(der));
	} else {
		ck_assert_uint_le(sig_len, sizeof(der));
		memcpy(der, sig, sig_len);
	}
	if (a->md != NULL || a->eddsa) {
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		EVP_PKEY_CTX *pctx = NULL;
		ck_assert_int_eq(EVP_DigestVerifyInit_ex(md, &pctx, a->md, NULL, NULL, key, NULL), 1);
		rsa_setup(pctx, a);
		ok = EVP_DigestVerify(md, der, n, data, len);
		EVP_MD_CTX_free(md);
	} else {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
		ck_assert_int_eq(EVP_PKEY_verify_init(ctx), 1);
		rsa_setup(ctx, a);
		ok = EVP_PKEY_verify(ctx, der, n, data, len);
		EVP_PKEY_CTX_free(ctx);
	}
	return ok == 1;
}

static void sha(const char *name, const unsigned char *data, size_t len, unsigned char *out, size_t *out_len)
{
	unsigned int n = 0;
	ck_assert_int_eq(EVP_Digest(data, len, out, &n, EVP_get_digestbyname(name), NULL), 1);
	*out_len = n;
}

/* The mechanisms this suite exercises against OpenSSL; the mechanism list
 * test fails when the token offers one that is not here. */
static const CK_MECHANISM_TYPE covered[] = {
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

/* ==== C_Initialize / C_Finalize ==================================================== */

START_TEST(test_init_twice)
{
	CK_INFO info;
	int reserved = 0;

	OK(p11->C_Initialize(NULL));
	CK(CKR_CRYPTOKI_ALREADY_INITIALIZED, p11->C_Initialize(NULL));
	CK(CKR_ARGUMENTS_BAD, p11->C_Finalize(&reserved));
	OK(p11->C_GetInfo(&info)); /* still initialised */
	ck_assert_int_eq(info.cryptokiVersion.major, 2);
	ck_assert_int_eq(info.cryptokiVersion.minor, 40);
	ck_assert(memcmp(info.manufacturerID, "offpass ", 8) == 0);
	CK(CKR_ARGUMENTS_BAD, p11->C_GetInfo(NULL));
	OK(p11->C_Finalize(NULL));
	CK(CKR_CRYPTOKI_NOT_INITIALIZED, p11->C_Finalize(NULL));
	OK(p11->C_Initialize(NULL));
	OK(p11->C_GetInfo(&info));
}
END_TEST

/* Every kind of call answers CKR_CRYPTOKI_NOT_INITIALIZED. */
static void assert_not_initialized(CK_SESSION_HANDLE s)
{
	CK_INFO info;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_SESSION_INFO ssi;
	CK_MECHANISM_INFO mi;
	CK_ULONG n = 0;
	CK_SESSION_HANDLE h;
	CK_OBJECT_HANDLE o, o2;
	CK_UTF8CHAR lab[32];
	CK_BYTE buf[64];
	CK_MECHANISM sha256 = { CKM_SHA256, NULL, 0 }, ecgen = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE t[] = { ATTR_VAR(CKA_CLASS, class_data) };
	const CK_RV want = CKR_CRYPTOKI_NOT_INITIALIZED;

	label32(lab, "x");
	CK(want, p11->C_GetInfo(&info));
	CK(want, p11->C_GetSlotList(CK_FALSE, NULL, &n));
	CK(want, p11->C_GetSlotInfo(0, &si));
	CK(want, p11->C_GetTokenInfo(0, &ti));
	CK(want, p11->C_GetMechanismList(0, NULL, &n));
	CK(want, p11->C_GetMechanismInfo(0, CKM_SHA256, &mi));
	CK(want, p11->C_InitToken(0, TU_PIN(TU_SO_PIN), lab));
	CK(want, p11->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &h));
	CK(want, p11->C_CloseAllSessions(0));
	CK(want, p11->C_GetSessionInfo(s, &ssi));
	CK(want, p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)));
	CK(want, p11->C_Logout(s));
	CK(want, p11->C_InitPIN(s, TU_PIN(TU_USER_PIN)));
	CK(want, p11->C_SetPIN(s, TU_PIN(TU_USER_PIN), TU_PIN(TU_USER_PIN)));
	CK(want, p11->C_CreateObject(s, t, 1, &o));
	CK(want, p11->C_FindObjectsInit(s, t, 1));
	CK(want, p11->C_FindObjects(s, &o, 1, &n));
	CK(want, p11->C_GetAttributeValue(s, 1, t, 1));
	CK(want, p11->C_DigestInit(s, &sha256));
	CK(want, p11->C_Digest(s, buf, 1, buf, &n));
	CK(want, p11->C_SignInit(s, &sha256, 1));
	CK(want, p11->C_Sign(s, buf, 1, buf, &n));
	CK(want, p11->C_VerifyInit(s, &sha256, 1));
	CK(want, p11->C_GenerateKeyPair(s, &ecgen, t, 1, t, 1, &o, &o2));
	CK(want, p11->C_GenerateRandom(s, buf, sizeof(buf)));
	CK(want, p11->C_CloseSession(s));
	CK(want, p11->C_Finalize(NULL));
}

START_TEST(test_calls_before_init)
{
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;

	assert_not_initialized(1);
	/* And again after C_Finalize, with a handle that was valid. */
	slot = tu_init_token(TU_LABEL);
	s = tu_user_session(slot);
	OK(p11->C_Finalize(NULL));
	assert_not_initialized(s);
}
END_TEST

START_TEST(test_init_os_locking)
{
	CK_C_INITIALIZE_ARGS args;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;

	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	OK(p11->C_Initialize(&args));
	slot = tu_init_token(TU_LABEL);
	s = tu_user_session(slot);
	ck_assert_uint_eq(tu_session_state(s), CKS_RW_USER_FUNCTIONS);
}
END_TEST

/* Application mutexes that count what the module does with them. */
static struct {
	pthread_mutex_t guard;
	int created, destroyed, locked, unlocked, live;
} mx = { PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0 };

static void mx_count(int *field)
{
	pthread_mutex_lock(&mx.guard);
	(*field)++;
	pthread_mutex_unlock(&mx.guard);
}

static CK_RV mx_create(CK_VOID_PTR_PTR out)
{
	pthread_mutex_t *m = malloc(sizeof(*m));
	if (m == NULL || out == NULL) {
		free(m);
		return CKR_HOST_MEMORY;
	}
	pthread_mutex_init(m, NULL);
	*out = m;
	mx_count(&mx.created);
	mx_count(&mx.live);
	return CKR_OK;
}

static CK_RV mx_destroy(CK_VOID_PTR m)
{
	if (m == NULL)
		return CKR_MUTEX_BAD;
	pthread_mutex_destroy(m);
	free(m);
	mx_count(&mx.destroyed);
	pthread_mutex_lock(&mx.guard);
	mx.live--;
	pthread_mutex_unlock(&mx.guard);
	return CKR_OK;
}

static CK_RV mx_lock(CK_VOID_PTR m)
{
	if (m == NULL)
		return CKR_MUTEX_BAD;
	pthread_mutex_lock(m);
	mx_count(&mx.locked);
	return CKR_OK;
}

static CK_RV mx_unlock(CK_VOID_PTR m)
{
	if (m == NULL)
		return CKR_MUTEX_BAD;
	mx_count(&mx.unlocked);
	pthread_mutex_unlock(m);
	return CKR_OK;
}

static void set_callbacks(CK_C_INITIALIZE_ARGS *args, unsigned mask)
{
	args->CreateMutex = (mask & 1) ? mx_create : NULL;
	args->DestroyMutex = (mask & 2) ? mx_destroy : NULL;
	args->LockMutex = (mask & 4) ? mx_lock : NULL;
	args->UnlockMutex = (mask & 8) ? mx_unlock : NULL;
}

START_TEST(test_init_app_mutexes)
{
	CK_C_INITIALIZE_ARGS args;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE pub, priv;
	unsigned char sig[64];
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	int created;

	memset(&args, 0, sizeof(args));
	set_callbacks(&args, 15); /* callbacks only: the module must use them */
	OK(p11->C_Initialize(&args));
	ck_assert_int_ge(mx.created, 1);
	created = mx.created;
	slot = tu_init_token(TU_LABEL);
	s = tu_user_session(slot);
	ck_assert_int_gt(mx.created, created); /* a session has its own mutex */
	tu_gen_ec(s, tu_oid_p256, sizeof(tu_oid_p256), &pub, &priv);
	ck_assert_uint_eq(token_sign(s, &m, priv, msg, sizeof(msg), sig, sizeof(sig)), 64);
	ck_assert_int_gt(mx.locked, 0);
	ck_assert_int_eq(mx.locked, mx.unlocked); /* nothing held between calls */
	OK(p11->C_Finalize(NULL));
	ck_assert_int_eq(mx.destroyed, mx.created);
	ck_assert_int_eq(mx.live, 0);
}
END_TEST

/* Both allowed: either model is fine, and the module works. */
START_TEST(test_init_os_and_app)
{
	CK_C_INITIALIZE_ARGS args;
	CK_SLOT_ID slot;

	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	set_callbacks(&args, 15);
	OK(p11->C_Initialize(&args));
	slot = tu_init_token(TU_LABEL);
	(void)tu_user_session(slot);
	OK(p11->C_Finalize(NULL));
	ck_assert_int_eq(mx.destroyed, mx.created);
}
END_TEST

START_TEST(test_init_partial_callbacks)
{
	CK_C_INITIALIZE_ARGS args;
	CK_INFO info;
	int created = mx.created;

	for (unsigned mask = 1; mask < 15; mask++) {
		for (int os = 0; os < 2; os++) {
			memset(&args, 0, sizeof(args));
			args.flags = os ? CKF_OS_LOCKING_OK : 0;
			set_callbacks(&args, mask);
			CK(CKR_ARGUMENTS_BAD, p11->C_Initialize(&args));
			CK(CKR_CRYPTOKI_NOT_INITIALIZED, p11->C_GetInfo(&info));
		}
	}
	ck_assert_int_eq(mx.created, created); /* no callback was used */
	OK(p11->C_Initialize(NULL)); /* nothing left behind */
}
END_TEST

START_TEST(test_init_reserved)
{
	CK_C_INITIALIZE_ARGS args;
	CK_INFO info;
	int something = 1;

	memset(&args, 0, sizeof(args));
	args.pReserved = &something;
	CK(CKR_ARGUMENTS_BAD, p11->C_Initialize(&args));
	CK(CKR_CRYPTOKI_NOT_INITIALIZED, p11->C_GetInfo(&info));
	args.flags = CKF_OS_LOCKING_OK;
	CK(CKR_ARGUMENTS_BAD, p11->C_Initialize(&args));
	CK(CKR_CRYPTOKI_NOT_INITIALIZED, p11->C_GetInfo(&info));
	args.pReserved = NULL;
	OK(p11->C_Initialize(&args));
}
END_TEST

START_TEST(test_init_bad_dir)
{
	char path[128];
	CK_INFO info;
	CK_RV rv;
	FILE *f;

	/* Missing. */
	snprintf(path, sizeof(path), "%s/missing", tu_dir);
	setenv("OFFPASS_P11_DIR", path, 1);
	rv = p11->C_Initialize(NULL);
	ck_assert_msg(rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED, "rv 0x%lx", rv);
	CK(CKR_CRYPTOKI_NOT_INITIALIZED, p11->C_GetInfo(&info));
	ck_assert_int_ne(access(path, F_OK), 0); /* not silently created */
	/* A file, not a directory. */
	snprintf(path, sizeof(path), "%s/file", tu_dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	rv = p11->C_Initialize(NULL);
	ck_assert_msg(rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED, "rv 0x%lx", rv);
	CK(CKR_CRYPTOKI_NOT_INITIALIZED, p11->C_GetInfo(&info));
	/* Unreadable (root reads everything: nothing to test then). */
	if (geteuid() != 0) {
		snprintf(path, sizeof(path), "%s/closed", tu_dir);
		ck_assert_int_eq(mkdir(path, 0), 0);
		rv = p11->C_Initialize(NULL);
		ck_assert_msg(rv != CKR_OK, "unreadable directory accepted");
		CK(CKR_CRYPTOKI_NOT_INITIALIZED, p11->C_GetInfo(&info));
		chmod(path, 0700);
	}
	/* A good directory afterwards works. */
	setenv("OFFPASS_P11_DIR", tu_dir, 1);
	OK(p11->C_Initialize(NULL));
	ck_assert_uint_eq(slot_count(), 1);
}
END_TEST

/* A token directory that is, or goes through, a symbolic link still shows
 * its tokens (SQLite follows no link, so the module resolves the path). */
START_TEST(test_init_dir_symlink)
{
	char real[160], link1[160], via[200], link2[160];

	snprintf(real, sizeof(real), "%s/real", tu_dir);
	snprintf(link1, sizeof(link1), "%s/link", tu_dir);
	snprintf(link2, sizeof(link2), "%s/up", tu_dir);
	snprintf(via, sizeof(via), "%s/real", link2);
	ck_assert_int_eq(mkdir(real, 0700), 0);
	ck_assert_int_eq(symlink("real", link1), 0);
	ck_assert_int_eq(symlink(".", link2), 0);
	setenv("OFFPASS_P11_DIR", link1, 1);
	(void)tu_init_token(TU_LABEL);
	tu_reinitialize();
	ck_assert_uint_eq(slot_count(), 2);
	(void)tu_find_slot(TU_LABEL);
	OK(p11->C_Finalize(NULL));
	setenv("OFFPASS_P11_DIR", via, 1);
	tu_initialize();
	ck_assert_uint_eq(slot_count(), 2);
	(void)tu_find_slot(TU_LABEL);
}
END_TEST

/* A token file that another user owns, or that its group or others may
 * write, is refused with the reason in the log; put right, it is back. */
START_TEST(test_token_file_refused)
{
	char *file, *log;

	(void)tu_init_token(TU_LABEL);
	OK(p11->C_Finalize(NULL));
	file = tu_token_file(tu_dir);
	ck_assert_int_eq(chmod(file, 0620), 0);
	tu_log_begin();
	tu_initialize();
	log = tu_log_end();
	ck_assert_uint_eq(slot_count(), 1);
	ck_assert_ptr_nonnull(strstr(log, "writable by its group"));
	free(log);
	OK(p11->C_Finalize(NULL));
	ck_assert_int_eq(chmod(file, 0602), 0);
	tu_log_begin();
	tu_initialize();
	log = tu_log_end();
	ck_assert_uint_eq(slot_count(), 1);
	ck_assert_ptr_nonnull(strstr(log, "writable by others"));
	free(log);
	OK(p11->C_Finalize(NULL));
	ck_assert_int_eq(chmod(file, 0600), 0);
	/* Only root can give a file away. */
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(file, 65534, 65534), 0);
		tu_log_begin();
		tu_initialize();
		log = tu_log_end();
		ck_assert_uint_eq(slot_count(), 1);
		ck_assert_ptr_nonnull(strstr(log, "owned by uid 65534"));
		free(log);
		OK(p11->C_Finalize(NULL));
		ck_assert_int_eq(chown(file, 0, 0), 0);
	}
	tu_initialize();
	ck_assert_uint_eq(slot_count(), 2);
	(void)tu_find_slot(TU_LABEL);
	free(file);
}
END_TEST

/* Without OFFPASS_P11_DIR the documented default under XDG_DATA_HOME. */
START_TEST(test_init_default_dir)
{
	char xdg[128], tokens[160];
	struct stat st;

	snprintf(xdg, sizeof(xdg), "%s/xdg", tu_dir);
	ck_assert_int_eq(mkdir(xdg, 0700), 0);
	unsetenv("OFFPASS_P11_DIR");
	setenv("XDG_DATA_HOME", xdg, 1);
	OK(p11->C_Initialize(NULL));
	snprintf(tokens, sizeof(tokens), "%s/offpass/tokens", xdg);
	ck_assert_int_eq(stat(tokens, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	(void)tu_init_token(TU_LABEL);
	tu_reinitialize();
	(void)tu_find_slot(TU_LABEL);
}
END_TEST

/* ==== interfaces ==================================================================== */

START_TEST(test_function_list)
{
	CK_FUNCTION_LIST_PTR l = NULL;

	CK(CKR_ARGUMENTS_BAD, C_GetFunctionList(NULL));
	ck_assert_int_eq(p11->version.major, 2);
	ck_assert_int_eq(p11->version.minor, 40);
	OK(p11->C_GetFunctionList(&l));
	ck_assert_ptr_eq(l, p11);
	ck_assert_ptr_nonnull(p11->C_Initialize);
	ck_assert_ptr_nonnull(p11->C_WaitForSlotEvent);
	/* Functions the token does not have say so, after the checks every
	 * function makes: initialised, then a valid session (as SoftHSM2). */
	CK(CKR_CRYPTOKI_NOT_INITIALIZED, p11->C_GetOperationState(1, NULL, NULL));
	CK(CKR_CRYPTOKI_NOT_INITIALIZED, p11->C_SignRecoverInit(1, NULL, 1));
	CK(CKR_CRYPTOKI_NOT_INITIALIZED, p11->C_GetFunctionStatus(1));
	CK(CKR_CRYPTOKI_NOT_INITIALIZED, p11->C_WaitForSlotEvent(CKF_DONT_BLOCK, NULL, NULL));
	{
		CK_SESSION_HANDLE s = tu_open(tu_init_token(TU_LABEL), 0);
		CK_SESSION_HANDLE dead = s + 1000;

		CK(CKR_SESSION_HANDLE_INVALID, p11->C_GetOperationState(dead, NULL, NULL));
		CK(CKR_SESSION_HANDLE_INVALID, p11->C_SignRecoverInit(dead, NULL, 1));
		CK(CKR_SESSION_HANDLE_INVALID, p11->C_DigestEncryptUpdate(dead, NULL, 0, NULL, NULL));
		CK(CKR_SESSION_HANDLE_INVALID, p11->C_GetFunctionStatus(dead));
		CK(CKR_FUNCTION_NOT_SUPPORTED, p11->C_GetOperationState(s, NULL, NULL));
		CK(CKR_FUNCTION_NOT_SUPPORTED, p11->C_SignRecoverInit(s, NULL, 1));
		CK(CKR_FUNCTION_NOT_SUPPORTED, p11->C_DigestEncryptUpdate(s, NULL, 0, NULL, NULL));
		CK(CKR_FUNCTION_NOT_PARALLEL, p11->C_GetFunctionStatus(s));
		CK(CKR_FUNCTION_NOT_SUPPORTED, p11->C_WaitForSlotEvent(CKF_DONT_BLOCK, NULL, NULL));
	}
}
END_TEST

START_TEST(test_interface_list)
{
	CK_INTERFACE list[4];
	CK_ULONG n = 0;
	bool v30 = false, v240 = false;

	CK(CKR_ARGUMENTS_BAD, C_GetInterfaceList(list, NULL));
	OK(C_GetInterfaceList(NULL, &n));
	ck_assert_uint_eq(n, 2);
	n = 1;
	CK(CKR_BUFFER_TOO_SMALL, C_GetInterfaceList(list, &n));
	ck_assert_uint_eq(n, 2);
	n = ARRAY_LEN(list);
	OK(C_GetInterfaceList(list, &n));
	ck_assert_uint_eq(n, 2);
	for (CK_ULONG i = 0; i < n; i++) {
		const CK_VERSION *v = list[i].pFunctionList;
		ck_assert_str_eq((const char *)list[i].pInterfaceName, "PKCS 11");
		ck_assert(has_flag(list[i].flags, CKF_INTERFACE_FORK_SAFE));
		if (v->major == 3 && v->minor == 0)
			v30 = true;
		if (v->major == 2 && v->minor == 40) {
			v240 = true;
			ck_assert_ptr_eq(list[i].pFunctionList, p11);
		}
	}
	ck_assert(v30 && v240);
}
END_TEST

START_TEST(test_get_interface)
{
	CK_INTERFACE_PTR i = NULL;
	CK_VERSION v30 = { 3, 0 }, v240 = { 2, 40 }, v10 = { 1, 0 };
	CK_FUNCTION_LIST_3_0 *f3;
	CK_INFO info;

	CK(CKR_ARGUMENTS_BAD, C_GetInterface(NULL, NULL, NULL, 0));
	/* No name, no version: the newest, 3.0. */
	OK(C_GetInterface(NULL, NULL, &i, 0));
	ck_assert_ptr_nonnull(i);
	f3 = i->pFunctionList;
	ck_assert_int_eq(f3->version.major, 3);
	ck_assert_int_eq(f3->version.minor, 0);
	OK(C_GetInterface((CK_UTF8CHAR_PTR) "PKCS 11", &v30, &i, 0));
	ck_assert_ptr_eq(i->pFunctionList, f3);
	OK(C_GetInterface((CK_UTF8CHAR_PTR) "PKCS 11", NULL, &i, CKF_INTERFACE_FORK_SAFE));
	ck_assert_ptr_eq(i->pFunctionList, f3);
	OK(C_GetInterface((CK_UTF8CHAR_PTR) "PKCS 11", &v240, &i, 0));
	ck_assert_ptr_eq(i->pFunctionList, p11);
	NOT_OK(C_GetInterface((CK_UTF8CHAR_PTR) "Vendor offpass", NULL, &i, 0));
	NOT_OK(C_GetInterface((CK_UTF8CHAR_PTR) "PKCS 11", &v10, &i, 0));
	NOT_OK(C_GetInterface(NULL, NULL, &i, 0x80000000UL));
	/* The 3.0 table is the 2.40 one plus the 3.0 functions. */
	ck_assert_ptr_eq(f3->C_Sign, p11->C_Sign);
	ck_assert_ptr_eq(f3->C_WaitForSlotEvent, p11->C_WaitForSlotEvent);
	ck_assert_ptr_nonnull(f3->C_GetInterfaceList);
	ck_assert_ptr_nonnull(f3->C_MessageVerifyFinal);
	OK(f3->C_Initialize(NULL));
	OK(f3->C_GetInfo(&info));
	{
		CK_SESSION_HANDLE s = tu_open(tu_init_token(TU_LABEL), 0);

		CK(CKR_SESSION_HANDLE_INVALID, f3->C_MessageSignInit(s + 1000, NULL, 1));
		CK(CKR_FUNCTION_NOT_SUPPORTED, f3->C_LoginUser(s, CKU_USER, NULL, 0, NULL, 0));
		CK(CKR_FUNCTION_NOT_SUPPORTED, f3->C_MessageSignInit(s, NULL, 1));
		CK(CKR_FUNCTION_NOT_SUPPORTED, f3->C_SessionCancel(s, 0));
	}
	OK(f3->C_GetInterface(NULL, &v240, &i, 0));
	ck_assert_ptr_eq(i->pFunctionList, p11);
}
END_TEST

/* ==== slots and tokens =================================================================== */

START_TEST(test_slots_fresh)
{
	CK_SLOT_ID slots[4];
	CK_ULONG n = 0;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_SESSION_HANDLE s;
	CK_UTF8CHAR lab[32];

	tu_initialize();
	CK(CKR_ARGUMENTS_BAD, p11->C_GetSlotList(CK_TRUE, NULL, NULL));
	OK(p11->C_GetSlotList(CK_FALSE, NULL, &n));
	ck_assert_uint_eq(n, 1);
	n = 0;
	CK(CKR_BUFFER_TOO_SMALL, p11->C_GetSlotList(CK_TRUE, slots, &n));
	ck_assert_uint_eq(n, 1);
	n = ARRAY_LEN(slots);
	OK(p11->C_GetSlotList(CK_TRUE, slots, &n));
	ck_assert_uint_eq(n, 1);
	OK(p11->C_GetSlotInfo(slots[0], &si));
	ck_assert(has_flag(si.flags, CKF_TOKEN_PRESENT));
	OK(p11->C_GetTokenInfo(slots[0], &ti));
	ck_assert(!has_flag(ti.flags, CKF_TOKEN_INITIALIZED));
	ck_assert(!has_flag(ti.flags, CKF_USER_PIN_INITIALIZED));
	NOT_OK(p11->C_OpenSession(slots[0], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s));
	CK(CKR_SLOT_ID_INVALID, p11->C_GetSlotInfo(slots[0] + 7, &si));
	CK(CKR_SLOT_ID_INVALID, p11->C_GetTokenInfo(slots[0] + 7, &ti));
	label32(lab, "bad");
	CK(CKR_SLOT_ID_INVALID, p11->C_InitToken(slots[0] + 7, TU_PIN(TU_SO_PIN), lab));
	CK(CKR_PIN_LEN_RANGE, p11->C_InitToken(slots[0], TU_PIN("123"), lab));
	ck_assert_uint_eq(slot_count(), 1); /* nothing created */
}
END_TEST

START_TEST(test_slots_after_init)
{
	CK_SLOT_ID first, second, free_slot;
	CK_TOKEN_INFO a, b;
	CK_UTF8CHAR want[32];

	first = tu_init_token("first token");
	ck_assert_uint_eq(slot_count(), 2);
	free_slot = tu_find_slot(NULL);
	ck_assert_uint_ne(free_slot, first);
	OK(p11->C_GetTokenInfo(first, &a));
	label32(want, "first token");
	ck_assert(memcmp(a.label, want, 32) == 0);
	ck_assert(has_flag(a.flags, CKF_TOKEN_INITIALIZED | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED));
	ck_assert_uint_eq(a.ulMinPinLen, 6); /* the user PIN's default minimum */
	ck_assert_uint_eq(a.ulMaxPinLen, 255);
	/* A second process sees it. */
	tu_reinitialize();
	ck_assert_uint_eq(slot_count(), 2);
	first = tu_find_slot("first token");
	(void)tu_find_slot(NULL);
	/* A second token, and both after a restart. */
	second = tu_init_token("second token");
	ck_assert_uint_eq(slot_count(), 3);
	tu_reinitialize();
	ck_assert_uint_eq(slot_count(), 3);
	first = tu_find_slot("first token");
	second = tu_find_slot("second token");
	(void)tu_find_slot(NULL);
	OK(p11->C_GetTokenInfo(first, &a));
	OK(p11->C_GetTokenInfo(second, &b));
	ck_assert(memcmp(a.serialNumber, b.serialNumber, sizeof(a.serialNumber)) != 0);
}
END_TEST

/* C_InitToken on an initialised token: SO PIN checked, objects gone. */
START_TEST(test_reinit_token)
{
	CK_SLOT_ID slot = tu_init_token("old label");
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_OBJECT_HANDLE o;
	CK_UTF8CHAR lab[32];

	OK(make_data(s, true, false, "doomed", "value", &o));
	OK(p11->C_CloseSession(s));
	label32(lab, "new label");
	CK(CKR_PIN_INCORRECT, p11->C_InitToken(slot, TU_PIN("wrong-so-pin"), lab));
	(void)tu_find_slot("old label");
	OK(p11->C_InitToken(slot, TU_PIN(TU_SO_PIN), lab));
	ck_assert_uint_eq(tu_find_slot("new label"), slot);
	ck_assert_uint_eq(slot_count(), 2);
	ck_assert(!has_flag(tu_token_flags(slot), CKF_USER_PIN_INITIALIZED));
	s = tu_open(slot, CKF_RW_SESSION);
	ck_assert_uint_eq(find_label(s, "doomed", NULL), 0);
	CK(CKR_USER_PIN_NOT_INITIALIZED, p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)));
	OK(p11->C_CloseSession(s));
	tu_reinitialize();
	s = tu_open(tu_find_slot("new label"), 0);
	ck_assert_uint_eq(find_label(s, "doomed", NULL), 0);
}
END_TEST

/* ==== PINs ============================================================================= */

START_TEST(test_user_pin_init)
{
	CK_SLOT_ID slot = tu_init_token_no_user(TU_LABEL);
	CK_SESSION_HANDLE s;

	ck_assert(!has_flag(tu_token_flags(slot), CKF_USER_PIN_INITIALIZED));
	s = tu_open(slot, CKF_RW_SESSION);
	CK(CKR_USER_PIN_NOT_INITIALIZED, p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)));
	CK(CKR_USER_NOT_LOGGED_IN, p11->C_InitPIN(s, TU_PIN(TU_USER_PIN)));
	OK(p11->C_Login(s, CKU_SO, TU_PIN(TU_SO_PIN)));
	CK(CKR_ARGUMENTS_BAD, p11->C_InitPIN(s, NULL, 8));
	OK(p11->C_InitPIN(s, TU_PIN(TU_USER_PIN)));
	ck_assert(has_flag(tu_token_flags(slot), CKF_USER_PIN_INITIALIZED));
	OK(p11->C_Logout(s));
	OK(p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)));
	tu_reinitialize();
	ck_assert(has_flag(tu_token_flags(tu_find_slot(TU_LABEL)), CKF_USER_PIN_INITIALIZED));
}
END_TEST

#define USER_PIN_FLAGS (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED)
#define SO_PIN_FLAGS (CKF_SO_PIN_COUNT_LOW | CKF_SO_PIN_FINAL_TRY | CKF_SO_PIN_LOCKED)

static CK_FLAGS user_flags(CK_SLOT_ID slot)
{
	return tu_token_flags(slot) & USER_PIN_FLAGS;
}

static CK_FLAGS so_flags(CK_SLOT_ID slot)
{
	return tu_token_flags(slot) & SO_PIN_FLAGS;
}

/* The attempt that reaches the limit is refused as incorrect or as locked
 * (both are what the spec allows); every later one as locked. */
static void assert_locking_attempt(CK_RV rv)
{
	ck_assert_msg(rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED, "rv 0x%lx", rv);
}

START_TEST(test_user_pin_lockout)
{
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE o;

	setenv("OFFPASS_P11_MAX_PIN_FAILS", "3", 1);
	slot = tu_init_token(TU_LABEL);
	s = tu_user_session(slot);
	OK(make_data(s, true, true, "secret note", "kept through the lock", &o));
	OK(p11->C_Logout(s));
	ck_assert_uint_eq(user_flags(slot), 0);

	CK(CKR_PIN_INCORRECT, p11->C_Login(s, CKU_USER, TU_PIN("wrong-pin-1")));
	ck_assert_uint_eq(user_flags(slot), CKF_USER_PIN_COUNT_LOW);
	CK(CKR_PIN_INCORRECT, p11->C_Login(s, CKU_USER, TU_PIN("wrong-pin-2")));
	ck_assert(has_flag(user_flags(slot), CKF_USER_PIN_FINAL_TRY));
	ck_assert(!has_flag(user_flags(slot), CKF_USER_PIN_LOCKED));
	assert_locking_attempt(p11->C_Login(s, CKU_USER, TU_PIN("wrong-pin-3")));
	ck_assert(has_flag(user_flags(slot), CKF_USER_PIN_LOCKED));
	CK(CKR_PIN_LOCKED, p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)));
	CK(CKR_PIN_LOCKED, p11->C_Login(s, CKU_USER, TU_PIN("wrong-pin-4")));
	CK(CKR_PIN_LOCKED, p11->C_SetPIN(s, TU_PIN(TU_USER_PIN), TU_PIN("another-pin")));
	ck_assert_uint_eq(so_flags(slot), 0); /* the SO PIN is not touched */

	/* Stored: a new process finds it locked. */
	tu_reinitialize();
	slot = tu_find_slot(TU_LABEL);
	ck_assert(has_flag(user_flags(slot), CKF_USER_PIN_LOCKED));
	s = tu_open(slot, CKF_RW_SESSION);
	CK(CKR_PIN_LOCKED, p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)));

	/* The SO unlocks with C_InitPIN; the user's objects are still there. */
	OK(p11->C_Login(s, CKU_SO, TU_PIN(TU_SO_PIN)));
	OK(p11->C_InitPIN(s, TU_PIN("fresh-user-pin")));
	OK(p11->C_Logout(s));
	ck_assert_uint_eq(user_flags(slot), 0);
	CK(CKR_PIN_INCORRECT, p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)));
	OK(p11->C_Login(s, CKU_USER, TU_PIN("fresh-user-pin")));
	ck_assert_uint_eq(user_flags(slot), 0);
	ck_assert_uint_eq(find_label(s, "secret note", &o), 1);
	assert_value(s, o, CKA_VALUE, "kept through the lock", 21);
}
END_TEST

START_TEST(test_user_pin_success_resets)
{
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;

	setenv("OFFPASS_P11_MAX_PIN_FAILS", "3", 1);
	slot = tu_init_token(TU_LABEL);
	s = tu_open(slot, CKF_RW_SESSION);
	CK(CKR_PIN_INCORRECT, p11->C_Login(s, CKU_USER, TU_PIN("wrong-pin-1")));
	CK(CKR_PIN_INCORRECT, p11->C_Login(s, CKU_USER, TU_PIN("wrong-pin-2")));
	ck_assert(has_flag(user_flags(slot), CKF_USER_PIN_FINAL_TRY));
	OK(p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)));
	ck_assert_uint_eq(user_flags(slot), 0);
	OK(p11->C_Logout(s));
	/* Counting starts again from zero: two more wrong PINs do not lock. */
	CK(CKR_PIN_INCORRECT, p11->C_Login(s, CKU_USER, TU_PIN("wrong-pin-3")));
	ck_assert_uint_eq(user_flags(slot), CKF_USER_PIN_COUNT_LOW);
	CK(CKR_PIN_INCORRECT, p11->C_Login(s, CKU_USER, TU_PIN("wrong-pin-4")));
	ck_assert(!has_flag(user_flags(slot), CKF_USER_PIN_LOCKED));
	OK(p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)));
}
END_TEST

START_TEST(test_user_pin_count_stored)
{
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;

	setenv("OFFPASS_P11_MAX_PIN_FAILS", "3", 1);
	slot = tu_init_token(TU_LABEL);
	s = tu_open(slot, 0);
	CK(CKR_PIN_INCORRECT, p11->C_Login(s, CKU_USER, TU_PIN("wrong-pin-1")));
	unsetenv("OFFPASS_P11_MAX_PIN_FAILS"); /* the limit belongs to the token */
	tu_reinitialize();
	slot = tu_find_slot(TU_LABEL);
	ck_assert_uint_eq(user_flags(slot), CKF_USER_PIN_COUNT_LOW);
	s = tu_open(slot, 0);
	CK(CKR_PIN_INCORRECT, p11->C_Login(s, CKU_USER, TU_PIN("wrong-pin-2")));
	ck_assert(has_flag(user_flags(slot), CKF_USER_PIN_FINAL_TRY));
	tu_reinitialize();
	slot = tu_find_slot(TU_LABEL);
	s = tu_open(slot, 0);
	assert_locking_attempt(p11->C_Login(s, CKU_USER, TU_PIN("wrong-pin-3")));
	ck_assert(has_flag(user_flags(slot), CKF_USER_PIN_LOCKED));
	CK(CKR_PIN_LOCKED, p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)));
}
END_TEST

START_TEST(test_user_pin_default_limit)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_open(slot, 0);
	char pin[32];

	for (int i = 1; i <= 9; i++) {
		snprintf(pin, sizeof(pin), "wrong-pin-%d", i);
		CK(CKR_PIN_INCORRECT, p11->C_Login(s, CKU_USER, TU_PIN(pin)));
		ck_assert(has_flag(user_flags(slot), CKF_USER_PIN_COUNT_LOW));
		ck_assert(!has_flag(user_flags(slot), CKF_USER_PIN_LOCKED));
		ck_assert_msg(has_flag(user_flags(slot), CKF_USER_PIN_FINAL_TRY) == (i == 9),
			      "final try flag after %d failures", i);
	}
	assert_locking_attempt(p11->C_Login(s, CKU_USER, TU_PIN("wrong-pin-10")));
	ck_assert(has_flag(user_flags(slot), CKF_USER_PIN_LOCKED));
	CK(CKR_PIN_LOCKED, p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)));
}
END_TEST

START_TEST(test_so_pin_lockout)
{
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;
	CK_UTF8CHAR lab[32];

	setenv("OFFPASS_P11_MAX_PIN_FAILS", "3", 1);
	slot = tu_init_token(TU_LABEL);
	s = tu_open(slot, CKF_RW_SESSION);
	/* A correct SO PIN resets the count. */
	CK(CKR_PIN_INCORRECT, p11->C_Login(s, CKU_SO, TU_PIN("wrong-so-1")));
	ck_assert_uint_eq(so_flags(slot), CKF_SO_PIN_COUNT_LOW);
	OK(p11->C_Login(s, CKU_SO, TU_PIN(TU_SO_PIN)));
	ck_assert_uint_eq(so_flags(slot), 0);
	OK(p11->C_Logout(s));

	CK(CKR_PIN_INCORRECT, p11->C_Login(s, CKU_SO, TU_PIN("wrong-so-1")));
	ck_assert_uint_eq(so_flags(slot), CKF_SO_PIN_COUNT_LOW);
	CK(CKR_PIN_INCORRECT, p11->C_Login(s, CKU_SO, TU_PIN("wrong-so-2")));
	ck_assert(has_flag(so_flags(slot), CKF_SO_PIN_FINAL_TRY));
	ck_assert(!has_flag(so_flags(slot), CKF_SO_PIN_LOCKED));
	tu_reinitialize(); /* stored */
	slot = tu_find_slot(TU_LABEL);
	ck_assert(has_flag(so_flags(slot), CKF_SO_PIN_FINAL_TRY));
	s = tu_open(slot, CKF_RW_SESSION);
	assert_locking_attempt(p11->C_Login(s, CKU_SO, TU_PIN("wrong-so-3")));
	ck_assert(has_flag(so_flags(slot), CKF_SO_PIN_LOCKED));
	CK(CKR_PIN_LOCKED, p11->C_Login(s, CKU_SO, TU_PIN(TU_SO_PIN)));
	ck_assert_uint_eq(user_flags(slot), 0);
	/* The user is not affected; the locked SO cannot re-initialise. */
	OK(p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)));
	OK(p11->C_CloseSession(s));
	label32(lab, "taken over");
	CK(CKR_PIN_LOCKED, p11->C_InitToken(slot, TU_PIN(TU_SO_PIN), lab));
	(void)tu_find_slot(TU_LABEL);
}
END_TEST

START_TEST(test_set_pin_wrong_old_counts)
{
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;

	setenv("OFFPASS_P11_MAX_PIN_FAILS", "3", 1);
	slot = tu_init_token(TU_LABEL);
	s = tu_open(slot, CKF_RW_SESSION);
	CK(CKR_PIN_INCORRECT, p11->C_SetPIN(s, TU_PIN("wrong-old"), TU_PIN("new-user-pin")));
	ck_assert_uint_eq(user_flags(slot), CKF_USER_PIN_COUNT_LOW);
	OK(p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN))); /* unchanged, and resets */
	ck_assert_uint_eq(user_flags(slot), 0);
}
END_TEST

/* ==== sessions ========================================================================== */

START_TEST(test_session_flags)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s;
	CK_SESSION_INFO si;
	CK_TOKEN_INFO ti;

	CK(CKR_SESSION_PARALLEL_NOT_SUPPORTED, p11->C_OpenSession(slot, 0, NULL, NULL, &s));
	CK(CKR_SESSION_PARALLEL_NOT_SUPPORTED, p11->C_OpenSession(slot, CKF_RW_SESSION, NULL, NULL, &s));
	CK(CKR_SLOT_ID_INVALID, p11->C_OpenSession(slot + 99, CKF_SERIAL_SESSION, NULL, NULL, &s));
	CK(CKR_ARGUMENTS_BAD, p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, NULL));
	s = tu_open(slot, CKF_RW_SESSION);
	OK(p11->C_GetSessionInfo(s, &si));
	ck_assert_uint_eq(si.slotID, slot);
	ck_assert_uint_eq(si.flags, CKF_SERIAL_SESSION | CKF_RW_SESSION);
	ck_assert_uint_eq(si.state, CKS_RW_PUBLIC_SESSION);
	CK(CKR_ARGUMENTS_BAD, p11->C_GetSessionInfo(s, NULL));
	(void)tu_open(slot, 0);
	OK(p11->C_GetTokenInfo(slot, &ti));
	ck_assert_uint_eq(ti.ulSessionCount, 2);
	ck_assert_uint_eq(ti.ulRwSessionCount, 1);
	OK(p11->C_CloseSession(s));
	CK(CKR_SESSION_HANDLE_INVALID, p11->C_CloseSession(s));
	CK(CKR_SESSION_HANDLE_INVALID, p11->C_GetSessionInfo(s, &si));
	CK(CKR_SESSION_HANDLE_INVALID, p11->C_GetSessionInfo(CK_INVALID_HANDLE, &si));
	OK(p11->C_GetTokenInfo(slot, &ti));
	ck_assert_uint_eq(ti.ulSessionCount, 1);
	ck_assert_uint_eq(ti.ulRwSessionCount, 0);
}
END_TEST

START_TEST(test_session_ro_so)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE ro = tu_open(slot, 0), rw, s;

	CK(CKR_SESSION_READ_ONLY_EXISTS, p11->C_Login(ro, CKU_SO, TU_PIN(TU_SO_PIN)));
	rw = tu_open(slot, CKF_RW_SESSION);
	CK(CKR_SESSION_READ_ONLY_EXISTS, p11->C_Login(rw, CKU_SO, TU_PIN(TU_SO_PIN)));
	OK(p11->C_CloseSession(ro));
	OK(p11->C_Login(rw, CKU_SO, TU_PIN(TU_SO_PIN)));
	CK(CKR_SESSION_READ_WRITE_SO_EXISTS, p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s));
	s = tu_open(slot, CKF_RW_SESSION); /* another RW one is fine */
	ck_assert_uint_eq(tu_session_state(s), CKS_RW_SO_FUNCTIONS);
}
END_TEST

START_TEST(test_session_states)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE ro = tu_open(slot, 0), rw = tu_open(slot, CKF_RW_SESSION);

	ck_assert_uint_eq(tu_session_state(ro), CKS_RO_PUBLIC_SESSION);
	ck_assert_uint_eq(tu_session_state(rw), CKS_RW_PUBLIC_SESSION);
	/* Login is the application's: one login changes every session. */
	OK(p11->C_Login(ro, CKU_USER, TU_PIN(TU_USER_PIN)));
	ck_assert_uint_eq(tu_session_state(ro), CKS_RO_USER_FUNCTIONS);
	ck_assert_uint_eq(tu_session_state(rw), CKS_RW_USER_FUNCTIONS);
	OK(p11->C_Logout(rw));
	ck_assert_uint_eq(tu_session_state(ro), CKS_RO_PUBLIC_SESSION);
	ck_assert_uint_eq(tu_session_state(rw), CKS_RW_PUBLIC_SESSION);
	OK(p11->C_CloseSession(ro));
	OK(p11->C_Login(rw, CKU_SO, TU_PIN(TU_SO_PIN)));
	ck_assert_uint_eq(tu_session_state(rw), CKS_RW_SO_FUNCTIONS);
	OK(p11->C_Logout(rw));
	ck_assert_uint_eq(tu_session_state(rw), CKS_RW_PUBLIC_SESSION);
}
END_TEST

START_TEST(test_session_init_token_refused)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_open(slot, 0);
	CK_UTF8CHAR lab[32];

	label32(lab, "renamed");
	CK(CKR_SESSION_EXISTS, p11->C_InitToken(slot, TU_PIN(TU_SO_PIN), lab));
	(void)tu_find_slot(TU_LABEL);
	OK(p11->C_CloseSession(s));
	OK(p11->C_InitToken(slot, TU_PIN(TU_SO_PIN), lab));
	(void)tu_find_slot("renamed");
}
END_TEST

START_TEST(test_session_close_logs_out)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE a = tu_user_session(slot), b = tu_open(slot, 0), c;
	CK_SESSION_INFO si;
	CK_TOKEN_INFO ti;
	CK_OBJECT_HANDLE o;

	OK(make_data(a, true, true, "private", "p", &o));
	/* Closing one of two sessions keeps the login. */
	OK(p11->C_CloseSession(a));
	ck_assert_uint_eq(tu_session_state(b), CKS_RO_USER_FUNCTIONS);
	/* Closing the last one logs out. */
	OK(p11->C_CloseSession(b));
	c = tu_open(slot, CKF_RW_SESSION);
	ck_assert_uint_eq(tu_session_state(c), CKS_RW_PUBLIC_SESSION);
	ck_assert_uint_eq(find_label(c, "private", NULL), 0);
	/* C_CloseAllSessions too. */
	OK(p11->C_Login(c, CKU_USER, TU_PIN(TU_USER_PIN)));
	b = tu_open(slot, 0);
	OK(p11->C_CloseAllSessions(slot));
	CK(CKR_SESSION_HANDLE_INVALID, p11->C_GetSessionInfo(b, &si));
	CK(CKR_SESSION_HANDLE_INVALID, p11->C_GetSessionInfo(c, &si));
	OK(p11->C_GetTokenInfo(slot, &ti));
	ck_assert_uint_eq(ti.ulSessionCount, 0);
	ck_assert_uint_eq(ti.ulRwSessionCount, 0);
	c = tu_open(slot, 0);
	ck_assert_uint_eq(tu_session_state(c), CKS_RO_PUBLIC_SESSION);
	ck_assert_uint_eq(find_label(c, "private", NULL), 0);
	OK(p11->C_Login(c, CKU_USER, TU_PIN(TU_USER_PIN))); /* not "already logged in" */
	ck_assert_uint_eq(find_label(c, "private", NULL), 1);
	CK(CKR_SLOT_ID_INVALID, p11->C_CloseAllSessions(slot + 99));
}
END_TEST

START_TEST(test_session_login_rules)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_open(slot, CKF_RW_SESSION);

	CK(CKR_USER_NOT_LOGGED_IN, p11->C_Logout(s));
	CK(CKR_USER_TYPE_INVALID, p11->C_Login(s, 7, TU_PIN(TU_USER_PIN)));
	CK(CKR_ARGUMENTS_BAD, p11->C_Login(s, CKU_USER, NULL, 8));
	CK(CKR_PIN_INCORRECT, p11->C_Login(s, CKU_USER, TU_PIN("not-the-pin")));
	CK(CKR_PIN_INCORRECT, p11->C_Login(s, CKU_USER, TU_PIN(TU_SO_PIN)));
	CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_Login(s, CKU_CONTEXT_SPECIFIC, TU_PIN(TU_USER_PIN)));
	OK(p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)));
	CK(CKR_USER_ALREADY_LOGGED_IN, p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)));
	CK(CKR_USER_ANOTHER_ALREADY_LOGGED_IN, p11->C_Login(s, CKU_SO, TU_PIN(TU_SO_PIN)));
	OK(p11->C_Logout(s));
	CK(CKR_USER_NOT_LOGGED_IN, p11->C_Logout(s));
	CK(CKR_SESSION_HANDLE_INVALID, p11->C_Login(s + 1000, CKU_USER, TU_PIN(TU_USER_PIN)));
}
END_TEST

START_TEST(test_set_pin_user)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot), ro;
	CK_OBJECT_HANDLE o;

	OK(make_data(s, true, true, "note", "survives the PIN change", &o));
	ro = tu_open(slot, 0);
	CK(CKR_SESSION_READ_ONLY, p11->C_SetPIN(ro, TU_PIN(TU_USER_PIN), TU_PIN("new-user-pin")));
	OK(p11->C_CloseSession(ro));
	CK(CKR_PIN_INCORRECT, p11->C_SetPIN(s, TU_PIN("wrong-old"), TU_PIN("new-user-pin")));
	OK(p11->C_SetPIN(s, TU_PIN(TU_USER_PIN), TU_PIN("new-user-pin")));
	OK(p11->C_Logout(s));
	CK(CKR_PIN_INCORRECT, p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)));
	OK(p11->C_Login(s, CKU_USER, TU_PIN("new-user-pin")));
	/* From disk, decrypted with the token key under the new PIN. */
	tu_reinitialize();
	slot = tu_find_slot(TU_LABEL);
	s = tu_open(slot, 0);
	CK(CKR_PIN_INCORRECT, p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)));
	OK(p11->C_Login(s, CKU_USER, TU_PIN("new-user-pin")));
	ck_assert_uint_eq(find_label(s, "note", &o), 1);
	assert_value(s, o, CKA_VALUE, "survives the PIN change", 23);
	/* The SO PIN did not change. */
	OK(p11->C_Logout(s));
	OK(p11->C_CloseSession(s));
	s = tu_open(slot, CKF_RW_SESSION);
	OK(p11->C_Login(s, CKU_SO, TU_PIN(TU_SO_PIN)));
}
END_TEST

START_TEST(test_set_pin_so)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_open(slot, CKF_RW_SESSION);

	OK(p11->C_Login(s, CKU_SO, TU_PIN(TU_SO_PIN)));
	CK(CKR_PIN_INCORRECT, p11->C_SetPIN(s, TU_PIN("wrong-old"), TU_PIN("new-so-pin")));
	OK(p11->C_SetPIN(s, TU_PIN(TU_SO_PIN), TU_PIN("new-so-pin")));
	OK(p11->C_Logout(s));
	tu_reinitialize();
	slot = tu_find_slot(TU_LABEL);
	s = tu_open(slot, CKF_RW_SESSION);
	CK(CKR_PIN_INCORRECT, p11->C_Login(s, CKU_SO, TU_PIN(TU_SO_PIN)));
	OK(p11->C_Login(s, CKU_SO, TU_PIN("new-so-pin")));
	OK(p11->C_Logout(s));
	OK(p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN))); /* user PIN unchanged */
}
END_TEST

START_TEST(test_pin_length)
{
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;
	CK_UTF8CHAR lab[32];
	char *p255 = tu_repeat('7', 255), *p256 = tu_repeat('7', 256);

	tu_initialize();
	label32(lab, TU_LABEL);
	slot = tu_find_slot(NULL);
	CK(CKR_PIN_LEN_RANGE, p11->C_InitToken(slot, TU_PIN("abc"), lab));
	CK(CKR_PIN_LEN_RANGE, p11->C_InitToken(slot, TU_PIN(p256), lab));
	OK(p11->C_InitToken(slot, TU_PIN("abcd"), lab)); /* 4 is enough */
	s = tu_open(slot, CKF_RW_SESSION);
	OK(p11->C_Login(s, CKU_SO, TU_PIN("abcd")));
	CK(CKR_PIN_LEN_RANGE, p11->C_InitPIN(s, TU_PIN("123")));
	CK(CKR_PIN_LEN_RANGE, p11->C_InitPIN(s, TU_PIN(p256)));
	CK(CKR_PIN_LEN_RANGE, p11->C_SetPIN(s, TU_PIN("abcd"), TU_PIN("xyz")));
	CK(CKR_PIN_LEN_RANGE, p11->C_SetPIN(s, TU_PIN("abcd"), TU_PIN(p256)));
	/* New user PINs: 6 at least by default, the SO PIN keeps 4. */
	CK(CKR_PIN_LEN_RANGE, p11->C_InitPIN(s, TU_PIN("12345")));
	OK(p11->C_SetPIN(s, TU_PIN("abcd"), TU_PIN("wxyz")));
	OK(p11->C_InitPIN(s, TU_PIN(p255)));
	OK(p11->C_Logout(s));
	OK(p11->C_Login(s, CKU_USER, TU_PIN(p255)));
	CK(CKR_PIN_LEN_RANGE, p11->C_SetPIN(s, TU_PIN(p255), TU_PIN("123")));
	CK(CKR_PIN_LEN_RANGE, p11->C_SetPIN(s, TU_PIN(p255), TU_PIN("12345")));
	OK(p11->C_SetPIN(s, TU_PIN(p255), TU_PIN("123456")));
	OK(p11->C_Logout(s));
	OK(p11->C_Login(s, CKU_USER, TU_PIN("123456")));
	free(p255);
	free(p256);
}
END_TEST

/* The minimum user PIN length is chosen when the token is initialised
 * (OFFPASS_P11_MIN_PIN_LEN), kept in the token and shown in ulMinPinLen;
 * a later change of the variable does not change the token. */
START_TEST(test_pin_min_configured)
{
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;
	CK_UTF8CHAR lab[32];
	CK_TOKEN_INFO ti;

	setenv("OFFPASS_P11_MIN_PIN_LEN", "8", 1);
	tu_initialize();
	label32(lab, TU_LABEL);
	slot = tu_find_slot(NULL);
	OK(p11->C_GetTokenInfo(slot, &ti));
	ck_assert_uint_eq(ti.ulMinPinLen, 4); /* the free slot: the SO PIN's */
	OK(p11->C_InitToken(slot, TU_PIN(TU_SO_PIN), lab));
	OK(p11->C_GetTokenInfo(slot, &ti));
	ck_assert_uint_eq(ti.ulMinPinLen, 8);
	setenv("OFFPASS_P11_MIN_PIN_LEN", "4", 1);
	s = tu_open(slot, CKF_RW_SESSION);
	OK(p11->C_Login(s, CKU_SO, TU_PIN(TU_SO_PIN)));
	CK(CKR_PIN_LEN_RANGE, p11->C_InitPIN(s, TU_PIN("1234567")));
	OK(p11->C_InitPIN(s, TU_PIN("12345678")));
	OK(p11->C_CloseSession(s));
	tu_reinitialize();
	slot = tu_find_slot(TU_LABEL);
	OK(p11->C_GetTokenInfo(slot, &ti));
	ck_assert_uint_eq(ti.ulMinPinLen, 8);
	/* Re-initialising takes the variable anew: 4 now, and 4-digit PINs. */
	OK(p11->C_InitToken(slot, TU_PIN(TU_SO_PIN), lab));
	OK(p11->C_GetTokenInfo(slot, &ti));
	ck_assert_uint_eq(ti.ulMinPinLen, 4);
	s = tu_open(slot, CKF_RW_SESSION);
	OK(p11->C_Login(s, CKU_SO, TU_PIN(TU_SO_PIN)));
	OK(p11->C_InitPIN(s, TU_PIN("1234")));
	/* A value out of range is the default. */
	OK(p11->C_CloseSession(s));
	setenv("OFFPASS_P11_MIN_PIN_LEN", "3", 1);
	OK(p11->C_InitToken(slot, TU_PIN(TU_SO_PIN), lab));
	OK(p11->C_GetTokenInfo(slot, &ti));
	ck_assert_uint_eq(ti.ulMinPinLen, 6);
	unsetenv("OFFPASS_P11_MIN_PIN_LEN");
}
END_TEST

/* ==== objects ============================================================================ */

START_TEST(test_obj_private_invisible)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_OBJECT_HANDLE priv, pub, tpriv, tpub, found[8];
	CK_ATTRIBUTE lab = { CKA_LABEL, NULL, 0 };
	char label[16];
	CK_ULONG n;

	OK(make_data(s, false, true, "priv", "1", &priv));
	OK(make_data(s, false, false, "pub", "2", &pub));
	OK(make_data(s, true, true, "tpriv", "3", &tpriv));
	OK(make_data(s, true, false, "tpub", "4", &tpub));
	ck_assert_uint_eq(tu_find(s, NULL, 0, found, 8), 4);
	OK(p11->C_Logout(s));

	n = tu_find(s, NULL, 0, found, 8);
	ck_assert_uint_eq(n, 2);
	ck_assert((found[0] == pub && found[1] == tpub) || (found[0] == tpub && found[1] == pub));
	CK(CKR_OBJECT_HANDLE_INVALID, p11->C_GetAttributeValue(s, priv, &lab, 1));
	CK(CKR_OBJECT_HANDLE_INVALID, p11->C_GetAttributeValue(s, tpriv, &lab, 1));
	CK(CKR_OBJECT_HANDLE_INVALID, p11->C_DestroyObject(s, tpriv));
	CK(CKR_OBJECT_HANDLE_INVALID, p11->C_SetAttributeValue(s, tpriv, &lab, 1));
	/* Public objects, and their handles, survive the logout. */
	lab.pValue = label;
	lab.ulValueLen = sizeof(label);
	OK(p11->C_GetAttributeValue(s, pub, &lab, 1));
	ck_assert_uint_eq(lab.ulValueLen, 3);
	lab.ulValueLen = sizeof(label);
	OK(p11->C_GetAttributeValue(s, tpub, &lab, 1));
	ck_assert_uint_eq(lab.ulValueLen, 4);

	/* The SO does not see private objects either. */
	OK(p11->C_Login(s, CKU_SO, TU_PIN(TU_SO_PIN)));
	n = tu_find(s, NULL, 0, found, 8);
	ck_assert_uint_eq(n, 2);
	ck_assert(!contains(found, n, tpriv));
	ck_assert_uint_eq(find_label(s, "tpriv", NULL), 0);
	OK(p11->C_Logout(s));

	/* Back in: the private token object is there again; the private
	 * session object was destroyed by the logout (v2.40 C_Logout). */
	OK(p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)));
	ck_assert_uint_eq(find_label(s, "tpriv", NULL), 1);
	ck_assert_uint_eq(find_label(s, "priv", NULL), 0);
	ck_assert_uint_eq(find_label(s, "pub", NULL), 1);
	ck_assert_uint_eq(find_label(s, "tpub", NULL), 1);
}
END_TEST

START_TEST(test_obj_session_objects_vanish)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE a = tu_open(slot, CKF_RW_SESSION), b = tu_open(slot, 0);
	CK_OBJECT_HANDLE so, to;
	CK_ATTRIBUTE lab = { CKA_LABEL, NULL, 0 };

	OK(make_data(a, false, false, "session object", "x", &so));
	OK(make_data(a, true, false, "token object", "y", &to));
	/* Another session of the application sees it. */
	OK(p11->C_GetAttributeValue(b, so, &lab, 1));
	ck_assert_uint_eq(find_label(b, "session object", NULL), 1);
	OK(p11->C_CloseSession(a));
	CK(CKR_OBJECT_HANDLE_INVALID, p11->C_GetAttributeValue(b, so, &lab, 1));
	ck_assert_uint_eq(find_label(b, "session object", NULL), 0);
	OK(p11->C_GetAttributeValue(b, to, &lab, 1));
	/* Not on disk either. */
	tu_reinitialize();
	b = tu_open(tu_find_slot(TU_LABEL), 0);
	ck_assert_uint_eq(find_label(b, "session object", NULL), 0);
	ck_assert_uint_eq(find_label(b, "token object", NULL), 1);
}
END_TEST

START_TEST(test_obj_token_objects_persist)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_OBJECT_HANDLE o, pub, priv, keys[2];
	static const char id[] = "persisted-key";
	CK_ATTRIBUTE extra[] = { ATTR_VAR(CKA_TOKEN, yes), ATTR(CKA_ID, id, strlen(id)) };
	CK_ATTRIBUTE by_id[] = { ATTR(CKA_ID, id, strlen(id)), ATTR_VAR(CKA_CLASS, class_priv) };
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	alg_t a = { CKM_ECDSA_SHA256, "SHA256", 0, NULL, 32, false };
	unsigned char sig[64];
	size_t n;
	EVP_PKEY *pk;

	OK(make_data(s, true, false, "public data", "public value", &o));
	OK(make_data(s, true, true, "private data", "private value", &o));
	OK(tu_gen_ec_rv(s, CKM_EC_KEY_PAIR_GEN, tu_oid_p256, sizeof(tu_oid_p256), extra, 2, extra, 2,
			&pub, &priv));
	pk = tu_export_public(s, pub);
	tu_reinitialize();
	slot = tu_find_slot(TU_LABEL);
	s = tu_open(slot, 0);
	ck_assert_uint_eq(find_label(s, "public data", &o), 1);
	assert_value(s, o, CKA_VALUE, "public value", 12);
	ck_assert_uint_eq(find_label(s, "private data", NULL), 0);
	ck_assert_uint_eq(tu_find(s, by_id, 2, keys, 2), 0);
	OK(p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)));
	ck_assert_uint_eq(find_label(s, "private data", &o), 1);
	assert_value(s, o, CKA_VALUE, "private value", 13);
	ck_assert_uint_eq(tu_find(s, by_id, 2, keys, 2), 1);
	n = token_sign(s, &m, keys[0], msg, sizeof(msg), sig, sizeof(sig));
	ck_assert(ossl_verify(&a, pk, msg, sizeof(msg), sig, n));
	EVP_PKEY_free(pk);
}
END_TEST

START_TEST(test_obj_handles_never_reused)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_OBJECT_HANDLE seen[64], h;
	size_t n = 0;

	for (int round = 0; round < 4; round++) {
		CK_OBJECT_HANDLE made[6];
		for (int i = 0; i < 6; i++) {
			OK(make_data(s, i % 2 == 0, i % 3 == 0, "h", "v", &made[i]));
			ck_assert_uint_ne(made[i], CK_INVALID_HANDLE);
			for (size_t j = 0; j < n; j++)
				ck_assert_msg(seen[j] != made[i], "handle %lu reused", made[i]);
			seen[n++] = made[i];
		}
		for (int i = 0; i < 6; i++)
			OK(p11->C_DestroyObject(s, made[i]));
		CK(CKR_OBJECT_HANDLE_INVALID, p11->C_DestroyObject(s, made[0]));
	}
	/* Token objects reloaded after a logout get fresh handles too. */
	OK(make_data(s, true, true, "reloaded", "v", &h));
	OK(p11->C_Logout(s));
	OK(p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)));
	ck_assert_uint_eq(find_label(s, "reloaded", &h), 1);
	for (size_t j = 0; j < n; j++)
		ck_assert_uint_ne(seen[j], h);
}
END_TEST

START_TEST(test_obj_data_roundtrip)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	static const CK_BYTE oid[] = { 0x06, 0x03, 0x2a, 0x03, 0x04 };
	char *big = tu_repeat('c', 4000), *huge = tu_repeat('h', 64 * 1024 + 1);
	CK_ATTRIBUTE t[] = {
		ATTR_VAR(CKA_CLASS, class_data),
		ATTR_VAR(CKA_TOKEN, yes),
		ATTR_STR(CKA_LABEL, "credential"),
		ATTR_STR(CKA_APPLICATION, "offpass holder"),
		ATTR(CKA_OBJECT_ID, oid, sizeof(oid)),
		ATTR(CKA_VALUE, big, 4000),
	};
	CK_ATTRIBUTE empty[] = { ATTR_VAR(CKA_CLASS, class_data), ATTR_STR(CKA_LABEL, "empty") };
	CK_OBJECT_HANDLE o;

	OK(p11->C_CreateObject(s, t, ARRAY_LEN(t), &o));
	ck_assert_uint_eq(tu_get_ulong(s, o, CKA_CLASS), CKO_DATA);
	ck_assert(tu_get_bool(s, o, CKA_TOKEN));
	assert_value(s, o, CKA_APPLICATION, "offpass holder", 14);
	assert_value(s, o, CKA_OBJECT_ID, oid, sizeof(oid));
	assert_value(s, o, CKA_VALUE, big, 4000);
	tu_reinitialize();
	s = tu_user_session(tu_find_slot(TU_LABEL));
	ck_assert_uint_eq(find_label(s, "credential", &o), 1);
	assert_value(s, o, CKA_APPLICATION, "offpass holder", 14);
	assert_value(s, o, CKA_OBJECT_ID, oid, sizeof(oid));
	assert_value(s, o, CKA_VALUE, big, 4000);
	/* No value: an empty one. */
	OK(p11->C_CreateObject(s, empty, ARRAY_LEN(empty), &o));
	assert_value(s, o, CKA_VALUE, "", 0);
	/* Bad templates. */
	t[5].pValue = huge;
	t[5].ulValueLen = 64 * 1024 + 1;
	NOT_OK(p11->C_CreateObject(s, t, ARRAY_LEN(t), &o));
	t[5].pValue = NULL;
	t[5].ulValueLen = 5;
	NOT_OK(p11->C_CreateObject(s, t, ARRAY_LEN(t), &o));
	CK(CKR_TEMPLATE_INCOMPLETE, p11->C_CreateObject(s, t + 1, ARRAY_LEN(t) - 2, &o));
	CK(CKR_ARGUMENTS_BAD, p11->C_CreateObject(s, NULL, 2, &o));
	t[5] = (CK_ATTRIBUTE)ATTR_STR(CKA_MODULUS, "not for data");
	CK(CKR_ATTRIBUTE_TYPE_INVALID, p11->C_CreateObject(s, t, ARRAY_LEN(t), &o));
	free(big);
	free(huge);
}
END_TEST

START_TEST(test_obj_get_attribute_rules)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_open(slot, CKF_RW_SESSION);
	CK_OBJECT_HANDLE o;
	char small[5], lab[32], val[32], mod[64];
	CK_ATTRIBUTE one = { CKA_VALUE, NULL, 0 };
	CK_ATTRIBUTE mixed[] = {
		ATTR(CKA_LABEL, lab, sizeof(lab)),
		ATTR(CKA_MODULUS, mod, sizeof(mod)),
		ATTR(CKA_VALUE, val, sizeof(val)),
	};

	OK(make_data(s, false, false, "label", "hello world", &o));
	OK(p11->C_GetAttributeValue(s, o, &one, 1));
	ck_assert_uint_eq(one.ulValueLen, 11);
	one.pValue = small;
	one.ulValueLen = sizeof(small);
	CK(CKR_BUFFER_TOO_SMALL, p11->C_GetAttributeValue(s, o, &one, 1));
	ck_assert_uint_eq(one.ulValueLen, CK_UNAVAILABLE_INFORMATION);
	one.type = CKA_MODULUS;
	one.ulValueLen = sizeof(small);
	CK(CKR_ATTRIBUTE_TYPE_INVALID, p11->C_GetAttributeValue(s, o, &one, 1));
	ck_assert_uint_eq(one.ulValueLen, CK_UNAVAILABLE_INFORMATION);
	/* One bad attribute does not stop the others. */
	CK(CKR_ATTRIBUTE_TYPE_INVALID, p11->C_GetAttributeValue(s, o, mixed, 3));
	ck_assert_uint_eq(mixed[0].ulValueLen, 5);
	ck_assert(memcmp(lab, "label", 5) == 0);
	ck_assert_uint_eq(mixed[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	ck_assert_uint_eq(mixed[2].ulValueLen, 11);
	ck_assert(memcmp(val, "hello world", 11) == 0);
	CK(CKR_ARGUMENTS_BAD, p11->C_GetAttributeValue(s, o, NULL, 1));
	CK(CKR_OBJECT_HANDLE_INVALID, p11->C_GetAttributeValue(s, o + 1000, mixed, 1));
}
END_TEST

START_TEST(test_obj_sensitive_ec_private)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_OBJECT_HANDLE pub, priv;
	CK_BYTE value[64], params[16];
	CK_KEY_TYPE kt = 0;
	CK_BBOOL sign = CK_FALSE;
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_VALUE, value, sizeof(value)),
		ATTR_VAR(CKA_KEY_TYPE, kt),
		ATTR(CKA_EC_PARAMS, params, sizeof(params)),
		ATTR_VAR(CKA_SIGN, sign),
	};
	CK_ATTRIBUTE q = { CKA_VALUE, NULL, 0 };

	tu_gen_ec(s, tu_oid_p256, sizeof(tu_oid_p256), &pub, &priv);
	CK(CKR_ATTRIBUTE_SENSITIVE, p11->C_GetAttributeValue(s, priv, t, ARRAY_LEN(t)));
	ck_assert_uint_eq(t[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	ck_assert_uint_eq(t[1].ulValueLen, sizeof(kt));
	ck_assert_uint_eq(kt, CKK_EC);
	ck_assert_uint_eq(t[2].ulValueLen, sizeof(tu_oid_p256));
	ck_assert(memcmp(params, tu_oid_p256, sizeof(tu_oid_p256)) == 0);
	ck_assert_uint_eq(sign, CK_TRUE);
	/* Not even its size. */
	CK(CKR_ATTRIBUTE_SENSITIVE, p11->C_GetAttributeValue(s, priv, &q, 1));
	ck_assert_uint_eq(q.ulValueLen, CK_UNAVAILABLE_INFORMATION);
}
END_TEST

/* An EC private key's CKA_VALUE is the scalar of its public point. */
static void assert_scalar_matches(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE priv)
{
	CK_ULONG vlen = 0, plen = 0;
	unsigned char *v = tu_get_bytes(s, priv, CKA_VALUE, &vlen);
	unsigned char *point = tu_get_bytes(s, pub, CKA_EC_POINT, &plen);
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	EC_POINT *q = EC_POINT_new(g);
	BIGNUM *d = BN_bin2bn(v, (int)vlen, NULL);
	unsigned char enc[65];

	ck_assert_uint_eq(vlen, 32);
	ck_assert_int_eq(EC_POINT_mul(g, q, d, NULL, NULL, NULL), 1);
	ck_assert_uint_eq(EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, enc, sizeof(enc), NULL), 65);
	ck_assert_uint_eq(plen, 67);
	ck_assert(memcmp(point + 2, enc, 65) == 0);
	BN_free(d);
	EC_POINT_free(q);
	EC_GROUP_free(g);
	free(v);
	free(point);
}

START_TEST(test_obj_sensitive_transitions)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_OBJECT_HANDLE pub, priv, pub2, priv2;
	CK_ATTRIBUTE open_key[] = { ATTR_VAR(CKA_SENSITIVE, no), ATTR_VAR(CKA_EXTRACTABLE, yes) };
	CK_ATTRIBUTE set_sens_true[] = { ATTR_VAR(CKA_SENSITIVE, yes) };
	CK_ATTRIBUTE set_sens_false[] = { ATTR_VAR(CKA_SENSITIVE, no) };
	CK_ATTRIBUTE set_extr_true[] = { ATTR_VAR(CKA_EXTRACTABLE, yes) };
	CK_ATTRIBUTE set_extr_false[] = { ATTR_VAR(CKA_EXTRACTABLE, no) };
	CK_ATTRIBUTE set_always[] = { ATTR_VAR(CKA_ALWAYS_SENSITIVE, yes) };
	CK_ATTRIBUTE q = { CKA_VALUE, NULL, 0 };

	/* A key made readable on purpose. */
	OK(tu_gen_ec_rv(s, CKM_EC_KEY_PAIR_GEN, tu_oid_p256, sizeof(tu_oid_p256), NULL, 0, open_key, 2,
			&pub, &priv));
	ck_assert(!tu_get_bool(s, priv, CKA_ALWAYS_SENSITIVE));
	ck_assert(!tu_get_bool(s, priv, CKA_NEVER_EXTRACTABLE));
	assert_scalar_matches(s, pub, priv);
	OK(p11->C_SetAttributeValue(s, priv, set_sens_true, 1));
	ck_assert(tu_get_bool(s, priv, CKA_SENSITIVE));
	CK(CKR_ATTRIBUTE_SENSITIVE, p11->C_GetAttributeValue(s, priv, &q, 1));
	CK(CKR_ATTRIBUTE_READ_ONLY, p11->C_SetAttributeValue(s, priv, set_sens_false, 1));
	ck_assert(tu_get_bool(s, priv, CKA_SENSITIVE));
	ck_assert(!tu_get_bool(s, priv, CKA_ALWAYS_SENSITIVE)); /* history stays */
	CK(CKR_ATTRIBUTE_READ_ONLY, p11->C_SetAttributeValue(s, priv, set_always, 1));
	OK(p11->C_SetAttributeValue(s, priv, set_extr_false, 1));
	CK(CKR_ATTRIBUTE_READ_ONLY, p11->C_SetAttributeValue(s, priv, set_extr_true, 1));
	ck_assert(!tu_get_bool(s, priv, CKA_EXTRACTABLE));
	ck_assert(!tu_get_bool(s, priv, CKA_NEVER_EXTRACTABLE));
	/* Nor can a copy undo it. */
	CK(CKR_ATTRIBUTE_READ_ONLY, p11->C_CopyObject(s, priv, set_sens_false, 1, &priv2));
	CK(CKR_ATTRIBUTE_READ_ONLY, p11->C_CopyObject(s, priv, set_extr_true, 1, &priv2));

	/* The default key: sensitive and unextractable from the start. */
	tu_gen_ec(s, tu_oid_p256, sizeof(tu_oid_p256), &pub2, &priv2);
	CK(CKR_ATTRIBUTE_READ_ONLY, p11->C_SetAttributeValue(s, priv2, set_sens_false, 1));
	CK(CKR_ATTRIBUTE_READ_ONLY, p11->C_SetAttributeValue(s, priv2, set_extr_true, 1));
	ck_assert(tu_get_bool(s, priv2, CKA_SENSITIVE));
	ck_assert(!tu_get_bool(s, priv2, CKA_EXTRACTABLE));
}
END_TEST

START_TEST(test_obj_generated_attributes)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_OBJECT_HANDLE pub, priv;
	CK_ATTRIBUTE local[] = { ATTR_VAR(CKA_LOCAL, no) };
	CK_ATTRIBUTE value[] = { ATTR(CKA_VALUE, "0123456789abcdef0123456789abcdef", 32) };
	CK_ULONG len;
	unsigned char *point;

	tu_gen_ec(s, tu_oid_p256, sizeof(tu_oid_p256), &pub, &priv);
	ck_assert(tu_get_bool(s, priv, CKA_LOCAL));
	ck_assert_uint_eq(tu_get_ulong(s, priv, CKA_KEY_GEN_MECHANISM), CKM_EC_KEY_PAIR_GEN);
	ck_assert(tu_get_bool(s, priv, CKA_ALWAYS_SENSITIVE));
	ck_assert(tu_get_bool(s, priv, CKA_NEVER_EXTRACTABLE));
	ck_assert(tu_get_bool(s, priv, CKA_SENSITIVE));
	ck_assert(!tu_get_bool(s, priv, CKA_EXTRACTABLE));
	ck_assert(tu_get_bool(s, priv, CKA_PRIVATE));
	ck_assert_uint_eq(tu_get_ulong(s, priv, CKA_CLASS), CKO_PRIVATE_KEY);
	ck_assert(tu_get_bool(s, pub, CKA_LOCAL));
	ck_assert_uint_eq(tu_get_ulong(s, pub, CKA_KEY_GEN_MECHANISM), CKM_EC_KEY_PAIR_GEN);
	ck_assert_uint_eq(tu_get_ulong(s, pub, CKA_KEY_TYPE), CKK_EC);
	point = tu_get_bytes(s, pub, CKA_EC_POINT, &len);
	ck_assert_uint_eq(len, 67);
	ck_assert(point[0] == 0x04 && point[1] == 65 && point[2] == 0x04);
	free(point);

	tu_gen_ed25519(s, &pub, &priv);
	ck_assert_uint_eq(tu_get_ulong(s, priv, CKA_KEY_TYPE), CKK_EC_EDWARDS);
	ck_assert_uint_eq(tu_get_ulong(s, priv, CKA_KEY_GEN_MECHANISM), CKM_EC_EDWARDS_KEY_PAIR_GEN);
	ck_assert(tu_get_bool(s, priv, CKA_LOCAL));
	ck_assert(tu_get_bool(s, priv, CKA_ALWAYS_SENSITIVE));

	/* Token-set attributes and key material cannot come from the template. */
	CK(CKR_ATTRIBUTE_READ_ONLY, tu_gen_ec_rv(s, CKM_EC_KEY_PAIR_GEN, tu_oid_p256,
						 sizeof(tu_oid_p256), NULL, 0, local, 1, &pub, &priv));
	CK(CKR_TEMPLATE_INCONSISTENT, tu_gen_ec_rv(s, CKM_EC_KEY_PAIR_GEN, tu_oid_p256,
						   sizeof(tu_oid_p256), NULL, 0, value, 1, &pub, &priv));
	{
		CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
		CK(CKR_TEMPLATE_INCOMPLETE, p11->C_GenerateKeyPair(s, &m, NULL, 0, NULL, 0, &pub, &priv));
	}
}
END_TEST

START_TEST(test_obj_imported_key)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	EVP_PKEY *k = tu_ossl_ec("P-256");
	CK_OBJECT_HANDLE priv, pub, bad;
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	alg_t a = { CKM_ECDSA_SHA256, "SHA256", 0, NULL, 32, false };
	unsigned char sig[64], ff[32], point[67];
	static const CK_BYTE oid_p521[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23 };
	CK_KEY_TYPE ec = CKK_EC;
	CK_ATTRIBUTE local[] = { ATTR_VAR(CKA_LOCAL, yes) };
	CK_ATTRIBUTE t[] = {
		ATTR_VAR(CKA_CLASS, class_priv), ATTR_VAR(CKA_KEY_TYPE, ec),
		ATTR(CKA_EC_PARAMS, tu_oid_p256, sizeof(tu_oid_p256)), ATTR(CKA_VALUE, ff, sizeof(ff)),
	};
	CK_ATTRIBUTE pt[] = {
		ATTR_VAR(CKA_CLASS, class_pub), ATTR_VAR(CKA_KEY_TYPE, ec),
		ATTR(CKA_EC_PARAMS, tu_oid_p256, sizeof(tu_oid_p256)), ATTR(CKA_EC_POINT, point, sizeof(point)),
	};
	CK_ATTRIBUTE q = { CKA_VALUE, NULL, 0 };
	size_t n;

	OK(tu_import_private(s, k, NULL, 0, &priv));
	ck_assert(!tu_get_bool(s, priv, CKA_LOCAL));
	ck_assert(!tu_get_bool(s, priv, CKA_ALWAYS_SENSITIVE));
	ck_assert(!tu_get_bool(s, priv, CKA_NEVER_EXTRACTABLE));
	ck_assert(tu_get_bool(s, priv, CKA_SENSITIVE));
	ck_assert_uint_eq(tu_get_ulong(s, priv, CKA_KEY_GEN_MECHANISM), CK_UNAVAILABLE_INFORMATION);
	CK(CKR_ATTRIBUTE_SENSITIVE, p11->C_GetAttributeValue(s, priv, &q, 1));
	n = token_sign(s, &m, priv, msg, sizeof(msg), sig, sizeof(sig));
	ck_assert(ossl_verify(&a, k, msg, sizeof(msg), sig, n));
	OK(tu_import_public(s, k, NULL, 0, &pub));
	ck_assert(!tu_get_bool(s, pub, CKA_LOCAL));
	OK(token_verify(s, &m, pub, msg, sizeof(msg), sig, n));

	CK(CKR_ATTRIBUTE_READ_ONLY, tu_import_private(s, k, local, 1, &bad));
	/* Bad key material. */
	memset(ff, 0xff, sizeof(ff)); /* above the group order */
	NOT_OK(p11->C_CreateObject(s, t, ARRAY_LEN(t), &bad));
	memset(ff, 0, sizeof(ff));
	NOT_OK(p11->C_CreateObject(s, t, ARRAY_LEN(t), &bad));
	CK(CKR_TEMPLATE_INCOMPLETE, p11->C_CreateObject(s, t, 3, &bad));
	t[2] = (CK_ATTRIBUTE)ATTR(CKA_EC_PARAMS, oid_p521, sizeof(oid_p521));
	ff[31] = 1;
	NOT_OK(p11->C_CreateObject(s, t, ARRAY_LEN(t), &bad));
	ck_assert_uint_eq(tu_ec_point_der(k, point, sizeof(point)), sizeof(point));
	point[40] ^= 1; /* off the curve */
	NOT_OK(p11->C_CreateObject(s, pt, ARRAY_LEN(pt), &bad));
	pt[3].ulValueLen = 20; /* truncated */
	NOT_OK(p11->C_CreateObject(s, pt, ARRAY_LEN(pt), &bad));
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(test_obj_copy)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_OBJECT_HANDLE orig, copy, nocopy;
	CK_ATTRIBUTE change[] = { ATTR_STR(CKA_LABEL, "copy"), ATTR_VAR(CKA_TOKEN, yes) };
	CK_ATTRIBUTE other_class[] = { ATTR_VAR(CKA_CLASS, class_cert) };
	CK_ATTRIBUTE t[] = {
		ATTR_VAR(CKA_CLASS, class_data), ATTR_STR(CKA_LABEL, "fixed"), ATTR_VAR(CKA_COPYABLE, no),
	};

	OK(make_data(s, false, false, "orig", "shared value", &orig));
	OK(p11->C_CopyObject(s, orig, change, ARRAY_LEN(change), &copy));
	ck_assert_uint_ne(copy, orig);
	assert_value(s, copy, CKA_LABEL, "copy", 4);
	assert_value(s, copy, CKA_VALUE, "shared value", 12);
	ck_assert(tu_get_bool(s, copy, CKA_TOKEN));
	assert_value(s, orig, CKA_LABEL, "orig", 4);
	ck_assert(!tu_get_bool(s, orig, CKA_TOKEN));
	CK(CKR_ATTRIBUTE_READ_ONLY, p11->C_CopyObject(s, orig, other_class, 1, &nocopy));
	CK(CKR_OBJECT_HANDLE_INVALID, p11->C_CopyObject(s, orig + 1000, NULL, 0, &nocopy));
	OK(p11->C_CreateObject(s, t, ARRAY_LEN(t), &nocopy));
	CK(CKR_ACTION_PROHIBITED, p11->C_CopyObject(s, nocopy, NULL, 0, &copy));
	tu_reinitialize();
	s = tu_open(tu_find_slot(TU_LABEL), 0);
	ck_assert_uint_eq(find_label(s, "copy", &copy), 1);
	assert_value(s, copy, CKA_VALUE, "shared value", 12);
	ck_assert_uint_eq(find_label(s, "orig", NULL), 0);
}
END_TEST

START_TEST(test_obj_set_attribute)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_OBJECT_HANDLE d, pub, priv, fixed;
	CK_ATTRIBUTE relabel[] = { ATTR_STR(CKA_LABEL, "after") };
	CK_ATTRIBUTE key_label[] = { ATTR_STR(CKA_LABEL, "renamed key") };
	CK_ATTRIBUTE set_class[] = { ATTR_VAR(CKA_CLASS, class_cert) };
	CK_ATTRIBUTE set_mod[] = { ATTR_STR(CKA_MODULUS, "x") };
	CK_ATTRIBUTE tok[] = { ATTR_VAR(CKA_TOKEN, yes) };
	CK_ATTRIBUTE t[] = {
		ATTR_VAR(CKA_CLASS, class_data), ATTR_STR(CKA_LABEL, "fixed"), ATTR_VAR(CKA_MODIFIABLE, no),
	};

	OK(make_data(s, true, false, "before", "v", &d));
	OK(p11->C_SetAttributeValue(s, d, relabel, 1));
	OK(tu_gen_ec_rv(s, CKM_EC_KEY_PAIR_GEN, tu_oid_p256, sizeof(tu_oid_p256), tok, 1, tok, 1, &pub, &priv));
	OK(p11->C_SetAttributeValue(s, priv, key_label, 1));
	CK(CKR_ATTRIBUTE_READ_ONLY, p11->C_SetAttributeValue(s, d, set_class, 1));
	CK(CKR_ATTRIBUTE_TYPE_INVALID, p11->C_SetAttributeValue(s, d, set_mod, 1));
	CK(CKR_ATTRIBUTE_READ_ONLY, p11->C_SetAttributeValue(s, d, tok, 1));
	OK(p11->C_CreateObject(s, t, ARRAY_LEN(t), &fixed));
	CK(CKR_ACTION_PROHIBITED, p11->C_SetAttributeValue(s, fixed, relabel, 1));
	assert_value(s, fixed, CKA_LABEL, "fixed", 5);
	tu_reinitialize();
	s = tu_user_session(tu_find_slot(TU_LABEL));
	ck_assert_uint_eq(find_label(s, "after", &d), 1);
	ck_assert_uint_eq(find_label(s, "before", NULL), 0);
	ck_assert_uint_eq(find_label(s, "renamed key", &priv), 1);
	ck_assert_uint_eq(tu_get_ulong(s, priv, CKA_CLASS), CKO_PRIVATE_KEY);
}
END_TEST

START_TEST(test_obj_read_only_session)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE rw = tu_user_session(slot), ro = tu_open(slot, 0);
	CK_OBJECT_HANDLE o, t, pub, priv;
	CK_ATTRIBUTE relabel[] = { ATTR_STR(CKA_LABEL, "changed") };
	CK_ATTRIBUTE tok[] = { ATTR_VAR(CKA_TOKEN, yes) };

	OK(make_data(rw, true, false, "token", "v", &t));
	CK(CKR_SESSION_READ_ONLY, make_data(ro, true, false, "ro token", "v", &o));
	CK(CKR_SESSION_READ_ONLY, make_data(ro, true, true, "ro token", "v", &o));
	OK(make_data(ro, false, true, "ro session", "v", &o)); /* session objects are fine */
	CK(CKR_SESSION_READ_ONLY, p11->C_DestroyObject(ro, t));
	CK(CKR_SESSION_READ_ONLY, p11->C_SetAttributeValue(ro, t, relabel, 1));
	CK(CKR_SESSION_READ_ONLY, p11->C_CopyObject(ro, o, tok, 1, &t));
	CK(CKR_SESSION_READ_ONLY, tu_gen_ec_rv(ro, CKM_EC_KEY_PAIR_GEN, tu_oid_p256, sizeof(tu_oid_p256),
					       tok, 1, tok, 1, &pub, &priv));
	OK(p11->C_SetAttributeValue(ro, o, relabel, 1));
	OK(p11->C_DestroyObject(ro, o));
	ck_assert_uint_eq(find_label(ro, "ro token", NULL), 0);
}
END_TEST

START_TEST(test_obj_private_needs_login)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_open(slot, CKF_RW_SESSION);
	CK_OBJECT_HANDLE o, pub, priv;
	EVP_PKEY *k = tu_ossl_ec("P-256");
	CK_MECHANISM gen = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
	CK_ULONG len = 16;
	CK_ATTRIBUTE st[] = { ATTR_VAR(CKA_VALUE_LEN, len) };

	CK(CKR_USER_NOT_LOGGED_IN, make_data(s, false, true, "p", "v", &o));
	CK(CKR_USER_NOT_LOGGED_IN, make_data(s, true, true, "p", "v", &o));
	CK(CKR_USER_NOT_LOGGED_IN, tu_import_private(s, k, NULL, 0, &o));
	CK(CKR_USER_NOT_LOGGED_IN, tu_gen_ec_rv(s, CKM_EC_KEY_PAIR_GEN, tu_oid_p256, sizeof(tu_oid_p256),
						NULL, 0, NULL, 0, &pub, &priv));
	CK(CKR_USER_NOT_LOGGED_IN, p11->C_GenerateKey(s, &gen, st, 1, &o));
	OK(make_data(s, true, false, "public", "v", &o));
	OK(tu_import_public(s, k, NULL, 0, &o));
	/* Nothing half-made was left behind (no lone public key). */
	{
		CK_OBJECT_HANDLE all[8];
		ck_assert_uint_eq(tu_find(s, NULL, 0, all, 8), 2);
	}
	EVP_PKEY_free(k);
}
END_TEST

/* A self-signed X.509 certificate, DER; its subject too. */
static unsigned char *make_cert(EVP_PKEY *k, size_t *len, unsigned char **subject, size_t *subject_len,
				unsigned char **serial, size_t *serial_len)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char *der = NULL;
	int n;

	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(X509_set_version(x, 2), 1);
	ck_assert_int_eq(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242), 1);
	ck_assert_int_eq(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
						    (const unsigned char *)"offpass holder", -1, -1, 0), 1);
	ck_assert_int_eq(X509_set_subject_name(x, name), 1);
	ck_assert_int_eq(X509_set_issuer_name(x, name), 1);
	ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	ck_assert_int_eq(X509_set_pubkey(x, k), 1);
	ck_assert_int_gt(X509_sign(x, k, EVP_sha256()), 0);
	n = i2d_X509(x, &der);
	ck_assert_int_gt(n, 0);
	*len = (size_t)n;
	*subject = NULL;
	n = i2d_X509_NAME(name, subject);
	ck_assert_int_gt(n, 0);
	*subject_len = (size_t)n;
	*serial = NULL;
	n = i2d_ASN1_INTEGER(X509_get_serialNumber(x), serial);
	ck_assert_int_gt(n, 0);
	*serial_len = (size_t)n;
	X509_NAME_free(name);
	X509_free(x);
	return der;
}

START_TEST(test_obj_certificate)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	EVP_PKEY *k = tu_ossl_ec("P-256");
	size_t len, subj_len, ser_len;
	unsigned char *subj, *ser, *der = make_cert(k, &len, &subj, &subj_len, &ser, &ser_len);
	CK_CERTIFICATE_TYPE x509 = CKC_X_509, wtls = CKC_WTLS;
	CK_ATTRIBUTE t[] = {
		ATTR_VAR(CKA_CLASS, class_cert), ATTR_VAR(CKA_CERTIFICATE_TYPE, x509),
		ATTR_VAR(CKA_TOKEN, yes), ATTR_STR(CKA_ID, "holder-1"), ATTR_STR(CKA_LABEL, "holder cert"),
		ATTR(CKA_SUBJECT, subj, subj_len), ATTR(CKA_ISSUER, subj, subj_len),
		ATTR(CKA_SERIAL_NUMBER, ser, ser_len), ATTR(CKA_VALUE, der, len),
	};
	CK_ATTRIBUTE by_class[] = { ATTR_VAR(CKA_CLASS, class_cert) };
	CK_ATTRIBUTE trusted[] = { ATTR_VAR(CKA_TRUSTED, yes) };
	CK_OBJECT_HANDLE o, found[4];
	CK_ULONG vlen;
	unsigned char *v;
	const unsigned char *p;
	X509 *x;

	OK(p11->C_CreateObject(s, t, ARRAY_LEN(t), &o));
	ck_assert(!tu_get_bool(s, o, CKA_TRUSTED));
	ck_assert(!tu_get_bool(s, o, CKA_PRIVATE)); /* certificates are public */
	tu_reinitialize();
	s = tu_open(tu_find_slot(TU_LABEL), 0); /* no login needed */
	ck_assert_uint_eq(tu_find(s, by_class, 1, found, 4), 1);
	ck_assert_uint_eq(tu_get_ulong(s, found[0], CKA_CERTIFICATE_TYPE), CKC_X_509);
	assert_value(s, found[0], CKA_SUBJECT, subj, subj_len);
	assert_value(s, found[0], CKA_ID, "holder-1", 8);
	v = tu_get_bytes(s, found[0], CKA_VALUE, &vlen);
	p = v;
	x = d2i_X509(NULL, &p, (long)vlen);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(X509_verify(x, k), 1);
	X509_free(x);
	free(v);

	OK(p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)));
	OK(p11->C_CloseSession(s));
	s = tu_open(tu_find_slot(TU_LABEL), CKF_RW_SESSION);
	t[2].pValue = &no;
	CK(CKR_TEMPLATE_INCOMPLETE, p11->C_CreateObject(s, t, ARRAY_LEN(t) - 1, &o));
	t[1].pValue = &wtls;
	CK(CKR_ATTRIBUTE_VALUE_INVALID, p11->C_CreateObject(s, t, ARRAY_LEN(t), &o));
	t[1].pValue = &x509;
	t[2] = trusted[0];
	CK(CKR_ATTRIBUTE_READ_ONLY, p11->C_CreateObject(s, t, ARRAY_LEN(t), &o));
	OPENSSL_free(der);
	OPENSSL_free(subj);
	OPENSSL_free(ser);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(test_obj_find)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_OBJECT_HANDLE pub1, priv1, pub2, priv2, d, found[16], one;
	CK_ATTRIBUTE id1[] = { ATTR_STR(CKA_ID, "key-1") }, id2[] = { ATTR_STR(CKA_ID, "key-2") };
	CK_ATTRIBUTE by_id1[] = { ATTR_STR(CKA_ID, "key-1") };
	CK_ATTRIBUTE by_priv[] = { ATTR_VAR(CKA_CLASS, class_priv) };
	CK_ATTRIBUTE by_priv_id2[] = { ATTR_VAR(CKA_CLASS, class_priv), ATTR_STR(CKA_ID, "key-2") };
	CK_ATTRIBUTE by_data[] = { ATTR_VAR(CKA_CLASS, class_data) };
	CK_ATTRIBUTE by_none[] = { ATTR_STR(CKA_ID, "key-3") };
	CK_ULONG n, total = 0;

	OK(tu_gen_ec_rv(s, CKM_EC_KEY_PAIR_GEN, tu_oid_p256, sizeof(tu_oid_p256), id1, 1, id1, 1, &pub1, &priv1));
	OK(tu_gen_ec_rv(s, CKM_EC_KEY_PAIR_GEN, tu_oid_p256, sizeof(tu_oid_p256), id2, 1, id2, 1, &pub2, &priv2));
	OK(make_data(s, true, false, "data", "v", &d));

	n = tu_find(s, by_id1, 1, found, 16);
	ck_assert_uint_eq(n, 2);
	ck_assert(contains(found, n, pub1) && contains(found, n, priv1));
	n = tu_find(s, by_priv, 1, found, 16);
	ck_assert_uint_eq(n, 2);
	ck_assert(contains(found, n, priv1) && contains(found, n, priv2));
	ck_assert_uint_eq(tu_find(s, by_priv_id2, 2, found, 16), 1);
	ck_assert_uint_eq(found[0], priv2);
	ck_assert_uint_eq(tu_find(s, by_data, 1, found, 16), 1);
	ck_assert_uint_eq(found[0], d);
	ck_assert_uint_eq(tu_find(s, by_none, 1, found, 16), 0);
	/* One at a time. */
	OK(p11->C_FindObjectsInit(s, NULL, 0));
	CK(CKR_OPERATION_ACTIVE, p11->C_FindObjectsInit(s, NULL, 0));
	do {
		OK(p11->C_FindObjects(s, &one, 1, &n));
		ck_assert_uint_le(n, 1);
		if (n == 1) {
			ck_assert(!contains(found, total, one));
			found[total++] = one;
		}
	} while (n == 1);
	ck_assert_uint_eq(total, 5);
	CK(CKR_ARGUMENTS_BAD, p11->C_FindObjects(s, &one, 1, NULL));
	OK(p11->C_FindObjectsFinal(s));
	CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_FindObjectsFinal(s));
	CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_FindObjects(s, &one, 1, &n));
}
END_TEST

START_TEST(test_obj_size)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot), ro;
	char *big = tu_repeat('b', 1000);
	CK_OBJECT_HANDLE small_o, big_o, priv_o;
	CK_ULONG a = 0, b = 0;

	OK(make_data(s, false, false, "s", "0123456789", &small_o));
	OK(make_data(s, false, false, "b", big, &big_o));
	OK(make_data(s, true, true, "p", "x", &priv_o));
	OK(p11->C_GetObjectSize(s, small_o, &a));
	OK(p11->C_GetObjectSize(s, big_o, &b));
	ck_assert_uint_ge(a, 10);
	ck_assert_uint_ne(a, CK_UNAVAILABLE_INFORMATION);
	ck_assert_uint_ge(b, a + 990);
	CK(CKR_ARGUMENTS_BAD, p11->C_GetObjectSize(s, small_o, NULL));
	CK(CKR_OBJECT_HANDLE_INVALID, p11->C_GetObjectSize(s, big_o + 1000, &a));
	ro = tu_open(slot, 0);
	OK(p11->C_Logout(s));
	CK(CKR_OBJECT_HANDLE_INVALID, p11->C_GetObjectSize(ro, priv_o, &a));
	free(big);
}
END_TEST

/* ==== mechanisms and crypto ================================================================ */

/* The secret-key mechanisms (p11/test-mechanisms.c runs their vectors). */
typedef struct mech_class {
	CK_MECHANISM_TYPE m;
	CK_FLAGS flags;
} mech_class_t;

static const mech_class_t secret_mechs[] = {
	{ CKM_AES_ECB, CKF_ENCRYPT | CKF_DECRYPT },
	{ CKM_AES_CBC, CKF_ENCRYPT | CKF_DECRYPT },
	{ CKM_AES_CBC_PAD, CKF_ENCRYPT | CKF_DECRYPT },
	{ CKM_AES_CTR, CKF_ENCRYPT | CKF_DECRYPT },
	{ CKM_AES_GCM, CKF_ENCRYPT | CKF_DECRYPT },
	{ CKM_AES_KEY_WRAP, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP },
	{ CKM_AES_KEY_WRAP_KWP, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP },
	{ CKM_DES3_ECB, CKF_ENCRYPT | CKF_DECRYPT },
	{ CKM_DES3_CBC, CKF_ENCRYPT | CKF_DECRYPT },
	{ CKM_DES3_CBC_PAD, CKF_ENCRYPT | CKF_DECRYPT },
};

static const mech_class_t *mech_class_of(CK_MECHANISM_TYPE m)
{
	for (size_t i = 0; i < ARRAY_LEN(secret_mechs); i++)
		if (secret_mechs[i].m == m)
			return &secret_mechs[i];
	return NULL;
}

static CK_FLAGS expected_mech_flags(CK_MECHANISM_TYPE m)
{
	const mech_class_t *c = mech_class_of(m);

	if (c != NULL)
		return c->flags;
	switch (m) {
	case CKM_SHA_1:
	case CKM_SHA224:
	case CKM_SHA256:
	case CKM_SHA384:
	case CKM_SHA512:
		return CKF_DIGEST;
	case CKM_EC_KEY_PAIR_GEN:
	case CKM_EC_EDWARDS_KEY_PAIR_GEN:
	case CKM_EC_MONTGOMERY_KEY_PAIR_GEN:
	case CKM_RSA_PKCS_KEY_PAIR_GEN:
		return CKF_GENERATE_KEY_PAIR;
	case CKM_RSA_PKCS:
		return CKF_SIGN | CKF_VERIFY | CKF_ENCRYPT | CKF_DECRYPT;
	case CKM_RSA_PKCS_OAEP:
		return CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP;
	case CKM_ECDH1_DERIVE:
		return CKF_DERIVE;
	case CKM_GENERIC_SECRET_KEY_GEN:
	case CKM_AES_KEY_GEN:
	case CKM_DES3_KEY_GEN:
		return CKF_GENERATE;
	default:
		return CKF_SIGN | CKF_VERIFY;
	}
}

START_TEST(test_mechanisms)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_MECHANISM_TYPE list[96];
	CK_MECHANISM_INFO info;
	CK_ULONG n = 0;
	const CK_FLAGS usage = CKF_DIGEST | CKF_SIGN | CKF_VERIFY | CKF_ENCRYPT | CKF_DECRYPT |
			       CKF_DERIVE | CKF_GENERATE | CKF_GENERATE_KEY_PAIR | CKF_WRAP | CKF_UNWRAP;

	OK(p11->C_GetMechanismList(slot, NULL, &n));
	ck_assert_uint_eq(n, ARRAY_LEN(covered));
	n = 3;
	CK(CKR_BUFFER_TOO_SMALL, p11->C_GetMechanismList(slot, list, &n));
	ck_assert_uint_eq(n, ARRAY_LEN(covered));
	n = ARRAY_LEN(list);
	OK(p11->C_GetMechanismList(slot, list, &n));
	CK(CKR_SLOT_ID_INVALID, p11->C_GetMechanismList(slot + 99, NULL, &n));
	CK(CKR_ARGUMENTS_BAD, p11->C_GetMechanismList(slot, NULL, NULL));
	/* The free slot offers the same. */
	OK(p11->C_GetMechanismList(tu_find_slot(NULL), NULL, &n));
	ck_assert_uint_eq(n, ARRAY_LEN(covered));
	/* Every offered mechanism is one this suite tests, and the other way round. */
	for (size_t i = 0; i < ARRAY_LEN(covered); i++) {
		bool listed = false;
		for (CK_ULONG j = 0; j < n; j++)
			listed = listed || list[j] == covered[i];
		ck_assert_msg(listed, "mechanism 0x%lx not offered", covered[i]);
	}
	for (CK_ULONG j = 0; j < n; j++) {
		CK_MECHANISM_TYPE m = list[j];
		OK(p11->C_GetMechanismInfo(slot, m, &info));
		ck_assert_msg((info.flags & usage) == expected_mech_flags(m), "mechanism 0x%lx flags 0x%lx",
			      m, info.flags);
		ck_assert(!has_flag(info.flags, CKF_HW));
		ck_assert_uint_le(info.ulMinKeySize, info.ulMaxKeySize);
		switch (m) {
		case CKM_EC_KEY_PAIR_GEN: case CKM_ECDSA: case CKM_ECDSA_SHA1: case CKM_ECDSA_SHA256:
		case CKM_ECDSA_SHA384: case CKM_ECDH1_DERIVE:
			ck_assert_uint_eq(info.ulMinKeySize, 256);
			ck_assert_uint_eq(info.ulMaxKeySize, 384);
			ck_assert(has_flag(info.flags, CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS));
			break;
		case CKM_EC_EDWARDS_KEY_PAIR_GEN: case CKM_EDDSA:
			ck_assert(info.ulMinKeySize >= 255 && info.ulMaxKeySize <= 256);
			break;
		case CKM_RSA_PKCS_KEY_PAIR_GEN: case CKM_RSA_PKCS: case CKM_SHA256_RSA_PKCS:
		case CKM_RSA_PKCS_PSS: case CKM_SHA256_RSA_PKCS_PSS: case CKM_RSA_PKCS_OAEP:
			ck_assert_uint_eq(info.ulMinKeySize, 2048);
			ck_assert_uint_eq(info.ulMaxKeySize, 4096);
			break;
		case CKM_GENERIC_SECRET_KEY_GEN:
			ck_assert_uint_ge(info.ulMinKeySize, 1);
			break;
		default:
			break;
		}
	}
	CK(CKR_MECHANISM_INVALID, p11->C_GetMechanismInfo(slot, CKM_MD5, &info));
	CK(CKR_MECHANISM_INVALID, p11->C_GetMechanismInfo(slot, CKM_DES_CBC, &info));
	CK(CKR_SLOT_ID_INVALID, p11->C_GetMechanismInfo(slot + 99, CKM_SHA256, &info));
	CK(CKR_ARGUMENTS_BAD, p11->C_GetMechanismInfo(slot, CKM_SHA256, NULL));
}
END_TEST

/* Both directions for one signature mechanism: the token signs and OpenSSL
 * verifies with the token's public key; OpenSSL signs with its own key,
 * imported into the token as a public key object, and the token verifies.
 * Multi-part too when the mechanism hashes. */
static void both_ways(CK_SESSION_HANDLE s, CK_MECHANISM *m, const alg_t *a, CK_OBJECT_HANDLE priv,
		      EVP_PKEY *token_pub, CK_OBJECT_HANDLE ossl_pub_obj, EVP_PKEY *ossl_key,
		      const unsigned char *data, size_t len)
{
	unsigned char sig[600], sig2[600];
	size_t n, n2;
	bool multi = a->md != NULL;

	n = token_sign(s, m, priv, data, len, sig, sizeof(sig));
	ck_assert_msg(ossl_verify(a, token_pub, data, len, sig, n), "mechanism 0x%lx: token signature", m->mechanism);
	sig[n / 2] ^= 0x10;
	ck_assert(!ossl_verify(a, token_pub, data, len, sig, n));
	if (multi) {
		n = token_sign_multi(s, m, priv, data, len, sig, sizeof(sig));
		ck_assert_msg(ossl_verify(a, token_pub, data, len, sig, n), "mechanism 0x%lx: multi-part",
			      m->mechanism);
	}
	n2 = ossl_sign(a, ossl_key, data, len, sig2, sizeof(sig2));
	CK(CKR_OK, token_verify(s, m, ossl_pub_obj, data, len, sig2, n2));
	if (multi)
		CK(CKR_OK, token_verify_multi(s, m, ossl_pub_obj, data, len, sig2, n2));
	sig2[1] ^= 0x01;
	CK(CKR_SIGNATURE_INVALID, token_verify(s, m, ossl_pub_obj, data, len, sig2, n2));
	if (multi)
		CK(CKR_SIGNATURE_INVALID, token_verify_multi(s, m, ossl_pub_obj, data, len, sig2, n2));
}

START_TEST(test_ecdsa)
{
	const char *group = _i == 0 ? "P-256" : "P-384";
	const CK_BYTE *oid = _i == 0 ? tu_oid_p256 : tu_oid_p384;
	size_t oid_len = _i == 0 ? sizeof(tu_oid_p256) : sizeof(tu_oid_p384);
	size_t order = _i == 0 ? 32 : 48;
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_OBJECT_HANDLE pub, priv, ossl_pub, ossl_priv;
	EVP_PKEY *tpk, *ok;
	unsigned char hash[64], sig[96];
	size_t hlen, n;
	static const struct {
		CK_MECHANISM_TYPE mech;
		const char *md;
	} mechs[] = {
		{ CKM_ECDSA, NULL }, { CKM_ECDSA_SHA1, "SHA1" },
		{ CKM_ECDSA_SHA256, "SHA256" }, { CKM_ECDSA_SHA384, "SHA384" },
	};

	tu_gen_ec(s, oid, oid_len, &pub, &priv);
	tpk = tu_export_public(s, pub);
	ck_assert_int_eq(EVP_PKEY_get_bits(tpk), (int)(order * 8));
	ok = tu_ossl_ec(group);
	OK(tu_import_public(s, ok, NULL, 0, &ossl_pub));
	for (size_t i = 0; i < ARRAY_LEN(mechs); i++) {
		CK_MECHANISM m = { mechs[i].mech, NULL, 0 };
		alg_t a = { mechs[i].mech, mechs[i].md, 0, NULL, order, false };
		if (mechs[i].md == NULL) {
			/* Raw ECDSA signs a hash given by the caller, of any size. */
			sha(order == 32 ? "SHA256" : "SHA384", msg, sizeof(msg), hash, &hlen);
			both_ways(s, &m, &a, priv, tpk, ossl_pub, ok, hash, hlen);
			sha("SHA1", msg, sizeof(msg), hash, &hlen);
			both_ways(s, &m, &a, priv, tpk, ossl_pub, ok, hash, hlen);
		} else {
			both_ways(s, &m, &a, priv, tpk, ossl_pub, ok, msg, sizeof(msg));
		}
		n = token_sign(s, &m, priv, msg, 20, sig, sizeof(sig));
		ck_assert_uint_eq(n, 2 * order);
	}
	/* An imported private key signs what OpenSSL's key verifies. */
	{
		CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
		alg_t a = { CKM_ECDSA_SHA256, "SHA256", 0, NULL, order, false };
		OK(tu_import_private(s, ok, NULL, 0, &ossl_priv));
		n = token_sign(s, &m, ossl_priv, msg, sizeof(msg), sig, sizeof(sig));
		ck_assert(ossl_verify(&a, ok, msg, sizeof(msg), sig, n));
		/* And the token verifies its own signature with its own public key. */
		n = token_sign(s, &m, priv, msg, sizeof(msg), sig, sizeof(sig));
		OK(token_verify(s, &m, pub, msg, sizeof(msg), sig, n));
		CK(CKR_SIGNATURE_INVALID, token_verify(s, &m, pub, msg, sizeof(msg) - 1, sig, n));
	}
	EVP_PKEY_free(tpk);
	EVP_PKEY_free(ok);
}
END_TEST

START_TEST(test_eddsa)
{
	const CK_BYTE *params = _i == 0 ? tu_oid_ed25519 : tu_name_ed25519;
	size_t params_len = _i == 0 ? sizeof(tu_oid_ed25519) : sizeof(tu_name_ed25519);
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_OBJECT_HANDLE pub, priv, ossl_pub, ossl_priv;
	CK_MECHANISM m = { CKM_EDDSA, NULL, 0 };
	alg_t a = { CKM_EDDSA, NULL, 0, NULL, 0, true };
	EVP_PKEY *tpk, *ok;
	unsigned char sig[64];
	size_t n;

	OK(tu_gen_ec_rv(s, CKM_EC_EDWARDS_KEY_PAIR_GEN, params, params_len, NULL, 0, NULL, 0, &pub, &priv));
	assert_value(s, pub, CKA_EC_PARAMS, params, params_len);
	tpk = tu_export_public(s, pub);
	ok = tu_ossl_ed25519();
	OK(tu_import_public(s, ok, NULL, 0, &ossl_pub));
	both_ways(s, &m, &a, priv, tpk, ossl_pub, ok, msg, sizeof(msg));
	both_ways(s, &m, &a, priv, tpk, ossl_pub, ok, msg, 0); /* the empty message */
	n = token_sign(s, &m, priv, msg, sizeof(msg), sig, sizeof(sig));
	ck_assert_uint_eq(n, 64);
	OK(token_verify(s, &m, pub, msg, sizeof(msg), sig, n));
	/* Multi-part EdDSA (buffered): the same deterministic signature, and
	 * it verifies multi-part too. */
	{
		unsigned char multi[64];
		size_t mn = token_sign_multi(s, &m, priv, msg, sizeof(msg), multi, sizeof(multi));

		ck_assert_uint_eq(mn, 64);
		ck_assert_mem_eq(multi, sig, 64);
		OK(token_verify_multi(s, &m, pub, msg, sizeof(msg), sig, n));
		multi[0] ^= 1;
		CK(CKR_SIGNATURE_INVALID, token_verify_multi(s, &m, pub, msg, sizeof(msg), multi, n));
	}
	/* An imported Ed25519 private key. */
	OK(tu_import_private(s, ok, NULL, 0, &ossl_priv));
	n = token_sign(s, &m, ossl_priv, msg, sizeof(msg), sig, sizeof(sig));
	ck_assert(ossl_verify(&a, ok, msg, sizeof(msg), sig, n));
	/* Ed25519 params with the EC mechanism, and the reverse, are refused. */
	NOT_OK(tu_gen_ec_rv(s, CKM_EC_KEY_PAIR_GEN, params, params_len, NULL, 0, NULL, 0, &pub, &priv));
	NOT_OK(tu_gen_ec_rv(s, CKM_EC_EDWARDS_KEY_PAIR_GEN, tu_oid_p256, sizeof(tu_oid_p256), NULL, 0,
			    NULL, 0, &pub, &priv));
	EVP_PKEY_free(tpk);
	EVP_PKEY_free(ok);
}
END_TEST

START_TEST(test_rsa_sign)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_OBJECT_HANDLE pub, priv, ossl_pub, ossl_priv, bad;
	CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
	CK_RSA_PKCS_PSS_PARAMS pss384 = { CKM_SHA384, CKG_MGF1_SHA384, 48 };
	unsigned char hash[32], digest_info[51], sig[256], big[300];
	size_t hlen, n;
	CK_ULONG len;
	EVP_PKEY *tpk, *ok;
	CK_ATTRIBUTE q = { CKA_PRIVATE_EXPONENT, NULL, 0 };
	static const unsigned char sha256_prefix[19] = {
		0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
		0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
	};

	CK(CKR_ATTRIBUTE_VALUE_INVALID, tu_gen_rsa_rv(s, 1024, NULL, 0, &bad, &bad));
	tu_gen_rsa(s, 2048, &pub, &priv);
	ck_assert_uint_eq(tu_get_ulong(s, pub, CKA_MODULUS_BITS), 2048);
	assert_value(s, pub, CKA_PUBLIC_EXPONENT, "\x01\x00\x01", 3);
	CK(CKR_ATTRIBUTE_SENSITIVE, p11->C_GetAttributeValue(s, priv, &q, 1));
	ck_assert_uint_eq(tu_get_ulong(s, priv, CKA_KEY_GEN_MECHANISM), CKM_RSA_PKCS_KEY_PAIR_GEN);
	tpk = tu_export_public(s, pub);
	ck_assert_int_eq(EVP_PKEY_get_bits(tpk), 2048);
	ok = tu_ossl_rsa(2048);
	OK(tu_import_public(s, ok, NULL, 0, &ossl_pub));
	ck_assert_uint_eq(tu_get_ulong(s, ossl_pub, CKA_MODULUS_BITS), 2048);
	OK(tu_import_private(s, ok, NULL, 0, &ossl_priv));

	sha("SHA256", msg, sizeof(msg), hash, &hlen);
	memcpy(digest_info, sha256_prefix, sizeof(sha256_prefix));
	memcpy(digest_info + sizeof(sha256_prefix), hash, 32);
	{
		CK_MECHANISM m = { CKM_RSA_PKCS, NULL, 0 };
		alg_t a = { CKM_RSA_PKCS, NULL, RSA_PKCS1_PADDING, NULL, 0, false };
		both_ways(s, &m, &a, priv, tpk, ossl_pub, ok, digest_info, sizeof(digest_info));
		/* At most k - 11 bytes; too long ends the operation. */
		memset(big, 0x5a, sizeof(big));
		n = token_sign(s, &m, priv, big, 245, sig, sizeof(sig));
		ck_assert(ossl_verify(&a, tpk, big, 245, sig, n));
		OK(p11->C_SignInit(s, &m, priv));
		len = sizeof(sig);
		CK(CKR_DATA_LEN_RANGE, p11->C_Sign(s, big, 246, sig, &len));
		len = sizeof(sig);
		CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_Sign(s, big, 10, sig, &len));
	}
	{
		CK_MECHANISM m = { CKM_SHA256_RSA_PKCS, NULL, 0 };
		alg_t a = { CKM_SHA256_RSA_PKCS, "SHA256", RSA_PKCS1_PADDING, NULL, 0, false };
		alg_t raw = { CKM_RSA_PKCS, NULL, RSA_PKCS1_PADDING, NULL, 0, false };
		both_ways(s, &m, &a, priv, tpk, ossl_pub, ok, msg, sizeof(msg));
		/* The same as CKM_RSA_PKCS over the DigestInfo. */
		n = token_sign(s, &m, priv, msg, sizeof(msg), sig, sizeof(sig));
		ck_assert(ossl_verify(&raw, tpk, digest_info, sizeof(digest_info), sig, n));
	}
	{
		CK_MECHANISM m = { CKM_RSA_PKCS_PSS, &pss, sizeof(pss) };
		alg_t a = { CKM_RSA_PKCS_PSS, NULL, RSA_PKCS1_PSS_PADDING, "SHA256", 0, false };
		both_ways(s, &m, &a, priv, tpk, ossl_pub, ok, hash, 32);
		/* The input is the hash: another length is refused. */
		OK(p11->C_SignInit(s, &m, priv));
		len = sizeof(sig);
		NOT_OK(p11->C_Sign(s, hash, 20, sig, &len));
		m.ulParameterLen = 0;
		m.pParameter = NULL;
		CK(CKR_MECHANISM_PARAM_INVALID, p11->C_SignInit(s, &m, priv));
	}
	{
		CK_MECHANISM m = { CKM_SHA256_RSA_PKCS_PSS, &pss, sizeof(pss) };
		alg_t a = { CKM_SHA256_RSA_PKCS_PSS, "SHA256", RSA_PKCS1_PSS_PADDING, NULL, 0, false };
		both_ways(s, &m, &a, priv, tpk, ossl_pub, ok, msg, sizeof(msg));
		n = token_sign(s, &m, ossl_priv, msg, sizeof(msg), sig, sizeof(sig));
		ck_assert(ossl_verify(&a, ok, msg, sizeof(msg), sig, n));
		m.pParameter = &pss384; /* hash must match the mechanism's */
		CK(CKR_MECHANISM_PARAM_INVALID, p11->C_SignInit(s, &m, priv));
	}
	{
		CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
		CK(CKR_KEY_TYPE_INCONSISTENT, p11->C_SignInit(s, &m, priv));
	}
	EVP_PKEY_free(tpk);
	EVP_PKEY_free(ok);
}
END_TEST

static void ossl_encrypt(EVP_PKEY *k, int padding, const char *md, const char *label,
			 const unsigned char *in, size_t in_len, unsigned char *out, size_t *out_len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);

	ck_assert_int_eq(EVP_PKEY_encrypt_init(ctx), 1);
	ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_padding(ctx, padding), 1);
	if (padding == RSA_PKCS1_OAEP_PADDING) {
		ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_get_digestbyname(md)), 1);
		ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_get_digestbyname(md)), 1);
		if (label != NULL)
			ck_assert_int_gt(EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, OPENSSL_strdup(label),
									  (int)strlen(label)), 0);
	}
	ck_assert_int_eq(EVP_PKEY_encrypt(ctx, out, out_len, in, in_len), 1);
	EVP_PKEY_CTX_free(ctx);
}

static CK_RV token_decrypt(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE key,
			   const unsigned char *in, size_t in_len, unsigned char *out, CK_ULONG *out_len)
{
	CK_ULONG need = 0;

	OK(p11->C_DecryptInit(s, m, key));
	OK(p11->C_Decrypt(s, (CK_BYTE_PTR)in, in_len, NULL, &need));
	ck_assert_uint_ge(need, 1);
	ck_assert_uint_le(need, *out_len);
	return p11->C_Decrypt(s, (CK_BYTE_PTR)in, in_len, out, out_len);
}

START_TEST(test_rsa_encrypt)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_OBJECT_HANDLE pub, priv;
	EVP_PKEY *tpk;
	CK_RSA_PKCS_OAEP_PARAMS oaep = { CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0 };
	CK_RSA_PKCS_OAEP_PARAMS oaep_label = { CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED,
					       (void *)"batch-7", 7 };
	CK_MECHANISM m_oaep = { CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep) };
	CK_MECHANISM m_label = { CKM_RSA_PKCS_OAEP, &oaep_label, sizeof(oaep_label) };
	CK_MECHANISM m_pkcs = { CKM_RSA_PKCS, NULL, 0 };
	static const unsigned char secret[] = "a session key for the sealed batch";
	unsigned char ct[256], pt[256], big[200];
	size_t ct_len;
	CK_ULONG pt_len, len;

	tu_gen_rsa(s, 2048, &pub, &priv);
	tpk = tu_export_public(s, pub);

	ct_len = sizeof(ct);
	ossl_encrypt(tpk, RSA_PKCS1_OAEP_PADDING, "SHA256", NULL, secret, sizeof(secret), ct, &ct_len);
	pt_len = sizeof(pt);
	OK(token_decrypt(s, &m_oaep, priv, ct, ct_len, pt, &pt_len));
	ck_assert_uint_eq(pt_len, sizeof(secret));
	ck_assert(memcmp(pt, secret, sizeof(secret)) == 0);
	/* Too small a buffer: CKR_BUFFER_TOO_SMALL and the operation goes on. */
	OK(p11->C_DecryptInit(s, &m_oaep, priv));
	len = 4;
	CK(CKR_BUFFER_TOO_SMALL, p11->C_Decrypt(s, ct, ct_len, pt, &len));
	ck_assert_uint_ge(len, sizeof(secret));
	len = sizeof(pt);
	OK(p11->C_Decrypt(s, ct, ct_len, pt, &len));
	ck_assert_uint_eq(len, sizeof(secret));
	CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_Decrypt(s, ct, ct_len, pt, &len));
	/* Tampered ciphertext. */
	ct[100] ^= 0x40;
	pt_len = sizeof(pt);
	NOT_OK(token_decrypt(s, &m_oaep, priv, ct, ct_len, pt, &pt_len));

	/* With a label (and SHA-1); the wrong label fails. */
	ct_len = sizeof(ct);
	ossl_encrypt(tpk, RSA_PKCS1_OAEP_PADDING, "SHA1", "batch-7", secret, sizeof(secret), ct, &ct_len);
	pt_len = sizeof(pt);
	OK(token_decrypt(s, &m_label, priv, ct, ct_len, pt, &pt_len));
	ck_assert(pt_len == sizeof(secret) && memcmp(pt, secret, pt_len) == 0);
	oaep_label.pSourceData = (void *)"batch-8";
	pt_len = sizeof(pt);
	NOT_OK(token_decrypt(s, &m_label, priv, ct, ct_len, pt, &pt_len));

	/* PKCS#1 v1.5. */
	ct_len = sizeof(ct);
	ossl_encrypt(tpk, RSA_PKCS1_PADDING, NULL, NULL, secret, sizeof(secret), ct, &ct_len);
	pt_len = sizeof(pt);
	OK(token_decrypt(s, &m_pkcs, priv, ct, ct_len, pt, &pt_len));
	ck_assert(pt_len == sizeof(secret) && memcmp(pt, secret, pt_len) == 0);

	/* The token encrypts with the public key object; it decrypts again. */
	OK(p11->C_EncryptInit(s, &m_oaep, pub));
	len = 0;
	OK(p11->C_Encrypt(s, (CK_BYTE_PTR)secret, sizeof(secret), NULL, &len));
	ck_assert_uint_eq(len, 256);
	len = sizeof(ct);
	OK(p11->C_Encrypt(s, (CK_BYTE_PTR)secret, sizeof(secret), ct, &len));
	ck_assert_uint_eq(len, 256);
	pt_len = sizeof(pt);
	OK(token_decrypt(s, &m_oaep, priv, ct, len, pt, &pt_len));
	ck_assert(pt_len == sizeof(secret) && memcmp(pt, secret, pt_len) == 0);
	/* OAEP-SHA256 holds at most 256 - 66 bytes. */
	memset(big, 1, sizeof(big));
	OK(p11->C_EncryptInit(s, &m_oaep, pub));
	len = sizeof(ct);
	CK(CKR_DATA_LEN_RANGE, p11->C_Encrypt(s, big, 191, ct, &len));
	OK(p11->C_EncryptInit(s, &m_oaep, pub));
	len = sizeof(ct);
	OK(p11->C_Encrypt(s, big, 190, ct, &len));
	/* A private key does not encrypt. */
	NOT_OK(p11->C_EncryptInit(s, &m_oaep, priv));
	EVP_PKEY_free(tpk);
}
END_TEST

START_TEST(test_digest)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_open(slot, 0); /* no login needed */
	static const struct {
		CK_MECHANISM_TYPE mech;
		const char *name;
		size_t len;
	} d[] = { { CKM_SHA256, "SHA256", 32 }, { CKM_SHA384, "SHA384", 48 } };
	unsigned char want[64], got[64];
	size_t wlen;
	CK_ULONG len;

	for (size_t i = 0; i < ARRAY_LEN(d); i++) {
		CK_MECHANISM m = { d[i].mech, NULL, 0 };

		sha(d[i].name, msg, sizeof(msg), want, &wlen);
		ck_assert_uint_eq(wlen, d[i].len);
		OK(p11->C_DigestInit(s, &m));
		CK(CKR_OPERATION_ACTIVE, p11->C_DigestInit(s, &m));
		len = 0;
		OK(p11->C_Digest(s, (CK_BYTE_PTR)msg, sizeof(msg), NULL, &len));
		ck_assert_uint_eq(len, d[i].len);
		len = 8;
		CK(CKR_BUFFER_TOO_SMALL, p11->C_Digest(s, (CK_BYTE_PTR)msg, sizeof(msg), got, &len));
		ck_assert_uint_eq(len, d[i].len);
		len = sizeof(got);
		OK(p11->C_Digest(s, (CK_BYTE_PTR)msg, sizeof(msg), got, &len));
		ck_assert_uint_eq(len, d[i].len);
		ck_assert(memcmp(got, want, wlen) == 0);
		CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_Digest(s, (CK_BYTE_PTR)msg, sizeof(msg), got, &len));

		/* Multi-part; a one-shot call in the middle is refused and ends
		 * the operation (v3.0 5.12.2). */
		OK(p11->C_DigestInit(s, &m));
		OK(p11->C_DigestUpdate(s, (CK_BYTE_PTR)msg, 10));
		len = sizeof(got);
		CK(CKR_OPERATION_ACTIVE, p11->C_Digest(s, (CK_BYTE_PTR)msg, sizeof(msg), got, &len));
		CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_DigestUpdate(s, (CK_BYTE_PTR)msg + 10, 0));
		OK(p11->C_DigestInit(s, &m));
		OK(p11->C_DigestUpdate(s, (CK_BYTE_PTR)msg, 10));
		OK(p11->C_DigestUpdate(s, (CK_BYTE_PTR)msg + 10, 0));
		OK(p11->C_DigestUpdate(s, (CK_BYTE_PTR)msg + 10, sizeof(msg) - 10));
		len = 1;
		CK(CKR_BUFFER_TOO_SMALL, p11->C_DigestFinal(s, got, &len));
		len = sizeof(got);
		OK(p11->C_DigestFinal(s, got, &len));
		ck_assert_uint_eq(len, d[i].len);
		ck_assert(memcmp(got, want, wlen) == 0);
		CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_DigestFinal(s, got, &len));

		/* The empty input. */
		sha(d[i].name, msg, 0, want, &wlen);
		OK(p11->C_DigestInit(s, &m));
		len = sizeof(got);
		OK(p11->C_Digest(s, NULL, 0, got, &len));
		ck_assert(len == wlen && memcmp(got, want, wlen) == 0);
	}
	{
		CK_MECHANISM bad = { CKM_ECDSA, NULL, 0 };
		NOT_OK(p11->C_DigestInit(s, &bad));
		CK(CKR_ARGUMENTS_BAD, p11->C_DigestInit(s, NULL));
	}
}
END_TEST

/* OpenSSL's ECDH of (priv, peer), with the X9.63 KDF when md is given. */
static size_t ossl_derive(EVP_PKEY *priv, EVP_PKEY *peer, const char *md, const char *ukm,
			  size_t out_len, unsigned char *out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(priv, NULL);
	size_t n = out_len;

	ck_assert_int_eq(EVP_PKEY_derive_init(ctx), 1);
	ck_assert_int_eq(EVP_PKEY_derive_set_peer(ctx, peer), 1);
	if (md != NULL) {
		ck_assert_int_eq(EVP_PKEY_CTX_set_ecdh_kdf_type(ctx, EVP_PKEY_ECDH_KDF_X9_63), 1);
		ck_assert_int_eq(EVP_PKEY_CTX_set_ecdh_kdf_md(ctx, EVP_get_digestbyname(md)), 1);
		ck_assert_int_eq(EVP_PKEY_CTX_set_ecdh_kdf_outlen(ctx, (int)out_len), 1);
		ck_assert_int_eq(EVP_PKEY_CTX_set0_ecdh_kdf_ukm(ctx, (unsigned char *)OPENSSL_strdup(ukm),
								(int)strlen(ukm)), 1);
	}
	ck_assert_int_eq(EVP_PKEY_derive(ctx, out, &n), 1);
	EVP_PKEY_CTX_free(ctx);
	return n;
}

START_TEST(test_ecdh)
{
	const char *group = _i == 0 ? "P-256" : "P-384";
	const CK_BYTE *oid = _i == 0 ? tu_oid_p256 : tu_oid_p384;
	size_t oid_len = _i == 0 ? sizeof(tu_oid_p256) : sizeof(tu_oid_p384);
	size_t field = _i == 0 ? 32 : 48;
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_OBJECT_HANDLE pub, priv, key, nopub, nopriv;
	EVP_PKEY *peer = tu_ossl_ec(group), *other = tu_ossl_ec(_i == 0 ? "P-384" : "P-256"), *tpk;
	unsigned char point_der[133], other_der[133], want[64];
	size_t point_len = tu_ec_point_der(peer, point_der, sizeof(point_der));
	size_t other_len = tu_ec_point_der(other, other_der, sizeof(other_der));
	CK_ECDH1_DERIVE_PARAMS p = { CKD_NULL, 0, NULL, (CK_ULONG)(point_len - 2), point_der + 2 };
	CK_MECHANISM m = { CKM_ECDH1_DERIVE, &p, sizeof(p) };
	CK_KEY_TYPE generic = CKK_GENERIC_SECRET;
	CK_ULONG want_len = 32;
	CK_ATTRIBUTE open_t[] = {
		ATTR_VAR(CKA_CLASS, class_secret), ATTR_VAR(CKA_KEY_TYPE, generic),
		ATTR_VAR(CKA_SENSITIVE, no), ATTR_VAR(CKA_EXTRACTABLE, yes),
		ATTR_VAR(CKA_VALUE_LEN, want_len),
	};
	CK_ATTRIBUTE q = { CKA_VALUE, NULL, 0 };
	size_t n;

	tu_gen_ec(s, oid, oid_len, &pub, &priv);
	tpk = tu_export_public(s, pub);
	n = ossl_derive(peer, tpk, NULL, NULL, sizeof(want), want);
	ck_assert_uint_eq(n, field);

	/* Raw point. */
	OK(p11->C_DeriveKey(s, &m, priv, open_t, 4, &key));
	assert_value(s, key, CKA_VALUE, want, field);
	ck_assert_uint_eq(tu_get_ulong(s, key, CKA_VALUE_LEN), field);
	ck_assert_uint_eq(tu_get_ulong(s, key, CKA_CLASS), CKO_SECRET_KEY);
	ck_assert(!tu_get_bool(s, key, CKA_LOCAL));
	ck_assert(!tu_get_bool(s, key, CKA_ALWAYS_SENSITIVE));
	/* The point as a DER OCTET STRING. */
	p.pPublicData = point_der;
	p.ulPublicDataLen = point_len;
	OK(p11->C_DeriveKey(s, &m, priv, open_t, 4, &key));
	assert_value(s, key, CKA_VALUE, want, field);
	/* The X9.63 KDF with SHA-256 and shared data. */
	p.kdf = CKD_SHA256_KDF;
	p.pSharedData = (CK_BYTE_PTR) "offpass ecdh";
	p.ulSharedDataLen = 12;
	n = ossl_derive(peer, tpk, "SHA256", "offpass ecdh", 32, want);
	OK(p11->C_DeriveKey(s, &m, priv, open_t, 5, &key));
	assert_value(s, key, CKA_VALUE, want, n);
	/* By default the derived key is sensitive, as its base was. */
	p.kdf = CKD_NULL;
	p.pSharedData = NULL;
	p.ulSharedDataLen = 0;
	OK(p11->C_DeriveKey(s, &m, priv, open_t, 2, &key));
	CK(CKR_ATTRIBUTE_SENSITIVE, p11->C_GetAttributeValue(s, key, &q, 1));
	ck_assert(tu_get_bool(s, key, CKA_ALWAYS_SENSITIVE));
	ck_assert(tu_get_bool(s, key, CKA_NEVER_EXTRACTABLE));

	/* Refusals: a point of another curve, a point off the curve, no params,
	 * a key without CKA_DERIVE. */
	p.pPublicData = other_der;
	p.ulPublicDataLen = other_len;
	NOT_OK(p11->C_DeriveKey(s, &m, priv, open_t, 4, &key));
	memcpy(other_der, point_der, point_len);
	other_der[point_len - 1] ^= 1;
	p.ulPublicDataLen = point_len;
	NOT_OK(p11->C_DeriveKey(s, &m, priv, open_t, 4, &key));
	m.pParameter = NULL;
	m.ulParameterLen = 0;
	CK(CKR_MECHANISM_PARAM_INVALID, p11->C_DeriveKey(s, &m, priv, open_t, 4, &key));
	m.pParameter = &p;
	m.ulParameterLen = sizeof(p);
	p.pPublicData = point_der;
	OK(tu_gen_ec_rv(s, CKM_EC_KEY_PAIR_GEN, oid, oid_len, NULL, 0, NULL, 0, &nopub, &nopriv));
	CK(CKR_KEY_FUNCTION_NOT_PERMITTED, p11->C_DeriveKey(s, &m, nopriv, open_t, 4, &key));
	EVP_PKEY_free(peer);
	EVP_PKEY_free(other);
	EVP_PKEY_free(tpk);
}
END_TEST

START_TEST(test_generic_secret)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_MECHANISM m = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
	CK_ULONG len32 = 32, len0 = 0, len_big = 513;
	CK_ATTRIBUTE open_t[] = {
		ATTR_VAR(CKA_VALUE_LEN, len32), ATTR_VAR(CKA_SENSITIVE, no), ATTR_VAR(CKA_EXTRACTABLE, yes),
	};
	CK_ATTRIBUTE zero[] = { ATTR_VAR(CKA_VALUE_LEN, len0) };
	CK_ATTRIBUTE too_big[] = { ATTR_VAR(CKA_VALUE_LEN, len_big) };
	CK_ATTRIBUTE q = { CKA_VALUE, NULL, 0 };
	CK_OBJECT_HANDLE a, b, c;
	unsigned char *va, *vb;
	CK_ULONG la, lb;

	OK(p11->C_GenerateKey(s, &m, open_t, 3, &a));
	OK(p11->C_GenerateKey(s, &m, open_t, 3, &b));
	ck_assert_uint_eq(tu_get_ulong(s, a, CKA_CLASS), CKO_SECRET_KEY);
	ck_assert_uint_eq(tu_get_ulong(s, a, CKA_KEY_TYPE), CKK_GENERIC_SECRET);
	ck_assert_uint_eq(tu_get_ulong(s, a, CKA_VALUE_LEN), 32);
	ck_assert_uint_eq(tu_get_ulong(s, a, CKA_KEY_GEN_MECHANISM), CKM_GENERIC_SECRET_KEY_GEN);
	ck_assert(tu_get_bool(s, a, CKA_LOCAL));
	ck_assert(!tu_get_bool(s, a, CKA_ALWAYS_SENSITIVE));
	va = tu_get_bytes(s, a, CKA_VALUE, &la);
	vb = tu_get_bytes(s, b, CKA_VALUE, &lb);
	ck_assert(la == 32 && lb == 32);
	ck_assert(memcmp(va, vb, 32) != 0);
	free(va);
	free(vb);
	/* Default: sensitive from birth. */
	OK(p11->C_GenerateKey(s, &m, open_t, 1, &c));
	CK(CKR_ATTRIBUTE_SENSITIVE, p11->C_GetAttributeValue(s, c, &q, 1));
	ck_assert(tu_get_bool(s, c, CKA_ALWAYS_SENSITIVE));
	ck_assert(tu_get_bool(s, c, CKA_NEVER_EXTRACTABLE));
	ck_assert(tu_get_bool(s, c, CKA_PRIVATE));
	/* Key material is never stored in the clear: a key that is not
	 * private is a template this token cannot honour (v3.0 4.1.1), for
	 * every way a key is made. */
	{
		CK_ATTRIBUTE pub_secret[] = { ATTR_VAR(CKA_VALUE_LEN, len32), ATTR_VAR(CKA_PRIVATE, no) };
		CK_ATTRIBUTE pub_priv[] = { ATTR_VAR(CKA_PRIVATE, no) };
		CK_KEY_TYPE gs = CKK_GENERIC_SECRET;
		CK_ATTRIBUTE imported[] = { ATTR_VAR(CKA_CLASS, class_secret), ATTR_VAR(CKA_KEY_TYPE, gs),
					    ATTR_STR(CKA_VALUE, "0123456789abcdef"), ATTR_VAR(CKA_PRIVATE, no) };
		CK_OBJECT_HANDLE pub, priv;

		CK(CKR_TEMPLATE_INCONSISTENT, p11->C_GenerateKey(s, &m, pub_secret, 2, &c));
		CK(CKR_TEMPLATE_INCONSISTENT, p11->C_CreateObject(s, imported, 4, &c));
		CK(CKR_TEMPLATE_INCONSISTENT, tu_gen_ec_rv(s, CKM_EC_KEY_PAIR_GEN, tu_oid_p256, sizeof(tu_oid_p256),
							   NULL, 0, pub_priv, 1, &pub, &priv));
		CK(CKR_TEMPLATE_INCONSISTENT, p11->C_CopyObject(s, c, pub_priv, 1, &pub));
	}
	/* Bad requests. */
	CK(CKR_TEMPLATE_INCOMPLETE, p11->C_GenerateKey(s, &m, open_t + 1, 2, &c));
	NOT_OK(p11->C_GenerateKey(s, &m, zero, 1, &c));
	NOT_OK(p11->C_GenerateKey(s, &m, too_big, 1, &c));
	m.mechanism = CKM_EC_KEY_PAIR_GEN;
	CK(CKR_MECHANISM_INVALID, p11->C_GenerateKey(s, &m, open_t, 1, &c));
}
END_TEST

/* ---- operation rules --------------------------------------------------------------- */

/* A session with a P-256 pair and its OpenSSL public key. */
typedef struct ec_fixture {
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE pub, priv;
	EVP_PKEY *pk;
} ec_fixture_t;

static void ec_fixture(ec_fixture_t *f, const CK_ATTRIBUTE *extra_priv, CK_ULONG n)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	f->s = tu_user_session(slot);
	OK(tu_gen_ec_rv(f->s, CKM_EC_KEY_PAIR_GEN, tu_oid_p256, sizeof(tu_oid_p256), NULL, 0, extra_priv, n,
			&f->pub, &f->priv));
	f->pk = tu_export_public(f->s, f->pub);
}

static const alg_t ecdsa_sha256 = { CKM_ECDSA_SHA256, "SHA256", 0, NULL, 32, false };

START_TEST(test_sign_size_convention)
{
	ec_fixture_t f;
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	unsigned char sig[128];
	CK_ULONG len;

	ec_fixture(&f, NULL, 0);
	OK(p11->C_SignInit(f.s, &m, f.priv));
	len = 0;
	OK(p11->C_Sign(f.s, (CK_BYTE_PTR)msg, sizeof(msg), NULL, &len));
	ck_assert_uint_eq(len, 64);
	len = 10;
	CK(CKR_BUFFER_TOO_SMALL, p11->C_Sign(f.s, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len));
	ck_assert_uint_eq(len, 64);
	len = 64;
	OK(p11->C_Sign(f.s, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len));
	ck_assert_uint_eq(len, 64);
	ck_assert(ossl_verify(&ecdsa_sha256, f.pk, msg, sizeof(msg), sig, len));
	CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_Sign(f.s, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len));

	/* C_SignFinal the same way. */
	OK(p11->C_SignInit(f.s, &m, f.priv));
	OK(p11->C_SignUpdate(f.s, (CK_BYTE_PTR)msg, sizeof(msg)));
	len = 0;
	OK(p11->C_SignFinal(f.s, NULL, &len));
	ck_assert_uint_eq(len, 64);
	len = 63;
	CK(CKR_BUFFER_TOO_SMALL, p11->C_SignFinal(f.s, sig, &len));
	ck_assert_uint_eq(len, 64);
	len = sizeof(sig);
	OK(p11->C_SignFinal(f.s, sig, &len));
	ck_assert_uint_eq(len, 64);
	ck_assert(ossl_verify(&ecdsa_sha256, f.pk, msg, sizeof(msg), sig, len));
	CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_SignFinal(f.s, sig, &len));
	CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_SignUpdate(f.s, (CK_BYTE_PTR)msg, 1));
	EVP_PKEY_free(f.pk);
}
END_TEST

START_TEST(test_failed_call_ends_operation)
{
	ec_fixture_t f;
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	unsigned char sig[64];
	CK_ULONG len = sizeof(sig);
	size_t n;

	ec_fixture(&f, NULL, 0);
	OK(p11->C_SignInit(f.s, &m, f.priv));
	CK(CKR_ARGUMENTS_BAD, p11->C_Sign(f.s, NULL, 5, sig, &len));
	CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_Sign(f.s, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len));
	OK(p11->C_SignInit(f.s, &m, f.priv)); /* a new one may start */
	CK(CKR_ARGUMENTS_BAD, p11->C_SignUpdate(f.s, NULL, 5));
	CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_SignFinal(f.s, sig, &len));

	n = token_sign(f.s, &m, f.priv, msg, sizeof(msg), sig, sizeof(sig));
	OK(p11->C_VerifyInit(f.s, &m, f.pub));
	sig[5] ^= 1;
	CK(CKR_SIGNATURE_INVALID, p11->C_Verify(f.s, (CK_BYTE_PTR)msg, sizeof(msg), sig, n));
	sig[5] ^= 1;
	CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_Verify(f.s, (CK_BYTE_PTR)msg, sizeof(msg), sig, n));
	OK(p11->C_VerifyInit(f.s, &m, f.pub));
	OK(p11->C_VerifyUpdate(f.s, (CK_BYTE_PTR)msg, 3));
	CK(CKR_SIGNATURE_INVALID, p11->C_VerifyFinal(f.s, sig, n));
	CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_VerifyFinal(f.s, sig, n));
	/* A good verify also ends it. */
	OK(token_verify(f.s, &m, f.pub, msg, sizeof(msg), sig, n));
	CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_Verify(f.s, (CK_BYTE_PTR)msg, sizeof(msg), sig, n));
	EVP_PKEY_free(f.pk);
}
END_TEST

START_TEST(test_no_mixing_and_active)
{
	ec_fixture_t f;
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 }, raw = { CKM_ECDSA, NULL, 0 };
	unsigned char sig[64];
	CK_ULONG len = sizeof(sig);
	size_t n;

	ec_fixture(&f, NULL, 0);
	/* Started multi-part: a one-shot call is refused and, like any failed
	 * call, ends the operation (v3.0 5.13.2: C_Sign always terminates it). */
	OK(p11->C_SignInit(f.s, &m, f.priv));
	OK(p11->C_SignUpdate(f.s, (CK_BYTE_PTR)msg, 10));
	CK(CKR_OPERATION_ACTIVE, p11->C_Sign(f.s, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len));
	CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_SignUpdate(f.s, (CK_BYTE_PTR)msg, 10));
	len = sizeof(sig);
	CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_SignFinal(f.s, sig, &len));
	n = token_sign(f.s, &m, f.priv, msg, sizeof(msg), sig, sizeof(sig));
	OK(p11->C_VerifyInit(f.s, &m, f.pub));
	OK(p11->C_VerifyUpdate(f.s, (CK_BYTE_PTR)msg, 10));
	CK(CKR_OPERATION_ACTIVE, p11->C_Verify(f.s, (CK_BYTE_PTR)msg, sizeof(msg), sig, n));
	CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_VerifyFinal(f.s, sig, n));
	OK(p11->C_VerifyInit(f.s, &m, f.pub));
	OK(p11->C_VerifyUpdate(f.s, (CK_BYTE_PTR)msg, 10));
	OK(p11->C_VerifyUpdate(f.s, (CK_BYTE_PTR)msg + 10, sizeof(msg) - 10));
	OK(p11->C_VerifyFinal(f.s, sig, n));

	/* A single-part size query fixes the operation as single-part: a
	 * C_SignFinal then would sign the empty message, so it is refused and
	 * ends the operation; the same for C_SignUpdate. */
	OK(p11->C_SignInit(f.s, &m, f.priv));
	len = 0;
	OK(p11->C_Sign(f.s, (CK_BYTE_PTR)msg, sizeof(msg), NULL, &len));
	ck_assert_uint_eq(len, 64);
	CK(CKR_OPERATION_ACTIVE, p11->C_SignFinal(f.s, sig, &len));
	CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_Sign(f.s, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len));
	OK(p11->C_SignInit(f.s, &m, f.priv));
	len = 1;
	CK(CKR_BUFFER_TOO_SMALL, p11->C_Sign(f.s, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len));
	CK(CKR_OPERATION_ACTIVE, p11->C_SignUpdate(f.s, (CK_BYTE_PTR)msg, 10));
	CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_SignFinal(f.s, sig, &len));
	/* C_SignInit then C_SignFinal with no update is the empty message,
	 * multi-part: allowed. */
	OK(p11->C_SignInit(f.s, &m, f.priv));
	len = sizeof(sig);
	OK(p11->C_SignFinal(f.s, sig, &len));
	ck_assert(ossl_verify(&ecdsa_sha256, f.pk, (const unsigned char *)"", 0, sig, len));

	/* Digest the same (v3.0 5.12.2). */
	{
		CK_MECHANISM sha = { CKM_SHA256, NULL, 0 };
		unsigned char md[32];
		CK_ULONG md_len = sizeof(md);

		OK(p11->C_DigestInit(f.s, &sha));
		OK(p11->C_DigestUpdate(f.s, (CK_BYTE_PTR)msg, 10));
		CK(CKR_OPERATION_ACTIVE, p11->C_Digest(f.s, (CK_BYTE_PTR)msg, sizeof(msg), md, &md_len));
		CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_DigestFinal(f.s, md, &md_len));
		OK(p11->C_DigestInit(f.s, &sha));
		md_len = 0;
		OK(p11->C_Digest(f.s, (CK_BYTE_PTR)msg, sizeof(msg), NULL, &md_len));
		CK(CKR_OPERATION_ACTIVE, p11->C_DigestUpdate(f.s, (CK_BYTE_PTR)msg, 10));
		CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_DigestFinal(f.s, md, &md_len));
	}

	/* A second C_SignInit is refused and the first operation is kept. */
	OK(p11->C_SignInit(f.s, &m, f.priv));
	CK(CKR_OPERATION_ACTIVE, p11->C_SignInit(f.s, &raw, f.priv));
	/* Sign and verify are separate operations in one session. */
	OK(p11->C_VerifyInit(f.s, &m, f.pub));
	len = sizeof(sig);
	OK(p11->C_Sign(f.s, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len));
	ck_assert(ossl_verify(&ecdsa_sha256, f.pk, msg, sizeof(msg), sig, len)); /* SHA-256, not raw */
	OK(p11->C_Verify(f.s, (CK_BYTE_PTR)msg, sizeof(msg), sig, len));
	EVP_PKEY_free(f.pk);
}
END_TEST

START_TEST(test_key_permissions)
{
	ec_fixture_t f;
	CK_ATTRIBUTE nosign[] = { ATTR_VAR(CKA_SIGN, no) }, noverify[] = { ATTR_VAR(CKA_VERIFY, no) };
	CK_MECHANISM_TYPE allowed_list[] = { CKM_ECDSA_SHA256 };
	CK_ATTRIBUTE allowed[] = { ATTR(CKA_ALLOWED_MECHANISMS, allowed_list, sizeof(allowed_list)) };
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 }, raw = { CKM_ECDSA, NULL, 0 };
	CK_MECHANISM ed = { CKM_EDDSA, NULL, 0 }, sha = { CKM_SHA256, NULL, 0 };
	CK_OBJECT_HANDLE pub, priv, d;
	CK_ULONG size = 0;

	ec_fixture(&f, nosign, 1);
	CK(CKR_KEY_FUNCTION_NOT_PERMITTED, p11->C_SignInit(f.s, &m, f.priv));
	OK(tu_gen_ec_rv(f.s, CKM_EC_KEY_PAIR_GEN, tu_oid_p256, sizeof(tu_oid_p256), noverify, 1, NULL, 0,
			&pub, &priv));
	CK(CKR_KEY_FUNCTION_NOT_PERMITTED, p11->C_VerifyInit(f.s, &m, pub));
	OK(p11->C_SignInit(f.s, &m, priv));
	OK(p11->C_SignFinal(f.s, NULL, &size)); /* a size query: the operation stays */
	CK(CKR_OPERATION_ACTIVE, p11->C_SignInit(f.s, &m, priv));
	f.s = tu_open(tu_find_slot(TU_LABEL), CKF_RW_SESSION);
	CK(CKR_KEY_TYPE_INCONSISTENT, p11->C_SignInit(f.s, &ed, priv));
	CK(CKR_MECHANISM_INVALID, p11->C_SignInit(f.s, &sha, priv));
	CK(CKR_KEY_HANDLE_INVALID, p11->C_SignInit(f.s, &m, priv + 1000));
	CK(CKR_ARGUMENTS_BAD, p11->C_SignInit(f.s, NULL, priv));
	OK(make_data(f.s, false, false, "d", "v", &d));
	CK(CKR_KEY_HANDLE_INVALID, p11->C_SignInit(f.s, &m, d));
	/* CKA_ALLOWED_MECHANISMS. */
	OK(tu_gen_ec_rv(f.s, CKM_EC_KEY_PAIR_GEN, tu_oid_p256, sizeof(tu_oid_p256), NULL, 0, allowed, 1,
			&pub, &priv));
	CK(CKR_MECHANISM_INVALID, p11->C_SignInit(f.s, &raw, priv));
	OK(p11->C_SignInit(f.s, &m, priv));
	EVP_PKEY_free(f.pk);
}
END_TEST

START_TEST(test_bad_signatures)
{
	ec_fixture_t f;
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	unsigned char sig[65], bad[65];
	size_t n;
	CK_RV rv;

	ec_fixture(&f, NULL, 0);
	n = token_sign(f.s, &m, f.priv, msg, sizeof(msg), sig, sizeof(sig));
	OK(token_verify(f.s, &m, f.pub, msg, sizeof(msg), sig, n));
	memcpy(bad, sig, n);
	bad[3] ^= 0x80; /* r */
	CK(CKR_SIGNATURE_INVALID, token_verify(f.s, &m, f.pub, msg, sizeof(msg), bad, n));
	memcpy(bad, sig, n);
	bad[40] ^= 0x01; /* s */
	CK(CKR_SIGNATURE_INVALID, token_verify(f.s, &m, f.pub, msg, sizeof(msg), bad, n));
	memset(bad, 0, sizeof(bad));
	CK(CKR_SIGNATURE_INVALID, token_verify(f.s, &m, f.pub, msg, sizeof(msg), bad, n));
	CK(CKR_SIGNATURE_INVALID, token_verify(f.s, &m, f.pub, (const unsigned char *)"other", 5, sig, n));
	rv = token_verify(f.s, &m, f.pub, msg, sizeof(msg), sig, n - 1);
	ck_assert_msg(rv == CKR_SIGNATURE_LEN_RANGE || rv == CKR_SIGNATURE_INVALID, "rv 0x%lx", rv);
	sig[64] = 0;
	rv = token_verify(f.s, &m, f.pub, msg, sizeof(msg), sig, 65);
	ck_assert_msg(rv == CKR_SIGNATURE_LEN_RANGE || rv == CKR_SIGNATURE_INVALID, "rv 0x%lx", rv);
	EVP_PKEY_free(f.pk);
}
END_TEST

START_TEST(test_always_authenticate)
{
	ec_fixture_t f;
	CK_ATTRIBUTE aa[] = { ATTR_VAR(CKA_ALWAYS_AUTHENTICATE, yes) };
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	CK_OBJECT_HANDLE pub2, priv2;
	unsigned char sig[64];
	CK_ULONG len;

	ec_fixture(&f, aa, 1);
	ck_assert(tu_get_bool(f.s, f.priv, CKA_ALWAYS_AUTHENTICATE));
	tu_gen_ec(f.s, tu_oid_p256, sizeof(tu_oid_p256), &pub2, &priv2);
	/* Without the context-specific login: refused, and the operation ends. */
	OK(p11->C_SignInit(f.s, &m, f.priv));
	len = sizeof(sig);
	CK(CKR_USER_NOT_LOGGED_IN, p11->C_Sign(f.s, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len));
	CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_Sign(f.s, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len));
	/* With it. A wrong PIN is refused; the operation and the session's
	 * login remain. */
	OK(p11->C_SignInit(f.s, &m, f.priv));
	CK(CKR_PIN_INCORRECT, p11->C_Login(f.s, CKU_CONTEXT_SPECIFIC, TU_PIN("wrong-pin")));
	ck_assert_uint_eq(tu_session_state(f.s), CKS_RW_USER_FUNCTIONS);
	{
		CK_ATTRIBUTE by_priv[] = { ATTR_VAR(CKA_CLASS, class_priv) };
		CK_OBJECT_HANDLE found[4];
		ck_assert_uint_eq(tu_find(f.s, by_priv, 1, found, 4), 2); /* still unlocked */
	}
	OK(p11->C_Login(f.s, CKU_CONTEXT_SPECIFIC, TU_PIN(TU_USER_PIN)));
	len = sizeof(sig);
	OK(p11->C_Sign(f.s, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len));
	ck_assert(ossl_verify(&ecdsa_sha256, f.pk, msg, sizeof(msg), sig, len));
	/* Good for one operation only. */
	OK(p11->C_SignInit(f.s, &m, f.priv));
	len = sizeof(sig);
	CK(CKR_USER_NOT_LOGGED_IN, p11->C_Sign(f.s, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len));
	/* Multi-part asks for it too. */
	OK(p11->C_SignInit(f.s, &m, f.priv));
	CK(CKR_USER_NOT_LOGGED_IN, p11->C_SignUpdate(f.s, (CK_BYTE_PTR)msg, sizeof(msg)));
	/* A key without the attribute needs nothing. */
	len = sizeof(sig);
	OK(p11->C_SignInit(f.s, &m, priv2));
	OK(p11->C_Sign(f.s, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len));
	CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_Login(f.s, CKU_CONTEXT_SPECIFIC, TU_PIN(TU_USER_PIN)));
	EVP_PKEY_free(f.pk);
}
END_TEST

START_TEST(test_random)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_open(slot, 0);
	unsigned char a[32], b[32];

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	OK(p11->C_GenerateRandom(s, a, sizeof(a)));
	OK(p11->C_GenerateRandom(s, b, sizeof(b)));
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
	OK(p11->C_GenerateRandom(s, a, 0));
	CK(CKR_ARGUMENTS_BAD, p11->C_GenerateRandom(s, NULL, 8));
	OK(p11->C_SeedRandom(s, a, sizeof(a)));
	CK(CKR_SESSION_HANDLE_INVALID, p11->C_GenerateRandom(s + 1000, a, sizeof(a)));
}
END_TEST

/* ==== threads and fork ======================================================================= */

#define SIGNERS 4
#define SIGNS 200

typedef struct signer {
	pthread_t thread;
	CK_SLOT_ID slot;
	CK_OBJECT_HANDLE key;
	EVP_PKEY *pk;
	int rounds;
	int good;          /* signatures that verified */
	CK_RV first_error; /* the first failing rv, CKR_OK when none */
} signer_t;

static void *signer_main(void *arg)
{
	signer_t *t = arg;
	CK_SESSION_HANDLE s;
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	unsigned char data[64], sig[64];
	CK_ULONG len;
	CK_RV rv = p11->C_OpenSession(t->slot, CKF_SERIAL_SESSION, NULL, NULL, &s);

	for (int i = 0; rv == CKR_OK && i < t->rounds; i++) {
		int n = snprintf((char *)data, sizeof(data), "thread %p message %d", (void *)t, i);
		len = sizeof(sig);
		rv = p11->C_SignInit(s, &m, t->key);
		if (rv == CKR_OK)
			rv = p11->C_Sign(s, data, (CK_ULONG)n, sig, &len);
		if (rv == CKR_OK && ossl_verify(&ecdsa_sha256, t->pk, data, (size_t)n, sig, len))
			t->good++;
	}
	if (rv == CKR_OK)
		rv = p11->C_CloseSession(s);
	t->first_error = rv;
	return NULL;
}

/* Creates, finds, reads and destroys objects while others sign. */
typedef struct churner {
	pthread_t thread;
	CK_SLOT_ID slot;
	int rounds;
	int done;
	CK_RV first_error;
	const char *what;
} churner_t;

static void *churner_main(void *arg)
{
	churner_t *t = arg;
	CK_SESSION_HANDLE s;
	CK_RV rv = p11->C_OpenSession(t->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);

	for (int i = 0; rv == CKR_OK && i < t->rounds; i++) {
		char label[32];
		CK_OBJECT_HANDLE o = 0, found[4];
		CK_ULONG n = 0;
		CK_BBOOL token = (i % 5 == 0) ? CK_TRUE : CK_FALSE;
		CK_ATTRIBUTE tmpl[] = {
			ATTR_VAR(CKA_CLASS, class_data), ATTR_VAR(CKA_TOKEN, token),
			ATTR(CKA_LABEL, label, 0), ATTR_STR(CKA_VALUE, "churn"),
		};
		CK_ATTRIBUTE by_priv[] = { ATTR_VAR(CKA_CLASS, class_priv) };

		tmpl[2].ulValueLen = (CK_ULONG)snprintf(label, sizeof(label), "churn-%d", i);
		t->what = "create";
		rv = p11->C_CreateObject(s, tmpl, ARRAY_LEN(tmpl), &o);
		if (rv == CKR_OK && (t->what = "find", rv = p11->C_FindObjectsInit(s, tmpl + 2, 1)) == CKR_OK) {
			rv = p11->C_FindObjects(s, found, 4, &n);
			CK_RV fin = p11->C_FindObjectsFinal(s);
			if (rv == CKR_OK)
				rv = fin;
			if (rv == CKR_OK && (n != 1 || found[0] != o))
				rv = CKR_GENERAL_ERROR;
		}
		if (rv == CKR_OK && (t->what = "find key", rv = p11->C_FindObjectsInit(s, by_priv, 1)) == CKR_OK) {
			rv = p11->C_FindObjects(s, found, 4, &n);
			CK_RV fin = p11->C_FindObjectsFinal(s);
			if (rv == CKR_OK)
				rv = fin;
			if (rv == CKR_OK && n != 1)
				rv = CKR_GENERAL_ERROR;
		}
		if (rv == CKR_OK) {
			t->what = "destroy";
			rv = p11->C_DestroyObject(s, o);
		}
		if (rv == CKR_OK)
			t->done++;
	}
	if (rv == CKR_OK)
		rv = p11->C_CloseSession(s);
	t->first_error = rv;
	return NULL;
}

static void start_signers(signer_t *t, int count, CK_SLOT_ID slot, CK_OBJECT_HANDLE key, EVP_PKEY *pk,
			  int rounds)
{
	for (int i = 0; i < count; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].slot = slot;
		t[i].key = key;
		t[i].pk = pk;
		t[i].rounds = rounds;
		ck_assert_int_eq(pthread_create(&t[i].thread, NULL, signer_main, &t[i]), 0);
	}
}

static void join_signers(signer_t *t, int count)
{
	for (int i = 0; i < count; i++) {
		ck_assert_int_eq(pthread_join(t[i].thread, NULL), 0);
		ck_assert_msg(t[i].first_error == CKR_OK, "thread %d: rv 0x%lx", i, t[i].first_error);
		ck_assert_int_eq(t[i].good, t[i].rounds);
	}
}

START_TEST(test_threads_sign)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_OBJECT_HANDLE pub, priv;
	EVP_PKEY *pk;
	signer_t t[SIGNERS];

	tu_gen_ec(s, tu_oid_p256, sizeof(tu_oid_p256), &pub, &priv);
	pk = tu_export_public(s, pub);
	start_signers(t, SIGNERS, slot, priv, pk, SIGNS);
	join_signers(t, SIGNERS);
	EVP_PKEY_free(pk);
}
END_TEST

START_TEST(test_threads_mixed)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_OBJECT_HANDLE pub, priv;
	CK_ATTRIBUTE tok[] = { ATTR_VAR(CKA_TOKEN, yes) };
	EVP_PKEY *pk;
	signer_t t[3];
	churner_t c;

	OK(tu_gen_ec_rv(s, CKM_EC_KEY_PAIR_GEN, tu_oid_p256, sizeof(tu_oid_p256), tok, 1, tok, 1, &pub, &priv));
	pk = tu_export_public(s, pub);
	memset(&c, 0, sizeof(c));
	c.slot = slot;
	c.rounds = 40;
	start_signers(t, 3, slot, priv, pk, 150);
	ck_assert_int_eq(pthread_create(&c.thread, NULL, churner_main, &c), 0);
	ck_assert_int_eq(pthread_join(c.thread, NULL), 0);
	join_signers(t, 3);
	ck_assert_msg(c.first_error == CKR_OK, "churner (%s): rv 0x%lx", c.what, c.first_error);
	ck_assert_int_eq(c.done, c.rounds);
	EVP_PKEY_free(pk);
}
END_TEST

/* Signs on its own session until a call fails. */
typedef struct closed_user {
	pthread_t thread;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	int ops;
	CK_RV last;
} closed_user_t;

static void *closed_user_main(void *arg)
{
	closed_user_t *u = arg;
	CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
	unsigned char hash[32] = { 1 }, sig[64];
	CK_ULONG len;
	CK_RV rv;

	do {
		len = sizeof(sig);
		rv = p11->C_SignInit(u->s, &m, u->key);
		if (rv == CKR_OK)
			rv = p11->C_Sign(u->s, hash, sizeof(hash), sig, &len);
		if (rv == CKR_OK)
			u->ops++;
	} while (rv == CKR_OK);
	u->last = rv;
	return NULL;
}

/* Sessions closed (one by one, then all at once) while their threads are
 * inside them: whichever side lets go last frees the session, once (the
 * sanitizer build checks the memory), and the threads see the session go. */
START_TEST(test_threads_close_in_use)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_OBJECT_HANDLE pub, priv;
	CK_ATTRIBUTE tok[] = { ATTR_VAR(CKA_TOKEN, yes), ATTR_STR(CKA_ID, "closing") };
	CK_ATTRIBUTE by_id[] = { ATTR_STR(CKA_ID, "closing"), ATTR_VAR(CKA_CLASS, class_priv) };
	closed_user_t u[2];

	/* A token key: it outlives C_CloseAllSessions and the logout after it. */
	OK(tu_gen_ec_rv(s, CKM_EC_KEY_PAIR_GEN, tu_oid_p256, sizeof(tu_oid_p256), tok, 2, tok, 2, &pub, &priv));
	for (int round = 0; round < 40; round++) {
		bool all = round % 2 == 1;

		for (int i = 0; i < 2; i++) {
			memset(&u[i], 0, sizeof(u[i]));
			u[i].s = tu_open(slot, 0);
			u[i].key = priv;
			ck_assert_int_eq(pthread_create(&u[i].thread, NULL, closed_user_main, &u[i]), 0);
		}
		usleep(100 + 50 * (unsigned)round);
		if (!all) {
			OK(p11->C_CloseSession(u[0].s));
			OK(p11->C_CloseSession(u[1].s));
		} else {
			OK(p11->C_CloseAllSessions(slot));
		}
		for (int i = 0; i < 2; i++) {
			ck_assert_int_eq(pthread_join(u[i].thread, NULL), 0);
			/* A call already inside when the session closed ends it
			 * quietly; the next one finds no session, or no operation
			 * (or, once the last session's close has logged the user
			 * out, no private key). */
			ck_assert_msg(u[i].last == CKR_SESSION_HANDLE_INVALID ||
				      u[i].last == CKR_OPERATION_NOT_INITIALIZED ||
				      (all && u[i].last == CKR_KEY_HANDLE_INVALID),
				      "round %d thread %d: rv 0x%lx", round, i, u[i].last);
			CK(CKR_SESSION_HANDLE_INVALID, p11->C_CloseSession(u[i].s));
		}
		if (all) {
			/* Logged out with the last session: private objects come
			 * back with the next login, under new handles. */
			s = tu_user_session(slot);
			ck_assert_uint_eq(tu_find(s, by_id, 2, &priv, 1), 1);
		}
	}
}
END_TEST

/* The child's inherited state: the parent's session, its login, its
 * operation in progress and its key handles all work without C_Initialize
 * (v3.0 CKF_INTERFACE_FORK_SAFE), and the token store answers and takes
 * writes through the child's own connection. Exit codes, not assertions
 * (Check's assertions belong to the test process). */
static int fork_child_inherited(CK_SESSION_HANDLE ps, CK_OBJECT_HANDLE priv, EVP_PKEY *pk)
{
	CK_INFO info;
	CK_SESSION_INFO si;
	CK_KEY_TYPE kt = 0;
	CK_ATTRIBUTE get_kt[] = { ATTR_VAR(CKA_KEY_TYPE, kt) };
	CK_ATTRIBUTE by_id[] = { ATTR_STR(CKA_ID, "fork-key"), ATTR_VAR(CKA_CLASS, class_priv) };
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	CK_OBJECT_HANDLE found = CK_INVALID_HANDLE, data;
	unsigned char sig[64];
	CK_ULONG len = sizeof(sig), n = 0;

	if (p11->C_GetInfo(&info) != CKR_OK)
		return 1;
	if (p11->C_GetSessionInfo(ps, &si) != CKR_OK || si.state != CKS_RW_USER_FUNCTIONS)
		return 2;
	/* The operation the parent began: the child's own copy. */
	if (p11->C_Sign(ps, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len) != CKR_OK ||
	    !ossl_verify(&ecdsa_sha256, pk, msg, sizeof(msg), sig, len))
		return 3;
	if (p11->C_GetAttributeValue(ps, priv, get_kt, 1) != CKR_OK || kt != CKK_EC)
		return 4;
	len = sizeof(sig);
	if (p11->C_SignInit(ps, &m, priv) != CKR_OK ||
	    p11->C_Sign(ps, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len) != CKR_OK ||
	    !ossl_verify(&ecdsa_sha256, pk, msg, sizeof(msg), sig, len))
		return 5;
	if (p11->C_FindObjectsInit(ps, by_id, 2) != CKR_OK || p11->C_FindObjects(ps, &found, 1, &n) != CKR_OK ||
	    p11->C_FindObjectsFinal(ps) != CKR_OK || n != 1 || found != priv)
		return 6;
	if (make_data(ps, true, true, "from-child", "child", &data) != CKR_OK)
		return 7;
	return 0;
}

/* The child's fresh start: C_Initialize (which v2.40 applications call in
 * a child) succeeds and drops the inherited state; then a login and a
 * signature from scratch. */
static int fork_child_fresh(CK_SESSION_HANDLE ps, EVP_PKEY *pk)
{
	CK_ULONG n = 0;
	CK_SESSION_INFO si;
	CK_SLOT_ID slots[8];
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	CK_ATTRIBUTE by_id[] = { ATTR_STR(CKA_ID, "fork-key"), ATTR_VAR(CKA_CLASS, class_priv) };
	unsigned char sig[64];
	CK_ULONG len = sizeof(sig);

	if (p11->C_Initialize(NULL) != CKR_OK)
		return 14;
	if (p11->C_Initialize(NULL) != CKR_CRYPTOKI_ALREADY_INITIALIZED)
		return 13;
	if (p11->C_GetSessionInfo(ps, &si) != CKR_SESSION_HANDLE_INVALID)
		return 12;
	n = ARRAY_LEN(slots);
	if (p11->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK || n != 2)
		return 15;
	s = CK_INVALID_HANDLE;
	for (CK_ULONG i = 0; i < n && s == CK_INVALID_HANDLE; i++)
		if (p11->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK)
			s = CK_INVALID_HANDLE;
	if (s == CK_INVALID_HANDLE)
		return 16;
	if (p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)) != CKR_OK)
		return 17;
	if (p11->C_FindObjectsInit(s, by_id, 2) != CKR_OK || p11->C_FindObjects(s, &key, 1, &n) != CKR_OK ||
	    n != 1 || p11->C_FindObjectsFinal(s) != CKR_OK)
		return 18;
	if (p11->C_SignInit(s, &m, key) != CKR_OK ||
	    p11->C_Sign(s, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len) != CKR_OK)
		return 19;
	if (!ossl_verify(&ecdsa_sha256, pk, msg, sizeof(msg), sig, len))
		return 20;
	if (p11->C_Finalize(NULL) != CKR_OK)
		return 21;
	return 0;
}

static int fork_child(CK_SESSION_HANDLE ps, CK_OBJECT_HANDLE priv, EVP_PKEY *pk)
{
	int code = fork_child_inherited(ps, priv, pk);

	return code != 0 ? code : fork_child_fresh(ps, pk);
}

static int wait_child(pid_t pid)
{
	int status = 0;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "child died (status 0x%x)", status);
	return WEXITSTATUS(status);
}

START_TEST(test_fork)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_OBJECT_HANDLE pub, priv;
	CK_ATTRIBUTE extra[] = { ATTR_VAR(CKA_TOKEN, yes), ATTR_STR(CKA_ID, "fork-key") };
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	unsigned char sig[64];
	EVP_PKEY *pk;
	size_t n;
	pid_t pid;
	int code;

	OK(tu_gen_ec_rv(s, CKM_EC_KEY_PAIR_GEN, tu_oid_p256, sizeof(tu_oid_p256), extra, 2, extra, 2, &pub, &priv));
	pk = tu_export_public(s, pub);
	/* An operation in progress in the parent when it forks. */
	OK(p11->C_SignInit(s, &m, priv));
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(fork_child(s, priv, pk));
	code = wait_child(pid);
	ck_assert_msg(code == 0, "child failed at step %d", code);
	/* The parent is unaffected: its session, login and operation remain,
	 * and it sees the object the child stored. */
	ck_assert_uint_eq(tu_session_state(s), CKS_RW_USER_FUNCTIONS);
	ck_assert_uint_eq(find_label(s, "from-child", NULL), 1);
	{
		CK_ULONG len = sizeof(sig);
		OK(p11->C_Sign(s, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len));
		ck_assert(ossl_verify(&ecdsa_sha256, pk, msg, sizeof(msg), sig, len));
	}
	n = token_sign(s, &m, priv, msg, sizeof(msg), sig, sizeof(sig));
	ck_assert(ossl_verify(&ecdsa_sha256, pk, msg, sizeof(msg), sig, n));
	ck_assert_uint_eq(slot_count(), 2);
	EVP_PKEY_free(pk);
}
END_TEST

#ifdef __SANITIZE_ADDRESS__
static const bool under_asan = true;
#else
static const bool under_asan = false;
#endif

/* ECDSA P-256 (raw r || s) over SHA-256, for a child forked while other
 * threads run: it must call nothing of Check's. Every ck_assert takes a
 * mutex of Check's (even one that passes), which a signer thread in
 * ossl_verify may hold at the moment of fork(); the child, which has only
 * the forking thread, would wait for it forever. */
static bool child_verify_p256(EVP_PKEY *pk, const unsigned char *data, size_t len, const unsigned char *sig,
			      size_t sig_len)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = NULL, *sv = NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char der[80], *p = der;
	bool ok = false;
	int n;

	if (es == NULL || md == NULL || sig_len != 64)
		goto out;
	r = BN_bin2bn(sig, 32, NULL);
	sv = BN_bin2bn(sig + 32, 32, NULL);
	if (r == NULL || sv == NULL || ECDSA_SIG_set0(es, r, sv) != 1) {
		BN_free(r);
		BN_free(sv);
		goto out;
	}
	n = i2d_ECDSA_SIG(es, NULL);
	if (n <= 0 || (size_t)n > sizeof(der) || i2d_ECDSA_SIG(es, &p) != n)
		goto out;
	ok = EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL, pk, NULL) == 1 &&
	     EVP_DigestVerify(md, der, (size_t)n, data, len) == 1;
out:
	EVP_MD_CTX_free(md);
	ECDSA_SIG_free(es);
	return ok;
}

/* Forks while other threads sign and create, find and destroy objects:
 * the handlers hold every session and the module lock across fork(), so
 * each child finds a consistent copy and no lock held by a thread it does
 * not have (a deadlock would end in Check's timeout). The child keeps to
 * calls that take no lock a parent thread outside the module may hold:
 * PKCS#11 and OpenSSL, never Check. */
START_TEST(test_fork_while_threads)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_OBJECT_HANDLE pub, priv;
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	signer_t signers[SIGNERS];
	churner_t churner = { .slot = slot, .rounds = 60 };
	EVP_PKEY *pk;

	tu_gen_ec(s, tu_oid_p256, sizeof(tu_oid_p256), &pub, &priv);
	pk = tu_export_public(s, pub);
	start_signers(signers, SIGNERS, slot, priv, pk, SIGNS / 4);
	ck_assert_int_eq(pthread_create(&churner.thread, NULL, churner_main, &churner), 0);
	for (int i = 0; i < 10; i++) {
		pid_t pid = fork();

		/* The child calls nothing of Check's: see child_verify_p256. */
		if (pid == 0) {
			unsigned char sig[64];
			CK_ULONG len = sizeof(sig);
			CK_SESSION_INFO si;
			CK_OBJECT_HANDLE o;

			if (p11->C_GetSessionInfo(s, &si) != CKR_OK || si.state != CKS_RW_USER_FUNCTIONS)
				_exit(1);
			if (p11->C_SignInit(s, &m, priv) != CKR_OK ||
			    p11->C_Sign(s, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len) != CKR_OK ||
			    !child_verify_p256(pk, (const unsigned char *)msg, sizeof(msg), sig, len))
				_exit(2);
			if (make_data(s, true, false, "child", "x", &o) != CKR_OK)
				_exit(3);
			_exit(p11->C_Finalize(NULL) == CKR_OK ? 0 : 4);
		}
		ck_assert_int_ge(pid, 0);
		ck_assert_int_eq(wait_child(pid), 0);
	}
	join_signers(signers, SIGNERS);
	ck_assert_int_eq(pthread_join(churner.thread, NULL), 0);
	ck_assert_msg(churner.first_error == CKR_OK, "churner %s: rv 0x%lx", churner.what, churner.first_error);
	{
		CK_ATTRIBUTE by_label[] = { ATTR_STR(CKA_LABEL, "child") };
		CK_OBJECT_HANDLE found[16];

		ck_assert_uint_eq(tu_find(s, by_label, 1, found, 16), 10);
	}
	EVP_PKEY_free(pk);
}
END_TEST

/* Opens and closes sessions until told to stop, publishing each handle
 * between the return of C_OpenSession and the call of C_CloseSession. */
typedef struct opener {
	pthread_t thread;
	CK_SLOT_ID slot;
	atomic_bool stop;
	_Atomic CK_SESSION_HANDLE open; /* 0 when none is published */
	unsigned long rounds;
	CK_RV first_error;
} opener_t;

static void *opener_main(void *arg)
{
	opener_t *t = arg;
	CK_RV rv = CKR_OK;

	while (rv == CKR_OK && !atomic_load(&t->stop)) {
		CK_FLAGS rw = t->rounds % 2 ? CKF_RW_SESSION : 0;
		CK_SESSION_HANDLE s;
		CK_SESSION_INFO si;

		rv = p11->C_OpenSession(t->slot, CKF_SERIAL_SESSION | rw, NULL, NULL, &s);
		if (rv != CKR_OK)
			break;
		atomic_store(&t->open, s);
		rv = p11->C_GetSessionInfo(s, &si);
		atomic_store(&t->open, 0);
		CK_RV closed = p11->C_CloseSession(s);
		if (rv == CKR_OK)
			rv = closed;
		t->rounds++;
	}
	t->first_error = rv;
	return NULL;
}

/* The child of a fork while another thread opens and closes sessions:
 * the sessions it had (mine, and the other thread's published one) work,
 * and the session table agrees with the registry's counts (closing every
 * session leaves none counted). Calls nothing of Check's. */
static int fork_child_sessions(CK_SLOT_ID slot, const CK_SESSION_HANDLE *mine, size_t n, CK_SESSION_HANDLE other)
{
	CK_SESSION_INFO si;
	CK_TOKEN_INFO ti;
	CK_SESSION_HANDLE fresh;

	for (size_t i = 0; i < n; i++)
		if (p11->C_GetSessionInfo(mine[i], &si) != CKR_OK || si.slotID != slot ||
		    si.state != (i == 0 ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS))
			return 1;
	if (other != 0 && p11->C_GetSessionInfo(other, &si) != CKR_OK)
		return 2;
	if (p11->C_GetTokenInfo(slot, &ti) != CKR_OK || ti.ulSessionCount < n || ti.ulRwSessionCount < 1)
		return 3;
	if (p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &fresh) != CKR_OK ||
	    p11->C_CloseAllSessions(slot) != CKR_OK)
		return 4;
	if (p11->C_GetTokenInfo(slot, &ti) != CKR_OK || ti.ulSessionCount != 0 || ti.ulRwSessionCount != 0)
		return 5;
	return p11->C_Finalize(NULL) == CKR_OK ? 0 : 6;
}

/* Forks 200 times while another thread opens and closes sessions: the
 * prepare handler holds the session gate, so a fork never falls between
 * the registry's count of a session and the table's change, nor leaves a
 * session opened meanwhile unlocked. Each child finds every session it
 * had, and a table that agrees with the counts. */
START_TEST(test_fork_while_sessions_open)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE mine[3] = { tu_user_session(slot), tu_open(slot, 0), tu_open(slot, 0) };
	opener_t opener = { .slot = slot };
	int failed = 0, code = 0;

	atomic_init(&opener.stop, false);
	atomic_init(&opener.open, 0);
	ck_assert_int_eq(pthread_create(&opener.thread, NULL, opener_main, &opener), 0);
	for (int i = 0; i < 200 && failed == 0; i++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(fork_child_sessions(slot, mine, ARRAY_LEN(mine), atomic_load(&opener.open)));
		ck_assert_int_ge(pid, 0);
		code = wait_child(pid);
		failed = code != 0 ? i + 1 : 0;
	}
	atomic_store(&opener.stop, true);
	ck_assert_int_eq(pthread_join(opener.thread, NULL), 0);
	ck_assert_msg(failed == 0, "fork %d: child failed at step %d", failed, code);
	ck_assert_msg(opener.first_error == CKR_OK, "opener: rv 0x%lx", opener.first_error);
	ck_assert_uint_gt(opener.rounds, 0);
}
END_TEST

/* Another process's new token and new objects appear in this one. */
START_TEST(test_other_process_changes)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_open(slot, 0);
	CK_OBJECT_HANDLE o;
	pid_t pid;

	ck_assert_uint_eq(find_label(s, "from the child", NULL), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		CK_SLOT_ID slots[8];
		CK_ULONG n = ARRAY_LEN(slots);
		CK_UTF8CHAR lab[32];
		CK_SESSION_HANDLE cs;
		CK_OBJECT_HANDLE co;
		int code = 0;

		label32(lab, "child token");
		if (p11->C_Initialize(NULL) != CKR_OK)
			_exit(1);
		if (p11->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK || n != 2)
			_exit(2);
		/* One slot holds the parent's token, the other is free. */
		for (CK_ULONG i = 0; i < n && code == 0; i++) {
			CK_TOKEN_INFO ti;
			if (p11->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
				code = 3;
			else if (!(ti.flags & CKF_TOKEN_INITIALIZED))
				code = p11->C_InitToken(slots[i], TU_PIN(TU_SO_PIN), lab) == CKR_OK ? 0 : 4;
			else if (p11->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &cs) != CKR_OK ||
				 make_data(cs, true, false, "from the child", "hello parent", &co) != CKR_OK)
				code = 5;
		}
		_exit(code);
	}
	ck_assert_int_eq(wait_child(pid), 0);
	ck_assert_uint_eq(find_label(s, "from the child", &o), 1);
	assert_value(s, o, CKA_VALUE, "hello parent", 12);
	ck_assert_uint_eq(slot_count(), 3); /* the child's token got a slot */
	(void)tu_find_slot("child token");
	(void)tu_find_slot(NULL);
}
END_TEST

/* Searches by CKA_ID and CKA_CLASS (which a scan checks first, from what
 * it keeps beside each object) see every change: lengths and prefixes
 * told apart, unreadable template values, C_SetAttributeValue here and in
 * another process, and more hits than a first guess of room. */
START_TEST(test_obj_find_by_id_after_changes)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_OBJECT_HANDLE pub, priv, pub10, priv10, found[64];
	CK_ATTRIBUTE gen1[] = { ATTR_VAR(CKA_TOKEN, yes), ATTR_STR(CKA_ID, "k-1") };
	CK_ATTRIBUTE gen10[] = { ATTR_STR(CKA_ID, "k-10") };
	CK_ATTRIBUTE by_1[] = { ATTR_STR(CKA_ID, "k-1") }, by_10[] = { ATTR_STR(CKA_ID, "k-10") };
	CK_ATTRIBUTE by_1nul[] = { ATTR(CKA_ID, "k-1", 4) }, by_k[] = { ATTR_STR(CKA_ID, "k-") };
	CK_ATTRIBUTE by_2[] = { ATTR_STR(CKA_ID, "k-2") }, by_3[] = { ATTR_STR(CKA_ID, "k-3") };
	CK_ATTRIBUTE by_empty[] = { ATTR(CKA_ID, "", 0) };
	CK_ATTRIBUTE by_null[] = { ATTR(CKA_ID, NULL, 3) };
	CK_ATTRIBUTE by_both[] = { ATTR_STR(CKA_ID, "k-1"), ATTR_STR(CKA_ID, "k-10") };
	CK_ATTRIBUTE by_priv_1[] = { ATTR_VAR(CKA_CLASS, class_priv), ATTR_STR(CKA_ID, "k-1") };
	CK_ATTRIBUTE by_pub_2[] = { ATTR_STR(CKA_ID, "k-2"), ATTR_VAR(CKA_CLASS, class_pub) };
	CK_ATTRIBUTE by_short_class[] = { ATTR(CKA_CLASS, &class_priv, 1) };
	CK_ATTRIBUTE by_null_class[] = { ATTR(CKA_CLASS, NULL, sizeof(CK_OBJECT_CLASS)) };
	CK_ATTRIBUTE two_classes[] = { ATTR(CKA_CLASS, &class_priv, 1), ATTR_VAR(CKA_CLASS, class_priv) };
	CK_ATTRIBUTE set_2[] = { ATTR_STR(CKA_ID, "k-2") }, set_empty[] = { ATTR(CKA_ID, "", 0) };
	CK_ATTRIBUTE by_many[] = { ATTR_VAR(CKA_CLASS, class_data), ATTR_STR(CKA_LABEL, "many") };
	int status = 0;
	pid_t pid;

	OK(tu_gen_ec_rv(s, CKM_EC_KEY_PAIR_GEN, tu_oid_p256, sizeof(tu_oid_p256), gen1, 2, gen1, 2, &pub, &priv));
	OK(tu_gen_ec_rv(s, CKM_EC_KEY_PAIR_GEN, tu_oid_p256, sizeof(tu_oid_p256), gen10, 1, gen10, 1, &pub10,
			&priv10));
	ck_assert_uint_eq(tu_find(s, by_1, 1, found, 64), 2);
	ck_assert(contains(found, 2, pub) && contains(found, 2, priv));
	ck_assert_uint_eq(tu_find(s, by_10, 1, found, 64), 2);
	ck_assert(contains(found, 2, pub10) && contains(found, 2, priv10));
	ck_assert_uint_eq(tu_find(s, by_1nul, 1, found, 64), 0);
	ck_assert_uint_eq(tu_find(s, by_k, 1, found, 64), 0);
	ck_assert_uint_eq(tu_find(s, by_empty, 1, found, 64), 0);
	ck_assert_uint_eq(tu_find(s, by_null, 1, found, 64), 0);
	ck_assert_uint_eq(tu_find(s, by_both, 2, found, 64), 0);
	ck_assert_uint_eq(tu_find(s, by_priv_1, 2, found, 64), 1);
	ck_assert_uint_eq(found[0], priv);
	ck_assert_uint_eq(tu_find(s, by_short_class, 1, found, 64), 0);
	ck_assert_uint_eq(tu_find(s, by_null_class, 1, found, 64), 0);
	ck_assert_uint_eq(tu_find(s, two_classes, 2, found, 64), 0);

	/* Changed here: found by the new value only. */
	OK(p11->C_SetAttributeValue(s, pub10, set_empty, 1));
	ck_assert_uint_eq(tu_find(s, by_empty, 1, found, 64), 1);
	ck_assert_uint_eq(found[0], pub10);
	ck_assert_uint_eq(tu_find(s, by_10, 1, found, 64), 1);
	ck_assert_uint_eq(found[0], priv10);

	/* Changed by another process: seen at the next search. */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		CK_SESSION_HANDLE cs;
		CK_OBJECT_HANDLE h[4];
		CK_ULONG n = 0;

		if (p11->C_Initialize(NULL) != CKR_OK ||
		    p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &cs) != CKR_OK ||
		    p11->C_Login(cs, CKU_USER, TU_PIN(TU_USER_PIN)) != CKR_OK)
			_exit(1);
		if (p11->C_FindObjectsInit(cs, by_priv_1, 2) != CKR_OK || p11->C_FindObjects(cs, h, 4, &n) != CKR_OK ||
		    p11->C_FindObjectsFinal(cs) != CKR_OK || n != 1)
			_exit(2);
		_exit(p11->C_SetAttributeValue(cs, h[0], set_2, 1) == CKR_OK ? 0 : 3);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_msg(WEXITSTATUS(status) == 0, "child failed at step %d", WEXITSTATUS(status));
	ck_assert_uint_eq(tu_find(s, by_2, 1, found, 64), 1);
	ck_assert_uint_eq(found[0], priv); /* a token object keeps its handle */
	ck_assert_uint_eq(tu_find(s, by_pub_2, 2, found, 64), 0);
	ck_assert_uint_eq(tu_find(s, by_priv_1, 2, found, 64), 0);
	ck_assert_uint_eq(tu_find(s, by_1, 1, found, 64), 1);
	ck_assert_uint_eq(found[0], pub);
	ck_assert_uint_eq(tu_find(s, by_3, 1, found, 64), 0);

	/* More hits than a search first makes room for. */
	for (int i = 0; i < 40; i++) {
		CK_OBJECT_HANDLE o;
		OK(make_data(s, false, i % 2 == 0, "many", "v", &o));
	}
	ck_assert_uint_eq(tu_find(s, by_many, 2, found, 64), 40);
	for (int i = 1; i < 40; i++)
		ck_assert_uint_gt(found[i], found[i - 1]);
	OK(p11->C_Logout(s));
	ck_assert_uint_eq(tu_find(s, by_many, 2, found, 64), 20); /* the public half */
	ck_assert_uint_eq(tu_find(s, by_1, 1, found, 64), 1);
	ck_assert_uint_eq(found[0], pub);
}
END_TEST

/* ==== the suite ================================================================================ */

static TCase *tcase(Suite *su, const char *name)
{
	TCase *tc = tcase_create(name);
	tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(su, tc);
	return tc;
}

static Suite *module_suite(void)
{
	Suite *su = suite_create("p11-module");
	TCase *tc;

	tc = tcase(su, "initialize");
	tcase_add_test(tc, test_init_twice);
	tcase_add_test(tc, test_calls_before_init);
	tcase_add_test(tc, test_init_os_locking);
	tcase_add_test(tc, test_init_app_mutexes);
	tcase_add_test(tc, test_init_os_and_app);
	tcase_add_test(tc, test_init_partial_callbacks);
	tcase_add_test(tc, test_init_reserved);
	tcase_add_test(tc, test_init_bad_dir);
	tcase_add_test(tc, test_init_default_dir);
	tcase_add_test(tc, test_init_dir_symlink);
	tcase_add_test(tc, test_token_file_refused);

	tc = tcase(su, "interfaces");
	tcase_add_test(tc, test_function_list);
	tcase_add_test(tc, test_interface_list);
	tcase_add_test(tc, test_get_interface);

	tc = tcase(su, "slots");
	tcase_add_test(tc, test_slots_fresh);
	tcase_add_test(tc, test_slots_after_init);
	tcase_add_test(tc, test_reinit_token);

	tc = tcase(su, "pins");
	tcase_add_test(tc, test_user_pin_init);
	tcase_add_test(tc, test_user_pin_lockout);
	tcase_add_test(tc, test_user_pin_success_resets);
	tcase_add_test(tc, test_user_pin_count_stored);
	tcase_add_test(tc, test_user_pin_default_limit);
	tcase_add_test(tc, test_so_pin_lockout);
	tcase_add_test(tc, test_set_pin_wrong_old_counts);

	tc = tcase(su, "sessions");
	tcase_add_test(tc, test_session_flags);
	tcase_add_test(tc, test_session_ro_so);
	tcase_add_test(tc, test_session_states);
	tcase_add_test(tc, test_session_init_token_refused);
	tcase_add_test(tc, test_session_close_logs_out);
	tcase_add_test(tc, test_session_login_rules);
	tcase_add_test(tc, test_set_pin_user);
	tcase_add_test(tc, test_set_pin_so);
	tcase_add_test(tc, test_pin_length);
	tcase_add_test(tc, test_pin_min_configured);

	tc = tcase(su, "objects");
	tcase_add_test(tc, test_obj_private_invisible);
	tcase_add_test(tc, test_obj_session_objects_vanish);
	tcase_add_test(tc, test_obj_token_objects_persist);
	tcase_add_test(tc, test_obj_handles_never_reused);
	tcase_add_test(tc, test_obj_data_roundtrip);
	tcase_add_test(tc, test_obj_get_attribute_rules);
	tcase_add_test(tc, test_obj_sensitive_ec_private);
	tcase_add_test(tc, test_obj_sensitive_transitions);
	tcase_add_test(tc, test_obj_generated_attributes);
	tcase_add_test(tc, test_obj_imported_key);
	tcase_add_test(tc, test_obj_copy);
	tcase_add_test(tc, test_obj_set_attribute);
	tcase_add_test(tc, test_obj_read_only_session);
	tcase_add_test(tc, test_obj_private_needs_login);
	tcase_add_test(tc, test_obj_certificate);
	tcase_add_test(tc, test_obj_find);
	tcase_add_test(tc, test_obj_find_by_id_after_changes);
	tcase_add_test(tc, test_obj_size);

	tc = tcase(su, "crypto");
	tcase_add_test(tc, test_mechanisms);
	tcase_add_loop_test(tc, test_ecdsa, 0, 2);
	tcase_add_loop_test(tc, test_eddsa, 0, 2);
	tcase_add_test(tc, test_rsa_sign);
	tcase_add_test(tc, test_rsa_encrypt);
	tcase_add_test(tc, test_digest);
	tcase_add_loop_test(tc, test_ecdh, 0, 2);
	tcase_add_test(tc, test_generic_secret);
	tcase_add_test(tc, test_sign_size_convention);
	tcase_add_test(tc, test_failed_call_ends_operation);
	tcase_add_test(tc, test_no_mixing_and_active);
	tcase_add_test(tc, test_key_permissions);
	tcase_add_test(tc, test_bad_signatures);
	tcase_add_test(tc, test_always_authenticate);
	tcase_add_test(tc, test_random);

	tc = tcase(su, "concurrency");
	tcase_add_test(tc, test_threads_sign);
	tcase_add_test(tc, test_threads_mixed);
	tcase_add_test(tc, test_threads_close_in_use);
	tcase_add_test(tc, test_fork);
	/* Not under ASan: GCC 12's ASan allocator takes a lock of its own that
	 * no atfork handler releases, so a child forked while other threads
	 * allocate can wait in malloc for ever (seen: the child stuck in
	 * SizeClassAllocator64::GetFromAllocator under sqlite3_exec). */
	if (!under_asan)
		tcase_add_test(tc, test_fork_while_threads);
	if (!under_asan)
		tcase_add_test(tc, test_fork_while_sessions_open);
	tcase_add_test(tc, test_other_process_changes);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(module_suite());
	int failed;

	tu_suite_begin();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	tu_suite_end();
	return failed == 0 ? 0 : 1;
}
