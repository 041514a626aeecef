/* test-token.c - a fresh PKCS#11 token for tests and benches. */
#include "config.h"
#include "tests/kit/test-token.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LABEL_LEN 32 /* CK_TOKEN_INFO.label: blank-padded, no NUL */

int ofp_test_token_offpass_env(const char *dir)
{
	if (setenv("OFFPASS_P11_DIR", dir, 1) != 0 || setenv("OFFPASS_P11_SCRYPT_N", "1024", 1) != 0)
		return -1;
	return 0;
}

int ofp_test_token_softhsm_env(const char *dir, char *err, size_t err_len)
{
	char path[4096];
	FILE *f;
	int rv = -1;

	snprintf(path, sizeof(path), "%s/tokens", dir);
	if (mkdir(path, 0700) != 0) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/softhsm2.conf", dir);
	f = fopen(path, "w");
	if (f == NULL) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return -1;
	}
	fprintf(f, "directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
		   "log.level = ERROR\nslots.removable = false\n", dir);
	if (fclose(f) != 0)
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
	else if (setenv("SOFTHSM2_CONF", path, 1) != 0)
		snprintf(err, err_len, "SOFTHSM2_CONF: %s", strerror(errno));
	else
		rv = 0;
	return rv;
}

static void pad_label(CK_UTF8CHAR out[LABEL_LEN], const char *label)
{
	memset(out, ' ', LABEL_LEN);
	memcpy(out, label, strlen(label));
}

/* The first slot whose token is uninitialised (label NULL) or initialised
 * and labelled label. */
static CK_RV find_slot(CK_FUNCTION_LIST *fn, const char *label, CK_SLOT_ID *out, const char **failed)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = OFP_ARRAY_LEN(slots);
	CK_UTF8CHAR want[LABEL_LEN];
	CK_TOKEN_INFO ti;
	CK_RV rv;

	*failed = "C_GetSlotList";
	if ((rv = fn->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK)
		return rv;
	if (label != NULL)
		pad_label(want, label);
	*failed = "C_GetTokenInfo";
	for (CK_ULONG i = 0; i < n; i++) {
		if ((rv = fn->C_GetTokenInfo(slots[i], &ti)) != CKR_OK)
			return rv;
		bool init = (ti.flags & CKF_TOKEN_INITIALIZED) != 0;
		if ((label == NULL && !init) || (label != NULL && init && memcmp(ti.label, want, LABEL_LEN) == 0)) {
			*out = slots[i];
			return CKR_OK;
		}
	}
	*failed = label == NULL ? "no slot with an uninitialised token" : "no token with the new label";
	return CKR_TOKEN_NOT_PRESENT;
}

CK_RV ofp_test_token_init_fn(CK_FUNCTION_LIST *fn, const char *label, const char *so_pin,
			     const char *user_pin, CK_SLOT_ID *slot, const char **failed)
{
	CK_UTF8CHAR padded[LABEL_LEN];
	CK_SESSION_HANDLE s;
	CK_SLOT_ID free_slot;
	CK_RV rv, closed;

	if (strlen(label) > LABEL_LEN) {
		*failed = "label longer than 32 bytes";
		return CKR_ARGUMENTS_BAD;
	}
	if ((rv = find_slot(fn, NULL, &free_slot, failed)) != CKR_OK)
		return rv;
	pad_label(padded, label);
	*failed = "C_InitToken";
	if ((rv = fn->C_InitToken(free_slot, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin), padded)) != CKR_OK)
		return rv;
	if ((rv = find_slot(fn, label, slot, failed)) != CKR_OK)
		return rv;
	*failed = "C_OpenSession";
	if ((rv = fn->C_OpenSession(*slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s)) != CKR_OK)
		return rv;
	*failed = "C_Login(SO)";
	rv = fn->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin));
	if (rv == CKR_OK) {
		*failed = "C_InitPIN";
		rv = fn->C_InitPIN(s, (CK_UTF8CHAR_PTR)user_pin, strlen(user_pin));
	}
	closed = fn->C_CloseSession(s);
	if (rv == CKR_OK && closed != CKR_OK) {
		*failed = "C_CloseSession";
		rv = closed;
	}
	return rv;
}

int ofp_test_token_init(const char *module, const char *label, const char *so_pin, const char *user_pin,
			char *err, size_t err_len)
{
	CK_C_GetFunctionList get;
	CK_FUNCTION_LIST_PTR fn = NULL;
	CK_SLOT_ID slot;
	const char *failed = "C_GetFunctionList";
	CK_RV rv, finalized;
	/* Left loaded: the code under test loads the same path next and
	 * gets this copy, finalized and ready for its own C_Initialize. */
	void *lib = dlopen(module, RTLD_NOW | RTLD_LOCAL);

	if (lib == NULL) {
		snprintf(err, err_len, "%s", dlerror());
		return -1;
	}
	*(void **)&get = dlsym(lib, "C_GetFunctionList");
	if (get == NULL) {
		snprintf(err, err_len, "%s: no C_GetFunctionList", module);
		return -1;
	}
	if ((rv = get(&fn)) != CKR_OK)
		goto out;
	failed = "C_Initialize";
	if ((rv = fn->C_Initialize(NULL)) != CKR_OK)
		goto out;
	rv = ofp_test_token_init_fn(fn, label, so_pin, user_pin, &slot, &failed);
	finalized = fn->C_Finalize(NULL);
	if (rv == CKR_OK && finalized != CKR_OK) {
		failed = "C_Finalize";
		rv = finalized;
	}
out:
	if (rv != CKR_OK)
		snprintf(err, err_len, "%s: token '%s': %s: 0x%08lx", module, label, failed, (unsigned long)rv);
	return rv == CKR_OK ? 0 : -1;
}
