/* bench-token.c - one PKCS#11 module, loaded by path with dlopen and
 * driven through C_GetFunctionList, as an application would drive it.
 *
 * A fresh token is initialised in the module's free slot (the caller
 * points the module at an empty directory), the user PIN set by the SO,
 * and the user logged in. Per operation:
 *   sign    C_SignInit + C_Sign (CKM_ECDSA over a 32-byte hash, CKM_EDDSA
 *           over 64 bytes), with a token private key (CKA_PRIVATE,
 *           CKA_SENSITIVE), as a holder signs with its key;
 *   verify  C_VerifyInit + C_Verify with the token public key;
 *   keygen  C_GenerateKeyPair of session objects (CKA_TOKEN FALSE); they
 *           pile up during the loop and go when the session closes, so
 *           C_DestroyObject is not part of the figure.
 * With two threads each thread has its own session on the same key. */
#include "config.h"
#include "bench/bench.h"
#include "tests/kit/test-token.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/pkcs11.h"

#define SO_PIN "bench-so-12345678"
#define USER_PIN "bench-user-1234"
/* Each run makes a token of its own in the same directory; the pid tells
 * this run's token from an earlier round's. */
#define TOKEN_LABEL_FMT "bench-%ld"

typedef struct p11 {
	const char *name;
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s; /* logged in as the user; objects are made here */
	CK_OBJECT_HANDLE p256_pub; /* the token key the look-up objects copy */
	bool initialized;
} p11_t;

typedef struct p11_thread {
	p11_t *p;
	bench_alg_t alg;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE priv, pub;
	const unsigned char *msg;
	CK_ULONG msg_len;
	const unsigned char *sig;
	CK_ULONG sig_len;
} p11_thread_t;

/* DER OIDs for CKA_EC_PARAMS: prime256v1 and id-Ed25519 (RFC 8410). */
static const CK_BYTE oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const CK_BYTE oid_ed25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };

static const struct alg_def {
	const char *name;
	CK_MECHANISM_TYPE gen, sign;
	const CK_BYTE *params;
	CK_ULONG params_len;
	CK_ULONG msg_len;
} algs[ALG_COUNT] = {
	[ALG_P256] = { "P-256", CKM_EC_KEY_PAIR_GEN, CKM_ECDSA, oid_p256, sizeof(oid_p256),
		       BENCH_P256_MSG_LEN },
	[ALG_ED25519] = { "Ed25519", CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA, oid_ed25519,
			  sizeof(oid_ed25519), BENCH_ED25519_MSG_LEN },
};

static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
static unsigned char message[BENCH_ED25519_MSG_LEN];

static const char *rv_name(CK_RV rv)
{
	static _Thread_local char buf[24];

	switch (rv) {
	case CKR_ARGUMENTS_BAD: return "CKR_ARGUMENTS_BAD";
	case CKR_ATTRIBUTE_TYPE_INVALID: return "CKR_ATTRIBUTE_TYPE_INVALID";
	case CKR_ATTRIBUTE_VALUE_INVALID: return "CKR_ATTRIBUTE_VALUE_INVALID";
	case CKR_BUFFER_TOO_SMALL: return "CKR_BUFFER_TOO_SMALL";
	case CKR_CRYPTOKI_NOT_INITIALIZED: return "CKR_CRYPTOKI_NOT_INITIALIZED";
	case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
	case CKR_FUNCTION_FAILED: return "CKR_FUNCTION_FAILED";
	case CKR_FUNCTION_NOT_SUPPORTED: return "CKR_FUNCTION_NOT_SUPPORTED";
	case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
	case CKR_HOST_MEMORY: return "CKR_HOST_MEMORY";
	case CKR_KEY_HANDLE_INVALID: return "CKR_KEY_HANDLE_INVALID";
	case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
	case CKR_OPERATION_ACTIVE: return "CKR_OPERATION_ACTIVE";
	case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
	case CKR_PIN_LEN_RANGE: return "CKR_PIN_LEN_RANGE";
	case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
	case CKR_SIGNATURE_INVALID: return "CKR_SIGNATURE_INVALID";
	case CKR_SLOT_ID_INVALID: return "CKR_SLOT_ID_INVALID";
	case CKR_TEMPLATE_INCOMPLETE: return "CKR_TEMPLATE_INCOMPLETE";
	case CKR_TEMPLATE_INCONSISTENT: return "CKR_TEMPLATE_INCONSISTENT";
	case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
	case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
	default:
		snprintf(buf, sizeof(buf), "0x%08lx", (unsigned long)rv);
		return buf;
	}
}

