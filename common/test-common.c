/* test-common.c - secure memory and atomic file writes. */
#include "config.h"
#include "secmem.h"
#include "atomic_file.h"
#include "hex.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];

static void make_dir(void)
{
	strcpy(dir, "/tmp/offpass-common-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(secmem_alloc_is_zeroed_and_dup_copies)
{
	unsigned char *p = secmem_alloc(64);
	ck_assert_ptr_nonnull(p);
	for (int i = 0; i < 64; i++)
		ck_assert_int_eq(p[i], 0);
	memset(p, 0xa5, 64);
	unsigned char *q = secmem_dup(p, 64);
	ck_assert_ptr_nonnull(q);
	ck_assert_mem_eq(p, q, 64);
	secmem_free(p, 64);
	secmem_free(q, 64);
	void *z = secmem_alloc(0);
	ck_assert_ptr_nonnull(z);
	secmem_free(z, 0);
	secmem_free(NULL, 10);
}
END_TEST

START_TEST(secmem_wipe_and_equal)
{
	unsigned char a[32], b[32];
	memset(a, 7, sizeof(a));
	memcpy(b, a, sizeof(b));
	ck_assert(secmem_equal(a, b, sizeof(a)));
	b[31] ^= 1;
	ck_assert(!secmem_equal(a, b, sizeof(a)));
	secmem_wipe(a, sizeof(a));
	for (size_t i = 0; i < sizeof(a); i++)
		ck_assert_int_eq(a[i], 0);
}
END_TEST

START_TEST(atomic_write_replaces_and_reads_back)
{
	char path[128];
	unsigned char *got = NULL;
	size_t len = 0;

	make_dir();
	snprintf(path, sizeof(path), "%s/f", dir);
	ck_assert_int_eq(atomic_file_write(path, "first", 5, 0600), 0);
	ck_assert_int_eq(atomic_file_write(path, "second!", 7, 0600), 0);
	ck_assert_int_eq(file_read_all(path, 100, &got, &len), 0);
	ck_assert_uint_eq(len, 7);
	ck_assert_mem_eq(got, "second!", 7);
	free(got);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	remove_dir();
}
END_TEST

START_TEST(read_all_bounds_and_errors)
{
	char path[128];
	unsigned char *got = NULL;
	size_t len = 0;

	make_dir();
	snprintf(path, sizeof(path), "%s/big", dir);
	ck_assert_int_eq(atomic_file_write(path, "0123456789", 10, 0600), 0);
	ck_assert_int_eq(file_read_all(path, 9, &got, &len), -EFBIG);
	ck_assert_int_eq(file_read_all(path, 10, &got, &len), 0);
	free(got);
	snprintf(path, sizeof(path), "%s/missing", dir);
	ck_assert_int_eq(file_read_all(path, 10, &got, &len), -ENOENT);
	ck_assert_int_eq(file_read_all(dir, 10, &got, &len), -EINVAL);
	snprintf(path, sizeof(path), "%s/no-such-dir/f", dir);
	ck_assert_int_eq(atomic_file_write(path, "x", 1, 0600), -ENOENT);
	remove_dir();
}
END_TEST

/* A writer killed at any moment leaves the old or the new content, whole. */
START_TEST(killed_writer_leaves_old_or_new)
{
	char path[128];
	static unsigned char a[256 * 1024], b[256 * 1024];

	make_dir();
	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	snprintf(path, sizeof(path), "%s/f", dir);
	ck_assert_int_eq(atomic_file_write(path, a, sizeof(a), 0600), 0);
	for (int round = 0; round < 20; round++) {
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			for (;;)
				if (atomic_file_write(path, (round & 1) ? a : b, sizeof(a), 0600) != 0)
					_exit(1);
		}
		usleep(2000 + 1000 * (unsigned)round);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		unsigned char *got = NULL;
		size_t len = 0;
		ck_assert_int_eq(file_read_all(path, sizeof(a), &got, &len), 0);
		ck_assert_uint_eq(len, sizeof(a));
		ck_assert(memcmp(got, a, len) == 0 || memcmp(got, b, len) == 0);
		free(got);
	}
	remove_dir();
}
END_TEST

START_TEST(hex_round_trip_and_rejects)
{
	const uint8_t in[] = { 0x00, 0x01, 0xab, 0xff };
	char text[9];
	uint8_t out[4];
	size_t n = 0;

	hex_encode(in, sizeof(in), text);
	ck_assert_str_eq(text, "0001abff");
	ck_assert_int_eq(hex_decode("0001ABff", out, sizeof(out)), 0);
	ck_assert_mem_eq(out, in, sizeof(in));
	ck_assert_int_eq(hex_decode("0001abf", out, sizeof(out)), -1);   /* odd */
	ck_assert_int_eq(hex_decode("0001abff00", out, sizeof(out)), -1); /* too long */
	ck_assert_int_eq(hex_decode("0001abfg", out, sizeof(out)), -1);   /* not hex */
	ck_assert_int_eq(hex_decode_var("", out, sizeof(out), &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(hex_decode_var("abcd", out, 1, &n), -1);        /* over cap */
	ck_assert_int_eq(hex_decode_var("abcd", out, 2, &n), 0);
	ck_assert_uint_eq(n, 2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("common");
	TCase *tc = tcase_create("secmem");
	tcase_add_test(tc, secmem_alloc_is_zeroed_and_dup_copies);
	tcase_add_test(tc, secmem_wipe_and_equal);
	suite_add_tcase(s, tc);
	tcase_add_test(tc, hex_round_trip_and_rejects);
	tc = tcase_create("atomic_file");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, atomic_write_replaces_and_reads_back);
	tcase_add_test(tc, read_all_bounds_and_errors);
	tcase_add_test(tc, killed_writer_leaves_old_or_new);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
