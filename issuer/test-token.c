/* test-token.c - temp directory, token and issuer for the Check suites. */
#include "config.h"
#include "issuer/test-token.h"

#include <check.h>
#include <dlfcn.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <p11-kit/pkcs11.h>

static void pad32(CK_UTF8CHAR out[32], const char *s)
{
	memset(out, ' ', 32);
	memcpy(out, s, strlen(s));
}

/* C_InitToken on the free slot, then the user PIN: what an operator does
 * with pkcs11-tool before `offpass-issuer init`. */
static void init_token(const char *module)
{
	CK_C_GetFunctionList get;
	CK_FUNCTION_LIST_PTR fn = NULL;
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16;
	CK_UTF8CHAR label[32];
	CK_SESSION_HANDLE s;
	void *lib = dlopen(module, RTLD_NOW | RTLD_LOCAL);

	ck_assert_msg(lib != NULL, "dlopen %s: %s", module, dlerror());
	*(void **)&get = dlsym(lib, "C_GetFunctionList");
	ck_assert_ptr_nonnull(get);
	ck_assert_int_eq(get(&fn), CKR_OK);
	ck_assert_int_eq(fn->C_Initialize(NULL), CKR_OK);
	ck_assert_int_eq(fn->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
	ck_assert_uint_ge(n, 1);
	pad32(label, TT_LABEL);
	ck_assert_int_eq(fn->C_InitToken(slots[0], (CK_UTF8CHAR_PTR)TT_SO_PIN, strlen(TT_SO_PIN), label), CKR_OK);
	ck_assert_int_eq(fn->C_OpenSession(slots[0], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_int_eq(fn->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)TT_SO_PIN, strlen(TT_SO_PIN)), CKR_OK);
	ck_assert_int_eq(fn->C_InitPIN(s, (CK_UTF8CHAR_PTR)TT_PIN, strlen(TT_PIN)), CKR_OK);
	ck_assert_int_eq(fn->C_CloseSession(s), CKR_OK);
	ck_assert_int_eq(fn->C_Finalize(NULL), CKR_OK);
	/* The handle stays open: p11-kit loads the same module again. */
}

bool tt_setup(tt_env_t *env, bool token)
{
	const char *module = getenv("OFFPASS_P11_MODULE");
	const char *tmp = getenv("TMPDIR");

	memset(env, 0, sizeof(*env));
	snprintf(env->root, sizeof(env->root), "%s/offpass-issuer-test.XXXXXX", tmp != NULL ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(env->root));
	snprintf(env->issuer_dir, sizeof(env->issuer_dir), "%s/issuer", env->root);
	snprintf(env->tokens, sizeof(env->tokens), "%s/tokens", env->root);
	ck_assert_int_eq(mkdir(env->tokens, 0700), 0);
	if (!token || module == NULL || module[0] == '\0')
		return false;
	env->module = module;
	setenv("OFFPASS_P11_DIR", env->tokens, 1);
	setenv("OFFPASS_P11_SCRYPT_N", "1024", 1);
	setenv("OFFPASS_PKCS11_MODULE", module, 1);
	init_token(module);
	return true;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void tt_teardown(tt_env_t *env)
{
	if (env->root[0] != '\0' && getenv("OFFPASS_TEST_KEEP") == NULL)
		(void)nftw(env->root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void tt_config(const tt_env_t *env, ofp_issuer_config_t *cfg)
{
	ofp_issuer_config_defaults(cfg);
	if (env->module != NULL)
		snprintf(cfg->module, sizeof(cfg->module), "%s", env->module);
	snprintf(cfg->token_label, sizeof(cfg->token_label), "%s", TT_LABEL);
	cfg->threshold = 500;
	cfg->grant.resource_class = 1;
	cfg->grant.per_op_max = 500;
	cfg->grant.offline_total = 5000;
	cfg->credential_lifetime = 86400;
}

ofp_issuer_t *tt_issuer_init(const tt_env_t *env, const ofp_issuer_config_t *cfg, uint32_t now)
{
	ofp_issuer_args_t a = { .dir = env->issuer_dir, .now = now, .pin = TT_PIN };
	ofp_issuer_t *iss = NULL;
	char err[1024] = "";

	ck_assert_msg(ofp_issuer_init(&a, cfg, &iss, err, sizeof(err)) == OFP_ISSUER_OK, "init: %s", err);
	return iss;
}

ofp_issuer_t *tt_issuer_open(const tt_env_t *env, uint32_t now)
{
	ofp_issuer_args_t a = { .dir = env->issuer_dir, .now = now, .pin = TT_PIN };
	ofp_issuer_t *iss = NULL;
	char err[1024] = "";

	ck_assert_msg(ofp_issuer_open(&a, &iss, err, sizeof(err)) == OFP_ISSUER_OK, "open: %s", err);
	return iss;
}
