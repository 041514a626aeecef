/* test-full-disk.c - the soft token on a full disk (issue 8): a new
 * process still sees the token (opened read-only when SQLite cannot create
 * its -wal/-shm files), lists it and reads its public objects; a login
 * that cannot commit the wrong-PIN count fails closed with
 * CKR_DEVICE_MEMORY and a log line saying the disk is full; a process that
 * logged in before the disk filled keeps signing; with space again, a
 * login works. The token directory is a small tmpfs mounted for the run:
 * without the right to mount (not root, or a container without
 * CAP_SYS_ADMIN) the program skips (exit 77). */
#include "config.h"
#include "p11/test-util.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define OK(call) ck_assert_int_eq((call), CKR_OK)

static char mnt[64];
static char filler[96];

/* Fill the file system up to the last byte. */
static void fill_disk(void)
{
	static char block[65536];
	int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	size_t chunk = sizeof(block);

	ck_assert_int_ge(fd, 0);
	while (chunk >= 1) {
		ssize_t n = write(fd, block, chunk);
		if (n < 0) {
			ck_assert_int_eq(errno, ENOSPC);
			chunk /= 2;
		}
	}
	close(fd);
}

static void free_disk(void)
{
	ck_assert_int_eq(unlink(filler), 0);
}

/* Each test starts from an empty file system (there are no directories). */
static void empty_mount(void)
{
	DIR *d = opendir(mnt);
	struct dirent *e;
	char path[400];

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", mnt, e->d_name);
		ck_assert_int_eq(unlink(path), 0);
	}
	closedir(d);
}

static void setup(void)
{
	empty_mount();
	ck_assert_int_eq(setenv("OFFPASS_P11_DIR", mnt, 1), 0);
	ck_assert_int_eq(setenv("OFFPASS_P11_SCRYPT_N", "1024", 1), 0);
	ck_assert_int_eq(C_GetFunctionList(&p11), CKR_OK);
}

static CK_OBJECT_HANDLE find_one(CK_SESSION_HANDLE s, CK_OBJECT_CLASS klass, const char *label)
{
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &klass, sizeof(klass) },
			     { CKA_LABEL, (void *)label, (CK_ULONG)strlen(label) } };
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

	ck_assert_uint_eq(tu_find(s, t, 2, &h, 1), 1);
	return h;
}

static void sign_once(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key)
{
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	unsigned char sig[64];
	CK_ULONG len = sizeof(sig);

	OK(p11->C_SignInit(s, &m, key));
	OK(p11->C_Sign(s, (CK_BYTE_PTR) "message", 7, sig, &len));
	ck_assert_uint_eq(len, 64);
}

/* A token with a public data object and a P-256 key pair, all on disk. */
static CK_SLOT_ID make_token(void)
{
	CK_SLOT_ID slot = tu_init_token(TU_LABEL);
	CK_SESSION_HANDLE s = tu_user_session(slot);
	CK_OBJECT_CLASS data = CKO_DATA;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE obj[] = {
		{ CKA_CLASS, &data, sizeof(data) },   { CKA_TOKEN, &yes, 1 }, { CKA_PRIVATE, &no, 1 },
		{ CKA_LABEL, "public-note", 11 },     { CKA_VALUE, "readable", 8 },
	};
	CK_ATTRIBUTE keys[] = { { CKA_TOKEN, &yes, 1 }, { CKA_LABEL, "key", 3 } };
	CK_OBJECT_HANDLE h, pub, priv;

	OK(p11->C_CreateObject(s, obj, 5, &h));
	OK(tu_gen_ec_rv(s, CKM_EC_KEY_PAIR_GEN, tu_oid_p256, sizeof(tu_oid_p256), keys, 2, keys, 2,
			&pub, &priv));
	OK(p11->C_Finalize(NULL));
	return slot;
}

