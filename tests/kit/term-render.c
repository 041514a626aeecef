/* term-render.c - see term-render.h. Test code. */
#include "config.h"
#include "tests/kit/term-render.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zbar.h>

#define MAX_COLS 512
#define MAX_ROWS 512
#define DEFAULT_COLOUR (-1)

/* The 16 ANSI colours as grey levels (luminance of xterm's palette): the
 * same in both themes, as terminals keep the palette's black dark and its
 * white light whatever their default colours. */
static const uint8_t palette[16] = { 0, 61, 120, 181, 27, 88, 144, 229, 127, 76, 150, 226, 106, 105, 179, 255 };

typedef struct pen {
	int fg, bg; /* palette index or DEFAULT_COLOUR */
	bool reverse;
} pen_t;

typedef struct cell {
	uint8_t top, bottom;
} cell_t;

typedef struct canvas {
	cell_t *cells; /* MAX_ROWS x MAX_COLS */
	int cols[MAX_ROWS];
	int rows;
	uint8_t default_fg, default_bg;
} canvas_t;

static void pen_colours(const canvas_t *c, const pen_t *p, uint8_t *fg, uint8_t *bg)
{
	uint8_t f = p->fg == DEFAULT_COLOUR ? c->default_fg : palette[p->fg];
	uint8_t b = p->bg == DEFAULT_COLOUR ? c->default_bg : palette[p->bg];

	*fg = p->reverse ? b : f;
	*bg = p->reverse ? f : b;
}

/* One SGR parameter. */
static bool sgr_apply(pen_t *p, long v)
{
	if (v == 0)
		*p = (pen_t){ DEFAULT_COLOUR, DEFAULT_COLOUR, false };
	else if (v == 1 || v == 22)
		; /* bold / normal intensity: not a colour here */
	else if (v == 7 || v == 27)
		p->reverse = v == 7;
	else if (v >= 30 && v <= 37)
		p->fg = (int)v - 30;
	else if (v == 39)
		p->fg = DEFAULT_COLOUR;
	else if (v >= 90 && v <= 97)
		p->fg = (int)v - 90 + 8;
	else if (v >= 40 && v <= 47)
		p->bg = (int)v - 40;
	else if (v == 49)
		p->bg = DEFAULT_COLOUR;
	else if (v >= 100 && v <= 107)
		p->bg = (int)v - 100 + 8;
	else
		return false;
	return true;
}

/* An escape sequence at s (s[0] == ESC): its length, or 0 when it is not
 * one this renderer knows. */
static size_t escape(const char *s, size_t n, pen_t *p)
{
	size_t i = 2;
	long params[16];
	int np = 0;

	if (n < 3 || s[1] != '[')
		return 0;
	params[0] = 0;
	while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == ';')) {
		if (s[i] == ';') {
			if (++np >= 16)
				return 0;
			params[np] = 0;
		} else {
			params[np] = params[np] * 10 + (s[i] - '0');
			if (params[np] > 1000)
				return 0;
		}
		i++;
	}
	if (i >= n)
		return 0;
	if (s[i] == 'H' || s[i] == 'J')
		return i + 1; /* cursor home, clear: the drawing starts here anyway */
	if (s[i] != 'm')
		return 0;
	for (int k = 0; k <= np; k++)
		if (!sgr_apply(p, params[k]))
			return 0;
	return i + 1;
}

/* One line into row r: 1 drawn, 0 not a drawing line, -1 too wide. */
static int draw_line(canvas_t *c, const char *s, size_t n, pen_t *pen, int r)
{
	pen_t saved = *pen;
	int col = 0;

	for (size_t i = 0; i < n;) {
		uint8_t fg, bg;
		bool top, bottom;
		size_t k;

		if (s[i] == '\x1b') {
			k = escape(s + i, n - i, pen);
			if (k == 0)
				goto not_drawing;
			i += k;
			continue;
		}
		if (s[i] == ' ') {
			top = bottom = false;
			i++;
		} else if (n - i >= 3 && (uint8_t)s[i] == 0xe2 && (uint8_t)s[i + 1] == 0x96 &&
			   ((uint8_t)s[i + 2] == 0x80 || (uint8_t)s[i + 2] == 0x84 || (uint8_t)s[i + 2] == 0x88)) {
			top = (uint8_t)s[i + 2] != 0x84;
			bottom = (uint8_t)s[i + 2] != 0x80;
			i += 3;
		} else {
			goto not_drawing;
		}
		if (col >= MAX_COLS)
			return -1;
		pen_colours(c, pen, &fg, &bg);
		c->cells[(size_t)r * MAX_COLS + (size_t)col] = (cell_t){ top ? fg : bg, bottom ? fg : bg };
		col++;
	}
	c->cols[r] = col;
	return col > 0;
not_drawing:
	*pen = saved;
	return 0;
}

