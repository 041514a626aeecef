/* offpass-vcard.c - the PIV applet as a virtual smartcard for pcscd's vpcd
 * driver: connects to vpcd, answers its power controls and APDUs, keeps
 * the card's state in a file (replaced atomically after every change), and
 * reconnects whenever vpcd goes away. SIGTERM, SIGINT or SIGHUP pull the
 * card and end it cleanly.
 *
 * A development and test tool: the state file holds the card's private
 * keys in the clear (mode 0600). docs/CARD.md explains how to run it. */
#include "config.h"
#include "atomic_file.h"
#include "card/piv/piv.h"
#include "card/piv/piv-ossl.h"
#include "vpcd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

/* 3B 8B 80 01: T=0 then T=1, 11 historical bytes: a compact-TLV with the
 * PIV AID (tag F, 9 bytes). OpenSC 0.23 calls such a card PIV-II "HIST"
 * with EC P-256 and P-384 enabled; the ATR 3B 80 80 01 01 would make it a
 * PIVKey with EC disabled. TCK is the XOR of T0 to the last byte. */
static const uint8_t atr[] = { 0x3b, 0x8b, 0x80, 0x01, 0x80, 0xf9, 0xa0, 0x00, 0x00,
			       0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0xc8 };

static volatile sig_atomic_t stop_signal;

static struct {
	const char *state_path;
	const char *host;
	const char *port;
	long serial;
	int verbose;
	bool trace;
	enum piv_profile profile;
} opt = { NULL, "127.0.0.1", "35963", -1, 0, false, PIV_PROFILE_YUBIKEY };

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("offpass-vcard: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void on_signal(int sig)
{
	stop_signal = sig;
}

/* No SA_RESTART: a blocking read or sleep returns EINTR and the loop sees
 * the flag. */
static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int save_state(void *ctx, const uint8_t *state, size_t len)
{
	const char *path = ctx;
	int rv = atomic_file_write(path, state, len, 0600);
	if (rv != 0)
		say("cannot save %s: %s", path, strerror(-rv));
	return rv;
}

/* One offpass-vcard per state file: a second one would fork the card. The
 * lock is on a side file because the state file is replaced on save. */
static int lock_state(const char *path)
{
	char lock[PATH_MAX];
	if (snprintf(lock, sizeof(lock), "%s.lock", path) >= (int)sizeof(lock))
		return -ENAMETOOLONG;
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int err = errno;
		close(fd);
		return err == EWOULDBLOCK ? -EBUSY : -err;
	}
	return fd; /* held until exit */
}

