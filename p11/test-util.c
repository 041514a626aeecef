/* test-util.c - helpers for the module-level unit suite. */
#include "config.h"
#include "p11/test-util.h"

#include <check.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#define MAX_TMPL 24

CK_FUNCTION_LIST_PTR p11;
char tu_dir[128];

const CK_BYTE tu_oid_p256[10] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
const CK_BYTE tu_oid_p384[7] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
const CK_BYTE tu_oid_ed25519[5] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
const CK_BYTE tu_name_ed25519[14] = { 0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's',
				      '2', '5', '5', '1', '9' };

static CK_BBOOL yes = CK_TRUE;

/* ---- fixture ----------------------------------------------------------- */

/* Every test's directory lives under one root made by the runner process:
 * a failing test exits without its teardown, and the root goes anyway. */
static char root[64];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void remove_tree(char *dir)
{
	if (dir[0] != '\0' && nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	dir[0] = '\0';
}

void tu_suite_begin(void)
{
	snprintf(root, sizeof(root), "/tmp/offpass-test-module-XXXXXX");
	if (mkdtemp(root) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
}

void tu_suite_end(void)
{
	remove_tree(root);
}

void tu_setup(void)
{
	snprintf(tu_dir, sizeof(tu_dir), "%s/test-XXXXXX", root[0] ? root : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tu_dir));
	ck_assert_int_eq(setenv("OFFPASS_P11_DIR", tu_dir, 1), 0);
	ck_assert_int_eq(setenv("OFFPASS_P11_SCRYPT_N", "1024", 1), 0);
	unsetenv("OFFPASS_P11_MAX_PIN_FAILS");
	unsetenv("OFFPASS_P11_MIN_PIN_LEN");
	/* No TPM for the module suite, whatever the machine has (tpm.sh tests it). */
	ck_assert_int_eq(setenv("OFFPASS_P11_TPM", "off", 1), 0);
	p11 = NULL;
	ck_assert_int_eq(C_GetFunctionList(&p11), CKR_OK);
	ck_assert_ptr_nonnull(p11);
}

void tu_teardown(void)
{
	if (p11 != NULL)
		(void)p11->C_Finalize(NULL); /* CKR_CRYPTOKI_NOT_INITIALIZED is fine */
	remove_tree(tu_dir);
}

static int saved_stderr = -1;
static FILE *log_file;

void tu_log_begin(void)
{
	fflush(stderr);
	log_file = tmpfile();
	ck_assert_ptr_nonnull(log_file);
	saved_stderr = dup(2);
	ck_assert_int_ge(saved_stderr, 0);
	ck_assert_int_eq(dup2(fileno(log_file), 2), 2);
}

char *tu_log_end(void)
{
	long len;
	char *text;

	fflush(stderr);
	ck_assert_int_eq(dup2(saved_stderr, 2), 2);
	close(saved_stderr);
	len = ftell(log_file);
	ck_assert_int_ge(len, 0);
	text = calloc(1, (size_t)len + 1);
	ck_assert_ptr_nonnull(text);
	rewind(log_file);
	ck_assert_uint_eq(fread(text, 1, (size_t)len, log_file), (size_t)len);
	fclose(log_file);
	/* Shown too, so that a failing test's output still has it. */
	fputs(text, stderr);
	return text;
}

char *tu_token_file(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *path = NULL;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n > 6 && strcmp(e->d_name + n - 6, ".token") == 0) {
			ck_assert_ptr_null(path);
			ck_assert_int_gt(asprintf(&path, "%s/%s", dir, e->d_name), 0);
		}
	}
	closedir(d);
	ck_assert_ptr_nonnull(path);
	return path;
}

void tu_initialize(void)
{
	ck_assert_int_eq(p11->C_Initialize(NULL), CKR_OK);
}

void tu_reinitialize(void)
{
	ck_assert_int_eq(p11->C_Finalize(NULL), CKR_OK);
	ck_assert_int_eq(p11->C_Initialize(NULL), CKR_OK);
}

/* ---- slots, tokens and sessions ----------------------------------------- */