/* 0 for CKR_OK; else says which call failed and returns -1. */
static int ck(const p11_t *p, const char *what, CK_RV rv)
{
	if (rv == CKR_OK)
		return 0;
	fprintf(stderr, "%s: %s: %s\n", p->name, what, rv_name(rv));
	return -1;
}

/* ---- Loading and the token ------------------------------------------- */

static int load(p11_t *p, const char *path)
{
	CK_C_GetFunctionList get;
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	/* The module lives until the process ends: no dlclose. */
	void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (dl == NULL) {
		fprintf(stderr, "%s: %s\n", p->name, dlerror());
		return -1;
	}
	*(void **)&get = dlsym(dl, "C_GetFunctionList");
	if (get == NULL) {
		fprintf(stderr, "%s: %s: no C_GetFunctionList\n", p->name, path);
		return -1;
	}
	if (ck(p, "C_GetFunctionList", get(&p->f)) != 0 ||
	    ck(p, "C_Initialize", p->f->C_Initialize(&args)) != 0)
		return -1;
	p->initialized = true;
	return 0;
}

/* Initialise a new token, set the user PIN and log the user in on p->s. */
static int token_setup(p11_t *p)
{
	CK_FUNCTION_LIST_PTR f = p->f;
	char name[33];
	const char *failed = NULL;
	CK_RV rv;

	snprintf(name, sizeof(name), TOKEN_LABEL_FMT, (long)getpid());
	/* The SO's session is closed: the user logs in on one of the bench's. */
	rv = ofp_test_token_init_fn(f, name, SO_PIN, USER_PIN, &p->slot, &failed);
	if (ck(p, failed, rv) != 0 ||
	    ck(p, "C_OpenSession", f->C_OpenSession(p->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
						     NULL, NULL, &p->s)) != 0 ||
	    ck(p, "C_Login(user)", f->C_Login(p->s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN,
					      strlen(USER_PIN))) != 0)
		return -1;
	return 0;
}

static bool has_mechanism(p11_t *p, CK_MECHANISM_TYPE m, CK_FLAGS need)
{
	CK_MECHANISM_INFO mi;

	return p->f->C_GetMechanismInfo(p->slot, m, &mi) == CKR_OK && (mi.flags & need) == need;
}

/* ---- Keys ------------------------------------------------------------- */

/* A key pair on the token (token = true) or in session s. */
static int gen_pair(p11_t *p, CK_SESSION_HANDLE s, bench_alg_t alg, bool token,
		    CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	const struct alg_def *a = &algs[alg];
	CK_MECHANISM mech = { a->gen, NULL, 0 };
	CK_BBOOL *tok = token ? &yes : &no;
	CK_ATTRIBUTE pub_t[] = {
		{ CKA_TOKEN, tok, sizeof(CK_BBOOL) },
		{ CKA_EC_PARAMS, (void *)a->params, a->params_len },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)"bench", 5 },
	};
	CK_ATTRIBUTE priv_t[] = {
		{ CKA_TOKEN, tok, sizeof(CK_BBOOL) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)"bench", 5 },
	};

	return ck(p, "C_GenerateKeyPair",
		  p->f->C_GenerateKeyPair(s, &mech, pub_t, sizeof(pub_t) / sizeof(pub_t[0]),
					  priv_t, sizeof(priv_t) / sizeof(priv_t[0]), pub, priv));
}

/* ---- The timed operations --------------------------------------------- */

static int op_sign(void *arg)
{
	p11_thread_t *t = arg;
	CK_FUNCTION_LIST_PTR f = t->p->f;
	CK_MECHANISM mech = { algs[t->alg].sign, NULL, 0 };
	CK_BYTE sig[128];
	CK_ULONG sig_len = sizeof(sig);

	if (ck(t->p, "C_SignInit", f->C_SignInit(t->s, &mech, t->priv)) != 0)
		return -1;
	return ck(t->p, "C_Sign", f->C_Sign(t->s, (CK_BYTE_PTR)t->msg, t->msg_len, sig, &sig_len));
}

static int op_verify(void *arg)
{
	p11_thread_t *t = arg;
	CK_FUNCTION_LIST_PTR f = t->p->f;
	CK_MECHANISM mech = { algs[t->alg].sign, NULL, 0 };

	if (ck(t->p, "C_VerifyInit", f->C_VerifyInit(t->s, &mech, t->pub)) != 0)
		return -1;
	return ck(t->p, "C_Verify", f->C_Verify(t->s, (CK_BYTE_PTR)t->msg, t->msg_len,
						 (CK_BYTE_PTR)t->sig, t->sig_len));
}