/* A new process on a full disk. */
START_TEST(test_new_process_full_disk)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE note;
	CK_TOKEN_INFO ti;
	unsigned char value[16];
	CK_ATTRIBUTE get = { CKA_VALUE, value, sizeof(value) };
	CK_RV rv[2];
	char *log;

	setup();
	(void)make_token();
	fill_disk();
	tu_log_begin();
	tu_initialize();
	log = tu_log_end();
	ck_assert_ptr_nonnull(strstr(log, "open read-only (the disk is full)"));
	free(log);
	s = tu_open(tu_find_slot(TU_LABEL), 0);
	note = find_one(s, CKO_DATA, "public-note");
	OK(p11->C_GetAttributeValue(s, note, &get, 1));
	ck_assert_uint_eq(get.ulValueLen, 8);
	ck_assert(memcmp(value, "readable", 8) == 0);
	/* The guess cannot be counted: the PIN is not tried, and says why. */
	tu_log_begin();
	rv[0] = p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN));
	rv[1] = p11->C_Login(s, CKU_USER, TU_PIN("wrong-pin"));
	log = tu_log_end();
	ck_assert_int_eq(rv[0], CKR_DEVICE_MEMORY);
	ck_assert_int_eq(rv[1], CKR_DEVICE_MEMORY);
	ck_assert_ptr_nonnull(strstr(log, "login refused"));
	ck_assert_ptr_nonnull(strstr(log, "the disk is full"));
	free(log);
	OK(p11->C_GetTokenInfo(tu_find_slot(TU_LABEL), &ti));
	ck_assert(!(ti.flags & CKF_USER_PIN_COUNT_LOW));
	/* Space again: the same process logs in and signs. */
	free_disk();
	OK(p11->C_Login(s, CKU_USER, TU_PIN(TU_USER_PIN)));
	sign_once(s, find_one(s, CKO_PRIVATE_KEY, "key"));
	OK(p11->C_Finalize(NULL));
}
END_TEST

/* A process logged in before the disk filled keeps signing; another one
 * cannot log in, and is told why. */
START_TEST(test_logged_in_before)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	int status;
	pid_t pid;

	setup();
	(void)make_token();
	tu_initialize();
	s = tu_user_session(tu_find_slot(TU_LABEL));
	key = find_one(s, CKO_PRIVATE_KEY, "key");
	fill_disk();
	sign_once(s, key);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		CK_SESSION_HANDLE c;
		CK_RV rv;

		/* A fresh start, as a new process. */
		if (p11->C_Initialize(NULL) != CKR_OK)
			_exit(1);
		c = CK_INVALID_HANDLE;
		if (p11->C_OpenSession(tu_find_slot(TU_LABEL), CKF_SERIAL_SESSION, NULL, NULL, &c) != CKR_OK)
			_exit(2);
		rv = p11->C_Login(c, CKU_USER, TU_PIN(TU_USER_PIN));
		_exit(rv == CKR_DEVICE_MEMORY ? 0 : 3);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
	sign_once(s, key);
	free_disk();
	OK(p11->C_Finalize(NULL));
}
END_TEST

int main(void)
{
	Suite *su = suite_create("p11-full-disk");
	TCase *tc = tcase_create("full disk");
	SRunner *sr;
	int failed;

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: mounting a small tmpfs needs root\n");
		return 77;
	}
	snprintf(mnt, sizeof(mnt), "/tmp/offpass-full-disk-XXXXXX");
	if (mkdtemp(mnt) == NULL) {
		perror("mkdtemp");
		return 99;
	}
	if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0700") != 0) {
		fprintf(stderr, "SKIP: cannot mount a tmpfs on %s: %s\n", mnt, strerror(errno));
		rmdir(mnt);
		return 77;
	}
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_new_process_full_disk);
	tcase_add_test(tc, test_logged_in_before);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	/* One test at a time in the one tmpfs: each starts from an empty one. */
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (umount2(mnt, MNT_DETACH) != 0)
		perror("umount");
	rmdir(mnt);
	return failed == 0 ? 0 : 1;
}
