/* input.c - what `offpass-gate check` reads: a QR code in an image, a raw
 * presentation, or hex text, from a file or stdin. The magic bytes decide
 * between an image and the rest: no presentation starts like a PNG (0x89)
 * or a PNM ('P' = 0x50 is type 5, a journal record), so nothing is
 * ambiguous. */
#include "config.h"
#include "gate.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "hex.h"

static int fail(char *err, size_t err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	return -1;
}

static bool is_blank(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Hex digits with blanks anywhere between them (a pasted dump, a file
 * with a final newline). */
static int parse_hex(const uint8_t *data, size_t len, gate_input_t *in, char *err, size_t err_len)
{
	char pair[3] = { 0, 0, 0 };
	size_t digits = 0;

	in->len = 0;
	for (size_t i = 0; i < len; i++) {
		if (is_blank(data[i]))
			continue;
		pair[digits++ % 2] = (char)data[i];
		if (digits % 2 != 0)
			continue;
		if (in->len == sizeof(in->bytes))
			return fail(err, err_len, "hex: more than %zu bytes", sizeof(in->bytes));
		if (hex_decode(pair, &in->bytes[in->len], 1) != 0)
			return fail(err, err_len, "hex: not a hex digit near offset %zu", i);
		in->len++;
	}
	if (digits % 2 != 0)
		return fail(err, err_len, "hex: odd number of digits");
	return 0;
}

int gate_input_parse(const uint8_t *data, size_t len, bool hex, gate_input_t *in, char *err, size_t err_len)
{
	if (gate_is_image(data, len)) {
		in->kind = GATE_INPUT_IMAGE;
		return gate_qr_scan_image(data, len, in->bytes, sizeof(in->bytes), &in->len, err, err_len);
	}
	if (hex) {
		in->kind = GATE_INPUT_HEX;
		return parse_hex(data, len, in, err, err_len);
	}
	in->kind = GATE_INPUT_RAW;
	if (len > sizeof(in->bytes))
		return fail(err, err_len, "%zu bytes: too large for a presentation", len);
	memcpy(in->bytes, data, len);
	in->len = len;
	return 0;
}

/* stdin to EOF, never more than GATE_FILE_MAX bytes: the buffer grows to
 * one byte over the bound, and filling it means too large. */
static int read_stdin(uint8_t **out, size_t *out_len)
{
	size_t cap = 4096, len = 0;
	uint8_t *buf = malloc(cap), *grown;
	ssize_t n;
	int rv = 0;

	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		if (len == cap && cap > GATE_FILE_MAX) {
			rv = -EFBIG;
			goto out;
		}
		if (len == cap) {
			cap = cap * 2 > GATE_FILE_MAX ? GATE_FILE_MAX + 1u : cap * 2;
			grown = realloc(buf, cap);
			if (grown == NULL) {
				rv = -ENOMEM;
				goto out;
			}
			buf = grown;
		}
		n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*out = buf;
	*out_len = len;
	buf = NULL;
out:
	free(buf);
	return rv;
}

static const char *read_error(int rv)
{
	switch (rv) {
	case -EFBIG:
		return "too large (a presentation or its image is at most 16 MiB)";
	case -EINVAL:
		return "not a regular file";
	default:
		return strerror(-rv);
	}
}

int gate_input_read(const char *path, bool hex, gate_input_t *in, char *err, size_t err_len)
{
	bool from_stdin = strcmp(path, "-") == 0;
	const char *name = from_stdin ? "stdin" : path;
	uint8_t *data = NULL;
	size_t len = 0;
	char why[192];
	int rv;

	rv = from_stdin ? read_stdin(&data, &len) : file_read_all(path, GATE_FILE_MAX, &data, &len);
	if (rv != 0)
		return fail(err, err_len, "%s: %s", name, read_error(rv));
	rv = gate_input_parse(data, len, hex, in, why, sizeof(why));
	free(data);
	if (rv != 0)
		return fail(err, err_len, "%s: %s", name, why);
	if (in->len == 0)
		return fail(err, err_len, "%s: empty", name);
	return 0;
}
