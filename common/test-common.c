/* test-common.c - secure memory and atomic file writes. */
#include "config.h"
#include "secmem.h"
#include "atomic_file.h"
#include "hex.h"
#include "b64url.h"
#include "cli.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
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

/* Locked memory of this process, in kB, as the kernel counts it. */
static long vm_locked_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(f);
	ck_assert_int_ge(kb, 0);
	return kb;
}

static long page_kb(void)
{
	return sysconf(_SC_PAGESIZE) / 1024;
}

/* Whether mlock(2) reaches the kernel here, as VmLck shows: under
 * AddressSanitizer it is intercepted, does nothing and returns 0, so what
 * the kernel holds cannot be checked (the rest of the contract can). */
static bool mlock_observable(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	long before = vm_locked_kb();
	void *p = NULL;
	bool seen;

	ck_assert_int_eq(posix_memalign(&p, page, page), 0);
	memset(p, 1, page);
	seen = mlock(p, page) == 0 && vm_locked_kb() == before + page_kb();
	(void)munlock(p, page);
	free(p);
	return seen;
}

/* Room under RLIMIT_MEMLOCK for a few more pages (or no limit at all). */
static bool lock_room(void)
{
	struct rlimit rl;

	ck_assert_int_eq(getrlimit(RLIMIT_MEMLOCK, &rl), 0);
	return rl.rlim_cur == RLIM_INFINITY ||
	       (long)(rl.rlim_cur / 1024) >= vm_locked_kb() + 16 * page_kb();
}

START_TEST(secmem_plain_is_not_locked)
{
	long before = vm_locked_kb();
	void *p[64];

	for (int i = 0; i < 64; i++) {
		p[i] = secmem_alloc(32 + (size_t)i);
		ck_assert_ptr_nonnull(p[i]);
	}
	ck_assert_int_eq(vm_locked_kb(), before);
	for (int i = 0; i < 64; i++)
		secmem_free(p[i], 32 + (size_t)i);
	ck_assert_int_eq(vm_locked_kb(), before);
	ck_assert_ptr_null(secmem_alloc(SIZE_MAX));
}
END_TEST

/* The kernel's count of locked memory is before + pages, when it can be
 * seen at all. */
static void assert_locked_pages(bool observable, long before, int pages)
{
	if (observable)
		ck_assert_int_eq(vm_locked_kb(), before + page_kb() * pages);
}

START_TEST(secmem_locked_holds_and_reports)
{
	bool observable = mlock_observable();
	long before = vm_locked_kb();
	bool la = false, lb = false, lz = false;
	unsigned char *a = secmem_alloc_locked(32, &la);
	unsigned char *b = secmem_alloc_locked(16, &lb);
	void *z = secmem_alloc_locked(0, &lz);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_nonnull(z);
	for (int i = 0; i < 32; i++)
		ck_assert_int_eq(a[i], 0);
	for (int i = 0; i < 16; i++)
		ck_assert_int_eq(b[i], 0);
	memset(a, 0xa5, 32);
	memset(b, 0x5a, 16);
	if (lock_room())
		ck_assert(la && lb && lz);
	/* What is reported is what the kernel holds: a page each. */
	assert_locked_pages(observable, before, la + lb + lz);
	/* Freeing one leaves the others' pages locked (no shared pages). */
	secmem_free(a, 32);
	assert_locked_pages(observable, before, lb + lz);
	ck_assert_int_eq(b[15], 0x5a);
	secmem_free(b, 16);
	secmem_free(z, 0);
	assert_locked_pages(observable, before, 0);
	/* Larger than a page, and no report asked for. */
	a = secmem_alloc_locked(3 * 4096 + 5, NULL);
	ck_assert_ptr_nonnull(a);
	a[3 * 4096 + 4] = 1;
	secmem_free(a, 3 * 4096 + 5);
	assert_locked_pages(observable, before, 0);
	la = true;
	ck_assert_ptr_null(secmem_alloc_locked(SIZE_MAX, &la));
	ck_assert(!la);
}
END_TEST

