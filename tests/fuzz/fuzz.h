/* fuzz.h - what the libFuzzer targets share: failing loudly, the wire
 * format's refusal rule, scratch directories and reading test vectors.
 *
 * A target states properties with FUZZ_ASSERT; a false one aborts, which
 * libFuzzer reports as a crash with the input that broke it. Test code
 * only: built by tests/fuzz/run.sh, never by make. */
#ifndef OFFPASS_FUZZ_H
#define OFFPASS_FUZZ_H

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                                     \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "fuzz: %s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                              \
		}                                                                             \
	} while (0)

/* A refusal carries its code and a NUL-terminated, non-empty reason. */
static inline void fuzz_check_refusal(ofp_fmt_rc_t rc, const ofp_fmt_error_t *err)
{
	FUZZ_ASSERT(rc != OFP_FMT_OK && rc != OFP_FMT_EBUFFER && rc != OFP_FMT_EINTERNAL);
	FUZZ_ASSERT(err->code == rc);
	FUZZ_ASSERT(memchr(err->reason, '\0', sizeof(err->reason)) != NULL);
	FUZZ_ASSERT(err->reason[0] != '\0');
}

/* An error text filled by snprintf: terminated and, after a failure, said. */
static inline void fuzz_check_message(const char *err, size_t cap)
{
	FUZZ_ASSERT(memchr(err, '\0', cap) != NULL);
	FUZZ_ASSERT(err[0] != '\0');
}

/* Remove dir and everything under it (no symbolic link is followed). */
static inline void fuzz_rmdir(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			fuzz_rmdir(path);
		else
			(void)unlink(path);
	}
	closedir(d);
	(void)rmdir(dir);
}

/* A fresh directory under $TMPDIR (else /tmp), made once per process and
 * removed at exit. */
static char fuzz_tmp[PATH_MAX];

static inline void fuzz_tmpdir_remove(void)
{
	fuzz_rmdir(fuzz_tmp);
}

static inline const char *fuzz_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	if (fuzz_tmp[0] != '\0')
		return fuzz_tmp;
	if (base == NULL || base[0] != '/')
		base = "/tmp";
	FUZZ_ASSERT(snprintf(fuzz_tmp, sizeof(fuzz_tmp), "%s/offpass-fuzz.XXXXXX", base) < (int)sizeof(fuzz_tmp));
	FUZZ_ASSERT(mkdtemp(fuzz_tmp) != NULL);
	atexit(fuzz_tmpdir_remove);
	return fuzz_tmp;
}

/* dir/name, within PATH_MAX. */
static inline void fuzz_path(char *out, const char *dir, const char *name)
{
	FUZZ_ASSERT(snprintf(out, PATH_MAX, "%s/%s", dir, name) < PATH_MAX);
}

/* Write a whole file (created 0600, truncated). */
static inline void fuzz_write_file(const char *path, const uint8_t *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	FUZZ_ASSERT(f != NULL);
	FUZZ_ASSERT(len == 0 || fwrite(data, 1, len, f) == len);
	FUZZ_ASSERT(fclose(f) == 0);
}

static inline int fuzz_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A tests/vectors/ .hex file (hex digits, whitespace ignored) into out;
 * aborts when it is missing or malformed: a target without its fixture
 * would fuzz nothing of interest. */
static inline size_t fuzz_read_hex(const char *path, uint8_t *out, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t len = 0;
	int c, hi = -1;

	if (f == NULL) {
		fprintf(stderr, "fuzz: cannot open %s\n", path);
		abort();
	}
	while ((c = fgetc(f)) != EOF) {
		int d;

		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		d = fuzz_hex_digit(c);
		FUZZ_ASSERT(d >= 0);
		if (hi < 0) {
			hi = d;
			continue;
		}
		FUZZ_ASSERT(len < cap);
		out[len++] = (uint8_t)(hi << 4 | d);
		hi = -1;
	}
	fclose(f);
	FUZZ_ASSERT(hi < 0 && len > 0);
	return len;
}

#endif
