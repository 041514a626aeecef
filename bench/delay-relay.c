/* delay-relay.c - a Unix-socket relay that holds every chunk of bytes for
 * a fixed time in each direction: the database on another machine, for a
 * bench on one. On one machine every round trip to PostgreSQL costs
 * microseconds and the cores are the only limit; with the database a
 * network hop away a round trip costs a fraction of a millisecond, and
 * what limits the service is how many transactions wait for theirs at
 * once (docs/ISSUER.md 9, "Figures on both ledgers"). Bench only: it
 * trusts both ends.
 *
 *   delay-relay --listen PATH --to PATH --delay-us N
 *
 * Listens on PATH (a socket the relay creates; libpq connects to
 * DIR/.s.PGSQL.5432 for host=DIR), connects each client to --to, and
 * forwards what either side sends N microseconds after it arrived, in
 * order. Writes "ready" on stdout once it listens; runs until SIGTERM. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAIRS 64
#define CHUNK_MAX 65536

typedef struct chunk {
	struct chunk *next;
	double due; /* seconds, CLOCK_MONOTONIC */
	size_t len, off;
	unsigned char data[];
} chunk_t;

/* One direction of a connection: bytes read from `from`, held, written to `to`. */
typedef struct flow {
	int from, to;
	chunk_t *head, *tail;
	bool eof;
	bool blocked; /* `to` took part of the head: wait until it is writable */
} flow_t;

