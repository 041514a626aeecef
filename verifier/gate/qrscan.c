/* qrscan.c - the bytes of a QR code in a PNG or PNM image, with libpng and
 * zbar. A presentation is binary (0x00 and 0xff bytes included), so zbar
 * runs in binary mode: any character set guess would change the bytes and
 * break the holder's signature. */
#include "config.h"
#include "gate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <zbar.h>

static const uint8_t png_magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

static int fail(char *err, size_t err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	return -1;
}

static bool is_png(const uint8_t *data, size_t len)
{
	return len >= sizeof(png_magic) && memcmp(data, png_magic, sizeof(png_magic)) == 0;
}

/* "P5" or "P6" and a blank: the binary PGM and PPM formats. */
static bool is_pnm(const uint8_t *data, size_t len)
{
	return len >= 3 && data[0] == 'P' && (data[1] == '5' || data[1] == '6') &&
	       (data[2] == ' ' || data[2] == '\t' || data[2] == '\r' || data[2] == '\n' || data[2] == '#');
}

bool gate_is_image(const uint8_t *data, size_t len)
{
	return is_png(data, len) || is_pnm(data, len);
}

void gate_grey_free(gate_grey_t *g)
{
	free(g->pixels);
	g->pixels = NULL;
	g->width = g->height = 0;
}

/* Checked before any pixel buffer is allocated: a 100-byte PNG may claim
 * a billion pixels. */
static int check_size(const char *what, unsigned long width, unsigned long height, char *err, size_t err_len)
{
	if (width == 0 || height == 0)
		return fail(err, err_len, "%s: empty image (%lux%lu)", what, width, height);
	if (width > GATE_IMAGE_SIDE_MAX || height > GATE_IMAGE_SIDE_MAX)
		return fail(err, err_len, "%s: image too large (%lux%lu, at most %ux%u)", what, width, height,
			    GATE_IMAGE_SIDE_MAX, GATE_IMAGE_SIDE_MAX);
	return 0;
}

static int png_decode(const uint8_t *data, size_t len, gate_grey_t *out, char *err, size_t err_len)
{
	static const png_color white = { 255, 255, 255 };
	png_image img;
	uint8_t *pixels = NULL;
	int rv = -1;

	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	if (!png_image_begin_read_from_memory(&img, data, len)) {
		fail(err, err_len, "PNG: %s", img.message);
		goto out;
	}
	if (check_size("PNG", img.width, img.height, err, err_len) != 0)
		goto out;
	img.format = PNG_FORMAT_GRAY;
	pixels = malloc((size_t)img.width * img.height);
	if (pixels == NULL) {
		fail(err, err_len, "PNG: out of memory");
		goto out;
	}
	/* Transparent pixels are composited over white, as a viewer shows them. */
	if (!png_image_finish_read(&img, &white, pixels, 0, NULL)) {
		fail(err, err_len, "PNG: %s", img.message);
		goto out;
	}
	out->pixels = pixels;
	out->width = img.width;
	out->height = img.height;
	pixels = NULL;
	rv = 0;
out:
	png_image_free(&img);
	free(pixels);
	return rv;
}

/* One number of a PNM header, after blanks and '#' comments. */
static int pnm_number(const uint8_t *d, size_t len, size_t *pos, unsigned long *val)
{
	size_t p = *pos;
	unsigned long v = 0;
	size_t digits = 0;

	for (;;) {
		while (p < len && (d[p] == ' ' || d[p] == '\t' || d[p] == '\r' || d[p] == '\n'))
			p++;
		if (p < len && d[p] == '#') {
			while (p < len && d[p] != '\n')
				p++;
			continue;
		}
		break;
	}
	while (p < len && d[p] >= '0' && d[p] <= '9' && digits < 9) {
		v = v * 10 + (unsigned long)(d[p++] - '0');
		digits++;
	}
	if (digits == 0 || (p < len && d[p] >= '0' && d[p] <= '9'))
		return -1;
	*pos = p;
	*val = v;
	return 0;
}

/* A sample scaled to 0..255; samples over maxval (a broken file) clip. */
static uint8_t scale(unsigned long v, unsigned long maxval)
{
	return (uint8_t)((v > maxval ? maxval : v) * 255ul / maxval);
}

/* ITU-R BT.601 luma, as zbar's own converters use. */
static uint8_t luma(const uint8_t *rgb, unsigned long maxval)
{
	return scale((299ul * rgb[0] + 587ul * rgb[1] + 114ul * rgb[2]) / 1000ul, maxval);
}

