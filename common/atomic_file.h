/* atomic_file.h - crash-safe file replacement.
 *
 * A reader sees the old content or the new, never a torn mix, even when the
 * writer is killed or the machine loses power: the data goes to a temporary
 * file in the same directory, is fsync'ed, renamed over the target, and the
 * directory is fsync'ed so that the rename itself is durable. The
 * temporary file is unnamed (O_TMPFILE) where the file system allows it,
 * so a writer killed while writing leaves no PATH.tmp.* file behind; it
 * gets a name only for the instant between link and rename. */
#ifndef OFFPASS_ATOMIC_FILE_H
#define OFFPASS_ATOMIC_FILE_H

#include <stddef.h>
#include <sys/types.h>
#include "compiler.h"

/* Replace path with data. Returns 0, or -errno with nothing changed.
 * Only a regular file (or nothing) at path is replaced. A character device
 * (/dev/null, a terminal) or a FIFO is written through in place: as root,
 * replacing /dev/null would break the system. A symbolic link is refused
 * (-ELOOP; a rename would replace the link, not what it points to), and
 * so is anything else (-EISDIR a directory, -EINVAL a socket or block
 * device). */
int atomic_file_write(const char *path, const void *data, size_t len, mode_t mode) OFP_WUR;

/* atomic_file_write, or with path "-" standard output (CLIs' -o -). */
int output_file_write(const char *path, const void *data, size_t len, mode_t mode) OFP_WUR;

/* The reason for an error of atomic_file_write, for messages: strerror,
 * but saying why a symbolic link or a special file is refused. */
const char *atomic_file_strerror(int rv);

/* Read a whole regular file of at most max_len bytes into a fresh buffer
 * (free with free(); secret contents with secmem_free is not possible, so
 * callers of secrets wipe before free). Returns 0, -errno, or -EFBIG. */
int file_read_all(const char *path, size_t max_len, unsigned char **out, size_t *out_len) OFP_WUR;

/* fsync the directory that holds path. Returns 0 or -errno. */
int fsync_parent_dir(const char *path) OFP_WUR;

#endif