static int op_keygen(void *arg)
{
	p11_thread_t *t = arg;
	CK_OBJECT_HANDLE pub, priv;

	return gen_pair(t->p, t->s, t->alg, false, &pub, &priv);
}

/* One figure with n threads, each on a session of its own, opened before
 * the clock starts and closed after it stops. */
static int timed(const bench_cfg_t *cfg, p11_t *p, bench_op_fn op, const p11_thread_t *tmpl,
		 unsigned n, double *rate)
{
	p11_thread_t t[BENCH_THREADS_MAX];
	void *ctx[BENCH_THREADS_MAX];
	unsigned opened = 0;
	int rc = -1;

	for (; opened < n; opened++) {
		t[opened] = *tmpl;
		ctx[opened] = &t[opened];
		if (ck(p, "C_OpenSession",
		       p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
					   &t[opened].s)) != 0)
			goto out;
	}
	rc = bench_timed(cfg, op, ctx, n, rate);
out:
	for (unsigned i = 0; i < opened; i++)
		if (ck(p, "C_CloseSession", p->f->C_CloseSession(t[i].s)) != 0)
			rc = -1;
	return rc;
}

static int bench_alg(const bench_cfg_t *cfg, p11_t *p, bench_alg_t alg, bench_result_t *r)
{
	static const bench_op_fn ops[OP_COUNT] = { op_sign, op_verify, op_keygen };
	const struct alg_def *a = &algs[alg];
	p11_thread_t t = { .p = p, .alg = alg, .msg = message, .msg_len = a->msg_len };
	CK_MECHANISM mech = { a->sign, NULL, 0 };
	CK_BYTE sig[128];
	CK_ULONG sig_len = sizeof(sig);

	if (!has_mechanism(p, a->gen, CKF_GENERATE_KEY_PAIR) ||
	    !has_mechanism(p, a->sign, CKF_SIGN | CKF_VERIFY)) {
		size_t used = strlen(r->note);
		snprintf(r->note + used, sizeof(r->note) - used, "%s%s not offered", used ? "; " : "",
			 a->name);
		return 0;
	}
	if (gen_pair(p, p->s, alg, true, &t.pub, &t.priv) != 0 ||
	    ck(p, "C_SignInit", p->f->C_SignInit(p->s, &mech, t.priv)) != 0 ||
	    ck(p, "C_Sign", p->f->C_Sign(p->s, message, a->msg_len, sig, &sig_len)) != 0)
		return -1;
	t.sig = sig;
	t.sig_len = sig_len;
	if (alg == ALG_P256)
		p->p256_pub = t.pub;
	for (int o = 0; o < OP_COUNT; o++)
		for (unsigned n = 1; n <= BENCH_THREADS_MAX; n++)
			if (timed(cfg, p, ops[o], &t, n, &r->rate[alg][o][n - 1]) != 0)
				return -1;
	return 0;
}

/* ---- C_FindObjects among many token objects --------------------------- */

/* CKA_ID of object i: a fixed prefix and i, big-endian (8 bytes). */
static void object_id(unsigned long i, CK_BYTE id[8])
{
	memcpy(id, "ID", 2);
	for (int k = 7; k >= 2; k--, i >>= 8)
		id[k] = (CK_BYTE)i;
}

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* CKA_ID belongs to keys and certificates, not to CKO_DATA (PKCS#11 4.5
 * gives data objects no CKA_ID; both modules refuse it there), so the
 * objects are EC public keys: each a copy of pub with its own CKA_ID. */
