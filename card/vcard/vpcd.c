/* vpcd.c - framing for the vpcd protocol over a TCP connection. */
#include "config.h"
#include "vpcd.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int vpcd_connect(const char *host, const char *port)
{
	struct addrinfo hints, *res = NULL;
	int fd = -1, one = 1, err;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	err = getaddrinfo(host, port, &hints, &res);
	if (err != 0)
		return err == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	err = -ECONNREFUSED;
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return err;
	/* Answers go out in one write; no reason to let Nagle hold them. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Debian's vpcd writes the length and the payload separately. Without
 * TCP_QUICKACK the kernel delays the ACK of the first packet, vpcd's
 * Nagle holds the second until that ACK, and every APDU stalls about
 * 40 ms. Quick-ack mode is not sticky, so it is set before every read. */
static ssize_t read_full(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;
	int one = 1;
	while (got < len) {
		(void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

ssize_t vpcd_recv(int fd, uint8_t *buf)
{
	uint8_t hdr[2];
	ssize_t n = read_full(fd, hdr, sizeof(hdr));
	if (n <= 0)
		return n;
	size_t len = (size_t)hdr[0] << 8 | hdr[1];
	if (len == 0)
		return -EPROTO;
	n = read_full(fd, buf, len);
	if (n <= 0)
		return n;
	return (ssize_t)len;
}

int vpcd_send(int fd, const uint8_t *buf, size_t len)
{
	uint8_t msg[2 + VPCD_MSG_MAX];
	size_t off = 0;
	if (len > VPCD_MSG_MAX)
		return -EMSGSIZE;
	msg[0] = (uint8_t)(len >> 8);
	msg[1] = (uint8_t)len;
	memcpy(msg + 2, buf, len);
	while (off < len + 2) {
		ssize_t n = send(fd, msg + off, len + 2 - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	return 0;
}