static void pad32(CK_UTF8CHAR out[32], const char *text)
{
	size_t n = strlen(text);
	memset(out, ' ', 32);
	memcpy(out, text, n < 32 ? n : 32);
}

CK_SLOT_ID tu_find_slot(const char *label)
{
	CK_SLOT_ID slots[32];
	CK_ULONG n = 0;
	CK_UTF8CHAR want[32];

	ck_assert_int_eq(p11->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
	ck_assert_uint_le(n, 32);
	ck_assert_int_eq(p11->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
	if (label != NULL)
		pad32(want, label);
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		ck_assert_int_eq(p11->C_GetTokenInfo(slots[i], &ti), CKR_OK);
		bool init = (ti.flags & CKF_TOKEN_INITIALIZED) != 0;
		if (label == NULL && !init)
			return slots[i];
		if (label != NULL && init && memcmp(ti.label, want, 32) == 0)
			return slots[i];
	}
	ck_abort_msg("no slot with token '%s'", label ? label : "(free)");
	return 0;
}

CK_SLOT_ID tu_init_token_no_user(const char *label)
{
	CK_INFO info;
	CK_UTF8CHAR lab[32];
	CK_SLOT_ID slot;

	if (p11->C_GetInfo(&info) == CKR_CRYPTOKI_NOT_INITIALIZED)
		tu_initialize();
	slot = tu_find_slot(NULL);
	pad32(lab, label);
	ck_assert_int_eq(p11->C_InitToken(slot, TU_PIN(TU_SO_PIN), lab), CKR_OK);
	return tu_find_slot(label);
}

CK_SLOT_ID tu_init_token(const char *label)
{
	CK_SLOT_ID slot = tu_init_token_no_user(label);
	CK_SESSION_HANDLE s = tu_open(slot, CKF_RW_SESSION);

	ck_assert_int_eq(p11->C_Login(s, CKU_SO, TU_PIN(TU_SO_PIN)), CKR_OK);
	ck_assert_int_eq(p11->C_InitPIN(s, TU_PIN(TU_USER_PIN)), CKR_OK);
	ck_assert_int_eq(p11->C_Logout(s), CKR_OK);
	ck_assert_int_eq(p11->C_CloseSession(s), CKR_OK);
	return slot;
}

CK_SESSION_HANDLE tu_open(CK_SLOT_ID slot, CK_FLAGS extra)
{
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;

	ck_assert_int_eq(p11->C_OpenSession(slot, CKF_SERIAL_SESSION | extra, NULL, NULL, &s), CKR_OK);
	ck_assert_uint_ne(s, CK_INVALID_HANDLE);
	return s;
}

CK_SESSION_HANDLE tu_user_session(CK_SLOT_ID slot)
{
	CK_SESSION_HANDLE s = tu_open(slot, CKF_RW_SESSION);
	ck_assert_int_eq(p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)), CKR_OK);
	return s;
}

CK_FLAGS tu_token_flags(CK_SLOT_ID slot)
{
	CK_TOKEN_INFO ti;
	ck_assert_int_eq(p11->C_GetTokenInfo(slot, &ti), CKR_OK);
	return ti.flags;
}

CK_STATE tu_session_state(CK_SESSION_HANDLE s)
{
	CK_SESSION_INFO si;
	ck_assert_int_eq(p11->C_GetSessionInfo(s, &si), CKR_OK);
	return si.state;
}

/* ---- key generation ------------------------------------------------------- */

static CK_ULONG append(CK_ATTRIBUTE *t, CK_ULONG n, const CK_ATTRIBUTE *extra, CK_ULONG n_extra)
{
	ck_assert_uint_le(n + n_extra, MAX_TMPL);
	for (CK_ULONG i = 0; i < n_extra; i++)
		t[n++] = extra[i];
	return n;
}

CK_RV tu_gen_ec_rv(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE mech, const CK_BYTE *params,
		   size_t params_len, const CK_ATTRIBUTE *extra_pub, CK_ULONG n_pub,
		   const CK_ATTRIBUTE *extra_priv, CK_ULONG n_priv,
		   CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	CK_MECHANISM m = { mech, NULL, 0 };
	CK_ATTRIBUTE pt[MAX_TMPL] = { { CKA_EC_PARAMS, (void *)params, params_len } };
	CK_ATTRIBUTE kt[MAX_TMPL];
	CK_ULONG np = append(pt, 1, extra_pub, n_pub);
	CK_ULONG nk = append(kt, 0, extra_priv, n_priv);

	return p11->C_GenerateKeyPair(s, &m, pt, np, nk ? kt : NULL, nk, pub, priv);
}