static int create_objects(const bench_cfg_t *cfg, p11_t *p, CK_OBJECT_HANDLE pub,
			  bench_result_t *r)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = CKK_EC;
	CK_BYTE point[128], id[8];
	char label[32];
	CK_ATTRIBUTE get = { CKA_EC_POINT, point, sizeof(point) };
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &no, sizeof(no) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_EC_PARAMS, (void *)oid_p256, sizeof(oid_p256) },
		{ CKA_EC_POINT, point, 0 },
		{ CKA_ID, id, sizeof(id) },
		{ CKA_LABEL, label, 0 },
	};
	double t0;

	if (ck(p, "C_GetAttributeValue(CKA_EC_POINT)",
	       p->f->C_GetAttributeValue(p->s, pub, &get, 1)) != 0)
		return -1;
	tmpl[6].ulValueLen = get.ulValueLen;
	t0 = bench_now();
	for (unsigned long i = 0; i < cfg->objects; i++) {
		CK_OBJECT_HANDLE h;

		object_id(i, id);
		tmpl[8].ulValueLen = (CK_ULONG)snprintf(label, sizeof(label), "bench-%lu", i);
		if (ck(p, "C_CreateObject", p->f->C_CreateObject(p->s, tmpl, sizeof(tmpl) / sizeof(tmpl[0]),
								 &h)) != 0)
			return -1;
		if (i > 0 && i % 2000 == 0)
			fprintf(stderr, "%s: %lu objects, %.1f s\n", p->name, i, bench_now() - t0);
	}
	r->create_s = bench_now() - t0;
	r->objects = cfg->objects;
	return 0;
}

/* One look-up: Init + FindObjects + Final for object i's CKA_ID, which must
 * match exactly one object. */
static int lookup(p11_t *p, unsigned long i)
{
	CK_BYTE id[8];
	CK_ATTRIBUTE tmpl = { CKA_ID, id, sizeof(id) };
	CK_OBJECT_HANDLE found[4];
	CK_ULONG n = 0;

	object_id(i, id);
	if (ck(p, "C_FindObjectsInit", p->f->C_FindObjectsInit(p->s, &tmpl, 1)) != 0 ||
	    ck(p, "C_FindObjects", p->f->C_FindObjects(p->s, found, 4, &n)) != 0 ||
	    ck(p, "C_FindObjectsFinal", p->f->C_FindObjectsFinal(p->s)) != 0)
		return -1;
	if (n != 1) {
		fprintf(stderr, "%s: CKA_ID #%lu matched %lu objects\n", p->name, i, (unsigned long)n);
		return -1;
	}
	return 0;
}

static int bench_find(const bench_cfg_t *cfg, p11_t *p, CK_OBJECT_HANDLE pub, bench_result_t *r)
{
	uint64_t x = 0x9e3779b97f4a7c15u;
	double *lat = NULL, end;
	unsigned long n;
	int rc = -1;

	if (cfg->objects == 0 || cfg->lookups == 0)
		return 0;
	lat = calloc(cfg->lookups, sizeof(*lat));
	if (lat == NULL || create_objects(cfg, p, pub, r) != 0)
		goto out;
	/* A few untimed look-ups first, as for every other figure. */
	for (int w = 0; w < 10; w++)
		if (lookup(p, xorshift(&x) % cfg->objects) != 0)
			goto out;
	/* A slow module gets fewer look-ups rather than minutes of them. */
	end = bench_now() + cfg->lookup_seconds;
	for (n = 0; n < cfg->lookups && (n == 0 || bench_now() < end); n++) {
		unsigned long i = (unsigned long)(xorshift(&x) % cfg->objects);
		double t0 = bench_now();

		if (lookup(p, i) != 0)
			goto out;
		lat[n] = (bench_now() - t0) * 1e6;
	}
	qsort(lat, n, sizeof(*lat), cmp_double);
	r->lookups = n;
	r->find_median_us = lat[n / 2];
	r->find_p99_us = lat[(n * 99 + 99) / 100 - 1];
	r->find_max_us = lat[n - 1];
	r->have_find = true;
	rc = 0;
out:
	free(lat);
	return rc;
}

/* ---- The provider ------------------------------------------------------ */

int bench_pkcs11(const char *name, const char *module_path, const bench_cfg_t *cfg,
		 bench_result_t *r)
{
	p11_t p = { .name = name };
	int rc = -1;

	memset(message, 0xa5, sizeof(message));
	if (load(&p, module_path) != 0 || token_setup(&p) != 0)
		goto out;
	for (int a = 0; a < ALG_COUNT; a++)
		if (bench_alg(cfg, &p, (bench_alg_t)a, r) != 0)
			goto out;
	if (bench_sym_pkcs11(name, p.f, p.slot, p.s, cfg, r) != 0)
		goto out;
	/* The look-up objects copy the P-256 token public key made above. */
	if (p.p256_pub != CK_INVALID_HANDLE && bench_find(cfg, &p, p.p256_pub, r) != 0)
		goto out;
	r->measured = true;
	rc = 0;
out:
	if (p.initialized && ck(&p, "C_Finalize", p.f->C_Finalize(NULL)) != 0)
		rc = -1;
	return rc;
}
