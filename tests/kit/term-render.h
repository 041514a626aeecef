/* term-render.h - what a terminal shows for a text of half-block
 * characters and ANSI colours, as grey pixels, and the QR code zbar reads
 * in them. For the tests of the holder's terminal QR code: the same
 * captured bytes are drawn as a dark-background terminal (light default
 * text on black) and as a light one (dark default text on white) would. */
#ifndef OFFPASS_TESTS_TERM_RENDER_H
#define OFFPASS_TESTS_TERM_RENDER_H

#include <stddef.h>
#include <stdint.h>

typedef enum { TERM_THEME_DARK, TERM_THEME_LIGHT } term_theme_t;

typedef struct term_image {
	uint8_t *grey; /* width x height, row-major; free() it */
	int width, height;
} term_image_t;

/* Draw the leading lines of text that hold only spaces, U+2580 (upper
 * half), U+2584 (lower half), U+2588 (full block) and SGR sequences
 * (ESC [ ... m: 0 reset, 1 and 22 ignored, 7/27 reverse, 30-37, 39, 90-97
 * foreground, 40-47, 49, 100-107 background); the first other line ends
 * the drawing (ESC [ H and ESC [ 2 J, a screen clear, are skipped). Each
 * character cell is `scale` pixels wide and 2 x `scale` high (a half block
 * is a square), with a margin of `scale` x 4 pixels of the theme's
 * background around it, as the terminal window around the text. 0, or -1
 * with err set (no drawing, an unknown character or sequence). */
int term_render(const char *text, size_t len, term_theme_t theme, int scale, term_image_t *out, char *err,
		size_t err_len);

/* The bytes of the first QR code zbar finds in img (binary mode, as the
 * gate reads): 0 with *len set, 1 when zbar finds none, -1 on error. */
int term_qr_decode(const term_image_t *img, uint8_t *out, size_t cap, size_t *len);

void term_image_free(term_image_t *img);

#endif
