/* bench-tpm.c - `make bench`: what binding the soft token to a TPM costs.
 *
 *   bench-tpm MODULE LABEL
 *
 * Makes a token in the module's free slot (the caller points
 * OFFPASS_P11_DIR at an empty directory and sets OFFPASS_P11_TPM and
 * OFFPASS_P11_TCTI), a P-256 key in it, then measures C_Login (user; with
 * the KDF cost the token was made with) BENCH_LOGINS times and C_Sign
 * (CKM_ECDSA over a 32-byte hash) for BENCH_SECONDS, and prints one row:
 *   LABEL  login median ms  login max ms  sign ops/s  model
 * run-bench-tpm.sh runs it with and without the TPM and prints the rows
 * side by side. */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/pkcs11.h"

#define SO_PIN "bench-so-12345678"
#define USER_PIN "bench-user-1234"
#define LOGINS_MAX 100

static const CK_BYTE oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int ck(CK_RV rv, const char *what)
{
	if (rv == CKR_OK)
		return 0;
	fprintf(stderr, "bench-tpm: %s: 0x%lx\n", what, (unsigned long)rv);
	return -1;
}

static long env_long(const char *name, long def, long min, long max)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return def;
	errno = 0;
	v = strtol(s, &end, 10);
	return errno != 0 || *end != '\0' || v < min || v > max ? def : v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The module's free slot: the first whose token is not initialised. */
static int free_slot(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID *slot)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64;
	CK_TOKEN_INFO ti;

	if (ck(f->C_GetSlotList(CK_TRUE, slots, &n), "C_GetSlotList") != 0)
		return -1;
	for (CK_ULONG i = 0; i < n; i++) {
		if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK && !(ti.flags & CKF_TOKEN_INITIALIZED)) {
			*slot = slots[i];
			return 0;
		}
	}
	fprintf(stderr, "bench-tpm: no free slot\n");
	return -1;
}

static int make_token(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID slot, CK_SESSION_HANDLE *s, CK_OBJECT_HANDLE *priv)
{
	CK_UTF8CHAR label[32];
	CK_BBOOL yes = CK_TRUE;
	CK_MECHANISM gen = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pub_t[] = { { CKA_TOKEN, &yes, sizeof(yes) },
				 { CKA_EC_PARAMS, (void *)oid_p256, sizeof(oid_p256) } };
	CK_ATTRIBUTE priv_t[] = { { CKA_TOKEN, &yes, sizeof(yes) }, { CKA_SIGN, &yes, sizeof(yes) } };
	CK_OBJECT_HANDLE pub;

	memset(label, ' ', sizeof(label));
	memcpy(label, "bench-tpm", 9);
	if (ck(f->C_InitToken(slot, (CK_UTF8CHAR_PTR)SO_PIN, strlen(SO_PIN), label), "C_InitToken") != 0 ||
	    ck(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, s), "C_OpenSession") != 0 ||
	    ck(f->C_Login(*s, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN, strlen(SO_PIN)), "C_Login(SO)") != 0 ||
	    ck(f->C_InitPIN(*s, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)), "C_InitPIN") != 0 ||
	    ck(f->C_Logout(*s), "C_Logout") != 0 ||
	    ck(f->C_Login(*s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)), "C_Login") != 0)
		return -1;
	return ck(f->C_GenerateKeyPair(*s, &gen, pub_t, 2, priv_t, 2, &pub, priv), "C_GenerateKeyPair");
}

static int time_logins(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, long n, double *median, double *max)
{
	double ms[LOGINS_MAX];

	for (long i = 0; i < n; i++) {
		double t0;

		if (ck(f->C_Logout(s), "C_Logout") != 0)
			return -1;
		t0 = now();
		if (ck(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)), "C_Login") != 0)
			return -1;
		ms[i] = (now() - t0) * 1000.0;
	}
	qsort(ms, (size_t)n, sizeof(ms[0]), cmp_double);
	*median = ms[n / 2];
	*max = ms[n - 1];
	return 0;
}

/* The private key's handle after the logins (logging out drops private
 * objects; logging in loads them anew). */
static int find_priv(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *priv)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_ULONG n = 0;

	if (ck(f->C_FindObjectsInit(s, t, 1), "C_FindObjectsInit") != 0)
		return -1;
	if (ck(f->C_FindObjects(s, priv, 1, &n), "C_FindObjects") != 0 || n != 1) {
		(void)f->C_FindObjectsFinal(s);
		return -1;
	}
	return ck(f->C_FindObjectsFinal(s), "C_FindObjectsFinal");
}

static int time_signs(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv, double seconds,
		      double *rate)
{
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	CK_BYTE hash[32] = { 1, 2, 3 }, sig[64];
	unsigned long ops = 0;
	double t0 = now(), t;

	do {
		CK_ULONG len = sizeof(sig);

		if (ck(f->C_SignInit(s, &mech, priv), "C_SignInit") != 0 ||
		    ck(f->C_Sign(s, hash, sizeof(hash), sig, &len), "C_Sign") != 0)
			return -1;
		ops++;
		t = now() - t0;
	} while (t < seconds);
	*rate = (double)ops / t;
	return 0;
}

int main(int argc, char **argv)
{
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	CK_FUNCTION_LIST_PTR f = NULL;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE priv;
	CK_SLOT_ID slot;
	CK_TOKEN_INFO ti;
	double median, max, rate;
	long logins = env_long("BENCH_LOGINS", 10, 1, LOGINS_MAX);
	double seconds = (double)env_long("BENCH_SECONDS", 1, 1, 60);
	void *lib;
	int rc = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: bench-tpm MODULE LABEL\n");
		return 2;
	}
	lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		fprintf(stderr, "bench-tpm: %s\n", dlerror());
		return 1;
	}
	*(void **)&get = dlsym(lib, "C_GetFunctionList");
	if (get == NULL || get(&f) != CKR_OK || ck(f->C_Initialize(NULL), "C_Initialize") != 0)
		goto out;
	if (free_slot(f, &slot) == 0 && make_token(f, slot, &s, &priv) == 0 &&
	    time_logins(f, s, logins, &median, &max) == 0 && find_priv(f, s, &priv) == 0 &&
	    time_signs(f, s, priv, seconds, &rate) == 0 &&
	    ck(f->C_GetTokenInfo(slot, &ti), "C_GetTokenInfo") == 0) {
		printf("%-24s %10.1f %10.1f %12.0f   %.16s\n", argv[2], median, max, rate, (const char *)ti.model);
		rc = 0;
	}
	f->C_Finalize(NULL);
out:
	dlclose(lib);
	return rc;
}