void tu_gen_ec(CK_SESSION_HANDLE s, const CK_BYTE *oid, size_t oid_len,
	       CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	CK_ATTRIBUTE derive = { CKA_DERIVE, &yes, sizeof(yes) };
	ck_assert_int_eq(tu_gen_ec_rv(s, CKM_EC_KEY_PAIR_GEN, oid, oid_len, NULL, 0, &derive, 1,
				      pub, priv), CKR_OK);
}

void tu_gen_ed25519(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	ck_assert_int_eq(tu_gen_ec_rv(s, CKM_EC_EDWARDS_KEY_PAIR_GEN, tu_oid_ed25519,
				      sizeof(tu_oid_ed25519), NULL, 0, NULL, 0, pub, priv), CKR_OK);
}

CK_RV tu_gen_rsa_rv(CK_SESSION_HANDLE s, CK_ULONG bits, const CK_ATTRIBUTE *extra_priv,
		    CK_ULONG n_priv, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	static CK_BYTE e[] = { 0x01, 0x00, 0x01 };
	CK_MECHANISM m = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pt[] = {
		{ CKA_MODULUS_BITS, &bits, sizeof(bits) },
		{ CKA_PUBLIC_EXPONENT, e, sizeof(e) },
	};
	CK_ATTRIBUTE kt[MAX_TMPL];
	CK_ULONG nk = append(kt, 0, extra_priv, n_priv);

	return p11->C_GenerateKeyPair(s, &m, pt, 2, nk ? kt : NULL, nk, pub, priv);
}

void tu_gen_rsa(CK_SESSION_HANDLE s, CK_ULONG bits, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	ck_assert_int_eq(tu_gen_rsa_rv(s, bits, NULL, 0, pub, priv), CKR_OK);
}

/* ---- attributes and search -------------------------------------------------- */

CK_ULONG tu_get_ulong(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
	CK_ULONG v = 0;
	CK_ATTRIBUTE a = { type, &v, sizeof(v) };

	ck_assert_int_eq(p11->C_GetAttributeValue(s, o, &a, 1), CKR_OK);
	ck_assert_uint_eq(a.ulValueLen, sizeof(v));
	return v;
}

bool tu_get_bool(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL v = 2;
	CK_ATTRIBUTE a = { type, &v, sizeof(v) };

	ck_assert_int_eq(p11->C_GetAttributeValue(s, o, &a, 1), CKR_OK);
	ck_assert_uint_eq(a.ulValueLen, 1);
	ck_assert(v == CK_TRUE || v == CK_FALSE);
	return v == CK_TRUE;
}

unsigned char *tu_get_bytes(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
			    CK_ULONG *len)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	unsigned char *buf;

	ck_assert_int_eq(p11->C_GetAttributeValue(s, o, &a, 1), CKR_OK);
	ck_assert_uint_ne(a.ulValueLen, CK_UNAVAILABLE_INFORMATION);
	buf = malloc(a.ulValueLen + 1);
	ck_assert_ptr_nonnull(buf);
	a.pValue = buf;
	ck_assert_int_eq(p11->C_GetAttributeValue(s, o, &a, 1), CKR_OK);
	*len = a.ulValueLen;
	return buf;
}

CK_ULONG tu_find(CK_SESSION_HANDLE s, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
		 CK_OBJECT_HANDLE *out, CK_ULONG max)
{
	CK_ULONG n = 0;

	ck_assert_int_eq(p11->C_FindObjectsInit(s, (CK_ATTRIBUTE_PTR)tmpl, count), CKR_OK);
	ck_assert_int_eq(p11->C_FindObjects(s, out, max, &n), CKR_OK);
	ck_assert_int_eq(p11->C_FindObjectsFinal(s), CKR_OK);
	return n;
}

