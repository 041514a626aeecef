/* test-holder.c - the holder library: counters (persisted, monotonic, two
 * processes at once, corrupt files refused), QR codes (read back by zbar,
 * SVG and terminal drawings read back module by module), and, on a fresh
 * token of the built offpass-p11.so ($OFFPASS_P11_MODULE; left out when
 * unset) and of SoftHSM2 (left out when not installed): keygen, enrollment
 * checked with OpenSSL, install refusals, presentations whose signatures
 * OpenSSL verifies. Credentials come from a software test issuer
 * (format/format-testkit.h). Every test runs in its own process. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <png.h>
#include <zbar.h>

#include "tests/kit/term-render.h"

#include "atomic_file.h"
#include "secmem.h"
#include "holder/counter.h"
#include "holder/holder.h"
#include "holder/qr.h"
#include "holder/refresh.h"
#include "format/format-testkit.h"
#include "tests/kit/test-token.h"

#define SO_PIN "so-pin-0000"
#define USER_PIN "user-pin-1234"
#define LABEL "holder test"
#define SOFTHSM_LIB "/usr/lib/softhsm/libsofthsm2.so"
#define ERR_LEN OFP_HOLDER_ERR_LEN
#define T0 1700000000u /* the tests' "now" */

#define HAS(s, part) ck_assert_msg(strstr((s), (part)) != NULL, "'%s' lacks '%s'", (s), (part))

/* LeakSanitizer (scripts/sanitize.sh): SoftHSM2 2.6.1 leaks an ASN.1 string
 * in C_SignInit for every EdDSA key. Not ours to report; the suppression
 * needs full stacks to see the library. */
OFP_EXPORT const char *__lsan_default_suppressions(void);
OFP_EXPORT const char *__asan_default_options(void);
OFP_EXPORT const char *__lsan_default_options(void);

OFP_EXPORT const char *__lsan_default_suppressions(void)
{
	return "leak:libsofthsm2.so\n";
}

OFP_EXPORT const char *__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

OFP_EXPORT const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}

static char dir[64];	     /* the test's temp directory */
static char state[128];	     /* holder state directory inside it */
static const char *module;   /* the module of this test case */
static const uint8_t key_a[33] = { 0x02, 1, 2, 3 }, key_b[33] = { 0x03, 9, 9, 9 };

/* ==== fixtures ====================================================================== */