static int paint(const canvas_t *c, int scale, term_image_t *out, char *err, size_t err_len)
{
	int width = 0, margin = 4 * scale;

	for (int r = 0; r < c->rows; r++)
		if (c->cols[r] > width)
			width = c->cols[r];
	out->width = width * scale + 2 * margin;
	out->height = c->rows * 2 * scale + 2 * margin;
	out->grey = malloc((size_t)out->width * (size_t)out->height);
	if (out->grey == NULL) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	memset(out->grey, c->default_bg, (size_t)out->width * (size_t)out->height);
	for (int r = 0; r < c->rows; r++)
		for (int col = 0; col < c->cols[r]; col++) {
			cell_t cell = c->cells[(size_t)r * MAX_COLS + (size_t)col];
			for (int y = 0; y < 2 * scale; y++) {
				uint8_t v = y < scale ? cell.top : cell.bottom;
				uint8_t *row = out->grey + (size_t)(margin + r * 2 * scale + y) * (size_t)out->width;
				memset(row + margin + col * scale, v, (size_t)scale);
			}
		}
	return 0;
}

int term_render(const char *text, size_t len, term_theme_t theme, int scale, term_image_t *out, char *err,
		size_t err_len)
{
	canvas_t c = { .rows = 0 };
	pen_t pen = { DEFAULT_COLOUR, DEFAULT_COLOUR, false };
	size_t start = 0;
	int rv = -1;

	memset(out, 0, sizeof(*out));
	c.default_fg = theme == TERM_THEME_DARK ? 204 : 32;
	c.default_bg = theme == TERM_THEME_DARK ? 30 : 250;
	if (scale < 1 || scale > 16) {
		snprintf(err, err_len, "scale %d: 1 to 16", scale);
		return -1;
	}
	c.cells = calloc((size_t)MAX_ROWS * MAX_COLS, sizeof(cell_t));
	if (c.cells == NULL) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	while (start < len && c.rows < MAX_ROWS) {
		const char *nl = memchr(text + start, '\n', len - start);
		size_t n = nl != NULL ? (size_t)(nl - (text + start)) : len - start;
		int d = draw_line(&c, text + start, n, &pen, c.rows);

		if (d < 0) {
			snprintf(err, err_len, "line %d: wider than %d cells", c.rows + 1, MAX_COLS);
			goto out;
		}
		if (d == 0 && c.rows > 0)
			break; /* the first line after the drawing that is not one */
		c.rows += d;
		start += n + 1;
	}
	if (c.rows == 0) {
		snprintf(err, err_len, "no half-block drawing in the text");
		goto out;
	}
	rv = paint(&c, scale, out, err, err_len);
out:
	free(c.cells);
	return rv;
}

int term_qr_decode(const term_image_t *img, uint8_t *out, size_t cap, size_t *len)
{
	zbar_image_scanner_t *sc = zbar_image_scanner_create();
	zbar_image_t *zi = zbar_image_create();
	const zbar_symbol_t *sym;
	int rv = -1, n;

	*len = 0;
	if (sc == NULL || zi == NULL || zbar_image_scanner_set_config(sc, ZBAR_NONE, ZBAR_CFG_ENABLE, 0) != 0 ||
	    zbar_image_scanner_set_config(sc, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1) != 0 ||
	    zbar_image_scanner_set_config(sc, ZBAR_QRCODE, ZBAR_CFG_BINARY, 1) != 0)
		goto out;
	zbar_image_set_format(zi, zbar_fourcc('Y', '8', '0', '0'));
	zbar_image_set_size(zi, (unsigned)img->width, (unsigned)img->height);
	zbar_image_set_data(zi, img->grey, (unsigned long)img->width * (unsigned long)img->height, NULL);
	n = zbar_scan_image(sc, zi);
	if (n < 0)
		goto out;
	for (sym = zbar_image_first_symbol(zi); sym != NULL; sym = zbar_symbol_next(sym)) {
		if (zbar_symbol_get_type(sym) != ZBAR_QRCODE)
			continue;
		if (zbar_symbol_get_data_length(sym) > cap)
			goto out;
		*len = zbar_symbol_get_data_length(sym);
		memcpy(out, zbar_symbol_get_data(sym), *len);
		rv = 0;
		goto out;
	}
	rv = 1;
out:
	if (zi != NULL)
		zbar_image_destroy(zi);
	if (sc != NULL)
		zbar_image_scanner_destroy(sc);
	return rv;
}

void term_image_free(term_image_t *img)
{
	free(img->grey);
	memset(img, 0, sizeof(*img));
}