static int pnm_decode(const uint8_t *data, size_t len, gate_grey_t *out, char *err, size_t err_len)
{
	unsigned long width, height, maxval;
	size_t pos = 2, channels = data[1] == '6' ? 3 : 1, npix;
	const char *what = channels == 3 ? "PPM" : "PGM";

	if (pnm_number(data, len, &pos, &width) != 0 || pnm_number(data, len, &pos, &height) != 0 ||
	    pnm_number(data, len, &pos, &maxval) != 0)
		return fail(err, err_len, "%s: bad or truncated header", what);
	if (maxval == 0 || maxval > 255)
		return fail(err, err_len, "%s: maxval %lu not supported (1..255)", what, maxval);
	if (check_size(what, width, height, err, err_len) != 0)
		return -1;
	/* Exactly one blank ends the header; the pixels follow. */
	if (pos >= len || !(data[pos] == ' ' || data[pos] == '\t' || data[pos] == '\r' || data[pos] == '\n'))
		return fail(err, err_len, "%s: bad or truncated header", what);
	pos++;
	npix = (size_t)width * height;
	if (len - pos < npix * channels)
		return fail(err, err_len, "%s: truncated pixel data (%zu of %zu bytes)", what, len - pos,
			    npix * channels);
	out->pixels = malloc(npix);
	if (out->pixels == NULL)
		return fail(err, err_len, "%s: out of memory", what);
	for (size_t i = 0; i < npix; i++) {
		const uint8_t *px = data + pos + i * channels;
		out->pixels[i] = channels == 3 ? luma(px, maxval) : scale(px[0], maxval);
	}
	out->width = (unsigned)width;
	out->height = (unsigned)height;
	return 0;
}

int gate_image_decode(const uint8_t *data, size_t len, gate_grey_t *out, char *err, size_t err_len)
{
	memset(out, 0, sizeof(*out));
	if (is_png(data, len))
		return png_decode(data, len, out, err, err_len);
	if (is_pnm(data, len))
		return pnm_decode(data, len, out, err, err_len);
	return fail(err, err_len, "not a PNG, PGM or PPM image");
}

static int configure_scanner(zbar_image_scanner_t *sc)
{
	/* QR codes only (a 1-D barcode in the picture is not a presentation),
	 * and their bytes as they are. */
	if (zbar_image_scanner_set_config(sc, ZBAR_NONE, ZBAR_CFG_ENABLE, 0) != 0 ||
	    zbar_image_scanner_set_config(sc, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1) != 0 ||
	    zbar_image_scanner_set_config(sc, ZBAR_QRCODE, ZBAR_CFG_BINARY, 1) != 0)
		return -1;
	return 0;
}

int gate_qr_scan_grey(const gate_grey_t *g, uint8_t *out, size_t cap, size_t *out_len, char *err, size_t err_len)
{
	zbar_image_scanner_t *sc = zbar_image_scanner_create();
	zbar_image_t *img = zbar_image_create();
	const zbar_symbol_t *sym;
	unsigned len;
	int n, rv = -1;

	if (sc == NULL || img == NULL) {
		fail(err, err_len, "zbar: out of memory");
		goto out;
	}
	if (configure_scanner(sc) != 0) {
		fail(err, err_len, "zbar: binary QR decoding not supported by this zbar");
		goto out;
	}
	zbar_image_set_format(img, zbar_fourcc('Y', '8', '0', '0'));
	zbar_image_set_size(img, g->width, g->height);
	zbar_image_set_data(img, g->pixels, (unsigned long)g->width * g->height, NULL);
	n = zbar_scan_image(sc, img);
	if (n < 0) {
		fail(err, err_len, "zbar: scanning failed");
		goto out;
	}
	if (n == 0) {
		fail(err, err_len, "no QR code found");
		goto out;
	}
	if (n > 1) {
		fail(err, err_len, "%d QR codes found in one image (show one at a time)", n);
		goto out;
	}
	sym = zbar_image_first_symbol(img);
	len = zbar_symbol_get_data_length(sym);
	if (len > cap) {
		fail(err, err_len, "QR code holds %u bytes, more than %zu", len, cap);
		goto out;
	}
	memcpy(out, zbar_symbol_get_data(sym), len);
	*out_len = len;
	rv = 0;
out:
	if (img != NULL)
		zbar_image_destroy(img); /* no cleanup handler: the pixels stay the caller's */
	if (sc != NULL)
		zbar_image_scanner_destroy(sc);
	return rv;
}

int gate_qr_scan_image(const uint8_t *data, size_t len, uint8_t *out, size_t cap, size_t *out_len, char *err,
		       size_t err_len)
{
	gate_grey_t g;
	int rv;

	if (gate_image_decode(data, len, &g, err, err_len) != 0)
		return -1;
	rv = gate_qr_scan_grey(&g, out, cap, out_len, err, err_len);
	gate_grey_free(&g);
	return rv;
}
