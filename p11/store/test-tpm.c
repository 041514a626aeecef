/* test-tpm.c - the TPM binding against a real TPM 2.0 simulator (swtpm),
 * which this program starts on a free loopback port; skipped (77) when
 * swtpm is not installed. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>
#include "p11/store/store_int.h"
#include "secmem.h"

#define SO_PIN "so-secret"
#define USER_PIN "user-1234"
#define PIN(s) (const CK_UTF8CHAR *)(s), (CK_ULONG)strlen(s)

extern char **environ;

static char state_dir[64];
static char tcti[96];
static pid_t swtpm_pid = -1;
static char dir[64];
static char path[128];

/* ---- The simulator ------------------------------------------------------ */

static bool port_open(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

static int spawn_errno;

static bool swtpm_start_on(int port)
{
	char server[64], ctrl[64], state[96];
	char *argv[] = { (char *)"swtpm", (char *)"socket", (char *)"--tpm2", (char *)"--server", server,
			 (char *)"--ctrl", ctrl, (char *)"--tpmstate", state, (char *)"--flags",
			 (char *)"not-need-init,startup-clear", NULL };
	int status;

	snprintf(server, sizeof(server), "type=tcp,port=%d,bindaddr=127.0.0.1", port);
	snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%d,bindaddr=127.0.0.1", port + 1);
	snprintf(state, sizeof(state), "dir=%s", state_dir);
	spawn_errno = posix_spawnp(&swtpm_pid, "swtpm", NULL, NULL, argv, environ);
	if (spawn_errno != 0)
		return false;
	for (int i = 0; i < 200; i++) {
		if (port_open(port))
			return true;
		if (waitpid(swtpm_pid, &status, WNOHANG) == swtpm_pid)
			break;
		usleep(20000);
	}
	kill(swtpm_pid, SIGKILL);
	waitpid(swtpm_pid, &status, 0);
	swtpm_pid = -1;
	return false;
}

static bool swtpm_start(void)
{
	snprintf(state_dir, sizeof(state_dir), "/tmp/test-tpm-XXXXXX");
	if (mkdtemp(state_dir) == NULL)
		return false;
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	for (int i = 0; i < 8; i++) {
		int port = 20000 + (rand() % 20000) * 2;

		if (port_open(port) || port_open(port + 1))
			continue;
		if (swtpm_start_on(port)) {
			snprintf(tcti, sizeof(tcti), "swtpm:host=127.0.0.1,port=%d", port);
			return true;
		}
		if (spawn_errno == ENOENT)
			break;
	}
	return false;
}

static void swtpm_stop(void)
{
	char cmd[128];
	int status;

	if (swtpm_pid > 0) {
		kill(swtpm_pid, SIGTERM);
		waitpid(swtpm_pid, &status, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", state_dir);
}

/* A raw ESAPI connection, for what the test does behind the store's back. */
static ESYS_CONTEXT *esys_open(TSS2_TCTI_CONTEXT **t)
{
	ESYS_CONTEXT *e = NULL;

	ck_assert_int_eq(Tss2_TctiLdr_Initialize(tcti, t), TSS2_RC_SUCCESS);
	ck_assert_int_eq(Esys_Initialize(&e, *t, NULL), TSS2_RC_SUCCESS);
	return e;
}

static void esys_close(ESYS_CONTEXT *e, TSS2_TCTI_CONTEXT *t)
{
	Esys_Finalize(&e);
	Tss2_TctiLdr_Finalize(&t);
}

/* Dictionary-attack parameters (the simulator's lockout auth is empty),
 * and the failure count cleared. */
static void set_da(UINT32 max_tries)
{
	TSS2_TCTI_CONTEXT *t;
	ESYS_CONTEXT *e = esys_open(&t);

	ck_assert_int_eq(Esys_DictionaryAttackParameters(e, ESYS_TR_RH_LOCKOUT, ESYS_TR_PASSWORD,
							 ESYS_TR_NONE, ESYS_TR_NONE, max_tries, 1000, 1000),
			 TSS2_RC_SUCCESS);
	ck_assert_int_eq(Esys_DictionaryAttackLockReset(e, ESYS_TR_RH_LOCKOUT, ESYS_TR_PASSWORD,
							ESYS_TR_NONE, ESYS_TR_NONE),
			 TSS2_RC_SUCCESS);
	esys_close(e, t);
}

/* ---- Fixtures ------------------------------------------------------------- */

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test-tpm-tok-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/token.db", dir);
	setenv("OFFPASS_P11_SCRYPT_N", "1024", 1);
	setenv("OFFPASS_P11_TCTI", tcti, 1);
	setenv("OFFPASS_P11_TPM", "on", 1);
	unsetenv("OFFPASS_P11_MAX_PIN_FAILS");
	set_da(1000);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* A store handle for error messages only. */
static token_store_t *err_handle(void)
{
	static token_store_t s;

	memset(&s, 0, sizeof(s));
	s.path = (char *)"test";
	return &s;
}

static unsigned char *key_of(unsigned char fill)
{
	unsigned char *k = store_key_alloc();

	ck_assert_ptr_nonnull(k);
	memset(k, fill, STORE_KEY_LEN);
	return k;
}

/* ---- The TPM module ----------------------------------------------------- */

START_TEST(test_seal_unseal)
{
	token_store_t *s = err_handle();
	unsigned char *a = key_of(0x11), *b = key_of(0x11);
	tpm_blob_t blob;
	bool tried = false;

	ck_assert_int_eq(store_tpm_seal_kek(s, a, &blob), CKR_OK);
	ck_assert_uint_gt(blob.len, 0);
	ck_assert_uint_le(blob.len, STORE_TPM_BLOB_MAX);
	/* The key is not the scrypt output any more... */
	ck_assert(memcmp(a, b, STORE_KEY_LEN) != 0);
	/* ...and the same PIN on the same TPM gives it back. */
	ck_assert_msg(store_tpm_unseal_kek(s, b, &blob, &tried) == CKR_OK, "%s", s->err);
	ck_assert(tried);
	ck_assert_mem_eq(a, b, STORE_KEY_LEN);
	secmem_free(a, STORE_KEY_LEN);
	secmem_free(b, STORE_KEY_LEN);
}
END_TEST

START_TEST(test_wrong_pin_then_lockout)
{
	token_store_t *s = err_handle();
	unsigned char *k = key_of(0x22), *bad = key_of(0x23);
	tpm_blob_t blob;
	bool tried = false;

	ck_assert_int_eq(store_tpm_seal_kek(s, k, &blob), CKR_OK);
	set_da(2);
	for (int i = 0; i < 2; i++) {
		memset(bad, 0x23, STORE_KEY_LEN);
		ck_assert_int_eq(store_tpm_unseal_kek(s, bad, &blob, &tried), CKR_PIN_INCORRECT);
		ck_assert(tried);
	}
	/* The TPM now refuses even the right value. */
	memset(k, 0x22, STORE_KEY_LEN);
	ck_assert_int_eq(store_tpm_unseal_kek(s, k, &blob, &tried), CKR_PIN_LOCKED);
	ck_assert_ptr_nonnull(strstr(s->err, "lockout"));
	set_da(1000);
	memset(k, 0x22, STORE_KEY_LEN);
	ck_assert_int_eq(store_tpm_unseal_kek(s, k, &blob, &tried), CKR_OK);
	secmem_free(k, STORE_KEY_LEN);
	secmem_free(bad, STORE_KEY_LEN);
}
END_TEST

START_TEST(test_damaged_blob)
{
	token_store_t *s = err_handle();
	unsigned char *k = key_of(0x33);
	tpm_blob_t blob, bad;
	bool tried = true;

	ck_assert_int_eq(store_tpm_seal_kek(s, k, &blob), CKR_OK);
	/* Truncated: the parser says so, the TPM never sees it. */
	bad = blob;
	bad.len -= 3;
	memset(k, 0x33, STORE_KEY_LEN);
	ck_assert_int_eq(store_tpm_unseal_kek(s, k, &bad, &tried), CKR_DEVICE_ERROR);
	ck_assert(!tried);
	ck_assert_ptr_nonnull(strstr(s->err, "damaged"));
	/* A flipped byte inside the private part: the TPM's integrity check. */
	bad = blob;
	bad.data[blob.len / 2] ^= 0x40;
	ck_assert_int_ne(store_tpm_unseal_kek(s, k, &bad, &tried), CKR_OK);
	/* A longer length field than the data: refused, no overread. */
	bad = blob;
	bad.len = sizeof(bad.data) + 1;
	ck_assert_int_eq(store_tpm_unseal_kek(s, k, &bad, &tried), CKR_DEVICE_ERROR);
	secmem_free(k, STORE_KEY_LEN);
}
END_TEST

START_TEST(test_no_tpm)
{
	token_store_t *s = err_handle();
	unsigned char *k = key_of(0x44);
	tpm_blob_t blob;
	bool tried = true;

	ck_assert_int_eq(store_tpm_seal_kek(s, k, &blob), CKR_OK);
	/* Port 1 on loopback: nothing listens there. */
	setenv("OFFPASS_P11_TCTI", "swtpm:host=127.0.0.1,port=1", 1);
	memset(k, 0x44, STORE_KEY_LEN);
	ck_assert_int_eq(store_tpm_unseal_kek(s, k, &blob, &tried), CKR_DEVICE_ERROR);
	ck_assert(!tried);
	ck_assert_ptr_nonnull(strstr(s->err, "TPM"));
	ck_assert_int_eq(store_tpm_seal_kek(s, k, &blob), CKR_DEVICE_ERROR);
	/* auto finds none there; off never looks. */
	setenv("OFFPASS_P11_TPM", "auto", 1);
	ck_assert(!store_tpm_wanted_for_new());
	setenv("OFFPASS_P11_TPM", "off", 1);
	setenv("OFFPASS_P11_TCTI", tcti, 1);
	ck_assert(!store_tpm_wanted_for_new());
	setenv("OFFPASS_P11_TPM", "auto", 1);
	ck_assert(store_tpm_wanted_for_new());
	secmem_free(k, STORE_KEY_LEN);
}
END_TEST

/* A process killed mid-operation on a TPM without a resource manager
 * leaves objects and sessions loaded: the next operation still works. */
START_TEST(test_leaked_handles)
{
	const TPM2B_SENSITIVE_CREATE in = { 0 };
	const TPM2B_DATA outside = { 0 };
	const TPML_PCR_SELECTION pcrs = { 0 };
	const TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB };
	TPM2B_PUBLIC tmpl = { .publicArea = {
		.type = TPM2_ALG_ECC, .nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM |
				    TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
				    TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA,
		.parameters.eccDetail = { .symmetric = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
							 .mode.aes = TPM2_ALG_CFB },
					  .scheme.scheme = TPM2_ALG_NULL,
					  .curveID = TPM2_ECC_NIST_P256, .kdf.scheme = TPM2_ALG_NULL },
	} };
	token_store_t *s = err_handle();
	unsigned char *k = key_of(0x55);
	TSS2_TCTI_CONTEXT *t;
	ESYS_CONTEXT *e = esys_open(&t);
	ESYS_TR h;
	tpm_blob_t blob;
	bool tried;
	int objects = 0, sessions = 0;

	/* Fill the TPM's object and session slots, then drop the connection
	 * without flushing, as a killed process would. */
	while (objects < 8 && Esys_CreatePrimary(e, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
						 ESYS_TR_NONE, &in, &tmpl, &outside, &pcrs, &h,
						 NULL, NULL, NULL, NULL) == TSS2_RC_SUCCESS)
		objects++;
	while (sessions < 8 && Esys_StartAuthSession(e, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
						     ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_HMAC,
						     &sym, TPM2_ALG_SHA256, &h) == TSS2_RC_SUCCESS)
		sessions++;
	ck_assert_int_gt(objects, 0);
	ck_assert_int_lt(objects, 8);
	esys_close(e, t);
	ck_assert_msg(store_tpm_seal_kek(s, k, &blob) == CKR_OK, "%s", s->err);
	memset(k, 0x55, STORE_KEY_LEN);
	ck_assert_msg(store_tpm_unseal_kek(s, k, &blob, &tried) == CKR_OK, "%s", s->err);
	secmem_free(k, STORE_KEY_LEN);
}
END_TEST

/* ---- Through the store ---------------------------------------------------- */

static token_store_t *tpm_token(void)
{
	token_store_t *s = NULL;
	CK_UTF8CHAR label[32];

	memset(label, ' ', sizeof(label));
	ck_assert_msg(token_store_create(path, PIN(SO_PIN), label, &s) == CKR_OK, "%s", token_store_error(NULL));
	ck_assert_int_eq(token_store_check_pin(s, CKU_SO, PIN(SO_PIN)), CKR_OK);
	ck_assert_int_eq(token_store_init_user_pin(s, PIN(USER_PIN)), CKR_OK);
	token_store_logout(s);
	return s;
}

static token_protection_t protection(token_store_t *s)
{
	token_meta_t m;

	ck_assert_int_eq(token_store_meta(s, &m), CKR_OK);
	return m.protection;
}

static CK_ULONG user_fails(token_store_t *s)
{
	token_meta_t m;

	ck_assert_int_eq(token_store_meta(s, &m), CKR_OK);
	return m.user_fails;
}

START_TEST(test_store_tpm_token)
{
	token_store_t *s = tpm_token();

	ck_assert_int_eq(protection(s), TOKEN_PROT_TPM);
	ck_assert_int_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_OK);
	ck_assert(token_store_unlocked(s));
	token_store_logout(s);
	/* A wrong PIN is counted in the file as well as by the TPM. */
	ck_assert_int_eq(token_store_check_pin(s, CKU_USER, PIN("wrong-pin")), CKR_PIN_INCORRECT);
	ck_assert_uint_eq(user_fails(s), 1);
	ck_assert_int_eq(token_store_set_pin(s, CKU_USER, PIN(USER_PIN), PIN("new-pin-5678")), CKR_OK);
	ck_assert_uint_eq(user_fails(s), 0);
	ck_assert_int_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_PIN_INCORRECT);
	ck_assert_int_eq(token_store_check_pin(s, CKU_USER, PIN("new-pin-5678")), CKR_OK);
	ck_assert_int_eq(protection(s), TOKEN_PROT_TPM);
	/* OFFPASS_P11_TPM=off does not unbind a bound token's new wrappings. */
	setenv("OFFPASS_P11_TPM", "off", 1);
	ck_assert_int_eq(token_store_set_pin(s, CKU_USER, PIN("new-pin-5678"), PIN(USER_PIN)), CKR_OK);
	ck_assert_int_eq(protection(s), TOKEN_PROT_TPM);
	token_store_close(s);
}
END_TEST