static int new_card(struct piv_card *card, const struct piv_host *host)
{
	uint32_t serial = (uint32_t)opt.serial;
	if (opt.serial < 0) {
		uint8_t r[4];
		if (piv_ossl_rand(NULL, r, sizeof(r)) != 0)
			return -1;
		/* Eight decimal digits, as printed on real tokens. */
		serial = 10000000u + (((uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 |
				       (uint32_t)r[2] << 8 | r[3]) % 90000000u);
	}
	if (piv_init(card, host, serial) != 0 || piv_save(card) != 0)
		return -1;
	say("new card %u in %s", serial, opt.state_path);
	return 0;
}

static int open_card(struct piv_card *card, const struct piv_host *host)
{
	unsigned char *data = NULL;
	size_t len = 0;
	int rv = file_read_all(opt.state_path, PIV_STATE_MAX, &data, &len);
	if (rv == -ENOENT)
		return new_card(card, host);
	if (rv != 0) {
		say("cannot read %s: %s", opt.state_path, strerror(-rv));
		return -1;
	}
	rv = piv_init(card, host, 0);
	if (rv == 0)
		rv = piv_load(card, data, len);
	memset(data, 0, len);
	free(data);
	if (rv != 0)
		say("%s is not a valid card state (refusing to overwrite it)", opt.state_path);
	return rv;
}

/* PINs, PUKs and keys stay out of the log: the data of VERIFY, CHANGE
 * REFERENCE DATA, RESET RETRY COUNTER and SET MANAGEMENT KEY, and answers
 * to GET DATA of PIN-protected objects (YubiKey tools keep a PIN-protected
 * management key in printed information, 5FC109), GET RESPONSE included. */
static bool secret_command(const uint8_t *p, size_t len)
{
	return len >= 2 && (p[1] == 0x20 || p[1] == 0x24 || p[1] == 0x2c || p[1] == 0xff);
}

static bool secret_answer(const uint8_t *p, size_t len)
{
	static const uint8_t ids[] = { 0x03, 0x08, 0x09, 0x21, 0x23 };
	if (len < 10 || p[1] != 0xcb || p[5] != 0x5c || p[6] != 3 || p[7] != 0x5f || p[8] != 0xc1)
		return false;
	return memchr(ids, p[9], sizeof(ids)) != NULL;
}

/* Bytes from keep up to the last tail bytes print as 00. */
static void trace_apdu(char dir, const uint8_t *p, size_t len, size_t keep, size_t tail)
{
	fprintf(stderr, "%c", dir);
	for (size_t i = 0; i < len; i++)
		fprintf(stderr, " %02X", (i < keep || i + tail >= len) ? p[i] : 0);
	fputc('\n', stderr);
}

static void trace(const uint8_t *cmd, size_t cmd_len, const uint8_t *out, size_t out_len)
{
	static bool hiding; /* a hidden answer continues with GET RESPONSE */
	bool get_response = cmd_len >= 2 && cmd[1] == 0xc0;
	bool hide = secret_answer(cmd, cmd_len) || (get_response && hiding);
	trace_apdu('>', cmd, cmd_len, secret_command(cmd, cmd_len) ? 5 : cmd_len, 0);
	trace_apdu('<', out, out_len, hide ? 0 : out_len, 2);
	hiding = hide && out_len >= 2 && out[out_len - 2] == 0x61;
}

static int handle(struct piv_card *card, int fd, const uint8_t *msg, size_t len)
{
	static uint8_t out[VPCD_MSG_MAX];
	if (len == 1) {
		switch (msg[0]) {
		case VPCD_POWER_OFF:
		case VPCD_POWER_ON:
		case VPCD_RESET:
			piv_reset(card);
			return 0;
		case VPCD_GET_ATR:
			return vpcd_send(fd, atr, sizeof(atr));
		default:
			return 0; /* unknown controls want no answer */
		}
	}
	size_t n = piv_apdu(card, msg, len, out, sizeof(out));
	if (opt.trace)
		trace(msg, len, out, n);
	return vpcd_send(fd, out, n);
}

/* Serve one connection until vpcd closes it, an error, or a signal. */
static void serve(struct piv_card *card, int fd)
{
	static uint8_t msg[VPCD_MSG_MAX];
	while (!stop_signal) {
		ssize_t n = vpcd_recv(fd, msg);
		if (n <= 0) {
			if (n < 0 && n != -EINTR)
				say("connection lost: %s", strerror((int)-n));
			break;
		}
		int rv = handle(card, fd, msg, (size_t)n);
		memset(msg, 0, (size_t)n);
		if (rv != 0) {
			say("cannot answer vpcd: %s", strerror(-rv));
			break;
		}
	}
	/* The card leaves the reader: its session ends. */
	piv_reset(card);
}

static void nap(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void run(struct piv_card *card)
{
	long backoff = 50;
	bool waiting = false;
	while (!stop_signal) {
		int fd = vpcd_connect(opt.host, opt.port);
		if (fd < 0) {
			if (!waiting && opt.verbose)
				say("waiting for vpcd on %s:%s (%s)", opt.host, opt.port,
				    strerror(-fd));
			waiting = true;
			nap(backoff);
			backoff = backoff < 1000 ? backoff * 2 : 1000;
			continue;
		}
		if (opt.verbose)
			say("card inserted (vpcd %s:%s)", opt.host, opt.port);
		waiting = false;
		backoff = 50;
		serve(card, fd);
		close(fd);
		if (opt.verbose)
			say("card removed");
	}
}

static void usage(FILE *f)
{
	fputs("Usage: offpass-vcard --state FILE [--host HOST] [--port PORT] [--serial N]\n"
	      "                     [--profile yubikey|standard] [--verbose] [--trace]\n"
	      "Run the offpass PIV applet as a virtual card in pcscd's vpcd reader.\n"
	      "  --state FILE  the card (created with factory defaults when missing)\n"
	      "  --host HOST   vpcd's address (default 127.0.0.1)\n"
	      "  --port PORT   vpcd's port (default 35963: reader 0; 35964: reader 1)\n"
	      "  --serial N    serial number of a new card (default: random)\n"
	      "  --profile P   yubikey (default): PIV and YubiKey's extensions; standard:\n"
	      "                SP 800-73-4 only (GET VERSION, GET SERIAL, GET METADATA,\n"
	      "                SET MANAGEMENT KEY, RESET, SET PIN RETRIES answer 6D00)\n"
	      "  --verbose     say when the card is inserted and removed\n"
	      "  --trace       log APDUs to stderr (PIN and key bytes blanked)\n",
	      f);
}

static int parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "state", required_argument, NULL, 's' }, { "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },  { "serial", required_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },     { "trace", no_argument, NULL, 't' },
		{ "profile", required_argument, NULL, 'P' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c;
	char *end;
	while ((c = getopt_long(argc, argv, "s:H:p:n:P:vth", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			opt.state_path = optarg;
			break;
		case 'H':
			opt.host = optarg;
			break;
		case 'p':
			opt.port = optarg;
			break;
		case 'n':
			errno = 0;
			opt.serial = strtol(optarg, &end, 10);
			if (errno || *end || opt.serial < 0 || opt.serial > 0xffffffffL)
				return -1;
			break;
		case 'P':
			if (strcmp(optarg, "yubikey") == 0)
				opt.profile = PIV_PROFILE_YUBIKEY;
			else if (strcmp(optarg, "standard") == 0)
				opt.profile = PIV_PROFILE_STANDARD;
			else
				return -1;
			break;
		case 'v':
			opt.verbose++;
			break;
		case 't':
			opt.trace = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	return optind == argc && opt.state_path != NULL ? 0 : -1;
}

int main(int argc, char **argv)
{
	static struct piv_card card;
	struct piv_host host;
	if (parse_args(argc, argv) != 0) {
		usage(stderr);
		return 2;
	}
	memset(&host, 0, sizeof(host));
	piv_ossl_host(&host);
	host.save = save_state;
	host.ctx = (void *)opt.state_path;
	int lock = lock_state(opt.state_path);
	if (lock < 0) {
		say("cannot lock %s: %s", opt.state_path,
		    lock == -EBUSY ? "another offpass-vcard runs this card" : strerror(-lock));
		return 1;
	}
	if (open_card(&card, &host) != 0)
		return 1;
	piv_set_profile(&card, opt.profile);
	install_signals();
	run(&card);
	piv_wipe_card(&card);
	if (opt.verbose)
		say("stopped (signal %d)", (int)stop_signal);
	close(lock);
	return 0;
}
