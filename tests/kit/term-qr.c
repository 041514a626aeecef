/* term-qr - for tests/integration/holder.sh: read captured terminal output
 * on standard input, draw it as a terminal of the given theme would
 * (tests/kit/term-render.h), and write the bytes of the QR code zbar finds
 * in the picture to standard output.
 *
 * Usage: term-qr --theme dark|light [--invert] [--pgm FILE]
 * --invert reads the negative of the picture; --pgm also writes it (P5).
 * Exit: 0 a code was read, 1 zbar found none, 2 bad use or input. */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/kit/term-render.h"

#define INPUT_MAX (1u << 20)

static int write_pgm(const char *path, const term_image_t *img)
{
	FILE *f = fopen(path, "wb");
	bool ok;

	if (f == NULL)
		return -1;
	ok = fprintf(f, "P5\n%d %d\n255\n", img->width, img->height) > 0 &&
	     fwrite(img->grey, 1, (size_t)img->width * (size_t)img->height, f) ==
		     (size_t)img->width * (size_t)img->height;
	return fclose(f) == 0 && ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	static char text[INPUT_MAX];
	uint8_t data[8192];
	term_theme_t theme = TERM_THEME_DARK;
	const char *pgm = NULL;
	bool have_theme = false, invert = false;
	term_image_t img;
	char err[256];
	size_t len, n;
	int rv;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--theme") == 0 && i + 1 < argc) {
			have_theme = true;
			i++;
			if (strcmp(argv[i], "light") == 0)
				theme = TERM_THEME_LIGHT;
			else if (strcmp(argv[i], "dark") != 0)
				have_theme = false;
		} else if (strcmp(argv[i], "--pgm") == 0 && i + 1 < argc) {
			pgm = argv[++i];
		} else if (strcmp(argv[i], "--invert") == 0) {
			invert = true;
		} else {
			have_theme = false;
			break;
		}
	}
	if (!have_theme) {
		fprintf(stderr, "usage: %s --theme dark|light [--invert] [--pgm FILE] <TEXT >BYTES\n", argv[0]);
		return 2;
	}
	len = fread(text, 1, sizeof(text), stdin);
	if (ferror(stdin) || len == sizeof(text)) {
		fprintf(stderr, "term-qr: cannot read the input (at most %u bytes)\n", INPUT_MAX - 1);
		return 2;
	}
	if (term_render(text, len, theme, 4, &img, err, sizeof(err)) != 0) {
		fprintf(stderr, "term-qr: %s\n", err);
		return 2;
	}
	if (invert)
		for (size_t i = 0; i < (size_t)img.width * (size_t)img.height; i++)
			img.grey[i] = (uint8_t)(255 - img.grey[i]);
	if (pgm != NULL && write_pgm(pgm, &img) != 0) {
		fprintf(stderr, "term-qr: cannot write %s\n", pgm);
		term_image_free(&img);
		return 2;
	}
	rv = term_qr_decode(&img, data, sizeof(data), &n);
	term_image_free(&img);
	if (rv < 0) {
		fprintf(stderr, "term-qr: zbar failed\n");
		return 2;
	}
	if (rv == 1) {
		fprintf(stderr, "term-qr: no QR code in the %s-theme picture\n",
			theme == TERM_THEME_DARK ? "dark" : "light");
		return 1;
	}
	return fwrite(data, 1, n, stdout) == n && fflush(stdout) == 0 ? 0 : 2;
}