START_TEST(test_store_no_tpm_refund)
{
	token_store_t *s = tpm_token();

	setenv("OFFPASS_P11_TCTI", "swtpm:host=127.0.0.1,port=1", 1);
	ck_assert_int_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_DEVICE_ERROR);
	ck_assert_ptr_nonnull(strstr(token_store_error(s), "TPM"));
	/* The TPM never saw the PIN: the guess is given back. */
	ck_assert_uint_eq(user_fails(s), 0);
	ck_assert(!token_store_unlocked(s));
	setenv("OFFPASS_P11_TCTI", tcti, 1);
	ck_assert_int_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_OK);
	token_store_close(s);
}
END_TEST

START_TEST(test_store_lockout_and_so_unlock)
{
	token_store_t *s = tpm_token();

	set_da(3);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(token_store_check_pin(s, CKU_USER, PIN("wrong-pin")), CKR_PIN_INCORRECT);
	ck_assert_uint_eq(user_fails(s), 3);
	ck_assert_int_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_PIN_LOCKED);
	/* Refused by the TPM before the PIN was tried: not counted again. */
	ck_assert_uint_eq(user_fails(s), 3);
	/* The SO's key is DA-protected too: it waits for the TPM's recovery. */
	ck_assert_int_eq(token_store_check_pin(s, CKU_SO, PIN(SO_PIN)), CKR_PIN_LOCKED);
	set_da(1000);
	ck_assert_int_eq(token_store_check_pin(s, CKU_SO, PIN(SO_PIN)), CKR_OK);
	ck_assert_int_eq(token_store_init_user_pin(s, PIN("reset-pin-1")), CKR_OK);
	token_store_logout(s);
	ck_assert_int_eq(token_store_check_pin(s, CKU_USER, PIN("reset-pin-1")), CKR_OK);
	ck_assert_int_eq(protection(s), TOKEN_PROT_TPM);
	token_store_close(s);
}
END_TEST

