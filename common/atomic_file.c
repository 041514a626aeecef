/* atomic_file.c - temp file, fsync, rename, fsync of the directory; never
 * over anything but a regular file: character devices and FIFOs are
 * written through, symbolic links and other special files refused. */
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

/* A character device (/dev/null, a terminal) or a FIFO at path: written
 * through, in place. Opened without following a link and checked on the
 * descriptor, so a swap between the lstat and the open cannot redirect it. */
static int write_through(const char *path, const void *data, size_t len)
{
	struct stat st;
	int fd = open(path, O_WRONLY | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
	int rv;

	if (fd < 0)
		return errno == ELOOP ? -ELOOP : -errno;
	if (fstat(fd, &st) != 0)
		rv = -errno;
	else if (!S_ISCHR(st.st_mode) && !S_ISFIFO(st.st_mode))
		rv = -EAGAIN; /* it changed under us: the caller looks again */
	else
		rv = write_all(fd, data, len);
	if (close(fd) != 0 && rv == 0)
		rv = -errno;
	return rv;
}

/* What is at path decides how it is written: 1 replace (nothing there, or
 * a regular file), 0 write through, or -errno to refuse. */
static int target_kind(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 1 : -errno;
	if (S_ISREG(st.st_mode))
		return 1;
	if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))
		return 0;
	if (S_ISLNK(st.st_mode))
		return -ELOOP;
	return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
}

/* Give the unnamed file fd the name path: at once when path does not
 * exist (linkat refuses to replace), else through a temporary name and
 * rename, the only moment a kill can leave a temporary file behind. */
static int link_unnamed(int fd, const char *path)
{
	char proc[64], tmp[PATH_MAX];
	int rv = 0;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	for (unsigned i = 0;; i++) {
		if (i == 100)
			return -EEXIST;
		if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%u", path, (long)getpid(), i) >= (int)sizeof(tmp))
			return -ENAMETOOLONG;
		if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0)
			break;
		if (errno != EEXIST)
			return -errno;
	}
	if (rename(tmp, path) != 0) {
		rv = -errno;
		unlink(tmp);
	}
	return rv;
}

/* The data in an unnamed file of path's directory (O_TMPFILE), linked in
 * only when complete: a writer killed while writing leaves nothing.
 * 1 when the file system (or a missing /proc) does not allow it. */
static int write_unnamed(const char *path, const void *data, size_t len, mode_t mode)
{
	char dir[PATH_MAX];
	int fd, rv;

	if (strlen(path) >= sizeof(dir))
		return -ENAMETOOLONG;
	strcpy(dir, path);
	fd = open(dirname(dir), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL ? 1 : -errno;
	rv = fchmod(fd, mode) != 0 ? -errno : write_all(fd, data, len);
	if (rv == 0 && fsync(fd) != 0)
		rv = -errno;
	if (rv == 0) {
		rv = link_unnamed(fd, path);
		if (rv == -ENOENT && access("/proc/self/fd", F_OK) != 0)
			rv = 1; /* no /proc: name it the old way */
	}
	close(fd);
	if (rv == 0)
		rv = fsync_parent_dir(path);
	return rv;
}

/* Temp file beside path, fsync, rename over path, fsync the directory. */
static int replace_regular(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	int fd = -1, rv = write_unnamed(path, data, len, mode);

	if (rv <= 0)
		return rv;
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

int atomic_file_write(const char *path, const void *data, size_t len, mode_t mode)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		int kind = target_kind(path), rv;

		if (kind < 0)
			return kind;
		rv = kind == 1 ? replace_regular(path, data, len, mode) : write_through(path, data, len);
		if (rv != -EAGAIN)
			return rv;
	}
	return -EAGAIN;
}

const char *atomic_file_strerror(int rv)
{
	switch (rv) {
	case -ELOOP:
		return "is a symbolic link: refused (give the path it points to)";
	case -EISDIR:
		return "is a directory";
	case -EINVAL:
		return "is not a regular file, a character device or a FIFO: refused";
	default:
		return strerror(-rv);
	}
}

int output_file_write(const char *path, const void *data, size_t len, mode_t mode)
{
	if (strcmp(path, "-") != 0)
		return atomic_file_write(path, data, len, mode);
	if (fflush(stdout) != 0)
		return -EIO;
	return write_all(STDOUT_FILENO, data, len);
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