/* ---- OpenSSL side ------------------------------------------------------------- */

static const char *group_of_oid(const unsigned char *oid, size_t len)
{
	if (len == sizeof(tu_oid_p256) && memcmp(oid, tu_oid_p256, len) == 0)
		return "P-256";
	if (len == sizeof(tu_oid_p384) && memcmp(oid, tu_oid_p384, len) == 0)
		return "P-384";
	return NULL;
}

/* The contents of a DER OCTET STRING (short or one-byte long form). */
static const unsigned char *octets(const unsigned char *der, size_t len, size_t *out_len)
{
	size_t hdr = 2, n;

	ck_assert_uint_ge(len, 2);
	ck_assert_uint_eq(der[0], 0x04);
	n = der[1];
	if (n == 0x81) {
		ck_assert_uint_ge(len, 3);
		n = der[2];
		hdr = 3;
	}
	ck_assert_uint_eq(hdr + n, len);
	*out_len = n;
	return der + hdr;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld, int selection)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *key = NULL;

	ck_assert_ptr_nonnull(params);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(EVP_PKEY_fromdata_init(ctx), 1);
	ck_assert_int_eq(EVP_PKEY_fromdata(ctx, &key, selection, params), 1);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return key;
}

static EVP_PKEY *export_ec(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub, bool edwards)
{
	CK_ULONG plen = 0, qlen = 0;
	unsigned char *params = tu_get_bytes(s, pub, CKA_EC_PARAMS, &plen);
	unsigned char *point = tu_get_bytes(s, pub, CKA_EC_POINT, &qlen);
	size_t raw_len = 0;
	const unsigned char *raw = octets(point, qlen, &raw_len);
	EVP_PKEY *key = NULL;

	if (edwards) {
		ck_assert_uint_eq(raw_len, 32);
		key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, raw_len);
	} else {
		const char *group = group_of_oid(params, plen);
		OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
		ck_assert_ptr_nonnull(group);
		ck_assert_int_eq(OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0), 1);
		ck_assert_int_eq(OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, raw, raw_len), 1);
		key = from_params("EC", bld, EVP_PKEY_PUBLIC_KEY);
		OSSL_PARAM_BLD_free(bld);
	}
	ck_assert_ptr_nonnull(key);
	free(params);
	free(point);
	return key;
}

static EVP_PKEY *export_rsa(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub)
{
	CK_ULONG nlen = 0, elen = 0;
	unsigned char *n = tu_get_bytes(s, pub, CKA_MODULUS, &nlen);
	unsigned char *e = tu_get_bytes(s, pub, CKA_PUBLIC_EXPONENT, &elen);
	BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(e, (int)elen, NULL);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY *key;

	ck_assert_int_eq(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn), 1);
	ck_assert_int_eq(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be), 1);
	key = from_params("RSA", bld, EVP_PKEY_PUBLIC_KEY);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return key;
}

EVP_PKEY *tu_export_public(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub)
{
	ck_assert_uint_eq(tu_get_ulong(s, pub, CKA_CLASS), CKO_PUBLIC_KEY);
	switch (tu_get_ulong(s, pub, CKA_KEY_TYPE)) {
	case CKK_EC:
		return export_ec(s, pub, false);
	case CKK_EC_EDWARDS:
		return export_ec(s, pub, true);
	case CKK_RSA:
		return export_rsa(s, pub);
	default:
		ck_abort_msg("unexpected key type");
		return NULL;
	}
}

EVP_PKEY *tu_ossl_ec(const char *group)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
	ck_assert_ptr_nonnull(k);
	return k;
}

EVP_PKEY *tu_ossl_ed25519(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	ck_assert_ptr_nonnull(k);
	return k;
}

EVP_PKEY *tu_ossl_rsa(unsigned bits)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	ck_assert_ptr_nonnull(k);
	return k;
}

