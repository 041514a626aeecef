/* atomic_file.c - temp file, fsync, rename, fsync of the directory. */
#include "config.h"
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fsync_parent_dir(const char *path)
{
	char buf[PATH_MAX];
	int rv = 0;

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	int fd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		rv = -errno;
	close(fd);
	return rv;
}

int atomic_file_write(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	int fd = -1, rv;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) != 0) {
		rv = -errno;
		goto out;
	}
	rv = write_all(fd, data, len);
	if (rv == 0 && fsync(fd) != 0)
		rv = -errno;
	if (rv == 0 && close(fd) != 0)
		rv = -errno;
	fd = -1;
	if (rv == 0 && rename(tmp, path) != 0)
		rv = -errno;
	if (rv == 0)
		rv = fsync_parent_dir(path);
out:
	if (fd >= 0)
		close(fd);
	if (rv != 0)
		unlink(tmp);
	return rv;
}

int file_read_all(const char *path, size_t max_len, unsigned char **out, size_t *out_len)
{
	struct stat st;
	unsigned char *buf = NULL;
	size_t got = 0;
	int rv = 0;

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		rv = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rv = -EINVAL;
		goto out;
	}
	if ((size_t)st.st_size > max_len) {
		rv = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		rv = -ENOMEM;
		goto out;
	}
	/* Read to EOF, never past max_len: the file may grow under us. */
	for (;;) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv = -errno;
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > (size_t)st.st_size) {
			rv = -EFBIG;
			goto out;
		}
	}
	*out = buf;
	*out_len = got;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rv;
}
