/* test-mechanisms.c - every secret-key mechanism and digest of the module
 * against published known-answer vectors, through the function list as an
 * application calls it; then the secret-key object rules, wrapping and
 * unwrapping, and derivation into AES keys.
 *
 * Vectors: NIST SP 800-38A F.1-F.5 (AES ECB, CBC, CTR), the GCM
 * specification's test cases 2, 4 and 16 (McGrew and Viega), RFC 3394 4.1
 * and 4.6 (AES-KW), RFC 5649 6 (AES-KWP), RFC 4493 4 (AES-CMAC), RFC 4231
 * 4.2-4.3 and RFC 2202 (HMAC), FIPS 180 "abc" (SHA), NIST SP 800-67 B.1
 * (TDEA ECB). The padded (CBC_PAD) and DES3-CBC expectations extend those
 * vectors by one computation and were checked with an independent
 * implementation (pyca/cryptography). Every cipher runs single-part and
 * multi-part in uneven pieces, and both must give the vector. */
#include "config.h"
#include "p11/test-util.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/evp.h>

#define CK(want, call)                                                                  \
	do {                                                                            \
		CK_RV got_ = (call);                                                    \
		ck_assert_msg(got_ == (CK_RV)(want), "%s: got 0x%lx, want 0x%lx", #call, \
			      (unsigned long)got_, (unsigned long)(want));              \
	} while (0)
#define OK(call) CK(CKR_OK, call)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define ATTR_VAR(type, var) { (type), (void *)&(var), sizeof(var) }

static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
static CK_OBJECT_CLASS class_secret = CKO_SECRET_KEY, class_priv = CKO_PRIVATE_KEY;

/* ---- helpers -------------------------------------------------------------- */

typedef struct bytes {
	CK_BYTE b[512];
	CK_ULONG n;
} bytes_t;

static bytes_t hx(const char *hex)
{
	bytes_t r = { .n = 0 };
	size_t len = strlen(hex);

	ck_assert(len % 2 == 0 && len / 2 <= sizeof(r.b));
	for (size_t i = 0; i < len; i += 2) {
		unsigned v;
		ck_assert(sscanf(hex + i, "%2x", &v) == 1);
		r.b[r.n++] = (CK_BYTE)v;
	}
	return r;
}

static void eq(const CK_BYTE *got, CK_ULONG got_len, const bytes_t *want, const char *what)
{
	ck_assert_msg(got_len == want->n && memcmp(got, want->b, want->n) == 0, "%s: wrong output (%lu bytes)",
		      what, (unsigned long)got_len);
}

static CK_SESSION_HANDLE session(void)
{
	return tu_user_session(tu_init_token(TU_LABEL));
}