/* The DER OID and the order length of an OpenSSL EC key. */
static const CK_BYTE *ec_oid(EVP_PKEY *key, size_t *oid_len, size_t *order_len)
{
	char group[32];

	if (EVP_PKEY_is_a(key, "ED25519")) {
		*oid_len = sizeof(tu_oid_ed25519);
		*order_len = 32;
		return tu_oid_ed25519;
	}
	ck_assert_int_eq(EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
							sizeof(group), NULL), 1);
	if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
		*oid_len = sizeof(tu_oid_p256);
		*order_len = 32;
		return tu_oid_p256;
	}
	ck_assert_msg(strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0, "group %s", group);
	*oid_len = sizeof(tu_oid_p384);
	*order_len = 48;
	return tu_oid_p384;
}

size_t tu_ec_point_der(EVP_PKEY *key, unsigned char *buf, size_t cap)
{
	unsigned char raw[133];
	size_t len = 0;

	if (EVP_PKEY_is_a(key, "ED25519")) {
		len = sizeof(raw);
		ck_assert_int_eq(EVP_PKEY_get_raw_public_key(key, raw, &len), 1);
	} else {
		ck_assert_int_eq(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, raw,
								 sizeof(raw), &len), 1);
		ck_assert_uint_eq(raw[0], 0x04); /* uncompressed */
	}
	ck_assert_uint_lt(len, 128);
	ck_assert_uint_le(len + 2, cap);
	buf[0] = 0x04;
	buf[1] = (unsigned char)len;
	memcpy(buf + 2, raw, len);
	return len + 2;
}

/* A BIGNUM parameter of key as unsigned big-endian bytes (pad > 0: that length). */
static size_t bn_param(EVP_PKEY *key, const char *name, unsigned char *buf, size_t cap, size_t pad)
{
	BIGNUM *bn = NULL;
	int n;

	ck_assert_int_eq(EVP_PKEY_get_bn_param(key, name, &bn), 1);
	if (pad > 0) {
		ck_assert_uint_le(pad, cap);
		n = BN_bn2binpad(bn, buf, (int)pad);
	} else {
		ck_assert_uint_le((size_t)BN_num_bytes(bn), cap);
		n = BN_bn2bin(bn, buf);
	}
	BN_clear_free(bn);
	ck_assert_int_gt(n, 0);
	return (size_t)n;
}

CK_RV tu_import_public(CK_SESSION_HANDLE s, EVP_PKEY *key, const CK_ATTRIBUTE *extra,
		       CK_ULONG n_extra, CK_OBJECT_HANDLE *out)
{
	static CK_OBJECT_CLASS klass = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt;
	CK_ATTRIBUTE t[MAX_TMPL] = {
		{ CKA_CLASS, &klass, sizeof(klass) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
	};
	unsigned char a[600], b[600];
	size_t oid_len, order_len;
	CK_ULONG n = 2;

	if (EVP_PKEY_is_a(key, "RSA")) {
		kt = CKK_RSA;
		t[n++] = (CK_ATTRIBUTE){ CKA_MODULUS, a, bn_param(key, OSSL_PKEY_PARAM_RSA_N, a, sizeof(a), 0) };
		t[n++] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT, b,
					 bn_param(key, OSSL_PKEY_PARAM_RSA_E, b, sizeof(b), 0) };
	} else {
		kt = EVP_PKEY_is_a(key, "ED25519") ? CKK_EC_EDWARDS : CKK_EC;
		t[n++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)ec_oid(key, &oid_len, &order_len), 0 };
		t[n - 1].ulValueLen = oid_len;
		t[n++] = (CK_ATTRIBUTE){ CKA_EC_POINT, a, tu_ec_point_der(key, a, sizeof(a)) };
	}
	n = append(t, n, extra, n_extra);
	return p11->C_CreateObject(s, t, n, out);
}