START_TEST(test_store_migration)
{
	token_store_t *s;

	setenv("OFFPASS_P11_TPM", "off", 1);
	s = tpm_token();
	ck_assert_int_eq(protection(s), TOKEN_PROT_PIN);
	ck_assert_int_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_OK);
	token_store_logout(s);
	ck_assert_int_eq(protection(s), TOKEN_PROT_PIN);
	setenv("OFFPASS_P11_TPM", "on", 1);
	ck_assert_int_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_OK);
	token_store_logout(s);
	ck_assert_int_eq(protection(s), TOKEN_PROT_MIXED);
	ck_assert_int_eq(token_store_check_pin(s, CKU_SO, PIN(SO_PIN)), CKR_OK);
	token_store_logout(s);
	ck_assert_int_eq(protection(s), TOKEN_PROT_TPM);
	/* Bound now: without the TPM, neither PIN opens it. */
	setenv("OFFPASS_P11_TCTI", "swtpm:host=127.0.0.1,port=1", 1);
	ck_assert_int_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_DEVICE_ERROR);
	ck_assert_int_eq(token_store_check_pin(s, CKU_SO, PIN(SO_PIN)), CKR_DEVICE_ERROR);
	token_store_close(s);
}
END_TEST

START_TEST(test_store_reinit_off)
{
	token_store_t *s = tpm_token();
	CK_UTF8CHAR label[32];

	memset(label, ' ', sizeof(label));
	setenv("OFFPASS_P11_TPM", "off", 1);
	ck_assert_int_eq(token_store_reinit(s, PIN(SO_PIN), label), CKR_OK);
	ck_assert_int_eq(protection(s), TOKEN_PROT_PIN);
	setenv("OFFPASS_P11_TCTI", "swtpm:host=127.0.0.1,port=1", 1);
	ck_assert_int_eq(token_store_check_pin(s, CKU_SO, PIN(SO_PIN)), CKR_OK);
	token_store_close(s);
}
END_TEST

static Suite *tpm_suite(void)
{
	Suite *s = suite_create("tpm");
	TCase *tc = tcase_create("tpm");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_seal_unseal);
	tcase_add_test(tc, test_wrong_pin_then_lockout);
	tcase_add_test(tc, test_damaged_blob);
	tcase_add_test(tc, test_no_tpm);
	tcase_add_test(tc, test_leaked_handles);
	tcase_add_test(tc, test_store_tpm_token);
	tcase_add_test(tc, test_store_no_tpm_refund);
	tcase_add_test(tc, test_store_lockout_and_so_unlock);
	tcase_add_test(tc, test_store_migration);
	tcase_add_test(tc, test_store_reinit_off);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (!swtpm_start()) {
		bool missing = spawn_errno == ENOENT;

		fprintf(stderr, missing ? "SKIP: swtpm is not installed\n" : "FAIL: cannot start swtpm\n");
		swtpm_stop();
		return missing ? 77 : 1;
	}
	/* The TSS logs every TPM error response; the tests provoke many. */
	setenv("TSS2_LOG", "all+none", 1);
	sr = srunner_create(tpm_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	swtpm_stop();
	return failed == 0 ? 0 : 1;
}
