/* qr.c - QR codes with libqrencode, drawn as text, PNG (libpng) or SVG. */
#include "config.h"
#include "holder/qr.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <qrencode.h>

int ofp_qr_encode(const uint8_t *data, size_t len, ofp_qr_t *qr, char *err, size_t err_len)
{
	QRcode *code;

	memset(qr, 0, sizeof(*qr));
	if (len == 0 || len > 7089) {
		snprintf(err, err_len, "QR code: %zu bytes cannot be encoded", len);
		return -1;
	}
	/* Version 0: the library picks the smallest that holds the data. */
	code = QRcode_encodeData((int)len, data, 0, QR_ECLEVEL_M);
	if (code == NULL) {
		snprintf(err, err_len, "QR code of %zu bytes at level M: %s", len,
			 errno == ERANGE ? "too long" : strerror(errno));
		return -1;
	}
	qr->modules = malloc((size_t)code->width * (size_t)code->width);
	if (qr->modules == NULL) {
		QRcode_free(code);
		snprintf(err, err_len, "QR code: out of memory");
		return -1;
	}
	/* libqrencode's bit 0 is the module colour; the rest is its bookkeeping. */
	for (size_t i = 0; i < (size_t)code->width * (size_t)code->width; i++)
		qr->modules[i] = code->data[i] & 1;
	qr->version = code->version;
	qr->width = code->width;
	QRcode_free(code);
	return 0;
}

void ofp_qr_free(ofp_qr_t *qr)
{
	free(qr->modules);
	memset(qr, 0, sizeof(*qr));
}

bool ofp_qr_dark(const ofp_qr_t *qr, int x, int y)
{
	if (x < 0 || y < 0 || x >= qr->width || y >= qr->width)
		return false;
	return qr->modules[(size_t)y * (size_t)qr->width + (size_t)x] != 0;
}

/* ---- a growing buffer ---------------------------------------------------- */

typedef struct buf {
	uint8_t *data;
	size_t len, cap;
	bool failed;
} buf_t;

static void buf_add(buf_t *b, const void *p, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap == 0 ? 4096 : b->cap;
		while (cap < b->len + n + 1)
			cap *= 2;
		uint8_t *d = realloc(b->data, cap);
		if (d == NULL) {
			b->failed = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0; /* text stays NUL-terminated */
}

static void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(buf_t *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		b->failed = true;
	else
		buf_add(b, tmp, (size_t)n);
}

/* ---- PNG ----------------------------------------------------------------- */

static void png_sink(png_structp png, png_bytep data, png_size_t n)
{
	buf_t *b = png_get_io_ptr(png);

	buf_add(b, data, n);
	if (b->failed)
		png_error(png, "out of memory");
}

static void png_sink_flush(png_structp png)
{
	(void)png;
}

/* One module row as a 1-bit row (white = 1), written `px` times. */
static void write_png_row(png_structp png, const ofp_qr_t *qr, int my, png_bytep row, int side)
{
	memset(row, 0, (size_t)(side + 7) / 8);
	for (int x = 0; x < side; x++) {
		int mx = x / OFP_QR_PNG_MODULE_PX - OFP_QR_QUIET_ZONE;
		if (!ofp_qr_dark(qr, mx, my))
			row[x / 8] |= (png_byte)(0x80u >> (x % 8));
	}
	for (int i = 0; i < OFP_QR_PNG_MODULE_PX; i++)
		png_write_row(png, row);
}

/* Kept apart so that nothing set after setjmp is read after a longjmp. */
static bool write_png_image(png_structp png, png_infop info, const ofp_qr_t *qr, png_bytep row, int side)
{
	if (setjmp(png_jmpbuf(png)))
		return false;
	png_set_IHDR(png, info, (png_uint_32)side, (png_uint_32)side, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (int my = -OFP_QR_QUIET_ZONE; my < qr->width + OFP_QR_QUIET_ZONE; my++)
		write_png_row(png, qr, my, row, side);
	png_write_end(png, NULL);
	return true;
}

int ofp_qr_png(const ofp_qr_t *qr, uint8_t **out, size_t *len, char *err, size_t err_len)
{
	int side = (qr->width + 2 * OFP_QR_QUIET_ZONE) * OFP_QR_PNG_MODULE_PX;
	png_bytep row = calloc(1, (size_t)(side + 7) / 8);
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png == NULL ? NULL : png_create_info_struct(png);
	buf_t b = { 0 };
	int rv = -1;

	if (row == NULL || info == NULL) {
		snprintf(err, err_len, "PNG: out of memory");
		goto out;
	}
	png_set_write_fn(png, &b, png_sink, png_sink_flush);
	if (!write_png_image(png, info, qr, row, side) || b.failed) {
		snprintf(err, err_len, "PNG: libpng failed to write the image");
		goto out;
	}
	*out = b.data;
	*len = b.len;
	b.data = NULL;
	rv = 0;
out:
	png_destroy_write_struct(&png, &info);
	free(row);
	free(b.data);
	return rv;
}

/* ---- SVG ----------------------------------------------------------------- */

int ofp_qr_svg(const ofp_qr_t *qr, char **out, size_t *len, char *err, size_t err_len)
{
	int side = qr->width + 2 * OFP_QR_QUIET_ZONE;
	int px = side * OFP_QR_PNG_MODULE_PX;
	buf_t b = { 0 };

	buf_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	buf_printf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" ");
	buf_printf(&b, "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" ", px, px, side, side);
	buf_printf(&b, "shape-rendering=\"crispEdges\">\n");
	buf_printf(&b, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n<path fill=\"#000\" d=\"", side, side);
	/* Each horizontal run of dark modules is one closed rectangle. */
	for (int y = 0; y < qr->width; y++) {
		for (int x = 0; x < qr->width;) {
			if (!ofp_qr_dark(qr, x, y)) {
				x++;
				continue;
			}
			int run = 1;
			while (ofp_qr_dark(qr, x + run, y))
				run++;
			buf_printf(&b, "M%d %dh%dv1h-%dz", x + OFP_QR_QUIET_ZONE, y + OFP_QR_QUIET_ZONE, run, run);
			x += run;
		}
	}
	buf_printf(&b, "\"/>\n</svg>\n");
	if (b.failed) {
		free(b.data);
		snprintf(err, err_len, "SVG: out of memory");
		return -1;
	}
	*out = (char *)b.data;
	*len = b.len;
	return 0;
}

/* ---- terminal ------------------------------------------------------------ */

int ofp_qr_terminal(const ofp_qr_t *qr, FILE *f, bool colour)
{
	/* Indexed by (top light) << 1 | (bottom light). */
	static const char *const glyph[4] = { " ", "\xe2\x96\x84", "\xe2\x96\x80", "\xe2\x96\x88" };
	int lo = -OFP_QR_QUIET_ZONE, hi = qr->width + OFP_QR_QUIET_ZONE;

	for (int y = lo; y < hi; y += 2) {
		if (colour)
			fputs("\x1b[40;97m", f); /* black background, bright white glyphs */
		for (int x = lo; x < hi; x++) {
			/* Below the last row (odd height) is more quiet zone. */
			bool top = !ofp_qr_dark(qr, x, y);
			bool bottom = y + 1 >= hi || !ofp_qr_dark(qr, x, y + 1);
			fputs(glyph[(top ? 2 : 0) | (bottom ? 1 : 0)], f);
		}
		if (colour)
			fputs("\x1b[0m", f); /* before the newline: no coloured line ends */
		fputc('\n', f);
	}
	return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}