/* A session secret key of type kt with every usage, extractable. */
static CK_OBJECT_HANDLE secret_rv(CK_SESSION_HANDLE s, CK_KEY_TYPE kt, const bytes_t *v, CK_RV want)
{
	CK_ATTRIBUTE t[] = {
		ATTR_VAR(CKA_CLASS, class_secret), ATTR_VAR(CKA_KEY_TYPE, kt),
		{ CKA_VALUE, (void *)v->b, v->n }, ATTR_VAR(CKA_ENCRYPT, yes), ATTR_VAR(CKA_DECRYPT, yes),
		ATTR_VAR(CKA_SIGN, yes), ATTR_VAR(CKA_VERIFY, yes), ATTR_VAR(CKA_WRAP, yes),
		ATTR_VAR(CKA_UNWRAP, yes), ATTR_VAR(CKA_EXTRACTABLE, yes),
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

	CK(want, p11->C_CreateObject(s, t, ARRAY_LEN(t), &h));
	return h;
}

static CK_OBJECT_HANDLE secret(CK_SESSION_HANDLE s, CK_KEY_TYPE kt, const char *hex)
{
	bytes_t v = hx(hex);
	return secret_rv(s, kt, &v, CKR_OK);
}

typedef CK_RV (*init_fn)(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
typedef CK_RV (*oneshot_fn)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
typedef CK_RV (*update_fn)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
typedef CK_RV (*final_fn)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR);

/* Single-part, with the two-call convention checked on the way: the size
 * query and a too-small buffer leave the operation usable. */
static CK_ULONG crypt_once(CK_SESSION_HANDLE s, bool enc, CK_MECHANISM *m, CK_OBJECT_HANDLE k,
			   const bytes_t *in, CK_BYTE *out, size_t cap)
{
	init_fn init = enc ? p11->C_EncryptInit : p11->C_DecryptInit;
	oneshot_fn once = enc ? p11->C_Encrypt : p11->C_Decrypt;
	CK_ULONG n = 0, small;

	OK(init(s, m, k));
	OK(once(s, (CK_BYTE_PTR)in->b, in->n, NULL, &n));
	ck_assert_uint_le(n, cap);
	if (n > 0) {
		small = 0;
		CK(CKR_BUFFER_TOO_SMALL, once(s, (CK_BYTE_PTR)in->b, in->n, out, &small));
	}
	n = cap;
	OK(once(s, (CK_BYTE_PTR)in->b, in->n, out, &n));
	return n;
}

/* Multi-part in pieces of 1, 7, 16, 5 ... bytes; sizes queried first. */
static CK_ULONG crypt_parts(CK_SESSION_HANDLE s, bool enc, CK_MECHANISM *m, CK_OBJECT_HANDLE k,
			    const bytes_t *in, CK_BYTE *out, size_t cap)
{
	static const CK_ULONG steps[] = { 1, 7, 16, 5, 33 };
	update_fn update = enc ? p11->C_EncryptUpdate : p11->C_DecryptUpdate;
	final_fn final = enc ? p11->C_EncryptFinal : p11->C_DecryptFinal;
	CK_ULONG done = 0, at = 0, n;

	OK((enc ? p11->C_EncryptInit : p11->C_DecryptInit)(s, m, k));
	for (size_t i = 0; at < in->n; i++) {
		CK_ULONG piece = steps[i % ARRAY_LEN(steps)];
		if (piece > in->n - at)
			piece = in->n - at;
		OK(update(s, (CK_BYTE_PTR)in->b + at, piece, NULL, &n));
		ck_assert_uint_le(done + n, cap);
		n = cap - done;
		OK(update(s, (CK_BYTE_PTR)in->b + at, piece, out + done, &n));
		done += n;
		at += piece;
	}
	OK(final(s, NULL, &n));
	ck_assert_uint_le(done + n, cap);
	n = cap - done;
	OK(final(s, out + done, &n));
	return done + n;
}

/* Both directions, single- and multi-part, against the vector. */
static void cipher_kat(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE k, const bytes_t *pt,
		       const bytes_t *ct, bool multipart, const char *what)
{
	CK_BYTE out[600];
	CK_ULONG n;

	n = crypt_once(s, true, m, k, pt, out, sizeof(out));
	eq(out, n, ct, what);
	n = crypt_once(s, false, m, k, ct, out, sizeof(out));
	eq(out, n, pt, what);
	if (!multipart)
		return;
	n = crypt_parts(s, true, m, k, pt, out, sizeof(out));
	eq(out, n, ct, what);
	n = crypt_parts(s, false, m, k, ct, out, sizeof(out));
	eq(out, n, pt, what);
}

/* ---- digests --------------------------------------------------------------- */

START_TEST(test_digest_abc)
{
	static const struct {
		CK_MECHANISM_TYPE m;
		const char *md;
	} v[] = {
		{ CKM_SHA_1, "a9993e364706816aba3e25717850c26c9cd0d89d" },
		{ CKM_SHA224, "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7" },
		{ CKM_SHA256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ CKM_SHA384, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7" },
		{ CKM_SHA512, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f" },
	};
	CK_SESSION_HANDLE s = session();
	CK_BYTE out[64];

	for (size_t i = 0; i < ARRAY_LEN(v); i++) {
		CK_MECHANISM m = { v[i].m, NULL, 0 };
		bytes_t want = hx(v[i].md);
		CK_ULONG n = sizeof(out);

		OK(p11->C_DigestInit(s, &m));
		OK(p11->C_Digest(s, (CK_BYTE_PTR)"abc", 3, out, &n));
		eq(out, n, &want, "digest");
		OK(p11->C_DigestInit(s, &m));
		OK(p11->C_DigestUpdate(s, (CK_BYTE_PTR)"a", 1));
		OK(p11->C_DigestUpdate(s, (CK_BYTE_PTR)"bc", 2));
		n = sizeof(out);
		OK(p11->C_DigestFinal(s, out, &n));
		eq(out, n, &want, "digest multi-part");
	}
}
END_TEST

/* ---- AES and DES3 block modes ------------------------------------------------ */

#define SP38A_PT "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51" \
		 "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
#define AES128 "2b7e151628aed2a6abf7158809cf4f3c"
#define AES192 "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b"
#define AES256 "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"
#define SP38A_IV "000102030405060708090a0b0c0d0e0f"
#define SP38A_CTR "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
#define TDEA_KEY "0123456789abcdef23456789abcdef01456789abcdef0123"
#define TDEA_PT "5468652071756663" "6b2062726f776e20" "666f78206a756d70" /* "The qufck brown fox jump" */

static const struct block_kat {
	const char *what;
	CK_MECHANISM_TYPE mech;
	CK_KEY_TYPE kt;
	const char *key, *iv, *pt, *ct;
} block_kats[] = {
	{ "SP 800-38A F.1.1 ECB-AES128", CKM_AES_ECB, CKK_AES, AES128, NULL, SP38A_PT,
	  "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf"
	  "43b1cd7f598ece23881b00e3ed0306887b0c785e27e8ad3f8223207104725dd4" },
	{ "SP 800-38A F.1.5 ECB-AES256", CKM_AES_ECB, CKK_AES, AES256, NULL, SP38A_PT,
	  "f3eed1bdb5d2a03c064b5a7e3db181f8591ccb10d410ed26dc5ba74a31362870"
	  "b6ed21b99ca6f4f9f153e7b1beafed1d23304b7a39f9f3ff067d8d8f9e24ecc7" },
	{ "SP 800-38A F.2.1 CBC-AES128", CKM_AES_CBC, CKK_AES, AES128, SP38A_IV, SP38A_PT,
	  "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
	  "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7" },
	{ "SP 800-38A F.2.3 CBC-AES192", CKM_AES_CBC, CKK_AES, AES192, SP38A_IV, SP38A_PT,
	  "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a"
	  "571b242012fb7ae07fa9baac3df102e008b0e27988598881d920a9e64f5615cd" },
	{ "F.2.1 + PKCS#7 block, CBC_PAD", CKM_AES_CBC_PAD, CKK_AES, AES128, SP38A_IV, SP38A_PT,
	  "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
	  "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7"
	  "8cb82807230e1321d3fae00d18cc2012" },
	{ "F.2.1 17 bytes, CBC_PAD", CKM_AES_CBC_PAD, CKK_AES, AES128, SP38A_IV,
	  "6bc1bee22e409f96e93d7e117393172aae",
	  "7649abac8119b246cee98e9b12e9197d34d2d260173113008c28112c77668c86" },
	{ "SP 800-38A F.5.1 CTR-AES128", CKM_AES_CTR, CKK_AES, AES128, SP38A_CTR, SP38A_PT,
	  "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
	  "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee" },
	{ "SP 800-38A F.5.5 CTR-AES256", CKM_AES_CTR, CKK_AES, AES256, SP38A_CTR, SP38A_PT,
	  "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
	  "2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6" },
	{ "SP 800-67 B.1 TDEA ECB", CKM_DES3_ECB, CKK_DES3, TDEA_KEY, NULL, TDEA_PT,
	  "a826fd8ce53b855fcce21c8112256fe668d5c05dd9b6b900" },
	{ "TDEA CBC", CKM_DES3_CBC, CKK_DES3, TDEA_KEY, "0001020304050607", TDEA_PT,
	  "f368d06f3bbd614e60f2d0245cad3f818d5c69f2cb3fd5c7" },
	{ "TDEA CBC_PAD", CKM_DES3_CBC_PAD, CKK_DES3, TDEA_KEY, "0001020304050607", TDEA_PT,
	  "f368d06f3bbd614e60f2d0245cad3f818d5c69f2cb3fd5c7efa5066e2c4e03b9" },
};

START_TEST(test_block_kat)
{
	const struct block_kat *v = &block_kats[_i];
	CK_SESSION_HANDLE s = session();
	CK_OBJECT_HANDLE k = secret(s, v->kt, v->key);
	bytes_t pt = hx(v->pt), ct = hx(v->ct), iv = { .n = 0 };
	CK_AES_CTR_PARAMS ctr = { .ulCounterBits = 128 };
	CK_MECHANISM m = { v->mech, NULL, 0 };

	if (v->iv != NULL)
		iv = hx(v->iv);
	if (v->mech == CKM_AES_CTR) {
		memcpy(ctr.cb, iv.b, sizeof(ctr.cb));
		m.pParameter = &ctr;
		m.ulParameterLen = sizeof(ctr);
	} else if (v->iv != NULL) {
		m.pParameter = iv.b;
		m.ulParameterLen = iv.n;
	}
	cipher_kat(s, &m, k, &pt, &ct, true, v->what);
}
END_TEST

START_TEST(test_block_rules)
{
	CK_SESSION_HANDLE s = session();
	CK_OBJECT_HANDLE k = secret(s, CKK_AES, AES128), k3 = secret(s, CKK_DES3, TDEA_KEY);
	bytes_t iv = hx(SP38A_IV);
	CK_MECHANISM ecb = { CKM_AES_ECB, NULL, 0 }, cbc = { CKM_AES_CBC, iv.b, 15 };
	CK_MECHANISM pad = { CKM_AES_CBC_PAD, iv.b, 16 }, des = { CKM_DES3_CBC, iv.b, 16 };
	CK_AES_CTR_PARAMS ctr = { .ulCounterBits = 8 };
	CK_MECHANISM ctrm = { CKM_AES_CTR, &ctr, sizeof(ctr) };
	CK_BYTE buf[64] = { 0 }, out[96];
	CK_ULONG n = sizeof(out);

	/* Bad parameters: CBC IV of 15 bytes, DES3 with a 16-byte IV. */
	CK(CKR_MECHANISM_PARAM_INVALID, p11->C_EncryptInit(s, &cbc, k));
	CK(CKR_MECHANISM_PARAM_INVALID, p11->C_EncryptInit(s, &des, k3));
	/* An AES mechanism with a DES3 key. */
	CK(CKR_KEY_TYPE_INCONSISTENT, p11->C_EncryptInit(s, &ecb, k3));
	/* ECB needs whole blocks; the failed call ends the operation. */
	OK(p11->C_EncryptInit(s, &ecb, k));
	CK(CKR_DATA_LEN_RANGE, p11->C_Encrypt(s, buf, 15, out, &n));
	CK(CKR_OPERATION_NOT_INITIALIZED, p11->C_Encrypt(s, buf, 16, out, &n));
	OK(p11->C_EncryptInit(s, &ecb, k));
	n = sizeof(out);
	OK(p11->C_EncryptUpdate(s, buf, 15, out, &n));
	ck_assert_uint_eq(n, 0);
	n = sizeof(out);
	CK(CKR_DATA_LEN_RANGE, p11->C_EncryptFinal(s, out, &n));
	/* A bad padding is bad data, and the decryption size query is not exact. */
	OK(p11->C_DecryptInit(s, &pad, k));
	n = sizeof(out);
	CK(CKR_ENCRYPTED_DATA_INVALID, p11->C_Decrypt(s, buf, 32, out, &n));
	OK(p11->C_DecryptInit(s, &pad, k));
	n = sizeof(out);
	CK(CKR_ENCRYPTED_DATA_LEN_RANGE, p11->C_Decrypt(s, buf, 20, out, &n));
	/* CTR with 8 counter bits starting at 0xfe leaves room for 2 blocks. */
	ctr.cb[15] = 0xfe;
	OK(p11->C_EncryptInit(s, &ctrm, k));
	n = sizeof(out);
	CK(CKR_DATA_LEN_RANGE, p11->C_Encrypt(s, buf, 33, out, &n));
	OK(p11->C_EncryptInit(s, &ctrm, k));
	n = sizeof(out);
	OK(p11->C_Encrypt(s, buf, 32, out, &n));
	ctr.ulCounterBits = 129;
	CK(CKR_MECHANISM_PARAM_INVALID, p11->C_EncryptInit(s, &ctrm, k));
}
END_TEST

/* Decrypting CBC_PAD into a buffer that fits the plaintext but not the
 * ciphertext: the exact length is found, not the upper bound refused. */
START_TEST(test_cbc_pad_exact)
{
	CK_SESSION_HANDLE s = session();
	CK_OBJECT_HANDLE k = secret(s, CKK_AES, AES128);
	bytes_t iv = hx(SP38A_IV), ct = hx("7649abac8119b246cee98e9b12e9197d34d2d260173113008c28112c77668c86");
	CK_MECHANISM m = { CKM_AES_CBC_PAD, iv.b, iv.n };
	CK_BYTE out[17];
	CK_ULONG n = 16;

	OK(p11->C_DecryptInit(s, &m, k));
	CK(CKR_BUFFER_TOO_SMALL, p11->C_Decrypt(s, ct.b, ct.n, out, &n));
	ck_assert_uint_eq(n, 17);
	n = 17;
	OK(p11->C_Decrypt(s, ct.b, ct.n, out, &n));
	ck_assert_uint_eq(n, 17);
	ck_assert_uint_eq(out[16], 0xae);
}
END_TEST

/* ---- GCM ------------------------------------------------------------------------ */

#define GCM_P "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" \
	      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
static const struct gcm_kat {
	const char *what, *key, *iv, *aad, *pt, *ct_tag;
} gcm_kats[] = {
	{ "GCM test case 2", "00000000000000000000000000000000", "000000000000000000000000", "",
	  "00000000000000000000000000000000", "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf" },
	{ "GCM test case 4", "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
	  "feedfacedeadbeeffeedfacedeadbeefabaddad2", GCM_P,
	  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
	  "5bc94fbc3221a5db94fae95ae7121a47" },
	{ "GCM test case 16", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	  "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2", GCM_P,
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
	  "76fc6ece0f4e1768cddf8853bb2d551b" },
};

START_TEST(test_gcm_kat)
{
	const struct gcm_kat *v = &gcm_kats[_i];
	CK_SESSION_HANDLE s = session();
	CK_OBJECT_HANDLE k = secret(s, CKK_AES, v->key);
	bytes_t iv = hx(v->iv), aad = hx(v->aad), pt = hx(v->pt), ct = hx(v->ct_tag);
	CK_GCM_PARAMS p = { iv.b, iv.n, iv.n * 8, aad.n ? aad.b : NULL, aad.n, 128 };
	struct {
		CK_BYTE_PTR iv;
		CK_ULONG iv_len;
		CK_BYTE_PTR aad;
		CK_ULONG aad_len, tag_bits;
	} p240 = { iv.b, iv.n, aad.n ? aad.b : NULL, aad.n, 128 };
	CK_MECHANISM m = { CKM_AES_GCM, &p, sizeof(p) }, m240 = { CKM_AES_GCM, &p240, sizeof(p240) };
	CK_BYTE out[128];
	CK_ULONG n;

	cipher_kat(s, &m, k, &pt, &ct, true, v->what);
	/* The v2.40 parameter layout (no ulIvBits) gives the same. */
	cipher_kat(s, &m240, k, &pt, &ct, false, v->what);
	/* A changed tag releases nothing. */
	ct.b[ct.n - 1] ^= 1;
	OK(p11->C_DecryptInit(s, &m, k));
	n = sizeof(out);
	memset(out, 0x55, sizeof(out));
	CK(CKR_ENCRYPTED_DATA_INVALID, p11->C_Decrypt(s, ct.b, ct.n, out, &n));
	for (size_t i = 0; i < pt.n; i++)
		ck_assert_msg(out[i] == 0 || out[i] == 0x55, "plaintext left behind");
	/* A shorter tag: 96 bits is the first 12 bytes of the full one. */
	ct.b[ct.n - 1] ^= 1;
	p.ulTagBits = 96;
	ct.n -= 4;
	cipher_kat(s, &m, k, &pt, &ct, true, v->what);
}
END_TEST

/* The GCM specification's test case 14: a 256-bit zero key, zero IV, one
 * zero block. */
#define GCM14_KEY "0000000000000000000000000000000000000000000000000000000000000000"
#define GCM14_CT_TAG "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"

/* Single-part GCM encryption with a 12-byte IV and a 128-bit tag. */
static CK_RV gcm_encrypt(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, const bytes_t *iv, const bytes_t *aad,
			 const bytes_t *pt, CK_BYTE *out, CK_ULONG *n)
{
	CK_GCM_PARAMS p = { (CK_BYTE_PTR)iv->b, iv->n, iv->n * 8, aad->n ? (CK_BYTE_PTR)aad->b : NULL, aad->n, 128 };
	CK_MECHANISM m = { CKM_AES_GCM, &p, sizeof(p) };
	CK_RV rv = p11->C_EncryptInit(s, &m, k);

	return rv != CKR_OK ? rv : p11->C_Encrypt(s, (CK_BYTE_PTR)pt->b, pt->n, out, n);
}

static void gcm_case(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, int which)
{
	const struct gcm_kat *v = &gcm_kats[which];
	bytes_t iv = hx(v->iv), aad = hx(v->aad), pt = hx(v->pt), ct = hx(v->ct_tag);
	CK_BYTE out[128];
	CK_ULONG n = sizeof(out);

	OK(gcm_encrypt(s, k, &iv, &aad, &pt, out, &n));
	eq(out, n, &ct, v->what);
}

static void gcm_case14(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k)
{
	bytes_t iv = hx("000000000000000000000000"), aad = { .n = 0 }, pt = hx("00000000000000000000000000000000");
	bytes_t ct = hx(GCM14_CT_TAG);
	CK_BYTE out[64];
	CK_ULONG n = sizeof(out);

	OK(gcm_encrypt(s, k, &iv, &aad, &pt, out, &n));
	eq(out, n, &ct, "GCM test case 14");
}

#define GCM16 2 /* gcm_kats[2]: test case 16, a 256-bit key with AAD */

/* Another session on s's slot. */
static CK_SESSION_HANDLE other_session(CK_SESSION_HANDLE s)
{
	CK_SESSION_INFO si;

	OK(p11->C_GetSessionInfo(s, &si));
	return tu_open(si.slotID, CKF_RW_SESSION);
}

/* A session keeps the keyed context of its last GCM operation for the
 * next one with the same key: nothing may make it use a stale one. A key
 * destroyed and another made in its place (the same size, so likely in
 * the same memory) encrypts as the new key, and the old handle is gone,
 * whichever session destroyed it. */
START_TEST(test_gcm_kept_key_replaced)
{
	CK_SESSION_HANDLE s = session(), other = other_session(s);
	CK_OBJECT_HANDLE k1 = secret(s, CKK_AES, gcm_kats[GCM16].key), k2, k3;
	bytes_t iv = hx("000000000000000000000000"), aad = { .n = 0 }, pt = hx("00");
	CK_BYTE out[64];
	CK_ULONG n = sizeof(out);

	gcm_case(s, k1, GCM16);
	gcm_case(s, k1, GCM16); /* the kept context, with the AAD again */
	OK(p11->C_DestroyObject(s, k1));
	CK(CKR_KEY_HANDLE_INVALID, gcm_encrypt(s, k1, &iv, &aad, &pt, out, &n));
	k2 = secret(s, CKK_AES, GCM14_KEY);
	gcm_case14(s, k2);
	gcm_case14(s, k2);
	/* Destroyed by another session while this one keeps it. */
	OK(p11->C_DestroyObject(other, k2));
	CK(CKR_KEY_HANDLE_INVALID, gcm_encrypt(s, k2, &iv, &aad, &pt, out, &n));
	k3 = secret(other, CKK_AES, gcm_kats[GCM16].key);
	gcm_case(s, k3, GCM16);
}
END_TEST

/* Two keys in turn on one session, and each direction after the other. */
START_TEST(test_gcm_kept_alternating)
{
	CK_SESSION_HANDLE s = session();
	CK_OBJECT_HANDLE k16 = secret(s, CKK_AES, gcm_kats[GCM16].key), k14 = secret(s, CKK_AES, GCM14_KEY);
	const struct gcm_kat *v = &gcm_kats[GCM16];
	bytes_t iv = hx(v->iv), aad = hx(v->aad), pt = hx(v->pt), ct = hx(v->ct_tag);
	CK_GCM_PARAMS p = { iv.b, iv.n, iv.n * 8, aad.b, aad.n, 128 };
	CK_MECHANISM m = { CKM_AES_GCM, &p, sizeof(p) };
	CK_BYTE out[128];
	CK_ULONG n;

	for (int i = 0; i < 4; i++) {
		gcm_case(s, k16, GCM16);
		gcm_case14(s, k14);
	}
	for (int i = 0; i < 3; i++) {
		gcm_case(s, k16, GCM16);
		OK(p11->C_DecryptInit(s, &m, k16));
		n = sizeof(out);
		OK(p11->C_Decrypt(s, ct.b, ct.n, out, &n));
		eq(out, n, &pt, "decrypt after encrypt");
		/* A wrong tag on the kept decryption context, then a right one. */
		ct.b[0] ^= 1;
		OK(p11->C_DecryptInit(s, &m, k16));
		n = sizeof(out);
		CK(CKR_ENCRYPTED_DATA_INVALID, p11->C_Decrypt(s, ct.b, ct.n, out, &n));
		ct.b[0] ^= 1;
	}
	/* Another IV length, then 96 bits again: the same key, the vector. */
	CK_BYTE iv16[16] = { 1 };
	CK_GCM_PARAMS p16 = { iv16, 16, 128, NULL, 0, 128 };
	CK_MECHANISM m16 = { CKM_AES_GCM, &p16, sizeof(p16) };
	n = sizeof(out);
	OK(p11->C_EncryptInit(s, &m16, k16));
	OK(p11->C_Encrypt(s, pt.b, pt.n, out, &n));
	gcm_case(s, k16, GCM16);
	/* Parameters the kept context cannot take are still refused. */
	p.ulTagBits = 130;
	CK(CKR_MECHANISM_PARAM_INVALID, p11->C_EncryptInit(s, &m, k16));
	gcm_case(s, k16, GCM16);
}
END_TEST

/* Attribute changes: one that leaves the value alone still encrypts as the
 * key; one that withdraws CKA_ENCRYPT is seen by the next C_EncryptInit;
 * a logout takes the key with it. */
START_TEST(test_gcm_kept_attributes)
{
	CK_SESSION_HANDLE s = session();
	CK_OBJECT_HANDLE k = secret(s, CKK_AES, gcm_kats[GCM16].key);
	CK_ATTRIBUTE label[] = { { CKA_LABEL, "relabelled", 10 } };
	CK_ATTRIBUTE no_encrypt[] = { ATTR_VAR(CKA_ENCRYPT, no) };
	bytes_t iv = hx("000000000000000000000000"), aad = { .n = 0 }, pt = hx("00");
	CK_BYTE out[64];
	CK_ULONG n = sizeof(out);

	gcm_case(s, k, GCM16);
	OK(p11->C_SetAttributeValue(s, k, label, 1));
	gcm_case(s, k, GCM16);
	gcm_case(s, k, GCM16);
	OK(p11->C_SetAttributeValue(s, k, no_encrypt, 1));
	CK(CKR_KEY_FUNCTION_NOT_PERMITTED, gcm_encrypt(s, k, &iv, &aad, &pt, out, &n));
	k = secret(s, CKK_AES, gcm_kats[GCM16].key);
	gcm_case(s, k, GCM16);
	OK(p11->C_Logout(s));
	CK(CKR_KEY_HANDLE_INVALID, gcm_encrypt(s, k, &iv, &aad, &pt, out, &n));
}
END_TEST

/* A forked child encrypts with the parent's kept key as the key. Calls
 * nothing of Check's in the child. */
START_TEST(test_gcm_kept_fork)
{
	CK_SESSION_HANDLE s = session();
	CK_OBJECT_HANDLE k = secret(s, CKK_AES, GCM14_KEY);
	int status = 0;
	pid_t pid;

	gcm_case14(s, k);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		bytes_t iv = { .n = 12 }, aad = { .n = 0 }, pt = { .n = 16 };
		static const CK_BYTE want[] = { 0xce, 0xa7, 0x40, 0x3d, 0x4d, 0x60, 0x6b, 0x6e,
						0x07, 0x4e, 0xc5, 0xd3, 0xba, 0xf3, 0x9d, 0x18 };
		CK_BYTE out[64];
		CK_ULONG n = sizeof(out);
		int code = 0;

		for (int i = 0; i < 2 && code == 0; i++) {
			n = sizeof(out);
			if (gcm_encrypt(s, k, &iv, &aad, &pt, out, &n) != CKR_OK)
				code = 1;
			else if (n != 32 || memcmp(out, want, sizeof(want)) != 0)
				code = 2;
		}
		_exit(code);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	gcm_case14(s, k);
}
END_TEST

START_TEST(test_gcm_params)
{
	CK_SESSION_HANDLE s = session();
	CK_OBJECT_HANDLE k = secret(s, CKK_AES, AES128);
	CK_BYTE iv[12] = { 0 }, out[64];
	CK_GCM_PARAMS p = { iv, 12, 96, NULL, 0, 128 };
	CK_MECHANISM m = { CKM_AES_GCM, &p, sizeof(p) };
	CK_ULONG n = sizeof(out);

	p.ulIvBits = 95;
	CK(CKR_MECHANISM_PARAM_INVALID, p11->C_EncryptInit(s, &m, k));
	p.ulIvBits = 96;
	p.ulTagBits = 130;
	CK(CKR_MECHANISM_PARAM_INVALID, p11->C_EncryptInit(s, &m, k));
	p.ulTagBits = 128;
	p.ulIvLen = 0;
	CK(CKR_MECHANISM_PARAM_INVALID, p11->C_EncryptInit(s, &m, k));
	p.ulIvLen = 12;
	m.ulParameterLen = 7;
	CK(CKR_MECHANISM_PARAM_INVALID, p11->C_EncryptInit(s, &m, k));
	/* Decrypting less than a tag. */
	m.ulParameterLen = sizeof(p);
	OK(p11->C_DecryptInit(s, &m, k));
	CK(CKR_ENCRYPTED_DATA_LEN_RANGE, p11->C_Decrypt(s, out, 15, out, &n));
}
END_TEST

/* ---- AES key wrap, as a cipher and through C_WrapKey / C_UnwrapKey ---------------- */

static const struct kw_kat {
	const char *what;
	CK_MECHANISM_TYPE mech;
	const char *kek, *key, *wrapped;
} kw_kats[] = {
	{ "RFC 3394 4.1", CKM_AES_KEY_WRAP, "000102030405060708090a0b0c0d0e0f",
	  "00112233445566778899aabbccddeeff", "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5" },
	{ "RFC 3394 4.6", CKM_AES_KEY_WRAP, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
	  "00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f",
	  "28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21" },
	{ "RFC 5649 6 (20 bytes)", CKM_AES_KEY_WRAP_KWP, "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8",
	  "c37b7e6492584340bed12207808941155068f738",
	  "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a" },
	{ "RFC 5649 6 (7 bytes)", CKM_AES_KEY_WRAP_KWP, "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8",
	  "466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f" },
};

START_TEST(test_keywrap_kat)
{
	const struct kw_kat *v = &kw_kats[_i];
	CK_SESSION_HANDLE s = session();
	CK_OBJECT_HANDLE kek = secret(s, CKK_AES, v->kek);
	CK_OBJECT_HANDLE key = secret(s, CKK_GENERIC_SECRET, v->key), got;
	bytes_t k = hx(v->key), w = hx(v->wrapped);
	CK_MECHANISM m = { v->mech, NULL, 0 }, ecb = { CKM_AES_ECB, NULL, 0 };
	CK_KEY_TYPE gen = CKK_GENERIC_SECRET;
	CK_ATTRIBUTE t[] = { ATTR_VAR(CKA_CLASS, class_secret), ATTR_VAR(CKA_KEY_TYPE, gen),
			     ATTR_VAR(CKA_SENSITIVE, no), ATTR_VAR(CKA_EXTRACTABLE, yes) };
	CK_BYTE out[128];
	CK_ULONG n = 0;

	/* As a single-part cipher; Update is not defined for it. */
	cipher_kat(s, &m, kek, &k, &w, false, v->what);
	OK(p11->C_EncryptInit(s, &m, kek));
	n = sizeof(out);
	CK(CKR_FUNCTION_NOT_SUPPORTED, p11->C_EncryptUpdate(s, k.b, k.n, out, &n));
	/* C_WrapKey: size query, too small, then the vector. */
	OK(p11->C_WrapKey(s, &m, kek, key, NULL, &n));
	ck_assert_uint_eq(n, w.n);
	n = w.n - 1;
	CK(CKR_BUFFER_TOO_SMALL, p11->C_WrapKey(s, &m, kek, key, out, &n));
	ck_assert_uint_eq(n, w.n);
	OK(p11->C_WrapKey(s, &m, kek, key, out, &n));
	eq(out, n, &w, v->what);
	/* C_UnwrapKey: the same key back, marked as having been outside. */
	OK(p11->C_UnwrapKey(s, &m, kek, w.b, w.n, t, ARRAY_LEN(t), &got));
	free(tu_get_bytes(s, got, CKA_VALUE, &n));
	ck_assert_uint_eq(n, k.n);
	{
		CK_BYTE *val = tu_get_bytes(s, got, CKA_VALUE, &n);
		eq(val, n, &k, "unwrapped value");
		free(val);
	}
	ck_assert(!tu_get_bool(s, got, CKA_LOCAL));
	ck_assert(!tu_get_bool(s, got, CKA_ALWAYS_SENSITIVE));
	ck_assert(!tu_get_bool(s, got, CKA_NEVER_EXTRACTABLE));
	ck_assert_uint_eq(tu_get_ulong(s, got, CKA_VALUE_LEN), k.n);
	/* A changed byte fails the integrity check. */
	w.b[3] ^= 0x40;
	CK(CKR_WRAPPED_KEY_INVALID, p11->C_UnwrapKey(s, &m, kek, w.b, w.n, t, ARRAY_LEN(t), &got));
	/* ECB cannot wrap. */
	CK(CKR_MECHANISM_INVALID, p11->C_WrapKey(s, &ecb, kek, key, NULL, &n));
}
END_TEST

/* ---- MACs -------------------------------------------------------------------------- */

static void mac_kat(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE k, const bytes_t *msg,
		    const bytes_t *mac, const char *what)
{
	CK_BYTE out[64], bad[64];
	CK_ULONG n = 0;

	OK(p11->C_SignInit(s, m, k));
	OK(p11->C_Sign(s, (CK_BYTE_PTR)msg->b, msg->n, NULL, &n));
	ck_assert_uint_eq(n, mac->n);
	OK(p11->C_Sign(s, (CK_BYTE_PTR)msg->b, msg->n, out, &n));
	eq(out, n, mac, what);
	OK(p11->C_SignInit(s, m, k));
	for (CK_ULONG at = 0; at < msg->n; at += 3)
		OK(p11->C_SignUpdate(s, (CK_BYTE_PTR)msg->b + at, msg->n - at < 3 ? msg->n - at : 3));
	n = sizeof(out);
	OK(p11->C_SignFinal(s, out, &n));
	eq(out, n, mac, what);
	OK(p11->C_VerifyInit(s, m, k));
	OK(p11->C_Verify(s, (CK_BYTE_PTR)msg->b, msg->n, (CK_BYTE_PTR)mac->b, mac->n));
	OK(p11->C_VerifyInit(s, m, k));
	OK(p11->C_VerifyUpdate(s, (CK_BYTE_PTR)msg->b, msg->n));
	OK(p11->C_VerifyFinal(s, (CK_BYTE_PTR)mac->b, mac->n));
	memcpy(bad, mac->b, mac->n);
	bad[mac->n - 1] ^= 1;
	OK(p11->C_VerifyInit(s, m, k));
	CK(CKR_SIGNATURE_INVALID, p11->C_Verify(s, (CK_BYTE_PTR)msg->b, msg->n, bad, mac->n));
	OK(p11->C_VerifyInit(s, m, k));
	CK(CKR_SIGNATURE_LEN_RANGE, p11->C_Verify(s, (CK_BYTE_PTR)msg->b, msg->n, bad, mac->n - 1));
}

START_TEST(test_cmac_kat)
{
	static const struct {
		CK_ULONG len;
		const char *mac;
	} v[] = { { 0, "bb1d6929e95937287fa37d129b756746" },
		  { 16, "070a16b46b4d4144f79bdd9dd04a287c" },
		  { 40, "dfa66747de9ae63030ca32611497c827" },
		  { 64, "51f0bebf7e3b9d92fc49741779363cfe" } };
	CK_SESSION_HANDLE s = session();
	CK_OBJECT_HANDLE k = secret(s, CKK_AES, AES128);
	bytes_t all = hx(SP38A_PT);
	CK_MECHANISM m = { CKM_AES_CMAC, NULL, 0 };
	CK_MAC_GENERAL_PARAMS len = 8;
	CK_MECHANISM g = { CKM_AES_CMAC_GENERAL, &len, sizeof(len) };

	for (size_t i = 0; i < ARRAY_LEN(v); i++) {
		bytes_t msg = all, mac = hx(v[i].mac);
		msg.n = v[i].len;
		mac_kat(s, &m, k, &msg, &mac, "RFC 4493 AES-CMAC");
		mac.n = 8; /* _GENERAL: the leftmost bytes */
		mac_kat(s, &g, k, &msg, &mac, "AES-CMAC-GENERAL");
	}
	len = 17;
	CK(CKR_MECHANISM_PARAM_INVALID, p11->C_SignInit(s, &g, k));
}
END_TEST

static const struct hmac_kat {
	const char *what;
	CK_MECHANISM_TYPE mech, general;
	CK_KEY_TYPE own;
	const char *key, *msg, *mac;
} hmac_kats[] = {
	{ "RFC 2202 2 case 1", CKM_SHA_1_HMAC, CKM_SHA_1_HMAC_GENERAL, CKK_SHA_1_HMAC,
	  "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
	  "b617318655057264e28bc0b6fb378c8ef146be00" },
	{ "RFC 4231 4.2 SHA-224", CKM_SHA224_HMAC, CKM_SHA224_HMAC_GENERAL, CKK_SHA224_HMAC,
	  "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
	  "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22" },
	{ "RFC 4231 4.2 SHA-256", CKM_SHA256_HMAC, CKM_SHA256_HMAC_GENERAL, CKK_SHA256_HMAC,
	  "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
	  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
	{ "RFC 4231 4.3 SHA-256", CKM_SHA256_HMAC, CKM_SHA256_HMAC_GENERAL, CKK_SHA256_HMAC, "4a656665",
	  "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
	  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
	{ "RFC 4231 4.2 SHA-384", CKM_SHA384_HMAC, CKM_SHA384_HMAC_GENERAL, CKK_SHA384_HMAC,
	  "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
	  "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6" },
	{ "RFC 4231 4.2 SHA-512", CKM_SHA512_HMAC, CKM_SHA512_HMAC_GENERAL, CKK_SHA512_HMAC,
	  "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
	  "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
	  "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854" },
};

START_TEST(test_hmac_kat)
{
	const struct hmac_kat *v = &hmac_kats[_i];
	CK_SESSION_HANDLE s = session();
	CK_OBJECT_HANDLE generic = secret(s, CKK_GENERIC_SECRET, v->key), own = secret(s, v->own, v->key);
	CK_OBJECT_HANDLE aes = secret(s, CKK_AES, AES128);
	bytes_t msg = hx(v->msg), mac = hx(v->mac);
	CK_MECHANISM m = { v->mech, NULL, 0 };
	CK_MAC_GENERAL_PARAMS len = 16;
	CK_MECHANISM g = { v->general, &len, sizeof(len) };

	mac_kat(s, &m, generic, &msg, &mac, v->what);
	mac_kat(s, &m, own, &msg, &mac, v->what);
	mac.n = 16;
	mac_kat(s, &g, generic, &msg, &mac, v->what);
	/* An AES key is no HMAC key. */
	CK(CKR_KEY_TYPE_INCONSISTENT, p11->C_SignInit(s, &m, aes));
	m.ulParameterLen = 4;
	m.pParameter = &len;
	CK(CKR_MECHANISM_PARAM_INVALID, p11->C_SignInit(s, &m, generic));
}
END_TEST

/* ---- every listed mechanism is covered --------------------------------------------- */

/* The secret-key mechanisms and digests this suite runs against vectors
 * (the key generations: test_keygen); test-module runs the asymmetric
 * ones both ways against OpenSSL. */
static const CK_MECHANISM_TYPE kat_covered[] = {
	CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512,
	CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CBC_PAD, CKM_AES_CTR, CKM_AES_GCM, CKM_AES_CMAC,
	CKM_AES_CMAC_GENERAL, CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_KWP, CKM_DES3_ECB, CKM_DES3_CBC,
	CKM_DES3_CBC_PAD, CKM_SHA_1_HMAC, CKM_SHA_1_HMAC_GENERAL, CKM_SHA224_HMAC, CKM_SHA224_HMAC_GENERAL,
	CKM_SHA256_HMAC, CKM_SHA256_HMAC_GENERAL, CKM_SHA384_HMAC, CKM_SHA384_HMAC_GENERAL,
	CKM_SHA512_HMAC, CKM_SHA512_HMAC_GENERAL, CKM_AES_KEY_GEN, CKM_DES3_KEY_GEN,
	CKM_GENERIC_SECRET_KEY_GEN,
};

START_TEST(test_symmetric_listed)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_MECHANISM_TYPE list[128];
	CK_MECHANISM_INFO info;
	CK_ULONG n = ARRAY_LEN(list);

	OK(p11->C_GetMechanismList(slot, list, &n));
	for (size_t i = 0; i < ARRAY_LEN(kat_covered); i++) {
		bool listed = false;
		for (CK_ULONG j = 0; j < n; j++)
			listed = listed || list[j] == kat_covered[i];
		ck_assert_msg(listed, "mechanism 0x%lx not listed", (unsigned long)kat_covered[i]);
		OK(p11->C_GetMechanismInfo(slot, kat_covered[i], &info));
		ck_assert((info.flags & CKF_HW) == 0);
	}
	OK(p11->C_GetMechanismInfo(slot, CKM_AES_GCM, &info));
	ck_assert_uint_eq(info.ulMinKeySize, 16);
	ck_assert_uint_eq(info.ulMaxKeySize, 32);
	ck_assert_uint_eq(info.flags, CKF_ENCRYPT | CKF_DECRYPT);
	OK(p11->C_GetMechanismInfo(slot, CKM_AES_KEY_WRAP, &info));
	ck_assert_uint_eq(info.flags, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP);
	OK(p11->C_GetMechanismInfo(slot, CKM_DES3_KEY_GEN, &info));
	ck_assert(info.ulMinKeySize == 24 && info.ulMaxKeySize == 24 && info.flags == CKF_GENERATE);
	/* Single DES stays out. */
	CK(CKR_MECHANISM_INVALID, p11->C_GetMechanismInfo(slot, CKM_DES_CBC, &info));
	CK(CKR_MECHANISM_INVALID, p11->C_GetMechanismInfo(slot, CKM_DES_KEY_GEN, &info));
}
END_TEST

/* ---- secret key objects ------------------------------------------------------------- */

static CK_RV gen_key(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE mt, CK_ULONG len, CK_OBJECT_HANDLE *out)
{
	CK_MECHANISM m = { mt, NULL, 0 };
	CK_ATTRIBUTE t[] = { ATTR_VAR(CKA_ENCRYPT, yes), ATTR_VAR(CKA_VALUE_LEN, len) };

	/* len 0: no CKA_VALUE_LEN at all */
	return p11->C_GenerateKey(s, &m, t, len == 0 ? 1 : 2, out);
}

START_TEST(test_keygen)
{
	CK_SESSION_HANDLE s = session();
	CK_OBJECT_HANDLE k;
	CK_ATTRIBUTE val = { CKA_VALUE, NULL, 0 };
	CK_BYTE iv[16] = { 0 }, pt[32] = { 1 }, ct[48], back[48];
	CK_MECHANISM cbc = { CKM_AES_CBC, iv, 16 };
	CK_ULONG n, len;

	for (CK_ULONG bytes = 16; bytes <= 32; bytes += 8) {
		OK(gen_key(s, CKM_AES_KEY_GEN, bytes, &k));
		ck_assert_uint_eq(tu_get_ulong(s, k, CKA_KEY_TYPE), CKK_AES);
		ck_assert_uint_eq(tu_get_ulong(s, k, CKA_VALUE_LEN), bytes);
		ck_assert_uint_eq(tu_get_ulong(s, k, CKA_KEY_GEN_MECHANISM), CKM_AES_KEY_GEN);
		ck_assert(tu_get_bool(s, k, CKA_LOCAL) && tu_get_bool(s, k, CKA_ALWAYS_SENSITIVE));
		ck_assert(tu_get_bool(s, k, CKA_NEVER_EXTRACTABLE));
		free(tu_get_bytes(s, k, CKA_CHECK_VALUE, &len));
		ck_assert_uint_eq(len, 3);
		CK(CKR_ATTRIBUTE_SENSITIVE, p11->C_GetAttributeValue(s, k, &val, 1));
		/* usable at once */
		OK(p11->C_EncryptInit(s, &cbc, k));
		n = sizeof(ct);
		OK(p11->C_Encrypt(s, pt, sizeof(pt), ct, &n));
		OK(p11->C_DecryptInit(s, &cbc, k));
		n = sizeof(back);
		OK(p11->C_Decrypt(s, ct, 32, back, &n));
		ck_assert(n == 32 && memcmp(back, pt, 32) == 0);
	}
	CK(CKR_ATTRIBUTE_VALUE_INVALID, gen_key(s, CKM_AES_KEY_GEN, 20, &k));
	CK(CKR_KEY_SIZE_RANGE, gen_key(s, CKM_AES_KEY_GEN, 64, &k));
	CK(CKR_TEMPLATE_INCOMPLETE, gen_key(s, CKM_AES_KEY_GEN, 0, &k));
	/* DES3: 24 bytes, odd parity in every byte. */
	OK(gen_key(s, CKM_DES3_KEY_GEN, 0, &k));
	ck_assert_uint_eq(tu_get_ulong(s, k, CKA_KEY_TYPE), CKK_DES3);
	CK(CKR_ATTRIBUTE_VALUE_INVALID, gen_key(s, CKM_DES3_KEY_GEN, 16, &k));
	{
		CK_MECHANISM m = { CKM_DES3_KEY_GEN, NULL, 0 };
		CK_ATTRIBUTE t[] = { ATTR_VAR(CKA_SENSITIVE, no), ATTR_VAR(CKA_EXTRACTABLE, yes) };
		CK_BYTE *v;

		OK(p11->C_GenerateKey(s, &m, t, ARRAY_LEN(t), &k));
		v = tu_get_bytes(s, k, CKA_VALUE, &len);
		ck_assert_uint_eq(len, 24);
		for (size_t i = 0; i < len; i++)
			ck_assert_msg(__builtin_popcount(v[i]) % 2 == 1, "byte %zu has even parity", i);
		free(v);
	}
	/* Generic secrets may be made as HMAC keys. */
	{
		CK_MECHANISM m = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
		CK_KEY_TYPE kt = CKK_SHA256_HMAC;
		CK_ULONG l = 32;
		CK_ATTRIBUTE t[] = { ATTR_VAR(CKA_KEY_TYPE, kt), ATTR_VAR(CKA_VALUE_LEN, l) };
		CK_MECHANISM mac = { CKM_SHA256_HMAC, NULL, 0 };

		OK(p11->C_GenerateKey(s, &m, t, ARRAY_LEN(t), &k));
		ck_assert_uint_eq(tu_get_ulong(s, k, CKA_KEY_TYPE), CKK_SHA256_HMAC);
		OK(p11->C_SignInit(s, &mac, k));
		kt = CKK_AES;
		CK(CKR_TEMPLATE_INCONSISTENT, p11->C_GenerateKey(s, &m, t, ARRAY_LEN(t), &k));
	}
}
END_TEST

START_TEST(test_secret_import)
{
	CK_SESSION_HANDLE s = session();
	bytes_t aes = hx(AES128), kcv = hx("7df76b"), bad_kcv = hx("7df76c"), short_key = hx("0011223344");
	CK_KEY_TYPE kt = CKK_AES;
	CK_ATTRIBUTE t[] = { ATTR_VAR(CKA_CLASS, class_secret), ATTR_VAR(CKA_KEY_TYPE, kt),
			     { CKA_VALUE, aes.b, aes.n }, { CKA_CHECK_VALUE, kcv.b, kcv.n },
			     ATTR_VAR(CKA_PRIVATE, no) };
	CK_OBJECT_HANDLE k;
	CK_BYTE *v;
	CK_ULONG n;

	/* The check value: computed, and checked when given. */
	OK(p11->C_CreateObject(s, t, 4, &k));
	v = tu_get_bytes(s, k, CKA_CHECK_VALUE, &n);
	eq(v, n, &kcv, "AES KCV");
	free(v);
	ck_assert_uint_eq(tu_get_ulong(s, k, CKA_VALUE_LEN), 16);
	ck_assert(!tu_get_bool(s, k, CKA_LOCAL));
	t[3].pValue = bad_kcv.b;
	CK(CKR_ATTRIBUTE_VALUE_INVALID, p11->C_CreateObject(s, t, 4, &k));
	k = secret(s, CKK_DES3, TDEA_KEY);
	v = tu_get_bytes(s, k, CKA_CHECK_VALUE, &n);
	{
		bytes_t want = hx("4eba73");
		eq(v, n, &want, "DES3 KCV");
	}
	free(v);
	k = secret(s, CKK_GENERIC_SECRET, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
	v = tu_get_bytes(s, k, CKA_CHECK_VALUE, &n);
	{
		bytes_t want = hx("8ea4de"); /* SHA-1 of the value */
		eq(v, n, &want, "generic KCV");
	}
	free(v);
	/* Lengths the key type does not have. */
	secret_rv(s, CKK_AES, &short_key, CKR_ATTRIBUTE_VALUE_INVALID);
	secret_rv(s, CKK_DES3, &aes, CKR_ATTRIBUTE_VALUE_INVALID);
	/* Secret keys stay private (stored encrypted only): refused, whichever
	 * code the token's rule answers with. */
	t[3].pValue = kcv.b;
	ck_assert(p11->C_CreateObject(s, t, 5, &k) != CKR_OK);
	/* Single DES is no key type here. */
	kt = CKK_DES;
	CK(CKR_ATTRIBUTE_VALUE_INVALID, p11->C_CreateObject(s, t, 3, &k));
}
END_TEST

/* ---- wrapping rules ------------------------------------------------------------------ */

static void same_kcv(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE a, CK_OBJECT_HANDLE b)
{
	CK_ULONG la, lb;
	CK_BYTE *va = tu_get_bytes(s, a, CKA_CHECK_VALUE, &la), *vb = tu_get_bytes(s, b, CKA_CHECK_VALUE, &lb);

	ck_assert(la == 3 && lb == 3 && memcmp(va, vb, 3) == 0);
	free(va);
	free(vb);
}

static CK_OBJECT_HANDLE aes_key(CK_SESSION_HANDLE s, CK_BBOOL extractable, CK_BBOOL with_trusted)
{
	CK_MECHANISM m = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_ULONG len = 32;
	CK_ATTRIBUTE t[] = { ATTR_VAR(CKA_VALUE_LEN, len), ATTR_VAR(CKA_EXTRACTABLE, extractable),
			     ATTR_VAR(CKA_WRAP_WITH_TRUSTED, with_trusted), ATTR_VAR(CKA_WRAP, yes),
			     ATTR_VAR(CKA_UNWRAP, yes), ATTR_VAR(CKA_ENCRYPT, yes), ATTR_VAR(CKA_DECRYPT, yes) };
	CK_OBJECT_HANDLE k;

	OK(p11->C_GenerateKey(s, &m, t, ARRAY_LEN(t), &k));
	return k;
}

START_TEST(test_wrap_rules)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE so = tu_open(slot, CKF_RW_SESSION), s;
	EVP_PKEY *rsa = tu_ossl_rsa(2048);
	CK_ATTRIBUTE trusted_attrs[] = { ATTR_VAR(CKA_TOKEN, yes), ATTR_VAR(CKA_TRUSTED, yes) };
	CK_OBJECT_HANDLE kek, locked, loose, guarded, pub, priv, trusted_pub, got;
	CK_MECHANISM kw = { CKM_AES_KEY_WRAP, NULL, 0 };
	CK_RSA_PKCS_OAEP_PARAMS oaep_p = { CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0 };
	CK_MECHANISM oaep = { CKM_RSA_PKCS_OAEP, &oaep_p, sizeof(oaep_p) };
	CK_KEY_TYPE aes = CKK_AES;
	CK_ATTRIBUTE ut[] = { ATTR_VAR(CKA_CLASS, class_secret), ATTR_VAR(CKA_KEY_TYPE, aes),
			      ATTR_VAR(CKA_ENCRYPT, yes) };
	CK_BYTE wrapped[512];
	CK_ULONG n = sizeof(wrapped);

	/* Only the SO makes a trusted key: here an RSA public key. A user's
	 * template asking for CKA_TRUSTED is refused. */
	OK(p11->C_Login(so, CKU_SO, TU_PIN(TU_SO_PIN)));
	OK(tu_import_public(so, rsa, trusted_attrs, ARRAY_LEN(trusted_attrs), &trusted_pub));
	OK(p11->C_Logout(so));
	s = tu_user_session(slot);
	ck_assert(tu_get_bool(s, trusted_pub, CKA_TRUSTED));
	CK(CKR_ATTRIBUTE_READ_ONLY, tu_import_public(s, rsa, trusted_attrs, ARRAY_LEN(trusted_attrs), &pub));
	OK(tu_import_public(s, rsa, NULL, 0, &pub));
	OK(tu_import_private(s, rsa, NULL, 0, &priv));
	kek = aes_key(s, CK_FALSE, CK_FALSE);
	locked = aes_key(s, CK_FALSE, CK_FALSE);
	loose = aes_key(s, CK_TRUE, CK_FALSE);
	guarded = aes_key(s, CK_TRUE, CK_TRUE);

	/* Not extractable: never wrapped. */
	CK(CKR_KEY_UNEXTRACTABLE, p11->C_WrapKey(s, &kw, kek, locked, wrapped, &n));
	/* CKA_WRAP_WITH_TRUSTED: not under an untrusted key. */
	n = sizeof(wrapped);
	CK(CKR_KEY_NOT_WRAPPABLE, p11->C_WrapKey(s, &kw, kek, guarded, wrapped, &n));
	n = sizeof(wrapped);
	CK(CKR_KEY_NOT_WRAPPABLE, p11->C_WrapKey(s, &oaep, pub, guarded, wrapped, &n));
	/* The wrapping key and the key must exist. */
	n = sizeof(wrapped);
	CK(CKR_WRAPPING_KEY_HANDLE_INVALID, p11->C_WrapKey(s, &kw, 0x7777, loose, wrapped, &n));
	CK(CKR_KEY_HANDLE_INVALID, p11->C_WrapKey(s, &kw, kek, 0x7777, wrapped, &n));
	/* An ordinary extractable key wraps; the unwrapped copy has been outside. */
	n = sizeof(wrapped);
	OK(p11->C_WrapKey(s, &kw, kek, loose, wrapped, &n));
	ck_assert_uint_eq(n, 40);
	OK(p11->C_UnwrapKey(s, &kw, kek, wrapped, n, ut, ARRAY_LEN(ut), &got));
	ck_assert(!tu_get_bool(s, got, CKA_ALWAYS_SENSITIVE) && !tu_get_bool(s, got, CKA_NEVER_EXTRACTABLE));
	ck_assert(tu_get_bool(s, got, CKA_SENSITIVE));
	ck_assert_uint_eq(tu_get_ulong(s, got, CKA_VALUE_LEN), 32);
	same_kcv(s, got, loose);
	{
		CK_ATTRIBUTE tt[] = { ATTR_VAR(CKA_CLASS, class_secret), ATTR_VAR(CKA_KEY_TYPE, aes),
				      ATTR_VAR(CKA_TRUSTED, yes) };
		CK(CKR_ATTRIBUTE_READ_ONLY, p11->C_UnwrapKey(s, &kw, kek, wrapped, n, tt, ARRAY_LEN(tt), &got));
	}
	/* Under the trusted key the guarded key wraps (two calls); the private key unwraps it. */
	n = 0;
	OK(p11->C_WrapKey(s, &oaep, trusted_pub, guarded, NULL, &n));
	ck_assert_uint_eq(n, 256);
	OK(p11->C_WrapKey(s, &oaep, trusted_pub, guarded, wrapped, &n));
	ut[2].type = CKA_DECRYPT;
	OK(p11->C_UnwrapKey(s, &oaep, priv, wrapped, n, ut, ARRAY_LEN(ut), &got));
	same_kcv(s, got, guarded);
	/* A wrapped key of the wrong length for the mechanism's key. */
	CK(CKR_WRAPPED_KEY_LEN_RANGE, p11->C_UnwrapKey(s, &oaep, priv, wrapped, n - 1, ut, ARRAY_LEN(ut), &got));
	EVP_PKEY_free(rsa);
}
END_TEST

/* CKA_WRAP_TEMPLATE and CKA_UNWRAP_TEMPLATE of the wrapping key. */
START_TEST(test_wrap_templates)
{
	CK_SESSION_HANDLE s = session();
	CK_MECHANISM gen = { CKM_AES_KEY_GEN, NULL, 0 }, kw = { CKM_AES_KEY_WRAP, NULL, 0 };
	CK_ULONG len = 16;
	CK_BYTE id[] = "wrap-me";
	CK_ATTRIBUTE need[] = { { CKA_ID, id, sizeof(id) - 1 } };
	CK_ATTRIBUTE force[] = { ATTR_VAR(CKA_ENCRYPT, no) };
	CK_ATTRIBUTE kt[] = { ATTR_VAR(CKA_VALUE_LEN, len), ATTR_VAR(CKA_WRAP, yes), ATTR_VAR(CKA_UNWRAP, yes),
			      { CKA_WRAP_TEMPLATE, need, sizeof(need) }, { CKA_UNWRAP_TEMPLATE, force, sizeof(force) } };
	CK_ATTRIBUTE plain[] = { ATTR_VAR(CKA_VALUE_LEN, len), ATTR_VAR(CKA_EXTRACTABLE, yes) };
	CK_ATTRIBUTE named[] = { ATTR_VAR(CKA_VALUE_LEN, len), ATTR_VAR(CKA_EXTRACTABLE, yes),
				 { CKA_ID, id, sizeof(id) - 1 } };
	CK_KEY_TYPE aes = CKK_AES;
	CK_ATTRIBUTE ut[] = { ATTR_VAR(CKA_CLASS, class_secret), ATTR_VAR(CKA_KEY_TYPE, aes) };
	CK_ATTRIBUTE clash[] = { ATTR_VAR(CKA_CLASS, class_secret), ATTR_VAR(CKA_KEY_TYPE, aes),
				 ATTR_VAR(CKA_ENCRYPT, yes) };
	CK_OBJECT_HANDLE kek, a, b, got;
	CK_BYTE w[64];
	CK_ULONG n = sizeof(w);

	OK(p11->C_GenerateKey(s, &gen, kt, ARRAY_LEN(kt), &kek));
	OK(p11->C_GenerateKey(s, &gen, plain, ARRAY_LEN(plain), &a));
	OK(p11->C_GenerateKey(s, &gen, named, ARRAY_LEN(named), &b));
	CK(CKR_KEY_NOT_WRAPPABLE, p11->C_WrapKey(s, &kw, kek, a, w, &n));
	n = sizeof(w);
	OK(p11->C_WrapKey(s, &kw, kek, b, w, &n));
	OK(p11->C_UnwrapKey(s, &kw, kek, w, n, ut, ARRAY_LEN(ut), &got));
	ck_assert(!tu_get_bool(s, got, CKA_ENCRYPT)); /* forced by the unwrap template */
	CK(CKR_TEMPLATE_INCONSISTENT, p11->C_UnwrapKey(s, &kw, kek, w, n, clash, ARRAY_LEN(clash), &got));
}
END_TEST

/* A private key wrapped as PKCS#8 under AES-KWP, unwrapped, and signing. */
START_TEST(test_wrap_private)
{
	CK_SESSION_HANDLE s = session();
	CK_OBJECT_HANDLE kek = aes_key(s, CK_FALSE, CK_FALSE), pub, priv, back;
	CK_MECHANISM kwp = { CKM_AES_KEY_WRAP_KWP, NULL, 0 }, ecdsa = { CKM_ECDSA_SHA256, NULL, 0 };
	CK_KEY_TYPE ec = CKK_EC, rsa = CKK_RSA;
	CK_ATTRIBUTE extractable[] = { ATTR_VAR(CKA_EXTRACTABLE, yes) };
	CK_ATTRIBUTE ut[] = { ATTR_VAR(CKA_CLASS, class_priv), ATTR_VAR(CKA_KEY_TYPE, ec), ATTR_VAR(CKA_SIGN, yes) };
	CK_BYTE w[4096], sig[64];
	CK_ULONG n = sizeof(w), sl = sizeof(sig);

	OK(tu_gen_ec_rv(s, CKM_EC_KEY_PAIR_GEN, tu_oid_p256, sizeof(tu_oid_p256), NULL, 0, extractable, 1, &pub,
			&priv));
	OK(p11->C_WrapKey(s, &kwp, kek, priv, w, &n));
	OK(p11->C_UnwrapKey(s, &kwp, kek, w, n, ut, ARRAY_LEN(ut), &back));
	ck_assert_uint_eq(tu_get_ulong(s, back, CKA_KEY_TYPE), CKK_EC);
	ck_assert(!tu_get_bool(s, back, CKA_LOCAL));
	OK(p11->C_SignInit(s, &ecdsa, back));
	OK(p11->C_Sign(s, (CK_BYTE_PTR)"abc", 3, sig, &sl));
	OK(p11->C_VerifyInit(s, &ecdsa, pub));
	OK(p11->C_Verify(s, (CK_BYTE_PTR)"abc", 3, sig, sl));
	/* The template's key type must be the wrapped key's. */
	ut[1].pValue = &rsa;
	CK(CKR_TEMPLATE_INCONSISTENT, p11->C_UnwrapKey(s, &kwp, kek, w, n, ut, ARRAY_LEN(ut), &back));
}
END_TEST

/* ECDH into AES keys: both sides derive the same key and it works. */
START_TEST(test_derive_aes)
{
	CK_SESSION_HANDLE s = session();
	CK_OBJECT_HANDLE pa, ka, pb, kb, da, db;
	CK_ATTRIBUTE derive[] = { ATTR_VAR(CKA_DERIVE, yes) };
	CK_BYTE pta[80], ptb[80], ct[64], out[64], iv[12] = { 0 };
	CK_ULONG la, lb, len = 32, n, m2;
	CK_KEY_TYPE aes = CKK_AES;
	CK_ATTRIBUTE t[] = { ATTR_VAR(CKA_CLASS, class_secret), ATTR_VAR(CKA_KEY_TYPE, aes),
			     ATTR_VAR(CKA_VALUE_LEN, len), ATTR_VAR(CKA_ENCRYPT, yes), ATTR_VAR(CKA_DECRYPT, yes) };
	CK_ECDH1_DERIVE_PARAMS p = { CKD_SHA256_KDF, 0, NULL, 0, NULL };
	CK_MECHANISM m = { CKM_ECDH1_DERIVE, &p, sizeof(p) };
	CK_GCM_PARAMS gp = { iv, 12, 96, NULL, 0, 128 };
	CK_MECHANISM gcm = { CKM_AES_GCM, &gp, sizeof(gp) };
	CK_BYTE *q;

	OK(tu_gen_ec_rv(s, CKM_EC_KEY_PAIR_GEN, tu_oid_p256, sizeof(tu_oid_p256), NULL, 0, derive, 1, &pa, &ka));
	OK(tu_gen_ec_rv(s, CKM_EC_KEY_PAIR_GEN, tu_oid_p256, sizeof(tu_oid_p256), NULL, 0, derive, 1, &pb, &kb));
	q = tu_get_bytes(s, pa, CKA_EC_POINT, &la);
	memcpy(pta, q, la);
	free(q);
	q = tu_get_bytes(s, pb, CKA_EC_POINT, &lb);
	memcpy(ptb, q, lb);
	free(q);
	p.pPublicData = ptb;
	p.ulPublicDataLen = lb;
	OK(p11->C_DeriveKey(s, &m, ka, t, ARRAY_LEN(t), &da));
	p.pPublicData = pta;
	p.ulPublicDataLen = la;
	OK(p11->C_DeriveKey(s, &m, kb, t, ARRAY_LEN(t), &db));
	ck_assert_uint_eq(tu_get_ulong(s, da, CKA_VALUE_LEN), 32);
	OK(p11->C_EncryptInit(s, &gcm, da));
	n = sizeof(ct);
	OK(p11->C_Encrypt(s, (CK_BYTE_PTR)"a gate passage", 14, ct, &n));
	OK(p11->C_DecryptInit(s, &gcm, db));
	m2 = sizeof(out);
	OK(p11->C_Decrypt(s, ct, n, out, &m2));
	ck_assert(m2 == 14 && memcmp(out, "a gate passage", 14) == 0);
	/* 20 bytes is no AES key. */
	len = 20;
	CK(CKR_ATTRIBUTE_VALUE_INVALID, p11->C_DeriveKey(s, &m, kb, t, ARRAY_LEN(t), &db));
}
END_TEST

/* X25519 (v3.0 CKK_EC_MONTGOMERY): the RFC 7748 6.1 exchange with an
 * imported key, then two generated pairs agreeing on an AES key. */
START_TEST(test_x25519)
{
	static const CK_BYTE oid_x25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x6e };
	static const CK_BYTE name_x25519[] = { 0x13, 0x0a, 'c', 'u', 'r', 'v', 'e', '2', '5', '5', '1', '9' };
	CK_SESSION_HANDLE s = session();
	bytes_t alice = hx("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
	bytes_t bob_pub = hx("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
	bytes_t shared = hx("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
	CK_KEY_TYPE mont = CKK_EC_MONTGOMERY, gen = CKK_GENERIC_SECRET, aes = CKK_AES;
	CK_ATTRIBUTE priv_t[] = { ATTR_VAR(CKA_CLASS, class_priv), ATTR_VAR(CKA_KEY_TYPE, mont),
				  { CKA_EC_PARAMS, (void *)oid_x25519, sizeof(oid_x25519) },
				  { CKA_VALUE, alice.b, alice.n }, ATTR_VAR(CKA_DERIVE, yes) };
	CK_ATTRIBUTE out_t[] = { ATTR_VAR(CKA_CLASS, class_secret), ATTR_VAR(CKA_KEY_TYPE, gen),
				 ATTR_VAR(CKA_SENSITIVE, no), ATTR_VAR(CKA_EXTRACTABLE, yes) };
	CK_ULONG len = 32, n;
	CK_ATTRIBUTE aes_t[] = { ATTR_VAR(CKA_CLASS, class_secret), ATTR_VAR(CKA_KEY_TYPE, aes),
				 ATTR_VAR(CKA_VALUE_LEN, len) };
	CK_ECDH1_DERIVE_PARAMS p = { CKD_NULL, 0, NULL, bob_pub.n, bob_pub.b };
	CK_MECHANISM m = { CKM_ECDH1_DERIVE, &p, sizeof(p) }, kg = { CKM_EC_MONTGOMERY_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pub_g[] = { { CKA_EC_PARAMS, (void *)name_x25519, sizeof(name_x25519) } };
	CK_ATTRIBUTE priv_g[] = { ATTR_VAR(CKA_DERIVE, yes) };
	CK_OBJECT_HANDLE a, z, pa, ka, pb, kb, da, db;
	CK_BYTE *v, pta[64], ptb[64];
	CK_ULONG la, lb;

	OK(p11->C_CreateObject(s, priv_t, ARRAY_LEN(priv_t), &a));
	OK(p11->C_DeriveKey(s, &m, a, out_t, ARRAY_LEN(out_t), &z));
	v = tu_get_bytes(s, z, CKA_VALUE, &n);
	eq(v, n, &shared, "RFC 7748 6.1 shared secret");
	free(v);
	p.kdf = CKD_SHA256_KDF;
	CK(CKR_MECHANISM_PARAM_INVALID, p11->C_DeriveKey(s, &m, a, out_t, ARRAY_LEN(out_t), &z));
	p.kdf = CKD_NULL;
	/* Two generated pairs (the curve by name, as pkcs11-tool gives it). */
	OK(p11->C_GenerateKeyPair(s, &kg, pub_g, 1, priv_g, 1, &pa, &ka));
	OK(p11->C_GenerateKeyPair(s, &kg, pub_g, 1, priv_g, 1, &pb, &kb));
	ck_assert_uint_eq(tu_get_ulong(s, ka, CKA_KEY_TYPE), CKK_EC_MONTGOMERY);
	v = tu_get_bytes(s, pa, CKA_EC_POINT, &la);
	memcpy(pta, v, la);
	free(v);
	v = tu_get_bytes(s, pb, CKA_EC_POINT, &lb);
	memcpy(ptb, v, lb);
	free(v);
	p.pPublicData = ptb;
	p.ulPublicDataLen = lb;
	OK(p11->C_DeriveKey(s, &m, ka, aes_t, ARRAY_LEN(aes_t), &da));
	p.pPublicData = pta;
	p.ulPublicDataLen = la;
	OK(p11->C_DeriveKey(s, &m, kb, aes_t, ARRAY_LEN(aes_t), &db));
	same_kcv(s, da, db);
}
END_TEST

/* The hash-and-sign mechanisms added beside SHA-256/384, round trip. */
START_TEST(test_more_hashes_sign)
{
	static const CK_MECHANISM_TYPE ec[] = { CKM_ECDSA_SHA224, CKM_ECDSA_SHA512 };
	static const CK_MECHANISM_TYPE rsa[] = { CKM_SHA1_RSA_PKCS, CKM_SHA224_RSA_PKCS, CKM_SHA384_RSA_PKCS,
						 CKM_SHA512_RSA_PKCS };
	static const struct {
		CK_MECHANISM_TYPE m, h;
		CK_ULONG mgf, salt;
	} pss[] = { { CKM_SHA224_RSA_PKCS_PSS, CKM_SHA224, CKG_MGF1_SHA224, 28 },
		    { CKM_SHA512_RSA_PKCS_PSS, CKM_SHA512, CKG_MGF1_SHA512, 64 },
		    { CKM_SHA1_RSA_PKCS_PSS, CKM_SHA_1, CKG_MGF1_SHA1, 20 } };
	CK_SESSION_HANDLE s = session();
	CK_OBJECT_HANDLE pub, priv;
	CK_BYTE sig[512];
	CK_ULONG n;

	tu_gen_ec(s, tu_oid_p384, sizeof(tu_oid_p384), &pub, &priv);
	for (size_t i = 0; i < ARRAY_LEN(ec); i++) {
		CK_MECHANISM m = { ec[i], NULL, 0 };
		n = sizeof(sig);
		OK(p11->C_SignInit(s, &m, priv));
		OK(p11->C_Sign(s, (CK_BYTE_PTR)"abc", 3, sig, &n));
		OK(p11->C_VerifyInit(s, &m, pub));
		OK(p11->C_Verify(s, (CK_BYTE_PTR)"abc", 3, sig, n));
	}
	tu_gen_rsa(s, 2048, &pub, &priv);
	for (size_t i = 0; i < ARRAY_LEN(rsa); i++) {
		CK_MECHANISM m = { rsa[i], NULL, 0 };
		n = sizeof(sig);
		OK(p11->C_SignInit(s, &m, priv));
		OK(p11->C_Sign(s, (CK_BYTE_PTR)"abc", 3, sig, &n));
		OK(p11->C_VerifyInit(s, &m, pub));
		OK(p11->C_Verify(s, (CK_BYTE_PTR)"abc", 3, sig, n));
	}
	for (size_t i = 0; i < ARRAY_LEN(pss); i++) {
		CK_RSA_PKCS_PSS_PARAMS pp = { pss[i].h, pss[i].mgf, pss[i].salt };
		CK_MECHANISM m = { pss[i].m, &pp, sizeof(pp) };
		n = sizeof(sig);
		OK(p11->C_SignInit(s, &m, priv));
		OK(p11->C_Sign(s, (CK_BYTE_PTR)"abc", 3, sig, &n));
		OK(p11->C_VerifyInit(s, &m, pub));
		OK(p11->C_Verify(s, (CK_BYTE_PTR)"abc", 3, sig, n));
	}
}
END_TEST

/* ---- the suite ----------------------------------------------------------------------------- */

static TCase *tcase(Suite *su, const char *name)
{
	TCase *tc = tcase_create(name);
	tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(su, tc);
	return tc;
}

static Suite *mechanisms_suite(void)
{
	Suite *su = suite_create("mechanisms");
	TCase *tc = tcase(su, "vectors");

	tcase_add_test(tc, test_digest_abc);
	tcase_add_loop_test(tc, test_block_kat, 0, ARRAY_LEN(block_kats));
	tcase_add_test(tc, test_block_rules);
	tcase_add_test(tc, test_cbc_pad_exact);
	tcase_add_loop_test(tc, test_gcm_kat, 0, ARRAY_LEN(gcm_kats));
	tcase_add_test(tc, test_gcm_params);
	tcase_add_test(tc, test_gcm_kept_key_replaced);
	tcase_add_test(tc, test_gcm_kept_alternating);
	tcase_add_test(tc, test_gcm_kept_attributes);
	tcase_add_test(tc, test_gcm_kept_fork);
	tcase_add_loop_test(tc, test_keywrap_kat, 0, ARRAY_LEN(kw_kats));
	tcase_add_test(tc, test_cmac_kat);
	tcase_add_loop_test(tc, test_hmac_kat, 0, ARRAY_LEN(hmac_kats));
	tcase_add_test(tc, test_symmetric_listed);
	tcase_add_test(tc, test_more_hashes_sign);

	tc = tcase(su, "secret keys");
	tcase_add_test(tc, test_keygen);
	tcase_add_test(tc, test_secret_import);
	tcase_add_test(tc, test_wrap_rules);
	tcase_add_test(tc, test_wrap_templates);
	tcase_add_test(tc, test_wrap_private);
	tcase_add_test(tc, test_derive_aes);
	tcase_add_test(tc, test_x25519);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(mechanisms_suite());
	int failed;

	tu_suite_begin();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	tu_suite_end();
	return failed == 0 ? 0 : 1;
}
