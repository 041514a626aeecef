/* test-qrkit.c - see test-qrkit.h. */
#include "config.h"
#include "test-qrkit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <qrencode.h>

#define QUIET_ZONE 4u

bool tq_blank_grey(unsigned width, unsigned height, gate_grey_t *out)
{
	out->pixels = malloc((size_t)width * height);
	if (out->pixels == NULL)
		return false;
	memset(out->pixels, 0xff, (size_t)width * height);
	out->width = width;
	out->height = height;
	return true;
}

bool tq_qr_grey(const uint8_t *data, size_t len, unsigned scale, gate_grey_t *out, int *version)
{
	QRcode *qr = QRcode_encodeData((int)len, data, 0, QR_ECLEVEL_M);
	unsigned side, modules;

	if (qr == NULL)
		return false;
	modules = (unsigned)qr->width;
	side = (modules + 2 * QUIET_ZONE) * scale;
	if (!tq_blank_grey(side, side, out)) {
		QRcode_free(qr);
		return false;
	}
	for (unsigned y = 0; y < side; y++) {
		for (unsigned x = 0; x < side; x++) {
			unsigned mx = x / scale, my = y / scale;
			bool dark = mx >= QUIET_ZONE && my >= QUIET_ZONE && mx < modules + QUIET_ZONE &&
				    my < modules + QUIET_ZONE &&
				    (qr->data[(my - QUIET_ZONE) * modules + (mx - QUIET_ZONE)] & 1) != 0;
			out->pixels[(size_t)y * side + x] = dark ? 0 : 0xff;
		}
	}
	if (version != NULL)
		*version = qr->version;
	QRcode_free(qr);
	return true;
}

bool tq_png_encode(const gate_grey_t *g, uint8_t **out, size_t *len)
{
	png_image img;
	png_alloc_size_t size = 0;

	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	img.width = g->width;
	img.height = g->height;
	img.format = PNG_FORMAT_GRAY;
	if (!png_image_write_to_memory(&img, NULL, &size, 0, g->pixels, 0, NULL))
		return false;
	*out = malloc(size);
	if (*out == NULL)
		return false;
	if (!png_image_write_to_memory(&img, *out, &size, 0, g->pixels, 0, NULL)) {
		free(*out);
		*out = NULL;
		return false;
	}
	*len = size;
	return true;
}

bool tq_pgm_encode(const gate_grey_t *g, uint8_t **out, size_t *len)
{
	char head[64];
	size_t npix = (size_t)g->width * g->height;
	int n = snprintf(head, sizeof(head), "P5\n# offpass test\n%u %u\n255\n", g->width, g->height);

	*out = malloc((size_t)n + npix);
	if (*out == NULL)
		return false;
	memcpy(*out, head, (size_t)n);
	memcpy(*out + n, g->pixels, npix);
	*len = (size_t)n + npix;
	return true;
}

bool tq_write_file(const char *path, const uint8_t *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	bool ok;

	if (f == NULL)
		return false;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok;
}
