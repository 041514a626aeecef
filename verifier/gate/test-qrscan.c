/* test-qrscan.c - the gate's image and input rules: QR codes of binary
 * presentations come back byte for byte from PNG, PGM and PPM; bad images
 * fail with a reason; what is not an image is read by the input rules. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <png.h>

#include "gate.h"
#include "test-qrkit.h"

/* 213 bytes (a P-256 presentation's size) with every hard byte in it:
 * NUL, 0xff, a lone 0x80, CR LF, and an UTF-8 prefix that a charset guess
 * would "fix". */
static void presentation_like(uint8_t out[213])
{
	for (size_t i = 0; i < 213; i++)
		out[i] = (uint8_t)(i * 37 + 11);
	out[0] = 0x21;
	out[1] = 0x00;
	out[2] = 0xff;
	out[3] = 0x00;
	out[50] = 0x80;
	out[51] = '\r';
	out[52] = '\n';
	out[100] = 0xc3;
	out[101] = 0x28;
	out[211] = 0xff;
	out[212] = 0x00;
}

static uint8_t *png_of(const uint8_t *data, size_t len, size_t *png_len, int *version)
{
	gate_grey_t g;
	uint8_t *png = NULL;

	ck_assert(tq_qr_grey(data, len, 4, &g, version));
	ck_assert(tq_png_encode(&g, &png, png_len));
	gate_grey_free(&g);
	return png;
}