static void make_dir(void)
{
	strcpy(dir, "/tmp/offpass-holder-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(state, sizeof(state), "%s/state", dir);
}

static void remove_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* A fresh token as an administrator makes one: C_InitToken, C_InitPIN. */
static void init_token(const char *label)
{
	char err[ERR_LEN];

	ck_assert_msg(ofp_test_token_init(module, label, SO_PIN, USER_PIN, err, sizeof(err)) == 0, "%s", err);
}

static void setup_plain(void)
{
	make_dir();
}

static void setup_offpass(void)
{
	module = getenv("OFFPASS_P11_MODULE");
	make_dir();
	ck_assert_int_eq(ofp_test_token_offpass_env(dir), 0);
	unsetenv("OFFPASS_P11_MAX_PIN_FAILS");
	init_token(LABEL);
}

static void setup_softhsm(void)
{
	char err[ERR_LEN];

	module = SOFTHSM_LIB;
	make_dir();
	ck_assert_msg(ofp_test_token_softhsm_env(dir, err, sizeof(err)) == 0, "%s", err);
	init_token(LABEL);
}

/* ==== counter ======================================================================= */

static uint32_t next(const uint8_t *key, uint32_t now)
{
	char err[ERR_LEN] = "";
	uint32_t v = 0;

	ck_assert_msg(ofp_counter_next(state, key, 33, now, &v, err, sizeof(err)) == 0, "next: %s", err);
	return v;
}

static void write_file(const char *path, const char *text)
{
	ck_assert_int_eq(atomic_file_write(path, text, strlen(text), 0600), 0);
}

static char *read_text(const char *path)
{
	unsigned char *data = NULL;
	size_t len = 0;

	ck_assert_int_eq(file_read_all(path, 1 << 20, &data, &len), 0);
	data[len] = 0; /* file_read_all leaves a spare byte */
	return (char *)data;
}

START_TEST(counter_monotonic_and_persisted)
{
	char err[ERR_LEN], path[256];
	uint32_t last = 0;
	struct stat st;

	/* No file yet: not an error, and nothing is created by looking. */
	ck_assert_int_eq(ofp_counter_last(state, key_a, 33, &last, err, sizeof(err)), 1);
	ck_assert_int_eq(stat(state, &st), -1);
	/* The first value is the time of first use; then +1 each time. */
	ck_assert_uint_eq(next(key_a, T0), T0);
	ck_assert_uint_eq(next(key_a, T0), T0 + 1);
	ck_assert_uint_eq(next(key_a, 5), T0 + 2); /* a clock set back changes nothing */
	ck_assert_int_eq(ofp_counter_last(state, key_a, 33, &last, err, sizeof(err)), 0);
	ck_assert_uint_eq(last, T0 + 2);
	/* Another key has its own counter; time 0 still starts at 1. */
	ck_assert_uint_eq(next(key_b, 0), 1);
	ck_assert_uint_eq(next(key_b, 0), 2);
	ck_assert_uint_eq(next(key_a, T0), T0 + 3);
	/* On disk, durable, private. */
	ck_assert_int_eq(ofp_counter_path(state, key_a, 33, path, sizeof(path), err, sizeof(err)), 0);
	char *text = read_text(path);
	ck_assert_str_eq(text, "offpass-holder-counter v1 1700000003\n");
	free(text);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(stat(state, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
}
END_TEST

/* Two processes take 200 values each at the same time: 400 distinct ones,
 * and the file ends at the largest. */
START_TEST(counter_two_processes)
{
	enum { PER_CHILD = 200 };
	uint32_t got[2 * PER_CHILD];
	int fds[2][2];
	pid_t pid[2];
	uint32_t last = 0, max = 0;
	char err[ERR_LEN];

	ck_assert_uint_eq(next(key_a, 1), 1);
	for (int c = 0; c < 2; c++) {
		ck_assert_int_eq(pipe(fds[c]), 0);
		pid[c] = fork();
		ck_assert_int_ne(pid[c], -1);
		if (pid[c] == 0) {
			close(fds[c][0]);
			for (int i = 0; i < PER_CHILD; i++) {
				uint32_t v;
				if (ofp_counter_next(state, key_a, 33, 1, &v, err, sizeof(err)) != 0 ||
				    write(fds[c][1], &v, sizeof(v)) != (ssize_t)sizeof(v))
					_exit(1);
			}
			_exit(0);
		}
		close(fds[c][1]);
	}
	for (int c = 0; c < 2; c++) {
		size_t want = PER_CHILD * sizeof(uint32_t), have = 0;
		while (have < want) {
			ssize_t n = read(fds[c][0], (uint8_t *)&got[c * PER_CHILD] + have, want - have);
			ck_assert_int_gt(n, 0);
			have += (size_t)n;
		}
		int status;
		ck_assert_int_eq(waitpid(pid[c], &status, 0), pid[c]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		close(fds[c][0]);
	}
	for (int i = 0; i < 2 * PER_CHILD; i++) {
		ck_assert_uint_ge(got[i], 2);
		ck_assert_uint_le(got[i], 2 * PER_CHILD + 1);
		for (int j = 0; j < i; j++)
			ck_assert_msg(got[i] != got[j], "counter %u handed out twice", got[i]);
		if (got[i] > max)
			max = got[i];
	}
	ck_assert_int_eq(ofp_counter_last(state, key_a, 33, &last, err, sizeof(err)), 0);
	ck_assert_uint_eq(last, max);
	ck_assert_uint_eq(max, 2 * PER_CHILD + 1);
}
END_TEST

START_TEST(counter_corrupt_refused)
{
	static const char *const bad[] = {
		"",
		"garbage\n",
		"offpass-holder-counter v1 \n",
		"offpass-holder-counter v1 12",	      /* no newline: torn */
		"offpass-holder-counter v1 012\n",    /* not canonical */
		"offpass-holder-counter v1 -1\n",
		"offpass-holder-counter v1 4294967296\n", /* over u32 */
		"offpass-holder-counter v1 12\n\n",
		"offpass-holder-counter v2 12\n",
		"offpass-holder-counter v1 1 2\n",
	};
	char err[ERR_LEN], path[256];
	uint32_t v = 0;

	ck_assert_uint_eq(next(key_a, 7), 7);
	ck_assert_int_eq(ofp_counter_path(state, key_a, 33, path, sizeof(path), err, sizeof(err)), 0);
	for (size_t i = 0; i < OFP_ARRAY_LEN(bad); i++) {
		write_file(path, bad[i]);
		err[0] = '\0';
		ck_assert_int_eq(ofp_counter_next(state, key_a, 33, T0, &v, err, sizeof(err)), -1);
		HAS(err, "corrupt");
		HAS(err, path);
		ck_assert_int_eq(ofp_counter_last(state, key_a, 33, &v, err, sizeof(err)), -1);
		char *text = read_text(path);
		ck_assert_str_eq(text, bad[i]); /* left as it was */
		free(text);
	}
	/* Too large to be a counter file. */
	char big[200];
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	write_file(path, big);
	ck_assert_int_eq(ofp_counter_next(state, key_a, 33, T0, &v, err, sizeof(err)), -1);
	HAS(err, "corrupt");
	/* The largest value is the last one. */
	write_file(path, "offpass-holder-counter v1 4294967294\n");
	ck_assert_uint_eq(next(key_a, 0), 4294967295u);
	ck_assert_int_eq(ofp_counter_next(state, key_a, 33, T0, &v, err, sizeof(err)), -1);
	HAS(err, "exhausted");
	/* Zero is a valid file (never written by us, but canonical). */
	write_file(path, "offpass-holder-counter v1 0\n");
	ck_assert_uint_eq(next(key_a, T0), 1);
}
END_TEST

START_TEST(counter_state_dir)
{
	char out[256], err[ERR_LEN];

	ck_assert_int_eq(ofp_holder_state_dir("/x/y", out, sizeof(out), err, sizeof(err)), 0);
	ck_assert_str_eq(out, "/x/y");
	setenv("XDG_DATA_HOME", "/xdg", 1);
	setenv("HOME", "/home/h", 1);
	ck_assert_int_eq(ofp_holder_state_dir(NULL, out, sizeof(out), err, sizeof(err)), 0);
	ck_assert_str_eq(out, "/xdg/offpass/holder");
	setenv("XDG_DATA_HOME", "relative", 1); /* the XDG spec says: ignore */
	ck_assert_int_eq(ofp_holder_state_dir(NULL, out, sizeof(out), err, sizeof(err)), 0);
	ck_assert_str_eq(out, "/home/h/.local/share/offpass/holder");
	unsetenv("XDG_DATA_HOME");
	unsetenv("HOME");
	ck_assert_int_eq(ofp_holder_state_dir(NULL, out, sizeof(out), err, sizeof(err)), -1);
	HAS(err, "--dir");
	/* A state directory that cannot be made is an error, not a silent 1. */
	char file[128];
	uint32_t v;
	snprintf(file, sizeof(file), "%s/file", dir);
	write_file(file, "x");
	snprintf(state, sizeof(state), "%s/file/sub", dir);
	ck_assert_int_eq(ofp_counter_next(state, key_a, 33, T0, &v, err, sizeof(err)), -1);
	HAS(err, "state directory");
}
END_TEST

/* ==== QR codes ====================================================================== */

static void random_bytes(uint8_t *p, size_t n, unsigned seed)
{
	srand(seed);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rand();
	p[0] = 0x00; /* NUL and high bytes both inside */
	p[n - 1] = 0xff;
}

/* Decode a PNG to 8-bit grey pixels. */
static uint8_t *png_to_grey(const uint8_t *png, size_t len, int *w, int *h)
{
	png_image img;
	uint8_t *px;

	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	ck_assert_int_ne(png_image_begin_read_from_memory(&img, png, len), 0);
	img.format = PNG_FORMAT_GRAY;
	px = malloc(PNG_IMAGE_SIZE(img));
	ck_assert_ptr_nonnull(px);
	ck_assert_msg(png_image_finish_read(&img, NULL, px, 0, NULL) != 0, "png: %s", img.message);
	*w = (int)img.width;
	*h = (int)img.height;
	return px;
}

/* zbar reads grey pixels; ZBAR_CFG_BINARY gives the bytes as encoded. */
static size_t zbar_read(const uint8_t *grey, int w, int h, uint8_t *out, size_t cap)
{
	zbar_image_scanner_t *sc = zbar_image_scanner_create();
	zbar_image_t *img = zbar_image_create();
	const zbar_symbol_t *sym;
	size_t len;

	ck_assert_int_eq(zbar_image_scanner_set_config(sc, ZBAR_NONE, ZBAR_CFG_ENABLE, 0), 0);
	ck_assert_int_eq(zbar_image_scanner_set_config(sc, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1), 0);
	ck_assert_int_eq(zbar_image_scanner_set_config(sc, ZBAR_QRCODE, ZBAR_CFG_BINARY, 1), 0);
	zbar_image_set_format(img, zbar_fourcc('Y', '8', '0', '0'));
	zbar_image_set_size(img, (unsigned)w, (unsigned)h);
	zbar_image_set_data(img, grey, (unsigned long)w * (unsigned long)h, NULL);
	ck_assert_int_eq(zbar_scan_image(sc, img), 1);
	sym = zbar_image_first_symbol(img);
	ck_assert_ptr_nonnull(sym);
	ck_assert_int_eq(zbar_symbol_get_type(sym), ZBAR_QRCODE);
	len = zbar_symbol_get_data_length(sym);
	ck_assert_uint_le(len, cap);
	memcpy(out, zbar_symbol_get_data(sym), len);
	zbar_image_destroy(img);
	zbar_image_scanner_destroy(sc);
	return len;
}

/* PNG -> pixels -> zbar gives data back, and every module is where the
 * encoder put it. */
static void png_round_trip(const ofp_qr_t *qr, const uint8_t *data, size_t len)
{
	char err[ERR_LEN];
	uint8_t *png = NULL, back[8192];
	size_t png_len = 0;
	int w, h;
	const int px = OFP_QR_PNG_MODULE_PX, q = OFP_QR_QUIET_ZONE;

	ck_assert_msg(ofp_qr_png(qr, &png, &png_len, err, sizeof(err)) == 0, "png: %s", err);
	/* IHDR: 1-bit greyscale. */
	ck_assert_mem_eq(png, "\x89PNG\r\n\x1a\n", 8);
	ck_assert_uint_eq(png[24], 1);
	ck_assert_uint_eq(png[25], 0);
	uint8_t *grey = png_to_grey(png, png_len, &w, &h);
	ck_assert_int_eq(w, (qr->width + 2 * q) * px);
	ck_assert_int_eq(h, w);
	for (int y = -q; y < qr->width + q; y++)
		for (int x = -q; x < qr->width + q; x++) {
			uint8_t v = grey[(size_t)((y + q) * px + px / 2) * (size_t)w + (size_t)((x + q) * px + px / 2)];
			ck_assert_uint_eq(v, ofp_qr_dark(qr, x, y) ? 0 : 255);
		}
	ck_assert_uint_eq(zbar_read(grey, w, h, back, sizeof(back)), len);
	ck_assert_mem_eq(back, data, len);
	free(grey);
	free(png);
}

START_TEST(qr_presentation_sizes)
{
	/* P-256 presentation (213), with a 32-byte challenge (278), Ed25519
	 * (212), the largest presentation (246). */
	static const size_t sizes[] = { OFP_PRESENTATION_QR_P256, 214 + 32, 212, OFP_PRESENTATION_MAX, 1, 500 };
	uint8_t data[600];
	char err[ERR_LEN];

	for (size_t i = 0; i < OFP_ARRAY_LEN(sizes); i++) {
		ofp_qr_t qr;
		random_bytes(data, sizes[i], (unsigned)i + 1);
		ck_assert_msg(ofp_qr_encode(data, sizes[i], &qr, err, sizeof(err)) == 0, "%s", err);
		ck_assert_int_eq(qr.width, 17 + 4 * qr.version);
		if (sizes[i] == OFP_PRESENTATION_QR_P256) {
			printf("QR: a %zu-byte P-256 presentation is version %d at level M\n", sizes[i],
			       qr.version);
			ck_assert_int_le(qr.version, 10);
		}
		png_round_trip(&qr, data, sizes[i]);
		ofp_qr_free(&qr);
	}
}
END_TEST

START_TEST(qr_too_long)
{
	static uint8_t data[8000];
	char err[ERR_LEN] = "";
	ofp_qr_t qr;

	ck_assert_int_eq(ofp_qr_encode(data, sizeof(data), &qr, err, sizeof(err)), -1);
	HAS(err, "8000 bytes");
	ck_assert_int_eq(ofp_qr_encode(data, 0, &qr, err, sizeof(err)), -1);
	/* Version 40-M holds 2331 bytes; one more is refused by the library. */
	ck_assert_int_eq(ofp_qr_encode(data, 2332, &qr, err, sizeof(err)), -1);
	HAS(err, "too long");
	ck_assert_int_eq(ofp_qr_encode(data, 2331, &qr, err, sizeof(err)), 0);
	ck_assert_int_eq(qr.version, 40);
	ofp_qr_free(&qr);
}
END_TEST

/* The SVG: a well-formed document whose one path draws exactly the dark
 * modules (shifted by the quiet zone). */
START_TEST(qr_svg)
{
	uint8_t data[OFP_PRESENTATION_QR_P256];
	char err[ERR_LEN], *svg = NULL;
	size_t len = 0;
	ofp_qr_t qr;

	random_bytes(data, sizeof(data), 7);
	ck_assert_int_eq(ofp_qr_encode(data, sizeof(data), &qr, err, sizeof(err)), 0);
	ck_assert_int_eq(ofp_qr_svg(&qr, &svg, &len, err, sizeof(err)), 0);
	ck_assert_uint_eq(strlen(svg), len);
	ck_assert_msg(strncmp(svg, "<?xml version=\"1.0\"", 19) == 0, "no XML declaration");
	HAS(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"");
	ck_assert_str_eq(svg + len - 7, "</svg>\n");
	char *path = strstr(svg, "<path ");
	ck_assert_ptr_nonnull(path);
	ck_assert_ptr_null(strstr(path + 1, "<path")); /* one path */
	int side = qr.width + 2 * OFP_QR_QUIET_ZONE;
	char view[64];
	snprintf(view, sizeof(view), "viewBox=\"0 0 %d %d\"", side, side);
	HAS(svg, view);

	uint8_t *drawn = calloc((size_t)side * (size_t)side, 1);
	const char *d = strstr(path, " d=\"") + 4;
	int x, y, run, run2, n;
	while (sscanf(d, "M%d %dh%dv1h-%dz%n", &x, &y, &run, &run2, &n) == 4) {
		ck_assert_int_eq(run, run2);
		for (int i = 0; i < run; i++) {
			ck_assert_int_lt(x + i, side);
			ck_assert_uint_eq(drawn[y * side + x + i], 0); /* no overlap */
			drawn[y * side + x + i] = 1;
		}
		d += n;
	}
	ck_assert_str_eq(d, "\"/>\n</svg>\n");
	for (y = 0; y < side; y++)
		for (x = 0; x < side; x++)
			ck_assert_uint_eq(drawn[y * side + x],
					  ofp_qr_dark(&qr, x - OFP_QR_QUIET_ZONE, y - OFP_QR_QUIET_ZONE));
	free(drawn);
	free(svg);
	ofp_qr_free(&qr);
}
END_TEST

/* The terminal drawing, read back: each character is two modules (upper
 * and lower half; a drawn half is light). */
static void terminal_round_trip(bool ansi)
{
	uint8_t data[OFP_PRESENTATION_QR_P256];
	char err[ERR_LEN], *text = NULL, *line, *save = NULL;
	size_t text_len = 0;
	ofp_qr_t qr;
	FILE *f = open_memstream(&text, &text_len);
	const int q = OFP_QR_QUIET_ZONE;

	random_bytes(data, sizeof(data), 9);
	ck_assert_int_eq(ofp_qr_encode(data, sizeof(data), &qr, err, sizeof(err)), 0);
	ck_assert_int_eq(ofp_qr_terminal(&qr, f, ansi), 0);
	ck_assert_int_eq(fclose(f), 0);
	int side = qr.width + 2 * q, rows = 0;
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save), rows++) {
		if (ansi) {
			ck_assert_msg(strncmp(line, "\x1b[40;97m", 8) == 0, "no colours");
			line += 8;
			ck_assert_str_eq(line + strlen(line) - 4, "\x1b[0m");
			line[strlen(line) - 4] = 0;
		}
		int x = 0;
		for (const char *c = line; *c != 0; x++) {
			bool top, bottom;
			if (*c == ' ') {
				top = bottom = false;
				c++;
			} else {
				ck_assert_msg(strncmp(c, "\xe2\x96", 2) == 0, "not a block at %d", x);
				uint8_t g = (uint8_t)c[2];
				ck_assert(g == 0x80 || g == 0x84 || g == 0x88);
				top = g != 0x84;
				bottom = g != 0x80;
				c += 3;
			}
			int y = rows * 2 - q;
			ck_assert_int_eq(top, !ofp_qr_dark(&qr, x - q, y));
			ck_assert_int_eq(bottom, !ofp_qr_dark(&qr, x - q, y + 1));
		}
		ck_assert_int_eq(x, side);
	}
	ck_assert_int_eq(rows, (side + 1) / 2);
	free(text);
	ofp_qr_free(&qr);
}

START_TEST(qr_terminal_plain)
{
	terminal_round_trip(false);
}
END_TEST

START_TEST(qr_terminal_ansi)
{
	terminal_round_trip(true);
}
END_TEST


/* The terminal drawing as a terminal shows it (tests/kit/term-render.h):
 * the captured bytes drawn in a dark theme (light default text on black)
 * and a light one (dark text on white), then read by zbar. With colours
 * both themes give the code back; plain, the dark theme does and the
 * light one shows a negative (zbar finds nothing; inverted, it reads). */
static int terminal_read(const char *text, size_t len, term_theme_t theme, bool invert, uint8_t *out, size_t cap,
			 size_t *out_len)
{
	char err[ERR_LEN];
	term_image_t img;
	int rv;

	ck_assert_msg(term_render(text, len, theme, 3, &img, err, sizeof(err)) == 0, "%s", err);
	if (invert)
		for (size_t i = 0; i < (size_t)img.width * (size_t)img.height; i++)
			img.grey[i] = (uint8_t)(255 - img.grey[i]);
	rv = term_qr_decode(&img, out, cap, out_len);
	term_image_free(&img);
	return rv;
}

START_TEST(qr_terminal_themes)
{
	uint8_t data[OFP_PRESENTATION_QR_P256], back[1024];
	char err[ERR_LEN], *text[2] = { NULL, NULL };
	size_t text_len[2] = { 0, 0 }, n = 0;
	ofp_qr_t qr;

	random_bytes(data, sizeof(data), 11);
	ck_assert_int_eq(ofp_qr_encode(data, sizeof(data), &qr, err, sizeof(err)), 0);
	for (int colour = 0; colour < 2; colour++) {
		FILE *f = open_memstream(&text[colour], &text_len[colour]);
		ck_assert_int_eq(ofp_qr_terminal(&qr, f, colour == 1), 0);
		ck_assert_int_eq(fclose(f), 0);
	}
	/* Colours: both themes read the code. */
	for (int theme = 0; theme < 2; theme++) {
		ck_assert_msg(terminal_read(text[1], text_len[1], (term_theme_t)theme, false, back, sizeof(back),
					    &n) == 0,
			      "colour drawing: no code in the %s theme", theme ? "light" : "dark");
		ck_assert_uint_eq(n, sizeof(data));
		ck_assert_mem_eq(back, data, sizeof(data));
	}
	/* Plain: right on a dark theme, a negative on a light one. */
	ck_assert_int_eq(terminal_read(text[0], text_len[0], TERM_THEME_DARK, false, back, sizeof(back), &n), 0);
	ck_assert_mem_eq(back, data, sizeof(data));
	ck_assert_int_eq(terminal_read(text[0], text_len[0], TERM_THEME_LIGHT, false, back, sizeof(back), &n), 1);
	ck_assert_int_eq(terminal_read(text[0], text_len[0], TERM_THEME_LIGHT, true, back, sizeof(back), &n), 0);
	ck_assert_mem_eq(back, data, sizeof(data));
	free(text[0]);
	free(text[1]);
	ofp_qr_free(&qr);
}
END_TEST

/* ==== refresh loop ================================================================== */

typedef struct frames {
	unsigned seen;
	int raise_at;	/* raise SIGINT inside this frame (-1: never) */
	int fail_at;	/* return 7 from this frame (-1: never) */
} frames_t;

static int frame(void *ctx, unsigned index)
{
	frames_t *f = ctx;

	ck_assert_uint_eq(index, f->seen);
	f->seen++;
	if ((int)index == f->raise_at)
		ck_assert_int_eq(raise(SIGINT), 0); /* blocked: taken after the frame */
	return (int)index == f->fail_at ? 7 : 0;
}

START_TEST(refresh_count_and_signals)
{
	frames_t f = { 0, -1, -1 };
	unsigned n = 0;
	bool interrupted = true;
	sigset_t mask;

	/* A bounded count: every frame drawn, one second apart. */
	time_t t = time(NULL);
	ck_assert_int_eq(ofp_refresh_run(1, 2, frame, &f, &n, &interrupted), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert(!interrupted);
	ck_assert_int_ge(time(NULL) - t, 1);
	/* SIGINT during a frame ends the loop after that frame, and does not
	 * kill the process (default action) or stay pending. */
	f = (frames_t){ 0, 0, -1 };
	ck_assert_int_eq(ofp_refresh_run(60, 0, frame, &f, &n, &interrupted), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert(interrupted);
	/* ... also during the last counted frame. */
	f = (frames_t){ 0, 0, -1 };
	ck_assert_int_eq(ofp_refresh_run(60, 1, frame, &f, &n, &interrupted), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert(interrupted);
	/* The signal mask is as it was. */
	ck_assert_int_eq(sigprocmask(SIG_BLOCK, NULL, &mask), 0);
	ck_assert_int_eq(sigismember(&mask, SIGINT), 0);
	/* A failing frame stops the loop with its value. */
	f = (frames_t){ 0, -1, 1 };
	ck_assert_int_eq(ofp_refresh_run(1, 0, frame, &f, &n, &interrupted), 7);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(f.seen, 2);
	ck_assert(!interrupted);
}
END_TEST

/* ==== token: keys, enrollment, credentials, presentations ========================= */

static ofp_p11_t *open_token(void)
{
	ofp_p11_open_args_t a = { .module = module, .token_label = LABEL, .read_write = true };
	char err[ERR_LEN] = "";
	ofp_p11_t *p = NULL;

	ck_assert_msg(ofp_p11_open(&a, &p, err, sizeof(err)) == 0, "open: %s", err);
	ck_assert_msg(ofp_p11_login(p, USER_PIN) == 0, "login: %s", ofp_p11_error(p));
	return p;
}

static void keygen(ofp_p11_t *p, unsigned alg, const char *label, ofp_p11_key_t *key)
{
	char err[ERR_LEN] = "";

	ck_assert_msg(ofp_holder_keygen(p, alg, label, key, err, sizeof(err)) == OFP_HOLDER_OK, "keygen: %s",
		      err);
}

static size_t key_form(const ofp_p11_key_t *key, uint8_t *out)
{
	char err[ERR_LEN];
	size_t len = 0;

	ck_assert_msg(ofp_holder_key_form(key, out, &len, err, sizeof(err)) == OFP_HOLDER_OK, "%s", err);
	return len;
}

/* The software test issuer: a credential for holder_key, signed. */
typedef struct cred_spec {
	uint32_t not_before, not_after;
	uint32_t per_op_max;
} cred_spec_t;

static size_t make_credential(const uint8_t *holder_key, size_t key_len, unsigned alg, const cred_spec_t *spec,
			      uint8_t *out, ofp_credential_t *cred)
{
	ofp_tk_key_t issuer;
	ofp_credential_t c;
	ofp_fmt_error_t fe;
	size_t len = 0;

	ck_assert(ofp_tk_key_derive(&issuer, "holder-test-issuer", OFP_ALG_P256));
	memset(&c, 0, sizeof(c));
	c.holder_alg = (uint8_t)alg;
	c.serial = 4242;
	memcpy(c.holder_id, "\x01\x23\x45\x67\x89\xab\xcd\xef", OFP_ID_LEN);
	memcpy(c.holder_key, holder_key, key_len);
	c.not_before = spec->not_before;
	c.not_after = spec->not_after;
	c.grant.resource_class = 1;
	c.grant.per_op_max = spec->per_op_max;
	c.grant.offline_total = 10 * spec->per_op_max;
	ck_assert_msg(ofp_tk_sign_credential(&c, &issuer, &fe) == OFP_FMT_OK, "%s", fe.reason);
	ck_assert_int_eq(ofp_credential_encode(&c, out, OFP_CREDENTIAL_MAX, &len, &fe), OFP_FMT_OK);
	if (cred != NULL)
		*cred = c;
	ofp_tk_key_free(&issuer);
	return len;
}

static const cred_spec_t good_spec = { T0 - 60, T0 + 86400, 500 };

/* Keygen and install a good credential: the start of most token tests. */
static ofp_p11_t *enrolled(unsigned alg, ofp_p11_key_t *key, uint8_t *cred, size_t *cred_len)
{
	ofp_p11_t *p = open_token();
	uint8_t form[OFP_HOLDER_KEY_MAX], buf[OFP_CREDENTIAL_MAX];
	char err[ERR_LEN] = "";
	size_t len;

	keygen(p, alg, OFP_HOLDER_KEY_LABEL, key);
	len = make_credential(form, key_form(key, form), alg, &good_spec, buf, NULL);
	ck_assert_msg(ofp_holder_install(p, key, buf, len, T0, NULL, err, sizeof(err)) == OFP_HOLDER_OK, "install: %s",
		      err);
	if (cred != NULL) {
		memcpy(cred, buf, len);
		*cred_len = len;
	}
	return p;
}

START_TEST(keygen_refuses_second_key)
{
	ofp_p11_t *p = open_token();
	ofp_p11_key_t key, again, found;
	char err[ERR_LEN] = "";

	keygen(p, OFP_ALG_P256, OFP_HOLDER_KEY_LABEL, &key);
	ck_assert_uint_eq(key.alg, OFP_ALG_P256);
	ck_assert_uint_eq(key.pub_len, 65);
	ck_assert_int_eq(ofp_holder_keygen(p, OFP_ALG_P256, OFP_HOLDER_KEY_LABEL, &again, err, sizeof(err)),
			 OFP_HOLDER_REFUSED);
	HAS(err, "already holds a key 'offpass-holder'");
	/* The first key is still the one found. */
	ck_assert_int_eq(ofp_p11_find_key(p, OFP_HOLDER_KEY_LABEL, NULL, 0, &found), 0);
	ck_assert_mem_eq(found.pub_raw, key.pub_raw, 65);
	ck_assert_int_eq(ofp_holder_keygen(p, 99, "other", &again, err, sizeof(err)), OFP_HOLDER_FAILED);
	/* The private key is sensitive and never extractable. */
	CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE;
	CK_ATTRIBUTE attrs[] = { { CKA_SENSITIVE, &sensitive, sizeof(sensitive) },
				 { CKA_EXTRACTABLE, &extractable, sizeof(extractable) } };
	ck_assert_int_eq(ofp_p11_functions(p)->C_GetAttributeValue(ofp_p11_session(p), key.priv, attrs, 2), CKR_OK);
	ck_assert_uint_eq(sensitive, CK_TRUE);
	ck_assert_uint_eq(extractable, CK_FALSE);
	ofp_p11_close(p);
}
END_TEST

static void check_enroll(unsigned alg)
{
	static const uint8_t hid[OFP_ID_LEN] = { 0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3 };
	ofp_p11_t *p = open_token();
	ofp_p11_key_t key;
	uint8_t req[OFP_ENROLLMENT_MAX], tbs[OFP_TBS_MAX], form[OFP_HOLDER_KEY_MAX];
	size_t len = 0, tbs_len = 0, form_len;
	char err[ERR_LEN] = "";
	ofp_enrollment_t e;
	ofp_fmt_error_t fe;

	keygen(p, alg, OFP_HOLDER_KEY_LABEL, &key);
	form_len = key_form(&key, form);
	ck_assert_msg(ofp_holder_enroll(p, &key, hid, ofp_tk_enroll_code, T0, req, &len, err, sizeof(err)) ==
			      OFP_HOLDER_OK,
		      "%s", err);
	ck_assert_uint_eq(len, alg == OFP_ALG_P256 ? 143 : 142);
	ck_assert_int_eq(ofp_enrollment_decode(req, len, &e, &fe), OFP_FMT_OK);
	ck_assert_uint_eq(e.holder_alg, alg);
	ck_assert_mem_eq(e.holder_id, hid, OFP_ID_LEN);
	ck_assert_mem_eq(e.holder_key, form, form_len);
	ck_assert_uint_eq(e.time, T0);
	/* OpenSSL accepts the proof of possession, and only for this message. */
	ck_assert_int_eq(ofp_enrollment_tbs(&e, tbs, sizeof(tbs), &tbs_len, &fe), OFP_FMT_OK);
	ck_assert(ofp_tk_verify(alg, form, form_len, tbs, tbs_len, e.holder_sig));
	if (alg == OFP_ALG_P256)
		ck_assert(ofp_tk_verify(alg, key.pub_raw, key.pub_len, tbs, tbs_len, e.holder_sig));
	tbs[tbs_len - 1] ^= 1;
	ck_assert(!ofp_tk_verify(alg, form, form_len, tbs, tbs_len, e.holder_sig));
	/* The code MAC is the code's, and a refresh request carries none. */
	ck_assert(ofp_tk_enroll_code_verifies(&e));
	ck_assert_msg(ofp_holder_enroll(p, &key, hid, NULL, T0, req, &len, err, sizeof(err)) == OFP_HOLDER_OK, "%s",
		      err);
	ck_assert_int_eq(ofp_enrollment_decode(req, len, &e, &fe), OFP_FMT_OK);
	for (size_t i = 0; i < OFP_HASH_LEN; i++)
		ck_assert_uint_eq(e.code_mac[i], 0);
	ofp_p11_close(p);
}

START_TEST(enroll_p256_verifies)
{
	check_enroll(OFP_ALG_P256);
}
END_TEST

START_TEST(enroll_ed25519_verifies)
{
	check_enroll(OFP_ALG_ED25519);
}
END_TEST

/* The credential on the token, read back raw. */
static size_t stored(ofp_p11_t *p, uint8_t *out)
{
	uint8_t *val = NULL;
	size_t len = 0;

	ck_assert_int_eq(ofp_p11_data_read(p, OFP_HOLDER_CREDENTIAL_LABEL, 4096, &val, &len), 0);
	memcpy(out, val, len);
	free(val);
	return len;
}

START_TEST(install_checks)
{
	ofp_p11_key_t key, other;
	uint8_t good[OFP_CREDENTIAL_MAX], bad[OFP_CREDENTIAL_MAX + 1], back[4096];
	size_t good_len = 0, len;
	char err[ERR_LEN];
	ofp_p11_t *p = enrolled(OFP_ALG_P256, &key, good, &good_len);
	ofp_credential_t c;
	uint8_t form[OFP_HOLDER_KEY_MAX];

	ck_assert_uint_eq(good_len, 137);
	ck_assert_uint_eq(stored(p, back), good_len);
	ck_assert_mem_eq(back, good, good_len);
	ck_assert_int_eq(ofp_holder_credential(p, &key, &c, err, sizeof(err)), OFP_HOLDER_OK);
	ck_assert_uint_eq(c.serial, 4242);

	/* A credential for another key (a second key on the same token). */
	keygen(p, OFP_ALG_P256, "someone else", &other);
	len = make_credential(form, key_form(&other, form), OFP_ALG_P256, &good_spec, bad, NULL);
	ck_assert_int_eq(ofp_holder_install(p, &key, bad, len, T0, NULL, err, sizeof(err)), OFP_HOLDER_REFUSED);
	HAS(err, "issued for another key");
	/* The same public key under another algorithm id. */
	len = make_credential(form, key_form(&key, form) - 1, OFP_ALG_ED25519, &good_spec, bad, NULL);
	ck_assert_int_eq(ofp_holder_install(p, &key, bad, len, T0, NULL, err, sizeof(err)), OFP_HOLDER_REFUSED);
	/* Truncated, a trailing byte, oversized, empty. */
	for (size_t cut = 0; cut < good_len; cut += 17) {
		ck_assert_int_eq(ofp_holder_install(p, &key, good, cut, T0, NULL, err, sizeof(err)),
				 OFP_HOLDER_REFUSED);
	}
	ck_assert_int_eq(ofp_holder_install(p, &key, good, good_len - 1, T0, NULL, err, sizeof(err)),
			 OFP_HOLDER_REFUSED);
	HAS(err, "truncated");
	memcpy(bad, good, good_len);
	bad[good_len] = 0;
	ck_assert_int_eq(ofp_holder_install(p, &key, bad, good_len + 1, T0, NULL, err, sizeof(err)),
			 OFP_HOLDER_REFUSED);
	HAS(err, "trailing");
	/* Bit flips in the header: another version, another type. */
	for (unsigned bit = 0; bit < 8; bit++) {
		memcpy(bad, good, good_len);
		bad[0] ^= (uint8_t)(1u << bit);
		ck_assert_int_eq(ofp_holder_install(p, &key, bad, good_len, T0, NULL, err, sizeof(err)),
				 OFP_HOLDER_REFUSED);
		HAS(err, bit < 4 ? "version" : "type");
	}
	/* A flipped bit in the holder key: not for this key any more. */
	memcpy(bad, good, good_len);
	bad[40] ^= 0x10;
	ck_assert_int_eq(ofp_holder_install(p, &key, bad, good_len, T0, NULL, err, sizeof(err)), OFP_HOLDER_REFUSED);
	/* Expired. */
	cred_spec_t old = { T0 - 7200, T0 - 3600, 500 };
	len = make_credential(form, key_form(&key, form), OFP_ALG_P256, &old, bad, NULL);
	ck_assert_int_eq(ofp_holder_install(p, &key, bad, len, T0, NULL, err, sizeof(err)), OFP_HOLDER_REFUSED);
	HAS(err, "expired");
	/* After every refusal the token still holds the good credential. */
	ck_assert_uint_eq(stored(p, back), good_len);
	ck_assert_mem_eq(back, good, good_len);
	/* Not yet valid is installed (the issuer's clock may be ahead). */
	cred_spec_t later = { T0 + 600, T0 + 7200, 500 };
	len = make_credential(form, key_form(&key, form), OFP_ALG_P256, &later, bad, NULL);
	ck_assert_int_eq(ofp_holder_install(p, &key, bad, len, T0, NULL, err, sizeof(err)), OFP_HOLDER_OK);
	ck_assert_uint_eq(stored(p, back), len);
	ck_assert_mem_eq(back, bad, len);
	ofp_p11_close(p);
}
END_TEST

START_TEST(credential_stored_for_other_key)
{
	ofp_p11_key_t key, other;
	ofp_p11_t *p = enrolled(OFP_ALG_P256, &key, NULL, NULL);
	ofp_credential_t c;
	char err[ERR_LEN];

	keygen(p, OFP_ALG_ED25519, "second", &other);
	ck_assert_int_eq(ofp_holder_credential(p, &other, &c, err, sizeof(err)), OFP_HOLDER_REFUSED);
	HAS(err, "another key");
	/* A corrupt object on the token is an error, not a credential. */
	ck_assert_int_eq(ofp_p11_data_write(p, OFP_HOLDER_CREDENTIAL_LABEL, (const uint8_t *)"\x11junk", 5), 0);
	ck_assert_int_eq(ofp_holder_credential(p, &key, &c, err, sizeof(err)), OFP_HOLDER_FAILED);
	HAS(err, "corrupt");
	ofp_p11_close(p);
}
END_TEST

static ofp_present_args_t args_at(uint32_t now, uint32_t amount)
{
	ofp_present_args_t a = { .dir = state, .now = now, .amount = amount };
	return a;
}

/* A presentation decodes, and OpenSSL accepts its holder signature with
 * the credential's key over the authorization message. */
static void check_presentation(const uint8_t *pres, size_t len, const ofp_present_args_t *a,
			       ofp_presentation_t *out)
{
	ofp_presentation_t pr;
	ofp_fmt_error_t fe;
	uint8_t tbs[OFP_TBS_MAX];
	size_t tbs_len = 0;

	ck_assert_int_eq(ofp_presentation_decode(pres, len, &pr, &fe), OFP_FMT_OK);
	ck_assert_uint_eq(pr.auth.time, a->now);
	ck_assert_uint_eq(pr.auth.amount, a->amount);
	ck_assert_uint_eq(pr.auth.challenge_len, a->challenge_len);
	ck_assert_int_eq(ofp_authorization_tbs(&pr.cred, &pr.auth, tbs, sizeof(tbs), &tbs_len, &fe), OFP_FMT_OK);
	ck_assert_msg(ofp_tk_verify(pr.cred.holder_alg, pr.cred.holder_key, ofp_holder_key_len(pr.cred.holder_alg),
				    tbs, tbs_len, pr.auth.holder_sig),
		      "holder signature does not verify");
	/* Bound to the amount: another amount does not verify. */
	pr.auth.amount ^= 1;
	ck_assert_int_eq(ofp_authorization_tbs(&pr.cred, &pr.auth, tbs, sizeof(tbs), &tbs_len, &fe), OFP_FMT_OK);
	ck_assert(!ofp_tk_verify(pr.cred.holder_alg, pr.cred.holder_key, ofp_holder_key_len(pr.cred.holder_alg), tbs,
				 tbs_len, pr.auth.holder_sig));
	pr.auth.amount ^= 1;
	if (out != NULL)
		*out = pr;
}

static void check_present(unsigned alg)
{
	ofp_p11_key_t key;
	uint8_t cred[OFP_CREDENTIAL_MAX], pres[OFP_PRESENTATION_MAX];
	size_t cred_len = 0, len = 0;
	char err[ERR_LEN] = "";
	ofp_p11_t *p = enrolled(alg, &key, cred, &cred_len);
	ofp_presentation_t pr, pr2;
	ofp_present_args_t a = args_at(T0, 250);
	ofp_qr_t qr;

	ck_assert_msg(ofp_holder_present(p, &key, &a, pres, &len, NULL, err, sizeof(err)) == OFP_HOLDER_OK, "%s",
		      err);
	printf("present (%s): %zu bytes\n", ofp_holder_alg_name(alg), len);
	ck_assert_uint_eq(len, alg == OFP_ALG_P256 ? 213 : 212);
	ck_assert_uint_le(len, OFP_PRESENTATION_QR_P256);
	ck_assert_uint_eq(pres[0], 0x21);
	check_presentation(pres, len, &a, &pr);
	ck_assert_uint_eq(pr.auth.counter, T0); /* the first use of the key */
	/* The credential inside is the installed one, byte for byte. */
	ck_assert_mem_eq(pres + 1, cred + 1, cred_len - 1);

	/* Next one: the counter goes up, the time follows --now. */
	a.now = T0 + 5;
	ck_assert_int_eq(ofp_holder_present(p, &key, &a, pres, &len, &pr2, err, sizeof(err)), OFP_HOLDER_OK);
	check_presentation(pres, len, &a, NULL);
	ck_assert_uint_eq(pr2.auth.counter, T0 + 1);

	/* And the QR code of it reads back to the same bytes. */
	ck_assert_int_eq(ofp_qr_encode(pres, len, &qr, err, sizeof(err)), 0);
	ck_assert_int_le(qr.version, 10);
	png_round_trip(&qr, pres, len);
	ofp_qr_free(&qr);

	/* With a challenge: type 3, the challenge signed. */
	static const uint8_t ch[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
					17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
	a.challenge = ch;
	a.challenge_len = sizeof(ch);
	ck_assert_int_eq(ofp_holder_present(p, &key, &a, pres, &len, &pr2, err, sizeof(err)), OFP_HOLDER_OK);
	ck_assert_uint_eq(pres[0], 0x31);
	ck_assert_uint_eq(len, (alg == OFP_ALG_P256 ? 214 : 213) + sizeof(ch));
	check_presentation(pres, len, &a, &pr2);
	ck_assert_mem_eq(pr2.auth.challenge, ch, sizeof(ch));
	ck_assert_uint_eq(pr2.auth.counter, T0 + 2);
	ofp_p11_close(p);
}

START_TEST(present_p256)
{
	check_present(OFP_ALG_P256);
}
END_TEST

START_TEST(present_ed25519)
{
	check_present(OFP_ALG_ED25519);
}
END_TEST

/* Refusals spend no counter. */
START_TEST(present_refusals)
{
	ofp_p11_key_t key;
	uint8_t pres[OFP_PRESENTATION_MAX], form[OFP_HOLDER_KEY_MAX];
	size_t len = 0, form_len;
	char err[ERR_LEN] = "";
	ofp_p11_t *p = open_token();
	ofp_present_args_t a = args_at(T0, 100);
	uint32_t last;
	static const uint8_t ch[33];

	keygen(p, OFP_ALG_P256, OFP_HOLDER_KEY_LABEL, &key);
	form_len = key_form(&key, form);
	ck_assert_int_eq(ofp_holder_present(p, &key, &a, pres, &len, NULL, err, sizeof(err)), OFP_HOLDER_REFUSED);
	HAS(err, "no credential");
	ck_assert_int_eq(ofp_holder_install(p, &key, pres,
					    make_credential(form, form_len, OFP_ALG_P256, &good_spec, pres, NULL), T0,
					    NULL, err, sizeof(err)),
			 OFP_HOLDER_OK);
	a.amount = 501;
	ck_assert_int_eq(ofp_holder_present(p, &key, &a, pres, &len, NULL, err, sizeof(err)), OFP_HOLDER_REFUSED);
	HAS(err, "over the credential's per-operation maximum 500");
	a.amount = 500;
	a.now = good_spec.not_after;
	ck_assert_int_eq(ofp_holder_present(p, &key, &a, pres, &len, NULL, err, sizeof(err)), OFP_HOLDER_REFUSED);
	HAS(err, "expired");
	a.now = T0;
	a.challenge = ch;
	a.challenge_len = sizeof(ch);
	ck_assert_int_eq(ofp_holder_present(p, &key, &a, pres, &len, NULL, err, sizeof(err)), OFP_HOLDER_FAILED);
	HAS(err, "challenge");
	ck_assert_int_eq(ofp_counter_last(state, form, form_len, &last, err, sizeof(err)), 1);
	/* A corrupt counter file stops present before the token signs. */
	char path[256];
	ck_assert_int_eq(ofp_counter_path(state, form, form_len, path, sizeof(path), err, sizeof(err)), 0);
	ck_assert_int_eq(mkdir(state, 0700), 0);
	write_file(path, "offpass-holder-counter v1 x\n");
	a.challenge_len = 0;
	ck_assert_int_eq(ofp_holder_present(p, &key, &a, pres, &len, NULL, err, sizeof(err)), OFP_HOLDER_FAILED);
	HAS(err, "corrupt");
	ofp_p11_close(p);
}
END_TEST

START_TEST(status_report)
{
	ofp_p11_key_t key;
	char err[ERR_LEN], *text = NULL;
	size_t text_len = 0, len;
	ofp_p11_t *p = enrolled(OFP_ALG_P256, &key, NULL, NULL);
	ofp_holder_status_t *st = calloc(1, sizeof(*st));
	ofp_present_args_t a = args_at(T0, 10);
	uint8_t pres[OFP_PRESENTATION_MAX];

	ck_assert_int_eq(ofp_holder_status(p, &key, state, st, err, sizeof(err)), OFP_HOLDER_OK);
	ck_assert(st->has_credential && st->credential_for_key && !st->has_counter);
	ck_assert_int_eq(ofp_holder_present(p, &key, &a, pres, &len, NULL, err, sizeof(err)), OFP_HOLDER_OK);
	ck_assert_int_eq(ofp_holder_status(p, &key, state, st, err, sizeof(err)), OFP_HOLDER_OK);
	ck_assert(st->has_counter);
	ck_assert_uint_eq(st->counter, T0);
	FILE *f = open_memstream(&text, &text_len);
	ofp_holder_status_print(f, st, T0 + 3600);
	fclose(f);
	HAS(text, "token:      " LABEL);
	HAS(text, "key:        P-256 0");
	HAS(text, "serial 4242, holder 0123456789abcdef");
	HAS(text, "valid for 23 h 0 min (2023-11-14 22:12:20 UTC to 2023-11-15 22:13:20 UTC)");
	HAS(text, "up to 500 per operation, 5000 in total offline");
	HAS(text, "counter:    1700000000 last used");
	free(text);
	/* Validity wording at both ends. */
	char v[64];
	ofp_holder_validity_text(&st->credential, T0 - 3600, v, sizeof(v));
	ck_assert_str_eq(v, "not yet valid (in 59 min)");
	ofp_holder_validity_text(&st->credential, T0 + 86400 + 7260, v, sizeof(v));
	ck_assert_str_eq(v, "expired 2 h 1 min ago");
	ofp_holder_validity_text(&st->credential, T0 + 86400 - 30, v, sizeof(v));
	ck_assert_str_eq(v, "valid for 30 s");
	ck_assert_int_eq(ofp_holder_validity(&st->credential, T0 + 86400), OFP_VALIDITY_EXPIRED);
	free(st);
	ofp_p11_close(p);
}
END_TEST



/* A token key that is an Ed25519 point of small order (imported, not
 * generated: a token never makes one) is refused before it is used. */
START_TEST(small_order_token_key_refused)
{
	static const CK_BYTE ed25519_oid[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
	CK_BYTE point[34] = { 0x04, 0x20, 0x01 }; /* OCTET STRING: y = 1, the identity */
	CK_OBJECT_CLASS klass = CKO_PUBLIC_KEY;
	CK_KEY_TYPE type = CKK_EC_EDWARDS;
	CK_BBOOL yes = CK_TRUE;
	CK_BYTE id[] = { 0x51 };
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &klass, sizeof(klass) },	     { CKA_KEY_TYPE, &type, sizeof(type) },
		{ CKA_TOKEN, &yes, sizeof(yes) },	     { CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)"small order", 11 }, { CKA_ID, id, sizeof(id) },
		{ CKA_EC_PARAMS, (void *)ed25519_oid, sizeof(ed25519_oid) },
		{ CKA_EC_POINT, point, sizeof(point) },
	};
	uint8_t form[OFP_HOLDER_KEY_MAX], req[OFP_ENROLLMENT_MAX];
	char err[ERR_LEN] = "";
	CK_OBJECT_HANDLE h;
	ofp_p11_key_t key;
	size_t len = 0;
	ofp_p11_t *p = open_token();

	ck_assert_int_eq(ofp_p11_functions(p)->C_CreateObject(ofp_p11_session(p), t, OFP_ARRAY_LEN(t), &h), CKR_OK);
	ck_assert_msg(ofp_p11_find_key(p, "small order", NULL, 0, &key) == 0, "%s", ofp_p11_error(p));
	ck_assert_uint_eq(key.alg, OFP_ALG_ED25519);
	ck_assert_int_eq(ofp_holder_key_form(&key, form, &len, err, sizeof(err)), OFP_HOLDER_REFUSED);
	HAS(err, "small-order");
	ck_assert_int_ne(ofp_holder_enroll(p, &key, (const uint8_t *)"HOLDER03", ofp_tk_enroll_code, T0, req, &len, err,
					   sizeof(err)),
			 OFP_HOLDER_OK);
	HAS(err, "small-order");
	ofp_p11_close(p);
}
END_TEST

/* ==== the counter lives with the key (issue 7 item 7c) =============================== */

static uint32_t reserve_in(ofp_p11_t *p, const ofp_p11_key_t *key, const char *d, ofp_counter_kind_t *kind)
{
	char err[ERR_LEN] = "";
	ofp_counter_kind_t k;
	uint32_t v = 0;

	ck_assert_msg(ofp_counter_reserve(p, key, d, T0, &v, &k, err, sizeof(err)) == 0, "reserve in %s: %s", d,
		      err);
	if (kind != NULL)
		*kind = k;
	return v;
}

static void assert_distinct(const uint32_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			ck_assert_msg(v[i] != v[j], "counter %u handed out twice (#%zu and #%zu)", v[i], j, i);
}

/* One token, two state directories, 100 presentations alternating: no
 * counter twice (the file-only counter repeated 50 of 100), and one
 * counter object left on the token. A third, fresh directory goes on
 * above them all. */
START_TEST(counter_on_token_two_dirs)
{
	char a_dir[192], b_dir[192], c_dir[192];
	uint8_t pres[OFP_PRESENTATION_MAX];
	uint32_t got[100], max = 0;
	ofp_p11_data_t objs[8];
	ofp_p11_key_t key;
	ofp_counter_kind_t kind;
	char err[ERR_LEN] = "", label[64];
	size_t len = 0, n = 0;
	ofp_p11_t *p = enrolled(OFP_ALG_P256, &key, NULL, NULL);

	snprintf(a_dir, sizeof(a_dir), "%s/place-a", dir);
	snprintf(b_dir, sizeof(b_dir), "%s/place-b", dir);
	snprintf(c_dir, sizeof(c_dir), "%s/place-c", dir);
	for (int i = 0; i < 100; i++) {
		ofp_present_args_t a = args_at(T0, 1);
		ofp_presentation_t pr;

		a.dir = i % 2 == 0 ? a_dir : b_dir;
		ck_assert_msg(ofp_holder_present(p, &key, &a, pres, &len, &pr, err, sizeof(err)) == OFP_HOLDER_OK,
			      "present %d: %s", i, err);
		got[i] = pr.auth.counter;
		if (got[i] > max)
			max = got[i];
	}
	assert_distinct(got, 100);
	ck_assert_uint_eq(got[0], T0);
	ck_assert_uint_eq(max, T0 + 99);
	ck_assert_uint_eq(reserve_in(p, &key, c_dir, &kind), T0 + 100);
	ck_assert_int_eq(kind, OFP_COUNTER_ON_TOKEN);
	snprintf(label, sizeof(label), "offpass counter id ");
	for (size_t i = 0; i < key.id_len; i++)
		snprintf(label + strlen(label), sizeof(label) - strlen(label), "%02x", key.id[i]);
	ck_assert_int_eq(ofp_p11_data_list(p, label, objs, OFP_ARRAY_LEN(objs), &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(objs[0].len, 16);
	ck_assert_mem_eq(objs[0].value, "ofc1", 4);
	ck_assert_uint_eq(objs[0].value[15], (T0 + 100) & 0xff);
	ofp_p11_close(p);
}
END_TEST

/* Two processes at once, each with its own session and state directory. */
START_TEST(counter_on_token_two_processes)
{
	enum { PER_CHILD = 25 };
	uint32_t got[2 * PER_CHILD];
	int fds[2][2];
	pid_t pid[2];
	ofp_p11_key_t key;
	ofp_p11_t *p = enrolled(OFP_ALG_ED25519, &key, NULL, NULL);

	ofp_p11_close(p); /* the children load the module afresh */
	for (int c = 0; c < 2; c++) {
		ck_assert_int_eq(pipe(fds[c]), 0);
		pid[c] = fork();
		ck_assert_int_ne(pid[c], -1);
		if (pid[c] == 0) {
			char d[192], err[ERR_LEN];
			ofp_p11_open_args_t oa = { .module = module, .token_label = LABEL, .read_write = true };
			ofp_p11_key_t k;
			ofp_counter_kind_t kind;

			close(fds[c][0]);
			snprintf(d, sizeof(d), "%s/proc-%d", dir, c);
			/* SoftHSM2 2.6 may see no token while another process
			 * writes its files (SoftHSMv2 issue #757): open again. */
			int tries = 0;
			while (ofp_p11_open(&oa, &p, err, sizeof(err)) != 0) {
				if (++tries == 50) {
					fprintf(stderr, "child %d: open: %s\n", c, err);
					_exit(2);
				}
				usleep(20000);
			}
			if (ofp_p11_login(p, USER_PIN) != 0 || ofp_p11_find_key(p, OFP_HOLDER_KEY_LABEL, NULL, 0, &k) != 0) {
				fprintf(stderr, "child %d: %s\n", c, ofp_p11_error(p));
				_exit(2);
			}
			for (int i = 0; i < PER_CHILD; i++) {
				uint32_t v;
				if (ofp_counter_reserve(p, &k, d, T0, &v, &kind, err, sizeof(err)) != 0 ||
				    kind != OFP_COUNTER_ON_TOKEN || write(fds[c][1], &v, sizeof(v)) != (ssize_t)sizeof(v)) {
					fprintf(stderr, "child %d: %s\n", c, err);
					_exit(1);
				}
			}
			ofp_p11_close(p);
			_exit(0);
		}
		close(fds[c][1]);
	}
	for (int c = 0; c < 2; c++) {
		size_t want = PER_CHILD * sizeof(uint32_t), have = 0;
		while (have < want) {
			ssize_t n = read(fds[c][0], (uint8_t *)&got[c * PER_CHILD] + have, want - have);
			ck_assert_int_gt(n, 0);
			have += (size_t)n;
		}
		int status;
		ck_assert_int_eq(waitpid(pid[c], &status, 0), pid[c]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		close(fds[c][0]);
	}
	assert_distinct(got, 2 * PER_CHILD);
}
END_TEST

/* An object under the counter's label that is not this key's counter is
 * refused, not overwritten or guessed around. */
START_TEST(counter_foreign_object_refused)
{
	ofp_p11_key_t key;
	char err[ERR_LEN] = "", label[64];
	uint8_t junk[16] = "ofc1-other-key!";
	CK_OBJECT_HANDLE h;
	CK_RV ck;
	uint32_t v = 0;
	ofp_counter_kind_t kind;
	ofp_p11_t *p = enrolled(OFP_ALG_P256, &key, NULL, NULL);

	snprintf(label, sizeof(label), "offpass counter id ");
	for (size_t i = 0; i < key.id_len; i++)
		snprintf(label + strlen(label), sizeof(label) - strlen(label), "%02x", key.id[i]);
	ck_assert_int_eq(ofp_p11_data_add(p, label, junk, sizeof(junk), &h, &ck), 0);
	ck_assert_int_eq(ofp_counter_reserve(p, &key, state, T0, &v, &kind, err, sizeof(err)), -1);
	HAS(err, "is not this key's counter");
	ck_assert_int_eq(ofp_p11_data_remove(p, h), 0);
	ck_assert_uint_eq(reserve_in(p, &key, state, NULL), T0);
	ofp_p11_close(p);
}
END_TEST

/* A token that keeps no data objects of ours (here: a read-only session,
 * as a write-protected PIV card gives): the derived counter, values of
 * this place's class, increasing, never below the time. */
START_TEST(counter_derived_without_data_objects)
{
	ofp_p11_open_args_t oa = { .module = module, .token_label = LABEL, .read_write = false };
	char err[ERR_LEN] = "", a_dir[192], b_dir[192];
	ofp_counter_kind_t kind;
	ofp_p11_key_t key;
	uint32_t a1, a2, b1;
	ofp_p11_t *p = enrolled(OFP_ALG_P256, &key, NULL, NULL);

	ofp_p11_close(p);
	ck_assert_msg(ofp_p11_open(&oa, &p, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(ofp_p11_login(p, USER_PIN), 0);
	ck_assert_int_eq(ofp_p11_find_key(p, OFP_HOLDER_KEY_LABEL, NULL, 0, &key), 0);
	snprintf(a_dir, sizeof(a_dir), "%s/place-a", dir);
	snprintf(b_dir, sizeof(b_dir), "%s/place-b", dir);
	a1 = reserve_in(p, &key, a_dir, &kind);
	ck_assert_int_eq(kind, OFP_COUNTER_DERIVED);
	a2 = reserve_in(p, &key, a_dir, &kind);
	b1 = reserve_in(p, &key, b_dir, &kind);
	ck_assert_uint_ge(a1, T0);
	ck_assert_uint_lt(a1, T0 + 64);
	ck_assert_uint_eq(a2, a1 + 64); /* the same class, the next value */
	ck_assert_uint_ge(b1, T0);
	ck_assert_uint_eq(a1 % 64 == b1 % 64, a1 == b1); /* distinct classes never meet */
	ofp_p11_close(p);
}
END_TEST

/* ==== suite ========================================================================= */

static void add_token_tests(Suite *s, const char *name, void (*setup)(void))
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, remove_dir);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, keygen_refuses_second_key);
	tcase_add_test(tc, enroll_p256_verifies);
	tcase_add_test(tc, enroll_ed25519_verifies);
	tcase_add_test(tc, install_checks);
	tcase_add_test(tc, credential_stored_for_other_key);
	tcase_add_test(tc, present_p256);
	tcase_add_test(tc, present_ed25519);
	tcase_add_test(tc, present_refusals);
	tcase_add_test(tc, status_report);
	tcase_add_test(tc, small_order_token_key_refused);
	tcase_add_test(tc, counter_on_token_two_dirs);
	tcase_add_test(tc, counter_on_token_two_processes);
	tcase_add_test(tc, counter_foreign_object_refused);
	tcase_add_test(tc, counter_derived_without_data_objects);
	suite_add_tcase(s, tc);
}

/* ==== the pinned trust list ========================================================= */

/* A trust list of version v, one credential-signing entry per key in
 * keys, signed by signer. */
static size_t make_trust(uint64_t version, const ofp_tk_key_t *signer, const ofp_tk_key_t *const *keys, unsigned n,
			 uint8_t *out)
{
	ofp_trust_list_t t;
	ofp_fmt_error_t fe;
	size_t len = 0;

	memset(&t, 0, sizeof(t));
	t.version = version;
	t.issued_at = T0 - 60;
	t.count = (uint8_t)n;
	for (unsigned i = 0; i < n; i++)
		ofp_tk_trust_entry(&t.entries[i], keys[i], OFP_USAGE_CREDENTIAL_SIGNING, T0 - 86400, T0 + 86400 * 365);
	ck_assert_msg(ofp_tk_sign_trust_list(&t, signer, &fe) == OFP_FMT_OK, "%s", fe.reason);
	ck_assert_int_eq(ofp_trust_list_encode(&t, out, OFP_TRUST_LIST_MAX, &len, &fe), OFP_FMT_OK);
	return len;
}

static void signed_by(ofp_credential_t *c, const ofp_p11_key_t *holder, const ofp_tk_key_t *issuer)
{
	ofp_fmt_error_t fe;
	size_t len = 0;

	memset(c, 0, sizeof(*c));
	c->holder_alg = OFP_ALG_P256;
	c->serial = 9;
	memcpy(c->holder_id, "\x01\x23\x45\x67\x89\xab\xcd\xef", OFP_ID_LEN);
	ck_assert_int_eq(ofp_holder_key_form(holder, c->holder_key, &len, NULL, 0), OFP_HOLDER_OK);
	c->not_before = T0 - 60;
	c->not_after = T0 + 86400;
	c->grant.resource_class = 1;
	c->grant.per_op_max = 100;
	c->grant.offline_total = 1000;
	ck_assert_msg(ofp_tk_sign_credential(c, issuer, &fe) == OFP_FMT_OK, "%s", fe.reason);
}

/* The holder's pin follows the gates' rule: the first list anchors, a
 * newer one must be signed by a key of the pinned one, an older one never
 * replaces it; a credential is taken only when a pinned key signed it. */
START_TEST(trust_pin_and_check)
{
	ofp_tk_key_t a, b, rogue, hk;
	const ofp_tk_key_t *ka[] = { &a }, *kab[] = { &a, &b }, *kr[] = { &rogue };
	uint8_t list[OFP_TRUST_LIST_MAX], pinned[OFP_TRUST_LIST_MAX], back[4096];
	char err[ERR_LEN] = "", path[4096];
	ofp_p11_key_t holder;
	ofp_credential_t c;
	ofp_trust_set_t t;
	uint64_t version;
	size_t n, pinned_len;
	bool changed;
	FILE *f;

	ck_assert(ofp_tk_key_derive(&a, "issuer key a", OFP_ALG_P256));
	ck_assert(ofp_tk_key_derive(&b, "issuer key b", OFP_ALG_P256));
	ck_assert(ofp_tk_key_derive(&rogue, "rogue issuer", OFP_ALG_P256));
	ck_assert(ofp_tk_key_derive(&hk, "the holder", OFP_ALG_P256));
	memset(&holder, 0, sizeof(holder));
	holder.alg = OFP_ALG_P256;
	holder.pub_len = 65;
	memcpy(holder.pub_raw, hk.pub, 65);

	/* Nothing pinned: no credential can be checked. */
	signed_by(&c, &holder, &a);
	ck_assert_int_eq(ofp_holder_trust_pinned(state, &holder, &t, err, sizeof(err)), 1);
	ck_assert_int_eq(ofp_holder_check_issued(state, &holder, &c, T0, err, sizeof(err)), OFP_HOLDER_REFUSED);
	HAS(err, "no issuer trust list is pinned");
	/* An anchor must sign itself. */
	n = make_trust(1, &rogue, ka, 1, list);
	ck_assert_int_eq(ofp_holder_trust_pin(state, &holder, list, n, T0, &version, &changed, err, sizeof(err)),
			 OFP_HOLDER_REFUSED);
	HAS(err, "signer_key_id");
	pinned_len = make_trust(1, &a, ka, 1, pinned);
	ck_assert_msg(ofp_holder_trust_pin(state, &holder, pinned, pinned_len, T0, &version, &changed, err,
					   sizeof(err)) == OFP_HOLDER_OK, "%s", err);
	ck_assert(changed);
	ck_assert_uint_eq(version, 1);
	ck_assert_int_eq(ofp_holder_check_issued(state, &holder, &c, T0, err, sizeof(err)), OFP_HOLDER_OK);
	/* Signed by a key the pin does not hold; a forged signature. */
	signed_by(&c, &holder, &rogue);
	ck_assert_int_eq(ofp_holder_check_issued(state, &holder, &c, T0, err, sizeof(err)), OFP_HOLDER_REFUSED);
	HAS(err, "credential.issuer_key_id");
	signed_by(&c, &holder, &a);
	c.not_after++;
	ck_assert_int_eq(ofp_holder_check_issued(state, &holder, &c, T0, err, sizeof(err)), OFP_HOLDER_REFUSED);
	HAS(err, "credential.issuer_signature");
	/* Expired. */
	signed_by(&c, &holder, &a);
	ck_assert_int_eq(ofp_holder_check_issued(state, &holder, &c, T0 + 2 * 86400, err, sizeof(err)),
			 OFP_HOLDER_REFUSED);
	HAS(err, "expired");
	/* A newer list of the rogue key, signed by itself: refused, pin kept. */
	n = make_trust(2, &rogue, kr, 1, list);
	ck_assert_int_eq(ofp_holder_trust_pin(state, &holder, list, n, T0, &version, &changed, err, sizeof(err)),
			 OFP_HOLDER_REFUSED);
	HAS(err, "installed trust list");
	ck_assert(!changed);
	ck_assert_int_eq(ofp_holder_state_path(state, "trust", &holder, path, sizeof(path), err, sizeof(err)),
			 OFP_HOLDER_OK);
	f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fread(back, 1, sizeof(back), f), pinned_len);
	fclose(f);
	ck_assert_mem_eq(back, pinned, pinned_len);
	/* A rollover: version 2 with a and b, signed by a; then b's credentials. */
	n = make_trust(2, &a, kab, 2, list);
	ck_assert_msg(ofp_holder_trust_pin(state, &holder, list, n, T0, &version, &changed, err, sizeof(err)) ==
			      OFP_HOLDER_OK, "%s", err);
	ck_assert(changed);
	ck_assert_uint_eq(version, 2);
	signed_by(&c, &holder, &b);
	ck_assert_int_eq(ofp_holder_check_issued(state, &holder, &c, T0, err, sizeof(err)), OFP_HOLDER_OK);
	/* The old version 1 again: left aside, version 2 stays. */
	ck_assert_int_eq(ofp_holder_trust_pin(state, &holder, pinned, pinned_len, T0, &version, &changed, err,
					     sizeof(err)), OFP_HOLDER_OK);
	ck_assert(!changed);
	ck_assert_uint_eq(version, 2);
	/* A damaged pin is an error, not "nothing pinned". */
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	fputs("garbage", f);
	fclose(f);
	ck_assert_int_eq(ofp_holder_check_issued(state, &holder, &c, T0, err, sizeof(err)), OFP_HOLDER_FAILED);
	HAS(err, "damaged");
	ofp_tk_key_free(&a);
	ofp_tk_key_free(&b);
	ofp_tk_key_free(&rogue);
	ofp_tk_key_free(&hk);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("holder");
	TCase *tc;
	SRunner *sr;
	int failed;

	tc = tcase_create("counter");
	tcase_add_checked_fixture(tc, setup_plain, remove_dir);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, counter_monotonic_and_persisted);
	tcase_add_test(tc, counter_two_processes);
	tcase_add_test(tc, counter_corrupt_refused);
	tcase_add_test(tc, counter_state_dir);
	suite_add_tcase(s, tc);

	tc = tcase_create("qr");
	tcase_add_checked_fixture(tc, setup_plain, remove_dir);
	tcase_add_test(tc, qr_presentation_sizes);
	tcase_add_test(tc, qr_too_long);
	tcase_add_test(tc, qr_svg);
	tcase_add_test(tc, qr_terminal_plain);
	tcase_add_test(tc, qr_terminal_ansi);
	tcase_add_test(tc, qr_terminal_themes);
	suite_add_tcase(s, tc);

	tc = tcase_create("refresh");
	tcase_add_test(tc, refresh_count_and_signals);
	suite_add_tcase(s, tc);

	tc = tcase_create("trust");
	tcase_add_checked_fixture(tc, setup_plain, remove_dir);
	tcase_add_test(tc, trust_pin_and_check);
	suite_add_tcase(s, tc);

	if (getenv("OFFPASS_P11_MODULE") != NULL && getenv("OFFPASS_P11_MODULE")[0] != '\0')
		add_token_tests(s, "offpass-p11", setup_offpass);
	else
		printf("SKIP: the offpass-p11 token cases (OFFPASS_P11_MODULE is not set)\n");
	if (access(SOFTHSM_LIB, R_OK) == 0)
		add_token_tests(s, "softhsm2", setup_softhsm);
	else
		printf("SKIP: the SoftHSM2 token cases (%s not installed)\n", SOFTHSM_LIB);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
