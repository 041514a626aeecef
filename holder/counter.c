/* counter.c - per-key authorization counters in the holder state directory
 * (see counter.h for why the file is written before the value is used). */
#include "config.h"
#include "holder/counter.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "hex.h"
#include "format/format.h"

/* The whole file: one line, the last value handed out. */
#define COUNTER_MAGIC "offpass-holder-counter v1 "
#define COUNTER_FILE_MAX 64

int ofp_holder_state_dir(const char *dir, char *out, size_t cap, char *err, size_t err_len)
{
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");
	int n;

	if (dir != NULL && dir[0] != '\0')
		n = snprintf(out, cap, "%s", dir);
	else if (xdg != NULL && xdg[0] == '/')
		n = snprintf(out, cap, "%s/offpass/holder", xdg);
	else if (home != NULL && home[0] != '\0')
		n = snprintf(out, cap, "%s/.local/share/offpass/holder", home);
	else {
		snprintf(err, err_len, "no state directory: set HOME or XDG_DATA_HOME, or give --dir");
		return -1;
	}
	if (n < 0 || (size_t)n >= cap) {
		snprintf(err, err_len, "state directory path too long");
		return -1;
	}
	return 0;
}

int ofp_counter_path(const char *dir, const uint8_t *key, size_t key_len, char *out, size_t cap, char *err,
		     size_t err_len)
{
	uint8_t digest[OFP_HASH_LEN];
	char hex[2 * 8 + 1];
	int n;

	if (key == NULL || key_len == 0 || key_len > OFP_TRUST_KEY_MAX) {
		snprintf(err, err_len, "counter: no holder key given");
		return -1;
	}
	if (!ofp_sha256(key, key_len, digest)) {
		snprintf(err, err_len, "counter: SHA-256 failed (OpenSSL)");
		return -1;
	}
	hex_encode(digest, 8, hex);
	n = snprintf(out, cap, "%s/counter-%s", dir, hex);
	if (n < 0 || (size_t)n >= cap) {
		snprintf(err, err_len, "counter: path in '%s' too long", dir);
		return -1;
	}
	return 0;
}

/* mkdir -p with mode 0700 for the directories it creates. */
static int make_dirs(const char *dir, char *err, size_t err_len)
{
	char buf[PATH_MAX];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(buf)) {
		snprintf(err, err_len, "state directory '%s': bad path", dir);
		return -1;
	}
	memcpy(buf, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char saved = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
			snprintf(err, err_len, "state directory '%s': mkdir: %s", buf, strerror(errno));
			return -1;
		}
		buf[i] = saved;
	}
	return 0;
}

/* Strict: exactly the magic, a canonical decimal u32, a newline. */
static bool parse_counter(const unsigned char *data, size_t len, uint32_t *value)
{
	size_t magic = strlen(COUNTER_MAGIC), i = magic;
	uint64_t v = 0;

	if (len < magic + 2 || memcmp(data, COUNTER_MAGIC, magic) != 0 || data[len - 1] != '\n')
		return false;
	if (data[i] == '0' && i + 2 != len) /* a leading zero */
		return false;
	for (; i < len - 1; i++) {
		if (data[i] < '0' || data[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(data[i] - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*value = (uint32_t)v;
	return true;
}

/* 0 found, 1 no file, -1 error. */
static int read_counter(const char *path, uint32_t *value, char *err, size_t err_len)
{
	unsigned char *data = NULL;
	size_t len = 0;
	int rv = file_read_all(path, COUNTER_FILE_MAX, &data, &len);

	if (rv == -ENOENT)
		return 1;
	if (rv == -EFBIG || (rv == 0 && !parse_counter(data, len, value))) {
		snprintf(err, err_len,
			 "counter file '%s' is corrupt (expected '%sN'): refusing to guess a value that could "
			 "repeat; restore the file or enroll a new key",
			 path, COUNTER_MAGIC);
		rv = -1;
	} else if (rv != 0) {
		snprintf(err, err_len, "counter file '%s': %s", path, strerror(-rv));
		rv = -1;
	}
	free(data);
	return rv;
}

int ofp_counter_last(const char *dir, const uint8_t *key, size_t key_len, uint32_t *value, char *err,
		     size_t err_len)
{
	char path[PATH_MAX];

	if (ofp_counter_path(dir, key, key_len, path, sizeof(path), err, err_len) != 0)
		return -1;
	return read_counter(path, value, err, err_len);
}

/* The lock lives in its own file: the counter file is replaced by rename,
 * so a lock on it would be on an inode that is about to go away. */
static int lock_counter(const char *path, char *err, size_t err_len)
{
	char lock[PATH_MAX];
	int fd;

	if (snprintf(lock, sizeof(lock), "%s.lock", path) >= (int)sizeof(lock)) {
		snprintf(err, err_len, "counter: path '%s' too long", path);
		return -1;
	}
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, err_len, "counter lock '%s': %s", lock, strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX) != 0) {
		if (errno == EINTR)
			continue;
		snprintf(err, err_len, "counter lock '%s': flock: %s", lock, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int store_counter(const char *path, uint32_t value, char *err, size_t err_len)
{
	char text[COUNTER_FILE_MAX];
	int n = snprintf(text, sizeof(text), "%s%u\n", COUNTER_MAGIC, (unsigned)value);
	int rv = atomic_file_write(path, text, (size_t)n, 0600);

	if (rv != 0) {
		snprintf(err, err_len, "counter file '%s': write: %s", path, strerror(-rv));
		return -1;
	}
	return 0;
}

int ofp_counter_next(const char *dir, const uint8_t *key, size_t key_len, uint32_t now, uint32_t *value,
		     char *err, size_t err_len)
{
	char path[PATH_MAX];
	uint32_t last = 0, next;
	int fd = -1, rv = -1, found;

	if (ofp_counter_path(dir, key, key_len, path, sizeof(path), err, err_len) != 0 ||
	    make_dirs(dir, err, err_len) != 0)
		return -1;
	fd = lock_counter(path, err, err_len);
	if (fd < 0)
		return -1;
	found = read_counter(path, &last, err, err_len);
	if (found < 0)
		goto out;
	if (found == 0 && last == UINT32_MAX) {
		snprintf(err, err_len, "counter file '%s': counter exhausted (%u); enroll a new key", path,
			 (unsigned)last);
		goto out;
	}
	next = found == 1 ? (now > 0 ? now : 1) : last + 1;
	if (store_counter(path, next, err, err_len) != 0)
		goto out;
	*value = next;
	rv = 0;
out:
	close(fd); /* releases the lock, after the new value is durable */
	return rv;
}