/* In a child without CAP_IPC_LOCK and with RLIMIT_MEMLOCK 0: the lock
 * fails, the memory is still handed out, zeroed, and freed. Exit codes
 * name the failing step. */
static int unlockable_child(bool observable)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct cap[2];
	struct rlimit none = { 0, 0 };
	bool locked = true;
	long before;
	unsigned char *p;

	if (syscall(SYS_capget, &hdr, cap) != 0)
		return 2;
	cap[0].effective &= ~(1u << CAP_IPC_LOCK);
	cap[0].permitted &= ~(1u << CAP_IPC_LOCK);
	if (syscall(SYS_capset, &hdr, cap) != 0 || setrlimit(RLIMIT_MEMLOCK, &none) != 0)
		return 3;
	before = vm_locked_kb();
	p = secmem_alloc_locked(64, &locked);
	if (p == NULL)
		return 4;
	if (locked && observable)
		return 5;
	for (int i = 0; i < 64; i++)
		if (p[i] != 0)
			return 6;
	memset(p, 0x11, 64);
	if (vm_locked_kb() != before)
		return 7;
	secmem_free(p, 64);
	return 0;
}

START_TEST(secmem_locked_without_privilege)
{
	bool observable = mlock_observable();
	int status = 0;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(unlockable_child(observable));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_msg(WEXITSTATUS(status) == 0, "child failed at step %d", WEXITSTATUS(status));
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

/* A symbolic link is refused, and neither it nor its target changes. */
START_TEST(atomic_write_refuses_symlink)
{
	char target[128], link_path[128], got_link[128];
	unsigned char *got = NULL;
	size_t len = 0;
	ssize_t n;

	make_dir();
	snprintf(target, sizeof(target), "%s/target", dir);
	snprintf(link_path, sizeof(link_path), "%s/link", dir);
	ck_assert_int_eq(atomic_file_write(target, "old", 3, 0600), 0);
	ck_assert_int_eq(symlink(target, link_path), 0);
	ck_assert_int_eq(atomic_file_write(link_path, "new", 3, 0600), -ELOOP);
	ck_assert_ptr_nonnull(strstr(atomic_file_strerror(-ELOOP), "symbolic link"));
	n = readlink(link_path, got_link, sizeof(got_link) - 1);
	ck_assert_int_eq(n, (ssize_t)strlen(target));
	got_link[n] = '\0';
	ck_assert_str_eq(got_link, target);
	ck_assert_int_eq(file_read_all(target, 10, &got, &len), 0);
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(got, "old", 3);
	free(got);
	/* A dangling link is not created through either. */
	ck_assert_int_eq(unlink(target), 0);
	ck_assert_int_eq(atomic_file_write(link_path, "new", 3, 0600), -ELOOP);
	ck_assert_int_eq(access(target, F_OK), -1);
	remove_dir();
}
END_TEST

/* A character device is written through and stays a device. */
START_TEST(atomic_write_through_char_device)
{
	struct stat before, after;

	ck_assert_int_eq(stat("/dev/null", &before), 0);
	ck_assert(S_ISCHR(before.st_mode));
	ck_assert_int_eq(atomic_file_write("/dev/null", "discarded", 9, 0600), 0);
	ck_assert_int_eq(stat("/dev/null", &after), 0);
	ck_assert(S_ISCHR(after.st_mode));
	ck_assert_uint_eq(before.st_rdev, after.st_rdev);
	ck_assert_uint_eq(before.st_ino, after.st_ino);
}
END_TEST

/* A FIFO is written through: the reader at its other end gets the bytes. */
START_TEST(atomic_write_through_fifo)
{
	char path[128], got[16] = "";
	struct stat st;
	pid_t pid;
	int status = 0;

	make_dir();
	snprintf(path, sizeof(path), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(atomic_file_write(path, "through", 7, 0600) == 0 ? 0 : 1);
	int fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, got + n, sizeof(got) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_uint_eq(n, 7);
	ck_assert_mem_eq(got, "through", 7);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISFIFO(st.st_mode));
	remove_dir();
}
END_TEST

/* A directory or a socket is refused with nothing left behind. */
START_TEST(atomic_write_refuses_other_special_files)
{
	char path[128];
	struct sockaddr_un sa;
	int s;

	make_dir();
	snprintf(path, sizeof(path), "%s/sub", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(atomic_file_write(path, "x", 1, 0600), -EISDIR);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", dir);
	snprintf(path, sizeof(path), "%s", sa.sun_path);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(atomic_file_write(path, "x", 1, 0600), -EINVAL);
	close(s);
	remove_dir();
}
END_TEST

/* "-" is standard output for output_file_write, a file name otherwise. */
START_TEST(output_write_dash_is_stdout)
{
	char path[128], got[16] = "";
	int saved, fd;
	ssize_t n;

	make_dir();
	snprintf(path, sizeof(path), "%s/captured", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
	close(fd);
	int rv = output_file_write("-", "to stdout", 9, 0600);
	ck_assert_int_eq(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
	close(saved);
	ck_assert_int_eq(rv, 0);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	n = read(fd, got, sizeof(got));
	close(fd);
	ck_assert_int_eq(n, 9);
	ck_assert_mem_eq(got, "to stdout", 9);
	snprintf(path, sizeof(path), "%s/named", dir);
	ck_assert_int_eq(output_file_write(path, "file", 4, 0600), 0);
	ck_assert_int_eq(access(path, F_OK), 0);
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

/* A writer killed while it writes leaves no temporary file behind (the
 * data goes to an unnamed O_TMPFILE), and the target is absent or whole. */
START_TEST(killed_writer_leaves_no_temporary)
{
	static unsigned char big[8 << 20];
	char path[160];
	int left = 0;

	make_dir();
	memset(big, 'z', sizeof(big));
	for (int round = 0; round < 10; round++) {
		snprintf(path, sizeof(path), "%s/out-%d", dir, round);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			if (atomic_file_write(path, big, sizeof(big), 0600) != 0)
				_exit(1);
			pause();
			_exit(0);
		}
		usleep(1000 + 500 * (unsigned)round);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		unsigned char *got = NULL;
		size_t len = 0;
		int rc = file_read_all(path, sizeof(big), &got, &len);
		ck_assert(rc == -ENOENT || (rc == 0 && len == sizeof(big)));
		free(got);
	}
	DIR *d = opendir(dir);
	struct dirent *e;
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".tmp.") != NULL)
			left++;
	closedir(d);
	ck_assert_int_eq(left, 0);
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

/* RFC 4648 section 10 vectors in the url alphabet, and every
 * non-canonical or foreign form refused. */
START_TEST(b64url_vectors_and_strictness)
{
	static const char *const vec[][2] = { { "", "" },	  { "f", "Zg" },	 { "fo", "Zm8" },
					      { "foo", "Zm9v" }, { "foob", "Zm9vYg" },	 { "fooba", "Zm9vYmE" },
					      { "foobar", "Zm9vYmFy" } };
	const uint8_t high[] = { 0xfb, 0xff, 0xbf };
	char text[16];
	uint8_t out[8];
	size_t n;

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		b64url_encode((const uint8_t *)vec[i][0], strlen(vec[i][0]), text);
		ck_assert_str_eq(text, vec[i][1]);
		ck_assert_uint_eq(strlen(text), B64URL_LEN(strlen(vec[i][0])));
		ck_assert_int_eq(b64url_decode(text, strlen(text), out, sizeof(out), &n), 0);
		ck_assert_uint_eq(n, strlen(vec[i][0]));
		ck_assert_mem_eq(out, vec[i][0], n);
	}
	b64url_encode(high, sizeof(high), text);
	ck_assert_str_eq(text, "-_-_"); /* the url alphabet, not + and / */
	ck_assert_int_eq(b64url_decode("+/+/", 4, out, sizeof(out), &n), -1);
	ck_assert_int_eq(b64url_decode("Zg==", 4, out, sizeof(out), &n), -1); /* padding */
	ck_assert_int_eq(b64url_decode("Zh", 2, out, sizeof(out), &n), -1);   /* low bits set */
	ck_assert_int_eq(b64url_decode("Zm9vY", 5, out, sizeof(out), &n), -1); /* 1 mod 4 */
	ck_assert_int_eq(b64url_decode("Zm 9v", 5, out, sizeof(out), &n), -1);
	ck_assert_int_eq(b64url_decode("Zm9vYmFy", 8, out, 5, &n), -1); /* over cap */
}
END_TEST

/* Numbers on the command line: digits only, in range, nothing else; a
 * refused one leaves the output as it was. */
START_TEST(parse_numbers_strict)
{
	static const char *const bad[] = { "", "+1", "-1", " 1", "1 ", "1\n", "0x10", "1e3", "1.0", "1,000", "\xd9\xa1" };
	uint32_t v = 7;
	uint64_t w = 7;

	ck_assert_int_eq(ofp_parse_u32("0", 10, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(ofp_parse_u32("007", 10, &v), 0); /* leading zeros are fine */
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(ofp_parse_u32("10", 10, &v), 0);
	ck_assert_uint_eq(v, 10);
	ck_assert_int_eq(ofp_parse_u32("11", 10, &v), -1); /* over max */
	ck_assert_uint_eq(v, 10);
	ck_assert_int_eq(ofp_parse_u32("1", 0, &v), -1);
	ck_assert_int_eq(ofp_parse_u32("4294967295", UINT32_MAX, &v), 0);
	ck_assert_uint_eq(v, 4294967295u);
	ck_assert_int_eq(ofp_parse_u32("4294967296", UINT32_MAX, &v), -1);
	ck_assert_int_eq(ofp_parse_u32("4294967297", UINT32_MAX, &v), -1); /* not cut to 1 */
	ck_assert_uint_eq(v, 4294967295u);
	for (size_t i = 0; i < OFP_ARRAY_LEN(bad); i++) {
		ck_assert_msg(ofp_parse_u32(bad[i], UINT32_MAX, &v) == -1, "u32 took '%s'", bad[i]);
		ck_assert_msg(ofp_parse_u64(bad[i], UINT64_MAX, &w) == -1, "u64 took '%s'", bad[i]);
	}
	ck_assert_uint_eq(v, 4294967295u);
	ck_assert(w == 7);
	ck_assert_int_eq(ofp_parse_u64("18446744073709551615", UINT64_MAX, &w), 0);
	ck_assert(w == UINT64_MAX);
	ck_assert_int_eq(ofp_parse_u64("000000000000000000000000018446744073709551614", UINT64_MAX, &w), 0);
	ck_assert(w == UINT64_MAX - 1);
	/* Past 64 bits, by one and by far: refused, not wrapped. */
	ck_assert_int_eq(ofp_parse_u64("18446744073709551616", UINT64_MAX, &w), -1);
	ck_assert_int_eq(ofp_parse_u64("18446744073709551620", UINT64_MAX, &w), -1);
	ck_assert_int_eq(ofp_parse_u64("99999999999999999999999", UINT64_MAX, &w), -1);
	ck_assert_int_eq(ofp_parse_u64("36893488147419103232", UINT64_MAX, &w), -1); /* 2^65 */
	ck_assert(w == UINT64_MAX - 1);
}
END_TEST

/* What ofp_clock_option printed for arg (its stderr), and its result. */
static int clock_option_stderr(ofp_clock_t *c, const char *arg, char *out, size_t cap)
{
	char path[] = "/tmp/offpass-common-XXXXXX";
	int fd = mkstemp(path), saved = dup(2), rv;
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(dup2(fd, 2), 2);
	rv = ofp_clock_option(c, arg);
	fflush(stderr);
	ck_assert_int_eq(dup2(saved, 2), 2);
	close(saved);
	n = pread(fd, out, cap - 1, 0);
	ck_assert_int_ge(n, 0);
	out[n] = '\0';
	close(fd);
	return rv;
}

/* Another party's text loses every byte that is not printable ASCII
 * (escapes, line breaks, UTF-8), and is cut to the buffer. */
START_TEST(printable_text)
{
	char out[16];

	ck_assert_str_eq(ofp_printable("ok: fine", out, sizeof(out)), "ok: fine");
	ck_assert_str_eq(ofp_printable("\x1b[2J\nx\x7f\xc3\xa9", out, sizeof(out)), "?[2J?x???");
	ck_assert_str_eq(ofp_printable("0123456789abcdefXYZ", out, sizeof(out)), "0123456789abcde");
	ck_assert_str_eq(ofp_printable(NULL, out, sizeof(out)), "");
	ck_assert_str_eq(ofp_printable("abc", out, 1), "");
}
END_TEST

START_TEST(clock_option_and_now)
{
	ofp_clock_t c = { 0 };
	char msg[512];
	time_t before = time(NULL);
	uint32_t t = ofp_clock_now(&c); /* no --now: the system clock */

	ck_assert(t >= (uint32_t)before && t <= (uint32_t)time(NULL));
	ck_assert_int_eq(clock_option_stderr(&c, "yesterday", msg, sizeof(msg)), OFP_EXIT_USAGE);
	ck_assert_msg(strstr(msg, "--now") != NULL && strstr(msg, "'yesterday'") != NULL, "%s", msg);
	ck_assert(!c.set);
	ck_assert_int_eq(clock_option_stderr(&c, "1700000000", msg, sizeof(msg)), OFP_EXIT_OK);
	ck_assert_str_eq(msg, "");
	ck_assert(c.set);
	ck_assert_uint_eq(ofp_clock_now(&c), 1700000000u);
	/* Refused values leave the time given before. */
	ck_assert_int_eq(clock_option_stderr(&c, "4294967296", msg, sizeof(msg)), OFP_EXIT_USAGE);
	ck_assert_int_eq(clock_option_stderr(&c, "-1", msg, sizeof(msg)), OFP_EXIT_USAGE);
	ck_assert_int_eq(clock_option_stderr(&c, "", msg, sizeof(msg)), OFP_EXIT_USAGE);
	ck_assert_uint_eq(ofp_clock_now(&c), 1700000000u);
	ck_assert_int_eq(clock_option_stderr(&c, "0", msg, sizeof(msg)), OFP_EXIT_OK);
	ck_assert(c.set);
	ck_assert_uint_eq(ofp_clock_now(&c), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("common");
	TCase *tc = tcase_create("secmem");
	tcase_add_test(tc, secmem_alloc_is_zeroed_and_dup_copies);
	tcase_add_test(tc, secmem_wipe_and_equal);
	tcase_add_test(tc, secmem_plain_is_not_locked);
	tcase_add_test(tc, secmem_locked_holds_and_reports);
	tcase_add_test(tc, secmem_locked_without_privilege);
	suite_add_tcase(s, tc);
	tcase_add_test(tc, hex_round_trip_and_rejects);
	tcase_add_test(tc, b64url_vectors_and_strictness);
	tc = tcase_create("atomic_file");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, atomic_write_replaces_and_reads_back);
	tcase_add_test(tc, read_all_bounds_and_errors);
	tcase_add_test(tc, killed_writer_leaves_old_or_new);
	tcase_add_test(tc, atomic_write_refuses_symlink);
	tcase_add_test(tc, atomic_write_through_char_device);
	tcase_add_test(tc, atomic_write_through_fifo);
	tcase_add_test(tc, atomic_write_refuses_other_special_files);
	tcase_add_test(tc, output_write_dash_is_stdout);
	tcase_add_test(tc, killed_writer_leaves_no_temporary);
	suite_add_tcase(s, tc);
	tc = tcase_create("cli");
	tcase_add_test(tc, parse_numbers_strict);
	tcase_add_test(tc, clock_option_and_now);
	tcase_add_test(tc, printable_text);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