START_TEST(test_png_roundtrip_binary)
{
	uint8_t data[213], got[GATE_PAYLOAD_MAX];
	size_t png_len = 0, got_len = 0;
	char err[256] = "";
	int version = 0;
	uint8_t *png;

	presentation_like(data);
	png = png_of(data, sizeof(data), &png_len, &version);
	printf("213-byte payload: QR version %d at level M, PNG %zu bytes\n", version, png_len);
	ck_assert_int_le(version, 10);
	ck_assert(gate_is_image(png, png_len));
	ck_assert_msg(gate_qr_scan_image(png, png_len, got, sizeof(got), &got_len, err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_uint_eq(got_len, sizeof(data));
	ck_assert_mem_eq(got, data, sizeof(data));
	free(png);
}
END_TEST

/* Every byte value, in a payload as long as the largest presentation. */
START_TEST(test_png_all_byte_values)
{
	uint8_t data[256], got[GATE_PAYLOAD_MAX];
	size_t png_len = 0, got_len = 0;
	char err[256] = "";
	uint8_t *png;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(255 - i);
	png = png_of(data, sizeof(data), &png_len, NULL);
	ck_assert_msg(gate_qr_scan_image(png, png_len, got, sizeof(got), &got_len, err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_uint_eq(got_len, sizeof(data));
	ck_assert_mem_eq(got, data, sizeof(data));
	free(png);
}
END_TEST

START_TEST(test_pgm_and_ppm)
{
	uint8_t data[213], got[GATE_PAYLOAD_MAX], *pgm = NULL, *ppm;
	size_t pgm_len = 0, got_len = 0, npix, head;
	char err[256] = "", hdr[64];
	gate_grey_t g;

	presentation_like(data);
	ck_assert(tq_qr_grey(data, sizeof(data), 3, &g, NULL));
	ck_assert(tq_pgm_encode(&g, &pgm, &pgm_len));
	ck_assert(gate_is_image(pgm, pgm_len));
	ck_assert_msg(gate_qr_scan_image(pgm, pgm_len, got, sizeof(got), &got_len, err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_uint_eq(got_len, sizeof(data));
	ck_assert_mem_eq(got, data, sizeof(data));

	/* The same picture as colour, dark blue on light yellow. */
	npix = (size_t)g.width * g.height;
	head = (size_t)snprintf(hdr, sizeof(hdr), "P6 %u %u 255\n", g.width, g.height);
	ppm = malloc(head + 3 * npix);
	ck_assert_ptr_nonnull(ppm);
	memcpy(ppm, hdr, head);
	for (size_t i = 0; i < npix; i++) {
		bool dark = g.pixels[i] == 0;
		ppm[head + 3 * i] = dark ? 0x10 : 0xf0;
		ppm[head + 3 * i + 1] = dark ? 0x10 : 0xf0;
		ppm[head + 3 * i + 2] = dark ? 0x60 : 0x90;
	}
	got_len = 0;
	ck_assert_msg(gate_qr_scan_image(ppm, head + 3 * npix, got, sizeof(got), &got_len, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_mem_eq(got, data, sizeof(data));

	/* Truncated pixel data. */
	ck_assert_int_eq(gate_qr_scan_image(ppm, head + 3 * npix - 1, got, sizeof(got), &got_len, err, sizeof(err)),
			 -1);
	ck_assert_ptr_nonnull(strstr(err, "PPM: truncated"));
	free(ppm);
	free(pgm);
	gate_grey_free(&g);
}
END_TEST

/* Black modules on a transparent background, as some apps save them: the
 * background must read as white, not as black. */
START_TEST(test_png_transparent)
{
	uint8_t data[213], got[GATE_PAYLOAD_MAX], *rgba, *png;
	png_alloc_size_t png_len = 0;
	size_t got_len = 0, npix;
	char err[256] = "";
	png_image img;
	gate_grey_t g;

	presentation_like(data);
	ck_assert(tq_qr_grey(data, sizeof(data), 4, &g, NULL));
	npix = (size_t)g.width * g.height;
	rgba = calloc(npix, 4);
	ck_assert_ptr_nonnull(rgba);
	for (size_t i = 0; i < npix; i++)
		rgba[4 * i + 3] = g.pixels[i] == 0 ? 0xff : 0x00; /* colour 0: black where opaque */
	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	img.width = g.width;
	img.height = g.height;
	img.format = PNG_FORMAT_RGBA;
	ck_assert(png_image_write_to_memory(&img, NULL, &png_len, 0, rgba, 0, NULL));
	png = malloc(png_len);
	ck_assert_ptr_nonnull(png);
	ck_assert(png_image_write_to_memory(&img, png, &png_len, 0, rgba, 0, NULL));
	ck_assert_msg(gate_qr_scan_image(png, png_len, got, sizeof(got), &got_len, err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_uint_eq(got_len, sizeof(data));
	ck_assert_mem_eq(got, data, sizeof(data));
	free(png);
	free(rgba);
	gate_grey_free(&g);
}
END_TEST

START_TEST(test_blank_image)
{
	uint8_t got[64], *png = NULL;
	size_t png_len = 0, got_len = 0;
	char err[256] = "";
	gate_grey_t g;

	ck_assert(tq_blank_grey(200, 150, &g));
	ck_assert(tq_png_encode(&g, &png, &png_len));
	ck_assert_int_eq(gate_qr_scan_image(png, png_len, got, sizeof(got), &got_len, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "no QR code found");
	free(png);
	gate_grey_free(&g);
}
END_TEST

START_TEST(test_truncated_png)
{
	uint8_t data[213], got[GATE_PAYLOAD_MAX];
	size_t png_len = 0, got_len = 0;
	char err[256] = "";
	uint8_t *png;

	presentation_like(data);
	png = png_of(data, sizeof(data), &png_len, NULL);
	/* Cut inside the image data, and inside the header. */
	ck_assert_int_eq(gate_qr_scan_image(png, png_len / 2, got, sizeof(got), &got_len, err, sizeof(err)), -1);
	ck_assert_msg(strncmp(err, "PNG: ", 5) == 0, "%s", err);
	ck_assert_int_eq(gate_qr_scan_image(png, 20, got, sizeof(got), &got_len, err, sizeof(err)), -1);
	ck_assert_msg(strncmp(err, "PNG: ", 5) == 0, "%s", err);
	/* A flipped bit in the image data: the chunk CRC catches it. */
	png[png_len / 2] ^= 0x10;
	ck_assert_int_eq(gate_qr_scan_image(png, png_len, got, sizeof(got), &got_len, err, sizeof(err)), -1);
	ck_assert_msg(strncmp(err, "PNG: ", 5) == 0, "%s", err);
	free(png);
}
END_TEST

START_TEST(test_image_bounds)
{
	static const char big[] = "P5 5000 10 255\n";
	static const char wide16[] = "P5 1 1 65535\n\x00\x00";
	static const char zero[] = "P5 0 10 255\n";
	static const char junk[] = "P5 10 x 255\n";
	gate_grey_t g;
	char err[256] = "";

	ck_assert_int_eq(gate_image_decode((const uint8_t *)big, sizeof(big) - 1, &g, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "too large") != NULL, "%s", err);
	ck_assert_int_eq(gate_image_decode((const uint8_t *)wide16, sizeof(wide16) - 1, &g, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "maxval") != NULL, "%s", err);
	ck_assert_int_eq(gate_image_decode((const uint8_t *)zero, sizeof(zero) - 1, &g, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "empty image") != NULL, "%s", err);
	ck_assert_int_eq(gate_image_decode((const uint8_t *)junk, sizeof(junk) - 1, &g, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "header") != NULL, "%s", err);
}
END_TEST

/* CRC-32 (ISO 3309, as PNG chunks use), bit by bit: test code. */
static uint32_t crc32_of(const uint8_t *p, size_t len)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < len; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
	}
	return c ^ 0xffffffffu;
}

/* A valid PNG header that claims 100000 x 100000 pixels is refused before
 * any pixel memory is taken. */
START_TEST(test_png_claims_huge_size)
{
	uint8_t got[64], *png = NULL;
	size_t png_len = 0, got_len = 0;
	char err[256] = "";
	gate_grey_t g;
	uint32_t crc;

	ck_assert(tq_blank_grey(8, 8, &g));
	ck_assert(tq_png_encode(&g, &png, &png_len));
	/* IHDR: length at 8, type at 12, width at 16, height at 20, CRC of
	 * type and data at 29. */
	ck_assert_mem_eq(png + 12, "IHDR", 4);
	png[16] = 0x00, png[17] = 0x01, png[18] = 0x86, png[19] = 0xa0;
	png[20] = 0x00, png[21] = 0x01, png[22] = 0x86, png[23] = 0xa0;
	crc = crc32_of(png + 12, 17);
	png[29] = (uint8_t)(crc >> 24), png[30] = (uint8_t)(crc >> 16);
	png[31] = (uint8_t)(crc >> 8), png[32] = (uint8_t)crc;
	ck_assert_int_eq(gate_qr_scan_image(png, png_len, got, sizeof(got), &got_len, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "PNG: image too large (100000x100000") != NULL, "%s", err);
	free(png);
	gate_grey_free(&g);
}
END_TEST

START_TEST(test_two_codes)
{
	static const uint8_t a[] = "first code", b[] = "second code";
	gate_grey_t qa, qb, both;
	uint8_t got[64];
	size_t got_len = 0;
	char err[256] = "";

	ck_assert(tq_qr_grey(a, sizeof(a) - 1, 3, &qa, NULL));
	ck_assert(tq_qr_grey(b, sizeof(b) - 1, 3, &qb, NULL));
	ck_assert(tq_blank_grey(qa.width + qb.width, qa.height > qb.height ? qa.height : qb.height, &both));
	for (unsigned y = 0; y < qa.height; y++)
		memcpy(both.pixels + (size_t)y * both.width, qa.pixels + (size_t)y * qa.width, qa.width);
	for (unsigned y = 0; y < qb.height; y++)
		memcpy(both.pixels + (size_t)y * both.width + qa.width, qb.pixels + (size_t)y * qb.width, qb.width);
	ck_assert_int_eq(gate_qr_scan_grey(&both, got, sizeof(got), &got_len, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "2 QR codes") != NULL, "%s", err);
	/* Each alone scans. */
	ck_assert_int_eq(gate_qr_scan_grey(&qa, got, sizeof(got), &got_len, err, sizeof(err)), 0);
	ck_assert_uint_eq(got_len, sizeof(a) - 1);
	ck_assert_mem_eq(got, a, got_len);
	/* A payload over the caller's bound. */
	ck_assert_int_eq(gate_qr_scan_grey(&qb, got, 4, &got_len, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "more than 4") != NULL, "%s", err);
	gate_grey_free(&qa);
	gate_grey_free(&qb);
	gate_grey_free(&both);
}
END_TEST

/* Not an image: the input rules take the bytes as they are, or as hex. */
START_TEST(test_input_not_image)
{
	static const uint8_t raw[] = { 0x21, 0x11, 0x00, 0xff, 0x89, 'P' };
	static const char hex[] = "21 11 00ff\n89 50\n";
	static gate_input_t in;
	gate_grey_t g;
	char err[256] = "";

	ck_assert(!gate_is_image(raw, sizeof(raw)));
	ck_assert_int_eq(gate_image_decode(raw, sizeof(raw), &g, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "not a PNG, PGM or PPM image");
	ck_assert_int_eq(gate_input_parse(raw, sizeof(raw), false, &in, err, sizeof(err)), 0);
	ck_assert_int_eq(in.kind, GATE_INPUT_RAW);
	ck_assert_uint_eq(in.len, sizeof(raw));
	ck_assert_mem_eq(in.bytes, raw, sizeof(raw));
	ck_assert_int_eq(gate_input_parse((const uint8_t *)hex, sizeof(hex) - 1, true, &in, err, sizeof(err)), 0);
	ck_assert_int_eq(in.kind, GATE_INPUT_HEX);
	ck_assert_uint_eq(in.len, sizeof(raw));
	ck_assert_mem_eq(in.bytes, raw, sizeof(raw));
	/* Bad hex: an odd digit count, a non-digit. */
	ck_assert_int_eq(gate_input_parse((const uint8_t *)"211", 3, true, &in, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "hex: odd number of digits");
	ck_assert_int_eq(gate_input_parse((const uint8_t *)"21zz", 4, true, &in, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not a hex digit") != NULL, "%s", err);
}
END_TEST

START_TEST(test_input_image_and_bounds)
{
	uint8_t data[213], *png, *big;
	size_t png_len = 0;
	char err[256] = "";
	static gate_input_t in;

	presentation_like(data);
	png = png_of(data, sizeof(data), &png_len, NULL);
	/* An image is scanned whether or not --hex is given. */
	ck_assert_int_eq(gate_input_parse(png, png_len, true, &in, err, sizeof(err)), 0);
	ck_assert_int_eq(in.kind, GATE_INPUT_IMAGE);
	ck_assert_uint_eq(in.len, sizeof(data));
	ck_assert_mem_eq(in.bytes, data, sizeof(data));
	free(png);
	/* Raw input larger than any payload. */
	big = calloc(1, GATE_PAYLOAD_MAX + 1);
	ck_assert_ptr_nonnull(big);
	ck_assert_int_eq(gate_input_parse(big, GATE_PAYLOAD_MAX + 1, false, &in, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "too large") != NULL, "%s", err);
	free(big);
}
END_TEST

START_TEST(test_input_read_files)
{
	char dir[] = "/tmp/offpass-test-qrscan.XXXXXX", path[128], err[512] = "";
	uint8_t data[213], *png;
	size_t png_len = 0;
	static gate_input_t in;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	presentation_like(data);
	png = png_of(data, sizeof(data), &png_len, NULL);
	snprintf(path, sizeof(path), "%s/code.png", dir);
	ck_assert(tq_write_file(path, png, png_len));
	ck_assert_int_eq(gate_input_read(path, false, &in, err, sizeof(err)), 0);
	ck_assert_mem_eq(in.bytes, data, sizeof(data));
	unlink(path);
	/* Missing, empty and truncated files name the file. */
	ck_assert_int_eq(gate_input_read(path, false, &in, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, path) != NULL && strstr(err, "No such file") != NULL, "%s", err);
	ck_assert(tq_write_file(path, png, 0));
	ck_assert_int_eq(gate_input_read(path, false, &in, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "empty") != NULL, "%s", err);
	ck_assert(tq_write_file(path, png, png_len - 30));
	ck_assert_int_eq(gate_input_read(path, false, &in, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, path) != NULL && strstr(err, "PNG: ") != NULL, "%s", err);
	unlink(path);
	ck_assert_int_eq(gate_input_read(dir, false, &in, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not a regular file") != NULL, "%s", err);
	rmdir(dir);
	free(png);
}
END_TEST

static Suite *qrscan_suite(void)
{
	Suite *s = suite_create("gate-qrscan");
	TCase *tc = tcase_create("qrscan");

	tcase_add_test(tc, test_png_roundtrip_binary);
	tcase_add_test(tc, test_png_all_byte_values);
	tcase_add_test(tc, test_pgm_and_ppm);
	tcase_add_test(tc, test_png_transparent);
	tcase_add_test(tc, test_blank_image);
	tcase_add_test(tc, test_truncated_png);
	tcase_add_test(tc, test_image_bounds);
	tcase_add_test(tc, test_png_claims_huge_size);
	tcase_add_test(tc, test_two_codes);
	suite_add_tcase(s, tc);
	tc = tcase_create("input");
	tcase_add_test(tc, test_input_not_image);
	tcase_add_test(tc, test_input_image_and_bounds);
	tcase_add_test(tc, test_input_read_files);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(qrscan_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