static CK_ULONG rsa_private_attrs(EVP_PKEY *key, CK_ATTRIBUTE *t, CK_ULONG n, unsigned char (*bufs)[600])
{
	static const struct {
		CK_ATTRIBUTE_TYPE type;
		const char *param;
	} parts[] = {
		{ CKA_MODULUS, OSSL_PKEY_PARAM_RSA_N },
		{ CKA_PUBLIC_EXPONENT, OSSL_PKEY_PARAM_RSA_E },
		{ CKA_PRIVATE_EXPONENT, OSSL_PKEY_PARAM_RSA_D },
		{ CKA_PRIME_1, OSSL_PKEY_PARAM_RSA_FACTOR1 },
		{ CKA_PRIME_2, OSSL_PKEY_PARAM_RSA_FACTOR2 },
		{ CKA_EXPONENT_1, OSSL_PKEY_PARAM_RSA_EXPONENT1 },
		{ CKA_EXPONENT_2, OSSL_PKEY_PARAM_RSA_EXPONENT2 },
		{ CKA_COEFFICIENT, OSSL_PKEY_PARAM_RSA_COEFFICIENT1 },
	};

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		t[n].type = parts[i].type;
		t[n].pValue = bufs[i];
		t[n].ulValueLen = bn_param(key, parts[i].param, bufs[i], sizeof(bufs[i]), 0);
		n++;
	}
	return n;
}

CK_RV tu_import_private(CK_SESSION_HANDLE s, EVP_PKEY *key, const CK_ATTRIBUTE *extra,
			CK_ULONG n_extra, CK_OBJECT_HANDLE *out)
{
	static CK_OBJECT_CLASS klass = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt;
	CK_ATTRIBUTE t[MAX_TMPL] = {
		{ CKA_CLASS, &klass, sizeof(klass) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
	};
	unsigned char bufs[8][600];
	size_t oid_len, order_len, len;
	CK_ULONG n = 2;
	CK_RV rv;

	if (EVP_PKEY_is_a(key, "RSA")) {
		kt = CKK_RSA;
		n = rsa_private_attrs(key, t, n, bufs);
	} else {
		const CK_BYTE *oid = ec_oid(key, &oid_len, &order_len);
		kt = EVP_PKEY_is_a(key, "ED25519") ? CKK_EC_EDWARDS : CKK_EC;
		if (kt == CKK_EC_EDWARDS) {
			len = sizeof(bufs[0]);
			ck_assert_int_eq(EVP_PKEY_get_raw_private_key(key, bufs[0], &len), 1);
		} else {
			len = bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, bufs[0], sizeof(bufs[0]), order_len);
		}
		t[n++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)oid, oid_len };
		t[n++] = (CK_ATTRIBUTE){ CKA_VALUE, bufs[0], len };
	}
	n = append(t, n, extra, n_extra);
	rv = p11->C_CreateObject(s, t, n, out);
	OPENSSL_cleanse(bufs, sizeof(bufs));
	return rv;
}

/* ---- ECDSA signature encodings -------------------------------------------------- */

size_t tu_ecdsa_to_der(const unsigned char *rs, size_t rs_len, unsigned char *der, size_t cap)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(rs, (int)(rs_len / 2), NULL);
	BIGNUM *sv = BN_bin2bn(rs + rs_len / 2, (int)(rs_len / 2), NULL);
	unsigned char *p = der;
	int n;

	ck_assert_ptr_nonnull(sig);
	ck_assert_int_eq(rs_len % 2, 0);
	ck_assert_int_eq(ECDSA_SIG_set0(sig, r, sv), 1);
	ck_assert_int_le(i2d_ECDSA_SIG(sig, NULL), (int)cap);
	n = i2d_ECDSA_SIG(sig, &p);
	ck_assert_int_gt(n, 0);
	ECDSA_SIG_free(sig);
	return (size_t)n;
}

size_t tu_ecdsa_from_der(const unsigned char *der, size_t der_len, size_t order_len,
			 unsigned char *rs, size_t cap)
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	const BIGNUM *r, *sv;

	ck_assert_ptr_nonnull(sig);
	ck_assert_uint_le(2 * order_len, cap);
	ECDSA_SIG_get0(sig, &r, &sv);
	ck_assert_int_eq(BN_bn2binpad(r, rs, (int)order_len), (int)order_len);
	ck_assert_int_eq(BN_bn2binpad(sv, rs + order_len, (int)order_len), (int)order_len);
	ECDSA_SIG_free(sig);
	return 2 * order_len;
}

char *tu_repeat(char c, size_t len)
{
	char *s = malloc(len + 1);
	ck_assert_ptr_nonnull(s);
	memset(s, c, len);
	s[len] = '\0';
	return s;
}
