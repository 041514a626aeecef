/* pin.c - read a PIN from a file, the environment or the terminal.
 *
 * Reads go straight into the caller's buffer with read(2), never through
 * stdio, so no copy of the PIN is left in a FILE buffer. The prompt turns
 * echo off on /dev/tty and puts the terminal back on every path, also when
 * a signal (Ctrl-C) arrives while the user types: the handler only notes
 * the signal, and it is raised again once the terminal is restored. */
#include "config.h"
#include "p11client.h"
#include "secmem.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static const int prompt_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU };
static volatile sig_atomic_t got_signal;

static void set_err(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

/* One line from fd into buf: up to '\n' or end of file, without the line
 * end ("\n" or "\r\n"). -2 when the line does not fit, -1 on a read error. */
static int read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	char c;
	ssize_t r;

	for (;;) {
		r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR && !got_signal)
			continue;
		if (r < 0)
			return -1;
		if (r == 0 || c == '\n')
			break;
		if (n + 1 >= cap)
			return -2;
		buf[n++] = c;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return 0;
}

static int pin_from_file(const char *path, char *buf, size_t cap, char *err, size_t err_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int r, e;

	if (fd < 0) {
		set_err(err, err_len, "PIN file '%s': %s", path, strerror(errno));
		return -1;
	}
	r = read_line(fd, buf, cap);
	e = errno;
	close(fd);
	if (r == -2)
		set_err(err, err_len, "PIN file '%s': the first line is longer than %zu bytes", path,
			cap - 1);
	else if (r < 0)
		set_err(err, err_len, "PIN file '%s': %s", path, strerror(e));
	else if (buf[0] == '\0')
		set_err(err, err_len, "PIN file '%s': the first line is empty", path);
	return r == 0 && buf[0] != '\0' ? 0 : -1;
}

static int pin_from_env(const char *name, const char *v, char *buf, size_t cap, char *err,
			size_t err_len)
{
	size_t n = strlen(v);

	if (n >= cap) {
		set_err(err, err_len, "PIN in $%s: longer than %zu bytes", name, cap - 1);
		return -1;
	}
	memcpy(buf, v, n + 1);
	return 0;
}

static void on_signal(int sig)
{
	got_signal = sig;
}

static void catch_signals(struct sigaction *old)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: read(2) must return so that the terminal is restored. */
	got_signal = 0;
	for (size_t i = 0; i < OFP_ARRAY_LEN(prompt_signals); i++)
		(void)sigaction(prompt_signals[i], &sa, &old[i]);
}

static void restore_signals(const struct sigaction *old)
{
	for (size_t i = 0; i < OFP_ARRAY_LEN(prompt_signals); i++)
		(void)sigaction(prompt_signals[i], &old[i], NULL);
	if (got_signal != 0)
		(void)raise(got_signal);
}

static int prompt_on(int fd, const char *prompt, char *buf, size_t cap, char *err, size_t err_len)
{
	struct sigaction old[OFP_ARRAY_LEN(prompt_signals)];
	struct termios saved, quiet;
	int r;

	if (tcgetattr(fd, &saved) != 0) {
		set_err(err, err_len, "PIN prompt: /dev/tty: %s", strerror(errno));
		return -1;
	}
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	quiet.c_lflag |= ECHONL;
	catch_signals(old);
	if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
		set_err(err, err_len, "PIN prompt: /dev/tty: %s", strerror(errno));
		restore_signals(old);
		return -1;
	}
	if (write(fd, prompt, strlen(prompt)) < 0)
		r = -1;
	else
		r = read_line(fd, buf, cap);
	(void)tcsetattr(fd, TCSAFLUSH, &saved);
	restore_signals(old);
	if (r == -2)
		set_err(err, err_len, "PIN prompt: longer than %zu bytes", cap - 1);
	else if (r < 0)
		set_err(err, err_len, "PIN prompt: /dev/tty: %s",
			got_signal ? "interrupted" : strerror(errno));
	else if (buf[0] == '\0')
		set_err(err, err_len, "PIN prompt: no PIN entered");
	return r == 0 && buf[0] != '\0' ? 0 : -1;
}

static int pin_from_tty(const char *prompt, char *buf, size_t cap, char *err, size_t err_len)
{
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	int r;

	if (fd < 0) {
		set_err(err, err_len, "no PIN: no terminal to ask on (/dev/tty: %s); "
			"give a PIN file or set the PIN variable", strerror(errno));
		return -1;
	}
	r = prompt_on(fd, prompt != NULL ? prompt : "PIN: ", buf, cap, err, err_len);
	close(fd);
	return r;
}

int ofp_pin_read(const char *pin_file, const char *pin_env, const char *prompt, char *buf,
		 size_t cap, char *err, size_t err_len)
{
	const char *env = pin_env != NULL ? getenv(pin_env) : NULL;
	int r;

	if (buf == NULL || cap < 2) {
		set_err(err, err_len, "PIN: no room for a PIN");
		return -1;
	}
	if (pin_file != NULL)
		r = pin_from_file(pin_file, buf, cap, err, err_len);
	else if (env != NULL && env[0] != '\0')
		r = pin_from_env(pin_env, env, buf, cap, err, err_len);
	else
		r = pin_from_tty(prompt, buf, cap, err, err_len);
	if (r != 0)
		secmem_wipe(buf, cap);
	return r;
}