typedef struct pair {
	bool used;
	flow_t up, down; /* client -> server, server -> client */
} pair_t;

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int unix_socket(const char *path, bool listening)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(a.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(a.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (listening ? bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 64) != 0
		      : connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void flow_free(flow_t *f)
{
	while (f->head != NULL) {
		chunk_t *c = f->head;
		f->head = c->next;
		free(c);
	}
	f->tail = NULL;
}

static void pair_close(pair_t *p)
{
	close(p->up.from);
	close(p->up.to);
	flow_free(&p->up);
	flow_free(&p->down);
	p->used = false;
}

static void pair_open(pair_t *pairs, int client, const char *to)
{
	int server = unix_socket(to, false);

	for (int i = 0; server >= 0 && i < MAX_PAIRS; i++) {
		if (pairs[i].used)
			continue;
		fcntl(client, F_SETFL, O_NONBLOCK);
		fcntl(server, F_SETFL, O_NONBLOCK);
		pairs[i] = (pair_t){ .used = true, .up = { .from = client, .to = server },
				     .down = { .from = server, .to = client } };
		return;
	}
	if (server >= 0)
		close(server);
	close(client); /* full, or the server is gone: the client sees it closed */
}

/* Read what is there into a chunk due `delay` from now; false: end or error. */
static bool flow_read(flow_t *f, double delay)
{
	chunk_t *c = malloc(sizeof(*c) + CHUNK_MAX);
	ssize_t n;

	if (c == NULL)
		return false;
	n = read(f->from, c->data, CHUNK_MAX);
	if (n <= 0) {
		free(c);
		return n < 0 && (errno == EAGAIN || errno == EINTR);
	}
	c->next = NULL;
	c->due = now_s() + delay;
	c->len = (size_t)n;
	c->off = 0;
	if (f->tail != NULL)
		f->tail->next = c;
	else
		f->head = c;
	f->tail = c;
	return true;
}

/* Write the chunks that are due; false: the peer is gone. */
static bool flow_write(flow_t *f, double now)
{
	while (f->head != NULL && f->head->due <= now) {
		chunk_t *c = f->head;
		ssize_t n = write(f->to, c->data + c->off, c->len - c->off);
		f->blocked = n < 0 ? errno == EAGAIN : (size_t)n < c->len - c->off;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR;
		c->off += (size_t)n;
		if (f->blocked)
			return true;
		f->head = c->next;
		if (f->head == NULL)
			f->tail = NULL;
		free(c);
	}
	return true;
}

/* The poll set: the listener, then each pair's two ends; the timeout is
 * the earliest chunk due. */
static nfds_t poll_set(pair_t *pairs, int listener, struct pollfd *fds, int *owner, double *next_due)
{
	nfds_t n = 0;

	fds[n++] = (struct pollfd){ .fd = listener, .events = POLLIN };
	*next_due = -1;
	for (int i = 0; i < MAX_PAIRS; i++) {
		flow_t *fl[2] = { &pairs[i].up, &pairs[i].down };
		if (!pairs[i].used)
			continue;
		for (int d = 0; d < 2; d++) {
			/* fl[d]->from is the other flow's `to` */
			short ev = (fl[d]->eof ? 0 : POLLIN) | (fl[1 - d]->blocked ? POLLOUT : 0);
			chunk_t *h = fl[d]->head;
			if (h != NULL && !fl[d]->blocked && (*next_due < 0 || h->due < *next_due))
				*next_due = h->due;
			owner[n] = i * 2 + d;
			fds[n++] = (struct pollfd){ .fd = fl[d]->from, .events = ev };
		}
	}
	return n;
}

static int relay(int listener, const char *to, double delay)
{
	static pair_t pairs[MAX_PAIRS];
	struct pollfd fds[1 + 2 * MAX_PAIRS];
	int owner[1 + 2 * MAX_PAIRS];

	while (!stopping) {
		double next_due, now;
		nfds_t n = poll_set(pairs, listener, fds, owner, &next_due);
		struct timespec ts = { 1, 0 };
		if (next_due >= 0) {
			double wait = next_due - now_s();
			wait = wait < 0 ? 0 : wait;
			ts.tv_sec = (time_t)wait;
			ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
		}
		if (ppoll(fds, n, &ts, NULL) < 0 && errno != EINTR)
			return 1;
		if (fds[0].revents & POLLIN) {
			int c = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0)
				pair_open(pairs, c, to);
		}
		for (nfds_t k = 1; k < n; k++) {
			pair_t *p = &pairs[owner[k] / 2];
			flow_t *f = owner[k] % 2 == 0 ? &p->up : &p->down;
			flow_t *other = f == &p->up ? &p->down : &p->up;
			if (!p->used)
				continue;
			if ((fds[k].revents & POLLOUT) != 0)
				other->blocked = false;
			if (!f->eof && (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !flow_read(f, delay))
				f->eof = true;
		}
		now = now_s();
		for (int i = 0; i < MAX_PAIRS; i++) {
			pair_t *p = &pairs[i];
			if (!p->used)
				continue;
			/* Either end gone: what it sent before still goes, then both close. */
			if (!flow_write(&p->up, now) || !flow_write(&p->down, now) ||
			    ((p->up.eof || p->down.eof) && p->up.head == NULL && p->down.head == NULL))
				pair_close(p);
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "listen", required_argument, NULL, 'l' },
					      { "to", required_argument, NULL, 't' },
					      { "delay-us", required_argument, NULL, 'd' }, { 0 } };
	const char *listen_path = NULL, *to = NULL;
	long delay_us = -1;
	int o, listener, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'l')
			listen_path = optarg;
		else if (o == 't')
			to = optarg;
		else if (o == 'd')
			delay_us = strtol(optarg, NULL, 10);
		else
			listen_path = NULL, delay_us = -1;
	}
	if (listen_path == NULL || to == NULL || delay_us < 0 || delay_us > 1000000) {
		fprintf(stderr, "usage: delay-relay --listen PATH --to PATH --delay-us 0..1000000\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	unlink(listen_path);
	listener = unix_socket(listen_path, true);
	if (listener < 0) {
		fprintf(stderr, "delay-relay: %s: %s\n", listen_path, strerror(errno));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	rc = relay(listener, to, (double)delay_us / 1e6);
	close(listener);
	unlink(listen_path);
	return rc;
}
